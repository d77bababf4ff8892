"""Score / decision unit (spec §5.3–4, §6.1): class scores ``s = a · R``, argmax with the lowest
index on ties, top1 − top2 margin and the layer's learn flag."""

from amaranth import Array, Module, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["DecisionUnit", "activation_layout", "decision_layout"]


def activation_layout(n_classes):
    """One neuron's activation bit ``a`` and its classifier row ``r`` (bit ``q`` = R[j][q])."""
    return data.StructLayout({"a": 1, "r": n_classes})


def decision_layout(n_neurons, n_classes):
    return data.StructLayout({
        "pred": range(n_classes),
        "margin": range(2 * n_neurons + 1),
        "learn": 1,
    })


class DecisionUnit(wiring.Component):
    """Accumulates the ``C`` local class scores of one sample and decides.

    Parameters
    ----------
    n_neurons : int
        Largest ``N`` (neurons of a layer: activation beats per sample); the ``n`` port sets
        the current one, so layers of different widths can share the unit.
    n_classes : int
        ``C``.
    margin_threshold : int
        Reset value of the ``margin_threshold`` port (``floor(r · N)``).

    Attributes
    ----------
    n : In(range(1, n_neurons + 1))
        ``N`` of the current sample (default ``n_neurons``); hold it steady during a sample.
    i : In(stream.Signature(activation_layout(n_classes)))
        ``N`` beats per sample, neuron ``0 … N − 1`` in order.
    label : In(range(n_classes))
        True class ``y``; sampled with the sample's last beat.
    margin_threshold : In(range(n_neurons + 1))
        ``M``; sampled with the sample's last beat.
    o : Out(stream.Signature(decision_layout(n_neurons, n_classes)))
        Per sample: ``pred`` = argmax of ``s`` (lowest index on ties), ``margin`` =
        top1 − top2 of ``s`` (0 when the maximum is shared), ``learn`` = ``pred ≠ label`` or
        ``margin < M``.

    Notes
    -----
    The scores are kept as agreement counts ``m_q`` (``s_q = 2 m_q − N``), one incrementer per
    class. After the last beat the unit scans the ``C`` counts, one per cycle: ``o.valid``
    rises ``C + 1`` cycles after the last beat is accepted, and a sample occupies
    ``N + C + 1`` cycles (``i.ready`` is low during the scan and until ``o`` is taken).
    """

    def __init__(self, n_neurons, n_classes, margin_threshold=0):
        if n_classes < 2 or n_neurons < 1:
            raise ValueError("need n_classes >= 2 and n_neurons >= 1")
        self.n_neurons, self.n_classes = n_neurons, n_classes
        super().__init__({
            "n": In(range(n_neurons + 1), init=n_neurons),
            "i": In(stream.Signature(activation_layout(n_classes))),
            "label": In(range(n_classes)),
            "margin_threshold": In(range(n_neurons + 1), init=margin_threshold),
            "o": Out(stream.Signature(decision_layout(n_neurons, n_classes))),
        })

    @classmethod
    def from_config(cls, cfg, layer=0):
        return cls(cfg.layers[layer], cfg.n_classes, cfg.margin_threshold(layer))

    def elaborate(self, platform):
        m = Module()
        n, c = self.n_neurons, self.n_classes
        counts = Array(Signal(range(n + 1), name=f"agree{q}") for q in range(c))
        beat = Signal(range(max(2, n)))
        label = Signal.like(self.label)
        threshold = Signal.like(self.margin_threshold)

        q = Signal(range(c + 1))
        best = Signal(range(c))
        top1 = Signal(range(n + 1))
        top2 = Signal(range(n + 1))
        value = Signal(range(n + 1))
        m.d.comb += value.eq(counts[q])

        margin = Signal(range(2 * n + 1))
        m.d.comb += [
            margin.eq((top1 - top2) << 1),
            self.o.p.pred.eq(best),
            self.o.p.margin.eq(margin),
            self.o.p.learn.eq((best != label) | (margin < threshold)),
        ]

        with m.FSM():
            with m.State("ACCUMULATE"):
                m.d.comb += self.i.ready.eq(1)
                with m.If(self.i.valid):
                    for k in range(c):
                        agree = ~(self.i.p.a ^ self.i.p.r[k])
                        with m.If(beat == 0):
                            m.d.sync += counts[k].eq(agree)
                        with m.Else():
                            m.d.sync += counts[k].eq(counts[k] + agree)
                    with m.If(beat == self.n - 1):
                        m.d.sync += [beat.eq(0), label.eq(self.label),
                                     threshold.eq(self.margin_threshold), q.eq(0)]
                        m.next = "SCAN"
                    with m.Else():
                        m.d.sync += beat.eq(beat + 1)
            with m.State("SCAN"):
                m.d.sync += q.eq(q + 1)
                with m.If(q == 0):
                    m.d.sync += [top1.eq(value), best.eq(0)]
                with m.Elif(q == 1):
                    with m.If(value > top1):
                        m.d.sync += [top2.eq(top1), top1.eq(value), best.eq(1)]
                    with m.Else():
                        m.d.sync += top2.eq(value)
                with m.Else():
                    with m.If(value > top1):
                        m.d.sync += [top2.eq(top1), top1.eq(value), best.eq(q)]
                    with m.Elif(value > top2):
                        m.d.sync += top2.eq(value)
                with m.If(q == c - 1):
                    m.next = "DONE"
            with m.State("DONE"):
                m.d.comb += self.o.valid.eq(1)
                with m.If(self.o.ready):
                    m.next = "ACCUMULATE"
        return m
