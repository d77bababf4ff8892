#!/usr/bin/env python3
"""Accuracy benchmark: the paper's FashionMNIST runs for both golden-model variants.

Trains each (network, variant) for the paper's 50 epochs with the paper protocol (last 10 000 of
the shuffled training file as test) and prints a Markdown table against the paper's published
numbers. Long: minutes, not a test.

    python scripts/bench_accuracy.py                       # 784-135-135 and 784-35-35, seed 42
    python scripts/bench_accuracy.py --nets 135 --epochs 10 --seeds 42,43
    python scripts/bench_accuracy.py --variants hw --sweeps sparse,dense   # spec v2 vs v1 sweep

``--sweeps`` chooses the hw variant's reinforcement sweep: ``sparse`` (spec v2, the chip's;
default) and/or ``dense`` (spec v1, kept only for this comparison). ``--orders`` chooses the hw
variant's epoch order: ``spec`` (hw-spec v3 §9, the chip's keyed Feistel order; default) and/or
``numpy`` (v2's ``default_rng([seed, epoch]).permutation``), to show the order does not change
accuracy:

    python scripts/bench_accuracy.py --nets 135 --variants hw --orders spec,numpy --seeds 42,43,44
"""

import argparse
import json
import statistics
import sys
import time

from xnorlearn.sw.config import DEFAULT_GROUP_SIZE_BY_WIDTH, Config
from xnorlearn.sw.datasets import load_dataset
from xnorlearn.sw.model import SWEEPS, make_model
from xnorlearn.sw.train import epoch_order, run_training

ORDERS = {"spec": None, "numpy": lambda seed, epoch, n: epoch_order(seed, epoch, n, "paper")}

PAPER = {35: 82.25, 75: 84.66, 135: 85.68, 255: 86.22, 525: 86.64}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nets", default="135,35", help="hidden widths K of K-K networks")
    ap.add_argument("--variants", default="paper,hw")
    ap.add_argument("--sweeps", default="sparse",
                    help="hw variant's sweeps to run: sparse (spec v2), dense (spec v1)")
    ap.add_argument("--orders", default="spec",
                    help="hw variant's epoch orders: spec (v3 Feistel), numpy (v2 shuffle)")
    ap.add_argument("--epochs", type=int, default=50)
    ap.add_argument("--seeds", default="42")
    ap.add_argument("--data-dir")
    ap.add_argument("--json", help="write all results here")
    args = ap.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    sweeps = args.sweeps.split(",")
    for sw in sweeps:
        if sw not in SWEEPS:
            ap.error(f"--sweeps: unknown sweep {sw!r}; choose from {', '.join(SWEEPS)}")
    orders = args.orders.split(",")
    for o in orders:
        if o not in ORDERS:
            ap.error(f"--orders: unknown order {o!r}; choose from {', '.join(ORDERS)}")
    runs = [(v, sw, o) for v in args.variants.split(",")
            for sw in (sweeps if v == "hw" else [""]) for o in (orders if v == "hw" else [""])]
    rows, results = [], []
    for k in (int(v) for v in args.nets.split(",")):
        per_variant = {}
        for variant, sweep, order in runs:
            label = " ".join(x for x in (variant, sweep, order if len(orders) > 1 else "") if x)
            accs = []
            for seed in seeds:
                ds = load_dataset("fashion-mnist", data_dir=args.data_dir, seed=seed)
                cfg = Config(n_inputs=ds.n_inputs, layers=(k, k), n_classes=10,
                             group_sizes=DEFAULT_GROUP_SIZE_BY_WIDTH[k], seed=seed)
                t0 = time.perf_counter()
                model = make_model(cfg, variant, sweep=sweep or "sparse")
                res = run_training(model, ds, args.epochs, seed=seed, variant=label,
                                   order=ORDERS.get(order))
                accs.append(100 * res.final_test_accuracy)
                results.append(res.to_dict())
                print(f"784-{k}-{k} {label:9s} seed {seed}: test {accs[-1]:.2f} % "
                      f"({time.perf_counter() - t0:.0f} s, {res.train_samples_per_s:.0f} "
                      f"samples/s)", file=sys.stderr, flush=True)
            per_variant[label] = accs
        for variant, accs in per_variant.items():
            mean = statistics.fmean(accs)
            std = statistics.stdev(accs) if len(accs) > 1 else 0.0
            if variant == "paper":
                delta, ref = mean - PAPER[k], "paper's number"
            elif variant == "hw sparse spec" and "hw sparse numpy" in per_variant:
                delta = mean - statistics.fmean(per_variant["hw sparse numpy"])
                ref = "NumPy order (v2)"
            elif variant == "hw sparse" and "hw dense" in per_variant:
                delta, ref = mean - statistics.fmean(per_variant["hw dense"]), "hw dense (v1)"
            elif "paper" in per_variant:
                delta, ref = mean - statistics.fmean(per_variant["paper"]), "our paper variant"
            else:
                delta, ref = None, ""
            diff = f"{delta:+.2f} vs {ref}" if delta is not None else "–"
            rows.append(f"| 784-{k}-{k} | {DEFAULT_GROUP_SIZE_BY_WIDTH[k]} | {variant} | "
                        f"{len(accs)} | {mean:.2f} ± {std:.2f} | {PAPER[k]:.2f} | {diff} |")
    print(f"\nFashionMNIST, paper protocol, {args.epochs} epochs, seeds {args.seeds}\n")
    print("| network | γ | variant | runs | test acc. % (mean ± std) | paper % | difference |")
    print("|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
