"""Host link protocol and driver, without hardware.

The driver runs against :class:`FakeDevice`, a transport that executes every request on the
golden model (``HwModel``) behind the device-side receiver model, so the whole host stack —
framing, payloads, retries, the trainer interface — is checked end to end in pure Python.
"""

import random
import struct
from types import SimpleNamespace

import numpy as np
import pytest

from xnorlearn.boards.emulator import execute as execute_on_model
from xnorlearn.sw import protocol as proto
from xnorlearn.sw.config import Config
from xnorlearn.sw.driver import BitstreamMismatch, ChipTrainer, Device, DeviceError, \
    ProtocolError, SerialTransport, StreamError, SyncChipTrainer, SyncDevice, run_sync
from xnorlearn.sw.model import HwModel
from xnorlearn.sw.protocol import Command, Frame, Status
from xnorlearn.sw.train import run_training

CFG = Config(n_inputs=70, layers=(12, 8), n_classes=4, counter_bits=6, batch=7,
             group_sizes=(4, 4), seed=11, uart_divisor=4)


# ---------------------------------------------------------------------------- CRC and frames
def crc16_bitwise(data):
    crc = 0xFFFF
    for b in data:
        for i in range(7, -1, -1):
            bit = ((crc >> 15) ^ (b >> i)) & 1
            crc = ((crc << 1) & 0xFFFF) ^ (0x1021 if bit else 0)
    return crc


def test_crc16():
    assert proto.crc16(b"123456789") == 0x29B1
    assert proto.crc16(b"") == 0xFFFF
    rng = random.Random(1)
    for _ in range(300):
        data = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 80)))
        assert proto.crc16(data) == crc16_bitwise(data)
        cut = rng.randrange(len(data) + 1)
        assert proto.crc16_update(proto.crc16(data[:cut]), data[cut:]) == proto.crc16(data)


def test_encode_frame_layout():
    f = proto.encode_frame(Command.INIT, b"\x01\x02\x03\x04")
    assert f[0] == proto.SYNC_HOST and f[1] == 0x02 and f[2:4] == b"\x04\x00"
    assert f[4:8] == b"\x01\x02\x03\x04"
    assert struct.unpack("<H", f[8:])[0] == proto.crc16(f[1:8])
    assert proto.encode_frame(0, sync=proto.SYNC_DEVICE)[0] == 0x5A
    with pytest.raises(ValueError):
        proto.encode_frame(256)


def random_frames(rng, n, max_len=40):
    return [(rng.randrange(256), bytes(rng.randrange(256) for _ in range(rng.randrange(max_len))))
            for _ in range(n)]


def feed_in_chunks(decoder, stream, rng):
    events, i = [], 0
    while i < len(stream):
        k = rng.randint(1, 9)
        events += decoder.feed(stream[i:i + k])
        i += k
    return events + decoder.silence()


def test_decoder_round_trip():
    rng = random.Random(2)
    frames = random_frames(rng, 200)
    stream = b"".join(proto.encode_frame(c, p, sync=proto.SYNC_DEVICE) for c, p in frames)
    events = feed_in_chunks(proto.FrameDecoder(), stream, rng)
    assert events == [Frame(c, p) for c, p in frames]


def test_decoder_garbage_truncation_corruption():
    """Garbage (sync bytes included), truncated and corrupted frames between good ones: the
    decoder yields exactly the intact frames, in order, and nothing else."""
    rng = random.Random(3)
    stream, intact = bytearray(), []
    for c, p in random_frames(rng, 400):
        f = bytearray(proto.encode_frame(c, p, sync=proto.SYNC_DEVICE))
        fate = rng.choice(["good", "good", "garbage", "truncate", "flip", "sync_garbage"])
        if fate == "garbage":
            stream += bytes(rng.choice([b for b in range(256) if b != 0x5A])
                            for _ in range(rng.randint(1, 10)))
        elif fate == "sync_garbage":
            stream += bytes([0x5A]) + bytes(rng.randrange(256) for _ in range(rng.randint(0, 6)))
        elif fate == "truncate":
            stream += f[:rng.randrange(1, len(f))]
            continue
        elif fate == "flip":
            f[rng.randrange(1, len(f))] ^= 1 << rng.randrange(8)
            stream += f
            continue
        stream += f
        intact.append(Frame(c, p))
    decoder = proto.FrameDecoder(proto.SYNC_DEVICE, max_payload=64)
    events = feed_in_chunks(decoder, bytes(stream), rng)
    assert [e for e in events if isinstance(e, Frame)] == intact
    assert any(isinstance(e, proto.FrameError) and e.reason == "crc" for e in events)
    assert decoder.crc_errors > 0


