"""The FPGA boards xnorlearn builds for: platform, device, resources, clocking, UART, default network.

Every number in :data:`BOARDS` is the *device's* capacity (Lattice data sheets; LUT/FF counts as
nextpnr reports them), so the fit check and the build report compare against the same figures.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field

from ..sw.config import Config

__all__ = ["Board", "Device", "BOARDS", "get_board", "board_names", "BoardError", "MiB",
           "STORE_ALIGN", "DEFAULT_BAUD", "MIN_UART_DIVISOR", "MAX_BAUD_ERROR"]

FASHION = dict(n_inputs=784, n_classes=10)


class BoardError(ValueError):
    pass


@dataclass(frozen=True)
class Device:
    family: str          # "ice40" | "ecp5"
    name: str            # Amaranth device string
    package: str
    luts: int            # iCE40: logic cells (LUT4 + FF); ECP5: LUT4 (TRELLIS_COMB)
    ffs: int
    bram: int            # iCE40: SB_RAM40_4K (4 kbit); ECP5: DP16KD (18 kbit)
    spram: int           # iCE40 UP5K SB_SPRAM256KA (256 kbit); 0 elsewhere
    dsp: int             # iCE40: SB_MAC16; ECP5: MULT18X18D
    bitstream_bytes: int = 0   # largest (uncompressed) bitstream of the device, approximate

    @property
    def bram_name(self):
        return "EBR (SB_RAM40_4K)" if self.family == "ice40" else "DP16KD"

    @property
    def bram_bits(self):
        return 4096 if self.family == "ice40" else 18432

    def to_dict(self):
        return {"family": self.family, "device": self.name, "package": self.package,
                "luts": self.luts, "ffs": self.ffs, "bram": self.bram,
                "bram_type": self.bram_name, "bram_kbit": self.bram * self.bram_bits // 1024,
                "spram": self.spram, "dsp": self.dsp}


UP5K_SG48 = Device("ice40", "iCE40UP5K", "SG48", 5280, 5280, 30, 4, 8, 104_090)

# Uncompressed ECP5 bitstreams (the project builds compressed ones, which are smaller): the
# 12F is a 25F die and takes the 25F's.
_ECP5_BITSTREAM = {12: 600_000, 25: 600_000, 45: 1_100_000, 85: 2_300_000}


def _ecp5(size, package, luts, bram, dsp):
    return Device("ecp5", f"LFE5U-{size}F", package, luts, luts, bram, 0, dsp,
                  _ECP5_BITSTREAM[size])


MiB = 1 << 20
STORE_ALIGN = 64 * 1024     # flash erase block: the store offset is a multiple of it
DEFAULT_BAUD = 115_200      # the link's rate with an external adapter (every adapter carries it)
MIN_UART_DIVISOR = 4        # clock cycles per bit the link needs at least (simulation uses 4)
MAX_BAUD_ERROR = 0.02       # largest relative rate error of a divisor (8N1 tolerates ~4 %)
#: where a design keeps its data store: "flash" (the board's programmer writes the image into
#: the configuration flash) or "sdram" (the host fills the board's SDRAM over the UART with
#: STORE_WRITE after every power-up); the first is the default
STORE_MEDIA = ("flash", "sdram")


@dataclass(frozen=True)
class Board:
    """One target board.

    ``uart`` is ``(rx_pin, tx_pin, where)``: the FPGA pins of the host serial link and where
    the user finds them. ``bank`` picks the counter memory: ``"bram"`` (inferred block RAM,
    :class:`~xnorlearn.hw.counters.CounterBank`), ``"bram-rows"`` (pipelined rows of block
    RAM, :class:`~xnorlearn.hw.counters.PipelinedCounterBank`: the ECP5 boards, whose banks
    span the die) or ``"spram"`` (UP5K single-port RAM,
    :class:`~xnorlearn.hw.spram.SpramCounterBank`).
    """
    name: str
    title: str
    platform_module: str
    platform_class: str
    device: Device
    osc_hz: float
    core_hz: float
    clock: str                       # "pll" | "hfosc"
    uart: tuple
    programmer: str                  # "iceprog" | "openFPGALoader" | "dfu-util"
    bank: str
    default: dict = field(default_factory=dict)
    notes: str = ""
    # the configuration flash as a data store (docs/host-protocol.md, "Data store")
    flash_bytes: int = 0             # flash size (the smallest part fitted, where it varies)
    store_offset: int = 0            # first byte of the dataset image in the flash
    flash_mode: str = "single"       # how the chip reads it: "quad", "dual" or "single" SPI
    flash_chip: str = ""
    bitstream_offset: int = 0        # where the (user) bitstream starts in the flash
    store_programmer: tuple = ()     # argv head that writes a raw file into the flash
    store_notes: str = ""
    # whether `xnorlearn build` puts the data store (flash reader + store runner) in by default:
    # on the ECP5 boards; the UP5K's logic cells do not hold it next to the trainer yet
    store_default: bool = True
    # the store runner's record buffer (hw.store.StoreRunner): slots (None: its default, one
    # 2 KiB block RAM) and whether it lives in LUT RAM
    store_slots: int | None = None
    store_lutram: bool = False
    # the fastest rate the board's own USB-serial chip carries; None: an external adapter
    usb_serial_baud: int | None = None
    # SDRAM a data store may live in (--store-medium sdram); 0: none the gateware drives
    sdram_bytes: int = 0
    sdram_chip: str = ""
    # where the data store lives unless --store-medium says otherwise (STORE_MEDIA)
    store_medium: str = "flash"

    def platform(self, **kwargs):
        mod = importlib.import_module(self.platform_module)
        return getattr(mod, self.platform_class)(**kwargs)

    @property
    def family(self):
        return self.device.family

    @property
    def store_capacity(self):
        """Bytes of flash from the store offset to the end: the largest image it takes."""
        return self.flash_bytes - self.store_offset

    @property
    def sdram_store_bytes(self):
        """Bytes of SDRAM the store may use: the SDRAM, at most the store reader's window
        (``hw.store.STORE_WINDOW``: its byte address width)."""
        if not self.sdram_bytes:
            return 0
        from ..hw.store import STORE_WINDOW
        return min(self.sdram_bytes, STORE_WINDOW)

    @property
    def store_media(self):
        """The store media the board offers (:data:`STORE_MEDIA`)."""
        return tuple(m for m in STORE_MEDIA if m == "flash" or self.sdram_bytes)

    def check_store_medium(self, medium):
        """BoardError (one line) unless the board can keep its data store in ``medium``."""
        if medium not in STORE_MEDIA:
            raise BoardError(f"unknown store medium {medium!r}; one of: {', '.join(STORE_MEDIA)}")
        if medium not in self.store_media:
            with_sdram = ", ".join(b.name for b in BOARDS.values() if b.sdram_bytes)
            raise BoardError(f"{self.name} has no SDRAM for the data store (--store-medium "
                             f"sdram); boards with SDRAM: {with_sdram}")

    def store_bytes(self, medium="flash"):
        """The largest image the store in ``medium`` takes."""
        self.check_store_medium(medium)
        return self.sdram_store_bytes if medium == "sdram" else self.store_capacity

    @property
    def baud(self):
        """The board's host-link rate: the fastest its own USB-serial chip carries reliably
        (:attr:`usb_serial_baud`: 3 Mbaud on the iCEBreaker's FT2232H and the ULX3S's FT231X),
        :data:`DEFAULT_BAUD` where the user brings an adapter. It sets :attr:`uart_divisor`
        (the default configuration, builds) and is the host's default rate."""
        return self.usb_serial_baud or DEFAULT_BAUD

    @property
    def uart_divisor(self):
        """Clock cycles per UART bit at the board's :attr:`baud`."""
        return self.divisor_for(self.baud)

    @property
    def baud_error(self):
        """Relative error of the chip's bit rate ``core_hz / uart_divisor`` against ``baud``."""
        return self.core_hz / self.uart_divisor / self.baud - 1

    def divisor_for(self, baud=None):
        """``round(f_core / baud)``: the UART divisor of a link at ``baud`` (default: the
        board's :attr:`baud`). BoardError when the board's USB-serial chip does not carry that
        rate, the divisor is below :data:`MIN_UART_DIVISOR`, or the rate it gives is more than
        :data:`MAX_BAUD_ERROR` off."""
        if baud is None:
            baud = self.baud
        if self.usb_serial_baud is not None and baud > self.usb_serial_baud:
            raise BoardError(f"{self.name}: {baud} Bd is faster than its USB-serial chip "
                             f"carries ({self.usb_serial_baud} Bd)")
        d = round(self.core_hz / baud)
        if d < MIN_UART_DIVISOR:
            raise BoardError(f"{self.name}: {baud} Bd at {self.core_hz / 1e6:g} MHz is "
                             f"{self.core_hz / baud:.2f} clock cycles per bit; the link needs "
                             f"at least {MIN_UART_DIVISOR}")
        err = abs(self.core_hz / d - baud) / baud
        if err > MAX_BAUD_ERROR:
            raise BoardError(f"{self.name}: {baud} Bd is {100 * err:.1f} % off with divisor "
                             f"{d} at {self.core_hz / 1e6:g} MHz (at most "
                             f"{100 * MAX_BAUD_ERROR:g} %); the nearest exact rates are "
                             f"{round(self.core_hz / d)} and {round(self.core_hz / (d + 1))} Bd")
        return d

    def default_config(self):
        d = {**FASHION, **self.default, "uart_divisor": self.uart_divisor,
             "name": f"fashion-{self.name}"}
        return Config.from_dict(d, source=f"board {self.name}")

    def config_for(self, cfg, baud=None):
        """``cfg`` with this board's UART divisor (the only board-dependent field) for a link
        at ``baud`` (default: the board's :attr:`baud`; :meth:`divisor_for`)."""
        return cfg.replace(uart_divisor=self.divisor_for(baud))

    def to_dict(self):
        cfg = self.default_config()
        return {"name": self.name, "title": self.title,
                "platform": f"{self.platform_module}.{self.platform_class}",
                **self.device.to_dict(), "osc_mhz": self.osc_hz / 1e6,
                "core_mhz": self.core_hz / 1e6, "clock_source": self.clock, "baud": self.baud,
                "uart_rx": self.uart[0], "uart_tx": self.uart[1], "uart_where": self.uart[2],
                "programmer": self.programmer, "counter_memory": self.bank,
                "default_config": cfg.to_dict(), "notes": self.notes,
                "flash_bytes": self.flash_bytes, "store_offset": self.store_offset,
                "store_capacity": self.store_capacity, "flash_mode": self.flash_mode,
                "flash_chip": self.flash_chip, "bitstream_offset": self.bitstream_offset,
                "store_programmer": list(self.store_programmer),
                "store_notes": self.store_notes, "usb_serial_baud": self.usb_serial_baud,
                "store_default": self.store_default, "store_slots": self.store_slots,
                "store_lutram": self.store_lutram,
                "sdram_bytes": self.sdram_bytes, "sdram_chip": self.sdram_chip,
                "sdram_store_bytes": self.sdram_store_bytes,
                "store_media": list(self.store_media), "store_medium_default": self.store_medium}


