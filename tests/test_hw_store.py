"""The data store gateware (hw/store.py) in Amaranth's simulator.

MemoryReader on its own; StoreRunner between a payload buffer and a TrainerCore
(sim/store_harness.py): header refusals, argument refusals, TRAIN_STORE bit-exact against
``HwModel`` trained in ``prng.epoch_order`` (the counter bank compared after every record),
EVAL_STORE counts, pass-through of ordinary commands, and the store-fed rate against the core's
compute-only rate.
"""

import functools

import numpy as np
import pytest
from amaranth.sim import Simulator

from xnorlearn.hw.counters import PipelinedCounterBank
from xnorlearn.hw.store import MemoryReader, request_fields
from xnorlearn.hw.trainer import Cmd, Status
from xnorlearn.sim.core_harness import CoreDriver, CoreHarness
from xnorlearn.sim.store_harness import StoreHarness, run_store_bench
from xnorlearn.sw import prng
from xnorlearn.sw import protocol as proto
from xnorlearn.sw.config import Config
from xnorlearn.sw.model import HwModel, compare_states

CFG = Config(n_inputs=20, layers=(8, 6), n_classes=3, group_sizes=(4, 3), counter_bits=3,
             batch=5, lanes=8, p_reinforce=1.0)
BASE = 0x1234


def data(cfg, n, seed):
    rng = np.random.default_rng(seed)
    return (rng.integers(0, 2, (n, cfg.n_inputs)).astype(np.uint8),
            rng.integers(0, cfg.n_classes, n))


def run(harness, bench, cfg=CFG, on_sample=None):
    return run_store_bench(harness, cfg, bench, on_sample)


def patch_field(payload, code, field, value):
    """A store request with one field set to a value its builder refuses."""
    b = bytearray(payload)
    for k, p in enumerate(request_fields(code)[field]):
        b[p] = value >> 8 * k & 0xFF
    return bytes(b)


# ---------------------------------------------------------------------------- MemoryReader
def test_memory_reader_reads_with_back_pressure():
    rng = np.random.default_rng(1)
    image = bytes(rng.integers(0, 256, 300, dtype=np.uint8))
    base = 0x10000
    dut = MemoryReader(image, base)
    reads = [(base, 1), (base + 5, 17), (base + 290, 20), (base - 3, 6), (base + 100, 64)]
    sim = Simulator(dut)
    sim.add_clock(1e-8)
    got = []

    async def tb(ctx):
        for addr, n in reads:
            while not ctx.get(dut.cmd.ready):
                await ctx.tick()
            ctx.set(dut.cmd.p.addr, addr)
            ctx.set(dut.cmd.p.length, n)
            ctx.set(dut.cmd.valid, 1)
            await ctx.tick()
            ctx.set(dut.cmd.valid, 0)
            assert ctx.get(dut.busy)
            out = bytearray()
            t = 0
            while len(out) < n:
                ready = int(rng.integers(0, 2))
                ctx.set(dut.data.ready, ready)
                if ready and ctx.get(dut.data.valid):
                    out.append(ctx.get(dut.data.payload))
                await ctx.tick()
                t += 1
            ctx.set(dut.data.ready, 1)
            await ctx.tick()
            assert not ctx.get(dut.data.valid) and not ctx.get(dut.busy)
            got.append(bytes(out))

    sim.add_testbench(tb)
    sim.run()
    padded = b"\xff" * 16 + image + b"\xff" * 64
    for (addr, n), g in zip(reads, got):
        off = addr - base + 16
        assert g == padded[off:off + n], (addr, n)


# ---------------------------------------------------------------------------- header
def image_for(cfg, n_train=13, n_test=5, seed=0):
    xt, yt = data(cfg, n_train, seed)
    xe, ye = data(cfg, n_test, seed + 1)
    return proto.store_image(cfg, xt, yt, xe, ye, "toy/test"), (xt, yt, xe, ye)


