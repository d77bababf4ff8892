"""XNOR-popcount array against the reference pre-activation, in Amaranth's simulator."""

import random

import pytest
from amaranth.hdl import Fragment

from xnorlearn.hw.popcount import XnorPopcount, beat_layout
from xnorlearn.sim.harness import (AmaranthIO, compare_records, exchange, pack, run_amaranth,
                                    unpack)
from xnorlearn.sim.vectors import popcount_beats, popcount_vectors

# (lanes, max_inputs, levels_per_stage, vectors, p_valid, p_ready)
CASES = [
    (1, 9, 0, 1500, 1.0, 1.0),        # P = 1
    (8, 40, 0, 3000, 0.8, 0.7),       # N not a multiple of P, combinational tree
    (8, 64, 1, 3000, 1.0, 1.0),       # fully pipelined tree
    (5, 23, 2, 1500, 0.7, 0.8),       # odd lane count
    (32, 100, 2, 1000, 1.0, 0.5),
]


def run_popcount(lanes, max_inputs, k, count, p_valid, p_ready, seed=1):
    rng = random.Random(seed)
    vecs = popcount_vectors(rng, count, max_inputs, lanes)
    dut = XnorPopcount(lanes, max_inputs, k)
    layout = beat_layout(lanes)
    out_shape = dut.o.payload.shape()
    got = []

    async def bench(ctx):
        io = AmaranthIO(ctx, dut)
        # Group vectors by N so `n` is static within one exchange (it is sampled per vector).
        by_n = {}
        for v in vecs:
            by_n.setdefault(v[0], []).append(v)
        order = []
        for n, group in by_n.items():
            beats = [b for _, a, w, _ in group for b in popcount_beats(layout, lanes, a, w, rng)]
            res, cycles = await exchange(io, {"i": beats}, {"o": len(group)}, rng=rng,
                                         p_valid=p_valid, p_ready=p_ready, statics={"n": n})
            if p_valid == p_ready == 1.0:   # one beat per cycle, vectors back to back
                assert cycles == len(beats) + dut.latency
            got.extend(unpack(out_shape, r) for r in res["o"])
            order.extend(group)
        vecs[:] = order

    run_amaranth(dut, bench, name=f"popcount_p{lanes}_k{k}")
    compare_records(f"popcount P={lanes} k={k}",
                    [{"h": h, "n": n} for n, _, _, h in vecs],
                    [{"h": g, "n": n} for (n, *_), g in zip(vecs, got)], fields=["h"])


@pytest.mark.parametrize("lanes,max_inputs,k,count,p_valid,p_ready", CASES)
def test_popcount_random(lanes, max_inputs, k, count, p_valid, p_ready):
    run_popcount(lanes, max_inputs, k, count, p_valid, p_ready)


def test_popcount_latency_and_stages():
    def built(*args):
        dut = XnorPopcount(*args)
        Fragment.get(dut, None)
        return dut
    assert built(8, 64, 0).latency == 1
    assert built(8, 64, 1).tree_stages == 2      # registers after levels 1 and 2 of 3
    assert built(32, 64, 2).tree_stages == 2     # after levels 2 and 4 of 5
    assert built(1, 4, 1).tree_stages == 0


@pytest.mark.parametrize("lanes,max_inputs,k,p_valid,p_ready", [
    (8, 40, 2, 1.0, 1.0), (32, 100, 2, 0.7, 0.6), (5, 23, 1, 0.8, 0.8)])
def test_popcount_framed(lanes, max_inputs, k, p_valid, p_ready):
    """``framed``: the caller marks each vector's first and last beat and pads the last beat
    with lanes that contribute nothing (activation 0, weight 1); same results."""
    rng = random.Random(lanes * 7 + k)
    vecs = popcount_vectors(rng, 600, max_inputs, lanes)
    dut = XnorPopcount(lanes, max_inputs, k, mask_tail=False, framed=True)
    layout = beat_layout(lanes, framed=True)
    out_shape = dut.o.payload.shape()
    got, order = [], []

    def beats_of(a, w):
        n_beats = -(-len(a) // lanes)
        out = []
        for b in range(n_beats):
            idx = [b * lanes + j for j in range(lanes)]
            aa = sum((a[i] if i < len(a) else 0) << j for j, i in enumerate(idx))
            ww = sum((w[i] if i < len(w) else 1) << j for j, i in enumerate(idx))
            out.append(pack(layout, {"a": aa, "w": ww, "first": int(b == 0),
                                     "last": int(b == n_beats - 1)}))
        return out

    async def bench(ctx):
        io = AmaranthIO(ctx, dut)
        by_n = {}
        for v in vecs:
            by_n.setdefault(v[0], []).append(v)
        for n, group in by_n.items():         # n held for a whole exchange
            beats = [b for _, a, w, _ in group for b in beats_of(a, w)]
            res, cycles = await exchange(io, {"i": beats}, {"o": len(group)}, rng=rng,
                                         p_valid=p_valid, p_ready=p_ready, statics={"n": n})
            if p_valid == p_ready == 1.0:
                assert cycles == len(beats) + dut.latency
            got.extend(unpack(out_shape, r) for r in res["o"])
            order.extend(group)

    run_amaranth(dut, bench, name=f"popcount_framed_p{lanes}_k{k}")
    compare_records(f"popcount framed P={lanes} k={k}",
                    [{"h": h} for _, _, _, h in order], [{"h": g} for g in got], fields=["h"])
