"""Bitstream build through YoWASP and amaranth-boards, with progress and a utilisation/timing report.

:func:`build` runs the fit check, elaborates :class:`~xnorlearn.boards.top.BoardTop`, extracts
the platform's build plan and runs its script (Yosys → nextpnr → icepack/ecppack) with the
YoWASP tools named through ``$YOSYS``/``$NEXTPNR_*``/``$ICEPACK``/``$ECPPACK``. While it runs, a
watcher prints the current phase from the growing ``.rpt`` (Yosys) and ``.tim`` (nextpnr) logs.
:func:`parse_reports` reads the finished logs into a :class:`BuildReport`.
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

from .fit import check_fit
from .registry import get_board

__all__ = ["build", "BuildReport", "BuildError", "parse_reports", "report_markdown",
           "tool_environment", "tool_versions", "power_on_bank"]

NAME = "xnorlearn"
# Tool options per family (docs/boards.md explains each choice).
SYNTH_OPTS = {"ice40": ["-dsp"]}
NEXTPNR_OPTS = {}


class BuildError(RuntimeError):
    pass


def tool_environment():
    """YoWASP tool names for the build script, plus no-op stand-ins for the programmer tools
    that amaranth-boards lists as *required to build* (TOOLCHAIN.md pitfall 3)."""
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


def power_on_bank(bank_cls, cfg, state):
    """``bank_cls`` whose power-on contents are ``state`` (every layer's counters, as
    ``HwModel.state()`` gives them) instead of ``init(cfg.seed)``: the trainer core builds its
    bank with ``bank_cls(lanes, bits, depth, init=…)``, and this replaces ``init``."""
    from ..hw.trainer import TrainerLayout
    words = TrainerLayout(cfg).counter_words(state)

    def make(lanes, bits, depth, init=()):
        return bank_cls(lanes, bits, depth, init=words)
    return make


def build(board, cfg=None, *, build_dir=None, bank=None, out=sys.stdout, period=10.0,
          seed=None, skip_fit=False, extra_synth=(), extra_nextpnr=(), counter_state=None):
    """Fit-check, synthesise, place and route ``cfg`` (default: the board's default config)
    for ``board``; returns a :class:`BuildReport`. Raises :class:`~.fit.FitError` at once if
    the configuration cannot fit, :class:`BuildError` if a tool fails. ``counter_state``
    (every layer's counters, e.g. a checkpoint's) becomes the bitstream's power-on state;
    the UP5K's SPRAM cannot be initialised by the bitstream, so it is refused there."""
    if isinstance(board, str):
        board = get_board(board)
    cfg = board.config_for(cfg if cfg is not None else board.default_config())
    bank = bank or board.bank
    if counter_state is not None and bank == "spram":
        raise ValueError(f"{board.name}: the counters live in SPRAM, which the bitstream cannot "
                         f"initialise; load a trained state over the host link (WRITE_STATE) "
                         f"or build with --bank bram if it fits")
    if not skip_fit:
        check_fit(board, cfg, bank=bank)
    build_dir = pathlib.Path(build_dir or f"build/boards/{board.name}")
    build_dir.mkdir(parents=True, exist_ok=True)
    env = tool_environment()
    t0 = time.monotonic()
    widths = "-".join(map(str, cfg.widths))
    print(f"xnorlearn build: {board.title}, {board.device.name}-{board.device.package}, "
          f"network {widths} (gamma {','.join(map(str, cfg.group_sizes))}, P={cfg.lanes}, "
          f"k={cfg.counter_bits}, counters in {bank}), core clock {board.core_hz / 1e6:g} MHz",
          file=out, flush=True)
    # The rows bank's row depth: the fit check's choice first; if YoWASP Yosys 0.70's ABC9
    # crashes on the netlist (a known, deterministic bug on some netlists, see
    # docs/boards.md), the next depth that still fits the device's block RAM.
    choices = [None]
    if bank == "bram-rows":
        from .fit import counter_row_choices, fit_report
        spare = board.device.bram - fit_report(board, cfg, bank).need["bram"]
        ranked = counter_row_choices(cfg, board.family)
        # at most three attempts (each is a whole Yosys run); the first even if over budget
        choices = [ranked[0][0]] + [d for d, n in ranked[1:] if n - ranked[0][1] <= spare][:2]
    notes = []
    for attempt, row_words in enumerate(choices):
        try:
            rep = _build_once(board, cfg, bank, row_words, build_dir, env, out, period, seed,
                              extra_synth, extra_nextpnr, t0, counter_state)
        except _YosysAbcCrash as e:
            if attempt + 1 == len(choices):
                raise BuildError(str(e)) from None
            note = (f"Yosys ABC9 crashed on the netlist with counter rows of {row_words} "
                    f"words (YoWASP Yosys 0.70 bug); rebuilt with rows of "
                    f"{choices[attempt + 1]} words")
            print(f"  {note}", file=out, flush=True)
            notes.append(note)
            continue
        rep.notes = notes
        if row_words:
            rep.notes.append(f"counter bank: rows of {row_words} words")
        rep.build_seconds = round(time.monotonic() - t0, 1)
        (build_dir / f"{NAME}.report.json").write_text(json.dumps(rep.to_dict(), indent=2) +
                                                        "\n")
        (build_dir / f"{NAME}.report.md").write_text(report_markdown(rep) + "\n")
        return rep


class _YosysAbcCrash(BuildError):
    pass


# What YoWASP Yosys 0.70 prints when ABC9 fails on a netlist (both seen on this design).
_ABC_CRASH = ("Assert `GetSize(conn.first) == GetSize(conn.second)'",
              "wasm trap: call stack exhausted")


def _build_once(board, cfg, bank, row_words, build_dir, env, out, period, seed, extra_synth,
                extra_nextpnr, t0, counter_state=None):
    from .top import BoardTop, bank_class, make_platform
    for stale in build_dir.glob(f"{NAME}.*"):
        stale.unlink()
    plat = make_platform(board)
    bank_cls = bank_class(board, cfg, bank, row_words)
    if counter_state is not None:
        bank_cls = power_on_bank(bank_cls, cfg, counter_state)
    top = BoardTop(board, cfg, bank_cls=bank_cls)
    # --timing-allow-fail: nextpnr still writes the bitstream and the full timing report
    # when the target is missed; the report (and the exit code of `xnorlearn build`) says so.
    nextpnr = ["--timing-allow-fail", *NEXTPNR_OPTS.get(board.family, [])]
    if seed is not None:
        nextpnr += ["--seed", str(seed)]
    opts = {"nextpnr_opts": " ".join(nextpnr + list(extra_nextpnr))}
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
    elapsed = time.monotonic() - t0
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout)[-3000:]
        rpt = build_dir / f"{NAME}.rpt"
        log = (rpt.read_text(errors="replace")[-5000:] if rpt.exists() else "") + tail
        error = BuildError if not any(sig in log for sig in _ABC_CRASH) else _YosysAbcCrash
        raise error(f"build for {board.name} failed (exit {proc.returncode}); see "
                    f"{build_dir}/{NAME}.rpt and {NAME}.tim:\n{tail}")
    rep = parse_reports(build_dir, board, cfg.to_dict())
    rep.build_seconds = round(elapsed, 1)
    rep.phase_seconds = {"elaborate": round(t_elab, 1),
                         **{k: round(v, 1) for k, v in watcher.phases.items()}}
    rep.tool_versions = tool_versions(board.family, env)
    return rep
