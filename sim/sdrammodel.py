"""Simulation model of a 16-bit SDR SDRAM (MT48LC16M16A2-like), written in Amaranth.

:class:`SdramModel` is ordinary synchronous gateware on the controller's clock, so it runs in
Amaranth's simulator and can be compiled by Verilator together with a design. Every sync edge
it samples the command pins as the SDRAM's clock edge would, and

* decodes NOP / ACTIVE / READ / WRITE / PRECHARGE (one bank, or all with A10) / AUTO REFRESH /
  LOAD MODE REGISTER (``cs_n`` high is COMMAND INHIBIT, treated as NOP);
* keeps the open row of each bank;
* answers a READ with the addressed word on ``sdram.dq_i`` during the ``cas_latency``-th cycle
  after it (burst length 1; DQM is ignored on reads, the controller keeps it low);
* applies a WRITE to the bytes whose ``dqm`` bit is low;
* checks the protocol and the timings: the first violation is kept in ``error_code``
  (:class:`SdramError`) and ``error`` stays high; the model then carries on.

Storage: a :class:`~amaranth.lib.memory.Memory` of ``depth`` 16-bit words at the linear word
index (:func:`~xnorlearn.hw.sdram.word_address_layout`: column, row, bank from the low bits up,
the same split as the controller's byte address >> 1). Words at or past ``depth`` read 0 and
writes to them are dropped (no wrap), so small memories serve tests.

Not modelled: CKE low (power-down, self refresh; an error), bursts longer than 1, auto
precharge (an error), DQM on reads (the word is driven whatever DQM), tRRD (the controller
opens one bank at a time), tRAS max (the controller closes rows every refresh interval), the
READ-to-PRECHARGE spacing (any is legal with burst length 1). ``sdram.dq_i`` is 0 when the
SDRAM does not drive DQ; ``CONTENTION`` flags ``dq_oe`` in a cycle it does.
"""

import enum

from amaranth import Cat, Module, Mux, Shape, Signal
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..hw.sdram import Cmd, SdramPinSignature, mode_register, word_address_layout

__all__ = ["SdramModel", "SdramError", "connect_sdram"]


class SdramError(enum.IntEnum):
    NONE = 0
    POWER_UP = 1            # a command other than NOP during the power-up wait
    BEFORE_INIT = 2         # REFRESH before PRECHARGE ALL, LOAD MODE before 2 refreshes,
                            # ACTIVE/READ/WRITE before LOAD MODE
    BANK_OPEN = 3           # ACTIVE on a bank whose row is open
    BANK_CLOSED = 4         # READ/WRITE on a bank with no open row
    T_RCD = 5               # READ/WRITE too soon after ACTIVE
    T_RAS = 6               # PRECHARGE too soon after ACTIVE
    T_RP = 7                # ACTIVE or REFRESH too soon after PRECHARGE
    T_RC = 8                # ACTIVE too soon after ACTIVE (same bank)
    T_WR = 9                # PRECHARGE too soon after WRITE
    NOT_IDLE = 10           # AUTO REFRESH or LOAD MODE with a bank open
    T_RFC = 11              # a command too soon after AUTO REFRESH
    T_MRD = 12              # a command too soon after LOAD MODE REGISTER
    T_REFI = 13             # no AUTO REFRESH for longer than the refresh interval
    BAD_MODE = 14           # mode register other than BL 1, sequential, the model's CL
    AUTO_PRECHARGE = 15     # READ/WRITE with A10 high (not modelled)
    CONTENTION = 16         # the controller drives DQ while the SDRAM does
    CKE_LOW = 17            # CKE low (power-down / self refresh, not modelled)


