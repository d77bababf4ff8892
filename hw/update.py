"""Online update engine (spec §6.4): the chosen neurons' counters, ``P`` per cycle.

After a layer's forward pass the trainer hands the layer to :class:`UpdateEngine` and goes on
with the next layer's forward pass, which needs neither the counter bank nor this layer's
activations: the two run at the same time. For every group whose selector found a wrong
neuron ``j`` (target ``τ``), the engine applies ``c[j][i] ← sat(c[j][i] ± 1)`` (``+1`` where
``a[i] = τ``) as UPDATE commands of ``P`` lanes on consecutive counter words, tagged with the
words' places in the sign-bit copy (:mod:`~xnorlearn.hw.signbank`), so the copy follows.

Its inputs: the chosen neurons in a small memory the trainer owns (two halves, by layer
parity, so the next layer's selector can write while the engine reads), and the layer's
input activations through a shared read port of the activation memory that the forward pass
owns when it needs it (``act_req`` / ``act_grant``). One activation word serves
``forward_words`` beats; ``prefetch`` words (two by default) are fetched ahead into a FIFO.
"""

from amaranth import Array, Const, Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.fifo import SyncFIFO
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from .counters import BankOp, LaneOp, command_layout

__all__ = ["UpdateEngine", "chosen_layout"]


def chosen_layout(max_neurons):
    """An entry of the chosen-neuron memory: the neuron and its target."""
    return data.StructLayout({"index": range(max(2, max_neurons)), "tau": 1})


def _const_array(values):
    width = max(1, max(int(v).bit_length() for v in values))
    return Array(Const(int(v), width) for v in values)


