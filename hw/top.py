"""The whole on-chip trainer: UART host link + trainer core, the design that goes on a board.

``TrainerTop(cfg)`` has two pins (``uart_rx``, ``uart_tx``) and a ``busy`` status output; board
top levels add clocking and LEDs around it (``xnorlearn.boards``).
"""

from amaranth import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..sw import protocol as proto
from .link import HostLink
from .trainer import TrainerCore

__all__ = ["TrainerTop"]


class TrainerTop(wiring.Component):
    """Host link and trainer core of one configuration.

    Parameters
    ----------
    cfg : Config
        Network, lanes and ``uart_divisor``.
    bank_cls : type, optional
        Counter-bank implementation handed to :class:`~xnorlearn.hw.trainer.TrainerCore`.
    state : list of arrays, optional
        Power-on counters (every layer's, as ``HwModel.state()``); default ``init(cfg.seed)``.

    Attributes
    ----------
    uart_rx : In(1)
        Serial line from the host (idle high).
    uart_tx : Out(1)
        Serial line to the host.
    busy : Out(1)
        The core is executing a command (drive an LED with it).
    """

    def __init__(self, cfg, bank_cls=None, state=None):
        self.cfg = cfg
        self.link = HostLink(cfg)
        extra = {} if bank_cls is None else {"bank_cls": bank_cls}
        self.core = TrainerCore(cfg, proto.identify_reply_payload(cfg), self.link.max_payload,
                                state=state, **extra)
        super().__init__({"uart_rx": In(1, init=1), "uart_tx": Out(1, init=1),
                          "busy": Out(1)})

    def elaborate(self, platform):
        m = Module()
        m.submodules.link = link = self.link
        m.submodules.core = core = self.core
        wiring.connect(m, link.req, core.req)
        wiring.connect(m, core.rsp, link.rsp)
        wiring.connect(m, core.rsp_data, link.rsp_data)
        m.d.comb += [
            link.buf_addr.eq(core.buf_addr),
            core.buf_data.eq(link.buf_data),
            link.rx.eq(self.uart_rx),
            self.uart_tx.eq(link.tx),
            self.busy.eq(core.busy),
        ]
        return m