def test_store_info_and_refusals():
    good, _ = image_for(CFG)
    bad_crc = bytearray(good)
    bad_crc[12] ^= 1                                   # n_train: the CRC no longer matches
    wrong = proto.store_image(Config(n_inputs=20, layers=(8,), n_classes=4),
                              *data(Config(n_inputs=20, layers=(8,), n_classes=4), 3, 0),
                              *data(Config(n_inputs=20, layers=(8,), n_classes=4), 1, 1))
    x0 = np.zeros((0, CFG.n_inputs), np.uint8)
    empty = proto.store_image(CFG, x0, np.zeros(0, int), *data(CFG, 2, 3))
    cases = {"good": (good, 0), "crc": (bytes(bad_crc), proto.StoreCheck.UNREADABLE),
             "erased": (b"\xff" * 200, proto.StoreCheck.UNREADABLE),
             "classes": (wrong, proto.StoreCheck.CLASSES),
             "empty": (empty, proto.StoreCheck.EMPTY)}
    for name, (image, verdict) in cases.items():
        async def bench(d):
            st, v, raw = await d.store_info()
            assert st == Status.OK and v == verdict, (name, st, v)
            assert raw == bytes(image[:64]), name
            st, c = await d.train_store(1, 0, 0, 1)
            assert st == (Status.OK if verdict == 0 else Status.BAD_STORE), (name, st)
            st, c = await d.eval_store(proto.SPLIT_TEST, 0, 1)
            assert st == (Status.OK if verdict == 0 else Status.BAD_STORE), (name, st)
            return True
        assert run(StoreHarness(CFG, image, BASE), bench)


def test_argument_refusals_train_nothing():
    image, _ = image_for(CFG)
    gold = HwModel(CFG)
    T, E = Cmd.TRAIN_STORE, Cmd.EVAL_STORE

    async def bench(d):
        bad = [(T, proto.train_store_request(1, 0, 13, 1)),
               (T, proto.train_store_request(1, 0, 10, 4)),
               (T, proto.train_store_request(1, 0, prng.MASK32, 2)),
               (T, patch_field(proto.train_store_request(1, 0, 0, 1), T, 3, 0)),
               (E, proto.eval_store_request(proto.SPLIT_TEST, 3, 3)),
               (E, proto.eval_store_request(proto.SPLIT_TRAIN, 0, 14)),
               (E, patch_field(proto.eval_store_request(proto.SPLIT_TEST, 0, 1), E, 2, 0)),
               (E, patch_field(proto.eval_store_request(proto.SPLIT_TEST, 0, 1), E, 0, 2))]
        for code, payload in bad:
            st, r = await d.command(code, payload)
            assert (st, r) == (Status.BAD_ARG, b""), (code, payload.hex())
        assert compare_states(gold.state(), d.peek_state()) is None
        assert (await d.read_counters())["samples"] == 0
        # the last record of each split is reachable
        assert (await d.eval_store(proto.SPLIT_TEST, 4, 1))[0] == Status.OK
        assert (await d.eval_store(proto.SPLIT_TRAIN, 12, 1))[0] == Status.OK
        return True
    assert run(StoreHarness(CFG, image, BASE), bench)


def test_no_store_design_answers_unknown():
    h = CoreHarness(CFG)
    sim = Simulator(h)
    sim.add_clock(1e-8)

    async def tb(ctx):
        d = CoreDriver(h, CFG, ctx)
        for code, payload in ((Cmd.STORE_INFO, b""),
                              (Cmd.TRAIN_STORE, proto.train_store_request(1, 0, 0, 1)),
                              (Cmd.EVAL_STORE, proto.eval_store_request(0, 0, 1))):
            assert await d.command(code, payload) == (Status.UNKNOWN, b"")
    sim.add_testbench(tb)
    sim.run()


# ---------------------------------------------------------------------------- training
BANKS = {"bram": None, "pipelined": functools.partial(PipelinedCounterBank, row_words=8)}


