"""Sign-bit copy of the hidden weights: what the forward pass reads, many bits per cycle.

The binary weight is the inverted sign bit of its counter (spec §2), so the forward pass needs
one bit per weight, not the ``k``-bit counter. :class:`SignBank` keeps that bit in block RAM
organised for the forward pass: ``lanes`` (``NL``) memories, one per neuron lane, each
``words · P`` bits wide (a *row*: ``words`` granules of ``P`` bits, one granule per counter
word). Neuron ``j`` of layer ``l`` lives in lane ``j mod NL``; its forward beat ``s`` is row
``base_l + (j div NL) · beats_l + s`` and its counter word ``b`` is granule ``b mod words`` of
beat ``b div words`` (:class:`SignLayout`). A read returns the same row of every lane: the
weights of ``NL`` neurons for one beat.

The counter bank reports every write it makes (``wb``: the new weight bits of one counter
word and a tag the trainer gave the command); the trainer turns that into a write of one
granule here, so the copy always equals the counters' signs.

Bits of a row past the layer's fan-in are 1 (padding weight +1); the trainer keeps the
activation bits there 0, so ``XNOR`` contributes nothing and the popcount needs no mask.
"""

from amaranth import Module
from amaranth.lib import data, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

__all__ = ["SignBank", "SignLayout", "sign_write_layout"]


class SignLayout:
    """Where every weight's sign bit lives in the :class:`SignBank` of a configuration."""

    def __init__(self, cfg):
        self.cfg = cfg
        self.lanes = cfg.forward_lanes
        self.words = cfg.forward_words
        self.width = cfg.forward_bits
        self.word_beats = [-(-f // cfg.lanes) for f in cfg.widths[:-1]]   # counter words
        self.beats = [cfg.forward_beats(l) for l in range(cfg.n_layers)]
        self.rounds = [-(-n // self.lanes) for n in cfg.layers]
        self.base = []
        d = 0
        for r, b in zip(self.rounds, self.beats):
            self.base.append(d)
            d += r * b
        self.depth = max(1, d)

    def location(self, layer, neuron, word):
        """(lane, row, granule) of counter word ``word`` of ``neuron`` in ``layer``."""
        lane, rnd = neuron % self.lanes, neuron // self.lanes
        return (lane, self.base[layer] + rnd * self.beats[layer] + word // self.words,
                word % self.words)

    def rows(self, state):
        """Initial contents from golden-model counters (list of (N, F) arrays): per lane, the
        list of row values (ints of ``width`` bits; padding bits 1)."""
        import numpy as np
        out = [[(1 << self.width) - 1] * self.depth for _ in range(self.lanes)]
        for l, s in enumerate(state):
            n, f = s.shape
            w = (np.asarray(s) >= 0)
            for j in range(n):
                lane, rnd = j % self.lanes, j // self.lanes
                for beat in range(self.beats[l]):
                    lo = beat * self.width
                    v = 0
                    for i in range(self.width):
                        if lo + i >= f or w[j, lo + i]:
                            v |= 1 << i
                    out[lane][self.base[l] + rnd * self.beats[l] + beat] = v
        return out


def sign_write_layout(lanes, words, depth, granule):
    """A write of one granule: lane, row, granule index within the row, the bits."""
    return data.StructLayout({
        "valid": 1,
        "lane": range(max(2, lanes)),
        "row": range(max(2, depth)),
        "granule": range(max(2, words)),
        "bits": granule,
    })


class SignBank(wiring.Component):
    """``lanes`` block-RAM columns of sign bits, one row of every lane read per cycle.

    Parameters
    ----------
    lanes : int
        ``NL``, neuron lanes (memories).
    words : int
        Granules per row.
    granule : int
        Bits per granule (``P``, the counter bank's lanes).
    depth : int
        Rows per lane.
    init : list of list of int, optional
        Per lane, the initial row values.

    Attributes
    ----------
    rd_addr : In(range(depth))
        Row to read; ``rd_data`` has it one cycle later.
    rd_data : Out(ArrayLayout(words · granule, lanes))
        The row of every lane (lane ``q`` = element ``q``).
    wr : In(sign_write_layout(...))
        One granule write per cycle (``valid``); takes effect for reads issued after it.
    """

    read_latency = 1

    def __init__(self, lanes, words, granule, depth, init=None):
        self.lanes, self.words, self.granule, self.depth = lanes, words, granule, depth
        self.width = words * granule
        init = init or [[(1 << self.width) - 1] * depth for _ in range(lanes)]
        self.mems = [Memory(shape=self.width, depth=depth, init=init[q]) for q in range(lanes)]
        super().__init__({
            "rd_addr": In(range(max(2, depth))),
            "rd_data": Out(data.ArrayLayout(self.width, lanes)),
            "wr": In(sign_write_layout(lanes, words, depth, granule)),
        })

    @classmethod
    def from_config(cls, cfg, state=None):
        """The bank of ``cfg``, initialised from golden-model counters ``state``."""
        lay = SignLayout(cfg)
        return cls(lay.lanes, lay.words, cfg.lanes, lay.depth,
                   init=lay.rows(state) if state is not None else None)

    def peek_rows(self, ctx):
        """Every lane's rows (lists of ints), read in an Amaranth testbench."""
        return [[ctx.get(mem.data[i]) for i in range(self.depth)] for mem in self.mems]

    def elaborate(self, platform):
        m = Module()
        for q, mem in enumerate(self.mems):
            m.submodules[f"lane{q}"] = mem
            rd = mem.read_port(domain="sync", transparent_for=())
            wr = mem.write_port(granularity=self.granule)
            m.d.comb += [
                rd.addr.eq(self.rd_addr),
                self.rd_data[q].eq(rd.data),
                wr.addr.eq(self.wr.row),
                wr.data.eq(self.wr.bits.replicate(self.words)),
            ]
            for g in range(self.words):
                hit = self.wr.valid & (self.wr.granule == g)
                if self.lanes > 1:
                    hit &= self.wr.lane == q
                m.d.comb += wr.en[g].eq(hit)
        return m
