"""The FPGA boards xnorlearn builds for: platform, device, resources, clocking, UART, default network.

Every number in :data:`BOARDS` is the *device's* capacity (Lattice data sheets; LUT/FF counts as
nextpnr reports them), so the fit check and the build report compare against the same figures.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field

from ..sw.config import Config

__all__ = ["Board", "Device", "BOARDS", "get_board", "board_names", "BoardError"]

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


UP5K_SG48 = Device("ice40", "iCE40UP5K", "SG48", 5280, 5280, 30, 4, 8)


def _ecp5(size, package, luts, bram, dsp):
    return Device("ecp5", f"LFE5U-{size}F", package, luts, luts, bram, 0, dsp)


@dataclass(frozen=True)
class Board:
    """One target board.

    ``uart`` is ``(rx_pin, tx_pin, where)``: the FPGA pins of the host serial link and where
    the user finds them; ``baud`` its rate, the fastest the board's USB-serial chip carries
    reliably (FT2232H, FT231X: 3 Mbaud; 115 200 where the user brings an adapter), which sets
    ``uart_divisor`` and the host's default rate. ``bank`` picks the counter memory: ``"bram"`` (inferred block RAM,
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
    baud: int = 115200               # host link rate: the fastest the USB-serial chip carries

    def platform(self, **kwargs):
        mod = importlib.import_module(self.platform_module)
        return getattr(mod, self.platform_class)(**kwargs)

    @property
    def family(self):
        return self.device.family

    @property
    def uart_divisor(self):
        """Clock cycles per UART bit: ``round(core_hz / baud)``."""
        return round(self.core_hz / self.baud)

    @property
    def baud_error(self):
        """Relative error of the chip's bit rate ``core_hz / uart_divisor`` against ``baud``."""
        return self.core_hz / self.uart_divisor / self.baud - 1

    def default_config(self):
        d = {**FASHION, **self.default, "uart_divisor": self.uart_divisor,
             "name": f"fashion-{self.name}"}
        return Config.from_dict(d, source=f"board {self.name}")

    def config_for(self, cfg):
        """``cfg`` with this board's UART divisor (the only board-dependent field)."""
        return cfg.replace(uart_divisor=self.uart_divisor)

    def to_dict(self):
        cfg = self.default_config()
        return {"name": self.name, "title": self.title,
                "platform": f"{self.platform_module}.{self.platform_class}",
                **self.device.to_dict(), "osc_mhz": self.osc_hz / 1e6,
                "core_mhz": self.core_hz / 1e6, "clock_source": self.clock, "baud": self.baud,
                "uart_rx": self.uart[0], "uart_tx": self.uart[1], "uart_where": self.uart[2],
                "programmer": self.programmer, "counter_memory": self.bank,
                "default_config": cfg.to_dict(), "notes": self.notes}


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

_B = "amaranth_boards."
BOARDS = {b.name: b for b in [
    Board("icebreaker", "1BitSquared iCEBreaker", _B + "icebreaker", "ICEBreakerPlatform",
          UP5K_SG48, 12e6, 24e6, "pll", ("6", "9", "FTDI FT2232H channel B (USB serial)"),
          "iceprog", "spram", _UP5K_DEFAULT,
          "SB_PLL40_PAD 12 -> 24 MHz on the clock pad (pin 35); LEDs: red = busy, green = "
          "heartbeat.", baud=3_000_000),
    Board("upduino3", "tinyVision UPduino v3.0/3.1", _B + "upduino_v3", "UpduinoV3Platform",
          UP5K_SG48, 48e6, 24e6, "hfosc",
          ("3", "4", "header J6 pins 3 (RX, FPGA input) and 4 (TX); the on-board FT232H is "
                     "single-channel (flash only): use a 3.3 V USB-UART adapter"),
          "iceprog", "spram", _UP5K_DEFAULT,
          "48 MHz SB_HFOSC -> SB_PLL40_CORE 24 MHz (no external clock needed); RGB LED: "
          "red = busy, green = heartbeat."),
    Board("ulx3s-12f", "Radiona ULX3S (LFE5U-12F)", _B + "ulx3s", "ULX3S_12F_Platform",
          _ecp5(12, "BG381", 24288, 56, 28), 25e6, 65e6, "pll",
          _ULX3S_UART, "openFPGALoader", "bram-rows", _12F_DEFAULT,
          "The 12F is a 25F die; the vendor tools limit it to 12K LUT / 32 EBR / 28 mult, "
          "nextpnr does not. The fit check uses 12288 LUT, 32 DP16KD. EHXPLLL 25 -> 65 MHz "
          "(its 32 block RAMs are full, so the clock, not more forward lanes, lifts it past "
          "60 000 samples/s).", baud=3_000_000),
    Board("ulx3s-25f", "Radiona ULX3S (LFE5U-25F)", _B + "ulx3s", "ULX3S_25F_Platform",
          _ecp5(25, "BG381", 24288, 56, 28), 25e6, 60e6, "pll",
          _ULX3S_UART, "openFPGALoader", "bram-rows", _25F_DEFAULT, baud=3_000_000),
    Board("ulx3s-45f", "Radiona ULX3S (LFE5U-45F)", _B + "ulx3s", "ULX3S_45F_Platform",
          _ecp5(45, "BG381", 43848, 108, 72), 25e6, 60e6, "pll",
          _ULX3S_UART, "openFPGALoader", "bram-rows", _45F_DEFAULT, baud=3_000_000),
    Board("ulx3s-85f", "Radiona ULX3S (LFE5U-85F)", _B + "ulx3s", "ULX3S_85F_Platform",
          _ecp5(85, "BG381", 83640, 208, 156), 25e6, 60e6, "pll",
          _ULX3S_UART, "openFPGALoader", "bram-rows", _85F_DEFAULT,
          "EHXPLLL 25 -> 60 MHz; LEDs 0 = busy, 1 = heartbeat, 2 = PLL lock.", baud=3_000_000),
    Board("orangecrab-25f", "Good Stuff OrangeCrab r0.2 (LFE5U-25F)", _B + "orangecrab_r0_2",
          "OrangeCrabR0_2_25FPlatform", _ecp5(25, "CSFBGA285", 24288, 56, 28), 48e6, 60e6,
          "pll", _ORANGECRAB_UART,
          "dfu-util", "bram-rows", _25F_DEFAULT,
          "EHXPLLL 48 -> 60 MHz; RGB LED: red = busy, green = heartbeat. Program through the "
          "DFU bootloader (hold the button while plugging in)."),
    Board("orangecrab-85f", "Good Stuff OrangeCrab r0.2 (LFE5U-85F)", _B + "orangecrab_r0_2",
          "OrangeCrabR0_2_85FPlatform", _ecp5(85, "CSFBGA285", 83640, 208, 156), 48e6, 60e6,
          "pll", _ORANGECRAB_UART,
          "dfu-util", "bram-rows", _85F_DEFAULT,
          "EHXPLLL 48 -> 60 MHz; RGB LED: red = busy, green = heartbeat."),
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
