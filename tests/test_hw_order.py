"""EpochOrder (hw/order.py) in Amaranth's simulator against ``prng.order_index``."""

import numpy as np
from amaranth.sim import Simulator

from xnorlearn.hw.order import EpochOrder
from xnorlearn.sw import prng


def run_order(cases, **kw):
    """Feed (key, i, n) requests back to back; returns (indices, cycles per request)."""
    dut = EpochOrder(**kw)
    sim = Simulator(dut)
    sim.add_clock(1e-8)
    out = {}

    async def tb(ctx):
        got, cycles = [], []
        ctx.set(dut.index.ready, 1)
        for key, i, n in cases:
            ctx.set(dut.req.p.key, key)
            ctx.set(dut.req.p.i, i)
            ctx.set(dut.req.p.n, n)
            ctx.set(dut.req.valid, 1)
            c = 0
            while True:
                await ctx.tick()
                c += 1
                if ctx.get(dut.req.valid) and c == 1:
                    ctx.set(dut.req.valid, 0)
                if ctx.get(dut.index.valid):
                    got.append(ctx.get(dut.index.payload))
                    await ctx.tick()
                    break
            cycles.append(c)
        out["got"], out["cycles"] = got, cycles

    sim.add_testbench(tb)
    sim.run()
    return out["got"], out["cycles"]


def test_random_n_and_positions():
    rng = np.random.default_rng(5)
    cases = []
    for n in list(rng.integers(1, 70001, 60)) + [1, 2, 3, 4, 5, 16, 17, 64, 65, 4096, 65536, 65537]:
        n = int(n)
        key = int(rng.integers(0, 2**32))
        for i in {0, n - 1, int(rng.integers(0, n))}:
            cases.append((key, i, n))
    got, cycles = run_order(cases)
    want = [prng.order_index(k, i, n) for k, i, n in cases]
    assert got == want
    print(f"EpochOrder: {np.mean(cycles):.1f} cycles per index on average, max {max(cycles)}")


def test_whole_small_orders_are_epoch_order():
    for seed, epoch, n in ((1, 0, 7), (42, 3, 33), (7, 1, 100)):
        key = prng.order_key(seed, epoch)
        got, _ = run_order([(key, i, n) for i in range(n)], steps_per_stage=1)
        assert got == list(prng.epoch_order(seed, epoch, n))
        assert sorted(got) == list(range(n))


def test_large_n():
    cases = [(0xDEADBEEF, 12345, 2**20 + 3), (0x12345678, 2**31, 2**32 - 1)]
    got, _ = run_order(cases, steps_per_stage=6)
    assert got == [prng.order_index(k, i, n) for k, i, n in cases]
