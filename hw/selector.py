"""Group selector (spec §6.2–3): per group of ``γ`` neurons, the wrong neuron with the smallest
``|h|`` (lowest index on ties), or none."""

from amaranth import Module, Mux, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

__all__ = ["GroupSelector", "neuron_layout", "choice_layout"]


def neuron_layout(h_width):
    """One neuron of the layer: pre-activation ``h`` and target ``tau`` (= R[j][y])."""
    return data.StructLayout({"h": signed(h_width), "tau": 1})


def choice_layout(n_neurons, group_size, max_groups=None):
    return data.StructLayout({
        "group": range(max(2, max_groups or n_neurons // group_size)),
        "found": 1,
        "index": range(max(2, n_neurons)),
        "tau": 1,
    })


class GroupSelector(wiring.Component):
    """Streams a layer's neurons and picks at most one neuron per group.

    Parameters
    ----------
    n_neurons : int
        ``N``, neurons of the layer (a multiple of ``group_size``): the reset value of the
        ``n`` port and the largest value it may take.
    group_size : int
        ``γ``; ``γ = 1`` picks every wrong neuron. Reset value of the ``gamma`` port.
    max_fan_in : int
        Largest ``|h|`` (the layer's fan-in); sets the width of ``h``.
    max_groups : int, optional
        Largest ``N / γ`` the ports may set (default ``n_neurons / group_size``): one
        selector serves layers of different widths and group sizes.

    Attributes
    ----------
    n, gamma : In
        ``N`` and ``γ`` of the current layer (``N`` a multiple of ``γ``); hold them steady
        while a layer streams.
    i : In(stream.Signature(neuron_layout(...)))
        Neurons ``0 … N − 1`` in order, repeating for the next sample. Neuron ``j`` is wrong
        iff ``tau = 1 and h < 0`` or ``tau = 0 and h > 0`` (``h = 0`` is never wrong).
    o : Out(stream.Signature(choice_layout(...)))
        One beat per group, in order: ``group``, ``found`` (a wrong neuron exists),
        ``index`` (the chosen neuron's index in the layer) and ``tau`` (its target; both
        meaningful iff ``found``).

    Notes
    -----
    One neuron per cycle, two pipeline stages (``|h|`` and the wrong test, then the
    comparison): the group's choice is valid two cycles after its last neuron is accepted.
    ``i.ready`` is low only while a choice waits for ``o.ready``.
    """

    def __init__(self, n_neurons, group_size, max_fan_in, max_groups=None):
        if group_size < 1 or n_neurons % group_size:
            raise ValueError(f"n_neurons {n_neurons} is not a multiple of group size {group_size}")
        self.n_neurons, self.group_size, self.max_fan_in = n_neurons, group_size, max_fan_in
        self.max_groups = max_groups or n_neurons // group_size
        self.h_width = ceil_log2(max_fan_in + 1) + 1
        super().__init__({
            "n": In(range(n_neurons + 1), init=n_neurons),
            "gamma": In(range(n_neurons + 1), init=group_size),
            "i": In(stream.Signature(neuron_layout(self.h_width))),
            "o": Out(stream.Signature(choice_layout(n_neurons, group_size, self.max_groups))),
        })

    @classmethod
    def from_config(cls, cfg, layer=0):
        return cls(cfg.layers[layer], cfg.group_sizes[layer], cfg.fan_in(layer))

    def elaborate(self, platform):
        m = Module()
        en = Signal()
        m.d.comb += [en.eq(~self.o.valid | self.o.ready), self.i.ready.eq(en)]

        index = Signal(range(max(2, self.n_neurons)))
        pos = Signal(range(max(2, self.n_neurons)))
        group = Signal.like(self.o.p.group)
        found = Signal()
        best_abs = Signal(self.h_width)
        best_idx = Signal.like(index)
        best_tau = Signal()

        # stage A: |h|, the wrong test and the neuron's place in its group, registered (so the
        # magnitude's negation and the comparison are not one path)
        h, tau = self.i.p.h, self.i.p.tau
        a_valid, a_wrong, a_tau, a_first, a_last = (Signal(name=f"a_{n}") for n in
                                                    ("valid", "wrong", "tau", "first", "last"))
        a_mag = Signal(self.h_width)
        a_index = Signal.like(index)
        a_group = Signal.like(group)
        last_in_group = pos == self.gamma - 1
        last_neuron = index == self.n - 1
        with m.If(en):
            m.d.sync += a_valid.eq(self.i.valid)
            with m.If(self.i.valid):
                m.d.sync += [a_mag.eq(Mux(h < 0, -h, h)), a_wrong.eq(Mux(tau, h < 0, h > 0)),
                             a_tau.eq(tau), a_index.eq(index), a_group.eq(group),
                             a_first.eq(pos == 0), a_last.eq(last_in_group),
                             index.eq(Mux(last_neuron, 0, index + 1))]
                with m.If(last_in_group):
                    m.d.sync += [pos.eq(0), group.eq(Mux(last_neuron, 0, group + 1))]
                with m.Else():
                    m.d.sync += pos.eq(pos + 1)

        # stage B: the group's best candidate so far; the choice after its last neuron
        have = found & ~a_first                   # a candidate of the current group
        better = a_wrong & (~have | (a_mag < best_abs))
        new_found = Signal()
        new_idx = Signal.like(index)
        new_tau = Signal()
        m.d.comb += [new_found.eq(have | a_wrong),
                     new_idx.eq(Mux(better, a_index, best_idx)),
                     new_tau.eq(Mux(better, a_tau, best_tau))]
        with m.If(en):
            m.d.sync += self.o.valid.eq(0)
            with m.If(a_valid):
                m.d.sync += [found.eq(new_found), best_idx.eq(new_idx), best_tau.eq(new_tau)]
                with m.If(better):
                    m.d.sync += best_abs.eq(a_mag)
                with m.If(a_last):
                    m.d.sync += [self.o.valid.eq(1), self.o.p.group.eq(a_group)]
        # the choice is the candidate registers themselves: they take the group's last
        # neuron with the output's valid and hold while it waits (en low), so no copy
        m.d.comb += [self.o.p.found.eq(found), self.o.p.index.eq(best_idx),
                     self.o.p.tau.eq(best_tau)]
        return m
