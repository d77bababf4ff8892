"""Bitstream build through YoWASP and amaranth-boards, with progress and a utilisation/timing report.

:func:`build` runs the fit check, elaborates :class:`~xnorlearn.boards.top.BoardTop`, extracts
the platform's build plan and runs its script (Yosys → nextpnr → icepack/ecppack) with the
YoWASP tools named through ``$YOSYS``/``$NEXTPNR_*``/``$ICEPACK``/``$ECPPACK``. While it runs, a
watcher prints the current phase from the growing ``.rpt`` (Yosys) and ``.tim`` (nextpnr) logs.
:func:`parse_reports` reads the finished logs into a :class:`BuildReport`; when a tool fails,
:func:`failure_message` names it and shows what it said (from its log if it printed nothing).
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field

from ..sim.synth import YOSYS_AFTER_READ, tool_error_lines
from .fit import check_fit, counter_row_words
from .registry import get_board

__all__ = ["build", "BuildReport", "BuildError", "failure_message", "parse_reports",
           "report_markdown", "tool_environment", "tool_versions"]

NAME = "xnorlearn"
# Tool options per family (docs/boards.md explains each choice); every build also runs
# YOSYS_AFTER_READ (sim/synth.py: a rename that keeps ABC9 from failing on Amaranth's names).
SYNTH_OPTS = {"ice40": ["-dsp"]}
NEXTPNR_OPTS = {}


class BuildError(RuntimeError):
    pass


def tool_environment():
    """YoWASP tool names for the build script, plus no-op stand-ins for the programmer tools
    that amaranth-boards lists as *required to build*."""
    from ..sim.toolenv import setup_environment
    setup_environment()
    env = dict(os.environ)
    for var, tool in (("OPENFPGALOADER", "openFPGALoader"), ("DFU_SUFFIX", "dfu-suffix")):
        if var not in env and shutil.which(tool) is None:
            env[var] = "true"
    os.environ.update({k: env[k] for k in ("OPENFPGALOADER", "DFU_SUFFIX") if k in env})
    return env


def tool_versions(family, env=None):
    env = env or tool_environment()
    tools = [env["YOSYS"], env["NEXTPNR_ICE40" if family == "ice40" else "NEXTPNR_ECP5"]]
    out = {}
    for t in tools:
        try:
            r = subprocess.run([t, "--version"], capture_output=True, text=True, timeout=120,
                               env=env)
            out[t] = (r.stdout or r.stderr).strip().splitlines()[0]
        except (OSError, subprocess.SubprocessError, IndexError):
            out[t] = "unknown"
    return out


@dataclass
class Resource:
    name: str
    used: int
    available: int

    @property
    def percent(self):
        return 100.0 * self.used / self.available if self.available else 0.0


@dataclass
class ClockReport:
    clock: str
    fmax_mhz: float
    target_mhz: float

    @property
    def met(self):
        return self.fmax_mhz >= self.target_mhz


@dataclass
class BuildReport:
    board: str
    device: str
    config: dict
    resources: list = field(default_factory=list)
    clocks: list = field(default_factory=list)
    ffs: int = 0
    critical_path: list = field(default_factory=list)
    tool_versions: dict = field(default_factory=dict)
    build_seconds: float = 0.0
    phase_seconds: dict = field(default_factory=dict)
    bitstream: str = ""
    bitstream_bytes: int = 0
    build_dir: str = ""
    notes: list = field(default_factory=list)
    #: where the data store reads from: "sdram", "flash (quad SPI)", ... or "" (none)
    store: str = ""

    @property
    def timing_met(self):
        return bool(self.clocks) and all(c.met for c in self.clocks)

    def resource(self, name):
        for r in self.resources:
            if r.name == name:
                return r
        return None

    def to_dict(self):
        d = asdict(self)
        d["resources"] = [{**asdict(r), "percent": round(r.percent, 1)} for r in self.resources]
        d["clocks"] = [{**asdict(c), "met": c.met} for c in self.clocks]
        d["timing_met"] = self.timing_met
        return d


_UTIL = re.compile(r"Info:\s+(\w+):\s+(\d+)/\s*(\d+)\s+\d+%")
_FMAX = re.compile(r"Max frequency for clock\s+'([^']+)':\s+([\d.]+) MHz \((PASS|FAIL) at "
                   r"([\d.]+) MHz\)")
# Cells Yosys counts as flip-flops (final `stat` of the .rpt).
_FF_CELL = re.compile(r"^\s*(\d+)\s+(?:[\d.]+\s+)?(SB_DFF\w*|TRELLIS_FF)\s*$")
_FF_CELL2 = re.compile(r"^\s*(SB_DFF\w*|TRELLIS_FF)\s+(\d+)\s*$")
# What each nextpnr cell type is called in the report.
_NAMES = {"ICESTORM_LC": "LC", "ICESTORM_RAM": "EBR", "ICESTORM_SPRAM": "SPRAM",
          "ICESTORM_DSP": "DSP", "ICESTORM_PLL": "PLL", "SB_IO": "IO",
          "TRELLIS_COMB": "LUT4", "TRELLIS_FF": "FF", "DP16KD": "DP16KD",
          "MULT18X18D": "DSP", "EHXPLLL": "PLL", "TRELLIS_IO": "IO", "TRELLIS_RAMW": "LUTRAM"}


def parse_reports(build_dir, board, cfg_dict=None, name=NAME):
    """Read ``<name>.tim`` (nextpnr) and ``<name>.rpt`` (Yosys) into a :class:`BuildReport`."""
    build_dir = pathlib.Path(build_dir)
    tim = (build_dir / f"{name}.tim").read_text(errors="replace")
    rep = BuildReport(board=board.name, device=f"{board.device.name}-{board.device.package}",
                      config=cfg_dict or {}, build_dir=str(build_dir))
    # Utilisation: the last "Device utilisation" block (post-pack, what is placed).
    blocks = tim.split("Device utilisation:")
    util = blocks[-1] if len(blocks) > 1 else ""
    seen = {}
    for line in util.splitlines()[:60]:
        mm = _UTIL.search(line)
        if mm:
            seen[mm.group(1)] = (int(mm.group(2)), int(mm.group(3)))
    order = ["ICESTORM_LC", "TRELLIS_COMB", "TRELLIS_FF", "ICESTORM_RAM", "ICESTORM_SPRAM",
             "DP16KD", "TRELLIS_RAMW", "ICESTORM_DSP", "MULT18X18D", "ICESTORM_PLL", "EHXPLLL",
             "SB_IO", "TRELLIS_IO"]
    for cell in order:
        if cell in seen:
            rep.resources.append(Resource(_NAMES[cell], *seen[cell]))
    # Fmax: the last report per clock is the post-route one.
    fmax = {}
    for mm in _FMAX.finditer(tim):
        fmax[mm.group(1)] = ClockReport(mm.group(1), float(mm.group(2)), float(mm.group(4)))
    rep.clocks = list(fmax.values())
    # Critical path of the last timing report (for the "what limits it" question).
    crit = tim.rsplit("Critical path report for clock", 1)
    if len(crit) == 2:
        lines = []
        for line in crit[1].splitlines()[1:]:
            if not line.startswith("Info:") or "Critical path report" in line \
                    or "Max frequency" in line:
                break
            if "Net " in line or "Source " in line or "Sink " in line:
                lines.append(line[5:].strip())
        rep.critical_path = lines[:40]
    rpt = build_dir / f"{name}.rpt"
    if rpt.exists():
        # the last `stat` table of the log is the final netlist: keep the last count per cell
        last = {}
        for line in rpt.read_text(errors="replace").splitlines():
            mm = _FF_CELL.match(line)
            if mm:
                last[mm.group(2)] = int(mm.group(1))
                continue
            mm = _FF_CELL2.match(line)
            if mm:
                last[mm.group(1)] = int(mm.group(2))
        rep.ffs = sum(last.values())
    ext = ".bin" if board.family == "ice40" else ".bit"
    bit = build_dir / f"{name}{ext}"
    if bit.exists():
        rep.bitstream = str(bit)
        rep.bitstream_bytes = bit.stat().st_size
    return rep


def report_markdown(rep):
    rows = ["| resource | used | available | % |", "|---|---:|---:|---:|"]
    for r in rep.resources:
        rows.append(f"| {r.name} | {r.used} | {r.available} | {r.percent:.1f} |")
    if rep.ffs:
        rows.append(f"| FF (Yosys) | {rep.ffs} | | |")
    rows.append("")
    rows += ["| clock | fmax (MHz) | target (MHz) | timing |", "|---|---:|---:|---|"]
    for c in rep.clocks:
        rows.append(f"| {c.clock} | {c.fmax_mhz:.2f} | {c.target_mhz:.2f} | "
                    f"{'met' if c.met else 'FAILED'} |")
    rows.append("")
    rows.append(f"build time {rep.build_seconds:.1f} s; bitstream {rep.bitstream} "
                f"({rep.bitstream_bytes} bytes)")
    if rep.tool_versions:
        rows.append("tools: " + "; ".join(f"{v}" for v in rep.tool_versions.values()))
    rows += [f"note: {n}" for n in rep.notes]
    return "\n".join(rows)


class _Watcher(threading.Thread):
    """Prints the build phase every ``period`` seconds from the growing log files."""

    def __init__(self, build_dir, out, period=10.0, name=NAME):
        super().__init__(daemon=True)
        self.dir = pathlib.Path(build_dir)
        self.out, self.period, self.name_ = out, period, name
        self.stop = threading.Event()
        self.t0 = time.monotonic()
        self.phases = {}

    def phase(self):
        tim = self.dir / f"{self.name_}.tim"
        rpt = self.dir / f"{self.name_}.rpt"
        if tim.exists():
            last = _last_line(tim, lambda s: s.startswith("Info:") and len(s) > 6)
            return "nextpnr", last
        if rpt.exists():
            last = _last_line(rpt, lambda s: re.match(r"^\d+(\.\d+)*\. ", s) is not None)
            return "yosys", last
        return "starting", ""

    def run(self):
        current = None
        while not self.stop.wait(self.period):
            tool, line = self.phase()
            if tool != current:
                self.phases[tool] = time.monotonic() - self.t0
                current = tool
            print(f"  [{time.monotonic() - self.t0:6.0f} s] {tool}: {line[:100]}",
                  file=self.out, flush=True)


def _last_line(path, pred):
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            size = f.tell()
            f.seek(max(0, size - 8192))
            lines = f.read().decode(errors="replace").splitlines()
    except OSError:
        return ""
    for s in reversed(lines):
        if pred(s):
            return s.strip()
    return ""


def build(board, cfg=None, *, build_dir=None, bank=None, out=None, period=10.0,
          seed=None, skip_fit=False, extra_synth=(), extra_nextpnr=(), counter_state=None,
          baud=None, store=None):
    """Fit-check, synthesise, place and route ``cfg`` (default: the board's default config)
    for ``board``; returns a :class:`BuildReport`. Raises :class:`~.fit.FitError` at once if
    the configuration cannot fit, :class:`BuildError` (with what the failing tool said) if a
    tool fails. Progress goes to ``out`` (default: the current ``sys.stdout``).
    ``counter_state`` (every layer's counters, e.g. a checkpoint's) becomes the bitstream's
    power-on state; the UP5K's SPRAM cannot be initialised by the bitstream, so it is refused
    there. ``baud``: the host link's rate (default: the board's ``baud``), which sets the UART
    divisor. ``store``: build the data store (store runner + the reader of
    ``board.store_medium``) in; default the board's ``store_default``."""
    from .top import BoardTop, bank_class, make_platform
    out = out or sys.stdout
    if isinstance(board, str):
        board = get_board(board)
    cfg = board.config_for(cfg if cfg is not None else board.default_config(), baud)
    bank = bank or board.bank
    if counter_state is not None and bank == "spram":
        raise ValueError(f"{board.name}: the counters live in SPRAM, which the bitstream cannot "
                         f"initialise; load a trained state over the host link (WRITE_STATE) "
                         f"or build with --bank bram if it fits")
    store = board.store_default if store is None else bool(store)
    if not skip_fit:
        check_fit(board, cfg, bank=bank, store=store)
    build_dir = pathlib.Path(build_dir or f"build/boards/{board.name}")
    build_dir.mkdir(parents=True, exist_ok=True)
    env = tool_environment()
    t0 = time.monotonic()
    widths = "-".join(map(str, cfg.widths))
    print(f"xnorlearn build: {board.title}, {board.device.name}-{board.device.package}, "
          f"network {widths} (gamma {','.join(map(str, cfg.group_sizes))}, P={cfg.lanes}, "
          f"k={cfg.counter_bits}, counters in {bank}), core clock {board.core_hz / 1e6:g} MHz"
          + ("" if not store else
             ", data store in SDRAM (filled over the UART)" if board.store_medium == "sdram"
             else f", data store in flash at 0x{board.store_offset:x} ({board.flash_mode} SPI)")
          + ("" if store else ", no data store"),
          file=out, flush=True)
    for stale in build_dir.glob(f"{NAME}.*"):
        stale.unlink()
    plat = make_platform(board)
    row_words = counter_row_words(cfg, board.family) if bank == "bram-rows" else None
    top = BoardTop(board, cfg, bank_cls=bank_class(board, cfg, bank, row_words),
                   state=counter_state, store=store)
    # --timing-allow-fail: nextpnr still writes the bitstream and the full timing report
    # when the target is missed; the report (and the exit code of `xnorlearn build`) says so.
    nextpnr = ["--timing-allow-fail", *NEXTPNR_OPTS.get(board.family, [])]
    if seed is not None:
        nextpnr += ["--seed", str(seed)]
    opts = {"nextpnr_opts": " ".join(nextpnr + list(extra_nextpnr)),
            "script_after_read": YOSYS_AFTER_READ}
    synth = SYNTH_OPTS.get(board.family, []) + list(extra_synth)
    if synth:
        opts["synth_opts"] = " ".join(synth)
    plan = plat.build(top, name=NAME, build_dir=str(build_dir), do_build=False, **opts)
    plan.extract(str(build_dir))
    t_elab = time.monotonic() - t0
    print(f"  elaborated in {t_elab:.1f} s; running Yosys and nextpnr in {build_dir} "
          f"(logs {NAME}.rpt, {NAME}.tim)", file=out, flush=True)
    watcher = _Watcher(build_dir, out, period)
    watcher.start()
    proc = subprocess.run(["sh", f"build_{NAME}.sh"], cwd=build_dir, env=env,
                          capture_output=True, text=True)
    watcher.stop.set()
    watcher.join()
    if proc.returncode != 0:
        raise BuildError(failure_message(board, build_dir, proc.returncode, proc.stderr,
                                         proc.stdout))
    rep = parse_reports(build_dir, board, cfg.to_dict())
    rep.build_seconds = round(time.monotonic() - t0, 1)
    rep.phase_seconds = {"elaborate": round(t_elab, 1),
                         **{k: round(v, 1) for k, v in watcher.phases.items()}}
    rep.tool_versions = tool_versions(board.family, env)
    if row_words:
        rep.notes.append(f"counter bank: rows of {row_words} words")
    if store:
        rep.store = ("sdram" if board.store_medium == "sdram" else
                     f"flash ({board.flash_mode} SPI)")
        rep.notes.append(f"data store: {rep.store}")
    (build_dir / f"{NAME}.report.json").write_text(json.dumps(rep.to_dict(), indent=2) + "\n")
    (build_dir / f"{NAME}.report.md").write_text(report_markdown(rep) + "\n")
    return rep


