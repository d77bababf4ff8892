#!/usr/bin/env python3
"""Randomized co-simulation campaign: random trainer configurations against the golden model.

Draws --configs random configurations (1–3 layers, widths that are and are not multiples of the
lanes P, group sizes γ from 1 to the width, counter widths k from 3 to 16, batch intervals,
seeds, the plain / pipelined-rows / SPRAM counter banks), trains each in Amaranth's simulator
on --samples random samples in lock-step with the golden model, and prints one line per
configuration and the sample-steps/s. The first mismatch stops the campaign: it is printed as
configuration / sample / layer / neuron / weight and written as a pytest file that replays it.

    python scripts/campaign.py --seed 1 --configs 20 --samples 10
    python scripts/campaign.py --seed 1 --configs 5 --samples 20 --json campaign.json

``--engine verilator`` co-simulates the whole trainer with its data store under Verilator
instead (one build per configuration, then ``--epochs`` epochs of the ``--samples`` records
through TRAIN_STORE, every prediction checked and the counters every ``--check-every``
samples and after every epoch): the engine for campaigns of millions of sample-steps.

    python scripts/campaign.py --engine verilator --seed 1 --configs 10 --samples 500 \
        --epochs 200 --check-every 0 --json campaign.json
"""

import argparse
import json
import pathlib
import sys
import time

import numpy as np

from xnorlearn.sim.campaign import (ENGINES, FAULTS, case_record, random_case, run_case,
                                    run_case_verilator, write_regression)


def _cpu():
    """CPU seconds of this process and its finished children (Verilator builds, simulators)."""
    import resource
    c = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + c.ru_utime + c.ru_stime


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=1, help="campaign seed (default 1)")
    ap.add_argument("--configs", type=int, default=10, help="configurations (default 10)")
    ap.add_argument("--samples", type=int, default=10,
                    help="training samples per configuration (default 10)")
    ap.add_argument("--json", metavar="OUT", help="write every configuration's result here")
    ap.add_argument("--regression", metavar="FILE", default="test_campaign_regression.py",
                    help="where the first mismatch's pytest file goes "
                         "(default test_campaign_regression.py)")
    ap.add_argument("--inject-fault", choices=sorted(FAULTS),
                    help="break the gateware on purpose (checks the campaign itself)")
    ap.add_argument("--engine", choices=ENGINES, default="amaranth",
                    help="amaranth: Amaranth's simulator, counters after every sample; "
                         "verilator: the whole trainer with its data store (default amaranth)")
    ap.add_argument("--epochs", type=int, default=2,
                    help="verilator engine: epochs of the samples per configuration (default 2)")
    ap.add_argument("--check-every", type=int, default=1, metavar="N",
                    help="verilator engine: compare every prediction and the counters every N "
                         "samples and after every epoch; 0: the counters and the correct "
                         "count after every epoch only, no Python per sample (default 1)")
    ap.add_argument("--cache-dir", metavar="DIR",
                    help="verilator engine: the Verilator build cache (default: the per-user "
                         "cache)")
    args = ap.parse_args(argv)
    if args.check_every < 0:
        ap.error("--check-every must be >= 0")
    for name in ("configs", "samples", "epochs"):
        if getattr(args, name) < 1:
            ap.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.seed < 0:
        ap.error("--seed must be >= 0")

    rng = np.random.default_rng(args.seed)
    records, total_samples, total_seconds, failed = [], 0, 0.0, None
    t0, cpu0 = time.perf_counter(), _cpu()
    for i in range(args.configs):
        case = random_case(rng, args.samples, fault=args.inject_fault)
        if args.engine == "verilator":
            mismatch, samples, seconds, _ = run_case_verilator(
                case, epochs=args.epochs, check_every=args.check_every,
                build_root=args.cache_dir)
        else:
            mismatch, samples, seconds = run_case(case)
        total_samples += samples
        total_seconds += seconds
        records.append({"index": i, **case_record(case, mismatch, samples, seconds)})
        verdict = "ok" if mismatch is None else f"MISMATCH {mismatch}"
        print(f"config {i:3d}  {case.describe()}  {samples} samples {seconds:6.1f} s  "
              f"{verdict}", flush=True)
        if mismatch is not None:
            failed = (i, case, mismatch)
            break
    wall, cpu = time.perf_counter() - t0, _cpu() - cpu0
    rate = total_samples / total_seconds if total_seconds else 0.0
    cpu_rate = total_samples / cpu if cpu else 0.0
    summary = {"seed": args.seed, "engine": args.engine, "configs_run": len(records),
               "samples": total_samples,
               "wall_seconds": round(wall, 2), "cpu_seconds": round(cpu, 2),
               "sample_steps_per_second": round(rate, 3),
               "sample_steps_per_cpu_second": round(cpu_rate, 3), "first_mismatch": None}
    print(f"{len(records)} configurations, {total_samples} sample-steps in {wall:.1f} s wall "
          f"({cpu:.1f} s CPU): {rate:.2f} sample-steps/s, {cpu_rate:.2f} per CPU second "
          "(elaboration, builds and state peeks included)")
    if failed:
        i, case, mismatch = failed
        options = ({"epochs": args.epochs, "check_every": args.check_every}
                   if args.engine == "verilator" else {})
        path = write_regression(args.regression, case, mismatch,
                                name=f"seed{args.seed}_config{i}", engine=args.engine,
                                **options)
        summary["first_mismatch"] = {"config": i, "text": str(mismatch),
                                     "regression": str(path)}
        print(f"first mismatch: configuration {i} ({case.describe()}), {mismatch}\n"
              f"regression test written: {path}  (run: python -m pytest {path})")
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps({**summary, "configs": records},
                                                      indent=2))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
