"""Verification harness shared by every gateware test.

One cycle-based stream engine (:func:`exchange`) drives and monitors ``lib.stream`` ports of a
block, with random valid/ready gaps, in **both** simulators:

* :class:`AmaranthIO` adapts it to Amaranth's built-in simulator (``ctx.set/get/tick``);
* :class:`CocotbIO` adapts it to cocotb 2 on the generated Verilog (``dut.<port>__<member>``).

So one test body checks the Python elaboration and the emitted Verilog the same way. Payloads
travel as plain integers; :func:`pack` / :func:`unpack` convert them to and from dicts using the
block's ``lib.data`` layout (the same object the gateware uses, so no bit offsets are restated).

Golden-model comparison goes through :func:`expect_equal` / :func:`compare_records`, which raise
:class:`Mismatch` naming the first differing vector, field, expected and received value.

Waveforms are written only when ``XNORLEARN_WAVES=1``: VCD for the Amaranth simulator (under
``build/waves/``); through cocotb's own ``waves`` switch, VCD for Verilator (a separate traced
build) and FST for Icarus, left in the cocotb build directory.

:func:`run_cocotb` builds a cocotb test bench on generated Verilog with
``cocotb_tools.runner`` and runs it; build directories are cached under ``build/cocotb`` keyed by
a hash of the Verilog, so an unchanged block is compiled by Verilator once per machine.
"""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
import random
import re
import sys

from amaranth.hdl import Module, Shape, Value
from amaranth.lib import data, wiring
from amaranth.lib.wiring import Out

__all__ = [
    "REPO_ROOT", "waves_requested", "Mismatch", "expect_equal", "compare_records",
    "pack", "unpack", "AmaranthIO", "CocotbIO", "exchange", "run_amaranth", "run_cocotb",
    "cocotb_params", "cocotb_reset", "CosimTop", "icarus_compatible", "measure_latency",
    "generated_clock", "verilator_runner",
]

REPO_ROOT = pathlib.Path(__file__).resolve().parent.parent


def waves_requested():
    """True iff the environment asks for waveforms (``XNORLEARN_WAVES=1``)."""
    return os.environ.get("XNORLEARN_WAVES", "0") not in ("", "0", "false", "no")


# ---------------------------------------------------------------------------- comparison
class Mismatch(AssertionError):
    """The gateware and the golden model disagree; the message says exactly where."""


def expect_equal(what, index, field, expected, got):
    """Raise :class:`Mismatch` unless ``expected == got``.

    ``what`` names the block or check, ``index`` the vector (or any tuple locating it),
    ``field`` the output field."""
    if expected != got:
        raise Mismatch(f"{what}: first mismatch at vector {index}, field '{field}': "
                       f"expected {expected!r}, got {got!r}")


def compare_records(what, expected, got, fields=None):
    """Compare two lists of dicts record by record; report the first differing field.

    A length difference is reported after the common prefix has been checked."""
    for i, (e, g) in enumerate(zip(expected, got)):
        for f in (fields or e.keys()):
            expect_equal(what, i, f, e[f], g[f])
    if len(expected) != len(got):
        raise Mismatch(f"{what}: expected {len(expected)} records, got {len(got)}")


# ---------------------------------------------------------------------------- payload packing
def _shape_width_signed(shape):
    s = Shape.cast(shape)
    return s.width, s.signed


def pack(shape, value):
    """Pack a (nested) dict / list / int into the integer bit pattern of ``shape``."""
    if isinstance(shape, data.StructLayout) or isinstance(shape, data.UnionLayout):
        out = 0
        for name, fld in shape:
            if name in value:
                out |= pack(fld.shape, value[name]) << fld.offset
        return out
    if isinstance(shape, data.ArrayLayout):
        w = Shape.cast(shape.elem_shape).width
        out = 0
        for i, v in enumerate(value):
            out |= pack(shape.elem_shape, v) << (i * w)
        return out
    width, _ = _shape_width_signed(shape)
    return int(value) & ((1 << width) - 1)


