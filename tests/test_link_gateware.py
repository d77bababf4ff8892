"""UART and HostLink gateware (Amaranth simulator), plus the cocotb/Verilator run of the link.

The link is tested behind a tiny echo "trainer" written here: it takes each request, reads the
payload back through ``buf_addr``/``buf_data`` and replies OK with the payload reversed. The
expected replies of any byte stream come from :class:`xnorlearn.sw.protocol.RequestReceiver`
(itself checked against hand-written cases in test_link_protocol.py).
"""

import random

import pytest
from amaranth import Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.sim import Simulator

from xnorlearn.hw.link import HostLink, reply_layout, request_layout
from xnorlearn.hw.uart import UartRx, UartTx
from xnorlearn.sim.harness import REPO_ROOT, AmaranthIO, exchange, run_amaranth, \
    waves_requested
from xnorlearn.sw import protocol as proto
from xnorlearn.sw.config import Config

LINK_CFG = Config(n_inputs=20, layers=(8, 6), n_classes=4, counter_bits=6, uart_divisor=4)

BAD_CODES = [0x00, 0x1F, 0x42, 0xFF]


# ---------------------------------------------------------------------------- test-only blocks
class UartLoop(wiring.Component):
    """UartTx -> UartRx on one wire."""

    i: In(stream.Signature(8))
    o: Out(stream.Signature(8))

    def __init__(self, divisor):
        self.divisor = divisor
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        m.submodules.tx = tx = UartTx(self.divisor)
        m.submodules.rx = rx = UartRx(self.divisor)
        wiring.connect(m, wiring.flipped(self.i), tx.i)
        wiring.connect(m, rx.o, wiring.flipped(self.o))
        m.d.comb += rx.rx.eq(tx.tx)
        return m


class EchoTrainer(wiring.Component):
    """Stand-in trainer: replies OK with the request payload reversed, except TRAIN, which it
    refuses with BAD_ARG and an empty payload; counts requests. ``hold`` keeps it from taking
    a request; ``delay`` is how many cycles it "executes" before replying (the link receives
    the next frames meanwhile). It reads the payload while it sends the reply, so the link must
    keep the slot until the reply has gone."""

    def __init__(self, max_payload):
        self.max_payload = max_payload
        super().__init__({
            "req": In(stream.Signature(request_layout())),
            "buf_addr": Out(range(max_payload)),
            "buf_data": In(8),
            "rsp": Out(stream.Signature(reply_layout())),
            "rsp_data": Out(stream.Signature(8)),
            "requests": Out(16),
            "hold": In(1),
            "delay": In(20),
        })

    def elaborate(self, platform):
        m = Module()
        length = Signal(16)
        left = Signal(16)
        status = Signal(8)
        addr = Signal(range(self.max_payload))
        wait = Signal(20)
        m.d.comb += [self.buf_addr.eq(addr), self.rsp.payload.status.eq(status),
                     self.rsp.payload.length.eq(length), self.rsp_data.payload.eq(self.buf_data)]
        with m.FSM():
            with m.State("IDLE"):
                m.d.comb += self.req.ready.eq(~self.hold)
                with m.If(self.req.valid & ~self.hold):
                    n = self.req.payload.length
                    m.d.sync += [length.eq(n), left.eq(n), addr.eq(n - 1), status.eq(0),
                                 self.requests.eq(self.requests + 1), wait.eq(self.delay)]
                    with m.If(self.req.payload.code == proto.Command.TRAIN):
                        m.d.sync += [length.eq(0), left.eq(0), status.eq(proto.Status.BAD_ARG)]
                    m.next = "BUSY"
            with m.State("BUSY"):
                m.d.sync += wait.eq(wait - 1)
                with m.If(wait == 0):
                    m.next = "HEADER"
            with m.State("HEADER"):
                m.d.comb += self.rsp.valid.eq(1)
                with m.If(self.rsp.ready):
                    m.next = "FETCH"
                    with m.If(left == 0):
                        m.next = "IDLE"
            with m.State("FETCH"):          # buf_data follows buf_addr one cycle later
                m.next = "DATA"
            with m.State("DATA"):
                m.d.comb += self.rsp_data.valid.eq(1)
                with m.If(self.rsp_data.ready):
                    m.d.sync += [left.eq(left - 1), addr.eq(addr - 1)]
                    m.next = "FETCH"
                    with m.If(left == 1):
                        m.next = "IDLE"
        return m


