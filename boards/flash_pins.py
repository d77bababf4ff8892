"""The configuration flash of each board as a data store: pins, mode, size, where the store starts.

:data:`FLASH` holds per-board facts (:class:`FlashFacts`); :func:`add_flash_resource` adds a
``store_flash`` resource with exactly the pins the reader uses (CS#, SCK where it is a user pin,
IO0-IO3 or IO0-IO1), independent of how amaranth-boards describes the flash; :class:`FlashPins`
connects a :class:`~xnorlearn.hw.flash.QspiFlashReader` to it.

SCK: on iCE40 it is an ordinary I/O after configuration (SG48 pin 15). On ECP5 it is the
dedicated configuration clock pin (MCLK/CCLK), reachable only through the ``USRMCLK`` primitive,
so the ECP5 resources have no clock subsignal.

Offsets are 64 KiB aligned and leave room for the largest *uncompressed* bitstream of the device
(the project builds compressed ones, so there is margin): UP5K 104 090 bytes; ECP5 25F about
0.6 MB, 45F about 1.1 MB, 85F about 2.3 MB (compressed builds here: 374 KB, 629 KB, 943 KB).

Sources: pin numbers from amaranth-boards 0.0.21 (``icebreaker.py``, ``upduino_v3.py``,
``ulx3s.py``, ``orangecrab_r0_2.py``: ``SPIFlashResources``/``spi_flash``), cross-checked with the
LiteX platforms of the ULX3S (``spiflash4x``: cs R2, dq W2 V2 Y2 W1, clock "through USRMCLK") and
the OrangeCrab (``spiflash4x``: cs U17, dq U18 T18 R18 N18, U16 = MCLK left to USRMCLK).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from amaranth import Elaboratable, Instance, Module
from amaranth.build import Attrs, Pins, PinsN, Resource, ResourceError, Subsignal
from amaranth.lib import io

from .registry import BOARDS, get_board

__all__ = ["FlashFacts", "FLASH", "flash_facts", "flash_resource", "add_flash_resource",
           "flash_reader", "FlashPins", "RESOURCE", "with_flash_mode", "FLASH_MODES"]

RESOURCE = "store_flash"
MiB = 1 << 20


@dataclass(frozen=True)
class FlashFacts:
    """The flash of one board.

    ``mode``: the :class:`~xnorlearn.hw.flash.QspiFlashReader` mode to use (``"quad"`` needs
    IO0-IO3 and QE, ``"dual"`` IO0/IO1 only); ``set_qe``: the reader sets QE volatilely
    (Winbond ``0x50`` + ``0x31``); ``size``: flash bytes (the smallest fitted, where it varies);
    ``offset``: first byte of the dataset image; ``cs``/``sck``/``io``: FPGA pins (``sck=None``:
    ECP5 MCLK via ``USRMCLK``; ``io`` = IO0 (MOSI), IO1 (MISO)[, IO2 (WP#), IO3 (HOLD#)]).
    Mode, size, offset and chip are the board record's (``boards/registry.py``); the pins and
    the QE rule live here.
    """
    mode: str
    set_qe: bool
    size: int
    offset: int
    cs: str
    sck: str | None
    io: tuple
    chip: str
    notes: str = ""

    @property
    def capacity(self):
        """Bytes available to the dataset image."""
        return self.size - self.offset


_ICE40_SG48 = dict(cs="16", sck="15")          # SPI_SS_B, SPI_SCK; SPI_SO 14 = IO0, SPI_SI 17 = IO1
_ULX3S = dict(cs="R2", sck=None, io=("W2", "V2", "Y2", "W1"), set_qe=False,
              notes="dual reads (0x3B, IO0/IO1, no QE needed) by default. Quad reads (0xEB) "
                    "need the flash's Quad Enable bit, which the ISSI and Spansion parts keep "
                    "in a non-volatile register the volatile Winbond sequence cannot reach "
                    "(set_qe=False), and openFPGALoader cannot set it there: its flash "
                    "database has no Quad Enable entry for IS25LP032/064/128 and no "
                    "S25FL164K, so --enable-quad fails. --flash-mode quad is for a flash "
                    "whose QE bit was set by other means; without it the header reads as "
                    "0xFF and the store is refused. The ULX3S's default store is its SDRAM.")
_ORANGECRAB = dict(set_qe=True, cs="U17", sck=None, io=("U18", "T18", "R18", "N18"),
                   notes="DFU bootloader at 0, user bitstream at 0x80000; the store starts at "
                         "4 MiB (clear of an uncompressed 85F bitstream at 0x80000)")

_PINS = {
    "icebreaker": dict(set_qe=True, io=("14", "17", "12", "13"), **_ICE40_SG48,
                       notes="bitstream at 0 (104 KB); 1 MiB is also where iCEBreaker examples "
                             "put firmware"),
    "upduino3": dict(set_qe=False, io=("14", "17"), **_ICE40_SG48,
                     notes="WP#/HOLD# reach FPGA pins 10/20 only through solder jumpers (pin 20 "
                           "is shared with the 12 MHz oscillator jumper), so the reader uses "
                           "IO0/IO1 (dual output read, no QE needed)"),
    "ulx3s-12f": _ULX3S, "ulx3s-25f": _ULX3S, "ulx3s-45f": _ULX3S, "ulx3s-85f": _ULX3S,
    "orangecrab-25f": _ORANGECRAB, "orangecrab-85f": _ORANGECRAB,
}

FLASH = {name: FlashFacts(mode=b.flash_mode, size=b.flash_bytes, offset=b.store_offset,
                          chip=b.flash_chip, **_PINS[name])
         for name, b in BOARDS.items()}


def flash_facts(board):
    """:class:`FlashFacts` of ``board`` (a :class:`~xnorlearn.boards.registry.Board` or name;
    a board from :func:`with_flash_mode` keeps its read mode)."""
    name = board if isinstance(board, str) else board.name
    get_board(name)                     # unknown names raise BoardError with the known ones
    f = FLASH[name]
    if not isinstance(board, str) and board.flash_mode != f.mode:
        f = dataclasses.replace(f, mode=board.flash_mode,
                                set_qe=f.set_qe and board.flash_mode == "quad")
    return f


#: read modes a user may pick for a board's store (``--flash-mode``)
FLASH_MODES = ("quad", "dual")


def with_flash_mode(board, mode):
    """``board`` reading its store in ``mode`` (``"quad"``: IO0-IO3, needs QE; ``"dual"``:
    IO0/IO1, no QE) instead of its default; ``None`` keeps it. ``ValueError`` for a mode the
    board's wiring does not allow."""
    if mode is None or mode == board.flash_mode:
        return board
    if mode not in FLASH_MODES:
        raise ValueError(f"flash mode must be one of {', '.join(FLASH_MODES)}, got {mode!r}")
    if mode == "quad" and len(FLASH[board.name].io) < 4:
        raise ValueError(f"{board.name} wires only IO0/IO1 of its flash to the FPGA: it cannot "
                         f"read it in quad mode")
    return dataclasses.replace(board, flash_mode=mode)


def flash_resource(board):
    """The ``store_flash`` resource of ``board``: ``cs`` (CS#, inverted), ``clk`` (iCE40 only)
    and ``dq`` (IO0-IO3, or IO0-IO1 where WP#/HOLD# do not reach the FPGA)."""
    board = get_board(board) if isinstance(board, str) else board
    f = flash_facts(board)
    if board.family == "ice40":
        attrs, dq_attrs = Attrs(IO_STANDARD="SB_LVCMOS"), Attrs(PULLUP=1)
    else:
        attrs, dq_attrs = Attrs(IO_TYPE="LVCMOS33"), Attrs(PULLMODE="UP")
    subs = [Subsignal("cs", PinsN(f.cs, dir="o"))]
    if f.sck is not None:
        subs.append(Subsignal("clk", Pins(f.sck, dir="o")))
    subs.append(Subsignal("dq", Pins(" ".join(f.io), dir="io"), dq_attrs))
    return Resource(RESOURCE, 0, *subs, attrs)


def add_flash_resource(platform, board):
    """Add :func:`flash_resource` to ``platform`` unless it is there already."""
    try:
        platform.lookup(RESOURCE, 0)
    except ResourceError:
        platform.add_resources([flash_resource(board)])
    return platform


def flash_reader(board, divisor=1, clk_hz=None):
    """A :class:`~xnorlearn.hw.flash.QspiFlashReader` set up for ``board`` (mode, QE, clock)."""
    from ..hw.flash import QspiFlashReader
    board = get_board(board) if isinstance(board, str) else board
    f = flash_facts(board)
    return QspiFlashReader(mode=f.mode, divisor=divisor, set_qe=f.set_qe,
                           clk_hz=board.core_hz if clk_hz is None else clk_hz)


class FlashPins(Elaboratable):
    """Connects a reader's pin ports to the board's flash (adds the resource if missing).

    Each IO line gets its own ``io.Buffer`` (the lines turn around independently); CS# is
    inverted by the resource. iCE40: SCK is a plain output buffer. ECP5: SCK drives
    ``USRMCLK`` (``USRMCLKTS=0``: always enabled). IO lines the board does not wire (IO2/IO3
    on the UPduino) are left unconnected.
    """

    def __init__(self, reader, board):
        self.reader = reader
        self.board = get_board(board) if isinstance(board, str) else board

    def elaborate(self, platform):
        m = Module()
        r = self.reader
        add_flash_resource(platform, self.board)
        pins = platform.request(RESOURCE, 0, dir="-")
        m.submodules.cs_buf = cs_buf = io.Buffer("o", pins.cs)
        m.d.comb += cs_buf.o.eq(r.cs)
        if self.board.family == "ice40":
            m.submodules.sck_buf = sck_buf = io.Buffer("o", pins.clk)
            m.d.comb += sck_buf.o.eq(r.sck)
        else:
            m.submodules.usrmclk = Instance("USRMCLK", i_USRMCLKI=r.sck, i_USRMCLKTS=0)
        for i in range(len(pins.dq)):
            m.submodules[f"dq{i}_buf"] = buf = io.Buffer("io", pins.dq[i])
            m.d.comb += [buf.o.eq(r.io_o[i]), buf.oe.eq(r.io_oe[i]), r.io_i[i].eq(buf.i)]
        return m
