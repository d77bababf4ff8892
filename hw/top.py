"""The whole on-chip trainer: UART host link + trainer core, the design that goes on a board.

``TrainerTop(cfg)`` has two pins (``uart_rx``, ``uart_tx``) and a ``busy`` status output; board
top levels add clocking and LEDs around it (``xnorlearn.boards``). With a data store
(``store=StoreParams(base, reader)``) a :class:`~xnorlearn.hw.store.StoreRunner` sits between
link and core and reads the image through the reader; a flash reader's pins become ports.
"""

from amaranth import Module
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from .link import HostLink
from .store import StoreParams
from .trainer import TrainerCore

__all__ = ["TrainerTop", "StoreParams"]

#: a flash reader's pins -> their direction (top-level ports are named ``flash_<pin>``)
FLASH_PINS = {"sck": Out(1), "cs": Out(1), "io_o": Out(4), "io_oe": Out(4), "io_i": In(4)}


class TrainerTop(wiring.Component):
    """Host link and trainer core of one configuration, optionally with a data store.

    Parameters
    ----------
    cfg : Config
        Network, lanes and ``uart_divisor``.
    bank_cls : type, optional
        Counter-bank implementation handed to :class:`~xnorlearn.hw.trainer.TrainerCore`.
    state : list of arrays, optional
        Power-on counters (every layer's, as ``HwModel.state()``); default ``init(cfg.seed)``.
    store : StoreParams, optional
        The data store: the image's byte address ``base`` and ``reader``, a factory of the
        reader component (:class:`~xnorlearn.hw.store.MemoryReader` for simulation, the flash
        reader on boards). Without it the design answers the store commands ``UNKNOWN``.
    phy : str
        The host link's lines (:class:`~xnorlearn.hw.link.HostLink`): ``"uart"`` (boards) or
        ``"bytes"`` (co-simulation that does not test the UART: byte streams
        ``host_rx``/``host_tx`` instead of the pins).

    Attributes
    ----------
    uart_rx : In(1)
        Serial line from the host (idle high); ``phy="uart"``.
    uart_tx : Out(1)
        Serial line to the host; ``phy="uart"``.
    host_rx : In(stream.Signature(8)); host_tx : Out(stream.Signature(8))
        The link's bytes, ``phy="bytes"``.
    busy : Out(1)
        The core or the store runner is executing a command (drive an LED with it).
    flash_sck, flash_cs : Out(1); flash_io_o, flash_io_oe : Out(4); flash_io_i : In(4)
        Only with a store whose reader has SPI pins: the reader's ``sck``, ``cs``, ``io_*``.
    sdram : Out(:class:`~xnorlearn.hw.sdram.SdramPinSignature`)
        Only with a store whose reader is an SDRAM (:class:`~xnorlearn.hw.sdram.SdramStore`):
        its pins.
    """

    def __init__(self, cfg, bank_cls=None, state=None, store=None, phy="uart"):
        self.cfg = cfg
        self.link = HostLink(cfg, phy=phy)
        extra = {} if bank_cls is None else {"bank_cls": bank_cls}
        self.core = TrainerCore(cfg, self.link.max_payload,
                                state=state, **extra)
        self.store = store
        ports = ({"uart_rx": In(1, init=1), "uart_tx": Out(1, init=1)} if phy == "uart" else
                 {"host_rx": In(stream.Signature(8)), "host_tx": Out(stream.Signature(8))})
        ports["busy"] = Out(1)
        self.pins = []
        if store is not None:
            self.reader = store.reader()
            self.runner = store.runner(cfg, self.link.max_payload)
            self.pins = [p for p in FLASH_PINS if hasattr(self.reader, p)]
            ports.update({f"flash_{p}": FLASH_PINS[p] for p in self.pins})
            if "sdram" in self.reader.signature.members:
                ports["sdram"] = self.reader.signature.members["sdram"]
        super().__init__(ports)

    def flash_pins(self):
        """The ``flash_*`` ports as an object with a flash reader's pin names (``sck``, ``cs``,
        ``io_o``, ``io_oe``, ``io_i``), for a board's pin glue (``boards.flash_pins.FlashPins``)
        or a flash model (``sim.flashmodel.connect_flash``)."""
        import types
        return types.SimpleNamespace(**{p: getattr(self, f"flash_{p}") for p in self.pins})

    def elaborate(self, platform):
        m = Module()
        m.submodules.link = link = self.link
        m.submodules.core = core = self.core
        host = core                     # what the link talks to: the core or the runner
        if self.store is not None:
            m.submodules.reader = reader = self.reader
            m.submodules.runner = runner = self.runner
            runner.connect(m, reader, core)
            for p in self.pins:
                port, pin = getattr(self, f"flash_{p}"), getattr(reader, p)
                m.d.comb += (pin.eq(port) if p == "io_i" else port.eq(pin))
            if "sdram" in self.signature.members:
                wiring.connect(m, reader.sdram, wiring.flipped(self.sdram))
            host = runner.host
            m.d.comb += self.busy.eq(core.busy | runner.busy)
        else:
            m.d.comb += self.busy.eq(core.busy)
        wiring.connect(m, link.req, host.req)
        wiring.connect(m, host.rsp, link.rsp)
        wiring.connect(m, host.rsp_data, link.rsp_data)
        m.d.comb += [
            link.buf_addr.eq(host.buf_addr),
            host.buf_data.eq(link.buf_data),
        ]
        if self.link.phy == "uart":
            m.d.comb += [link.rx.eq(self.uart_rx), self.uart_tx.eq(link.tx)]
        else:
            wiring.connect(m, wiring.flipped(self.host_rx), link.rx_byte)
            wiring.connect(m, link.tx_byte, wiring.flipped(self.host_tx))
        return m
