"""SDR SDRAM as a dataset store: the reader interface of :mod:`~xnorlearn.hw.flash` plus writes.

:class:`SdramStore` drives a 16-bit single-data-rate SDRAM such as the ULX3S v3's MT48LC16M16A2
or AS4C16M16SB (4 banks × 8192 rows × 512 columns × 16 bits = 32 MB). It exposes the same
``cmd``/``data``/``busy`` ports as :class:`~xnorlearn.hw.flash.QspiFlashReader`, so the trainer
reads it like the flash, and a ``wcmd``/``wdata`` pair to fill it (over the UART, once).

Addresses. A byte address ``addr`` (24 bits: :data:`CAPACITY_BYTES` = 16 MiB, half the chip)
is split as ``addr[0]`` = byte within the 16-bit word (little-endian: byte 0 is ``dq[0:8]``),
then the word address (:func:`word_address_layout`) column (low bits), row, bank. Consecutive
bytes stay in one row for 1 KiB; a read or write crossing a row closes it and opens the next.

Commands (``cs_n ras_n cas_n we_n``) are decoded combinationally from the state: the command
on the ``sdram`` ports during a cycle is the one the SDRAM samples at the end of it (the board
glue registers all of them in the IO cells, delaying them all alike). Every access opens one
row (ACTIVE, tRCD), streams column commands and closes it with PRECHARGE ALL (after tRAS and
tWR, then tRP) — no row is left open between requests. Mode register: burst length 1,
sequential, CAS latency ``cas_latency``, single-location write bursts.

* Reads: one READ per 16-bit word, one per cycle while the output FIFO has room for it (a READ
  is issued only if the FIFO's level plus the READs still in flight is below its depth, so
  ``data.ready`` may stay low any time without losing a byte). The word comes back
  ``cas_latency + read_delay`` cycles after its READ, enters the FIFO with the bytes it holds
  for the request, and leaves as one or two bytes on ``data``.
* Writes: one WRITE per byte with the other byte masked by DQM, whenever ``wdata`` is valid.

Power-up: ``init_us`` with NOPs (CKE high), PRECHARGE ALL, tRP, two AUTO REFRESH (tRFC each),
LOAD MODE REGISTER, tMRD. ``busy`` is high meanwhile.

Refresh: a free-running counter asks for an AUTO REFRESH every ``refresh_us`` minus the
longest time a request can need to close its row (:meth:`SdramCycles.refresh_slack`), so
the SDRAM sees one at least every ``refresh_us`` (8192 rows per 64 ms: 7.8 µs) however long a
read or write runs. The request is served at the next column slot: the row is closed, the
refresh is done and the row is opened again — a stalled consumer or producer cannot hold it
off. A refresh due while idle makes ``busy`` high for about tRFC.

Timings (:class:`SdramTiming`, ns, at or above the MT48LC16M16A2 -6A/-7E/-75 and
AS4C16M16SB -6/-7 data sheet minima — e.g. Micron -75: tRCD 20, tRP 20, tRAS 44, tRC 66,
tRFC 66; Alliance -7: 21, 21, 42, 63 — as recalled, to re-check against the fitted part's
data sheet): tRCD 21, tRP 21, tRAS 45 (max 120 µs: rows stay open
for less than one refresh interval), tRC 66, tRFC 66, tWR 15 ns and ≥ 2 tCK (manual
precharge), tMRD 2 tCK, tREFI 64 ms / 8192 rows = 7.81 µs (``refresh_us`` 7.8 by default),
power-up 200 µs (Alliance; Micron asks 100 µs). CAS latency 2 is allowed from tCK 7.5–10 ns
(133/100 MHz) down, far above this project's 60–65 MHz clocks. Each is converted to sync
cycles by rounding up.

Throughput at 60 MHz, consumer always ready, ``read_delay=2``: a 99-byte record read takes
about 107 cycles from the ``cmd`` handshake to its last byte (``tests/test_hw_sdram.py``
measures it): ACTIVE, tRCD and the CAS + pin latency, then one byte per cycle — the 8-bit
``data`` stream, not the SDRAM, is the limit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from amaranth import Cat, Const, Module, Mux, Shape, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.wiring import In, Out

from .flash import read_command_layout

__all__ = ["SdramStore", "SdramTiming", "SdramCycles", "SdramPinSignature", "Cmd",
           "word_address_layout", "mode_register", "CAPACITY_BYTES", "BOARD_READ_DELAY"]

#: Bytes the 24-bit byte address of ``cmd``/``wcmd`` reaches (the ULX3S chip holds 32 MB).
CAPACITY_BYTES = 1 << Shape.cast(read_command_layout()["addr"].shape).width

#: ``read_delay`` of :class:`~xnorlearn.boards.sdram_pins.SdramPins`: its IO output registers
#: delay each command by a cycle and its IO input registers the returned data by another.
BOARD_READ_DELAY = 2


class Cmd:
    """SDRAM commands as ``(ras_n, cas_n, we_n)`` with ``cs_n`` low (JEDEC SDR truth table)."""
    NOP = 0b111
    ACTIVE = 0b011
    READ = 0b101
    WRITE = 0b100
    PRECHARGE = 0b010
    REFRESH = 0b001
    LOAD_MODE = 0b000

    @staticmethod
    def fields(code):
        """``(ras_n, cas_n, we_n)`` of a 3-bit command code (MSB ``ras_n``)."""
        return (code >> 2) & 1, (code >> 1) & 1, code & 1


def word_address_layout(col_bits=9, row_bits=13, bank_bits=2):
    """A 16-bit word's address in the SDRAM: column (low bits), row, bank. Its integer value is
    the linear word index the model stores at, and byte address >> 1."""
    return data.StructLayout({"col": col_bits, "row": row_bits, "bank": bank_bits})


def mode_register(cas_latency):
    """LOAD MODE REGISTER value on ``a``: burst length 1 (A2:0 = 0), sequential (A3 = 0), CAS
    latency (A6:4), standard operation (A8:7 = 0), single-location write bursts (A9 = 1)."""
    return (1 << 9) | (cas_latency << 4)


@dataclass(frozen=True)
class SdramTiming:
    """Data sheet timing minima (see the module docstring for the sources); ``*_ck`` in clocks,
    the rest in ns."""
    t_rcd: float = 21.0
    t_rp: float = 21.0
    t_ras: float = 45.0
    t_rc: float = 66.0
    t_rfc: float = 66.0
    t_wr: float = 15.0
    t_wr_ck: int = 2
    t_mrd_ck: int = 2

    def cycles(self, clk_hz, *, init_us=200.0, refresh_us=7.8):
        """:class:`SdramCycles` at ``clk_hz`` (every time rounded up to whole cycles)."""
        def ck(ns):
            return max(1, math.ceil(ns * 1e-9 * clk_hz - 1e-9))
        return SdramCycles(
            rcd=ck(self.t_rcd), rp=ck(self.t_rp), ras=ck(self.t_ras), rc=ck(self.t_rc),
            rfc=ck(self.t_rfc), wr=max(self.t_wr_ck, ck(self.t_wr)), mrd=self.t_mrd_ck,
            init=ck(init_us * 1e3), refi=int(refresh_us * 1e-6 * clk_hz))


@dataclass(frozen=True)
class SdramCycles:
    """The timings of :class:`SdramTiming` in sync cycles: minimum cycles from one command to
    the next it constrains (``refi``: the longest allowed from one AUTO REFRESH to the next,
    rounded down; ``init``: NOP cycles after reset)."""
    rcd: int
    rp: int
    ras: int
    rc: int
    rfc: int
    wr: int
    mrd: int
    init: int
    refi: int

    def refresh_slack(self):
        """An upper bound on the cycles from a refresh request to its AUTO REFRESH: tRAS of a
        just-opened row (or tRCD, or tWR of a just-issued WRITE), cycles to notice, PRECHARGE,
        tRP."""
        return max(self.ras, self.rcd + 1, self.wr + 1) + self.rp + 3

    def refresh_period(self):
        """Cycles between refresh requests, so that requests plus slack stay within tREFI."""
        period = self.refi - self.refresh_slack()
        if period < self.rfc + self.rcd + 4:
            raise ValueError(f"refresh interval of {self.refi} cycles is too short for the "
                             f"timings {self}")
        return period


class SdramPinSignature(wiring.Signature):
    """The controller side of an SDR SDRAM: ``cs_n ras_n cas_n we_n`` and CKE, bank and address,
    byte masks (``dqm[i]`` high masks byte ``i``), DQ output and enable, DQ input."""

    def __init__(self, *, row_bits=13, bank_bits=2):
        super().__init__({
            "cke": Out(1), "cs_n": Out(1), "ras_n": Out(1), "cas_n": Out(1), "we_n": Out(1),
            "ba": Out(bank_bits), "a": Out(max(row_bits, 11)), "dqm": Out(2),
            "dq_o": Out(16), "dq_oe": Out(1), "dq_i": In(16),
        })


class SdramStore(wiring.Component):
    """Byte store in an SDR SDRAM, read like :class:`~xnorlearn.hw.flash.QspiFlashReader`.

    Parameters
    ----------
    clk_hz : float
        The sync clock (the SDRAM's clock); sets every timing in cycles.
    col_bits, row_bits, bank_bits : int
        Geometry (default: 512 columns, 8192 rows, 4 banks; MT48LC16M16A2 / AS4C16M16SB). A
        smaller chip than the 16 MiB address space (``capacity``) wraps its addresses.
    cas_latency : int
        CAS latency programmed in the mode register (2 or 3).
    read_delay : int
        Extra sync cycles from the SDRAM's data to ``sdram.dq_i``, counting every register on
        the way out (the command) and back (the data) that a directly wired SDRAM would not
        have: :data:`BOARD_READ_DELAY` for the board glue, 0 for the simulation model wired by
        :func:`~xnorlearn.sim.sdrammodel.connect_sdram` without delay.
    init_us : float
        Power-up wait before the first command (data sheets: 100–200 µs; short in tests).
    refresh_us : float
        Longest time between AUTO REFRESH commands (64 ms / 8192 rows = 7.8125 µs).
    timing : SdramTiming
        Data sheet minima.

    Attributes
    ----------
    cmd : In(stream.Signature(read_command_layout()))
        Read ``length`` bytes from byte ``addr``; taken only while ``busy`` is low (and no
        refresh is due). ``length = 0`` is taken and ignored.
    data : Out(stream.Signature(8))
        The bytes read, in address order.
    wcmd : In(stream.Signature(read_command_layout()))
        Write ``length`` bytes from byte ``addr`` on; taken like ``cmd`` (``cmd`` first if both
        are valid).
    wdata : In(stream.Signature(8))
        The bytes to write, in order, ``length`` of them per ``wcmd``.
    busy : Out(1)
        High from reset until power-up is done, from a ``cmd``/``wcmd`` handshake until its last
        byte has been taken (read) or written and its row closed (write), and during a refresh
        done while idle.
    sdram : Out(SdramPinSignature())
        The SDRAM's pins (its clock is the sync clock, driven by the board glue).
    """

    def __init__(self, clk_hz, *, col_bits=9, row_bits=13, bank_bits=2, cas_latency=2,
                 read_delay=BOARD_READ_DELAY, init_us=200.0, refresh_us=7.8,
                 timing=SdramTiming()):
        if col_bits > 10:
            raise ValueError("col_bits > 10 would put A10 (auto precharge) in the column")
        if cas_latency not in (2, 3):
            raise ValueError(f"cas_latency must be 2 or 3, got {cas_latency!r}")
        if read_delay < 0:
            raise ValueError(f"read_delay must be ≥ 0, got {read_delay!r}")
        self.clk_hz = float(clk_hz)
        self.col_bits, self.row_bits, self.bank_bits = col_bits, row_bits, bank_bits
        #: bytes addressable: the chip or the 24-bit address space, the smaller (addresses wrap)
        self.capacity = min(CAPACITY_BYTES, 2 << (col_bits + row_bits + bank_bits))
        self.cas_latency = cas_latency
        self.read_delay = read_delay
        self.timing = timing
        self.cycles = timing.cycles(self.clk_hz, init_us=init_us, refresh_us=refresh_us)
        self.refresh_period = self.cycles.refresh_period()
        if self.cycles.rc > self.cycles.ras + self.cycles.rp:
            raise ValueError("tRC > tRAS + tRP: ACTIVE would follow ACTIVE too soon")
        # FIFO entries: enough to cover the READ-to-data latency at one READ per cycle
        self.fifo_depth = cas_latency + read_delay + 2
        super().__init__({
            "cmd": In(stream.Signature(read_command_layout())),
            "data": Out(stream.Signature(8)),
            "wcmd": In(stream.Signature(read_command_layout())),
            "wdata": In(stream.Signature(8)),
            "busy": Out(1),
            "sdram": Out(SdramPinSignature(row_bits=row_bits, bank_bits=bank_bits)),
        })

    def word_address_layout(self):
        return word_address_layout(self.col_bits, self.row_bits, self.bank_bits)

    def elaborate(self, platform):
        m = Module()
        cy = self.cycles
        pins = self.sdram
        latency = self.cas_latency + self.read_delay     # READ issued → word on dq_i

        # --- command outputs: NOP unless a state says otherwise
        command = Signal(3, init=Cmd.NOP)
        m.d.comb += [pins.cke.eq(1), pins.cs_n.eq(0),
                     Cat(pins.we_n, pins.cas_n, pins.ras_n).eq(command)]

        last_col = (1 << self.col_bits) - 1

        # --- request state: the next byte address and the bytes left to issue
        addr = Signal(24)
        left = Signal(16)
        writing = Signal()
        word = Signal(self.word_address_layout())
        m.d.comb += word.eq(addr[1:])
        crossed = Signal()          # the last column of the open row has been accessed

        # --- timers: `timer` for the state's wait, `ras`/`wr` for closing the row
        timer = Signal(range(max(cy.init, cy.rfc, cy.rp, cy.rcd, cy.mrd) + 1))
        ras = Signal(range(max(cy.ras, cy.wr) + 1))
        wr = Signal.like(ras)
        for t in (timer, ras, wr):
            with m.If(t != 0):
                m.d.sync += t.eq(t - 1)

        # --- refresh requests
        refi = Signal(range(self.refresh_period), init=self.refresh_period - 1)
        ref_due = Signal()
        m.d.sync += refi.eq(Mux(refi == 0, self.refresh_period - 1, refi - 1))

        # --- read return path: READs in flight, then a FIFO of (word, byte mask)
        m.submodules.fifo = fifo = SyncFIFOBuffered(width=18, depth=self.fifo_depth)
        issue = Signal()            # a READ goes out this cycle
        want = Signal(2)            # its bytes (bit i: byte i of the word) the request needs
        inflight = Signal(range(latency + 2))
        pipe = [Signal(3, name=f"rd_pipe{i}") for i in range(latency)]   # (valid, want)
        m.d.sync += pipe[0].eq(Cat(issue, want))
        for i in range(1, latency):
            m.d.sync += pipe[i].eq(pipe[i - 1])
        arrive = pipe[-1][0]
        m.d.comb += [fifo.w_en.eq(arrive), fifo.w_data.eq(Cat(pins.dq_i, pipe[-1][1:]))]
        m.d.sync += inflight.eq(inflight + issue - arrive)
        room = fifo.level + inflight < self.fifo_depth

        # --- FIFO → byte stream: the low byte (if wanted) first, then the high one
        second = Signal()           # the head entry's low byte has been sent
        head_word, head_want = fifo.r_data[:16], fifo.r_data[16:]
        low = head_want[0] & ~second
        last_of_entry = ~(low & head_want[1])
        m.d.comb += [self.data.valid.eq(fifo.r_rdy),
                     self.data.payload.eq(Mux(low, head_word[:8], head_word[8:])),
                     fifo.r_en.eq(self.data.ready & last_of_entry)]
        with m.If(self.data.valid & self.data.ready):
            m.d.sync += second.eq(~last_of_entry)
        draining = (fifo.level != 0) | (inflight != 0)

        def do(cmd, wait=0):
            """Issue `cmd` now; the state's next command may follow `wait` cycles later."""
            m.d.comb += command.eq(cmd)
            if wait > 1:
                m.d.sync += timer.eq(wait - 1)

        def precharge_all():
            do(Cmd.PRECHARGE, cy.rp)
            m.d.comb += pins.a[10].eq(1)

        ready = timer == 0
        m.d.comb += self.busy.eq(1)                     # except when idle (below)
        with m.FSM(init="POWER_UP"):
            # --- power-up: NOPs, PRECHARGE ALL, two AUTO REFRESH, LOAD MODE REGISTER
            with m.State("POWER_UP"):
                m.d.sync += timer.eq(cy.init - 1)
                m.next = "INIT_WAIT"
            with m.State("INIT_WAIT"):
                with m.If(ready):
                    precharge_all()
                    m.next = "INIT_REFRESH_1"
            for k, nxt in ((1, "INIT_REFRESH_2"), (2, "INIT_MODE")):
                with m.State(f"INIT_REFRESH_{k}"):
                    with m.If(ready):
                        do(Cmd.REFRESH, cy.rfc)
                        m.next = nxt
            with m.State("INIT_MODE"):
                with m.If(ready):
                    do(Cmd.LOAD_MODE, cy.mrd)
                    m.d.comb += pins.a.eq(mode_register(self.cas_latency))
                    m.d.sync += ref_due.eq(0)       # the init refreshes are recent
                    m.next = "IDLE"

            with m.State("IDLE"):
                m.d.comb += self.busy.eq(~ready | draining)
                accept = ready & ~draining & ~ref_due
                m.d.comb += [self.cmd.ready.eq(accept),
                             self.wcmd.ready.eq(accept & ~self.cmd.valid)]
                req = Signal(read_command_layout())
                m.d.comb += req.eq(Mux(self.cmd.valid, self.cmd.payload, self.wcmd.payload))
                with m.If(ready & ref_due):
                    m.next = "REFRESH"
                with m.Elif(accept & (self.cmd.valid | self.wcmd.valid) & (req.length != 0)):
                    m.d.sync += [addr.eq(req.addr), left.eq(req.length),
                                 writing.eq(~self.cmd.valid)]
                    m.next = "ACTIVATE"

            with m.State("ACTIVATE"):                   # tRP (or tRFC) has passed
                do(Cmd.ACTIVE, cy.rcd)
                m.d.comb += [pins.ba.eq(word.bank), pins.a.eq(word.row)]
                m.d.sync += [ras.eq(cy.ras - 1), crossed.eq(0)]
                m.next = "ACCESS"

            with m.State("ACCESS"):                     # the row is open; tRCD counting
                m.d.comb += [pins.ba.eq(word.bank), pins.a.eq(word.col)]
                with m.If(ready):
                    with m.If((left == 0) | crossed | ref_due):
                        m.next = "CLOSE"
                    with m.Elif(writing):
                        m.d.comb += self.wdata.ready.eq(1)
                        with m.If(self.wdata.valid):
                            do(Cmd.WRITE)
                            m.d.comb += [pins.dq_o.eq(self.wdata.payload.replicate(2)),
                                         pins.dq_oe.eq(1),
                                         pins.dqm.eq(Mux(addr[0], 0b01, 0b10))]
                            m.d.sync += [wr.eq(cy.wr - 1), addr.eq(addr + 1),
                                         left.eq(left - 1),
                                         crossed.eq(addr[0] & (word.col == last_col))]
                    with m.Elif(room):
                        both = ~addr[0] & (left != 1)       # this word holds two wanted bytes
                        do(Cmd.READ)
                        m.d.comb += [issue.eq(1),
                                     want.eq(Mux(addr[0], 0b10, Mux(both, 0b11, 0b01)))]
                        m.d.sync += [addr.eq(Cat(Const(0, 1), addr[1:] + 1)),
                                     left.eq(left - Mux(both, 2, 1)),
                                     crossed.eq(word.col == last_col)]

            with m.State("CLOSE"):                      # wait for tRAS and tWR, then precharge
                with m.If((ras == 0) & (wr == 0)):
                    precharge_all()
                    m.next = "CLOSED"

            with m.State("CLOSED"):                     # tRP
                with m.If(ready):
                    with m.If(ref_due):
                        m.next = "REFRESH"
                    with m.Elif(left != 0):
                        m.next = "ACTIVATE"
                    with m.Else():
                        m.next = "IDLE"

            with m.State("REFRESH"):                    # all banks idle, tRP has passed
                do(Cmd.REFRESH, cy.rfc)
                m.d.sync += ref_due.eq(0)
                m.next = "REFRESHED"

            with m.State("REFRESHED"):                  # tRFC
                with m.If(ready):
                    with m.If(left != 0):
                        m.next = "ACTIVATE"
                    with m.Else():
                        m.next = "IDLE"

        # after the FSM, so a request arriving as REFRESH clears the last one is kept
        with m.If(refi == 0):
            m.d.sync += ref_due.eq(1)
        return m
