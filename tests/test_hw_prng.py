"""hash32 and stream_key gateware against xnorlearn.sw.prng (Amaranth simulator)."""

import random

import pytest

from xnorlearn.hw.prng import Hash32, StreamKey, key_request_layout
from xnorlearn.sim.harness import AmaranthIO, compare_records, exchange, pack, run_amaranth
from xnorlearn.sim.vectors import hash_vectors, stream_key_vectors


@pytest.mark.parametrize("steps,count,p_valid,p_ready,multiply",
                         [(1, 10000, 1.0, 1.0, False), (2, 2000, 0.7, 0.6, False),
                          (6, 1000, 1.0, 0.8, False), (1, 10000, 1.0, 1.0, True),
                          (3, 2000, 0.7, 0.6, True)])
def test_hash32(steps, count, p_valid, p_ready, multiply):
    """``multiply``: steps 1, 3, 5 as multiplies by ``2^s + 1`` (the UP5K's form)."""
    rng = random.Random(steps + 10 * multiply)
    vecs = hash_vectors(rng, count)
    dut = Hash32(steps, multiply=multiply)
    got = []

    async def bench(ctx):
        res, cycles = await exchange(AmaranthIO(ctx, dut), {"i": [x for x, _ in vecs]},
                                     {"o": len(vecs)}, rng=rng, p_valid=p_valid, p_ready=p_ready)
        got.extend(res["o"])
        if p_valid == p_ready == 1.0:      # one draw per cycle after the pipeline fills
            assert cycles <= len(vecs) + dut.latency + 1

    run_amaranth(dut, bench, name=f"hash32_s{steps}_m{int(multiply)}")
    compare_records(f"hash32 steps_per_stage={steps} multiply={multiply}",
                    [{"x": x, "hash": h} for x, h in vecs],
                    [{"x": x, "hash": g} for (x, _), g in zip(vecs, got)], fields=["hash"])


def test_hash32_steps_table():
    """The table of steps is the software hash (every form on edge values and random ones),
    and the multiply form is chosen on the iCE40 UP parts only."""
    from amaranth import Const
    from amaranth.sim import Simulator

    from xnorlearn.hw.prng import has_multipliers, hash32_steps
    from xnorlearn.sw.prng import hash32
    rng = random.Random(3)
    xs = [0, 1, 0xFFFF, 0x10000, 0xFFFF_FFFF, 0x8000_0000] + [rng.getrandbits(32)
                                                             for _ in range(50)]
    for multiply in (False, True):
        for x in xs:
            v = Const(x, 32)
            for step in hash32_steps(multiply):
                v = step(v)
            from amaranth import Module, Signal
            m = Module()
            out = Signal(32)
            m.d.comb += out.eq(v)
            sim = Simulator(m)
            got = []

            async def tb(ctx):
                got.append(ctx.get(out))
            sim.add_testbench(tb)
            sim.run()
            assert got[0] == hash32(x), (multiply, hex(x))
    plat = type("Plat", (), {})
    for device, want in (("iCE40UP5K", True), ("iCE40HX8K", False), ("LFE5U-85F", False)):
        plat.device = device
        assert has_multipliers(plat()) is want
    assert has_multipliers(None) is False


def test_stream_key():
    rng = random.Random(9)
    vecs = stream_key_vectors(rng, 300)
    dut = StreamKey()
    layout = key_request_layout()
    got = []

    async def bench(ctx):
        res, _ = await exchange(AmaranthIO(ctx, dut), {"req": [pack(layout, r) for r, _ in vecs]},
                                {"key": len(vecs)}, rng=rng, p_valid=0.8, p_ready=0.7, max_cycles=60 * len(vecs))
        got.extend(res["key"])

    run_amaranth(dut, bench, name="stream_key")
    compare_records("stream_key", [{"key": k, **r} for r, k in vecs],
                    [{"key": g} for g in got], fields=["key"])


def test_stream_key_held():
    """``held``: the request payload is not registered; the caller holds it until the key
    has been taken (the trainer core's use)."""
    rng = random.Random(10)
    vecs = stream_key_vectors(rng, 40)
    dut = StreamKey(held=True)
    got = []

    async def bench(ctx):
        for req, _ in vecs:
            for f in ("seed", "layer", "stream", "n"):
                ctx.set(getattr(dut.req.p, f), req[f])
            ctx.set(dut.req.valid, 1)
            while not ctx.get(dut.req.ready):
                await ctx.tick()
            await ctx.tick()
            ctx.set(dut.req.valid, 0)
            ctx.set(dut.key.ready, 1)
            while not ctx.get(dut.key.valid):
                await ctx.tick()
            got.append(ctx.get(dut.key.payload))
            await ctx.tick()
            ctx.set(dut.key.ready, 0)
            for f in ("seed", "layer", "stream", "n"):      # changes only after the key
                ctx.set(getattr(dut.req.p, f), rng.getrandbits(16))

    run_amaranth(dut, bench, name="stream_key_held")
    compare_records("stream_key held", [{"key": k} for _, k in vecs],
                    [{"key": g} for g in got], fields=["key"])