@pytest.mark.parametrize("bank", sorted(BANKS))
def test_train_store_bit_exact_and_eval_store(bank):
    """Two epochs, the first split into two TRAIN_STORE ranges; the bank is compared with the
    golden model after every record; END_EPOCH / SET_THRESHOLDS / READ_COUNTERS / INFER go
    through the runner to the core."""
    seed, n_train = 77, 13
    image, (xt, yt, xe, ye) = image_for(CFG, n_train)
    gold = HwModel(CFG)
    expect = []                     # golden-model record index per sample fed

    async def on_sample(d, k):
        i = expect.pop(0)
        gold.train_sample(xt[i], yt[i])
        mism = compare_states(gold.state(), d.peek_state())
        assert mism is None, f"record {i} (sample {k} of the command): {mism}"

    async def bench(d):
        for epoch in range(2):
            order = prng.epoch_order(seed, epoch, n_train)
            ranges = [(0, 6), (6, 7)] if epoch == 0 else [(0, n_train)]
            for first, count in ranges:
                expect.extend(order[first:first + count])
                c0 = gold.train_correct
                st, correct = await d.train_store(seed, epoch, first, count)
                assert st == Status.OK and not expect
                assert correct == gold.train_correct - c0
                cnt = await d.read_counters()
                assert (cnt["samples"], cnt["correct"]) == (gold.train_samples,
                                                            gold.train_correct)
                assert cnt["batch_number"] == gold.batch_number
            await d.end_epoch()
            gold.end_epoch()
            assert compare_states(gold.state(), d.peek_state()) is None
            gold.set_accuracy(gold.train_accuracy)
            assert await d.set_tables(gold.tables) == Status.OK
            gold.reset_counters()
            await d.command(Cmd.RESET_COUNTERS)
        d.on_sample = None
        st, c = await d.eval_store(proto.SPLIT_TEST, 0, len(ye))
        assert st == Status.OK and c == int((gold.predict(xe) == ye).sum())
        st, c = await d.eval_store(proto.SPLIT_TRAIN, 2, 9)
        assert st == Status.OK and c == int((gold.predict(xt[2:11]) == yt[2:11]).sum())
        for s in range(3):
            assert await d.infer(xe[s]) == gold.infer(xe[s])
        return True
    assert run(StoreHarness(CFG, image, BASE, bank_cls=BANKS[bank]), bench,
               on_sample=on_sample)


def test_label_out_of_range_stops_the_run():
    n_train, seed = 9, 5
    image, (xt, yt, xe, ye) = image_for(CFG, n_train, seed=3)
    order = prng.epoch_order(seed, 0, n_train)
    bad = bytearray(image)
    R = proto.record_bytes(CFG)
    bad[proto.STORE_HEADER_BYTES + int(order[2]) * R] = CFG.n_classes   # 3rd record's label
    gold = HwModel(CFG)
    gold.train(xt, yt, order[:2])

    async def bench(d):
        st, r = await d.command(Cmd.TRAIN_STORE, proto.train_store_request(seed, 0, 0, 6))
        assert (st, r) == (Status.BAD_ARG, b"")
        assert compare_states(gold.state(), d.peek_state()) is None
        assert (await d.read_counters())["samples"] == 2
        # the runner is idle again and the records after it train
        st, c = await d.train_store(seed, 0, 3, 2)
        assert st == Status.OK
        return True
    assert run(StoreHarness(CFG, bytes(bad), BASE), bench)


RATE_CONFIGS = {
    "small": CFG,
    "mnist_like": Config(n_inputs=196, layers=(64,), n_classes=10, group_sizes=(8,),
                         counter_bits=6, batch=16, lanes=16),
}


