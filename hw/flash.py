"""Reader of the board's SPI flash: streams bytes of the dataset image stored behind the bitstream.

:class:`QspiFlashReader` is an SPI master (mode 0: SCK idles low; the flash samples on the rising
edge and shifts out on the falling edge) for the JEDEC command set common to Winbond W25Q, ISSI
IS25LP, Spansion S25FL1 and similar 3-byte-address flashes. Every read is one transaction from ``cs`` rise to ``cs`` fall:

* ``mode="quad"``: Fast Read Quad I/O, ``0xEB`` on IO0 (8 clocks), the address on IO0-3
  (6 clocks), mode bits ``0xFF`` (2 clocks; not ``0bxx10xxxx``, so the flash never enters
  "continuous read"), 4 dummy clocks with the lines released, then 2 clocks per byte;
* ``mode="dual"``: Fast Read Dual Output, ``0x3B`` and the address on IO0 (32 clocks), 8 dummy
  clocks with IO0 released, then 4 clocks per byte on IO1/IO0 (needs no QE bit, only IO0/IO1);
* ``mode="single"``: Fast Read, ``0x0B`` and the address on IO0 (32 clocks), 8 dummy clocks,
  then 8 clocks per byte on IO1.

After reset the reader sends Release Power-down ``0xAB`` (the configuration logic may have left
the flash in deep power-down) and waits tRES1 = 3 µs. In quad mode with ``set_qe`` (default) it
then sets the Quad Enable bit *volatilely*, as Winbond parts allow: Write Enable for Volatile
Status Register ``0x50``, then Write Status Register-2 ``0x31`` with ``0x02`` (QE, all else 0).
That write wears nothing, needs no busy polling and is lost at power-off, so the flash keeps
its factory configuration. Flashes without ``0x50``/``0x31`` (ISSI keeps QE in status
register 1) must have QE set non-volatilely by whoever writes the image; use ``set_qe=False``
there, or ``mode="dual"``.

The reader samples IO at the end of each SCK high half (the sync edge that makes SCK fall):
the flash shifts out on the falling edge, so a whole SCK period is left for its clock-to-output
time (tCLQV ≤ 7 ns) and the pad and board delays: 33 ns at 60 MHz with ``divisor=1``.

While ``data.ready`` is low the reader stops SCK (SPI flash allows any clock pause) once the
byte being received and the one offered are both full, so no byte is ever lost.
"""

import math

from amaranth import Cat, Const, Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["QspiFlashReader", "read_command_layout"]


def read_command_layout():
    """``cmd`` payload: read ``length`` (≥ 1) bytes from byte address ``addr``."""
    return data.StructLayout({"addr": 24, "length": 16})


T_RES1_S = 3e-6        # Release Power-down -> next command (W25Q128JV: tRES1 = 3 µs)
T_SHSL_S = 50e-9       # CS deselect time between commands (tSHSL1 = 50 ns, the longest one)