def unpack(shape, raw):
    """Inverse of :func:`pack`: integer bit pattern -> (nested) dict / list / int."""
    raw = int(raw)
    if isinstance(shape, data.StructLayout):
        return {name: unpack(fld.shape, (raw >> fld.offset) & ((1 << fld.width) - 1))
                for name, fld in shape}
    if isinstance(shape, data.ArrayLayout):
        w = Shape.cast(shape.elem_shape).width
        return [unpack(shape.elem_shape, (raw >> (i * w)) & ((1 << w) - 1))
                for i in range(shape.length)]
    width, signed = _shape_width_signed(shape)
    raw &= (1 << width) - 1
    if signed and raw >> (width - 1):
        raw -= 1 << width
    return raw


# ---------------------------------------------------------------------------- simulator adapters
class AmaranthIO:
    """Stream-engine adapter for Amaranth's simulator; ``port`` names are attribute paths
    such as ``"i.valid"`` or ``"label"`` on the component."""

    def __init__(self, ctx, dut):
        self.ctx, self.dut = ctx, dut
        self._cache = {}

    def _sig(self, name):
        sig = self._cache.get(name)
        if sig is None:
            obj = self.dut
            for part in name.split("."):
                obj = getattr(obj, part)
            sig = self._cache[name] = Value.cast(obj)
        return sig

    def set(self, name, value):
        sig = self._sig(name)
        width = len(sig)
        value = int(value) & ((1 << width) - 1)
        if sig.shape().signed and value >> (width - 1):
            value -= 1 << width
        self.ctx.set(sig, value)

    def get(self, name):
        return int(self.ctx.get(self._sig(name))) & ((1 << len(self._sig(name))) - 1)

    async def start_cycle(self):
        pass

    async def settle(self):
        pass

    async def end_cycle(self):
        await self.ctx.tick()


class CocotbIO:
    """Stream-engine adapter for cocotb on Amaranth's Verilog, where the member ``i.valid`` of
    the component becomes the top-level port ``i__valid``. Inputs change on the falling clock
    edge; outputs are sampled in the read-only phase just before the rising edge."""

    def __init__(self, dut, prefix=None, clk=None):
        self.dut = dut
        self.prefix = f"{prefix}__" if prefix else ""
        self.clk = clk if clk is not None else dut.clk
        self._cache = {}
        from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge
        self._fall, self._ro, self._rise = FallingEdge(self.clk), ReadOnly(), RisingEdge(self.clk)

    def _handle(self, name):
        h = self._cache.get(name)
        if h is None:
            h = self._cache[name] = self.dut[self.prefix + name.replace(".", "__")]
        return h

    def width(self, name):
        return len(self._handle(name))

    def set(self, name, value):
        h = self._handle(name)
        h.value = int(value) & ((1 << len(h)) - 1)

    def get(self, name):
        value = self._handle(name).value
        try:
            return int(value)
        except ValueError:
            raise Mismatch(f"port '{name}' is {value} (X/Z) in the simulation") from None

    async def start_cycle(self):
        await self._fall

    async def settle(self):
        await self._ro

    async def end_cycle(self):
        await self._rise


