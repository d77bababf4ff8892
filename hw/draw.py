"""The draw engine: INIT's counters and classifiers (spec §4) and the reinforcement sweeps (§7).

:class:`DrawEngine` runs one *job* on one layer at a time; a job is named by its PRNG stream
(:mod:`xnorlearn.sw.prng`):

* ``STREAM_INIT``: every counter of the layer from the draws ``hash32(key ^ (j·F + i))``
  (``key = stream_key(seed, layer, STREAM_INIT)``), ``sweep_lanes`` draws per cycle, written
  as whole bank words (lanes at or past ``F`` get 0), each WRITE tagged with its sign-copy
  place so the copy follows;
* ``STREAM_CLASSIFIER``: the layer's classifier rows ``R_l`` (bit 31 of draw ``j·C + c``), one
  draw per cycle, one row write per ``C`` draws;
* ``STREAM_REINFORCE``: the batch-boundary sweep of the layer (``key = stream_key(seed,
  layer, STREAM_REINFORCE, batch)``) through the :class:`~xnorlearn.hw.sweep.SweepEngine`,
  whose hits of one counter word merge into one UPDATE (REINFORCE on their lanes). With a
  parity-interleaved bank (the SPRAM bank) two same-parity UPDATEs are never back to back.

It owns the draw hashes, the key generator (which borrows the first hash) and the sweep engine
(which borrows it too). ``job``, ``layer``, ``seed``, ``batch`` and ``host_tables`` are held by
the caller from ``start`` to ``done``.
"""

from amaranth import Array, Const, Module, Mux, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..sw import prng as sw_prng
from .counters import BankOp, LaneOp, command_layout
from .prng import Hash32, StreamKey
from .sweep import SweepEngine, table_write_layout

__all__ = ["DrawEngine"]


def _const_array(values):
    width = max(1, max(int(v).bit_length() for v in values))
    return Array(Const(int(v), width) for v in values)


