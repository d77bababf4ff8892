"""Simulation model of a Winbond W25Q128JV-like SPI flash, written in Amaranth.

:class:`FlashModel` is ordinary synchronous gateware, so it runs in Amaranth's simulator and can
be compiled by Verilator together with a design. It samples ``sck`` every sync cycle and acts on
its edges (exact when the master drives ``sck`` from a register of the same clock, as
:class:`~xnorlearn.hw.flash.QspiFlashReader` does): inputs are sampled on the rising edge, outputs
change on the falling edge (visible the next cycle, like the flash's tCLQV), the first data bit
of a read after the falling edge of the last dummy (or address) clock.

Commands: ``0xAB`` release power-down (the model starts powered down unless ``asleep=False``;
the next CS must come ``t_res_cycles`` after its CS rise), ``0x06`` write enable, ``0x50`` write
enable for volatile status register, ``0x31`` write status register 2 (only QE is kept; applied
at CS high after exactly 8 data bits), ``0x05``/``0x35`` read status 1/2, ``0x03`` read,
``0x0B`` fast read (8 dummy clocks), ``0x3B`` fast read dual output (8 dummy clocks, data on
IO1/IO0), ``0x6B`` fast read quad output (8 dummy clocks, needs QE),
``0xEB`` fast read quad I/O (6 address + 2 mode clocks, 4 dummy clocks, needs QE; mode bits
``0bxx10xxxx`` — continuous read — are not modelled and are an error). Reads wrap at 2**24;
addresses past ``len(init)`` read ``0xFF``.

Status writes take effect at CS high with no BUSY time (a real non-volatile write after ``0x06``
takes milliseconds; the reader only uses the volatile ``0x50`` path, which is immediate).

Protocol violations set the sticky ``error`` and record the first one in ``error_code``
(:class:`FlashError`); after an error the model ignores clocks until CS falls.
"""

import enum

from amaranth import Cat, Const, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

__all__ = ["FlashModel", "FlashError", "connect_flash"]


class FlashError(enum.IntEnum):
    NONE = 0
    POWERED_DOWN = 1        # a command other than 0xAB while in deep power-down
    T_RES = 2               # CS asserted sooner than tRES1 after 0xAB
    UNKNOWN_COMMAND = 3
    QE_CLEAR = 4            # a quad command while QE = 0
    NOT_WRITE_ENABLED = 5   # 0x31 without 0x06 / 0x50 before it
    CS_MID_BYTE = 6         # CS fell with a byte (command, address, data) partly clocked
    CS_IN_DUMMY = 7         # CS fell before the dummy clocks were over: no data was read
    CONTINUOUS_MODE = 8     # 0xEB mode bits asked for continuous read (not modelled)
    CONTENTION = 9          # master and flash drive the same IO line
    UNDRIVEN = 10           # the flash samples an IO line nobody drives
    BAD_WRITE = 11          # 0x31 with other than 8 data bits


_CMD, _ADDR, _MODE, _DUMMY, _OUT, _WRSR, _NOP, _DEAD = range(8)


