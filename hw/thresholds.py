"""SET_THRESHOLDS (docs/host-protocol.md, spec v2 §7): the host's reinforcement skip tables.

:class:`ThresholdLoader` reads the request payload — for every layer ``l`` the table
``C_l[0 … SWEEP_SKIP − 1]`` as little-endian u16 — twice: first it checks every entry (each
``< 2^prob_bits``, nondecreasing within its layer) without writing anything; only if all pass
does it read the payload again and write each entry into the sweep engine's host table bank
(:class:`~xnorlearn.hw.sweep.SweepEngine` ``tw``). A bad table answers BAD_ARG and leaves every
table as it was.
"""

from amaranth import Cat, Const, Module, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from ..sw import prng as sw_prng
from ..sw.protocol import Status
from .sweep import table_write_layout

__all__ = ["ThresholdLoader"]


class ThresholdLoader(wiring.Component):
    """Checks and writes the skip tables of a SET_THRESHOLDS request.

    Parameters
    ----------
    cfg : Config
    max_payload : int
        Size of the payload buffer (at least ``2 · SWEEP_SKIP · L`` bytes).

    Attributes
    ----------
    start : In(1)
        Begin (one cycle, while idle: the payload holds a SET_THRESHOLDS request).
    busy : Out(1)
    done : Out(StructLayout({"valid", "status"}))
        ``valid`` for one cycle at the end: ``status`` OK (every table written) or BAD_ARG
        (none written).
    buf_addr : Out(range(max_payload))
        Payload byte to read; ``buf_data`` has it one cycle later. 0 while idle.
    buf_data : In(8)
    tw : Out(stream.Signature(table_write_layout(L, prob_bits)))
        Table writes for the sweep engine (whose ``ready`` is always 1).
    """

    def __init__(self, cfg, max_payload):
        self.cfg = cfg
        self.n_bytes = 2 * sw_prng.SWEEP_SKIP * cfg.n_layers
        if max_payload < self.n_bytes:
            raise ValueError(f"payload buffer of {max_payload} bytes, tables need "
                             f"{self.n_bytes}")
        super().__init__({
            "start": In(1),
            "busy": Out(1),
            "done": Out(data.StructLayout({"valid": 1, "status": 8})),
            "buf_addr": Out(range(max_payload)),
            "buf_data": In(8),
            "tw": Out(stream.Signature(table_write_layout(cfg.n_layers, cfg.prob_bits))),
        })

    def elaborate(self, platform):
        cfg = self.cfg
        TBL_BITS = ceil_log2(sw_prng.SWEEP_SKIP)
        n_bytes = self.n_bytes
        m = Module()

        rd_idx = Signal(range(n_bytes + 1))   # payload byte read next
        n = Signal(range(n_bytes + 1))        # payload byte in buf_data (one behind rd_idx,
        m.d.comb += n.eq(rd_idx - 1)          # which runs from 0: valid once rd_idx != 0)
        lo = Signal(8)                        # low byte of the entry
        prev = Signal(16)                     # the previous entry
        bad = Signal()
        # the entry just read, registered before its checks (the payload buffer's block-RAM
        # output is slow: on the ECP5-85F its compare against the previous entry missed 60 MHz)
        val = Signal(16)
        val_valid = Signal()
        val_first = Signal()                  # the first entry of its layer's table
        m.d.comb += self.buf_addr.eq(rd_idx)
        m.d.sync += val_valid.eq(0)
        with m.If(val_valid):
            too_big = (val >> cfg.prob_bits) != 0 if cfg.prob_bits < 16 else Const(0)
            with m.If(too_big | (~val_first & (val < prev))):
                m.d.sync += bad.eq(1)
            m.d.sync += prev.eq(val)

        with m.FSM(name="thresholds"):
            with m.State("IDLE"):
                with m.If(self.start):
                    m.d.sync += bad.eq(0)
                    m.next = "CHECK"
            with m.State("CHECK"):
                # every entry, nothing written
                m.d.comb += self.busy.eq(1)
                m.d.sync += rd_idx.eq(rd_idx + 1)
                with m.If(rd_idx != 0):                 # byte n is in buf_data
                    with m.If(~n[0]):
                        m.d.sync += lo.eq(self.buf_data)
                    with m.Else():
                        m.d.sync += [val.eq(Cat(lo, self.buf_data)), val_valid.eq(1),
                                     val_first.eq(n[1:1 + TBL_BITS] == 0)]
                with m.If(rd_idx == n_bytes):
                    m.d.sync += rd_idx.eq(0)
                    m.next = "SETTLE"
            with m.State("SETTLE"):
                # the last entry's checks
                m.d.comb += self.busy.eq(1)
                m.next = "WRITE"
            with m.State("WRITE"):
                m.d.comb += self.busy.eq(1)
                with m.If(bad):
                    m.d.comb += [self.done.valid.eq(1), self.done.status.eq(Status.BAD_ARG)]
                    m.next = "IDLE"
                with m.Else():
                    m.d.sync += rd_idx.eq(rd_idx + 1)
                    with m.If(rd_idx != 0):
                        with m.If(~n[0]):
                            m.d.sync += lo.eq(self.buf_data)
                        with m.Else():
                            m.d.comb += [self.tw.valid.eq(1),
                                         self.tw.p.layer.eq(n[1 + TBL_BITS:]),
                                         self.tw.p.index.eq(n[1:1 + TBL_BITS]),
                                         self.tw.p.value.eq(Cat(lo, self.buf_data))]
                    with m.If(rd_idx == n_bytes):
                        m.d.comb += [self.done.valid.eq(1), self.done.status.eq(Status.OK)]
                        m.d.sync += rd_idx.eq(0)
                        m.next = "IDLE"
        return m