def test_decoder_length_limit_and_wanted():
    d = proto.FrameDecoder(proto.SYNC_DEVICE, max_payload=8)
    assert d.wanted() == 1
    assert d.feed(b"\x5a\x00") == [] and d.wanted() == 2
    assert d.feed(b"\x03\x00") == [] and d.wanted() == 5
    big = proto.encode_frame(0, bytes(9), sync=proto.SYNC_DEVICE)
    d.reset()
    assert [e.reason for e in d.feed(big)] == ["length"]


# ---------------------------------------------------------------------------- device receiver
def test_request_receiver_cases():
    cfg = CFG
    rx = lambda data: proto.RequestReceiver(cfg).feed(data)   # noqa: E731
    seed = proto.init_request(7)
    good = proto.encode_frame(Command.INIT, seed)
    assert rx(good) == [Frame(Command.INIT, seed)]
    assert rx(b"\x00\x13\x5a" + good) == [Frame(Command.INIT, seed)]    # garbage ignored
    assert rx(b"") == [] and rx(b"\x01\x02") == []
    for i in range(1, len(good)):        # single bit flips after the sync byte
        for bit in (0, 7):
            bad = bytearray(good)
            bad[i] ^= 1 << bit
            # length 4 -> 5 or 132: waits for bytes that never come; -> 260 or 0x8004: too long
            want = {2: Status.TIMEOUT, 3: Status.BAD_LENGTH}.get(i, Status.BAD_CRC)
            assert rx(bytes(bad)) == [want], (i, bit)
    assert rx(good[:-1]) == [Status.TIMEOUT]
    assert rx(good[:1]) == [Status.TIMEOUT]
    assert rx(b"\xa5\x02\xff\x7f" + bytes(20)) == [Status.BAD_LENGTH]     # above max_payload
    assert rx(proto.encode_frame(0x1F)) == [Status.UNKNOWN]
    assert rx(proto.encode_frame(Command.INIT, b"\x00")) == [Status.BAD_LENGTH]
    assert rx(proto.encode_frame(Command.WRITE_STATE, bytes(7))) == [Status.BAD_LENGTH]
    # a shortened length field ends the frame early: BAD_CRC, and the rest is drained
    short = bytearray(proto.encode_frame(Command.WRITE_STATE, bytes(20) + b"\xa5" * 20))
    short[2] = 10
    assert rx(bytes(short)) == [Status.BAD_CRC]


def test_request_receiver_queue():
    """The queue model: events in arrival order (an error after the frames before it), a
    frame drained with the bad one before it, and a sync byte opening nothing while every
    entry is taken."""
    cfg = CFG
    a = proto.encode_frame(Command.INIT, proto.init_request(1))
    b = proto.encode_frame(Command.END_EPOCH)
    bad = bytearray(proto.encode_frame(Command.INIT, proto.init_request(2)))
    bad[5] ^= 0x01
    rx = proto.RequestReceiver(cfg, depth=3)
    assert rx.feed(a + b + bytes(bad) + a) == [Frame(Command.INIT, a[4:8]),
                                               Frame(Command.END_EPOCH, b""), Status.BAD_CRC]
    assert rx.outstanding == 3 and rx.full
    assert rx.feed(b) == []                  # dropped whole: no entry free
    rx.answered()
    assert not rx.full and rx.feed(b) == [Frame(Command.END_EPOCH, b"")]
    rx.answered(3)
    assert rx.outstanding == 0
    with pytest.raises(ValueError):
        rx.answered()
    unbounded = proto.RequestReceiver(cfg)   # depth None: the queue is not modelled
    assert unbounded.feed(a * 6) == [Frame(Command.INIT, a[4:8])] * 6 and not unbounded.full


