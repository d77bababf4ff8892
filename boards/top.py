"""Board top level: clocking (PLL / oscillator), reset synchroniser, UART pins, status LEDs and
the trainer (:class:`~xnorlearn.hw.top.TrainerTop`).

``BoardTop(board, cfg)`` is elaborated by the board's amaranth-boards platform. It creates the
``sync`` domain itself at ``board.core_hz``:

* iCE40 with a pin oscillator: ``SB_PLL40_PAD`` on the clock pad (SIMPLE feedback);
* UPduino v3: the internal 48 MHz ``SB_HFOSC`` into ``SB_PLL40_CORE`` (no external clock
  needed);
* ECP5: ``EHXPLLL`` with CLKOP feedback.

Reset is the PLL's ``LOCK`` (low = reset) through a :class:`~amaranth.lib.cdc.ResetSynchronizer`;
the UART input goes through a two-flop synchroniser. LEDs: busy, heartbeat (~1 Hz) and, where
the board has a third one, PLL lock.
"""

from __future__ import annotations

import functools

from amaranth import ClockDomain, Const, Elaboratable, Instance, Module, Signal
from amaranth.build import Attrs
from amaranth.lib import io
from amaranth.lib.cdc import FFSynchronizer, ResetSynchronizer
from amaranth_boards.resources import UARTResource

from ..hw.top import TrainerTop
from .pll import ecp5_pll, ice40_pll

__all__ = ["BoardTop", "make_platform", "bank_class"]


def bank_class(board, cfg, bank=None, row_words=None):
    """The counter-bank class of ``bank`` (default: the board's) for ``cfg`` on ``board``:
    ``"bram"`` → :class:`~xnorlearn.hw.counters.CounterBank`, ``"bram-rows"`` →
    :class:`~xnorlearn.hw.counters.PipelinedCounterBank` with rows one block-RAM aspect ratio
    deep (the fit check's choice, or ``row_words``), ``"spram"`` →
    :class:`~xnorlearn.hw.spram.SpramCounterBank`."""
    bank = bank or board.bank
    if bank == "spram":
        from ..hw.spram import SpramCounterBank
        return SpramCounterBank
    if bank == "bram-rows":
        from ..hw.counters import PipelinedCounterBank
        from .fit import counter_row_words
        return functools.partial(PipelinedCounterBank,
                                 row_words=row_words or counter_row_words(cfg, board.family))
    from ..hw.counters import CounterBank
    return CounterBank


def make_platform(board, **kwargs):
    """The board's amaranth-boards platform plus the UART resource where the board lacks one."""
    plat = board.platform(**kwargs)
    try:
        plat.lookup("uart", 0)
        has_uart = True
    except Exception:
        has_uart = False
    if not has_uart:
        rx, tx, _ = board.uart
        if board.family == "ice40":
            attrs = Attrs(IO_STANDARD="SB_LVCMOS", PULLUP=1)
        else:
            attrs = Attrs(IO_TYPE="LVCMOS33", PULLMODE="UP")
        plat.add_resources([UARTResource(0, rx=rx, tx=tx, attrs=attrs)])
    return plat