@pytest.mark.parametrize("name", sorted(RATE_CONFIGS))
def test_store_fed_rate(name):
    """Cycles per sample of TRAIN_STORE against the core's busy cycles per sample (the
    compute-only rate) and against plain TRAIN requests: the runner's overhead must stay small
    (store-fed rate >= 90 % of the compute-only rate)."""
    cfg = RATE_CONFIGS[name]
    n = 24
    image, (xt, yt, xe, ye) = image_for(cfg, n, 4)

    async def bench(d):
        st, _ = await d.train_store(9, 0, 0, n)
        assert st == Status.OK
        store = d.store_cycles / n
        busy = (await d.read_counters())["busy_cycles"] / n
        await d.command(Cmd.RESET_COUNTERS)
        c0 = d.cycles
        for i in range(n):
            await d.train(xt[i], yt[i])
        plain = (d.cycles - c0) / n
        busy_plain = (await d.read_counters())["busy_cycles"] / n
        return store, busy, plain, busy_plain
    store, busy, plain, busy_plain = run(StoreHarness(cfg, image, BASE), bench, cfg=cfg)
    ratio = busy / store
    print(f"\n{name}: TRAIN_STORE {store:.1f} cycles/sample, core busy {busy:.1f} "
          f"cycles/sample (plain TRAIN: {plain:.1f} per request, busy {busy_plain:.1f}); "
          f"store-fed rate = {100 * ratio:.1f} % of compute-only")
    assert ratio >= 0.9


@pytest.mark.parametrize("name", ["icebreaker", "ulx3s-25f"])
def test_trainer_top_with_a_board_flash_store(name):
    """How a board builds the store: ``TrainerTop(store=StoreParams(board.store_offset,
    reader))`` with the board's flash reader, its ``flash_pins()`` given to the board's pin glue
    (``boards.flash_pins.FlashPins``); goes through the board's platform (``prepare``)."""
    import re

    from amaranth import Module

    from xnorlearn.boards.flash_pins import FLASH, FlashPins, flash_reader
    from xnorlearn.boards.registry import get_board
    from xnorlearn.boards.top import make_platform
    from xnorlearn.hw.store import StoreParams
    from xnorlearn.hw.top import TrainerTop
    board = get_board(name)
    top = TrainerTop(CFG, store=StoreParams(board.store_offset, lambda: flash_reader(board)))
    assert top.runner.base == board.store_offset
    assert set(top.pins) == {"sck", "cs", "io_o", "io_oe", "io_i"}
    m = Module()
    m.submodules.trainer = top
    m.submodules.flash_pins = FlashPins(top.flash_pins(), board)
    files = make_platform(board).prepare(m, name="top").files
    cs = FLASH[name].cs
    if board.family == "ice40":
        assert re.search(rf"^set_io \S*cs\S* {cs}$", files["top.pcf"], re.M)
    else:
        assert f'SITE "{cs}"' in files["top.lpf"] and "USRMCLK" in files["top.il"]


# ---------------------------------------------------------------------------- record slots
class StallingCore:
    """Stands in for the core on the runner's ``core`` port: takes a request, answers OK with
    one byte after ``cycles[k]`` cycles for the ``k``-th request (0 after the list)."""

    def __init__(self, cycles):
        self.cycles = list(cycles)

    def build(self, max_payload):
        from amaranth import Module, Signal
        from amaranth.lib import wiring

        from xnorlearn.hw.store import host_port_signature
        outer = self

        class Core(wiring.Component):
            def elaborate(self, platform):
                m = Module()
                k = Signal(16)
                wait = Signal(32)
                table = outer.cycles + [0]
                with m.FSM():
                    with m.State("IDLE"):
                        m.d.comb += self.req.ready.eq(1)
                        with m.If(self.req.valid):
                            with m.Switch(k):
                                for i, c in enumerate(table[:-1]):
                                    with m.Case(i):
                                        m.d.sync += wait.eq(c)
                                with m.Default():
                                    m.d.sync += wait.eq(0)
                            m.d.sync += k.eq(k + 1)
                            m.next = "WAIT"
                    with m.State("WAIT"):
                        m.d.sync += wait.eq(wait - 1)
                        with m.If(wait == 0):
                            m.next = "RSP"
                    with m.State("RSP"):
                        m.d.comb += [self.rsp.valid.eq(1), self.rsp.p.length.eq(1)]
                        with m.If(self.rsp.ready):
                            m.next = "DATA"
                    with m.State("DATA"):
                        m.d.comb += self.rsp_data.valid.eq(1)
                        with m.If(self.rsp_data.ready):
                            m.next = "IDLE"
                return m
        return Core(host_port_signature(max_payload).flip())