# ---------------------------------------------------------------------------- the stream engine
async def exchange(io, sends, receives, *, rng=None, p_valid=1.0, p_ready=1.0,
                   max_cycles=None, statics=None, on_cycle=None):
    """Drive input streams and collect output streams, one clock cycle per iteration.

    Parameters
    ----------
    io : AmaranthIO or CocotbIO
    sends : dict
        ``{stream_name: [payload_int, ...]}``: beats to offer, in order.
    receives : dict
        ``{stream_name: count}``: beats to collect; the call returns when all are in.
    rng : random.Random
        Source of the valid/ready gaps (``p_valid``, ``p_ready`` are per-cycle probabilities).
    statics : dict
        ``{port: value}`` set once before the first cycle (configuration ports).
    on_cycle : callable
        ``on_cycle(cycle, accepted)`` called every cycle with the input beats accepted
        (``{stream: index}``); lets a bench change static ports between vectors.

    Returns
    -------
    dict ``{stream_name: [payload_int, ...]}`` and the number of cycles used.
    """
    rng = rng or random.Random(1)
    idx = {s: 0 for s in sends}
    got = {s: [] for s in receives}
    total_in = sum(len(v) for v in sends.values())
    if max_cycles is None:
        max_cycles = 64 + 8 * (total_in + sum(receives.values())) \
            * int(1 / max(min(p_valid, p_ready), 0.05))
    first = True
    cycle = 0
    while any(len(got[s]) < n for s, n in receives.items()) or any(
            idx[s] < len(v) for s, v in sends.items()):
        if cycle >= max_cycles:
            raise Mismatch(f"timeout after {cycle} cycles: sent {idx}, received "
                           f"{ {s: len(v) for s, v in got.items()} } of {receives}")
        await io.start_cycle()
        if first and statics:
            for k, v in statics.items():
                io.set(k, v)
        first = False
        offered = {}
        for s, beats in sends.items():
            v = idx[s] < len(beats) and (p_valid >= 1.0 or rng.random() < p_valid)
            offered[s] = v
            io.set(f"{s}.valid", v)
            if v:
                io.set(f"{s}.payload", beats[idx[s]])
        taking = {}
        for s in receives:
            r = p_ready >= 1.0 or rng.random() < p_ready
            taking[s] = r
            io.set(f"{s}.ready", r)
        await io.settle()
        accepted = {}
        for s in sends:
            if offered[s] and io.get(f"{s}.ready"):
                accepted[s] = idx[s]
                idx[s] += 1
        for s in receives:
            if taking[s] and io.get(f"{s}.valid"):
                got[s].append(io.get(f"{s}.payload"))
        await io.end_cycle()
        if on_cycle is not None:
            on_cycle(cycle, accepted)
        cycle += 1
    return got, cycle


async def measure_latency(io, send, beats, receive, *, statics=None, max_cycles=1000):
    """Cycles from the acceptance of the last of ``beats`` on stream ``send`` to the first
    cycle in which ``receive.valid`` is high (``receive.ready`` held high): 1 means the result
    is there in the cycle right after the last beat's clock edge."""
    for k, v in (statics or {}).items():
        io.set(k, v)
    last_accept = None
    i = 0
    for cycle in range(max_cycles):
        await io.start_cycle()
        offered = i < len(beats)
        io.set(f"{send}.valid", offered)
        if offered:
            io.set(f"{send}.payload", beats[i])
        io.set(f"{receive}.ready", 1)
        await io.settle()
        if last_accept is not None and io.get(f"{receive}.valid"):
            return cycle - last_accept
        if offered and io.get(f"{send}.ready"):
            i += 1
            if i == len(beats):
                last_accept = cycle
        await io.end_cycle()
    raise Mismatch(f"no output on '{receive}' within {max_cycles} cycles")


def run_amaranth(dut, bench, *, name="bench", period=1e-8):
    """Run ``bench(ctx)`` as a testbench on ``dut`` with a clock; VCD only if requested."""
    from amaranth.sim import Simulator
    sim = Simulator(dut)
    sim.add_clock(period)
    sim.add_testbench(bench)
    if waves_requested():
        wdir = REPO_ROOT / "build" / "waves"
        wdir.mkdir(parents=True, exist_ok=True)
        with sim.write_vcd(str(wdir / f"{name}.vcd")):
            sim.run()
    else:
        sim.run()


# ---------------------------------------------------------------------------- cocotb
class CosimTop(wiring.Component):
    """Several blocks side by side in one top level, so one Verilator build serves the
    co-simulation of all of them. Block ``name``'s member ``i.valid`` becomes the Verilog port
    ``name__i__valid``; benches reach it with ``CocotbIO(dut, prefix=name)``."""

    def __init__(self, blocks):
        self.blocks = dict(blocks)
        super().__init__({name: Out(b.signature) for name, b in self.blocks.items()})

    def elaborate(self, platform):
        m = Module()
        for name, block in self.blocks.items():
            m.submodules[name] = block
            wiring.connect(m, wiring.flipped(getattr(self, name)), block)
        return m


