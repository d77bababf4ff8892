"""XNOR-popcount array: the pre-activation ``h = 2·popcount(XNOR(a, w)) − N`` of one neuron.

``P`` lanes take ``P`` activation bits and ``P`` weight bits per beat; a vector of ``N`` bits
takes ``ceil(N / P)`` beats, the extra lanes of the last beat are masked off. The per-beat
popcount is a carry-save tree (full and half adders, then one short addition) with as many
register stages as a balanced adder tree with a register every ``k`` levels would have
(``k = 0``: fully combinational), followed by an accumulator and a registered output
(spec §5.1).
"""

from amaranth import Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

__all__ = ["XnorPopcount", "beat_layout"]


def beat_layout(lanes, framed=False):
    """Payload of one input beat: ``a`` (activations) and ``w`` (weights), bit ``i`` = lane ``i``;
    ``framed``: also ``first`` and ``last`` (the beat opens / closes a vector)."""
    fields = {"a": lanes, "w": lanes}
    if framed:
        fields.update(first=1, last=1)
    return data.StructLayout(fields)


def _compress(cols):
    """One carry-save stage: every bit weight's bits in groups of three through a full adder
    (sum at this weight, carry at the next), a remaining pair through a half adder if the
    weight has more than two bits."""
    out = {}
    for w, c in sorted(cols.items()):
        i = 0
        while len(c) - i >= 3:
            a, b, d = c[i:i + 3]
            i += 3
            out.setdefault(w, []).append(a ^ b ^ d)
            out.setdefault(w + 1, []).append((a & b) | (d & (a ^ b)))
        if len(c) - i == 2 and len(c) > 2:
            a, b = c[i:i + 2]
            i += 2
            out.setdefault(w, []).append(a ^ b)
            out.setdefault(w + 1, []).append(a & b)
        out.setdefault(w, []).extend(c[i:])
    return out


def _csa_stages(lanes):
    """Carry-save stages of :func:`_compress` until every weight has at most two bits."""
    cols, n = {0: [0] * lanes}, 0
    while max(len(c) for c in cols.values()) > 2:
        cols, n = _compress(cols), n + 1
    return n


