"""The host driver's transport on the UART pins of a cocotb 2 simulation.

:class:`CocotbUartTransport` drives the device's ``rx`` pin bit by bit and decodes its ``tx``
pin in a background task, so :class:`xnorlearn.sw.driver.Device` talks to simulated gateware
exactly as it talks to a board over a serial port. Only cocotb triggers are used (no asyncio).
Times (``timeout_s``) are simulated seconds. Bit periods are waited with one ``Timer`` each
(``divisor`` clock periods), not by counting clock edges in Python, so a bit costs one
simulator callback whatever the divisor.
"""

import cocotb
from cocotb.triggers import Event, FallingEdge, RisingEdge, Timer

from .transport import ReceivedBytes

__all__ = ["CocotbUartTransport"]


class CocotbUartTransport(ReceivedBytes):
    """8N1 UART on two simulator handles.

    Parameters
    ----------
    rx : handle
        The device's receive pin (driven here).
    tx : handle
        The device's transmit pin (monitored here).
    clk : handle
        The clock the device's UART counts.
    divisor : int
        Clock cycles per bit (``Config.uart_divisor``).
    clock_period_ns : float
        Clock period, used for :attr:`quiet_s` only.

    Attributes
    ----------
    received : bytearray
        Bytes decoded on ``tx`` and not read yet.
    stop_bit_errors : int
        Bytes from the device whose stop bit was 0 (never expected).
    """

    def __init__(self, rx, tx, clk, divisor, clock_period_ns=10):
        self.rx, self.tx, self.clk, self.divisor = rx, tx, clk, divisor
        self.period_ps = round(clock_period_ns * 1000)
        self.bit_s = divisor * clock_period_ns * 1e-9
        self.quiet_s = 100 * self.bit_s          # > the device's 64-bit frame timeout
        super().__init__()
        self.stop_bit_errors = 0
        self._arrived = Event()
        self.rx.value = 1
        self._monitor_task = cocotb.start_soon(self._monitor())

    # ------------------------------------------------------------------ host -> device
    async def write(self, data):
        """Send bytes back to back (what a UART with a FIFO does)."""
        await self.inject(data)

    async def inject(self, data, stop_bits=None):
        """Send raw bytes; ``stop_bits[i]`` (default 1) is the stop bit of byte ``i``, so a 0
        makes a framing error the receiver must drop."""
        await RisingEdge(self.clk)              # bit edges half a clock period after a
        await Timer(self.period_ps // 2, "ps")  # rising edge: no race with the clock
        for i, b in enumerate(bytes(data)):
            stop = 1 if stop_bits is None else stop_bits[i]
            for bit in [0] + [(b >> k) & 1 for k in range(8)] + [stop]:
                self.rx.value = bit
                await self._cycles(self.divisor)
        self.rx.value = 1

    def _cycles(self, n):
        return Timer(n * self.period_ps, "ps")

    async def idle(self, bits):
        """Hold the line idle for ``bits`` bit periods."""
        self.rx.value = 1
        await self._cycles(max(1, int(bits * self.divisor)))

    # ------------------------------------------------------------------ device -> host
    async def _monitor(self):
        d = self.divisor
        while True:
            if int(self.tx.value) != 0:
                await FallingEdge(self.tx)
            await self._cycles(d // 2)          # mid-bit, half a clock period off the edges
            await Timer(self.period_ps // 2, "ps")
            if int(self.tx.value) != 0:
                continue                        # a glitch, not a start bit
            value = 0
            for k in range(8):
                await self._cycles(d)
                value |= int(self.tx.value) << k
            await self._cycles(d)
            if int(self.tx.value) != 1:
                self.stop_bit_errors += 1
                continue
            self.received.append(value)
            self._arrived.set()

    def _more(self):
        self._arrived.clear()
        return self._arrived.wait()
