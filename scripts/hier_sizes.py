#!/usr/bin/env python3
"""Per-submodule iCE40/ECP5 cell counts of a board's whole design (``synth_* -noflatten``).

Elaborates the board's :class:`~xnorlearn.boards.top.BoardTop` (default configuration unless a
config file is given), runs Yosys with the board's synthesis options but without flattening,
and prints LUT4 / CARRY / FF own and including submodules, block RAM and DSP per module
instance. Pre-packing counts: nextpnr packs a LUT and the flip-flop it alone drives into one
logic cell, so a design's logic cells lie between ``max(LUT, FF)`` and ``LUT + FF`` (plus carry
cells without a LUT); flattening (the real build) lets ABC merge a little across blocks.

    python scripts/hier_sizes.py --board icebreaker --build-dir /tmp/hier
"""

import argparse
import json
import pathlib
import subprocess
import sys
import time


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--board", default="icebreaker")
    ap.add_argument("--config", help="TOML config file (default: the board's default)")
    ap.add_argument("--build-dir", default="build/hier")
    ap.add_argument("--reuse", action="store_true", help="reuse an existing stat.json")
    ap.add_argument("--store", action=argparse.BooleanOptionalAction, default=None,
                    help="with / without the data store (default: the board's default)")
    args = ap.parse_args(argv)
    from xnorlearn.boards.build import SYNTH_OPTS, tool_environment
    from xnorlearn.boards.registry import get_board
    from xnorlearn.boards.top import BoardTop, make_platform
    from xnorlearn.sim.synth import FAMILIES, YOSYS_AFTER_READ
    board = get_board(args.board)
    d = pathlib.Path(args.build_dir)
    d.mkdir(parents=True, exist_ok=True)
    env = tool_environment()
    t0 = time.time()
    if not (args.reuse and (d / "stat.json").exists()):
        cfg = board.default_config()
        if args.config:
            from xnorlearn.sw.config import Config
            cfg = Config.load(args.config)
        cfg = board.config_for(cfg, None)
        plat = make_platform(board)
        top = BoardTop(board, cfg, store=board.store_default if args.store is None else args.store)
        plan = plat.build(top, name="top", build_dir=str(d), do_build=False)
        plan.extract(str(d))
        opts = " ".join(SYNTH_OPTS.get(board.family, []))
        script = (f"read_rtlil top.il; {YOSYS_AFTER_READ}; "
                  f"{FAMILIES[board.family]} {opts} -noflatten -top top; "
                  f"tee -q -o stat.json stat -json")
        subprocess.run([env["YOSYS"], "-q", "-l", "hier.log", "-p", script], cwd=d, check=True,
                       env=env)
    stat = json.loads((d / "stat.json").read_text())
    mods = stat["modules"]

    def summ(cells):
        lut = cells.get("SB_LUT4", 0) + cells.get("LUT4", 0)
        carry = cells.get("SB_CARRY", 0) + cells.get("CCU2C", 0)
        ff = sum(v for k, v in cells.items() if k.startswith(("SB_DFF", "TRELLIS_FF", "FD1")))
        ram = sum(v for k, v in cells.items() if "RAM" in k or k == "DP16KD")
        dsp = sum(v for k, v in cells.items() if "MAC16" in k or "MULT" in k)
        subs = {k: v for k, v in cells.items() if k.startswith("$paramod") or k.startswith("\\")
                and not k.startswith(("\\SB_", "\\TRELLIS", "\\LUT4", "\\CCU2C", "\\FD1", "\\DP16KD"))}
        return lut, carry, ff, ram, dsp, subs

    def cells_of(name):
        m = mods[name]
        return {k: int(v) for k, v in m.get("num_cells_by_type", {}).items()}

    rows = []

    def walk(name, path, depth):
        cells = cells_of(name)
        lut, carry, ff, ram, dsp, _ = summ({k.lstrip("\\"): v for k, v in cells.items()})
        tot = [lut, carry, ff, ram, dsp]
        kids = []
        for k, v in cells.items():
            key = k if k in mods else "\\" + k.lstrip("\\")
            if key in mods:
                kids.extend([key] * v)
        sub = []
        for k in kids:
            sub.append(walk(k, path + "/" + k.lstrip("\\").split(".")[-1], depth + 1))
        incl = [tot[i] + sum(s[i] for s in sub) for i in range(5)]
        rows.append((path, depth, tot, incl))
        return incl

    top = next(k for k in mods if k.lstrip("\\") == "top")
    walk(top, "top", 0)
    rows.sort(key=lambda r: r[0])
    print("| module | own LUT | own CARRY | own FF | incl LUT | incl CARRY | incl FF | RAM | DSP |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for path, depth, own, incl in rows:
        print(f"| {'  ' * depth}{path.split('/')[-1]} | {own[0]} | {own[1]} | {own[2]} | "
              f"{incl[0]} | {incl[1]} | {incl[2]} | {incl[3]} | {incl[4]} |")
    print(f"\n({time.time() - t0:.0f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
