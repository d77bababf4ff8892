"""cocotb bench: generated Verilog of HostLink + the echo trainer (test_link_gateware.EchoTop),
driven through CocotbUartTransport and the host driver's Device framing.

The echo trainer answers every request OK with the payload reversed (TRAIN: BAD_ARG, empty);
the link itself answers
IDENTIFY and every bad frame. Expected replies of raw byte bursts come from
:class:`xnorlearn.sw.protocol.RequestReceiver`.
"""

import random

import cocotb

from xnorlearn.sim.harness import cocotb_params, cocotb_reset
from xnorlearn.sim.uart_transport import CocotbUartTransport
from xnorlearn.sw import protocol as proto
from xnorlearn.sw.config import Config
from xnorlearn.sw.driver import Device, DeviceError, StreamError
from xnorlearn.sw.protocol import Command, Frame, Status


class CorruptNextWrite:
    """Transport wrapper that flips one bit of the next ``n`` writes (after the sync byte)."""

    def __init__(self, inner, rng):
        self.inner, self.rng, self.n = inner, rng, 0
        self.quiet_s = inner.quiet_s

    async def write(self, data):
        data = bytearray(data)
        if self.n:
            self.n -= 1
            data[self.rng.randrange(1, len(data))] ^= 1 << self.rng.randrange(8)
        await self.inner.write(data)

    async def read(self, n, timeout_s):
        return await self.inner.read(n, timeout_s)


async def reply_frames(transport, count, timeout_s):
    """Read ``count`` reply frames (raw level), failing on anything corrupted."""
    dec = proto.FrameDecoder(proto.SYNC_DEVICE, 0xFFFF)
    frames = []
    while len(frames) < count:
        data = await transport.read(dec.wanted(), timeout_s)
        assert data, f"no reply after {len(frames)} of {count} frames"
        for ev in dec.feed(data):
            assert isinstance(ev, Frame), f"corrupted reply ({ev})"
            frames.append(ev)
    return frames


def echo(code, payload, cfg):
    if code == Command.IDENTIFY:
        return Frame(Status.OK, proto.identify_reply_payload(cfg))
    if code == Command.TRAIN:
        return Frame(Status.BAD_ARG, b"")
    return Frame(Status.OK, bytes(reversed(payload)))


@cocotb.test()
async def link_echo(dut):
    prm = cocotb_params()
    cfg = Config.from_dict(prm["cfg"])
    rng = random.Random(prm.get("seed", 1))
    await cocotb_reset(dut)
    uart = CocotbUartTransport(dut.rx, dut.tx, dut.clk, cfg.uart_divisor)
    port = CorruptNextWrite(uart, rng)
    timeout_s = 200e-6                               # simulated; a 140-byte reply takes 56 us
    dev = await Device.connect(port, cfg, timeout_s=timeout_s)
    requests = 0

    # the echo trainer refuses TRAIN: its status travels through the link to a DeviceError
    try:
        await dev.train_sample([0] * cfg.n_inputs, 1)
        raise AssertionError("TRAIN was not refused")
    except DeviceError as e:
        assert e.status == Status.BAD_ARG
    requests += 1

    # a pipelined TRAIN stream: LINK_DEPTH frames go out back to back and the link queues
    # them while the echo executes; the first reply (BAD_ARG) stops the stream, the three
    # behind it are collected in order, nothing is resent
    try:
        await dev.train_samples([[0] * cfg.n_inputs] * 6, [1] * 6)
        raise AssertionError("the stream did not stop")
    except StreamError as e:
        assert (e.trained, e.sent, e.late_ok) == (0, proto.LINK_DEPTH, 0), vars(e)
        assert "BAD_ARG" in str(e)
    requests += proto.LINK_DEPTH

    # good requests through the driver's framing
    for code in (Command.INIT, Command.INFER, Command.READ_STATE,
                 Command.WRITE_STATE, Command.END_EPOCH, Command.READ_COUNTERS):
        n = proto.fixed_request_length(cfg, code)
        if code == Command.WRITE_STATE:       # the longest echo the driver's decoder accepts
            n = proto.max_reply_payload(cfg)
        payload = bytes(rng.randrange(256) for _ in range(n))
        assert await dev.request(code, payload) == bytes(reversed(payload))
        requests += 1

    # a request corrupted on the line: the link answers an error, the driver resends
    for _ in range(4):
        port.n = 1
        payload = bytes(rng.randrange(256) for _ in range(6))
        before = dev.resends
        assert await dev.request(Command.READ_STATE, payload) == bytes(reversed(payload))
        assert dev.resends == before + 1
        requests += 1

    # raw corrupted bursts: the replies the reference receiver predicts, then a good frame
    good = proto.encode_frame(Command.INIT, b"\x01\x02\x03\x04")
    bursts = []
    flipped = bytearray(proto.encode_frame(Command.INFER, bytes(range(proto.sample_bytes(cfg)))))
    flipped[5] ^= 0x10
    bursts.append((bytes(flipped), None))                                  # BAD_CRC
    bursts.append((good[:7], None))                                        # TIMEOUT
    bursts.append((b"\x00\x11" + proto.encode_frame(0x42, b"x"), None))     # UNKNOWN
    bursts.append((b"\xa5\x02\xff\x00" + bytes(10), None))                  # BAD_LENGTH (max)
    bursts.append((proto.encode_frame(Command.INIT, b"\x00"), None))        # BAD_LENGTH (cmd)
    bursts.append((good, [1] * 4 + [0] + [1] * (len(good) - 5)))            # framing error
    for burst, stops in bursts:
        expected = [echo(e.code, e.payload, cfg) if isinstance(e, Frame) else Frame(e, b"")
                    for e in proto.RequestReceiver(cfg).feed(
                        burst if stops is None else bytes(b for b, s in zip(burst, stops) if s))]
        assert len(expected) == 1 and expected[0].code != Status.OK, expected
        await uart.inject(burst, stops)
        assert await reply_frames(uart, 1, timeout_s) == expected
        payload = bytes(rng.randrange(256) for _ in range(4))
        assert await dev.request(Command.INIT, payload) == bytes(reversed(payload))
        requests += 1

    info = await dev.identify()
    assert info.digest == cfg.digest()
    await uart.idle(2 * proto.FRAME_TIMEOUT_BITS)
    assert uart.take_all() == b"", "unexpected bytes from the device"
    assert uart.stop_bit_errors == 0
    assert int(dut.requests.value) == requests