_UP5K_DEFAULT = dict(layers=[75, 75], group_sizes=[75, 75], lanes=4, counter_bits=8,
                     forward_lanes=4, forward_words=8)
_85F_DEFAULT = dict(layers=[255, 255], group_sizes=[85, 85], lanes=16, counter_bits=8,
                    forward_lanes=8, forward_words=8)
_45F_DEFAULT = dict(layers=[135, 135], group_sizes=[45, 45], lanes=16, counter_bits=8,
                    forward_lanes=8, forward_words=8)
_25F_DEFAULT = dict(layers=[75, 75], group_sizes=[75, 75], lanes=8, counter_bits=8,
                    forward_lanes=4, forward_words=16)
_12F_DEFAULT = dict(layers=[75, 75], group_sizes=[75, 75], lanes=6, counter_bits=6,
                    forward_lanes=2, forward_words=8)

# (FPGA RX pin, FPGA TX pin, where the user finds them) of the boards sharing a layout
_ULX3S_UART = ("M1", "L4", "US1 micro-USB (FT231X)")
_ORANGECRAB_UART = ("N17", "M18", "Feather header pins '0' (RX, FPGA input) and '1' (TX); "
                    "the USB port is wired to the FPGA, use a 3.3 V USB-UART adapter")

# The configuration flash of each board layout: size, mode, where the data store starts (64 KiB
# aligned, after the largest uncompressed bitstream of the device) and the tool that writes a
# raw image there.
_ICEBREAKER_FLASH = dict(
    flash_bytes=16 * MiB, store_offset=1 * MiB, flash_mode="quad",
    flash_chip="Winbond W25Q128JV", store_programmer=("iceprog",),
    store_notes="bitstream at 0 (104 KB)", store_default=False,
    store_slots=4,                  # 4 x 128 bytes: one 4 Kbit EBR, as before
    usb_serial_baud=3_000_000)      # FT2232H channel B: 3 Mbaud with the standard divisors