class XnorPopcount(wiring.Component):
    """``P``-lane XNOR-popcount array with accumulator.

    Parameters
    ----------
    lanes : int
        ``P``, bits consumed per beat (1 or more, any value).
    max_inputs : int
        Largest vector length ``N`` the array must handle (sets the counter widths).
    levels_per_stage : int
        Pipelining of the adder tree: one register stage every this many tree levels
        (``0``: no register inside the tree).
    mask_tail : bool
        Ignore the lanes at or beyond ``N`` of the last beat (one compare per lane). With
        ``False`` the caller guarantees that they contribute nothing (``XNOR(a, w) = 0``
        there, e.g. activation 0 and weight 1), which saves the compares on wide arrays.
    framed : bool
        The caller marks every beat ``first`` / ``last`` of its vector (``i.p.first``,
        ``i.p.last``) and holds ``n`` for the whole vector, so the block counts no beats: several
        arrays fed in lock-step (the trainer's neuron lanes) share one beat counter. Needs
        ``mask_tail=False``.

    Attributes
    ----------
    n : In(range(max_inputs + 1))
        Vector length ``N`` (>= 1). Sampled on the first beat of each vector, so it may change
        as soon as that beat is accepted (``framed``: read as the vector's result is formed;
        hold it until then).
    i : In(stream.Signature(beat_layout(lanes, framed)))
        Input beats. Beat ``b`` of a vector carries bits ``b·P … b·P + P − 1`` in lanes
        ``0 … P − 1``; a vector is exactly ``ceil(N / P)`` beats (the block counts them).
        Lanes at or beyond ``N`` on the last beat are ignored.
    o : Out(stream.Signature(signed(ceil_log2(max_inputs + 1) + 1)))
        One ``h`` per vector, in order.

    Notes
    -----
    Throughput: one beat per cycle (``i.ready`` is low only while ``o`` holds a result the
    consumer has not taken). Latency from accepting a vector's last beat to ``o.valid``:
    :attr:`latency` cycles.
    """

    def __init__(self, lanes, max_inputs, levels_per_stage=0, mask_tail=True, framed=False):
        if lanes < 1 or max_inputs < 1 or levels_per_stage < 0:
            raise ValueError("lanes and max_inputs must be >= 1, levels_per_stage >= 0")
        if framed and mask_tail:
            raise ValueError("framed needs mask_tail=False (the block counts no beats)")
        self.framed = framed
        self.lanes = lanes
        self.max_inputs = max_inputs
        self.levels_per_stage = levels_per_stage
        self.mask_tail = mask_tail
        self.tree_levels = ceil_log2(lanes)
        if levels_per_stage and self.tree_levels:
            self.tree_stages = (self.tree_levels - 1) // levels_per_stage
        else:
            self.tree_stages = 0
        self.count_width = ceil_log2(max_inputs + 1)
        super().__init__({
            "n": In(range(max_inputs + 1)),
            "i": In(stream.Signature(beat_layout(lanes, framed))),
            "o": Out(stream.Signature(signed(self.count_width + 1))),
        })

    @property
    def latency(self):
        """Cycles from the last beat's acceptance to ``o.valid``."""
        return self.tree_stages + 1

    @classmethod
    def from_config(cls, cfg, levels_per_stage=2):
        """Array sized for the widest fan-in of ``cfg`` with ``cfg.lanes`` lanes."""
        return cls(cfg.lanes, max(cfg.widths[:-1]), levels_per_stage)

    def elaborate(self, platform):
        m = Module()
        p = self.lanes
        en = Signal()               # the whole pipeline advances together
        m.d.comb += [en.eq(~self.o.valid | self.o.ready), self.i.ready.eq(en)]

        if self.framed:
            first, last, n_of_vec = self.i.p.first, self.i.p.last, self.n
        else:
            # Beat counting: `remaining` bits of the current vector, 0 between vectors.
            remaining = Signal(range(self.max_inputs + 1))
            vec_n = Signal(range(self.max_inputs + 1))
            cur = Signal(range(self.max_inputs + 1))
            first = remaining == 0
            m.d.comb += cur.eq(Mux(first, self.n, remaining))
            last = Signal()
            m.d.comb += last.eq(cur <= p)
            n_of_vec = Signal.like(vec_n)
            m.d.comb += n_of_vec.eq(Mux(first, self.n, vec_n))
            with m.If(self.i.valid & en):
                m.d.sync += remaining.eq(Mux(last, 0, cur - p))
                with m.If(first):
                    m.d.sync += vec_n.eq(self.n)

        # XNOR and mask of lanes beyond N.
        bits = [~(self.i.p.a[lane] ^ self.i.p.w[lane]) for lane in range(p)]
        if self.mask_tail:
            bits = [b & (cur > lane) for lane, b in enumerate(bits)]
        valid, tlast, tn, tfirst = self.i.valid, last, n_of_vec, first

        # Carry-save tree: the XNOR bits are summed column by column with full and half adders
        # (plain LUTs, no carry chain) until every bit weight has at most two bits, then one
        # short addition. It takes the place of a balanced tree of adders: as many LUTs, half
        # the carry cells, and its registers hold LUT outputs (a carry chain's last carry
        # would need a logic cell for the flip-flop alone on the iCE40). The register stages
        # (as many as the adder tree had: one per `levels_per_stage` of its levels) are spread
        # evenly over the compression stages.
        cols = {0: list(bits)}
        n_stages = _csa_stages(p)
        # (never "after stage 0": that register would be counted and not built)
        reg_after = {max(1, round(n_stages * (k + 1) / (self.tree_stages + 1)))
                     for k in range(self.tree_stages)}
        stage = 0
        while max(len(c) for c in cols.values()) > 2:
            cols = _compress(cols)
            stage += 1
            if stage in reg_after:
                regs = {w: [Signal(name=f"tree_s{stage}_w{w}_{i}", reset_less=True) for i in range(len(c))]
                        for w, c in cols.items()}
                rv = Signal(name=f"tree_s{stage}_valid")
                rl = Signal(name=f"tree_s{stage}_last")
                rn = Signal.like(self.n, name=f"tree_s{stage}_n")
                rf = Signal(name=f"tree_s{stage}_first")
                with m.If(en):
                    m.d.sync += [r.eq(v) for w in cols for r, v in zip(regs[w], cols[w])]
                    m.d.sync += [rv.eq(valid), rl.eq(tlast), rf.eq(tfirst)]
                    if not self.framed:            # framed: n is held, not carried along
                        m.d.sync += rn.eq(tn)
                        tn = rn
                cols, valid, tlast, tfirst = regs, rv, rl, rf
        for k in range(self.tree_stages - len([r for r in reg_after if r <= stage])):
            # (fewer compression stages than register stages: only for tiny lane counts)
            rv, rl, rf = Signal(), Signal(), Signal()
            rn = Signal.like(self.n)
            regs = {w: [Signal(reset_less=True) for _ in c] for w, c in cols.items()}
            with m.If(en):
                m.d.sync += [r.eq(v) for w in cols for r, v in zip(regs[w], cols[w])]
                m.d.sync += [rv.eq(valid), rl.eq(tlast), rf.eq(tfirst)]
                if not self.framed:
                    m.d.sync += rn.eq(tn)
                    tn = rn
            cols, valid, tlast, tfirst = regs, rv, rl, rf
        width = max(cols) + 1
        x = Cat(*[cols[w][0] if cols.get(w) else Const(0, 1) for w in range(width)])
        y = Cat(*[cols[w][1] if len(cols.get(w, ())) > 1 else Const(0, 1) for w in range(width)])
        beat_sum = x + y

        # Accumulator of h itself: it starts at −N on a vector's first beat and adds 2·(beat
        # popcount) per beat, so the output needs no subtraction after the last addition (one
        # carry chain per cycle instead of two). The accumulator is the output register: a
        # result waiting on `o` holds the pipeline (en), so no beat overwrites it (two
        # registers fed by the same adder would each need a logic cell of their own).
        acc = self.o.payload
        total = Signal(signed(self.count_width + 1))
        m.d.comb += total.eq(Mux(tfirst, -tn, acc) + (beat_sum << 1))
        with m.If(en):
            m.d.sync += self.o.valid.eq(0)
            with m.If(valid):
                m.d.sync += acc.eq(total)
                with m.If(tlast):
                    m.d.sync += self.o.valid.eq(1)
        return m
