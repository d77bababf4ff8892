"""The epoch order of hw-spec §9 in gateware: ``prng.order_index(key, i, n)``.

:class:`EpochOrder` evaluates the keyed Feistel bijection of ``[0, 4^h)`` with cycle walking
for one position at a time: each of the four rounds per pass is one ``hash32`` through a
:class:`~xnorlearn.hw.prng.Hash32` (its own, or one lent from outside), ``h`` is derived from
``n``. The round structure (``ORDER_ROUNDS``, ``ORDER_ROUND_SHIFT``) comes from
:mod:`xnorlearn.sw.prng`, the reference implementation.
"""

import types

from amaranth import Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..sw import prng
from .prng import Hash32, hash_ports, lent_hash_ports

__all__ = ["EpochOrder", "order_request_layout", "MAX_HALF_BITS"]

#: largest ``h`` (``order_half_bits(2**32 - 1)``): left and right halves are at most 16 bits
MAX_HALF_BITS = prng.order_half_bits(prng.MASK32)


def order_request_layout():
    """``req`` payload: the epoch key, the position ``i`` and the sample count ``n``."""
    return data.StructLayout({"key": 32, "i": 32, "n": 32})


class EpochOrder(wiring.Component):
    """``order_index(key, i, n)``: position ``i`` of the epoch order keyed ``key`` over ``n``.

    Parameters
    ----------
    steps_per_stage : int
        Pipelining of the own :class:`~xnorlearn.hw.prng.Hash32` (1, 2, 3 or 6).
    external_hash : bool
        Use a hash outside this block through ``hash_i``/``hash_o`` (as
        :class:`~xnorlearn.hw.prng.StreamKey` does), so one hash serves both.

    Attributes
    ----------
    req : In(stream.Signature(order_request_layout()))
        ``key``, ``i`` and ``n``; requires ``1 <= n`` and ``i < n`` (anything else gives an
        unspecified value, possibly after a long walk).
    index : Out(stream.Signature(32))
        ``order_index(key, i, n)``, one per request.
    hash_i : Out(stream.Signature(32)), hash_o : In(stream.Signature(32))
        Only with ``external_hash``: to and from the lent hash (outputs arriving while this
        block does not wait for one are ignored).

    Notes
    -----
    Sequential: a round is one hash (``latency + 1`` cycles), a pass four rounds and a
    ``< n`` test; cycle walking takes fewer than four passes on average (``4^h / n``), so an
    index costs about ``4 · 4 · (latency + 1) + 3`` cycles in the worst average case — far
    below a trained sample's cycles, so the store runner computes it while the core trains.
    """

    def __init__(self, steps_per_stage=2, external_hash=False):
        self.steps_per_stage = steps_per_stage
        self.external_hash = external_hash
        ports = {"req": In(stream.Signature(order_request_layout())),
                 "index": Out(stream.Signature(32))}
        if external_hash:
            ports.update(lent_hash_ports())
        super().__init__(ports)

    def elaborate(self, platform):
        m = Module()
        i, o = hash_ports(m, self, None if self.external_hash else Hash32(self.steps_per_stage))
        hsh = types.SimpleNamespace(i=i, o=o)
        H = MAX_HALF_BITS
        key = Signal(32)
        n = Signal(32)
        x = Signal(32)                      # the value being walked (< 4^h)
        h = Signal(range(H + 1))
        left = Signal(H)
        right = Signal(H)
        rnd = Signal(range(prng.ORDER_ROUNDS))
        mask = Signal(H)
        drop = Signal(range(H))             # H - h: a round keeps hash bits 32-h … 31
        m.d.comb += mask.eq((1 << h) - 1)

        # h = least h >= 1 with 4^h >= n, i.e. n - 1 < 2^(2h): h = ceil(bit length(n - 1) / 2)
        # (at least 1); the bit length from a priority encoder
        n_1 = Signal(32)
        bitlen = Signal(range(33))
        m.d.comb += n_1.eq(n - 1)
        for k in range(32):
            with m.If(n_1[k]):
                m.d.comb += bitlen.eq(k + 1)
        h_of_n = Mux(bitlen <= 2, 1, (bitlen + 1) >> 1)

        joined = Signal(32)
        m.d.comb += [joined.eq((left << h) | right),
                     self.index.payload.eq(x),
                     hsh.i.payload.eq(key ^ (rnd << prng.ORDER_ROUND_SHIFT) ^ right)]
        f = Signal(H)
        m.d.comb += f.eq(hsh.o.payload[32 - H:] >> drop)

        with m.FSM():
            with m.State("IDLE"):
                m.d.comb += self.req.ready.eq(1)
                with m.If(self.req.valid):
                    m.d.sync += [key.eq(self.req.p.key), n.eq(self.req.p.n), x.eq(self.req.p.i)]
                    m.next = "HALF"
            with m.State("HALF"):
                m.d.sync += [h.eq(h_of_n), drop.eq(H - h_of_n)]
                m.next = "SPLIT"
            with m.State("SPLIT"):
                m.d.sync += [left.eq(x >> h), right.eq(x & mask), rnd.eq(0)]
                m.next = "FEED"
            with m.State("FEED"):
                m.d.comb += hsh.i.valid.eq(1)
                with m.If(hsh.i.ready):
                    m.next = "WAIT"
            with m.State("WAIT"):
                m.d.comb += hsh.o.ready.eq(1)
                with m.If(hsh.o.valid):
                    m.d.sync += [left.eq(right), right.eq((left ^ f) & mask)]
                    with m.If(rnd == prng.ORDER_ROUNDS - 1):
                        m.next = "JOIN"
                    with m.Else():
                        m.d.sync += rnd.eq(rnd + 1)
                        m.next = "FEED"
            with m.State("JOIN"):
                # the next pass starts from these halves again: no re-split needed
                m.d.sync += [x.eq(joined), rnd.eq(0)]
                m.next = "TEST"
            with m.State("TEST"):
                with m.If(x < n):
                    m.next = "DONE"
                with m.Else():
                    m.next = "FEED"
            with m.State("DONE"):
                m.d.comb += self.index.valid.eq(1)
                with m.If(self.index.ready):
                    m.next = "IDLE"
        return m
