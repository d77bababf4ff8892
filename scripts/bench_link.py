#!/usr/bin/env python3
"""Host-fed training through the pipelined UART link, per board default (Verilator).

    python scripts/bench_link.py                          # icebreaker, ulx3s-12f, ulx3s-25f
    python scripts/bench_link.py --boards ulx3s-85f --latency-us 0,500,1000

Each board's default configuration is co-simulated with its own counter bank and its own
``uart_divisor`` (the board's ``baud`` at its core clock), fed FashionMNIST samples (784 bits,
a 105-byte TRAIN frame) by the host driver through the UART pins: first one request at a time,
then as a pipelined stream (``LINK_DEPTH`` requests in flight), once per simulated host round
trip (``--latency-us``: the host sees the device's bytes that late, as over USB; 0 = an ideal
host). Cycles per sample are the steady state between two replies inside the stream (a
reinforcement sweep included when the stream crosses a batch boundary); samples/s = core
clock / cycles.
"""

import argparse
import json
import time

from xnorlearn.boards.registry import BOARDS
from xnorlearn.sim.cosim import board_bank
from xnorlearn.sim.link_bench import run_link_bench
from xnorlearn.sw.datasets import load_dataset


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--boards", default="icebreaker,ulx3s-12f,ulx3s-25f")
    ap.add_argument("--stream", type=int, default=100,
                    help="samples in each pipelined stream (default: 100)")
    ap.add_argument("--sequential", type=int, default=6,
                    help="samples sent one request at a time before each stream (default: 6)")
    ap.add_argument("--latency-us", default="0,1000",
                    help="host round trips to simulate, µs (default: 0,1000)")
    ap.add_argument("--json", help="write the results here")
    args = ap.parse_args(argv)
    ds = load_dataset("fashion-mnist")
    lat_us = [float(v) for v in args.latency_us.split(",")]
    n = len(lat_us) * (args.sequential + args.stream)
    rows = []
    for name in args.boards.split(","):
        board = BOARDS[name]
        cfg = board.default_config()
        bank, rw = board_bank(board, cfg)
        hz = board.core_hz
        t0 = time.perf_counter()
        r = run_link_bench(cfg, ds.x_train[:n], ds.y_train[:n], sequential=args.sequential,
                           stream=args.stream, latencies=[round(u * 1e-6 * hz) for u in lat_us],
                           bank=bank, row_words=rw)
        for us, ph in zip(lat_us, r["phases"]):
            row = {"board": name, "network": "-".join(map(str, cfg.widths)),
                   "baud": board.baud, "divisor": cfg.uart_divisor, "core_mhz": hz / 1e6,
                   "latency_us": us, "line_cycles": r["line_cycles_per_frame"],
                   "compute_cycles": r["cycles_per_sample_compute"],
                   "sequential_cycles": ph["cycles_per_sample_sequential"],
                   "stream_cycles": ph["cycles_per_sample_stream"],
                   "sequential_per_s": hz / ph["cycles_per_sample_sequential"],
                   "stream_per_s": hz / ph["cycles_per_sample_stream"],
                   "window": r["window"], "wall_s": time.perf_counter() - t0}
            rows.append(row)
            print(json.dumps(row), flush=True)
    w = rows[0]["window"] if rows else 4
    print(f"\n| board | network | baud | divisor | clock (MHz) | host round trip (µs) | line "
          f"cycles / 105-byte frame | compute cycles / sample | host-fed cycles / sample: 1 "
          f"in flight | {w} in flight | host-fed samples/s at clock: 1 in flight | {w} in "
          f"flight |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['board']} | {r['network']} | {r['baud']:,} | {r['divisor']} | "
              f"{r['core_mhz']:g} | {r['latency_us']:g} | {r['line_cycles']:,} | "
              f"{r['compute_cycles']:,.0f} | {r['sequential_cycles']:,.0f} | "
              f"{r['stream_cycles']:,.0f} | {r['sequential_per_s']:,.0f} | "
              f"**{r['stream_per_s']:,.0f}** |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