def test_request_lengths_and_max_payload():
    cfg = CFG
    nb = -(-cfg.n_inputs // 8)
    assert proto.sample_bytes(cfg) == nb == 9
    assert proto.max_payload(cfg) == max(nb + 1, 128 * cfg.n_layers, 6 + 2 * 64) == 256
    big = Config(n_inputs=4000, layers=(64,), n_classes=10)
    assert proto.max_payload(big) == 501
    assert proto.max_payload(Config(n_inputs=70, layers=(8,), n_classes=4)) == 134
    assert proto.max_payload(Config(n_inputs=70, layers=(8,) * 3, n_classes=4)) == 384
    want = {Command.IDENTIFY: 0, Command.INIT: 4, Command.SET_THRESHOLDS: 256,
            Command.TRAIN: nb + 1, Command.INFER: nb, Command.END_EPOCH: 0,
            Command.READ_STATE: 6, Command.READ_COUNTERS: 0, Command.RESET_COUNTERS: 0,
            Command.STORE_INFO: 0, Command.TRAIN_STORE: 16, Command.EVAL_STORE: 9,
            Command.SET_BATCH: 4}
    for code in Command:
        ok = [n for n in range(300) if proto.request_length_ok(cfg, code, n)]
        if code == Command.WRITE_STATE:
            assert ok == list(range(8, 135, 2))
        elif code == Command.STORE_WRITE:           # offset and 1 … max_payload - 4 bytes
            assert ok == list(range(5, 257))
        else:
            assert ok == [want[code]]
    assert not any(proto.request_length_ok(cfg, 0x1F, n) for n in range(300))


# ---------------------------------------------------------------------------- payloads
def test_payload_builders():
    bits = np.zeros(70, dtype=np.uint8)
    bits[[0, 9, 69]] = 1
    s = proto.pack_sample(bits)
    assert len(s) == 9 and s[0] == 0x01 and s[1] == 0x02 and s[8] == 0x20
    assert (proto.unpack_sample(s, 70) == bits).all()
    assert proto.train_request(CFG, bits, 3) == b"\x03" + s
    assert proto.infer_request(CFG, bits) == s
    with pytest.raises(ValueError):
        proto.train_request(CFG, bits, 4)
    with pytest.raises(ValueError):
        proto.infer_request(CFG, bits[:-1])
    with pytest.raises(ValueError):
        proto.pack_sample(np.full(8, 2))
    assert proto.init_request(0x01020304) == b"\x04\x03\x02\x01"
    tables = [list(range(64)), [0] * 63 + [65535]]
    req = proto.set_tables_request(CFG, tables)
    assert req == bytes(b for m in range(64) for b in (m, 0)) + bytes(126) + b"\xff\xff"
    assert proto.parse_tables_request(CFG, req).tolist() == tables
    for bad in ([[0] * 63 + [65536], [0] * 64],          # entry >= 2^prob_bits
                [[0] * 64, [1] + [0] * 63],             # decreasing
                [[0] * 64], [[0] * 63, [0] * 63]):      # wrong shape
        with pytest.raises(ValueError):
            proto.set_tables_request(CFG, bad)
    with pytest.raises(ValueError, match="outside"):
        proto.set_tables_request(CFG.replace(prob_bits=12), [[4096] * 64, [0] * 64])
    with pytest.raises(ProtocolError):
        proto.parse_tables_request(CFG, req[:-2])
    assert proto.read_state_request(1, 0x0203, 64, 6) == b"\x01\x03\x02\x40\x00\x06"
    assert proto.write_state_request(0, 1, 2, [-1, 5]) == b"\0\x01\0\x02\0\x02\xff\xff\x05\0"
    assert list(proto.parse_state(b"\xff\xff\x05\x00", 2)) == [-1, 5]
    with pytest.raises(ProtocolError):
        proto.parse_state(b"\x00", 1)
    c = dict(samples=5, correct=3, busy_cycles=1 << 40, batch_number=2, since_boundary=1)
    assert proto.parse_counters(proto.counters_reply_payload(**c)) == c
    info = proto.parse_identify(proto.identify_reply_payload(CFG))
    assert (info.version, info.digest, info.n_inputs, info.layers, info.n_classes,
            info.counter_bits, info.lanes) == (4, CFG.digest(), 70, (12, 8), 4, 6, CFG.lanes)
    assert len(proto.identify_reply_payload(CFG)) == 1 + 32 + 2 + 1 + 2 * 2 + 1 + 1 + 2
    assert "BAD_ARG" in str(DeviceError(4, Command.TRAIN))
    assert "TRAIN" in str(DeviceError(4, Command.TRAIN))


# ---------------------------------------------------------------------------- fake device
class FakeDevice:
    """Transport whose far end is the device: RequestReceiver + HwModel. Never suspends.

    Like the link, it holds up to ``depth`` frames (:data:`protocol.LINK_DEPTH`): a received
    frame (or error) waits in the queue and is executed when the host reads, one reply at a
    time; a frame that arrives while the queue is full is dropped (never executed, no reply),
    so a host that overruns the window loses requests.

    Fault injection: ``corrupt_requests`` / ``corrupt_replies`` / ``drop_replies`` count down
    the next requests (flip a bit after the sync byte) or replies (flip a bit / lose it);
    ``fault_at`` maps the index of a reply (0 = the first executed) to ``"corrupt"`` or
    ``"drop"``."""

    def __init__(self, cfg, built_for=None, version=proto.VERSION, depth=proto.LINK_DEPTH):
        self.cfg = cfg
        self.built_for = built_for or cfg
        self.version = version
        self.model = HwModel(cfg)
        self.receiver = proto.RequestReceiver(cfg, depth=depth)
        self.queue = []
        self.out = bytearray()
        self.executed = []
        self.corrupt_requests = self.corrupt_replies = self.drop_replies = 0
        self.fault_at = {}
        self.replies = 0
        self.max_queued = 0
        self.rng = random.Random(0)

    async def write(self, data):
        data = bytearray(data)
        if self.corrupt_requests:
            self.corrupt_requests -= 1
            data[self.rng.randrange(1, len(data))] ^= 1 << self.rng.randrange(8)
        self.queue += [e for e in (self.receiver.byte(b) for b in data) if e is not None]
        s = self.receiver.silence()          # the host now waits: the line goes quiet
        self.queue += [s] if s is not None else []
        self.max_queued = max(self.max_queued, len(self.queue))

    def _serve(self):
        """Execute the oldest queued event and send its reply (its entry is free again)."""
        ev = self.queue.pop(0)
        self.receiver.answered()
        status, payload = (self.execute(ev.code, ev.payload) if isinstance(ev, Frame)
                           else (ev, b""))
        reply = bytearray(proto.encode_frame(status, payload, sync=proto.SYNC_DEVICE))
        fault, self.replies = self.fault_at.get(self.replies), self.replies + 1
        if fault is None and self.drop_replies:
            self.drop_replies -= 1
            fault = "drop"
        if fault is None and self.corrupt_replies:
            self.corrupt_replies -= 1
            fault = "corrupt"
        if fault == "drop":
            return
        if fault == "corrupt":
            reply[self.rng.randrange(1, len(reply))] ^= 1 << self.rng.randrange(8)
        self.out += reply

    async def read(self, n, timeout_s):
        while len(self.out) < n and self.queue:
            self._serve()
        data = bytes(self.out[:n])
        del self.out[:n]
        return data

    def execute(self, code, p):
        self.executed.append(Command(code))
        status, payload = execute_on_model(self.cfg, self.model, code, p, self.built_for)
        if code == Command.IDENTIFY:             # a device speaking another protocol version
            payload = bytes([self.version]) + payload[1:]
        return status, payload


def data(rng_seed, n, cfg=CFG):
    rng = np.random.default_rng(rng_seed)
    return (rng.integers(0, 2, (n, cfg.n_inputs), dtype=np.uint8),
            rng.integers(0, cfg.n_classes, n))


def connect(fake, **kw):
    return run_sync(Device.connect(fake, CFG, **kw))


def test_driver_matches_golden_model():
    fake = FakeDevice(CFG)
    dev = connect(fake)
    trainer = ChipTrainer(dev)
    ref = HwModel(CFG)
    X, Y = data(1, 60)
    run_sync(trainer.init())
    for epoch in range(2):
        acc = ref.train_accuracy
        ref.set_accuracy(acc)
        run_sync(trainer.set_accuracy(acc))
        assert ref.tables.tolist() == trainer.tables
        ref.reset_counters()
        run_sync(trainer.reset_counters())
        order = np.random.default_rng(epoch).permutation(len(Y))
        assert (run_sync(trainer.train(X, Y, order)) == ref.train(X, Y, order)).all()
        run_sync(trainer.end_epoch())
        ref.end_epoch()
        assert trainer.train_accuracy == ref.train_accuracy
        assert run_sync(trainer.train_accuracy_async()) == ref.train_accuracy
    state = run_sync(dev.state())
    assert proto_states_equal(state, ref.state())
    assert run_sync(trainer.evaluate(X, Y)) == ref.evaluate(X, Y)
    assert (run_sync(trainer.predict(X[:5])) == ref.predict(X[:5])).all()
    assert run_sync(dev.read_counters()) == dict(
        samples=60, correct=ref.train_correct, busy_cycles=0, batch_number=ref.batch_number,
        since_boundary=0)


def proto_states_equal(a, b):
    return len(a) == len(b) and all(x.dtype == np.int16 and (x == y).all() for x, y in zip(a, b))


def test_pipelined_train_stream():
    """train_samples keeps LINK_DEPTH requests in the device's queue (never more: a frame
    beyond it would be dropped) and matches the replies in order: the predictions and the
    state are the golden model's, with no resend."""
    fake = FakeDevice(CFG)
    dev = connect(fake)
    ref = HwModel(CFG)
    X, Y = data(21, 50)
    run_sync(dev.init(CFG.seed))
    preds = run_sync(dev.train_samples(X, Y))
    assert (preds == ref.train(X, Y)).all()
    assert fake.max_queued == proto.LINK_DEPTH and dev.resends == 0
    assert fake.executed.count(Command.TRAIN) == 50
    assert proto_states_equal(run_sync(dev.state()), ref.state())
    assert len(run_sync(dev.train_samples(X[:0], Y[:0]))) == 0
    for window in (1, 2):
        fake2 = FakeDevice(CFG)
        dev2 = connect(fake2)
        run_sync(dev2.train_samples(X[:9], Y[:9], window=window))
        assert fake2.max_queued == window
    with pytest.raises(ValueError, match="window"):
        run_sync(dev.train_samples(X, Y, window=proto.LINK_DEPTH + 1))
    # a host that overruns the device's queue loses frames: the stream fails, never hangs
    small = FakeDevice(CFG, depth=2)
    dev3 = connect(small)
    with pytest.raises(StreamError) as e:
        run_sync(dev3.train_samples(X[:12], Y[:12], window=4))
    assert small.executed.count(Command.TRAIN) == e.value.trained + e.value.late_ok


@pytest.mark.parametrize("fault", ["corrupt", "drop", "request"])
def test_pipelined_stream_stops_at_a_bad_reply(fault):
    """A corrupted or lost reply (or a corrupted request) mid-window: the stream stops, drains,
    resends nothing, and the error says how many samples were trained for certain (the first
    ones); the device trained no sample twice."""
    fake = FakeDevice(CFG)
    dev = connect(fake)
    base = fake.replies                  # IDENTIFY's reply
    X, Y = data(22, 30)
    k = 13
    if fault == "request":
        frames = {"n": 0}
        write = fake.write

        async def corrupt_14th(data):     # the TRAIN frame of sample 13 arrives corrupted
            if frames["n"] == k:
                fake.corrupt_requests = 1
            frames["n"] += 1
            await write(data)
        fake.write = corrupt_14th
    else:
        fake.fault_at[base + k] = fault
    trainer = ChipTrainer(dev)
    with pytest.raises(StreamError) as e:
        run_sync(trainer.train(X, Y))
    err = e.value
    ref = HwModel(CFG)
    trains = fake.executed.count(Command.TRAIN)
    assert dev.resends == 0 and fake.queue == []          # nothing resent; drained
    if fault == "drop":
        # a reply that vanished whole (no byte of it on the line) cannot be told from the
        # next one: only the missing last reply shows it, and the count is a lower bound
        assert err.trained == 29 and "no reply for sample 29" in str(err)
        assert "at least 29" in str(err) and trains == 30
        assert trainer.train_samples == 29
    else:
        assert err.trained == k and "stopped at sample 13 of 30" in str(err)
        assert err.predictions == list(ref.train(X[:k], Y[:k]))
        assert trainer.train_samples == k               # the tally holds the certain ones
        assert err.sent == k + proto.LINK_DEPTH          # the window was full
    if fault == "request":
        # sample 13 was refused (BAD_CRC, or TIMEOUT / BAD_LENGTH for a corrupted length);
        # the FakeDevice hears silence after every write, so the frames after it executed
        assert "(not executed): samples 0 … 12 trained for certain" in str(err)
        assert trains == k + err.late_ok and err.late_ok == err.sent - k - 1
    elif fault == "corrupt":
        # sample 13 executed (its reply was corrupted), and the frames sent after it
        assert "a corrupted reply for sample 13" in str(err) and "at least 13" in str(err)
        assert trains == err.sent and err.late_ok <= err.sent - k - 1
    # the link works again for idempotent requests
    assert run_sync(dev.read_counters())["samples"] == trains


def test_state_read_write_round_trip():
    fake = FakeDevice(CFG)
    dev = connect(fake)
    rng = np.random.default_rng(5)
    new = [rng.integers(CFG.counter_min, CFG.counter_max + 1, (n, f)).astype(np.int16)
           for n, f in zip(CFG.layers, CFG.widths[:-1])]
    run_sync(dev.load_state(new))
    assert proto_states_equal(fake.model.state(), new)
    assert proto_states_equal(run_sync(dev.state()), new)
    # layer 0 has 70 inputs: two chunks per neuron
    assert fake.executed.count(Command.WRITE_STATE) == 12 * 2 + 8
    with pytest.raises(ValueError):
        run_sync(dev.write_state(0, new[1]))
    with pytest.raises(ValueError):
        run_sync(dev.write_state(1, np.full((8, 12), CFG.counter_max + 1)))
    with pytest.raises(ValueError):
        run_sync(dev.read_state(2))


def test_device_error_statuses():
    fake = FakeDevice(CFG)
    dev = connect(fake)
    with pytest.raises(DeviceError) as e:          # label out of range, sent raw
        run_sync(dev.request(Command.TRAIN, b"\x09" + bytes(9)))
    assert e.value.status == Status.BAD_ARG and "BAD_ARG" in str(e.value)
    good = [list(range(0, 640, 10)), [7] * 64]
    run_sync(dev.set_tables(good))
    assert fake.model.tables.tolist() == good
    decreasing = [[0] * 64, [5, 4] + [9] * 62]              # layer 1's table decreases
    with pytest.raises(DeviceError) as e:
        run_sync(dev.request(Command.SET_THRESHOLDS, struct.pack("<128H", *sum(decreasing, []))))
    assert e.value.status == Status.BAD_ARG
    assert fake.model.tables.tolist() == good                # refused: nothing changed
    top = [[0] * 63 + [65535], [65535] * 64]                 # the largest legal entries
    run_sync(dev.request(Command.SET_THRESHOLDS, struct.pack("<128H", *sum(top, []))))
    assert fake.model.tables.tolist() == top
    cfg12 = CFG.replace(prob_bits=12)                       # entries must be < 4096
    fake12 = FakeDevice(cfg12)
    dev12 = run_sync(Device.connect(fake12, cfg12))
    before = fake12.model.tables.tolist()
    for bad in ([[4096] * 64, [0] * 64], [[0] * 64, [0] * 63 + [4096]]):
        with pytest.raises(DeviceError) as e:
            run_sync(dev12.request(Command.SET_THRESHOLDS, struct.pack("<128H", *sum(bad, []))))
        assert e.value.status == Status.BAD_ARG
        assert fake12.model.tables.tolist() == before
    run_sync(dev12.set_tables([[4095] * 64, [0] * 64]))
    with pytest.raises(DeviceError) as e:                    # one entry short
        run_sync(dev12.request(Command.SET_THRESHOLDS, bytes(2 * 127)))
    assert e.value.status == Status.BAD_LENGTH
    assert fake12.model.tables.tolist() == [[4095] * 64, [0] * 64]
    with pytest.raises(DeviceError) as e:
        run_sync(dev.request(Command.READ_STATE, proto.read_state_request(0, 12, 0, 1)))
    assert e.value.status == Status.BAD_ARG
    with pytest.raises(DeviceError) as e:
        run_sync(dev.request(Command.INIT, b"\x00"))
    assert e.value.status == Status.BAD_LENGTH
    assert Command.INIT not in fake.executed        # never reached the trainer
    assert dev.resends == 2                          # BAD_LENGTH may be line noise: resent
    assert fake.model.train_samples == 0             # the bad TRAIN changed nothing


def test_digest_and_version_mismatch():
    other = CFG.replace(counter_bits=7)
    with pytest.raises(BitstreamMismatch) as e:
        connect(FakeDevice(CFG, built_for=other))
    msg = str(e.value)
    assert "refusing to talk to a mismatched bitstream" in msg
    assert other.digest() in msg and CFG.digest() in msg
    # 3: a v3 bitstream (no STORE_WRITE); 2: no data-store commands; 5: a newer one
    for old_or_new in (2, proto.VERSION - 1, proto.VERSION + 1):
        with pytest.raises(BitstreamMismatch, match=f"version {old_or_new}"):
            connect(FakeDevice(CFG, version=old_or_new))
    connect(FakeDevice(CFG.replace(seed=99)))       # seed is a run-time choice: same digest


def test_retries():
    fake = FakeDevice(CFG)
    dev = connect(fake)
    x = np.ones(CFG.n_inputs, dtype=np.uint8)
    # corrupted request -> BAD_CRC -> resent, for every command (it was not executed)
    fake.corrupt_requests = 1
    before = fake.model.train_samples
    pred = run_sync(dev.train_sample(x, 1))
    assert fake.model.train_samples == before + 1 and dev.resends == 1
    assert 0 <= pred < CFG.n_classes
    # lost or corrupted reply: resent only when idempotent
    fake.corrupt_replies = 1
    assert run_sync(dev.infer(x)) == fake.model.infer(x)
    fake.drop_replies = 1
    run_sync(dev.end_epoch())
    assert dev.resends == 3
    fake.drop_replies = 1
    with pytest.raises(ProtocolError, match="not resent"):
        run_sync(dev.train_sample(x, 1))
    fake.drop_replies = 5
    with pytest.raises(ProtocolError, match="no valid reply after 3 attempts"):
        run_sync(dev.read_counters())
    fake.drop_replies = 0
    fake.corrupt_requests = 3
    with pytest.raises(DeviceError) as e:
        run_sync(dev.reset_counters())
    assert e.value.status in (Status.BAD_CRC, Status.BAD_LENGTH, Status.TIMEOUT)
    assert dev.resends == 7


def test_sync_facades_and_run_training():
    """run_training drives the chip (through the blocking facade) exactly like the model."""
    X, Y = data(7, 80)
    Xt, Yt = data(8, 30)
    ds = SimpleNamespace(name="random", x_train=X, y_train=Y, x_test=Xt, y_test=Yt,
                         n_inputs=CFG.n_inputs, n_classes=CFG.n_classes, info={})
    dev = SyncDevice.connect(FakeDevice(CFG), CFG)
    assert dev.identify().digest == CFG.digest()
    chip = SyncChipTrainer(ChipTrainer(dev.device))
    chip.init()
    got = run_training(chip, ds, 3, seed=CFG.seed, chunk=25)
    want = run_training(HwModel(CFG), ds, 3, seed=CFG.seed, chunk=25)
    for g, w in zip(got.epochs, want.epochs):
        assert (g.train_accuracy, g.test_accuracy, g.reinforce_p, g.tables) == \
            (w.train_accuracy, w.test_accuracy, w.reinforce_p, w.tables)
    assert got.epochs[1].tables != got.epochs[0].tables      # the accuracy changed them
    assert got.variant == "chip"


def test_checkpoint_resume_on_a_chip_is_bit_exact(tmp_path):
    """2 epochs, checkpoint file, a new chip in another state, restore (INIT, WRITE_STATE,
    SET_BATCH), 2 more epochs = 4 epochs straight on the golden model."""
    from xnorlearn.sw import checkpoint
    X, Y = data(11, 60)
    Xt, Yt = data(12, 20)
    ds = SimpleNamespace(name="random", x_train=X, y_train=Y, x_test=Xt, y_test=Yt,
                         n_inputs=CFG.n_inputs, n_classes=CFG.n_classes, info={})
    want = run_training(HwModel(CFG), ds, 4, seed=CFG.seed, chunk=25)
    chip = SyncChipTrainer(ChipTrainer(SyncDevice.connect(FakeDevice(CFG), CFG).device))
    chip.init()
    first = run_training(chip, ds, 2, seed=CFG.seed)
    ck = checkpoint.capture(chip, epoch=2, history=[vars(e) for e in first.epochs],
                            dataset={"name": "random"}, target="emulator")
    assert ck.ctrl[1] == 0 and ck.ctrl[0] > 0
    checkpoint.save(ck, tmp_path / "c.npz")
    fresh = FakeDevice(CFG)
    other = SyncChipTrainer(ChipTrainer(SyncDevice.connect(fresh, CFG).device))
    other.init(CFG.seed + 1)
    other.train(X[:5], Y[:5])               # batch number and counters moved
    ck = checkpoint.load(tmp_path / "c.npz")
    other.restore(ck)
    assert fresh.model.batch_number == ck.ctrl[0] and fresh.model.samples_since_boundary == 0
    got = run_training(other, ds, 4, seed=CFG.seed, start_epoch=2,
                       start_accuracy=ck.last_train_accuracy, history=first.epochs)
    assert [(e.train_accuracy, e.test_accuracy) for e in got.epochs] == \
        [(e.train_accuracy, e.test_accuracy) for e in want.epochs]
    ref = HwModel(CFG)
    run_training(ref, ds, 4, seed=CFG.seed)
    assert all((a == b).all() for a, b in zip(fresh.model.state(), ref.state()))
    with pytest.raises(ValueError, match="unfinished batch"):
        ck.ctrl[1] = 3
        other.restore(ck)


def test_run_sync_refuses_a_suspending_coroutine():
    class Suspends:
        def __await__(self):
            yield "suspend"

    async def coro():
        await Suspends()

    with pytest.raises(RuntimeError, match="suspended"):
        run_sync(coro())


def test_serial_transport_loopback():
    """pyserial's loop:// echoes: the transport moves bytes and times out cleanly."""
    with SerialTransport("loop://", baudrate=115200, timeout=0.05) as t:
        run_sync(t.write(b"\xa5abc"))
        assert run_sync(t.read(4, 0.1)) == b"\xa5abc"
        assert run_sync(t.read(1, 0.01)) == b""
