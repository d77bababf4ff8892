"""Connects :class:`~xnorlearn.hw.sdram.SdramStore` to the ULX3S SDRAM (ECP5, amaranth-boards
``sdram`` resource: MT48LC16M16A2 or AS4C16M16SB on the v3 boards).

Every command, address, DQM and DQ output goes through the IO cell's output register
(``io.FFBuffer``, ECP5 ``OFS1P3DX``; DQ's output enable too) and DQ comes back through its
input register (``IFS1P3DX``). The SDRAM clock is the sync clock *inverted*, made by an
``io.DDRBuffer`` (``ODDRX1F``) sending 0 then 1 each cycle: the same kind of IO register as the
command pins, so both leave the FPGA with about the same clock-to-pad delay t_o.

Timing at T = 16.7 ns (60 MHz) / 15.4 ns (65 MHz); data sheet: input setup tIS 1.5 ns, hold
tIH 0.8 ns, output valid tAC(CL2) ≤ 6 ns (AS4C -6, MT -75; -7E 5.4), output hold tOH ≥ 2.7 ns;
t_o ≈ 3–5 ns (ECP5 IO register to pad), t_b ≈ 1 ns (clock trace out plus data trace back):

* commands and write data change t_o after a rising sync edge; the SDRAM samples them at its
  rising edge, t_o after the *falling* sync edge: setup ≈ T/2 = 8.3 / 7.7 ns ≥ 1.5, hold ≈ T/2
  ≥ 0.8, whatever the (few ns) skew between the pins. An in-phase clock would put the command
  edges right on the SDRAM clock edge: hold ≈ 0 < tIH, hence the inversion.
* read data: the SDRAM edge that executes a READ is T/2 + t_o after the sync edge that
  registered it; the word is valid from (CL - 1)·T + tAC + t_b to CL·T + tOH + t_b after that
  SDRAM edge, and the DQ input register samples it at the sync edge CL + 1 periods after the
  registering one. Setup margin 1.5·T - t_o - tAC - t_b ≈ 10–12 ns; hold margin
  t_o + tOH + t_b - T/2 ≈ -1.6…+0.4 ns at 60 MHz, -1…+1 ns at 65 MHz (the edge before misses
  setup by more). **This read hold margin is the weak spot of the arrangement and is not
  verified on a board**: if reads return the next word, delay DQ into the FPGA (ECP5
  ``DELAYG``), capture it on the falling sync edge (``IDDRX1F``: ≈ 5 ns on both sides, but
  a ``read_delay`` that depends on the DDR primitives' pipeline), or clock the SDRAM from a
  phase-shifted PLL output instead of the inverted sync clock.

So a READ the controller puts out in cycle n is registered at the end of n, executed half a
cycle later, and its word is in the DQ input register during cycle n + CL + 2: the
controller's ``read_delay`` must be :data:`~xnorlearn.hw.sdram.BOARD_READ_DELAY` (2; checked).
CS#, RAS#, CAS#, WE# are inverted by the resource (``PinsN``). While the FPGA configures the
pins float (the resource has no pull-ups); the controller's power-up wait (NOPs, CKE high)
comes after that, as the data sheets' initialisation asks.
"""

from amaranth import Elaboratable, Module
from amaranth.lib import io

from ..hw.sdram import BOARD_READ_DELAY

__all__ = ["SdramPins", "RESOURCE"]

RESOURCE = "sdram"


class SdramPins(Elaboratable):
    """Connects an :class:`~xnorlearn.hw.sdram.SdramStore`'s pins to the platform's ``sdram``
    resource 0 (see the module docstring for the clocking and the registers).

    Parameters
    ----------
    sdram : SdramPinSignature interface
        The controller's ``sdram`` pins (or a port they are wired to, as
        :class:`~xnorlearn.hw.top.TrainerTop`'s ``sdram``).
    read_delay : int
        The controller's ``read_delay``; must be :data:`~xnorlearn.hw.sdram.BOARD_READ_DELAY`.
    """

    def __init__(self, sdram, read_delay):
        if read_delay != BOARD_READ_DELAY:
            raise ValueError(f"the ULX3S pins need read_delay={BOARD_READ_DELAY}, the store has "
                             f"{read_delay}")
        self.sdram = sdram

    def elaborate(self, platform):
        m = Module()
        s = self.sdram
        pins = platform.request(RESOURCE, 0, dir="-")

        m.submodules.clk_buf = clk = io.DDRBuffer("o", pins.clk)
        m.d.comb += [clk.o[0].eq(0), clk.o[1].eq(1)]    # low in the first half: inverted

        outputs = [("clk_en", s.cke), ("cs", ~s.cs_n), ("ras", ~s.ras_n), ("cas", ~s.cas_n),
                   ("we", ~s.we_n), ("ba", s.ba), ("a", s.a), ("dqm", s.dqm)]
        for name, value in outputs:
            m.submodules[f"{name}_buf"] = buf = io.FFBuffer("o", getattr(pins, name))
            m.d.comb += buf.o.eq(value)

        m.submodules.dq_buf = dq = io.FFBuffer("io", pins.dq)
        m.d.comb += [dq.o.eq(s.dq_o), dq.oe.eq(s.dq_oe), s.dq_i.eq(dq.i)]
        return m
