#!/usr/bin/env python3
"""Cycles per training sample of the co-simulated trainer against the ideal.

For each configuration, trains the generated Verilog (Verilator) through its UART on
FashionMNIST samples (digits for the small ones) and prints compute cycles per sample (the
chip's busy counter, reset after INIT, over the TRAIN commands up to the last full batch:
sample load, forward, decisions, updates, amortised reinforcement sweeps), cycles with the
UART (divisor 4), and the ideal ``sum_l ceil(N_{l-1}/P) * N_l``.
Bit-exactness is checked at the end of the run (and every --check-every samples).

    python scripts/bench_cycles.py                    # the README table
    python scripts/bench_cycles.py --samples 200 --check-every 50
"""

import argparse

from xnorlearn.sim.cosim import run_cosim
from xnorlearn.sw.config import Config
from xnorlearn.sw.datasets import load_dataset

# (dataset, hidden layers, gamma, lanes P, sweep lanes D)
CONFIGS = [
    ("fashion-mnist", (135, 135), 45, 8, 1),
    ("fashion-mnist", (135, 135), 45, 16, 1),
    ("fashion-mnist", (135, 135), 45, 16, 4),
    ("fashion-mnist", (75, 75), 75, 4, 1),
    ("fashion-mnist", (255, 255), 85, 16, 4),
    ("fashion-mnist", (255, 255), 85, 32, 8),
    ("digits", (32, 16), (8, 4), 8, 1),
]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=200)
    ap.add_argument("--check-every", type=int, default=100)
    args = ap.parse_args()
    rows = []
    for name, layers, gamma, lanes, sweep in CONFIGS:
        ds = load_dataset(name, encoding="median")
        cfg = Config(n_inputs=ds.n_inputs, layers=layers, group_sizes=gamma, lanes=lanes,
                     sweep_lanes=sweep, uart_divisor=4)
        r = run_cosim(cfg, ds.x_train[:args.samples], ds.y_train[:args.samples],
                      check_every=args.check_every, progress=False)
        ideal = r["ideal_cycles_per_sample"]
        rows.append((name, "-".join(map(str, cfg.widths)), lanes, sweep, ideal,
                     r["cycles_per_sample_compute"], r["cycles_per_sample_with_uart"],
                     r["bit_exact"]))
        print(f"{rows[-1]}", flush=True)
    print(f"\nCo-simulated cycles per training sample ({args.samples} samples, B = 100, "
          f"UART divisor 4)\n")
    print("| dataset | network | P | sweep lanes | ideal | compute | compute / ideal | "
          "with UART | bit-exact |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, net, p, d, ideal, comp, uart, ok in rows:
        print(f"| {name} | {net} | {p} | {d} | {ideal} | {comp:.0f} | {comp / ideal:.3f} | "
              f"{uart:.0f} | {'yes' if ok else 'NO'} |")


if __name__ == "__main__":
    main()
