"""A byte-level host link for co-simulations that do not test the UART.

Over the UART pins every bit of every frame costs the bench a simulator callback (a 784-bit
TRAIN request is over a thousand). Here the trainer's :class:`~xnorlearn.hw.link.HostLink` is
built with ``phy="bytes"`` and two ring buffers in the simulated design carry its bytes:

* :class:`ByteRings` (gateware, simulation only): ``rx_ring`` holds the host's bytes, written by
  the bench through VPI, and feeds them to the link one per cycle up to ``rx_end`` (an input
  the bench sets after writing); ``tx_ring`` collects the link's reply bytes and counts them in
  ``tx_end``. No simulated time passes while the bench writes, and it is woken once per reply
  byte, never per clock cycle or bit.
* :func:`byte_link_top`: the simulation top level — :class:`~xnorlearn.hw.top.TrainerTop`
  (submodule ``trainer``) and its rings (submodule ``host``).
* :class:`CocotbByteTransport`: the host driver's transport on those rings, the same
  interface as :class:`~xnorlearn.sim.uart_transport.CocotbUartTransport`.

The link's framing, CRC checks, queue and the trainer are the same gateware as on a board;
only the UART's bit timing is left out (it has its own tests and co-simulations).
"""

from amaranth import Module
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from .transport import ReceivedBytes

__all__ = ["ByteRings", "byte_link_top", "CocotbByteTransport", "RING_BYTES", "POINTER_BITS"]

#: bytes each ring holds (more than the host ever has in flight: LINK_DEPTH frames)
RING_BYTES = 1 << 14
#: width of the ring pointers rx_end / rx_taken / tx_end (they count modulo 2**POINTER_BITS)
POINTER_BITS = 16


class ByteRings(wiring.Component):
    """The host's side of a byte link, as two ring buffers the bench reads and writes.

    Attributes
    ----------
    rx_end : In(POINTER_BITS)
        Bytes the bench has written to ``rx_ring`` so far (modulo 2**POINTER_BITS).
    rx_taken : Out(POINTER_BITS)
        Bytes handed to the link so far.
    tx_end : Out(POINTER_BITS)
        Bytes the link has sent, all in ``tx_ring`` (modulo 2**POINTER_BITS).
    rx : Out(stream.Signature(8))
        To the link's ``rx_byte``: ``rx_ring[rx_taken]`` while ``rx_taken != rx_end``.
    tx : In(stream.Signature(8))
        From the link's ``tx_byte``; always taken.
    """

    def __init__(self):
        self.rx_ring = Memory(shape=8, depth=RING_BYTES, init=[])
        self.tx_ring = Memory(shape=8, depth=RING_BYTES, init=[])
        super().__init__({
            "rx_end": In(POINTER_BITS), "rx_taken": Out(POINTER_BITS),
            "tx_end": Out(POINTER_BITS),
            "rx": Out(stream.Signature(8)), "tx": In(stream.Signature(8)),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.rx_ring = self.rx_ring
        m.submodules.tx_ring = self.tx_ring
        index = RING_BYTES.bit_length() - 1
        rd = self.rx_ring.read_port(domain="comb")
        m.d.comb += [rd.addr.eq(self.rx_taken[:index]), self.rx.payload.eq(rd.data),
                     self.rx.valid.eq(self.rx_taken != self.rx_end)]
        with m.If(self.rx.valid & self.rx.ready):
            m.d.sync += self.rx_taken.eq(self.rx_taken + 1)
        wr = self.tx_ring.write_port()
        m.d.comb += [self.tx.ready.eq(1), wr.addr.eq(self.tx_end[:index]),
                     wr.data.eq(self.tx.payload), wr.en.eq(self.tx.valid)]
        with m.If(self.tx.valid):
            m.d.sync += self.tx_end.eq(self.tx_end + 1)
        return m


def byte_link_top(cfg, *, bank_cls=None, state=None):
    """Simulation top level: ``TrainerTop(cfg, phy="bytes")`` (submodule ``trainer``) fed by
    :class:`ByteRings` (submodule ``host``). Ports: ``rx_end`` (in), ``rx_taken``, ``tx_end``
    and ``busy`` (out)."""
    from ..hw.top import TrainerTop

    class ByteLinkTop(wiring.Component):
        def __init__(self):
            self.trainer = TrainerTop(cfg, bank_cls=bank_cls, state=state, phy="bytes")
            self.host = ByteRings()
            super().__init__({"rx_end": In(POINTER_BITS), "rx_taken": Out(POINTER_BITS),
                              "tx_end": Out(POINTER_BITS), "busy": Out(1)})

        def elaborate(self, platform):
            m = Module()
            m.submodules.trainer = t = self.trainer
            m.submodules.host = h = self.host
            wiring.connect(m, h.rx, t.host_rx)
            wiring.connect(m, t.host_tx, h.tx)
            m.d.comb += [h.rx_end.eq(self.rx_end), self.rx_taken.eq(h.rx_taken),
                         self.tx_end.eq(h.tx_end), self.busy.eq(t.busy)]
            return m

    return ByteLinkTop()


class CocotbByteTransport(ReceivedBytes):
    """The host driver's transport on a :func:`byte_link_top` design under cocotb.

    ``write`` puts the bytes into ``rx_ring`` through VPI and moves ``rx_end``; ``read`` collects
    ``tx_ring`` up to ``tx_end``, waiting on its changes (one callback per reply byte). Times
    (``timeout_s``) are simulated seconds.
    """

    def __init__(self, dut, clock_period_ns=10):
        self.dut = dut
        self.rx_ring, self.tx_ring = dut.host.rx_ring, dut.host.tx_ring
        self.period_ps = round(clock_period_ns * 1000)
        self.quiet_s = 1000 * clock_period_ns * 1e-9    # the link drains in a few cycles
        self.sent = 0                   # bytes written, modulo 2**POINTER_BITS
        self.seen = int(dut.tx_end.value)
        super().__init__()
        dut.rx_end.value = 0

    def _pending(self):
        return (self.sent - int(self.dut.rx_taken.value)) % (1 << POINTER_BITS)

    async def write(self, data):
        """Queue bytes for the link (it takes one per cycle)."""
        from cocotb.triggers import Timer
        data = bytes(data)
        while data:
            room = RING_BYTES - self._pending()
            if room == 0:
                await Timer(64 * self.period_ps, "ps")
                continue
            chunk, data = data[:room], data[room:]
            for i, b in enumerate(chunk):
                self.rx_ring[(self.sent + i) % RING_BYTES].value = b
            self.sent = (self.sent + len(chunk)) % (1 << POINTER_BITS)
            self.dut.rx_end.value = self.sent

    def _collect(self):
        end = int(self.dut.tx_end.value)
        while self.seen != end:
            self.received.append(int(self.tx_ring[self.seen % RING_BYTES].value))
            self.seen = (self.seen + 1) % (1 << POINTER_BITS)

    def _more(self):
        # tx_end and the ring are written by the same clock edge, settled when the change
        # is reported
        from cocotb.triggers import ValueChange
        return ValueChange(self.dut.tx_end)
