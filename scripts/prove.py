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

from xnorlearn.sim.formal import MUTANTS, PROOFS, FormalError, run_proof


class _Timeout:
    status, seconds, passed, solver = "TIMEOUT", float("nan"), False, "–"


def _run(harness, timeout, **kw):
    try:
        return run_proof(harness, timeout=timeout, **kw)
    except FormalError as e:
        if "did not finish within" not in str(e):
            raise
        return _Timeout()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--slow", action="store_true", help="also the slow (bigger, deeper) proofs")
    ap.add_argument("--mutants", action="store_true", help="also the broken variants")
    ap.add_argument("-k", metavar="TEXT", default="", help="only proofs whose name has TEXT")
    ap.add_argument("--timeout", type=float, metavar="S", help="give up a proof after S seconds")
    args = ap.parse_args(argv)
    bad = 0
    print("| proof | block | property | bound | solver | time (s) | cover | result |")
    print("|---|---|---|---|---|---|---|---|")
    for p in PROOFS:
        if (p.slow and not args.slow) or args.k not in p.name:
            continue
        r = _run(p.make(), args.timeout, mode=p.mode, depth=p.depth, name=p.name)
        bound = "complete (combinational)" if p.mode == "prove" and p.depth == 1 else \
            f"{p.mode} depth {p.depth}"
        cover = "–"
        if p.cover_depth:
            c = _run(p.make(), args.timeout, mode="cover", depth=p.cover_depth, name=p.name)
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
            r = _run(make(), args.timeout, mode=mode, depth=depth, name=name)
            bad += r.passed
            print(f"| {name} | {mode} depth {depth} | {r.seconds:.1f} | {r.status} |",
                  flush=True)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
