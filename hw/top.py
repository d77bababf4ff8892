"""The whole on-chip trainer: UART host link + trainer core, the design that goes on a board.

``TrainerTop(cfg)`` has two pins (``uart_rx``, ``uart_tx``) and a ``busy`` status output; board
top levels add clocking and LEDs around it (``xnorlearn.boards``). With a data store
(``store=StoreParams(base, reader)``) a :class:`~xnorlearn.hw.store.StoreRunner` sits between
link and core and reads the image through the reader; a flash reader's pins become ports.
"""

from amaranth import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..sw import protocol as proto
from .link import HostLink
from .store import StoreParams, StoreRunner
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

    Attributes
    ----------
    uart_rx : In(1)
        Serial line from the host (idle high).
    uart_tx : Out(1)
        Serial line to the host.
    busy : Out(1)
        The core or the store runner is executing a command (drive an LED with it).
    flash_sck, flash_cs : Out(1); flash_io_o, flash_io_oe : Out(4); flash_io_i : In(4)
        Only with a store whose reader has SPI pins: the reader's ``sck``, ``cs``, ``io_*``.
    """

    def __init__(self, cfg, bank_cls=None, state=None, store=None):
        self.cfg = cfg
        self.link = HostLink(cfg)
        extra = {} if bank_cls is None else {"bank_cls": bank_cls}
        # the link answers IDENTIFY itself (from its own ROM), so the core never gets one:
        # no second copy of the reply in the core (~85 LUTs on the iCE40)
        identify = b"" if self.link.identify else proto.identify_reply_payload(cfg)
        self.core = TrainerCore(cfg, identify, self.link.max_payload, state=state, **extra)
        self.store = store
        ports = {"uart_rx": In(1, init=1), "uart_tx": Out(1, init=1), "busy": Out(1)}
        self.pins = []
        if store is not None:
            self.reader = store.reader()
            self.runner = StoreRunner(cfg, store.base, self.link.max_payload)
            self.pins = [p for p in FLASH_PINS if hasattr(self.reader, p)]
            ports.update({f"flash_{p}": FLASH_PINS[p] for p in self.pins})
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
            link.rx.eq(self.uart_rx),
            self.uart_tx.eq(link.tx),
        ]
        return m
