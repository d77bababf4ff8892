"""What the host driver's simulated transports share: the bytes received from the device, read
against a deadline in simulated time.

:class:`ReceivedBytes` keeps ``received`` and implements the driver's ``read`` / ``take_all``;
a transport says how new bytes arrive with two hooks: ``_collect()`` moves bytes the design has
produced into ``received`` (nothing to do when a background task appends them), ``_more()``
returns a cocotb trigger that fires when more may have arrived.
"""

__all__ = ["ReceivedBytes"]


class ReceivedBytes:
    """``received`` plus ``read`` / ``take_all`` over the ``_collect`` / ``_more`` hooks."""

    def __init__(self):
        self.received = bytearray()

    def _collect(self):
        """Move newly produced bytes into ``received`` (default: nothing to do)."""

    def _more(self):
        raise NotImplementedError

    async def read(self, n, timeout_s):
        """Up to ``n`` bytes; fewer once ``timeout_s`` simulated seconds pass without them."""
        from cocotb.simtime import get_sim_time
        from cocotb.triggers import First, Timer
        deadline = get_sim_time("ps") + timeout_s * 1e12
        self._collect()
        while len(self.received) < n:
            remaining = round(deadline - get_sim_time("ps"))
            if remaining <= 0:
                break
            await First(self._more(), Timer(remaining, "ps"))
            self._collect()
        out = bytes(self.received[:n])
        del self.received[:n]
        return out

    def take_all(self):
        """Every byte received and not read yet."""
        self._collect()
        out = bytes(self.received)
        self.received.clear()
        return out
