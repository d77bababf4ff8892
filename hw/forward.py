"""The forward engine: one layer's forward pass, decision and group choices (spec §5, §6.1–6.3).

:class:`ForwardEngine` computes layer ``l`` from its input activations (``forward_bits``-bit
words at ``act_base[l]``) and the sign copy of its weights
(:class:`~xnorlearn.hw.signbank.SignBank`): rounds of ``forward_lanes`` neurons, one sign-copy
row (one ``forward_bits`` word per lane) and one activation word per cycle into the
XNOR-popcount lanes; a round's pre-activations ``h_j`` leave through a shift register one per
cycle, in neuron order. Per neuron: ``a_j = [h_j ≥ 0]`` is packed into the next layer's input
words (not for the last layer), and ``a_j`` with the classifier row ``R_l[j]`` feeds the
:class:`~xnorlearn.hw.decision.DecisionUnit` while ``h_j`` and ``τ_j = R_l[j][label]`` feed the
:class:`~xnorlearn.hw.selector.GroupSelector`, whose choices go to the chosen-neuron memory
(half ``l mod 2``, entry = group) for the update engine. One decision unit and one selector
serve every layer; their per-layer parameters come from registers loaded from ``layer``.

The engine ends with the layer's decision (``learn``, and the prediction, which the caller
keeps for the last layer).
"""

from amaranth import Array, Const, Module, Mux, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from .decision import DecisionUnit
from .popcount import XnorPopcount
from .selector import GroupSelector
from .update import chosen_layout

__all__ = ["ForwardEngine"]


def _const_array(values):
    width = max(1, max(int(v).bit_length() for v in values))
    return Array(Const(int(v), width) for v in values)