class BoardTop(Elaboratable):
    """The board design: clocking, reset, UART pins, LEDs and the trainer; with ``store=True``
    also the data store (docs/host-protocol.md), in ``board.store_medium``: a
    :class:`~xnorlearn.hw.store.StoreRunner` reading the image at ``board.store_offset`` of
    the board's configuration flash through a :class:`~xnorlearn.hw.flash.QspiFlashReader` in
    the board's mode (:mod:`xnorlearn.boards.flash_pins`), or, on ``"sdram"``, from the start
    of the board's SDRAM through an :class:`~xnorlearn.hw.sdram.SdramStore`
    (:mod:`xnorlearn.boards.sdram_pins`), which the host fills with STORE_WRITE."""

    def __init__(self, board, cfg, bank_cls=None, state=None, store=False):
        self.board = board
        self.cfg = cfg
        self.bank_cls = bank_cls if bank_cls is not None else bank_class(board, cfg)
        params = None
        if store and board.store_medium == "sdram":
            from ..hw.sdram import SdramStore
            from ..hw.store import StoreParams
            params = StoreParams(0, lambda: SdramStore(board.core_hz), board.store_slots,
                                 board.store_lutram, writable=True,
                                 capacity=board.sdram_store_bytes)
        elif store:
            from ..hw.store import StoreParams
            from .flash_pins import flash_reader
            params = StoreParams(board.store_offset, lambda: flash_reader(board),
                                 board.store_slots, board.store_lutram)
        self.trainer = TrainerTop(cfg, bank_cls=self.bank_cls, state=state, store=params)

    # ------------------------------------------------------------------ clocking
    def _clock(self, m, platform):
        board = self.board
        clk = Signal(name="core_clk")
        lock = Signal(name="pll_lock")
        if board.family == "ice40":
            if board.clock == "hfosc":
                # internal 48 MHz oscillator -> SB_PLL40_CORE (reference from the fabric)
                hf = Signal(name="hfosc_clk")
                m.submodules.hfosc = Instance("SB_HFOSC", p_CLKHF_DIV="0b00", i_CLKHFEN=1,
                                              i_CLKHFPU=1, o_CLKHF=hf)
                kind, reference = "SB_PLL40_CORE", {"i_REFERENCECLK": hf}
            else:
                pad = platform.request(platform.default_clk, dir="-")
                kind, reference = "SB_PLL40_PAD", {"i_PACKAGEPIN": pad.io}
            p = ice40_pll(board.osc_hz / 1e6, board.core_hz / 1e6)
            m.submodules.pll = Instance(
                kind, p_FEEDBACK_PATH="SIMPLE",
                p_DIVR=Const(p.divr, 4), p_DIVF=Const(p.divf, 7), p_DIVQ=Const(p.divq, 3),
                p_FILTER_RANGE=Const(p.filter_range, 3), **reference,
                i_RESETB=Const(1), i_BYPASS=Const(0), o_PLLOUTGLOBAL=clk, o_LOCK=lock)
        else:
            p = ecp5_pll(board.osc_hz / 1e6, board.core_hz / 1e6)
            m.submodules.clk_buf = clk_buf = io.Buffer(
                "i", platform.request(platform.default_clk, dir="-"))
            clk_in = clk_buf.i
            m.submodules.pll = Instance(
                "EHXPLLL",
                a_FREQUENCY_PIN_CLKI=f"{board.osc_hz / 1e6:g}",
                a_FREQUENCY_PIN_CLKOP=f"{p.f_out:g}",
                a_ICP_CURRENT="12", a_LPF_RESISTOR="8", a_MFG_ENABLE_FILTEROPAMP="1",
                a_MFG_GMCREF_SEL="2",
                p_PLLRST_ENA="DISABLED", p_INTFB_WAKE="DISABLED", p_STDBY_ENABLE="DISABLED",
                p_DPHASE_SOURCE="DISABLED", p_OUTDIVIDER_MUXA="DIVA",
                p_OUTDIVIDER_MUXB="DIVB", p_OUTDIVIDER_MUXC="DIVC", p_OUTDIVIDER_MUXD="DIVD",
                p_CLKI_DIV=p.clki_div, p_CLKOP_ENABLE="ENABLED", p_CLKOP_DIV=p.clkop_div,
                p_CLKOP_CPHASE=p.clkop_cphase, p_CLKOP_FPHASE=0, p_FEEDBK_PATH="CLKOP",
                p_CLKFB_DIV=p.clkfb_div,
                i_RST=0, i_STDBY=0, i_CLKI=clk_in, o_CLKOP=clk, i_CLKFB=clk,
                i_PHASESEL0=0, i_PHASESEL1=0, i_PHASEDIR=1, i_PHASESTEP=1,
                i_PHASELOADREG=1, i_PLLWAKESYNC=0, i_ENCLKOP=0, o_LOCK=lock)
        m.domains.sync = cd = ClockDomain("sync")
        m.d.comb += cd.clk.eq(clk)
        platform.add_clock_constraint(clk, board.core_hz)
        m.submodules.rst_sync = ResetSynchronizer(~lock, domain="sync")
        return lock

    def _leds(self, m, platform):
        """(busy, heartbeat, lock) output signals, or None where the board has no LED."""
        b = self.board
        if b.name.startswith(("upduino", "orangecrab")):
            rgb = platform.request("rgb_led", 0, dir="-")
            ports = [rgb.r, rgb.g, rgb.b]
        else:
            ports = []
            for i in range(3):
                try:
                    ports.append(platform.request("led", i, dir="-"))
                except Exception:
                    ports.append(None)
        outs = []
        for i, port in enumerate(ports):
            if port is None:
                outs.append(None)
                continue
            m.submodules[f"led{i}_buf"] = buf = io.Buffer("o", port)
            outs.append(buf.o)
        return tuple(outs)

    def elaborate(self, platform):
        m = Module()
        lock = self._clock(m, platform)
        m.submodules.trainer = t = self.trainer
        uart = platform.request("uart", 0, dir="-")
        m.submodules.rx_buf = rx_buf = io.Buffer("i", uart.rx)
        m.submodules.tx_buf = tx_buf = io.Buffer("o", uart.tx)
        m.submodules.rx_sync = FFSynchronizer(rx_buf.i, t.uart_rx, init=1)
        m.d.comb += tx_buf.o.eq(t.uart_tx)
        if t.store is not None and self.board.store_medium == "sdram":
            from .sdram_pins import SdramPins
            m.submodules.sdram_pins = SdramPins(t.sdram, t.reader.read_delay)
        elif t.store is not None:
            from .flash_pins import FlashPins
            m.submodules.flash_pins = FlashPins(t.flash_pins(), self.board)

        busy_led, beat_led, lock_led = self._leds(m, platform)
        beat = Signal(range(int(self.board.core_hz)))
        m.d.sync += beat.eq(beat + 1)
        if busy_led is not None:
            m.d.comb += busy_led.eq(t.busy)
        if beat_led is not None:
            m.d.comb += beat_led.eq(beat[-1])
        if lock_led is not None and self.board.family == "ecp5" \
                and not self.board.name.startswith("orangecrab"):
            m.d.comb += lock_led.eq(lock)
        return m
