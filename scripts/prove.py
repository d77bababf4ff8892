#!/usr/bin/env python3
"""Run the formal proofs of the gateware blocks and print the property table of docs/formal.md.

Each proof of ``xnorlearn.sim.formal.PROOFS`` runs with SymbiYosys; the table gives block,
property, bound (BMC depth, or "complete" for a combinational block), solver, measured time
and the result, plus its cover check (the assertions are reachable). With --mutants the broken
variants run too, each of which must FAIL.

    python scripts/prove.py                 # quick proofs (what the test suite runs)
    python scripts/prove.py --slow --mutants
"""

import argparse
import sys

from xnorlearn.sim.formal import MUTANTS, PROOFS, run_proof


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--slow", action="store_true", help="also the slow (bigger, deeper) proofs")
    ap.add_argument("--mutants", action="store_true", help="also the broken variants")
    ap.add_argument("-k", metavar="TEXT", default="", help="only proofs whose name has TEXT")
    args = ap.parse_args(argv)
    bad = 0
    print("| proof | block | property | bound | solver | time (s) | cover | result |")
    print("|---|---|---|---|---|---|---|---|")
    for p in PROOFS:
        if (p.slow and not args.slow) or args.k not in p.name:
            continue
        r = run_proof(p.make(), mode=p.mode, depth=p.depth, name=p.name)
        bound = "complete (combinational)" if p.mode == "prove" and p.depth == 1 else \
            f"{p.mode} depth {p.depth}"
        cover = "–"
        if p.cover_depth:
            c = run_proof(p.make(), mode="cover", depth=p.cover_depth, name=p.name)
            cover = f"{c.status} ({c.seconds:.1f} s)"
            bad += not c.passed
        bad += not r.passed
        print(f"| {p.name} | {p.block} | {p.claim} | {bound} | {r.solver} | {r.seconds:.1f} "
              f"| {cover} | {r.status} |", flush=True)
    if args.mutants:
        print("\n| broken variant | bound | time (s) | result (must be FAIL) |")
        print("|---|---|---|---|")
        for name, (make, mode, depth) in MUTANTS.items():
            if args.k not in name:
                continue
            r = run_proof(make(), mode=mode, depth=depth, name=name)
            bad += r.passed
            print(f"| {name} | {mode} depth {depth} | {r.seconds:.1f} | {r.status} |",
                  flush=True)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