def cocotb_params():
    """Parameters handed to a cocotb module by :func:`run_cocotb` (``XNORLEARN_PARAMS``)."""
    return json.loads(os.environ.get("XNORLEARN_PARAMS", "{}"))


async def cocotb_reset(dut, cycles=2):
    """Start a 10 ns clock on ``dut.clk`` and hold ``dut.rst`` for ``cycles`` rising edges.

    Reset is released right after a rising edge, so the next clock edge the design sees comes
    after the bench's first falling-edge drive: undriven inputs (``Z`` in Icarus) never reach a
    register. (Releasing it on a falling edge instead leaves one free-running cycle in which an
    undriven ``valid`` is clocked in, and the ``Z`` then walks down the pipeline.)
    """
    import cocotb
    from cocotb.clock import Clock
    from cocotb.triggers import RisingEdge
    dut.rst.value = 1
    # A design built with run_cocotb(clock_ns=…) makes its own clock (no callback per cycle);
    # otherwise the clock toggles in the simulator interface (impl="gpi": C, no Python).
    if os.environ.get(CLOCK_ENV) != "design":
        cocotb.start_soon(Clock(dut.clk, 10, unit="ns", impl="gpi").start())
    for _ in range(cycles):
        await RisingEdge(dut.clk)
    dut.rst.value = 0


#: run_cocotb tells the bench that the design makes its own clock (see :func:`cocotb_reset`)
CLOCK_ENV = "XNORLEARN_CLOCK"


def generated_clock(verilog, toplevel, period_ns=10):
    """The top module ``toplevel`` of Yosys' Verilog with its ``clk`` input replaced by a
    clock it makes itself (``period_ns``, high in the first half period, like cocotb's
    ``Clock``), so the simulator runs the clock without calling the test bench every edge.
    Needs Verilator's ``--timing`` (:func:`run_cocotb` with ``clock_ns``). Simulation only."""
    if period_ns % 2:
        raise ValueError(f"period_ns must be even, got {period_ns}")
    head = re.search(rf"^module {re.escape(toplevel)}\((.*?)\);$", verilog, re.MULTILINE)
    if not head or not re.search(r"\bclk\b", head.group(1)):
        raise ValueError(f"no module {toplevel} with a clk port in the Verilog")
    end = verilog.index("\nendmodule", head.end())
    ports = ", ".join(p for p in (q.strip() for q in head.group(1).split(",")) if p != "clk")
    body, n = re.subn(r"^(\s*)input clk;\n\s*wire clk;$",
                      rf"\1reg clk = 1'b1;\n\1always #{period_ns // 2} clk = ~clk;",
                      verilog[head.end():end], count=1, flags=re.MULTILINE)
    if n != 1:
        raise ValueError(f"module {toplevel}: no 'input clk; wire clk;' declaration")
    return (verilog[:head.start()] + f"module {toplevel}({ports});" + body + verilog[end:])


def verilator_runner(public=None, timing=False):
    """cocotb's Verilator runner, with two changes for the large co-simulations:

    * ``public`` (names, ``*`` wildcards): only these signals are visible to the bench, instead
      of cocotb's ``--public-flat-rw`` for every signal, which keeps Verilator from optimising
      the design (4-5x slower on a board default). A control file lists them.
    * ``timing``: ``--timing``, for a design whose clock is a Verilog delay loop
      (:func:`generated_clock`).
    """
    from cocotb_tools.runner import Verilator

    class Runner(Verilator):
        def _build_command(self):
            cmds = super()._build_command()
            verilate = cmds[0]
            extra = ["--timing"] if timing else []
            if public is not None:
                verilate.remove("--public-flat-rw")
                vlt = pathlib.Path(self.build_dir) / "public.vlt"
                vlt.write_text("`verilator_config\n" + "".join(
                    f'public_flat_rw -module "*" -var "{name}"\n' for name in public))
                extra.append(str(vlt))
            at = verilate.index("--top-module")
            verilate[at:at] = extra
            return cmds

    return Runner()


_YOSYS_COMB_KICK = re.compile(r"^(\s*)reg (\\\$auto\$verilog_backend\.cc:\d+:dump_module\$\d+) += 0;",
                              re.MULTILINE)