class FlashModel(wiring.Component):
    """SPI flash model (see the module docstring for the command set).

    Parameters
    ----------
    init : bytes
        Flash contents from address 0 (a memory of ``len(init)`` bytes).
    qe : bool
        Initial Quad Enable bit (W25Q128JV…IM parts ship with 0, …IQ parts with 1).
    asleep : bool
        Start in deep power-down, as the FPGA's configuration logic may leave the flash.
    t_res_cycles : int
        Minimum sync cycles from the CS rise of ``0xAB`` to the next CS fall.

    Attributes
    ----------
    sck, cs : In(1)
        From the master; ``cs`` active high (CS# inverted).
    io_i : In(4)
        IO0 … IO3 as on the board (master or flash or pull-up).
    io_i_oe : In(4)
        Lines the master drives (for the contention and undriven-line checks).
    io_o, io_oe : Out(4)
        What the flash drives (``io_oe`` is 0 while CS is high).
    error : Out(1)
        Sticky: a protocol violation was seen.
    error_code : Out(4)
        The first violation, a :class:`FlashError`.
    """

    def __init__(self, init, *, qe=False, asleep=True, t_res_cycles=0):
        self.init = bytes(init)
        if not self.init:
            raise ValueError("init must hold at least one byte")
        self.qe_init = bool(qe)
        self.asleep = bool(asleep)
        self.t_res_cycles = int(t_res_cycles)
        super().__init__({
            "sck": In(1), "cs": In(1), "io_i": In(4), "io_i_oe": In(4),
            "io_o": Out(4), "io_oe": Out(4),
            "error": Out(1), "error_code": Out(4),
        })

    def elaborate(self, platform):
        m = Module()
        size = len(self.init)
        m.submodules.mem = mem = Memory(shape=8, depth=size, init=list(self.init))
        rd = mem.read_port(domain="comb")

        sck_q = Signal()
        cs_q = Signal()
        m.d.sync += [sck_q.eq(self.sck), cs_q.eq(self.cs)]
        rise = self.cs & self.sck & ~sck_q
        fall = self.cs & ~self.sck & sck_q

        qe = Signal(init=self.qe_init)
        asleep = Signal(init=self.asleep)
        wel = Signal()              # 0x06 or 0x50 seen (cleared by the 0x31 that uses it)
        tres = Signal(range(self.t_res_cycles + 2))
        woke = Signal()             # this transaction was 0xAB

        phase = Signal(range(8))
        quad_in = Signal()          # input phase uses IO0-3
        count = Signal(range(33))   # clocks left in ADDR / MODE / DUMMY, or data bits of 0x31
        bitpos = Signal(3)          # bit position in the current byte (multiple of the width)
        sr = Signal(32)
        addr = Signal(24)
        next_after_addr = Signal(range(8))
        dummy_clocks = Signal(4)
        out_w = Signal(3)           # output lines: 1 (IO1), 2 (IO1/IO0) or 4
        out_status = Signal(2)      # 0: memory, 1: status 1, 2: status 2
        out_sr = Signal(8)
        out_left = Signal(4)        # bits of out_sr not yet driven
        oe = Signal(4)
        m.d.comb += self.io_oe.eq(Mux(self.cs, oe, 0))

        def fail(code):
            return [phase.eq(_DEAD), self.error.eq(1),
                    self.error_code.eq(Mux(self.error, self.error_code, code))]

        def decode(opcode):
            """Next phase after the 8th command bit."""
            nxt, dummy = next_after_addr, dummy_clocks
            out = [phase.eq(_OUT), out_left.eq(0), bitpos.eq(0)]
            with m.Switch(opcode):
                with m.Case(0xAB):
                    m.d.sync += [woke.eq(1), phase.eq(_NOP)]
                with m.Case(0x06, 0x50):
                    m.d.sync += [wel.eq(1), phase.eq(_NOP)]
                with m.Case(0x31):
                    with m.If(wel):
                        m.d.sync += [phase.eq(_WRSR), count.eq(0)]
                    with m.Else():
                        m.d.sync += fail(FlashError.NOT_WRITE_ENABLED)
                with m.Case(0x05, 0x35):
                    m.d.sync += [*out, out_w.eq(1),
                                 out_status.eq(Mux(opcode == 0x05, 1, 2))]
                with m.Case(0x03, 0x0B, 0x3B, 0x6B):
                    m.d.sync += [phase.eq(_ADDR), count.eq(24), quad_in.eq(0), out_status.eq(0),
                                 nxt.eq(Mux(opcode == 0x03, _OUT, _DUMMY)), dummy.eq(8),
                                 out_w.eq(Mux(opcode == 0x6B, 4, Mux(opcode == 0x3B, 2, 1)))]
                    with m.If((opcode == 0x6B) & ~qe):
                        m.d.sync += fail(FlashError.QE_CLEAR)
                with m.Case(0xEB):
                    with m.If(~qe):
                        m.d.sync += fail(FlashError.QE_CLEAR)
                    with m.Else():
                        m.d.sync += [phase.eq(_ADDR), count.eq(6), quad_in.eq(1),
                                     out_status.eq(0), nxt.eq(_MODE), dummy.eq(4),
                                     out_w.eq(4)]
                with m.Default():
                    m.d.sync += fail(FlashError.UNKNOWN_COMMAND)

        # --- continuous checks
        with m.If(tres != 0):
            m.d.sync += tres.eq(tres - 1)
        with m.If(self.cs & (self.io_oe & self.io_i_oe).any()):
            m.d.sync += fail(FlashError.CONTENTION)
        with m.If(self.cs & ~cs_q & (tres != 0)):
            m.d.sync += fail(FlashError.T_RES)

        # --- deselect: finish or check the transaction, reset the command state
        with m.If(~self.cs & cs_q):
            m.d.sync += [phase.eq(_CMD), bitpos.eq(0), oe.eq(0), count.eq(0), woke.eq(0),
                         quad_in.eq(0)]
            with m.If(woke):
                m.d.sync += [asleep.eq(0), tres.eq(max(self.t_res_cycles - 1, 0))]
            with m.If(phase == _WRSR):
                with m.If(count == 8):
                    m.d.sync += [qe.eq(sr[1]), wel.eq(0)]
                with m.Else():
                    m.d.sync += fail(FlashError.BAD_WRITE)
            with m.Elif(phase == _DUMMY):
                m.d.sync += fail(FlashError.CS_IN_DUMMY)
            with m.Elif((phase != _DEAD) & ((bitpos != 0) | (phase == _ADDR) | (phase == _MODE))):
                m.d.sync += fail(FlashError.CS_MID_BYTE)

        # --- rising edge: sample the inputs
        sr_next = Mux(quad_in, Cat(self.io_i, sr[:28]), Cat(self.io_i[0], sr[:31]))
        lines = Mux(quad_in, 0b1111, 0b0001)
        sampling = (phase == _CMD) | (phase == _ADDR) | (phase == _MODE) | (phase == _WRSR)
        with m.If(rise & (phase != _DEAD)):
            width = Mux(quad_in, 4, Mux(phase == _OUT, out_w, 1))
            m.d.sync += [sr.eq(sr_next), bitpos.eq(bitpos + width)]
            with m.If(sampling & ((lines & ~self.io_i_oe) != 0)):
                m.d.sync += fail(FlashError.UNDRIVEN)
            with m.Elif(phase == _CMD):
                with m.If(bitpos == 7):
                    opcode = Cat(self.io_i[0], sr[:7])
                    with m.If(asleep & (opcode != 0xAB)):
                        m.d.sync += fail(FlashError.POWERED_DOWN)
                    with m.Else():
                        decode(opcode)
            with m.Elif((phase == _ADDR) | (phase == _MODE) | (phase == _DUMMY)):
                m.d.sync += count.eq(count - 1)
                with m.If(count == 1):
                    with m.If(phase == _ADDR):
                        m.d.sync += addr.eq(sr_next[:24])
                        with m.If(next_after_addr == _MODE):
                            m.d.sync += [phase.eq(_MODE), count.eq(2)]
                        with m.Elif(next_after_addr == _DUMMY):
                            m.d.sync += [phase.eq(_DUMMY), count.eq(dummy_clocks)]
                        with m.Else():
                            m.d.sync += [phase.eq(_OUT), out_left.eq(0), bitpos.eq(0)]
                    with m.Elif(phase == _MODE):
                        with m.If(sr_next[4:6] == 0b10):
                            m.d.sync += fail(FlashError.CONTINUOUS_MODE)
                        with m.Else():
                            m.d.sync += [phase.eq(_DUMMY), count.eq(dummy_clocks),
                                         quad_in.eq(0)]
                    with m.Else():
                        m.d.sync += [phase.eq(_OUT), out_left.eq(0), bitpos.eq(0)]
            with m.Elif(phase == _WRSR):
                m.d.sync += count.eq(count + 1)

        # --- falling edge: drive the next output bits
        m.d.comb += rd.addr.eq(addr)
        status = Mux(out_status == 1, Cat(Const(0, 1), wel, Const(0, 6)),
                     Cat(Const(0, 1), qe, Const(0, 6)))
        byte = Mux(out_status != 0, status, Mux(addr < size, rd.data, 0xFF))

        def lines_out(v):           # the top bits of v on IO0-3, IO1/IO0 or IO1
            return Mux(out_w == 4, v[4:8], Mux(out_w == 2, Cat(v[6], v[7], Const(0, 2)),
                                               Cat(Const(0, 1), v[7], Const(0, 2))))

        def shifted(v):
            return Mux(out_w == 4, v << 4, Mux(out_w == 2, v << 2, v << 1))

        with m.If(fall & (phase == _OUT)):
            with m.If(out_left == 0):
                m.d.sync += [out_sr.eq(shifted(byte)), out_left.eq(8 - out_w),
                             self.io_o.eq(lines_out(byte)),
                             oe.eq(Mux(out_w == 4, 0b1111, Mux(out_w == 2, 0b0011, 0b0010)))]
                with m.If(out_status == 0):
                    m.d.sync += addr.eq(addr + 1)
            with m.Else():
                m.d.sync += [out_sr.eq(shifted(out_sr)), out_left.eq(out_left - out_w),
                             self.io_o.eq(lines_out(out_sr))]
        return m


def connect_flash(m, reader, model, pullup=0b1111):
    """Wire a :class:`~xnorlearn.hw.flash.QspiFlashReader` to a :class:`FlashModel` in ``m``:
    each IO line carries the flash's value where it drives, else the reader's, else the
    pull-up (``pullup`` bit set) or 0."""
    bus = Signal(4)
    m.d.comb += [
        bus.eq((model.io_o & model.io_oe) | (reader.io_o & reader.io_oe & ~model.io_oe)
               | (pullup & ~model.io_oe & ~reader.io_oe)),
        reader.io_i.eq(bus), model.io_i.eq(bus), model.io_i_oe.eq(reader.io_oe),
        model.sck.eq(reader.sck), model.cs.eq(reader.cs),
    ]
    return bus
