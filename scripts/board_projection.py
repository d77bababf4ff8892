#!/usr/bin/env python3
"""Per board: default configuration, co-simulated cycles per training sample, projected
on-chip training samples/s at the board's core clock, and the FashionMNIST test accuracy the
golden hw variant reaches with that configuration (paper protocol).

    python scripts/board_projection.py                 # 200 co-simulated samples, 50 epochs
    python scripts/board_projection.py --epochs 5 --boards icebreaker,ulx3s-85f
    python scripts/board_projection.py --epochs 0      # cycles only, no accuracy runs

The co-simulation uses the board's own counter bank (``xnorlearn.sim.cosim.board_bank``:
the ECP5 boards' pipelined rows bank, the UP5K SPRAM bank's simulation models), like
``xnorlearn sim --board B``; cycles per sample are the steady state (TRAIN commands only,
after INIT, sweeps amortised).
"""

import argparse

from xnorlearn.boards.registry import BOARDS
from xnorlearn.sim.cosim import board_bank, run_cosim
from xnorlearn.sw.datasets import load_dataset
from xnorlearn.sw.model import make_model
from xnorlearn.sw.train import run_training


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--boards", default=",".join(BOARDS))
    ap.add_argument("--samples", type=int, default=200)
    ap.add_argument("--epochs", type=int, default=50)
    args = ap.parse_args()
    ds = load_dataset("fashion-mnist")
    cycles, accuracy, rows = {}, {}, []
    for name in args.boards.split(","):
        board = BOARDS[name]
        cfg = board.default_config()
        bank, rw = board_bank(board, cfg)
        hw_key = (cfg.layers, cfg.group_sizes, cfg.lanes, cfg.counter_bits, cfg.sweep_lanes,
                  bank, rw)
        if hw_key not in cycles:
            sim_cfg = cfg.replace(uart_divisor=4)     # fast UART in simulation only
            r = run_cosim(sim_cfg, ds.x_train[:args.samples], ds.y_train[:args.samples],
                          check_every=100, progress=False, quiet=True, row_words=rw,
                          bank=bank)
            cycles[hw_key] = r["cycles_per_sample_compute"]
        acc_key = (cfg.layers, cfg.group_sizes, cfg.counter_bits)
        if acc_key not in accuracy and args.epochs == 0:
            accuracy[acc_key] = None
        elif acc_key not in accuracy:
            res = run_training(make_model(cfg, "hw"), ds, args.epochs, seed=cfg.seed)
            accuracy[acc_key] = res.final_test_accuracy
        c = cycles[hw_key]
        rows.append((name, "-".join(map(str, cfg.widths)), cfg.lanes, cfg.counter_bits,
                     board.core_hz / 1e6, c, board.core_hz / c, accuracy[acc_key]))
        print(rows[-1], flush=True)
    print(f"\n| board | network | P | k | clock (MHz) | cycles/sample | on-chip training "
          f"samples/s | hw-variant test accuracy ({args.epochs} epochs) |")
    print("|---|---|---|---|---|---|---|---|")
    for name, net, p, k, mhz, c, sps, acc in rows:
        acc_s = "–" if acc is None else f"{100 * acc:.2f} %"
        print(f"| {name} | {net} | {p} | {k} | {mhz:g} | {c:.0f} | {sps:,.0f} | {acc_s} |")


if __name__ == "__main__":
    main()