class QspiFlashReader(wiring.Component):
    """Streams ``length`` bytes from byte address ``addr`` of an SPI flash.

    Parameters
    ----------
    mode : "quad", "dual" or "single"
        Fast Read Quad I/O (``0xEB``, 2 SCK clocks per byte), Fast Read Dual Output (``0x3B``,
        4 per byte) or Fast Read (``0x0B``, 8 per byte).
    divisor : int
        Sync cycles per SCK half period (≥ 1): SCK = sync clock / (2 · ``divisor``).
        ``divisor=1`` gives a byte every 4 sync cycles in quad mode.
    clk_hz : float
        Sync clock frequency; sets the power-up wait (tRES1) and the CS deselect time.
    set_qe : bool or None
        Quad mode: set QE volatilely at power-up (Winbond ``0x50`` + ``0x31``). Default: True in
        quad mode; never done in the other modes.

    Attributes
    ----------
    cmd : In(stream.Signature(read_command_layout()))
        A read request; taken (``ready``) only when the reader is idle. ``length = 0`` is taken
        and ignored.
    data : Out(stream.Signature(8))
        The bytes read, in address order, exactly ``length`` of them per request.
    busy : Out(1)
        High from reset until the power-up sequence is done, and from a ``cmd`` handshake until
        its last byte has been taken.
    sck : Out(1)
        SPI clock (ECP5 boards route it through ``USRMCLK``).
    cs : Out(1)
        Chip select, active high (the pin is CS#; the board glue inverts).
    io_o, io_oe : Out(4)
        Output value and output enable of IO0 (MOSI) … IO3 (HOLD#). IO2/IO3 are driven high
        during every one-line phase (always, in single and dual mode), so the flash's WP#/HOLD#
        functions stay inactive while QE is clear; IO1 (MISO) is only driven in quad mode.
        Boards whose WP#/HOLD# do not reach the FPGA leave IO2/IO3 unconnected.
    io_i : In(4)
        Pin values of IO0 … IO3 (IO1 = MISO).
    """

    def read_phases(self):
        """(state name, on IO0-3?, clocks) of the phases between opcode and data; the address
        phase sends the address (quad: then the mode bits), the others release the lines."""
        if self.mode == "quad":
            return [("ADDR", True, 8), ("DUMMY", True, 4)]      # 6 address + 2 mode clocks
        return [("ADDR", False, 24), ("DUMMY", False, 8)]

    READ_OPCODE = {"quad": 0xEB, "dual": 0x3B, "single": 0x0B}
    RELEASE_OE = {"quad": 0b0000, "dual": 0b1100, "single": 0b1101}   # io_oe in dummy and data
    DATA_LINES = {"quad": 4, "dual": 2, "single": 1}

    def __init__(self, *, mode="quad", divisor=1, clk_hz=60e6, set_qe=None):
        if mode not in self.READ_OPCODE:
            raise ValueError(f"mode must be 'quad', 'dual' or 'single', got {mode!r}")
        if isinstance(divisor, bool) or not isinstance(divisor, int) or divisor < 1:
            raise ValueError(f"divisor must be an integer ≥ 1, got {divisor!r}")
        self.mode = mode
        self.divisor = divisor
        self.clk_hz = float(clk_hz)
        self.set_qe = (mode == "quad") if set_qe is None else bool(set_qe) and mode == "quad"
        self.t_res_cycles = max(1, math.ceil(T_RES1_S * self.clk_hz))
        self.gap_cycles = max(1, math.ceil(T_SHSL_S * self.clk_hz))
        super().__init__({
            "cmd": In(stream.Signature(read_command_layout())),
            "data": Out(stream.Signature(8)),
            "busy": Out(1, init=1),
            "sck": Out(1),
            "cs": Out(1),
            "io_o": Out(4),
            "io_oe": Out(4),
            "io_i": In(4),
        })

    def init_sequence(self):
        """Power-up commands on IO0: (state name, clocks, bits, cycles with CS high after)."""
        seq = [("WAKE", 8, 0xAB, self.t_res_cycles)]
        if self.set_qe:
            seq += [("WVSR", 8, 0x50, self.gap_cycles), ("WRSR2", 16, 0x3102, self.gap_cycles)]
        return seq

    def elaborate(self, platform):
        m = Module()
        lines = self.DATA_LINES[self.mode]
        one_line_oe = 0b1101                            # IO0, and WP#/HOLD# held high

        # --- SCK generator: a tick every `divisor` cycles; `go` lets the state ask for clocks.
        sck, go = self.sck, Signal()
        tick = Signal()
        if self.divisor == 1:
            m.d.comb += tick.eq(1)
        else:
            div = Signal(range(self.divisor))
            m.d.comb += tick.eq(div == self.divisor - 1)
            m.d.sync += div.eq(Mux(tick, 0, div + 1))
        rise = tick & ~sck & go
        fall = tick & sck
        with m.If(rise):
            m.d.sync += sck.eq(1)
        with m.Elif(fall):
            m.d.sync += sck.eq(0)

        clocks = Signal(range(33))                      # clocks left in the current phase
        with m.If(fall):
            m.d.sync += clocks.eq(clocks - 1)
        last = fall & (clocks == 1)

        def phase(is_quad, n, drive=True):
            """Start a phase of `n` clocks on IO0 or IO0-3, driving the lines or releasing them."""
            oe = (0b1111 if is_quad else one_line_oe) if drive else self.RELEASE_OE[self.mode]
            return [clocks.eq(n), self.io_oe.eq(oe)]

        # --- What goes out: commands are constants, bit `clocks - 1` on IO0 (MSB first); the
        # address shifts out of `sr_a`, and the ones shifting in are the quad mode bits.
        const_bit = Signal()
        in_addr = Signal()
        sr_a = Signal(24)
        a_lines = 4 if self.mode == "quad" else 1
        with m.If(fall & in_addr):
            m.d.sync += sr_a.eq(Cat(Const(2 ** a_lines - 1, a_lines), sr_a[:24 - a_lines]))
        addr_out = sr_a[20:] if a_lines == 4 else Cat(sr_a[23], Const(0b110, 3))
        m.d.comb += self.io_o.eq(Mux(in_addr, addr_out, Cat(const_bit, Const(0b110, 3))))

        def send(n, bits):                              # in a state sending a constant
            m.d.comb += const_bit.eq(Const(bits << 1, n + 1).bit_select(clocks, 1))

        # --- Input shifter and output byte register (the `data` stream's payload).
        sr_i = Signal(8)
        samples = 8 // lines                            # samples per byte
        nib = Signal(range(samples))
        full = Signal()                                 # sr_i holds a byte not yet handed over
        can_take = ~self.data.valid | self.data.ready
        with m.If(self.data.ready):
            m.d.sync += self.data.valid.eq(0)
        with m.If(full & can_take):
            m.d.sync += [self.data.payload.eq(sr_i), self.data.valid.eq(1), full.eq(0)]

        left = Signal(16)
        wait = Signal(range(max(self.t_res_cycles, self.gap_cycles) + 1))
        m.d.comb += self.busy.eq(1)

        with m.FSM(init="RESET"):
            # Power-up: each command, then `after` cycles with CS high.
            seq = self.init_sequence()
            with m.State("RESET"):
                m.d.sync += [*phase(False, seq[0][1]), self.cs.eq(1)]
                m.next = seq[0][0]
            for i, (name, n, bits, after) in enumerate(seq):
                with m.State(name):
                    m.d.comb += go.eq(1)
                    send(n, bits)
                    with m.If(last):
                        m.d.sync += [self.cs.eq(0), wait.eq(after - 1)]
                        m.next = f"{name}_WAIT"
                with m.State(f"{name}_WAIT"):
                    with m.If(wait != 0):
                        m.d.sync += wait.eq(wait - 1)
                    with m.Else():
                        if i + 1 < len(seq):
                            m.d.sync += [*phase(False, seq[i + 1][1]), self.cs.eq(1)]
                            m.next = seq[i + 1][0]
                        else:
                            m.next = "IDLE"

            # Reads: opcode, the address phase (driving the lines), the later ones (releasing
            # them), then DATA until `length` bytes are in.
            phases = self.read_phases()
            with m.State("IDLE"):
                m.d.comb += [self.cmd.ready.eq(1), self.busy.eq(self.data.valid | full)]
                with m.If(self.cmd.valid & (self.cmd.payload.length != 0)):
                    m.d.sync += [sr_a.eq(self.cmd.payload.addr), left.eq(self.cmd.payload.length),
                                 *phase(False, 8), self.cs.eq(1)]
                    m.next = "OPCODE"
            names = ["OPCODE"] + [name for name, _, _ in phases]
            for k, state in enumerate(names):
                with m.State(state):
                    m.d.comb += go.eq(1)
                    if state == "OPCODE":
                        send(8, self.READ_OPCODE[self.mode])
                    m.d.comb += in_addr.eq(state == "ADDR")
                    with m.If(last):
                        if k + 1 < len(names):
                            name, q, n = phases[k]
                            m.d.sync += phase(q, n, drive=name == "ADDR")
                            m.next = names[k + 1]
                        else:
                            m.d.sync += nib.eq(0)
                            m.next = "DATA"
            with m.State("DATA"):
                m.d.comb += go.eq(~full | can_take)
                with m.If(fall):
                    # single: IO1; dual: IO1 IO0 (IO1 = the higher bit); quad: IO3 … IO0
                    sample = self.io_i[1] if lines == 1 else self.io_i[:lines]
                    m.d.sync += sr_i.eq(Cat(sample, sr_i[:8 - lines]))
                    m.d.sync += nib.eq(nib + 1)
                    with m.If(nib == samples - 1):
                        m.d.sync += [nib.eq(0), full.eq(1), left.eq(left - 1)]
                        with m.If(left == 1):
                            m.d.sync += [self.cs.eq(0), wait.eq(self.gap_cycles - 1)]
                            m.next = "FINISH"
            with m.State("FINISH"):                     # CS high for tSHSL
                with m.If(wait != 0):
                    m.d.sync += wait.eq(wait - 1)
                with m.Else():
                    m.next = "IDLE"
        return m
