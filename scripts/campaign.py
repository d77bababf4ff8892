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
"""

import argparse
import json
import pathlib
import sys
import time

import numpy as np

from xnorlearn.sim.campaign import FAULTS, case_record, random_case, run_case, write_regression


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
    args = ap.parse_args(argv)
    for name in ("configs", "samples"):
        if getattr(args, name) < 1:
            ap.error(f"--{name} must be at least 1")
    if args.seed < 0:
        ap.error("--seed must be >= 0")

    rng = np.random.default_rng(args.seed)
    records, total_samples, total_seconds, failed = [], 0, 0.0, None
    t0, cpu0 = time.perf_counter(), time.process_time()
    for i in range(args.configs):
        case = random_case(rng, args.samples, fault=args.inject_fault)
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
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    rate = total_samples / total_seconds if total_seconds else 0.0
    cpu_rate = total_samples / cpu if cpu else 0.0
    summary = {"seed": args.seed, "configs_run": len(records), "samples": total_samples,
               "wall_seconds": round(wall, 2), "cpu_seconds": round(cpu, 2),
               "sample_steps_per_second": round(rate, 3),
               "sample_steps_per_cpu_second": round(cpu_rate, 3), "first_mismatch": None}
    print(f"{len(records)} configurations, {total_samples} sample-steps in {wall:.1f} s wall "
          f"({cpu:.1f} s CPU): {rate:.2f} sample-steps/s, {cpu_rate:.2f} per CPU second "
          "(elaboration and state peeks included)")
    if failed:
        i, case, mismatch = failed
        path = write_regression(args.regression, case, mismatch,
                                name=f"seed{args.seed}_config{i}")
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
