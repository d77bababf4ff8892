#!/usr/bin/env python3
"""Print LUT / carry / FF / block-RAM use of every gateware block on iCE40 and ECP5.

Yosys only (``synth_ice40`` / ``synth_ecp5`` through YoWASP), no place and route, so the
numbers are pre-packing cell counts. The lane-dependent blocks (XNOR-popcount array, counter
bank) are shown for several ``P``; the others do not depend on ``P``.

    python scripts/block_sizes.py                 # P = 8, 16, 32 on the default network
    python scripts/block_sizes.py --lanes 4 8 --inputs 784 --width 135 --group 45
"""

import argparse
import sys
import time

from xnorlearn.hw.generate import generate, top_name
from xnorlearn.sim.synth import summarise, synth_cells
from xnorlearn.sim.toolenv import setup_environment
from xnorlearn.sw.config import Config

LANE_BLOCKS = ("popcount", "counters", "counters_rows")
OTHER_BLOCKS = ("hash32", "stream_key", "sweep", "selector", "decision")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lanes", type=int, nargs="+", default=[8, 16, 32])
    ap.add_argument("--inputs", type=int, default=128, help="fan-in of layer 0 (N0)")
    ap.add_argument("--width", type=int, default=64, help="neurons of layer 0 (N1)")
    ap.add_argument("--group", type=int, default=16, help="group size gamma")
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--counter-bits", type=int, default=8)
    args = ap.parse_args(argv)
    setup_environment()

    def cfg(lanes):
        return Config(n_inputs=args.inputs, layers=(args.width,), n_classes=args.classes,
                      group_sizes=args.group, counter_bits=args.counter_bits, lanes=lanes)

    rows = [(b, p) for p in args.lanes for b in LANE_BLOCKS] + [(b, None) for b in OTHER_BLOCKS]
    print(f"Network layer 0: {args.inputs} inputs x {args.width} neurons, {args.classes} "
          f"classes, gamma = {args.group}, k = {args.counter_bits} "
          f"(counter bank: {args.width} x ceil({args.inputs}/P) words of P counters)\n")
    print("| block | P | iCE40 LUT4 | iCE40 CARRY | iCE40 FF | iCE40 EBR "
          "| ECP5 LUT4 | ECP5 CCU2C | ECP5 FF | ECP5 DP16KD |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    t0 = time.time()
    for block, lanes in rows:
        text = generate(cfg(lanes or args.lanes[0]), block)
        cells = {f: summarise(synth_cells(text, top_name(block), f), f) for f in ("ice40", "ecp5")}
        i, e = cells["ice40"], cells["ecp5"]
        print(f"| {block} | {lanes if lanes else '-'} | {i['LUT']} | {i['CARRY']} | {i['FF']} "
              f"| {i['RAM']} | {e['LUT']} | {e['CARRY']} | {e['FF']} | {e['RAM']} |", flush=True)
    print(f"\n({time.time() - t0:.0f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