class DrawEngine(wiring.Component):
    """INIT's draws and the batch-boundary sweeps, one layer per job.

    Parameters
    ----------
    cfg : Config
    lay : TrainerLayout
        Counter words and classifier rows (``cnt_base``, ``beats``, ``r_base``).
    slay : SignLayout
        Sign-copy places (tags of INIT's writes).
    tag_layout : Layout
        The bank command tag.
    sweep_search : str
        The sweep engine's table search (``"pipelined"`` or ``"sequential"``).
    parity_gap : bool
        The bank is parity-interleaved: leave a cycle between same-parity UPDATEs.

    Attributes
    ----------
    start : In(1)
        Begin a job (one cycle, while idle or in the ``done`` cycle).
    done : Out(1)
        The job is finished (one cycle; its last bank command has been issued).
    busy : Out(1)
    job : In(2)
        The job's PRNG stream (``STREAM_INIT``, ``STREAM_CLASSIFIER``, ``STREAM_REINFORCE``).
    layer : In(range(L + 1))
    seed, batch : In(32)
        The INIT seed; the sweep's batch number.
    host_tables : In(1)
        Sweeps use the host's skip tables (SET_THRESHOLDS), else INIT's.
    tw : In(stream.Signature(table_write_layout(L, prob_bits)))
        Host table writes, to the sweep engine (not while a sweep runs).
    cmd : Out(stream.Signature(command_layout(...)))
        INIT's WRITEs and the sweeps' UPDATEs (issued without waiting for ``ready``: the bank
        is otherwise idle while a job runs).
    r_write : Out(StructLayout({"en", "addr", "data"}))
        Classifier row writes (row ``addr`` of the classifier memory, ``C`` bits).
    """

    def __init__(self, cfg, lay, slay, tag_layout, sweep_search="pipelined", parity_gap=False):
        self.cfg, self.lay, self.slay, self.tag_layout = cfg, lay, slay, tag_layout
        self.parity_gap = parity_gap
        # the draw hashes (INIT draws sweep_lanes per cycle); the first one is lent to the key
        # generator and to the sweep engine, whose power-on / INIT skip tables are A = 0's
        self.hashes = [Hash32(1) for _ in range(cfg.sweep_lanes)]
        self.sweep = SweepEngine(
            cfg.widths[:-1], cfg.layers, cfg.prob_bits, lanes=cfg.lanes,
            word_bases=lay.cnt_base,
            init_tables=[sw_prng.reinforce_table(cfg.p_reinforce, 0.0, cfg.fan_in(l),
                                                 cfg.prob_bits) for l in range(cfg.n_layers)],
            external_hash=True, hash_depth=self.hashes[0].latency, key_held=True,
            search=sweep_search)
        L = cfg.n_layers
        super().__init__({
            "start": In(1),
            "done": Out(1),
            "busy": Out(1),
            "job": In(2),
            "layer": In(range(L + 1)),
            "seed": In(32),
            "batch": In(32),
            "host_tables": In(1),
            "tw": In(stream.Signature(table_write_layout(L, cfg.prob_bits))),
            "cmd": Out(stream.Signature(command_layout(cfg.lanes, cfg.counter_bits,
                                                       lay.cnt_depth, tag_layout.size))),
            "r_write": Out(data.StructLayout({"en": 1, "addr": range(max(2, lay.r_depth)),
                                              "data": cfg.n_classes})),
        })

    def elaborate(self, platform):
        cfg, lay, slay = self.cfg, self.lay, self.slay
        P, C, K, D = cfg.lanes, cfg.n_classes, cfg.counter_bits, cfg.sweep_lanes
        NL, G = slay.lanes, slay.words
        max_n = max(cfg.layers)
        m = Module()

        hashes = self.hashes
        for d, hu in enumerate(hashes):
            m.submodules[f"hash{d}"] = hu
        hsh = hashes[0]
        # borrows hsh; its request comes from registers held until the key is taken
        m.submodules.keygen = keygen = StreamKey(1, external_hash=True, held=True)
        m.submodules.sweep = sweep = self.sweep                           # borrows hsh
        wiring.connect(m, wiring.flipped(self.tw), sweep.tw)

        layer, job = self.layer, self.job
        sweeping = job == sw_prng.STREAM_REINFORCE
        F = _const_array(list(cfg.widths[:-1]))[layer]
        N = _const_array(cfg.layers)[layer]
        CNT_BASE = _const_array(lay.cnt_base + [lay.cnt_depth])[layer]
        R_BASE = _const_array(lay.r_base + [lay.r_depth])[layer]
        SBEATS = _const_array(slay.beats)[layer]
        SB_BASE = _const_array(slay.base)[layer]
        # chunked counter draws: D lanes of one word per cycle
        LAST_OFF = _const_array([b * P - D for b in lay.beats])[layer]

        tag = Signal(self.tag_layout)       # tag of the bank command issued this cycle
        m.d.comb += self.cmd.p.tag.eq(tag)

        max_r_draws = max(n * C for n in cfg.layers)
        idx_total = Signal(range(max_r_draws + 1))   # N·C of the layer
        key = keygen.key.payload         # the last key made (held until the next request)
        # output-side position
        o_i = Signal(range(max(2, C)))   # class within the classifier row
        o_done = Signal(range(max_r_draws + 1))
        lane_vals = Signal(data.ArrayLayout(signed(K), P))
        # sweep: the counter word being collected and its lane operations
        acc_valid = Signal()
        acc_ops = Signal(data.ArrayLayout(LaneOp, P))
        upd_last = Signal()              # an UPDATE was issued in the previous cycle …
        upd_parity = Signal()            # … to a word of this address parity
        r_row = Signal(C)
        r_waddr = Signal(range(max(2, lay.r_depth + 1)))
        # INIT's counter draws and the sweep's UPDATEs (never at the same time) address the bank
        # and the sign copy through the same registers
        w_addr = Signal(range(max(2, lay.cnt_depth + 1)))
        acc_word = w_addr                # INIT: word written next; sweep: word collected
        i_row = Signal(range(max(2, slay.depth + 1)))      # INIT: sign-copy row and granule
        i_gran = Signal(range(max(2, G)))                  # of w_addr
        # the key generator's and the sweep engine's requests are held (registers that do
        # not change while a key is made or a sweep runs)
        m.d.comb += [
            [hu.o.ready.eq(1) for hu in hashes],
            keygen.hash_o.valid.eq(hsh.o.valid), keygen.hash_o.payload.eq(hsh.o.payload),
            sweep.hash_o.payload.eq(hsh.o.payload), sweep.host_tables.eq(self.host_tables),
            keygen.req.p.seed.eq(self.seed), keygen.req.p.layer.eq(layer),
            keygen.req.p.stream.eq(job),
            keygen.req.p.n.eq(Mux(sweeping, self.batch, 0)),
            sweep.start.p.key.eq(key),
        ]
        draw = hsh.o.payload
        cmin, cmax = cfg.counter_min, cfg.counter_max

        def init_value(u):
            """Spec §4 initial counter of a draw, clamped to the counter range."""
            raw = Signal(signed(9))
            c = Signal(signed(K + 2))
            m.d.comb += [raw.eq(u[26:32] + u[20:26] + u[14:20] - sw_prng.INIT_OFFSET),
                         c.eq(Mux(raw < cmin, cmin, Mux(raw > cmax, cmax, raw)))]
            return c

        draw_init = [init_value(hu.o.payload) for hu in hashes]

        in_off = Signal(range(max(2, max(lay.beats) * P)))
        o_off = Signal.like(in_off)
        max_c_index = (max(n * f for n, f in zip(cfg.layers, cfg.widths[:-1]))
                       + max(lay.beats) * P)
        row_base = Signal(range(max_c_index + 1))
        c_idx = Signal(range(max(max_c_index, max_r_draws) + 1))   # = row_base + in_off,
                                                    # kept in a register
        idx_in = c_idx                  # DRAW_R: next classifier draw index (the same
                                        # register: the hash's input is key ^ c_idx in both)
        m.d.comb += hsh.i.payload.eq(key ^ c_idx)  # the draws of INIT (KEY_WAIT, SWEEP_RUN
                                                    # lend the hash to others)
                                                    # (no adder in front of the hash)
        in_rows = Signal(range(max_n + 1))
        o_rows = Signal(range(max_n + 1))
        o_chunk = Signal(range(max(2, P // D)))
        # sign-bank place of the counter word INIT writes next
        i_lane = Signal(range(max(2, NL)))
        i_rbase = Signal(range(max(2, slay.depth + 1)))    # first row of the current round

        with m.FSM(name="draw"):
            with m.State("IDLE"):
                with m.If(self.start):
                    m.next = "KEY_REQ"
            with m.State("KEY_REQ"):
                m.d.comb += [self.busy.eq(1), keygen.req.valid.eq(1)]
                with m.If(keygen.req.ready):
                    m.next = "KEY_WAIT"
            with m.State("KEY_WAIT"):
                m.d.comb += [self.busy.eq(1), keygen.key.ready.eq(1),
                             hsh.i.valid.eq(keygen.hash_i.valid),
                             hsh.i.payload.eq(keygen.hash_i.payload),
                             keygen.hash_i.ready.eq(hsh.i.ready)]
                with m.If(keygen.key.valid):
                    m.d.sync += [o_done.eq(0),
                                 o_i.eq(0), idx_total.eq(N * C),
                                 w_addr.eq(CNT_BASE), r_waddr.eq(R_BASE),
                                 lane_vals.eq(0), r_row.eq(0),
                                 in_off.eq(0), o_off.eq(0), row_base.eq(0), in_rows.eq(0),
                                 c_idx.eq(0),
                                 o_rows.eq(0), o_chunk.eq(0),
                                 i_lane.eq(0), i_row.eq(SB_BASE), i_rbase.eq(SB_BASE),
                                 i_gran.eq(0)]
                    with m.If(sweeping):
                        m.next = "SWEEP_START"
                    with m.Elif(job == sw_prng.STREAM_CLASSIFIER):
                        m.next = "DRAW_R"
                    with m.Else():
                        m.next = "DRAW_C"
            with m.State("DRAW_C"):
                # INIT counters: every word's P lanes, D per cycle (lanes at or past F get 0)
                m.d.comb += self.busy.eq(1)
                with m.If(in_rows != N):
                    for d, hu in enumerate(hashes):
                        m.d.comb += [hu.i.valid.eq(1),
                                     hu.i.payload.eq(key ^ (c_idx + d) if d else key ^ c_idx)]
                    with m.If(in_off == LAST_OFF):
                        m.d.sync += [in_off.eq(0), row_base.eq(row_base + F),
                                     c_idx.eq(row_base + F),
                                     in_rows.eq(in_rows + 1)]
                    with m.Else():
                        m.d.sync += [in_off.eq(in_off + D), c_idx.eq(c_idx + D)]
                with m.If(hsh.o.valid):
                    vals = Signal.like(lane_vals)
                    m.d.comb += vals.eq(lane_vals)
                    with m.Switch(o_chunk):
                        for c in range(P // D):
                            with m.Case(c):
                                for d in range(D):
                                    ok = (o_off + d) < F
                                    m.d.comb += vals[c * D + d].eq(Mux(ok, draw_init[d], 0))
                    with m.If(o_chunk == P // D - 1):
                        m.d.comb += [self.cmd.valid.eq(1), self.cmd.p.addr.eq(w_addr),
                                     self.cmd.p.op.eq(BankOp.WRITE), self.cmd.p.data.eq(vals),
                                     tag.en.eq(1), tag.lane.eq(i_lane),
                                     tag.row.eq(i_row), tag.granule.eq(i_gran)]
                        # the next word's sign-bank place
                        with m.If(o_off == LAST_OFF):          # this neuron's last word
                            m.d.sync += i_gran.eq(0)
                            with m.If(i_lane == NL - 1):
                                m.d.sync += [i_lane.eq(0), i_rbase.eq(i_rbase + SBEATS),
                                             i_row.eq(i_rbase + SBEATS)]
                            with m.Else():
                                m.d.sync += [i_lane.eq(i_lane + 1), i_row.eq(i_rbase)]
                        with m.Elif(i_gran == G - 1):
                            m.d.sync += [i_gran.eq(0), i_row.eq(i_row + 1)]
                        with m.Else():
                            m.d.sync += i_gran.eq(i_gran + 1)
                        m.d.sync += [w_addr.eq(w_addr + 1), lane_vals.eq(0), o_chunk.eq(0)]
                    with m.Else():
                        m.d.sync += [lane_vals.eq(vals), o_chunk.eq(o_chunk + 1)]
                    with m.If(o_off == LAST_OFF):
                        m.d.sync += [o_off.eq(0), o_rows.eq(o_rows + 1)]
                    with m.Else():
                        m.d.sync += o_off.eq(o_off + D)
                with m.If(o_rows == N):
                    m.next = "DONE"
            # The engine walks the layer's rows and emits the reinforced counters in increasing
            # order; hits of one word merge into one UPDATE (REINFORCE on their lanes), issued
            # when a hit of a later word arrives or the engine is done.
            with m.State("SWEEP_START"):
                m.d.comb += [self.busy.eq(1), sweep.start.valid.eq(1),
                             sweep.start.p.layer.eq(layer)]
                m.d.sync += [acc_valid.eq(0), upd_last.eq(0)]
                with m.If(sweep.start.ready):
                    m.next = "SWEEP_RUN"
            with m.State("SWEEP_RUN"):
                m.d.comb += [self.busy.eq(1),
                             hsh.i.valid.eq(sweep.hash_i.valid),
                             hsh.i.payload.eq(sweep.hash_i.payload),
                             sweep.hash_i.ready.eq(hsh.i.ready),
                             sweep.hash_o.valid.eq(hsh.o.valid),
                             hsh.o.ready.eq(sweep.hash_o.ready)]
                hit = sweep.o.valid
                same = hit & acc_valid & (acc_word == sweep.o.p.word)
                flush = acc_valid & Mux(hit, ~same, ~sweep.busy)
                # SPRAM bank: no two same-parity UPDATEs back to back (one cycle's gap)
                gap = ((upd_last & (upd_parity == acc_word[0])) if self.parity_gap
                       else Const(0))
                go = ~(flush & gap)
                m.d.comb += sweep.o.ready.eq(go)
                m.d.sync += upd_last.eq(flush & go)
                with m.If(flush & go):
                    m.d.comb += [self.cmd.valid.eq(1), self.cmd.p.op.eq(BankOp.UPDATE),
                                 self.cmd.p.addr.eq(acc_word), self.cmd.p.lanes.eq(acc_ops)]
                    m.d.sync += [acc_valid.eq(0), upd_parity.eq(acc_word[0])]
                with m.If(hit & go):
                    for q in range(P):
                        m.d.sync += acc_ops[q].eq(
                            Mux(sweep.o.p.lane == q, LaneOp.REINFORCE,
                                Mux(same, acc_ops[q], LaneOp.HOLD)))
                    m.d.sync += [acc_valid.eq(1), acc_word.eq(sweep.o.p.word)]
                with m.If(~sweep.busy & ~acc_valid):
                    m.next = "DONE"
            with m.State("DRAW_R"):
                # classifier rows: C bits per row, one draw per cycle
                m.d.comb += self.busy.eq(1)
                with m.If(idx_in != idx_total):
                    m.d.comb += hsh.i.valid.eq(1)          # key ^ idx_in: the default
                    m.d.sync += idx_in.eq(idx_in + 1)
                with m.If(hsh.o.valid):
                    row_end = o_i == C - 1
                    m.d.sync += [o_done.eq(o_done + 1), o_i.eq(Mux(row_end, 0, o_i + 1))]
                    row = r_row | (draw[31] << o_i)
                    with m.If(row_end):
                        m.d.comb += [self.r_write.addr.eq(r_waddr),
                                     self.r_write.data.eq(row), self.r_write.en.eq(1)]
                        m.d.sync += [r_waddr.eq(r_waddr + 1), r_row.eq(0)]
                    with m.Else():
                        m.d.sync += r_row.eq(row)
                with m.If(o_done == idx_total):
                    m.next = "DONE"
            with m.State("DONE"):
                # the caller may start the next job in this cycle
                m.d.comb += [self.busy.eq(1), self.done.eq(1)]
                with m.If(self.start):
                    m.next = "KEY_REQ"
                with m.Else():
                    m.next = "IDLE"
        return m