def icarus_compatible(verilog):
    """Make Yosys' Verilog evaluate its ``always @*`` blocks at time 0 under Icarus.

    Yosys reads a dummy register initialised to 0 in every combinational block so that
    simulators run the block once at time 0. Icarus 11 applies the initialiser before the
    blocks wait on it, so no event happens and a combinational output that depends only on
    registers still at their reset values (e.g. ``ready`` of an idle FSM) stays ``X``. An
    ``initial #0`` toggle of the same register, after every process has started, fixes it.
    Simulation only; the synthesised design is untouched."""
    return _YOSYS_COMB_KICK.sub(lambda m: f"{m.group(0)}\n{m.group(1)}initial #0 {m.group(2)} = 1;",
                                verilog)


def run_cocotb(verilog, toplevel, test_module, *, simulator="icarus", testcase=None,
               params=None, build_root=None, quiet=False, public=None, clock_ns=None):
    """Build ``verilog`` (text) for ``simulator`` and run cocotb module ``test_module`` on it.

    The build directory is ``build/cocotb/<toplevel>-<simulator>-<hash>``; it is reused while
    the Verilog is unchanged. ``params`` reach the bench as JSON (:func:`cocotb_params`).
    Returns the results XML path. Under pytest a failing cocotb test raises; elsewhere check the
    XML with ``cocotb_tools.runner.get_results``. ``quiet`` sends the
    simulator build output to ``build.log`` in the build directory and shows only cocotb
    warnings and errors (the bench's own prints still appear).

    Verilator only: ``public`` lists the signals the bench reads or writes besides the top
    module's ports (:func:`verilator_runner`); ``clock_ns`` makes ``clk`` a clock the design
    generates itself (:func:`generated_clock`; :func:`cocotb_reset` then starts none).
    """
    from cocotb_tools.runner import get_runner

    from .toolenv import setup_environment
    setup_environment()
    waves = waves_requested()
    if simulator == "icarus":
        verilog = icarus_compatible(verilog)
    if (public is not None or clock_ns) and simulator != "verilator":
        raise ValueError("public and clock_ns apply to Verilator only")
    if clock_ns:
        verilog = generated_clock(verilog, toplevel, clock_ns)
    public = None if public is None else sorted(set(public) | {"clk", "rst"})
    # the build's make dependencies name the simulator's and cocotb's files by absolute path:
    # a cached build made by another installation (another checkout's venv) must not be reused
    import cocotb
    digest = hashlib.sha256(json.dumps([verilog, public, sys.prefix,
                                        os.path.dirname(cocotb.__file__)]).encode()
                            ).hexdigest()[:16]
    root = pathlib.Path(build_root) if build_root else REPO_ROOT / "build" / "cocotb"
    bdir = root / f"{toplevel}-{simulator}-{digest}{'-waves' if waves else ''}"
    bdir.mkdir(parents=True, exist_ok=True)
    src = bdir / f"{toplevel}.v"
    if not src.exists() or src.read_text() != verilog:
        src.write_text(verilog)
    runner = (verilator_runner(public, timing=bool(clock_ns)) if simulator == "verilator"
              else get_runner(simulator))
    build_args = ["-Wno-fatal", "-Wno-lint"] if simulator == "verilator" else []
    runner.build(sources=[src], hdl_toplevel=toplevel, build_dir=bdir, always=False,
                 timescale=("1ns", "1ps"), build_args=build_args, waves=waves,
                 log_file=bdir / "build.log" if quiet else None)
    env = {"XNORLEARN_PARAMS": json.dumps(params or {}),
           CLOCK_ENV: "design" if clock_ns else "bench"}
    if quiet:
        env["COCOTB_LOG_LEVEL"] = "WARNING"
        env["GPI_LOG_LEVEL"] = "WARNING"
    return runner.test(hdl_toplevel=toplevel, test_module=test_module, testcase=testcase,
                       build_dir=bdir, test_dir=bdir, waves=waves, timescale=("1ns", "1ps"),
                       extra_env=env)