class EchoTop(wiring.Component):
    """HostLink + EchoTrainer: UART pins and the request count."""

    rx: In(1, init=1)
    tx: Out(1, init=1)
    requests: Out(16)
    hold: In(1)
    delay: In(20)

    def __init__(self, cfg):
        self.cfg = cfg
        self.link = HostLink(cfg)
        self.echo = EchoTrainer(self.link.max_payload)
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        m.submodules.link = link = self.link
        m.submodules.echo = echo = self.echo
        for name in ("req", "rsp", "rsp_data"):
            wiring.connect(m, getattr(link, name), getattr(echo, name))
        m.d.comb += [link.buf_addr.eq(echo.buf_addr), echo.buf_data.eq(link.buf_data),
                     link.rx.eq(self.rx), self.tx.eq(link.tx), self.requests.eq(echo.requests),
                     echo.hold.eq(self.hold), echo.delay.eq(self.delay)]
        return m


def expected_reply(cfg, event):
    """The frame EchoTop sends for one RequestReceiver event."""
    if isinstance(event, proto.Frame):
        if event.code == proto.Command.IDENTIFY:
            return proto.Frame(proto.Status.OK, proto.identify_reply_payload(cfg))
        if event.code == proto.Command.TRAIN:
            return proto.Frame(proto.Status.BAD_ARG, b"")
        return proto.Frame(proto.Status.OK, bytes(reversed(event.payload)))
    return proto.Frame(event, b"")


# ---------------------------------------------------------------------------- UART bit helpers
async def uart_send(ctx, line, data, divisor, stop_bit=1):
    for b in data:
        for bit in [0] + [(b >> i) & 1 for i in range(8)] + [stop_bit]:
            ctx.set(line, bit)
            await ctx.tick().repeat(divisor)
    ctx.set(line, 1)