_UPDUINO_FLASH = dict(
    flash_bytes=4 * MiB, store_offset=1 * MiB, flash_mode="dual", store_default=False,
    store_slots=4,
    flash_chip="4 MiB SPI flash (W25Q32-class)", store_programmer=("iceprog",),
    store_notes="dual reads (IO0/IO1): WP#/HOLD# reach the FPGA only through solder jumpers")
_ULX3S_FLASH = dict(
    # dual reads (IO0/IO1): quad needs the flash's non-volatile QE bit, which openFPGALoader
    # cannot set on these parts (boards/flash_pins.py) and the reader does not write
    flash_bytes=4 * MiB, flash_mode="dual",
    flash_chip="varies by batch: ISSI IS25LP032D (4 MiB), Spansion S25FL164K (8 MiB), ISSI "
               "IS25LP128F (16 MiB); the registry assumes the smallest",
    store_programmer=("openFPGALoader", "-b", "ulx3s"),
    store_notes="flash size varies by batch (4, 8 or 16 MiB); 4 MiB assumed",
    usb_serial_baud=3_000_000,      # FT231X: 3 Mbaud
    # 32 MB SDRAM on every ULX3S (16-bit bus); the store reader addresses its first 16 MiB
    sdram_bytes=32 * MiB, sdram_chip="32 MB SDRAM (MT48LC16M16A2 / AS4C16M16SB-class), 16 bit",
    store_medium="sdram")           # filled over the UART: any dataset up to 16 MiB, no QE