class SdramModel(wiring.Component):
    """SDR SDRAM model (see the module docstring).

    Parameters
    ----------
    cycles : SdramCycles
        Timing minima in cycles, normally the controller's ``cycles`` (``init``: the power-up
        wait, ``refi``: the longest allowed refresh interval).
    cas_latency : int
        CAS latency of the part; LOAD MODE must program it.
    depth : int
        Words of storage (from word index 0).
    init : bytes
        Initial contents from byte 0 (little-endian words; at most ``2 * depth`` bytes).
    col_bits, row_bits, bank_bits : int
        Geometry, as the controller's.

    Attributes
    ----------
    sdram : In(SdramPinSignature())
        The controller's pins (the model drives ``dq_i``, the data the controller reads).
    error : Out(1)
        Sticky: a violation was seen.
    error_code : Out(5)
        The first violation, a :class:`SdramError`.
    """

    def __init__(self, cycles, *, cas_latency=2, depth=4096, init=b"", col_bits=9, row_bits=13,
                 bank_bits=2):
        init = bytes(init)
        if len(init) > 2 * depth:
            raise ValueError(f"init holds {len(init)} bytes, the model {2 * depth}")
        init += bytes(len(init) % 2)
        self.words = [init[i] | init[i + 1] << 8 for i in range(0, len(init), 2)]
        self.cycles = cycles
        self.cas_latency = cas_latency
        self.depth = depth
        self.layout = word_address_layout(col_bits, row_bits, bank_bits)
        self.banks = 1 << bank_bits
        super().__init__({
            "sdram": In(SdramPinSignature(row_bits=row_bits, bank_bits=bank_bits)),
            "error": Out(1), "error_code": Out(5),
        })

    def elaborate(self, platform):
        m = Module()
        cy, p = self.cycles, self.sdram
        lay = self.layout

        def fail(code, cond=True):
            with m.If(cond):
                m.d.sync += [self.error.eq(1),
                             self.error_code.eq(Mux(self.error, self.error_code, code))]

        # --- the command sampled at this edge
        code = Signal(3)
        m.d.comb += code.eq(Mux(p.cs_n, Cmd.NOP, Cat(p.we_n, p.cas_n, p.ras_n)))
        is_ = {name: Signal(name=f"is_{name.lower()}") for name in
               ("ACTIVE", "READ", "WRITE", "PRECHARGE", "REFRESH", "LOAD_MODE")}
        for name, s in is_.items():
            m.d.comb += s.eq(code == getattr(Cmd, name))
        any_cmd = code != Cmd.NOP
        fail(SdramError.CKE_LOW, ~p.cke)

        # --- "cycles since" counters, saturating; a command sets them to 1 for the next cycle
        def since(name, limit, n=1, init=None):
            sigs = [Signal(range(limit + 2), init=limit + 1 if init is None else init,
                           name=f"{name}{i}") for i in range(n)]
            for s in sigs:
                with m.If(s <= limit):
                    m.d.sync += s.eq(s + 1)
            return sigs

        powerup, = since("powerup", cy.init, init=0)
        since_ref, = since("since_ref", max(cy.rfc, cy.refi))
        since_mrd, = since("since_mrd", cy.mrd)
        since_act = since("since_act", max(cy.rcd, cy.ras, cy.rc), self.banks)
        since_pre = since("since_pre", cy.rp, self.banks)
        since_wr = since("since_wr", cy.wr, self.banks)

        is_open = [Signal(name=f"open{b}") for b in range(self.banks)]
        rows = [Signal(lay["row"].shape, name=f"row{b}") for b in range(self.banks)]
        hit = [p.ba == b for b in range(self.banks)]
        precharged_all = Signal()
        refreshes = Signal(2)
        mode_set = Signal()

        # --- checks that hold for any command
        fail(SdramError.POWER_UP, any_cmd & (powerup < cy.init))
        fail(SdramError.T_RFC, any_cmd & (since_ref < cy.rfc))
        fail(SdramError.T_MRD, any_cmd & (since_mrd < cy.mrd))
        fail(SdramError.T_REFI, mode_set & (since_ref > cy.refi))

        # --- ACTIVE
        for b in range(self.banks):
            with m.If(is_["ACTIVE"] & hit[b]):
                fail(SdramError.BEFORE_INIT, ~mode_set)
                fail(SdramError.BANK_OPEN, is_open[b])
                fail(SdramError.T_RP, since_pre[b] < cy.rp)
                fail(SdramError.T_RC, since_act[b] < cy.rc)
                m.d.sync += [is_open[b].eq(1), rows[b].eq(p.a), since_act[b].eq(1)]

        # --- READ / WRITE
        open_row = Signal.like(rows[0])
        bank_open = Signal()
        bank_since_act = Signal.like(since_act[0])
        for b in range(self.banks):
            with m.If(hit[b]):
                m.d.comb += [open_row.eq(rows[b]), bank_open.eq(is_open[b]),
                             bank_since_act.eq(since_act[b])]
        col_w = Shape.cast(lay["col"].shape).width
        index = Signal(lay)
        m.d.comb += index.eq(Cat(p.a[:col_w], open_row, p.ba))
        in_range = index.as_value() < self.depth
        access = is_["READ"] | is_["WRITE"]
        with m.If(access):
            fail(SdramError.BEFORE_INIT, ~mode_set)
            fail(SdramError.BANK_CLOSED, ~bank_open)
            fail(SdramError.T_RCD, bank_since_act < cy.rcd)
            fail(SdramError.AUTO_PRECHARGE, p.a[10])
        for b in range(self.banks):
            with m.If(is_["WRITE"] & hit[b]):
                m.d.sync += since_wr[b].eq(1)

        # --- PRECHARGE (one bank, or all with A10)
        for b in range(self.banks):
            with m.If(is_["PRECHARGE"] & (p.a[10] | hit[b])):
                with m.If(is_open[b]):
                    fail(SdramError.T_RAS, since_act[b] < cy.ras)
                    fail(SdramError.T_WR, since_wr[b] < cy.wr)
                m.d.sync += [is_open[b].eq(0), since_pre[b].eq(1)]
        with m.If(is_["PRECHARGE"] & p.a[10]):
            m.d.sync += precharged_all.eq(1)

        # --- AUTO REFRESH, LOAD MODE REGISTER: all banks idle and precharged for tRP
        any_open = Cat(*is_open).any()
        pre_recent = Cat(*(s < cy.rp for s in since_pre)).any()
        with m.If(is_["REFRESH"] | is_["LOAD_MODE"]):
            fail(SdramError.NOT_IDLE, any_open)
            fail(SdramError.T_RP, pre_recent)
        with m.If(is_["REFRESH"]):
            fail(SdramError.BEFORE_INIT, ~precharged_all)
            m.d.sync += since_ref.eq(1)
            with m.If(refreshes != 3):
                m.d.sync += refreshes.eq(refreshes + 1)
        with m.If(is_["LOAD_MODE"]):
            fail(SdramError.BEFORE_INIT, refreshes < 2)
            fail(SdramError.BAD_MODE, (p.a[:9] != mode_register(self.cas_latency) & 0x1FF)
                 | (p.a[10:] != 0) | (p.ba != 0))
            m.d.sync += [mode_set.eq(1), since_mrd.eq(1)]

        # --- storage: writes with DQM, reads after CAS latency
        m.submodules.mem = mem = Memory(shape=16, depth=self.depth, init=self.words)
        wp = mem.write_port(granularity=8)
        rp = mem.read_port()
        ok = bank_open & in_range
        m.d.comb += [wp.addr.eq(index.as_value()), wp.data.eq(p.dq_o),
                     wp.en.eq(Mux(is_["WRITE"] & ok, ~p.dqm, 0)),
                     rp.addr.eq(index.as_value())]
        # rp.data is valid the cycle after the READ; CL - 1 registers to dq_i
        got = Signal()              # rp.data belongs to a READ of a stored word
        reading = Signal()          # ... to a READ at all (the SDRAM will drive DQ)
        m.d.sync += [got.eq(is_["READ"] & ok), reading.eq(is_["READ"])]
        word, drive = Mux(got, rp.data, 0), reading
        for k in range(self.cas_latency - 1):
            w, d = Signal(16, name=f"dq_out{k}"), Signal(name=f"dq_drive{k}")
            m.d.sync += [w.eq(word), d.eq(drive)]
            word, drive = w, d
        m.d.comb += p.dq_i.eq(word)
        fail(SdramError.CONTENTION, drive & p.dq_oe)
        return m


def connect_sdram(m, store, model, read_delay=None):
    """Wire a :class:`~xnorlearn.hw.sdram.SdramStore`'s pins to a :class:`SdramModel` in ``m``,
    with ``read_delay`` (default: the store's) registers on the data the model returns — what
    the board glue's IO registers add on the way out and back."""
    read_delay = store.read_delay if read_delay is None else read_delay
    s, d = store.sdram, model.sdram
    m.d.comb += [getattr(d, name).eq(getattr(s, name)) for name in
                 ("cke", "cs_n", "ras_n", "cas_n", "we_n", "ba", "a", "dqm", "dq_o", "dq_oe")]
    dq = d.dq_i
    for k in range(read_delay):
        q = Signal(16, name=f"dq_delay{k}")
        m.d.sync += q.eq(dq)
        dq = q
    m.d.comb += s.dq_i.eq(dq)
