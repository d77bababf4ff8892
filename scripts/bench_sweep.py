#!/usr/bin/env python3
"""Cycles of one reinforcement sweep per layer (spec v2 §7, :class:`SweepEngine`).

Simulates the sweep engine alone (Amaranth simulator, hits always taken) on the layers of a
few networks with the skip tables of training accuracy ``A = 0`` and ``A = 0.85``, several
sweep keys each, and prints the mean cycles from the start request to done, the draws the walk
consumed, the hits, and spec v1's dense sweep (one draw per weight, ``sweep_lanes = 1``) for
comparison. In the trainer core each hit word is one bank UPDATE issued as the hits stream by;
the SPRAM bank adds a one-cycle gap between same-parity UPDATEs in consecutive cycles (rare at
these probabilities), and the core adds the sweep key (~22 cycles) per layer.

    python scripts/bench_sweep.py
    python scripts/bench_sweep.py --nets 784-75-75 --keys 8
"""

import argparse
import random
import sys
import time

from xnorlearn.hw.sweep import SweepEngine
from xnorlearn.sim.harness import run_amaranth
from xnorlearn.sw import prng

NETS = ("784-75-75", "784-255-255")


def draws_of_row(key, row, fan_in, table, b):
    """Draws the walk of one row consumes (sweep_row's loop, counted)."""
    r = prng.hash32(key ^ row)
    pos = t = 0
    while pos < fan_in:
        u = prng.hash32(r ^ t) >> (32 - b)
        t += 1
        pos += prng.SWEEP_SKIP if u >= table[-1] else next(
            m for m in range(prng.SWEEP_SKIP) if u < table[m]) + 1
    return t


def sweep_cycles(eng, keys):
    """Cycles from the accepted start request until busy drops, for each key (layer 0)."""
    out = []

    async def bench(ctx):
        ctx.set(eng.o.ready, 1)
        for key in keys:
            ctx.set(eng.start.valid, 1)
            ctx.set(eng.start.p.key, key)
            ctx.set(eng.start.p.layer, 0)
            while not ctx.get(eng.start.ready):
                await ctx.tick()
            await ctx.tick()
            ctx.set(eng.start.valid, 0)
            n = 1
            while ctx.get(eng.busy):
                await ctx.tick()
                n += 1
            out.append(n)

    run_amaranth(eng, bench, name="bench_sweep")
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nets", nargs="+", default=list(NETS))
    ap.add_argument("--accuracies", type=float, nargs="+", default=[0.0, 0.85])
    ap.add_argument("--keys", type=int, default=4, help="sweeps (keys) averaged per layer")
    ap.add_argument("--lanes", type=int, default=4, help="P (only changes word/lane outputs)")
    ap.add_argument("--p-reinforce", type=float, default=0.5)
    ap.add_argument("--prob-bits", type=int, default=16)
    args = ap.parse_args(argv)
    b = args.prob_bits
    rng = random.Random(1)
    t0 = time.time()
    print(f"Sweep cycles per layer (p_r = {args.p_reinforce}, b = {b}, mean of {args.keys} "
          f"keys; dense v1 = N·ceil(F/P)·P draws at one per cycle, P = {args.lanes})\n")
    print("| network | layer | N × F | A | p | hits | draws | cycles | cycles / row "
          "| overhead / row | dense v1 | dense / sparse |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for net in args.nets:
        widths = [int(w) for w in net.split("-")]
        for l in range(len(widths) - 1):
            f, n = widths[l], widths[l + 1]
            for a in args.accuracies:
                table = prng.reinforce_table(args.p_reinforce, a, f, b)
                p = prng.reinforce_probability(args.p_reinforce, a, f)
                keys = [rng.getrandbits(32) for _ in range(args.keys)]
                eng = SweepEngine([f], [n], b, lanes=args.lanes, init_tables=[table])
                cycles = sweep_cycles(eng, keys)
                draws = [sum(draws_of_row(k, j, f, table, b) for j in range(n)) for k in keys]
                hits = [sum(len(prng.sweep_row(k, j, f, table, b)) for j in range(n))
                        for k in keys]
                mc, md, mh = (sum(x) / len(x) for x in (cycles, draws, hits))
                dense = n * -(-f // args.lanes) * args.lanes
                print(f"| {net} | {l} | {n} × {f} | {a:g} | {p:.4f} | {mh:.0f} | {md:.0f} "
                      f"| {mc:.0f} | {mc / n:.1f} | {(mc - md) / n:.1f} | {dense} "
                      f"| {dense / mc:.1f} |", flush=True)
    print(f"\n({time.time() - t0:.0f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
