#!/usr/bin/env python3
"""Cycles per training sample of every board default, by phase, against the golden model.

For each board's default configuration, the trainer core with that board's own counter bank
runs in Amaranth's simulator (FashionMNIST samples, power-on state, A = 0 reinforcement
tables: the densest sweeps). Every cycle the core's state is tallied into a phase: sample load,
forward pass per layer, decisions, updates that the next layer's forward pass does not hide,
other. A batch boundary (END_EPOCH after the samples) measures one reinforcement sweep of every
layer; it is amortised over B samples. The table gives cycles per sample by phase, the total,
the board clock, on-chip samples/s, and the ratio to the golden model's training samples/s on
one core (hw variant, same network, measured in this run: median of timed passes over the
training set after a warm-up).

    python scripts/bench_cycles.py                          # every board default
    python scripts/bench_cycles.py --boards icebreaker,ulx3s-85f --samples 6
"""

import argparse
import collections
import os
import statistics
import time

os.environ.setdefault("NUMBA_NUM_THREADS", "1")

from amaranth.sim import Simulator  # noqa: E402

from xnorlearn.boards.registry import BOARDS  # noqa: E402
from xnorlearn.boards.top import bank_class  # noqa: E402
from xnorlearn.hw.trainer import Cmd  # noqa: E402
from xnorlearn.sim.core_harness import CoreDriver, CoreHarness  # noqa: E402
from xnorlearn.sw.datasets import load_dataset  # noqa: E402
from xnorlearn.sw.model import HwModel  # noqa: E402
from xnorlearn.sw.train import epoch_order  # noqa: E402

LOAD = {"LABEL", "LABEL_CHECK", "LOAD_START", "LOAD"}
FORWARD = {"FWD_START", "FWD"}
DECIDE = {"FWD_DECIDE", "LAYER_DONE"}
UPDATE = {"UPD_START", "SAMPLE_DONE"}      # waiting for the update engine (not hidden)
WAITING = {"IDLE", "REPLY", "REPLY_DATA"}  # the host link, not the trainer


def phase_cycles(board, cfg, x, y, samples):
    """Per-phase cycles of ``samples`` training samples, and of one batch boundary."""
    h = CoreHarness(cfg, bank_cls=bank_class(board, cfg))
    sim = Simulator(h)
    sim.add_clock(1e-8)
    tally = collections.Counter()
    window = {"name": None}
    out = {}

    async def bench(ctx):
        d = CoreDriver(h, cfg, ctx)
        await d.command(Cmd.RESET_COUNTERS)
        window["name"] = "train"
        for i in range(samples):
            await d.train(x[i], y[i])
        out["busy"] = (await d.read_counters())["busy_cycles"]
        window["name"] = "boundary"
        await d.end_epoch()
        window["name"] = None

    async def watch(ctx):
        fsm, core = h.core.fsm, h.core
        names = {v: k for k, v in fsm.encoding.items()}
        # while the core waits for its forward engine, the engine's state names the phase
        fwd_fsm = core.forward.fsm
        fwd_names = {v: k for k, v in fwd_fsm.encoding.items()}
        async for _, _, state, fwd_state, layer, upd_busy in ctx.tick().sample(
                fsm.state, fwd_fsm.state, core.layer_reg, core.updater.busy):
            if window["name"] is None:
                continue
            name = names[state]
            if name == "FORWARD":
                name = fwd_names[fwd_state]
            if window["name"] == "boundary":
                if name not in WAITING:
                    tally["sweep"] += 1
                continue
            if name in LOAD:
                tally["load"] += 1
            elif name in FORWARD:
                tally[f"forward {layer}"] += 1
            elif name in DECIDE:
                tally["decisions"] += 1
            elif name in UPDATE:
                tally["updates (not hidden)"] += 1
            elif name not in WAITING:
                tally["other"] += 1
            if upd_busy:
                tally["update engine busy"] += 1

    sim.add_testbench(bench)
    sim.add_process(watch)
    sim.run()
    per = {k: v / samples for k, v in tally.items()}
    per["sweep (amortised)"] = tally["sweep"] / cfg.batch
    per.pop("sweep", None)
    return per, out["busy"] / samples


def golden_rate(cfg, ds, passes=3):
    """Median training samples/s of the hw golden model on one core."""
    model = HwModel(cfg)
    n = len(ds.y_train)
    model.train(ds.x_train[:2000], ds.y_train[:2000], epoch_order(cfg.seed, 0, 2000))  # JIT
    rates = []
    for e in range(passes):
        order = epoch_order(cfg.seed, e, n)
        t0 = time.perf_counter()
        model.train(ds.x_train, ds.y_train, order)
        rates.append(n / (time.perf_counter() - t0))
    return statistics.median(rates)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--boards", default=",".join(BOARDS),
                    help="comma-separated board names (default: all)")
    ap.add_argument("--samples", type=int, default=4,
                    help="simulated training samples per configuration (default 4)")
    args = ap.parse_args()
    ds = load_dataset("fashion-mnist", encoding="median")
    cache, golden, rows = {}, {}, []
    for name in args.boards.split(","):
        board = BOARDS[name]
        cfg = board.default_config()
        key = (cfg.replace(uart_divisor=4).digest(), board.bank)
        if key not in cache:
            cache[key] = phase_cycles(board, cfg, ds.x_train, ds.y_train, args.samples)
        per, busy = cache[key]
        gkey = cfg.replace(lanes=1, sweep_lanes=1, forward_lanes=1, forward_words=1,
                           uart_divisor=4).digest()
        if gkey not in golden:
            golden[gkey] = golden_rate(cfg, ds)
        rows.append((name, cfg, board.core_hz, per, busy, golden[gkey]))
        print(name, {k: round(v, 1) for k, v in per.items()}, f"busy {busy:.0f}",
              f"golden {golden[gkey]:,.0f}/s", flush=True)

    layers = max(len(r[1].layers) for r in rows)
    cols = (["load"] + [f"forward {l}" for l in range(layers)]
            + ["decisions", "updates (not hidden)", "sweep (amortised)", "other"])
    print(f"\nCycles per training sample by phase ({args.samples} simulated samples per "
          f"configuration plus one batch boundary; A = 0 reinforcement tables; B = 100)\n")
    print("| board | network | " + " | ".join(cols) + " | total | update engine busy "
          "(overlapped) | clock (MHz) | samples/s on chip | golden model, one core | ratio |")
    print("|---|---|" + "---|" * (len(cols) + 6))
    for name, cfg, hz, per, busy, gold in rows:
        total = sum(per.get(c, 0.0) for c in cols)
        cells = " | ".join(f"{per.get(c, 0.0):.0f}" for c in cols)
        sps = hz / total
        print(f"| {name} | {'-'.join(map(str, cfg.widths))} | {cells} | {total:.0f} | "
              f"{per.get('update engine busy', 0.0):.0f} | {hz / 1e6:g} | {sps:,.0f} | "
              f"{gold:,.0f} | {sps / gold:.2f} |")


if __name__ == "__main__":
    main()