class ForwardEngine(wiring.Component):
    """One layer's forward pass at a time.

    Parameters
    ----------
    cfg : Config
    lay : TrainerLayout
        Activation words and classifier rows (``act_base``, ``r_base``, ``groups``).
    slay : SignLayout
        The sign copy (``base``, ``beats``, ``rounds``, ``lanes``).
    levels_per_stage : int
        Adder-tree pipelining of the popcounts.

    Attributes
    ----------
    start : In(1)
        Begin the forward pass of ``layer`` (one cycle, while idle; the layer's input words
        are in the activation memory). Clears ``found``.
    done : Out(StructLayout({"valid", "learn", "pred"}))
        ``valid`` for one cycle at the end: the decision unit's ``learn`` and ``pred``.
    busy : Out(1)
    layer : In(range(L + 1))
    label : In(8)
        Held from ``start`` to ``done`` (the sample's label; 0 for INFER).
    found : Out(max groups)
        Bit ``g``: group ``g`` chose a neuron (its entry is in the chosen memory).
    act_req : Out(1)
        The engine reads activation word ``act_addr`` this cycle (it has the read port
        whenever it asks); ``act_data`` has the word one cycle later.
    act_addr : Out(range(act_depth)), act_data : In(forward_bits)
    act_write : Out(StructLayout({"en", "addr", "data"}))
        A whole output word of the layer (the next layer's input).
    sign_addr : Out(range(sign depth)), sign_data : In(ArrayLayout(forward_bits, lanes))
        The sign copy's read port (one cycle).
    r_addr : Out(range(r_depth)), r_data : In(C)
        The classifier memory's read port (one cycle).
    chosen : Out(StructLayout({"en", "addr", "data": chosen_layout}))
        Chosen-memory writes.
    """

    def __init__(self, cfg, lay, slay, levels_per_stage=2):
        self.cfg, self.lay, self.slay = cfg, lay, slay
        self.levels_per_stage = levels_per_stage
        max_groups = max(lay.groups)
        super().__init__({
            "start": In(1),
            "done": Out(data.StructLayout({"valid": 1, "learn": 1,
                                           "pred": range(cfg.n_classes)})),
            "busy": Out(1),
            "layer": In(range(cfg.n_layers + 1)),
            "label": In(8),
            "found": Out(max_groups),
            "act_req": Out(1),
            "act_addr": Out(range(max(2, lay.act_depth))),
            "act_data": In(cfg.forward_bits),
            "act_write": Out(data.StructLayout({
                "en": 1, "addr": range(max(2, lay.act_depth)), "data": cfg.forward_bits})),
            "sign_addr": Out(range(max(2, slay.depth))),
            "sign_data": In(data.ArrayLayout(slay.width, slay.lanes)),
            "r_addr": Out(range(max(2, lay.r_depth))),
            "r_data": In(cfg.n_classes),
            "chosen": Out(data.StructLayout({
                "en": 1, "addr": range(2 * max_groups),
                "data": chosen_layout(max(cfg.layers))})),
        })

    def elaborate(self, platform):
        cfg, lay, slay = self.cfg, self.lay, self.slay
        L, C = cfg.n_layers, cfg.n_classes
        NL, BW = slay.lanes, cfg.forward_bits
        max_f, max_n = max(cfg.widths[:-1]), max(cfg.layers)
        m = Module()

        # framed: one beat counter (f_sb) serves every lane
        pcs = [XnorPopcount(BW, max_f, self.levels_per_stage, mask_tail=False, framed=True)
               for _ in range(NL)]
        for q, pc in enumerate(pcs):
            m.submodules[f"popcount{q}"] = pc
        m.submodules.decision = dec = DecisionUnit(max_n, C)
        m.submodules.selector = sel = GroupSelector(max_n, 1, max_f, max(lay.groups))

        layer, label = self.layer, self.label
        F = _const_array(list(cfg.widths[:-1]))[layer]
        N = _const_array(cfg.layers)[layer]
        ACT_BASE = _const_array(lay.act_base + [lay.act_depth])[layer]
        ACT_NEXT = _const_array(lay.act_base[1:] + [lay.act_depth])[layer]
        R_BASE = _const_array(lay.r_base + [lay.r_depth])[layer]
        ROUNDS = _const_array(slay.rounds)[layer]
        SBEATS = _const_array(slay.beats)[layer]
        SB_BASE = _const_array(slay.base)[layer]
        GAP = _const_array([max(0, NL - b) for b in slay.beats])[layer]
        last_layer = layer == L - 1

        # the popcount's vector length from a register (one cycle behind `layer`, which
        # settles at least two cycles before the first beat arrives)
        f_reg = Signal(range(max_f + 1))
        m.d.sync += f_reg.eq(F)

        def per_layer(name, values):
            """A per-layer parameter of the decision unit and selector: a register loaded from
            `layer` (off the layer-select path), or a constant when every layer has the same
            value (a register would keep its power-on 0 and cost a logic cell per bit)."""
            if len(set(values)) == 1:
                return Const(values[0], range(max_n + 1))
            reg = Signal(range(max_n + 1), name=name)
            m.d.sync += reg.eq(_const_array(values)[layer])
            return reg
        n_reg = per_layer("n_reg", list(cfg.layers))
        gamma_reg = per_layer("gamma_reg", list(cfg.group_sizes))
        margin_reg = per_layer("margin_reg", [cfg.margin_threshold(l) for l in range(L)])
        m.d.comb += [[pc.o.ready.eq(1) for pc in pcs], [pc.n.eq(f_reg) for pc in pcs],
                     dec.label.eq(label), dec.o.ready.eq(0), dec.n.eq(n_reg),
                     dec.margin_threshold.eq(margin_reg),
                     sel.o.ready.eq(1), sel.n.eq(n_reg), sel.gamma.eq(gamma_reg)]

        # issue side: rounds of NL neurons, one sign-bank row (NL × BW bits) per cycle
        f_round = Signal(range(max(slay.rounds) + 1))
        f_sb = Signal(range(max(2, max(slay.beats) + 1)))
        f_gap = Signal(range(NL + 1))       # idle cycles before the next round's first beat
        saddr = Signal(range(max(2, slay.depth + 1)))
        j_out = Signal(range(max_n + 1))
        r_addr = Signal(range(max(2, lay.r_depth + 1)))   # = R_BASE + j_out (no adder on
                                                          # the classifier RAM's address)
        # a round's NL pre-activations leave through a shift register, one per cycle
        h_shape = signed(len(pcs[0].o.payload))
        ser = [Signal(h_shape, name=f"ser{q}") for q in range(NL)]
        ser_cnt = Signal(range(NL + 1))
        h_reg = Signal(h_shape)
        h_valid = Signal()
        # activation packer (output words of the current layer)
        a_word = Signal(BW)
        a_lane = Signal(range(max(2, BW)))
        a_waddr = Signal(range(max(2, lay.act_depth + 1)))
        found = self.found

        # Group choices: the selector writes them as groups complete (the last one two cycles
        # after the layer's last neuron, long before the decision).
        with m.If(sel.o.valid):
            m.d.comb += [self.chosen.addr.eq(sel.o.p.group
                                             + Mux(layer[0], max(lay.groups), 0)),
                         self.chosen.data.index.eq(sel.o.p.index),
                         self.chosen.data.tau.eq(sel.o.p.tau), self.chosen.en.eq(1)]
            with m.If(sel.o.p.found):
                m.d.sync += found.bit_select(sel.o.p.group, 1).eq(1)

        with m.FSM(name="forward") as fsm:
            self.fsm = fsm           # simulation tools read its state (cycles per phase)
            with m.State("IDLE"):
                with m.If(self.start):
                    m.d.sync += found.eq(0)
                    m.next = "FWD_START"
            with m.State("FWD_START"):
                m.d.comb += self.busy.eq(1)
                m.d.sync += [f_round.eq(0), f_sb.eq(0), f_gap.eq(0), saddr.eq(SB_BASE),
                             ser_cnt.eq(0), j_out.eq(0), r_addr.eq(R_BASE),
                             a_lane.eq(0), a_word.eq(0), a_waddr.eq(ACT_NEXT)]
                m.next = "FWD"
            with m.State("FWD"):
                m.d.comb += self.busy.eq(1)
                # issue side: one beat (a sign-bank row and an activation word) per cycle; a
                # round of fewer beats than lanes waits so its results can leave one by one
                issuing = (f_round != ROUNDS) & (f_gap == 0)
                m.d.comb += self.act_req.eq(issuing)
                with m.If(issuing):
                    m.d.comb += [self.act_addr.eq(ACT_BASE + f_sb), self.sign_addr.eq(saddr)]
                    m.d.sync += saddr.eq(saddr + 1)
                    with m.If(f_sb == SBEATS - 1):
                        m.d.sync += [f_sb.eq(0), f_round.eq(f_round + 1), f_gap.eq(GAP)]
                    with m.Else():
                        m.d.sync += f_sb.eq(f_sb + 1)
                with m.Elif(f_gap != 0):
                    m.d.sync += f_gap.eq(f_gap - 1)
                # data side: both reads take one cycle
                beat_valid, beat_first, beat_last = Signal(), Signal(), Signal()
                m.d.sync += [beat_valid.eq(issuing), beat_first.eq(f_sb == 0),
                             beat_last.eq(f_sb == SBEATS - 1)]
                for q, pc in enumerate(pcs):
                    m.d.comb += [pc.i.valid.eq(beat_valid), pc.i.p.a.eq(self.act_data),
                                 pc.i.p.w.eq(self.sign_data[q]), pc.i.p.first.eq(beat_first),
                                 pc.i.p.last.eq(beat_last)]
                # serializer: a round's results (all lanes in the same cycle) leave in
                # neuron order; padding neurons past N are never emitted
                emit = (ser_cnt != 0) & (j_out != N)
                with m.If(pcs[0].o.valid):
                    m.d.sync += [ser_cnt.eq(NL)] + [r.eq(pc.o.payload)
                                                    for r, pc in zip(ser, pcs)]
                with m.Elif(emit):
                    m.d.sync += [ser_cnt.eq(ser_cnt - 1)] + [
                        ser[q].eq(ser[q + 1]) for q in range(NL - 1)]
                # h out: register and fetch the classifier row
                m.d.sync += h_valid.eq(emit)
                with m.If(emit):
                    m.d.sync += h_reg.eq(ser[0])
                    m.d.comb += self.r_addr.eq(r_addr)
                    m.d.sync += [j_out.eq(j_out + 1), r_addr.eq(r_addr + 1)]
                # with h_reg and r_data: decision, selector, activation packer
                a_bit = ~h_reg[-1]
                r_data = self.r_data
                m.d.comb += [dec.i.valid.eq(h_valid), dec.i.p.a.eq(a_bit),
                             dec.i.p.r.eq(r_data),
                             sel.i.valid.eq(h_valid), sel.i.p.h.eq(h_reg),
                             sel.i.p.tau.eq(r_data.bit_select(label[:max(1, ceil_log2(C))],
                                                              1))]
                with m.If(h_valid):
                    new_word = a_word | (a_bit << a_lane)
                    last_neuron = j_out == N   # j_out already counts this neuron
                    with m.If((a_lane == BW - 1) | last_neuron):
                        with m.If(~last_layer):
                            m.d.comb += [self.act_write.addr.eq(a_waddr),
                                         self.act_write.data.eq(new_word),
                                         self.act_write.en.eq(1)]
                        m.d.sync += [a_waddr.eq(a_waddr + 1), a_word.eq(0), a_lane.eq(0)]
                    with m.Else():
                        m.d.sync += [a_word.eq(new_word), a_lane.eq(a_lane + 1)]
                    with m.If(last_neuron):
                        m.next = "FWD_DECIDE"
            with m.State("FWD_DECIDE"):
                m.d.comb += [self.busy.eq(1), dec.o.ready.eq(1)]
                with m.If(dec.o.valid):
                    m.d.comb += [self.done.valid.eq(1), self.done.learn.eq(dec.o.p.learn),
                                 self.done.pred.eq(dec.o.p.pred)]
                    m.next = "IDLE"
        return m