def failure_message(board, build_dir, status, stderr="", stdout="", name=NAME):
    """One line naming the tool of the build script that failed and its error, then what it
    said (:func:`~xnorlearn.sim.synth.tool_error_lines` of its log, the script's stderr and
    stdout). The script runs Yosys (log ``.rpt``, writes ``.json``), nextpnr (log ``.tim``,
    writes ``.asc`` / ``.config``), then icepack / ecppack: the first missing output names the
    tool that stopped."""
    build_dir = pathlib.Path(build_dir)
    ice40 = board.family == "ice40"
    if not (build_dir / f"{name}.json").exists():
        tool, log = "Yosys", build_dir / f"{name}.rpt"
    elif not (build_dir / f"{name}{'.asc' if ice40 else '.config'}").exists():
        tool, log = "nextpnr", build_dir / f"{name}.tim"
    else:
        tool, log = "icepack" if ice40 else "ecppack", None
    text = log.read_text(errors="replace") if log is not None and log.exists() else ""
    headline, lines = tool_error_lines(text, stderr, stdout)
    where = f"; log {log}" if log is not None else ""
    return (f"build for {board.name} failed: {tool} exited with status {status}: {headline}\n"
            f"{tool} output (last lines{where}):\n" +
            ("\n".join(f"  {s}" for s in lines) or f"  ({tool} printed nothing)"))