async def uart_monitor(ctx, line, divisor, sink):
    """Background: append every byte seen on ``line`` to ``sink`` (checks the stop bit)."""
    while True:
        await ctx.negedge(line)
        await ctx.tick().repeat(divisor // 2)
        if ctx.get(line):
            continue
        value = 0
        for i in range(8):
            await ctx.tick().repeat(divisor)
            value |= ctx.get(line) << i
        await ctx.tick().repeat(divisor)
        assert ctx.get(line) == 1, "device sent a byte with a bad stop bit"
        sink.append(value)


def simulate(dut, *benches, name):
    sim = Simulator(dut)
    sim.add_clock(1e-8)
    for bench, background in benches:
        sim.add_testbench(bench, background=background)
    if waves_requested():
        wdir = REPO_ROOT / "build" / "waves"
        wdir.mkdir(parents=True, exist_ok=True)
        with sim.write_vcd(str(wdir / f"{name}.vcd")):
            sim.run()
    else:
        sim.run()


# ---------------------------------------------------------------------------- UART
@pytest.mark.parametrize("divisor", [4, 7])
def test_uart_loopback(divisor):
    rng = random.Random(divisor)
    dut = UartLoop(divisor)
    sent = [rng.randrange(256) for _ in range(400)] + [0x00, 0xFF, 0x55, 0xAA]
    got = []

    async def bench(ctx):
        res, _ = await exchange(AmaranthIO(ctx, dut), {"i": sent}, {"o": len(sent)}, rng=rng,
                                p_valid=0.6, p_ready=1.0, max_cycles=12 * divisor * len(sent))
        got.extend(res["o"])

    run_amaranth(dut, bench, name=f"uart_loop_{divisor}")
    assert got == sent


@pytest.mark.parametrize("divisor", [4, 7])
def test_uart_rx_framing_error_and_glitch(divisor):
    """Stop bit 0 drops the byte; a start 'bit' shorter than half a bit is ignored."""
    dut = UartRx(divisor)
    got, errors = [], []

    async def collect(ctx):
        async for _, _, valid, payload, err in ctx.tick().sample(dut.o.valid, dut.o.payload,
                                                                dut.frame_error):
            if valid:
                got.append(payload)
            if err:
                errors.append(1)

    async def bench(ctx):
        ctx.set(dut.o.ready, 1)
        ctx.set(dut.rx, 1)
        await ctx.tick().repeat(5)
        await uart_send(ctx, dut.rx, [0x3C], divisor)
        await uart_send(ctx, dut.rx, [0x5A], divisor, stop_bit=0)   # framing error
        ctx.set(dut.rx, 1)
        await ctx.tick().repeat(3 * divisor)
        ctx.set(dut.rx, 0)                                          # glitch
        await ctx.tick()
        ctx.set(dut.rx, 1)
        await ctx.tick().repeat(12 * divisor)
        await uart_send(ctx, dut.rx, [0xC3, 0x00], divisor)
        await ctx.tick().repeat(3 * divisor)

    simulate(dut, (collect, True), (bench, False), name=f"uart_rx_err_{divisor}")
    assert got == [0x3C, 0xC3, 0x00]
    assert len(errors) == 1


# ---------------------------------------------------------------------------- HostLink
def good_request(rng, cfg):
    code = rng.choice(list(proto.Command))
    if code == proto.Command.WRITE_STATE:
        n = proto.STATE_HEADER + 2 * rng.randint(1, proto.STATE_CHUNK)
    elif code == proto.Command.STORE_WRITE:
        n = proto.STORE_WRITE_HEADER + rng.randint(1, proto.store_write_max_data(cfg))
    else:
        n = proto.fixed_request_length(cfg, code)
    return code, bytes(rng.randrange(256) for _ in range(n))


def fuzz_case(rng, cfg, kind):
    """One burst of bytes the host sends before waiting for the reply."""
    garbage = bytes(rng.choice([b for b in range(256) if b != proto.SYNC_HOST])
                    for _ in range(rng.randint(0, 6)))
    code, payload = good_request(rng, cfg)
    frame = bytearray(proto.encode_frame(code, payload))
    if kind == "good":
        return garbage + bytes(frame)
    if kind == "flip":
        i = rng.randrange(len(frame))
        frame[i] ^= 1 << rng.randrange(8)
        return garbage + bytes(frame)
    if kind == "truncate":
        return garbage + bytes(frame[:rng.randint(1, len(frame) - 1)])
    if kind == "oversize":
        n = rng.randint(proto.max_payload(cfg) + 1, 0xFFFF)
        body = bytes([code]) + n.to_bytes(2, "little") + payload
        return garbage + bytes([proto.SYNC_HOST]) + body + bytes(rng.randrange(256)
                                                                 for _ in range(3))
    if kind == "unknown":
        return garbage + proto.encode_frame(rng.choice(BAD_CODES), payload)
    if kind == "length":
        wrong = len(payload) + rng.choice([-1, 1, 2])
        wrong = wrong if wrong >= 0 else 1
        if proto.request_length_ok(cfg, code, wrong):
            wrong += 1
        return garbage + proto.encode_frame(code, bytes(rng.randrange(256) for _ in range(wrong)))
    if kind == "garbage_sync":      # garbage that may open a false frame
        junk = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
        return junk + bytes([proto.SYNC_HOST]) + bytes(frame)
    raise AssertionError(kind)


KINDS = ["good"] * 2 + ["flip"] * 4 + ["truncate", "oversize", "unknown", "length",
                                        "garbage_sync"]


def run_link(cfg, bursts, name):
    """Send each burst, wait for its replies; return (replies per burst, request count).

    A burst is ``(bytes, replies expected)`` or ``(bytes, replies expected, options)`` with
    options ``delay`` (the echo trainer's execution cycles) and ``hold`` (the trainer takes no
    request while the burst is sent)."""
    dut = EchoTop(cfg)
    d = cfg.uart_divisor
    seen = []
    out = {"replies": [], "requests": None}
    decoder = proto.FrameDecoder(proto.SYNC_DEVICE,     # the echo replies up to max_payload
                                 max(proto.max_payload(cfg), proto.max_reply_payload(cfg)))

    async def bench(ctx):
        ctx.set(dut.rx, 1)
        await ctx.tick().repeat(4)
        taken = 0
        for burst, n_expected, *opts in bursts:
            opts = opts[0] if opts else {}
            ctx.set(dut.delay, opts.get("delay", 0))
            ctx.set(dut.hold, opts.get("hold", 0))
            await uart_send(ctx, dut.rx, burst, d)
            ctx.set(dut.hold, 0)
            frames = []
            waited = 0
            limit = ((proto.FRAME_TIMEOUT_BITS + 10 * (proto.max_payload(cfg) + 20)) * d +
                     opts.get("delay", 0)) * max(1, n_expected)
            while len(frames) < n_expected:
                assert waited < limit, f"no reply to burst {len(out['replies'])}"
                await ctx.tick().repeat(8 * d)
                waited += 8 * d
                new, taken = seen[taken:], len(seen)
                for ev in decoder.feed(bytes(new)):
                    assert isinstance(ev, proto.Frame), f"corrupted reply frame ({ev})"
                    frames.append(ev)
            if n_expected == 0:     # nothing should come: give it the time a drain would take
                await ctx.tick().repeat((proto.FRAME_TIMEOUT_BITS + 40) * d)
                new, taken = seen[taken:], len(seen)
                frames += decoder.feed(bytes(new))
            out["replies"].append(frames)
        await ctx.tick().repeat((proto.FRAME_TIMEOUT_BITS + 40) * d)
        assert seen[taken:] == [], "the device sent an unexpected reply"
        out["requests"] = ctx.get(dut.requests)

    async def monitor(ctx):
        await uart_monitor(ctx, dut.tx, d, seen)

    simulate(dut, (monitor, True), (bench, False), name=name)
    return out["replies"], out["requests"]


def test_link_good_frames():
    cfg = LINK_CFG
    rng = random.Random(5)
    reqs = [(c, p) for c, p in (good_request(rng, cfg) for _ in range(40))]
    reqs.append((proto.Command.IDENTIFY, b""))
    # the largest request the buffer holds (SET_THRESHOLDS' tables, or a sample, or state)
    n = proto.max_payload(cfg)
    biggest = next(c for c in proto.Command if proto.request_length_ok(cfg, c, n))
    reqs.append((biggest, bytes(b & 0xFF for b in range(n))))
    bursts = [(proto.encode_frame(c, p), 1) for c, p in reqs]
    replies, requests = run_link(cfg, bursts, "link_good")
    for (c, p), got in zip(reqs, replies):
        assert got == [expected_reply(cfg, proto.Frame(c, p))]
    assert requests == sum(c != proto.Command.IDENTIFY for c, _ in reqs)


def test_link_fuzz():
    """Random good and corrupted frames: every burst gets exactly the replies of the reference
    receiver, the trainer sees only good requests, and the link always resynchronises."""
    cfg = LINK_CFG
    rng = random.Random(2024)
    bursts, expected, kinds, n_requests = [], [], [], 0
    while len(bursts) < 400:
        kind = rng.choice(KINDS)
        burst = fuzz_case(rng, cfg, kind)
        events = proto.RequestReceiver(cfg).feed(burst)
        if any(isinstance(e, proto.Frame) for e in events[:-1]):
            continue            # one request per burst here (several: the pipelined fuzz)
        if kind in ("oversize", "unknown", "length", "truncate"):
            want = {"oversize": proto.Status.BAD_LENGTH, "unknown": proto.Status.UNKNOWN,
                    "length": proto.Status.BAD_LENGTH, "truncate": proto.Status.TIMEOUT}[kind]
            assert events == [want], (kind, burst.hex(), events)
        bursts.append((burst, len(events)))
        n_requests += sum(isinstance(e, proto.Frame) and e.code != proto.Command.IDENTIFY
                          for e in events)
        expected.append([expected_reply(cfg, e) for e in events])
        kinds.append(kind)
        # a good frame right after every corrupted one proves resynchronisation
        code, payload = good_request(rng, cfg)
        frame = proto.Frame(code, payload)
        bursts.append((proto.encode_frame(code, payload), 1))
        n_requests += code != proto.Command.IDENTIFY
        expected.append([expected_reply(cfg, frame)])
        kinds.append("good")
    replies, requests = run_link(cfg, bursts, "link_fuzz")
    for i, (want, got) in enumerate(zip(expected, replies)):
        assert got == want, f"burst {i} ({kinds[i]}): {bursts[i][0].hex()}"
    n_corrupt = sum(k != "good" for k in kinds)
    assert n_corrupt >= 150
    statuses = {f.code for r in expected for f in r}
    assert statuses == set(proto.Status) - {proto.Status.BAD_STORE}   # no store in a link test
    assert requests == n_requests


def test_link_pipelined_fuzz():
    """Several frames back to back (good and corrupted), arriving while the trainer executes
    earlier ones (random execution times): the link answers each burst exactly as the queue
    model of RequestReceiver says, in arrival order — error replies never overtake the reply
    of an earlier frame, and no reply is corrupted by one sent meanwhile."""
    cfg = LINK_CFG
    depth = proto.LINK_DEPTH
    rng = random.Random(77)
    bursts, expected, n_requests, multi = [], [], 0, 0
    while len(bursts) < 120:
        kinds = [rng.choice(KINDS + ["good"] * 10) for _ in range(rng.randint(2, depth))]
        burst = b"".join(fuzz_case(rng, cfg, k) for k in kinds)
        rx = proto.RequestReceiver(cfg, depth=depth)
        events = rx.feed(burst)
        if len(events) > depth:
            continue            # the host never has more than `depth` frames in flight
        assert not rx.full or len(events) == depth
        delay = rng.choice([0, 0, 50, 2000, 10 * 10 * cfg.uart_divisor * 40])
        bursts.append((burst, len(events), {"delay": delay}))
        expected.append([expected_reply(cfg, e) for e in events])
        n_requests += sum(isinstance(e, proto.Frame) and e.code != proto.Command.IDENTIFY
                          for e in events)
        multi += sum(isinstance(e, proto.Frame) for e in events) >= 2
    replies, requests = run_link(cfg, bursts, "link_pipelined_fuzz")
    for i, (want, got) in enumerate(zip(expected, replies)):
        assert got == want, f"burst {i}: {bursts[i][0].hex()}"
    assert multi >= 30          # bursts with several requests queued behind each other
    statuses = {f.code for r in expected for f in r}
    assert statuses == set(proto.Status) - {proto.Status.BAD_STORE}
    assert requests == n_requests


def test_link_queue_full_drops_frames():
    """While the trainer takes nothing, the link queues `depth` frames; the frames after them
    are dropped whole (no reply, never executed) — then it answers the queued ones in order
    and takes the next frame as usual."""
    cfg = LINK_CFG
    depth = proto.LINK_DEPTH
    rng = random.Random(9)
    reqs = [(proto.Command.READ_STATE, bytes(rng.randrange(256) for _ in range(6)))
            for _ in range(depth + 2)]
    # a sync byte inside a dropped frame's payload opens nothing either
    reqs[depth] = (proto.Command.INFER, bytes([proto.SYNC_HOST]) * proto.sample_bytes(cfg))
    burst = b"".join(proto.encode_frame(c, p) for c, p in reqs)
    rx = proto.RequestReceiver(cfg, depth=depth)
    events = rx.feed(burst)
    assert events == [proto.Frame(c, p) for c, p in reqs[:depth]] and rx.full
    last = (proto.Command.INIT, b"\x01\x02\x03\x04")
    bursts = [(burst, depth, {"hold": 1}), (proto.encode_frame(*last), 1)]
    replies, requests = run_link(cfg, bursts, "link_queue_full")
    assert replies == [[expected_reply(cfg, e) for e in events],
                       [expected_reply(cfg, proto.Frame(*last))]]
    assert requests == depth + 1


# ---------------------------------------------------------------------------- cocotb
@pytest.mark.cosim
def test_link_cosim_verilator():
    """Generated Verilog of HostLink + echo trainer under Verilator, driven by the host
    driver through CocotbUartTransport (the transport of the full-trainer co-simulation)."""
    from xnorlearn.hw.generate import convert
    from xnorlearn.sim.harness import run_cocotb
    run_cocotb(convert(EchoTop(LINK_CFG), "link_echo_top"), "link_echo_top", "cocotb_link",
               simulator="verilator", params={"cfg": LINK_CFG.to_dict(), "seed": 3})


@pytest.mark.synth
def test_link_synth_ice40():
    """HostLink of the default configuration fits easily: its LINK_DEPTH payload slots
    (4 x 256 bytes) in two EBR, not in logic."""
    from xnorlearn.hw.generate import convert
    from xnorlearn.sim.synth import summarise, synth_cells
    from xnorlearn.sim.toolenv import setup_environment
    setup_environment()
    cells = summarise(synth_cells(convert(HostLink(Config()), "host_link"), "host_link",
                                  "ice40"), "ice40")
    assert cells["RAM"] == 2 and cells["LUT"] < 1000, cells