def reads_during_a_stall(slots, stall=4000, n=40):
    """TRAIN_STORE of ``n`` records with a core that stalls ``stall`` cycles on the first:
    how many records the runner had read when the core answered it."""
    from amaranth import Module
    from amaranth.lib.memory import Memory

    from xnorlearn.hw.store import StoreRunner
    cfg = CFG
    image, _ = image_for(cfg, n, 4)
    mp = proto.max_payload(cfg)
    m = Module()
    m.submodules.runner = runner = StoreRunner(cfg, BASE, mp, slots=slots)
    m.submodules.reader = reader = MemoryReader(image, BASE)
    m.submodules.core = core = StallingCore([stall]).build(mp)
    req = proto.train_store_request(9, 0, 0, n)
    m.submodules.buf = buf = Memory(shape=8, depth=mp, init=list(req))
    rd = buf.read_port()
    m.d.comb += [rd.addr.eq(runner.host.buf_addr), runner.host.buf_data.eq(rd.data)]
    runner.connect(m, reader, core)
    out = {}

    async def tb(ctx):
        h = runner.host
        ctx.set(h.req.p.code, proto.Command.TRAIN_STORE)
        ctx.set(h.req.p.length, len(req))
        ctx.set(h.req.valid, 1)
        await ctx.tick()
        ctx.set(h.req.valid, 0)
        ctx.set(h.rsp.ready, 1)
        ctx.set(h.rsp_data.ready, 1)
        reads, answered = 0, 0
        for _ in range(50_000):
            if ctx.get(reader.cmd.valid) and ctx.get(reader.cmd.ready):
                reads += 1
            if ctx.get(core.rsp_data.valid) and ctx.get(core.rsp_data.ready):
                answered += 1
                if answered == 1:
                    out["ahead"] = reads - 1            # without the header read
            if ctx.get(h.rsp.valid):
                out["status"] = ctx.get(h.rsp.p.status)
                break
            await ctx.tick()

    sim = Simulator(m)
    sim.add_clock(1e-8)
    sim.add_testbench(tb)
    sim.run()
    assert out["status"] == Status.OK
    return out["ahead"]


@pytest.mark.parametrize("slots", [2, 4, 16])
def test_reads_run_ahead_of_a_stalled_core(slots):
    """While the core works on one record for a long time (a reinforcement sweep), the
    fetcher fills every other slot: the reads stall only once all ``slots`` are taken (with
    four slots, the ULX3S-25F lost ~40 cycles a sample to the sweeps)."""
    assert reads_during_a_stall(slots) == slots


def test_record_slot_choices():
    from xnorlearn.hw.store import BUFFER_BYTES, MAX_SLOTS, StoreRunner
    fashion = Config(n_inputs=784, layers=(75, 75), n_classes=10, group_sizes=(75, 75))
    mp = proto.max_payload(fashion)
    r = StoreRunner(fashion, 0, mp)             # 99-byte records in 128-byte slots
    assert (r.slot, r.slots, r.buf.depth) == (128, MAX_SLOTS, BUFFER_BYTES)
    assert "ram_style" not in r.buf.attrs
    r2 = StoreRunner(fashion, 0, mp, slots=2, lutram=True)
    assert r2.buf.depth == 256 and r2.buf.attrs["ram_style"] == "distributed"
    for obj in (r, r.buf, r2, r2.buf):             # built for their shape, never elaborated
        obj._MustUse__silence = True
    for bad in (0, 1, 3, 6, True, "4"):
        with pytest.raises(ValueError, match="power of two"):
            StoreRunner(fashion, 0, mp, slots=bad)