_ORANGECRAB_FLASH = dict(
    flash_bytes=16 * MiB, store_offset=4 * MiB, flash_mode="quad",
    flash_chip="Winbond W25Q128JV", bitstream_offset=0x80000,
    store_programmer=("openFPGALoader", "-c", "ft2232"),
    store_notes="DFU bootloader at 0, user bitstream at 0x80000; the DFU bootloader writes "
                "only its own slots, so the image goes in over JTAG (the pads on the back, "
                "any openFPGALoader cable; -c ft2232 here)")

_B = "amaranth_boards."
BOARDS = {b.name: b for b in [
    Board("icebreaker", "1BitSquared iCEBreaker", _B + "icebreaker", "ICEBreakerPlatform",
          UP5K_SG48, 12e6, 21e6, "pll", ("6", "9", "FTDI FT2232H channel B (USB serial)"),
          "iceprog", "spram", _UP5K_DEFAULT,
          "SB_PLL40_PAD 12 -> 21 MHz on the clock pad (pin 35); LEDs: red = busy, green = "
          "heartbeat.", **_ICEBREAKER_FLASH),
    Board("upduino3", "tinyVision UPduino v3.0/3.1", _B + "upduino_v3", "UpduinoV3Platform",
          UP5K_SG48, 48e6, 21e6, "hfosc",
          ("3", "4", "header J6 pins 3 (RX, FPGA input) and 4 (TX); the on-board FT232H is "
                     "single-channel (flash only): use a 3.3 V USB-UART adapter"),
          "iceprog", "spram", _UP5K_DEFAULT,
          "48 MHz SB_HFOSC -> SB_PLL40_CORE 21 MHz (no external clock needed); RGB LED: "
          "red = busy, green = heartbeat.", **_UPDUINO_FLASH),
    Board("ulx3s-12f", "Radiona ULX3S (LFE5U-12F)", _B + "ulx3s", "ULX3S_12F_Platform",
          _ecp5(12, "BG381", 24288, 56, 28), 25e6, 65e6, "pll",
          _ULX3S_UART, "openFPGALoader", "bram-rows", _12F_DEFAULT,
          "The 12F is a 25F die; the vendor tools limit it to 12K LUT / 32 EBR / 28 mult, "
          "nextpnr does not. The fit check uses 12288 LUT, 32 DP16KD. EHXPLLL 25 -> 65 MHz "
          "(its 32 block RAMs are full, so the clock, not more forward lanes, lifts it past "
          "60 000 samples/s). Its data store keeps two record slots in LUT RAM (a sample "
          "computes in 1 044 cycles, a record reads in 440), so it needs no block RAM.",
          store_offset=1 * MiB, store_slots=2, store_lutram=True, **_ULX3S_FLASH),
    Board("ulx3s-25f", "Radiona ULX3S (LFE5U-25F)", _B + "ulx3s", "ULX3S_25F_Platform",
          _ecp5(25, "BG381", 24288, 56, 28), 25e6, 60e6, "pll",
          _ULX3S_UART, "openFPGALoader", "bram-rows", _25F_DEFAULT,
          store_offset=1 * MiB, **_ULX3S_FLASH),
    Board("ulx3s-45f", "Radiona ULX3S (LFE5U-45F)", _B + "ulx3s", "ULX3S_45F_Platform",
          _ecp5(45, "BG381", 43848, 108, 72), 25e6, 60e6, "pll",
          _ULX3S_UART, "openFPGALoader", "bram-rows", _45F_DEFAULT,
          store_offset=2 * MiB, **_ULX3S_FLASH),
    Board("ulx3s-85f", "Radiona ULX3S (LFE5U-85F)", _B + "ulx3s", "ULX3S_85F_Platform",
          _ecp5(85, "BG381", 83640, 208, 156), 25e6, 60e6, "pll",
          _ULX3S_UART, "openFPGALoader", "bram-rows", _85F_DEFAULT,
          "EHXPLLL 25 -> 60 MHz; LEDs 0 = busy, 1 = heartbeat, 2 = PLL lock.",
          store_offset=3 * MiB, **_ULX3S_FLASH),
    Board("orangecrab-25f", "Good Stuff OrangeCrab r0.2 (LFE5U-25F)", _B + "orangecrab_r0_2",
          "OrangeCrabR0_2_25FPlatform", _ecp5(25, "CSFBGA285", 24288, 56, 28), 48e6, 60e6,
          "pll", _ORANGECRAB_UART,
          "dfu-util", "bram-rows", _25F_DEFAULT,
          "EHXPLLL 48 -> 60 MHz; RGB LED: red = busy, green = heartbeat. Program through the "
          "DFU bootloader (hold the button while plugging in).", **_ORANGECRAB_FLASH),
    Board("orangecrab-85f", "Good Stuff OrangeCrab r0.2 (LFE5U-85F)", _B + "orangecrab_r0_2",
          "OrangeCrabR0_2_85FPlatform", _ecp5(85, "CSFBGA285", 83640, 208, 156), 48e6, 60e6,
          "pll", _ORANGECRAB_UART,
          "dfu-util", "bram-rows", _85F_DEFAULT,
          "EHXPLLL 48 -> 60 MHz; RGB LED: red = busy, green = heartbeat.",
          **_ORANGECRAB_FLASH),
]}

# The 12F: the registry's capacities are the data-sheet ones the fit check must respect.
BOARDS["ulx3s-12f"] = Board(**{**BOARDS["ulx3s-12f"].__dict__,
                               "device": _ecp5(12, "BG381", 12288, 32, 28)})


def board_names():
    return list(BOARDS)


def get_board(name):
    try:
        return BOARDS[name]
    except KeyError:
        raise BoardError(f"unknown board {name!r}; known boards: "
                         f"{', '.join(BOARDS)}") from None