class UpdateEngine(wiring.Component):
    """Applies one layer's online updates.

    Parameters
    ----------
    cfg : Config
    lay : TrainerLayout
        Counter and activation addresses.
    slay : SignLayout
        Sign-copy places (tags).
    tag_layout : Layout
        The bank command tag (``en``, ``lane``, ``row``, ``granule``).
    prefetch : int
        Activation words buffered or on their way (default 2; 1 saves a word of flip-flops
        and waits more often for the shared read port).

    Attributes
    ----------
    start : In(stream.Signature(StructLayout({"layer", "found"})))
        A layer to update; ``found`` bit ``g`` says group ``g`` chose a neuron. Accepted only
        when idle.
    busy : Out(1)
        A layer is being updated (``layer`` names it).
    layer : Out(range(L))
    ch_addr : Out(range(2 · max groups))
        Chosen-neuron memory read address (half ``layer mod 2``, entry = group);
        ``ch_data`` has the entry one cycle later.
    ch_data : In(chosen_layout(max N))
    act_req, act_addr : Out
        Wants the activation memory's read port for word ``act_addr``;
    act_grant : In(1)
        … and gets it this cycle; ``act_data`` has the word one cycle later.
    act_data : In(forward_bits)
    cmd : Out(stream.Signature(command_layout(...)))
        UPDATE commands for the counter bank.
    """

    def __init__(self, cfg, lay, slay, tag_layout, prefetch=2):
        self.cfg, self.lay, self.slay, self.tag_layout = cfg, lay, slay, tag_layout
        self.prefetch = prefetch
        self.max_groups = max(lay.groups)
        L = cfg.n_layers
        super().__init__({
            "start": In(stream.Signature(data.StructLayout({
                "layer": range(max(2, L)), "found": self.max_groups}))),
            "busy": Out(1),
            "layer": Out(range(max(2, L))),
            "ch_addr": Out(range(2 * self.max_groups)),
            "ch_data": In(chosen_layout(max(cfg.layers))),
            "act_req": Out(1),
            "act_addr": Out(range(max(2, lay.act_depth))),
            "act_grant": In(1),
            "act_data": In(cfg.forward_bits),
            "cmd": Out(stream.Signature(command_layout(cfg.lanes, cfg.counter_bits,
                                                       lay.cnt_depth, tag_layout.size))),
        })

    def elaborate(self, platform):
        cfg, lay, slay = self.cfg, self.lay, self.slay
        P, G, NL = cfg.lanes, slay.words, slay.lanes
        lg_nl = ceil_log2(NL)
        m = Module()
        m.submodules.fifo = fifo = SyncFIFO(width=cfg.forward_bits, depth=self.prefetch)

        layer = self.layer
        BEATS = _const_array(lay.beats)[layer]
        # lanes of the last counter word inside the fan-in: F − (beats − 1)·P, in 1 … P
        LAST_LANES = _const_array([f - (b - 1) * P
                                   for f, b in zip(cfg.widths[:-1], lay.beats)])[layer]
        SBEATS = _const_array(slay.beats)[layer]
        GROUPS = _const_array(lay.groups)[layer]
        CNT_BASE = _const_array(lay.cnt_base)[layer]
        ACT_BASE = _const_array(lay.act_base)[layer]
        SB_BASE = _const_array(slay.base)[layer]

        found = Signal(self.max_groups)
        g = Signal(range(self.max_groups + 1))
        j = Signal(range(max(2, max(cfg.layers))))
        tau = Signal()
        # first counter word and first sign-copy row of neuron j: constant multiplies through
        # two registers (states W1, W2)
        row_prod = Signal(range(lay.cnt_depth + 1))
        row_addr = Signal(range(lay.cnt_depth + 1))
        srow_prod = Signal(range(slay.depth + 1))
        srow_addr = Signal(range(slay.depth + 1))
        m.d.sync += [row_prod.eq(Array(j * b for b in lay.beats)[layer]),
                     row_addr.eq(CNT_BASE + row_prod),
                     srow_prod.eq(Array((j >> lg_nl) * b for b in slay.beats)[layer]),
                     srow_addr.eq(SB_BASE + srow_prod)]

        addr = Signal(range(lay.cnt_depth + 1))       # counter word of beat b
        b = Signal(range(max(lay.beats) + 1))         # beats issued
        srow = Signal(range(slay.depth + 1))          # sign-copy row …
        gran = Signal(range(max(2, G)))               # … and granule of beat b
        words = Signal(range(max(slay.beats) + 1))    # activation words requested
        inflight = Signal()                           # a granted read returns this cycle
        act_word = Signal(range(max(2, lay.act_depth)))

        m.d.comb += [self.ch_addr.eq(Mux(layer[0], self.max_groups, 0) + g),
                     fifo.w_data.eq(self.act_data), fifo.w_en.eq(inflight)]
        m.d.sync += inflight.eq(0)

        with m.FSM(name="update"):
            with m.State("IDLE"):
                m.d.comb += self.start.ready.eq(1)
                with m.If(self.start.valid):
                    m.d.sync += [layer.eq(self.start.p.layer), found.eq(self.start.p.found),
                                 g.eq(0)]
                    m.next = "FETCH"
            with m.State("FETCH"):
                m.d.comb += self.busy.eq(1)
                with m.If(g == GROUPS):
                    m.next = "IDLE"
                with m.Else():
                    m.next = "CHOSEN"
            with m.State("CHOSEN"):
                m.d.comb += self.busy.eq(1)
                with m.If(found.bit_select(g, 1)):
                    m.d.sync += [j.eq(self.ch_data.index), tau.eq(self.ch_data.tau)]
                    m.next = "W1"
                with m.Else():
                    m.d.sync += g.eq(g + 1)
                    m.next = "FETCH"
            with m.State("W1"):
                m.d.comb += self.busy.eq(1)
                m.next = "W2"
            with m.State("W2"):
                m.d.comb += self.busy.eq(1)
                m.next = "SETUP"
            with m.State("SETUP"):
                m.d.comb += self.busy.eq(1)
                m.d.sync += [addr.eq(row_addr), srow.eq(srow_addr), gran.eq(0), b.eq(0),
                             words.eq(0), act_word.eq(ACT_BASE)]
                m.next = "RUN"
            with m.State("RUN"):
                m.d.comb += self.busy.eq(1)
                # prefetch: at most `prefetch` words buffered or on their way
                want = (words != SBEATS) & ((fifo.level + inflight) < self.prefetch)
                m.d.comb += [self.act_req.eq(want), self.act_addr.eq(act_word)]
                with m.If(want & self.act_grant):
                    m.d.sync += [inflight.eq(1), words.eq(words + 1),
                                 act_word.eq(act_word + 1)]
                # one UPDATE per cycle from the buffered word's granule `gran`
                a_beat = fifo.r_data.word_select(gran, P) if G > 1 else fifo.r_data
                tag = Signal(self.tag_layout)
                m.d.comb += [tag.en.eq(1), tag.lane.eq(j[:lg_nl] if lg_nl else 0),
                             tag.row.eq(srow), tag.granule.eq(gran)]
                go = (b != BEATS) & fifo.r_rdy
                m.d.comb += [self.cmd.valid.eq(go), self.cmd.p.op.eq(BankOp.UPDATE),
                             self.cmd.p.addr.eq(addr), self.cmd.p.tag.eq(tag)]
                for q in range(P):
                    # b·P + q < F: every lane but those past F in the last beat (no compare
                    # chain per lane)
                    in_range = (b != BEATS - 1) | (q < LAST_LANES) if q else Const(1)
                    agree = a_beat[q] == tau
                    m.d.comb += self.cmd.p.lanes[q].eq(
                        Mux(in_range, Mux(agree, LaneOp.INC, LaneOp.DEC), LaneOp.HOLD))
                with m.If(go & self.cmd.ready):
                    m.d.sync += [b.eq(b + 1), addr.eq(addr + 1)]
                    last = b == BEATS - 1
                    with m.If((gran == G - 1) | last):
                        m.d.comb += fifo.r_en.eq(1)
                    with m.If(gran == G - 1):
                        m.d.sync += [gran.eq(0), srow.eq(srow + 1)]
                    with m.Else():
                        m.d.sync += gran.eq(gran + 1)
                with m.If(b == BEATS):
                    m.d.sync += g.eq(g + 1)
                    m.next = "FETCH"
        return m
