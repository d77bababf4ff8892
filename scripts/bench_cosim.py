#!/usr/bin/env python3
"""Co-simulation speed per board default (Verilator): simulated trainer cycles per wall second.

    python scripts/bench_cosim.py                                # every board default
    python scripts/bench_cosim.py --boards ulx3s-25f --samples 2000 --check-every 500
    python scripts/bench_cosim.py --data-source store --samples 2000 --epochs 3

Each board's default configuration is co-simulated with its own counter bank on FashionMNIST
samples. ``--data-source host`` (default): fed by the host driver through the byte-level host
link (``xnorlearn sim --board B --link bytes``: the link's framing and CRC, not the UART's bit
timing), every prediction compared with the golden model and the whole state (every counter,
the sign copy) every ``--check-every`` samples and after the last. ``--data-source store``:
the samples are an image in the board's flash (flash model, the board's read mode), trained
``--epochs`` times with TRAIN_STORE; the golden model trains each range in bulk and the whole
state and the correct count are compared at the end of every range (every ``--samples``
samples; the first epoch in two ranges) — no Python per sample.

``cycles/s`` is simulated cycles over wall seconds while training (the build, INIT and its
state check excluded; the periodic checks included); ``whole bench`` includes INIT, its check
and the inference. The Verilator build is cached, so its time is in neither. The machine's load
is printed with the table: the figures scale with the free CPU.
"""

import argparse
import json
import os
import statistics
import sys
import time

from xnorlearn.boards.registry import BOARDS
from xnorlearn.boards.flash_pins import flash_facts
from xnorlearn.sim.cosim import board_bank, run_cosim, run_store_cosim
from xnorlearn.sw.datasets import load_dataset


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--boards", default=",".join(BOARDS),
                    help="comma-separated board names (default: every board)")
    ap.add_argument("--samples", type=int, default=1000,
                    help="training samples per board (default: 1000)")
    ap.add_argument("--check-every", type=int, default=250, metavar="N",
                    help="compare the whole state every N samples (default: 250)")
    ap.add_argument("--link", choices=("bytes", "uart"), default="bytes",
                    help="host-fed: host link path (default: bytes)")
    ap.add_argument("--data-source", choices=("host", "store"), default="host",
                    help="host: every sample through the host link; store: from the board's "
                         "flash image (default: host)")
    ap.add_argument("--epochs", type=int, default=2,
                    help="--data-source store: epochs (default: 2)")
    ap.add_argument("--json", metavar="OUT", help="write the results here")
    args = ap.parse_args(argv)
    names = [b for b in args.boards.split(",") if b]
    unknown = [b for b in names if b not in BOARDS]
    if unknown or args.samples < 1 or args.check_every < 1:
        sys.exit(f"bench_cosim: unknown board(s) {', '.join(unknown)}" if unknown else
                 "bench_cosim: --samples and --check-every must be at least 1")
    ds = load_dataset("fashion-mnist")
    rows, seen = [], {}
    for name in names:
        board = BOARDS[name]
        cfg = board.config_for(board.default_config())
        bank, row_words = board_bank(board, cfg)
        key = (json.dumps(cfg.to_dict(), sort_keys=True), bank, row_words)
        if key in seen:                 # OrangeCrab and ULX3S share some defaults
            rows.append(dict(seen[key], board=name))
            continue
        t0 = time.perf_counter()
        x, y = ds.x_train[:args.samples], ds.y_train[:args.samples]
        if args.data_source == "store":
            facts = flash_facts(board)
            r = run_store_cosim(cfg, x, y, ds.x_test[:20], ds.y_test[:20], epochs=args.epochs,
                                progress=False, quiet=True, bank=bank, row_words=row_words,
                                flash_mode=facts.mode, flash_set_qe=facts.set_qe,
                                store_slots=board.store_slots, watch_records=False)
            per_sample = r["cycles_per_sample_store"]
        else:
            r = run_cosim(cfg, x, y, ds.x_test[:20], ds.y_test[:20],
                          check_every=args.check_every, progress=False, quiet=True,
                          bank=bank, row_words=row_words, link=args.link)
            per_sample = r["cycles_per_sample_with_uart"]
        row = {"board": name, "network": "-".join(map(str, cfg.widths)), "bank": bank,
               "bit_exact": r["bit_exact"], "samples": r["samples"],
               "cycles_per_sample": per_sample,
               "cycles_per_sample_compute": r["cycles_per_sample_compute"],
               "training_cycles": r["training_cycles"],
               "training_wall_seconds": r["training_wall_seconds"],
               "cycles_per_second": r["cycles_per_second"],
               "overall_cycles_per_second": r["overall_cycles_per_second"],
               "wall_seconds_with_build": time.perf_counter() - t0}
        seen[key] = row
        rows.append(row)
        print(f"{name}: {row['cycles_per_second']:,.0f} cycles/s", file=sys.stderr, flush=True)
    load = os.getloadavg()
    how = (f"from the store, {args.epochs} epochs of {args.samples} samples, state compared "
           f"after every TRAIN_STORE range" if args.data_source == "store" else
           f"host-fed through the {args.link} link, {args.samples} samples, state compared "
           f"every {args.check_every} samples")
    print(f"\nCo-simulation speed, {how}; load average {load[0]:.1f} on {os.cpu_count()} "
          f"CPUs\n")
    print("| board | network | bank | bit-exact | cycles/sample | cycles/s training | "
          "cycles/s whole bench |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['board']} | {r['network']} | {r['bank']} | "
              f"{'yes' if r['bit_exact'] else 'NO'} | {r['cycles_per_sample']:,.0f} | "
              f"{r['cycles_per_second']:,.0f} | {r['overall_cycles_per_second']:,.0f} |")
    rates = [r["cycles_per_second"] for r in rows]
    print(f"\nmedian {statistics.median(rates):,.0f} cycles/s while training")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"load_average": load, "link": args.link,
                       "data_source": args.data_source, "rows": rows}, f, indent=2)


if __name__ == "__main__":
    main()
