"""The on-chip trainer core: executes the host protocol's commands on the hw variant.

One :class:`TrainerCore` holds the whole network of a :class:`~xnorlearn.sw.config.Config`:

* **counters** of every layer in one counter bank (``P`` counters per word, word
  ``cnt_base[l] + j·beats[l] + b``; :mod:`~xnorlearn.hw.counters`, :mod:`~xnorlearn.hw.spram`)
  and the **sign copy** of their weights the forward pass reads
  (:class:`~xnorlearn.hw.signbank.SignBank`, kept up to date from the bank's write reports);
* **activations** (the sample and every hidden layer's output) in a ``forward_bits``-wide
  memory, **classifiers** ``R_l`` in a ``C``-bit memory, the **chosen neurons** of the last two
  layers in a small memory.

The core is a sequencer: it dispatches commands, keeps the protocol registers, sends the short
replies, steps through the layers of a sample and of a batch boundary, and routes the shared
ports (the bank's command port to the one engine that works, the payload address, the
activation memory). The work is done by components with a start/done handshake:
:class:`~xnorlearn.hw.loader.SampleLoader` (sample bytes → input words),
:class:`~xnorlearn.hw.forward.ForwardEngine` (one layer: popcounts, decision, group choices,
output words), :class:`~xnorlearn.hw.update.UpdateEngine` (a layer's online updates, overlapping
the next layer's forward pass), :class:`~xnorlearn.hw.draw.DrawEngine` (INIT's draws and the
reinforcement sweeps), :class:`~xnorlearn.hw.state_access.StateAccess` (READ/WRITE_STATE) and
:class:`~xnorlearn.hw.thresholds.ThresholdLoader` (SET_THRESHOLDS). ``docs/hw-spec.md`` is the
behaviour; the golden model ``xnorlearn.sw.model.HwModel`` is the reference it is checked
against.

The host side is the port set of :class:`~xnorlearn.hw.link.HostLink` flipped: ``req`` (code,
length), ``buf_addr``/``buf_data`` (random access to the request payload, one-cycle read),
``rsp`` (status, length) and ``rsp_data`` (reply bytes). IDENTIFY is the link's.
"""

from amaranth import Array, Cat, Const, Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..sw import prng as sw_prng
from ..sw import protocol
from ..sw.config import Config
from ..sw.protocol import Status
from .bram import registered_read
from .counters import CounterBank
from .signbank import SignBank, SignLayout
from .state_access import StateAccess, rsp_layout
from .thresholds import ThresholdLoader
from .draw import DrawEngine
from .forward import ForwardEngine
from .loader import SampleLoader
from .update import UpdateEngine, chosen_layout

__all__ = ["TrainerCore", "Cmd", "Status", "req_layout", "rsp_layout", "TrainerLayout",
           "tag_layout"]


# The command and status codes of docs/host-protocol.md (one definition, in sw/protocol.py).
Cmd = protocol.Command


def req_layout():
    return data.StructLayout({"code": 8, "length": 16})


class TrainerLayout:
    """Addresses of everything in the trainer's memories (shared with tests and tools)."""

    def __init__(self, cfg: Config):
        self.cfg = cfg
        p = cfg.lanes
        self.beats = [-(-f // p) for f in cfg.widths[:-1]]       # counter words per neuron
        self.fbeats = [cfg.forward_beats(l) for l in range(cfg.n_layers)]   # forward beats
        self.cnt_base, self.act_base, self.r_base = [], [], []
        c = a = r = 0
        for l, n in enumerate(cfg.layers):
            self.cnt_base.append(c)
            self.act_base.append(a)
            self.r_base.append(r)
            c += n * self.beats[l]
            a += self.fbeats[l]            # activations: forward_bits-wide words
            r += n
        self.cnt_depth, self.act_depth, self.r_depth = c, a, r
        self.groups = [n // g for n, g in zip(cfg.layers, cfg.group_sizes)]

    def counter_words(self, state):
        """Golden-model state (list of (N, F) arrays) -> bank words (lists of P ints)."""
        p = self.cfg.lanes
        words = []
        for l, s in enumerate(state):
            n, f = s.shape
            for j in range(n):
                for b in range(self.beats[l]):
                    words.append([int(s[j, b * p + q]) if b * p + q < f else 0
                                  for q in range(p)])
        return words

    def state_from_words(self, words):
        """Bank words (flat list of lists of P ints) -> list of (N, F) arrays."""
        import numpy as np
        p, out = self.cfg.lanes, []
        for l, n in enumerate(self.cfg.layers):
            f = self.cfg.fan_in(l)
            s = np.zeros((n, f), dtype=np.int16)
            for j in range(n):
                for b in range(self.beats[l]):
                    w = words[self.cnt_base[l] + j * self.beats[l] + b]
                    for q in range(p):
                        if b * p + q < f:
                            s[j, b * p + q] = w[q]
            out.append(s)
        return out


def tag_layout(slay):
    """The counter bank's command tag: where the written word lives in the sign copy."""
    return data.StructLayout({
        "en": 1,                                   # the write may change signs
        "lane": range(max(2, slay.lanes)),
        "row": range(max(2, slay.depth)),
        "granule": range(max(2, slay.words)),
    })


def _const_array(values, width=None):
    width = width or max(1, max(int(v).bit_length() for v in values))
    return Array(Const(int(v), width) for v in values)


class TrainerCore(wiring.Component):
    """The trainer of one configuration, behind the host-protocol command interface.

    Parameters
    ----------
    cfg : Config
        Network and hardware parameters (``lanes`` = ``P``).
    max_payload : int
        Size of the link's request buffer (sets ``buf_addr``'s width).
    levels_per_stage : int
        Adder-tree pipelining of the popcount array.
    bank_cls : type
        Counter-bank implementation, called as ``bank_cls(lanes, bits, depth, init=words)``
        (default :class:`~xnorlearn.hw.counters.CounterBank`, inferred block RAM; also
        :class:`~xnorlearn.hw.counters.PipelinedCounterBank` and
        :class:`~xnorlearn.hw.spram.SpramCounterBank`). Any replacement must keep the
        interface, deliver READ responses in order exactly ``bank_cls.read_latency`` cycles
        after the command (the forward pass aligns the activation words to it), accept one
        command per cycle for the streams the core issues — forward reads of consecutive
        words, and UPDATE/WRITE streams of strictly increasing addresses (consecutive, except
        the sweep's, which skip words) — and return, for every READ, the word as updated by
        every earlier command (the core never reads a word in the cycle after updating it).
        A bank with ``parity_interleaved = True`` (the SPRAM bank) also never gets two UPDATEs
        of same-parity addresses in consecutive cycles: the sweep leaves a gap.
    sweep_search : str, optional
        The sweep engine's table search (:class:`~xnorlearn.hw.sweep.SweepEngine`):
        ``"pipelined"`` or ``"sequential"`` (one block RAM instead of seven).
    sign_block_rows : int, optional
        ``block_rows`` of the sign copy (:class:`~xnorlearn.hw.signbank.SignBank`).
    update_prefetch : int, optional
        Activation words the update engine buffers (:class:`~xnorlearn.hw.update.UpdateEngine`;
        2: updates wait less for the forward pass's read port, 1: 32 flip-flops fewer).

        These three default to the bank class's ``trainer_options`` (a dict) where it has one:
        the UP5K's SPRAM bank asks for the small variants (``"sequential"``, 256-row blocks,
        1), the others get ``"pipelined"``, one memory per lane and 2.

    Attributes
    ----------
    req : In(stream.Signature(req_layout()))
        A validated request (code, payload length) from the link.
    buf_addr : Out(range(max_payload))
        Payload byte to read; ``buf_data`` has it one cycle later.
    buf_data : In(8)
    rsp : Out(stream.Signature(rsp_layout()))
        Reply header, then exactly ``length`` bytes on ``rsp_data``.
    rsp_data : Out(stream.Signature(8))
    busy : Out(1)
        High while a command executes.
    """

    def __init__(self, cfg: Config, max_payload: int, levels_per_stage=2,
                 bank_cls=CounterBank, state=None, sweep_search=None, sign_block_rows=None,
                 update_prefetch=None):
        self.cfg = cfg
        self.lay = TrainerLayout(cfg)
        self.max_payload = max_payload
        self.levels_per_stage = levels_per_stage
        options = {"sweep_search": "pipelined", "sign_block_rows": None, "update_prefetch": 2,
                   **getattr(bank_cls, "trainer_options", {})}
        sweep_search = sweep_search or options["sweep_search"]
        sign_block_rows = sign_block_rows or options["sign_block_rows"]
        update_prefetch = update_prefetch or options["update_prefetch"]
        # Power-on state = init(cfg.seed): counters and classifiers from the golden model's
        # PRNG (spec §4), so a freshly configured chip needs no INIT; or the counters of
        # ``state`` (e.g. a trained checkpoint's), in the bank and in the sign copy alike.
        from ..sw.model import HwModel
        golden = HwModel(cfg)
        state = golden.state() if state is None else state
        self.slay = SignLayout(cfg)
        self.tag_layout = tag_layout(self.slay)
        self.bank = bank_cls(cfg.lanes, cfg.counter_bits, self.lay.cnt_depth,
                             init=self.lay.counter_words(state),
                             tag_bits=self.tag_layout.size)
        self.signs = SignBank.from_config(
            cfg, state, block_rows=sign_block_rows)
        r_words = []
        for l in range(cfg.n_layers):
            r = golden.classifier(l)
            for j in range(cfg.layers[l]):
                r_words.append(sum(1 << q for q in range(cfg.n_classes) if r[j, q] > 0))
        self.r_mem = Memory(shape=cfg.n_classes, depth=self.lay.r_depth, init=r_words)
        # byte-wide write lanes let the sample loader place each payload byte directly
        self.act_gran = 8 if cfg.forward_bits % 8 == 0 else cfg.forward_bits
        self.act_mem = Memory(shape=cfg.forward_bits, depth=self.lay.act_depth, init=[])
        # chosen neurons (and their targets) per group, two halves by layer parity: the
        # update engine reads one layer's while the next layer's selector writes
        self.chosen_mem = Memory(shape=chosen_layout(max(cfg.layers)),
                                 depth=2 * max(self.lay.groups), init=[])
        self.updater = UpdateEngine(cfg, self.lay, self.slay, self.tag_layout,
                                    prefetch=update_prefetch)
        self.loader = SampleLoader(cfg, self.lay, max_payload, self.act_gran)
        self.forward = ForwardEngine(cfg, self.lay, self.slay, levels_per_stage)
        self.thresholds = ThresholdLoader(cfg, max_payload)
        self.state_access = StateAccess(cfg, self.lay, self.slay, self.tag_layout, max_payload)
        self.draw = DrawEngine(cfg, self.lay, self.slay, self.tag_layout, sweep_search,
                               parity_gap=getattr(self.bank, "parity_interleaved", False))
        super().__init__({
            "req": In(stream.Signature(req_layout())),
            "buf_addr": Out(range(max_payload)),
            "buf_data": In(8),
            "rsp": Out(stream.Signature(rsp_layout())),
            "rsp_data": Out(stream.Signature(8)),
            "busy": Out(1),
        })

    # ------------------------------------------------------------------------------------
    def elaborate(self, platform):
        cfg = self.cfg
        L, C = cfg.n_layers, cfg.n_classes
        m = Module()

        # ---------------------------------------------------------------- submodules
        m.submodules.bank = bank = self.bank
        m.submodules.r_mem = r_mem = self.r_mem
        m.submodules.act_mem = act_mem = self.act_mem
        m.submodules.chosen_mem = chosen_mem = self.chosen_mem
        # No word of these memories is ever read in the cycle it is written (the forward pass
        # reads a layer's inputs while it writes its outputs, the update engine reads the
        # layer before; the classifiers are written by INIT only): hw/bram.py
        act_rd = registered_read(m, act_mem, "act")
        act_wr = act_mem.write_port(granularity=self.act_gran)
        m.submodules.signs = signs = self.signs
        m.submodules.updater = upd = self.updater
        m.submodules.state_access = sa = self.state_access
        m.submodules.thresholds = thr = self.thresholds
        m.d.comb += thr.buf_data.eq(self.buf_data)
        m.d.comb += [sa.buf_data.eq(self.buf_data), sa.rsp.ready.eq(self.rsp.ready),
                     sa.rsp_data.ready.eq(self.rsp_data.ready),
                     sa.resp.valid.eq(bank.resp.valid), sa.resp.payload.eq(bank.resp.payload)]

        r_rd, r_wr = registered_read(m, r_mem, "classifiers"), r_mem.write_port()
        ch_rd, ch_wr = chosen_mem.read_port(), chosen_mem.write_port()
        m.d.comb += [ch_rd.addr.eq(upd.ch_addr), upd.ch_data.eq(ch_rd.data),
                     upd.act_data.eq(act_rd.data)]
        m.submodules.forward = fwd = self.forward
        m.submodules.loader = ld = self.loader
        m.submodules.draw = draw = self.draw
        wiring.connect(m, thr.tw, draw.tw)

        # ---------------------------------------------------------------- per-layer constants
        layer = Signal(range(L + 1))
        self.layer_reg = layer   # simulation tools read it (cycles per phase)
        last_layer = layer == L - 1

        # every counter write the bank reports lands in the sign copy
        wb_tag = Signal(self.tag_layout)
        m.d.comb += [wb_tag.eq(bank.wb.tag),
                     signs.wr.valid.eq(bank.wb.valid & wb_tag.en),
                     signs.wr.lane.eq(wb_tag.lane), signs.wr.row.eq(wb_tag.row),
                     signs.wr.granule.eq(wb_tag.granule), signs.wr.bits.eq(bank.wb.weights)]

        # ---------------------------------------------------------------- registers
        seed = Signal(32, init=cfg.seed)
        job = Signal(2)              # the draw engine's job: its PRNG stream
        host_tables = Signal()       # sweeps use the tables of SET_THRESHOLDS (0: INIT's)
        batch_n = Signal(32)
        since = Signal(range(cfg.batch + 1))
        updated = Signal(L)
        samples = Signal(32)
        correct = Signal(32)
        busy_cycles = Signal(48)     # u64 in the reply; 48 bits wrap after 135 days at 24 MHz
        label = Signal(8)
        training = Signal()
        pred = Signal(range(C))         # the network's prediction (last layer)

        m.d.comb += self.busy.eq(0)   # overridden below by the FSM's non-idle states


        # ---------------------------------------------------------------- default wiring
        m.d.comb += [
            bank.resp.ready.eq(1),
            ld.buf_data.eq(self.buf_data), ld.skip.eq(training),
            fwd.layer.eq(layer), fwd.label.eq(label), fwd.act_data.eq(act_rd.data),
            signs.rd_addr.eq(fwd.sign_addr), fwd.sign_data.eq(signs.rd_data),
            r_rd.addr.eq(fwd.r_addr), fwd.r_data.eq(r_rd.data),
            ch_wr.addr.eq(fwd.chosen.addr), ch_wr.data.eq(fwd.chosen.data),
            ch_wr.en.eq(fwd.chosen.en),
            draw.seed.eq(seed), draw.batch.eq(batch_n), draw.layer.eq(layer), draw.job.eq(job),
            draw.host_tables.eq(host_tables),
            r_wr.addr.eq(draw.r_write.addr), r_wr.data.eq(draw.r_write.data),
            r_wr.en.eq(draw.r_write.en),
        ]
        # ---------------------------------------------------------------- reply machinery
        # A reply is a header on `rsp` then `rsp_len` bytes produced by `reply_byte` (comb,
        # from `reply_idx`) — or, for READ_STATE, by the state-access unit. rsp_len is 0 unless
        # the status is OK (error replies carry no payload).
        rsp_status = Signal(8)
        max_reply = protocol.COUNTERS_BYTES
        rsp_len = Signal(range(max_reply + 1))
        reply_idx = Signal(range(max_reply + 1))
        reply_left = Signal(range(max_reply + 1))   # bytes after the current one: the last-
                                         # byte test is a zero check, no subtract-and-compare
        reply_counters = Signal()        # the reply bytes: READ_COUNTERS's (else the prediction)
        counters_vec = Signal(protocol.COUNTERS_BYTES * 8)
        since32 = Signal(32)
        m.d.comb += [since32.eq(since),
                     counters_vec.eq(Cat(samples, correct, busy_cycles.as_unsigned(),
                                         Const(0, 64 - len(busy_cycles)), batch_n, since32))]
        reply_byte = Signal(8)
        # The byte handed to the link comes from a register (rb, one cycle behind reply_idx),
        # so the link's CRC/transmit logic does not sit behind these muxes.
        rb = Signal(8)
        rb_fresh = Signal()
        m.d.sync += rb.eq(reply_byte)
        m.d.comb += reply_byte.eq(Mux(reply_counters,
                                      counters_vec.word_select(reply_idx[:5], 8), pred))

        # ---------------------------------------------------------------- payload byte reads
        # payload byte to read next: the sequencer reads only the label and 4-byte arguments
        # (the units read the rest)
        rd_idx = Signal(range(8))
        # the units' payload addresses are 0 while they are idle, and rd_idx while they work
        m.d.comb += self.buf_addr.eq(rd_idx | sa.buf_addr | thr.buf_addr | ld.buf_addr)
        def shift_in(reg, n_bytes):
            """In the current state, shift payload bytes 0 … n_bytes − 1 into the top of ``reg``
            (little-endian; ``rd_idx`` starts at 0 and runs one byte ahead of ``buf_data``).
            Returns: the last byte is shifted in at this clock edge."""
            m.d.comb += self.busy.eq(1)
            m.d.sync += rd_idx.eq(rd_idx + 1)
            with m.If(rd_idx != 0):
                m.d.sync += reg.eq(Cat(reg[8:], self.buf_data))
            return rd_idx == n_bytes


        # ---------------------------------------------------------------- the FSM
        with m.FSM(name="core") as fsm:
            self.fsm = fsm           # simulation tools read its state (cycles per phase)
            # ======================================================== idle / dispatch
            with m.State("IDLE"):
                m.d.comb += self.req.ready.eq(1)
                with m.If(self.req.valid):
                    m.d.sync += [rd_idx.eq(0), reply_idx.eq(0), rsp_len.eq(0),
                                 rsp_status.eq(Status.OK)]
                    with m.Switch(self.req.p.code):
                        with m.Case(Cmd.INIT):
                            m.next = "INIT_SEED"
                        with m.Case(Cmd.SET_THRESHOLDS):
                            m.d.comb += thr.start.eq(1)
                            m.next = "THRESHOLDS"
                        with m.Case(Cmd.TRAIN):
                            m.d.sync += training.eq(1)
                            m.next = "LABEL"
                        with m.Case(Cmd.INFER):
                            m.d.sync += [training.eq(0), label.eq(0)]
                            m.d.comb += ld.start.eq(1)
                            m.next = "LOAD"
                        with m.Case(Cmd.END_EPOCH):
                            with m.If(since != 0):
                                m.d.sync += layer.eq(0)
                                m.next = "BOUNDARY"
                            with m.Else():
                                m.next = "REPLY"
                        with m.Case(Cmd.READ_STATE, Cmd.WRITE_STATE):
                            m.d.comb += [
                                sa.start.valid.eq(1),
                                sa.start.p.write.eq(self.req.p.code == Cmd.WRITE_STATE),
                                sa.start.p.length.eq(self.req.p.length)]
                            m.next = "STATE_ACCESS"
                        with m.Case(Cmd.READ_COUNTERS):
                            m.d.sync += [reply_counters.eq(1),
                                         rsp_len.eq(protocol.COUNTERS_BYTES)]
                            m.next = "REPLY"
                        with m.Case(Cmd.RESET_COUNTERS):
                            m.d.sync += [samples.eq(0), correct.eq(0), busy_cycles.eq(0)]
                            m.next = "REPLY"
                        with m.Case(Cmd.SET_BATCH):
                            m.next = "SET_BATCH"
                        with m.Case(Cmd.IDENTIFY, Cmd.STORE_INFO, Cmd.TRAIN_STORE,
                                    Cmd.EVAL_STORE, Cmd.STORE_WRITE):
                            # the host link answers IDENTIFY; a design with a data store
                            # executes the store commands in its StoreRunner
                            m.d.sync += rsp_status.eq(Status.UNKNOWN)
                            m.next = "REPLY"
                        with m.Default():
                            m.d.sync += rsp_status.eq(Status.BAD_ARG)
                            m.next = "REPLY"

            # ======================================================== replies
            with m.State("REPLY"):
                m.d.comb += [self.busy.eq(1), self.rsp.valid.eq(1),
                             self.rsp.p.status.eq(rsp_status),
                             self.rsp.p.length.eq(rsp_len)]
                m.d.sync += reply_left.eq(rsp_len - 1)
                with m.If(self.rsp.ready):
                    m.d.sync += rb_fresh.eq(0)
                    with m.If(rsp_len != 0):
                        m.next = "REPLY_DATA"
                    with m.Else():
                        m.next = "IDLE"
            with m.State("REPLY_DATA"):
                m.d.comb += [self.busy.eq(1), self.rsp_data.valid.eq(rb_fresh),
                             self.rsp_data.payload.eq(rb)]
                m.d.sync += rb_fresh.eq(1)
                with m.If(rb_fresh & self.rsp_data.ready):
                    m.d.sync += [reply_idx.eq(reply_idx + 1), reply_left.eq(reply_left - 1),
                                 rb_fresh.eq(0)]
                    with m.If(reply_left == 0):
                        m.next = "IDLE"

            # ======================================================== INIT
            with m.State("SET_BATCH"):
                with m.If(shift_in(batch_n, 4)):          # batch number: u32
                    m.d.sync += [since.eq(0), updated.eq(0)]
                    m.next = "REPLY"

            with m.State("INIT_SEED"):
                with m.If(shift_in(seed, 4)):             # seed: u32
                    m.d.comb += draw.start.eq(1)
                    m.d.sync += [layer.eq(0), job.eq(sw_prng.STREAM_INIT)]
                    m.next = "DRAW"

            # ======================================================== SET_THRESHOLDS
            with m.State("THRESHOLDS"):
                m.d.comb += self.busy.eq(1)
                with m.If(thr.done.valid):
                    m.d.sync += rsp_status.eq(thr.done.status)
                    with m.If(thr.done.status == Status.OK):
                        m.d.sync += host_tables.eq(1)
                    m.next = "REPLY"

            # ======================================================== TRAIN / INFER
            with m.State("LABEL"):
                m.d.comb += self.busy.eq(1)
                m.d.sync += rd_idx.eq(1)
                with m.If(rd_idx == 1):
                    m.d.sync += label.eq(self.buf_data)
                    m.next = "LABEL_CHECK"
            with m.State("LABEL_CHECK"):
                # checked from the register (the payload buffer's block-RAM output is slow)
                m.d.comb += self.busy.eq(1)
                with m.If(label >= C):
                    m.d.sync += rsp_status.eq(Status.BAD_ARG)
                    m.next = "REPLY"
                with m.Else():
                    m.d.comb += ld.start.eq(1)
                    m.d.sync += rd_idx.eq(0)         # the loader reads the payload now
                    m.next = "LOAD"
            with m.State("LOAD"):
                m.d.comb += [self.busy.eq(1), act_wr.addr.eq(ld.act_write.addr),
                             act_wr.data.eq(ld.act_write.data), act_wr.en.eq(ld.act_write.en)]
                with m.If(ld.done):
                    m.d.comb += fwd.start.eq(1)
                    m.d.sync += layer.eq(0)
                    m.next = "FORWARD"

            # ---------------------------------------------------------------- forward
            with m.State("FORWARD"):
                m.d.comb += [self.busy.eq(1), act_wr.addr.eq(fwd.act_write.addr),
                             act_wr.data.eq(fwd.act_write.data),
                             act_wr.en.eq(fwd.act_write.en.replicate(len(act_wr.en)))]
                with m.If(fwd.done.valid):
                    with m.If(last_layer):
                        m.d.sync += pred.eq(fwd.done.pred)
                    with m.If(training & fwd.done.learn):
                        m.next = "UPD_START"
                    with m.Else():
                        m.next = "LAYER_DONE"

            # ---------------------------------------------------------------- online update
            with m.State("UPD_START"):
                # hand the layer to the update engine (once it has finished the previous
                # one) and go on with the next layer's forward pass
                m.d.comb += [self.busy.eq(1), upd.start.valid.eq(1),
                             upd.start.p.layer.eq(layer), upd.start.p.found.eq(fwd.found)]
                with m.If(upd.start.ready):
                    with m.If(fwd.found != 0):
                        m.d.sync += updated.bit_select(layer, 1).eq(1)
                    m.next = "LAYER_DONE"

            with m.State("LAYER_DONE"):
                # the next layer's forward pass may overlap the update engine only while it
                # works on this layer (a layer that did not learn leaves the engine on the one
                # before, whose half of the chosen memory the next selector would overwrite)
                m.d.comb += self.busy.eq(1)
                with m.If(last_layer):
                    m.next = "SAMPLE_DONE"
                with m.Elif(~upd.busy | (upd.layer == layer)):
                    m.d.comb += fwd.start.eq(1)
                    m.d.sync += layer.eq(layer + 1)
                    m.next = "FORWARD"

            with m.State("SAMPLE_DONE"):
                m.d.comb += self.busy.eq(1)
                m.d.sync += [reply_counters.eq(0), rsp_len.eq(1)]
                with m.If(upd.busy):
                    pass                                 # the last layer's updates
                with m.Elif(training):
                    m.d.sync += [samples.eq(samples + 1),
                                 correct.eq(correct + (pred == label)),
                                 since.eq(since + 1)]
                    with m.If(since == cfg.batch - 1):
                        m.d.sync += layer.eq(0)
                        m.next = "BOUNDARY"
                    with m.Else():
                        m.next = "REPLY"
                with m.Else():
                    m.next = "REPLY"

            # ---------------------------------------------------------------- batch boundary
            with m.State("BOUNDARY"):
                m.d.comb += self.busy.eq(1)
                with m.If(layer == L):
                    m.d.sync += [updated.eq(0), batch_n.eq(batch_n + 1), since.eq(0)]
                    m.next = "REPLY"
                with m.Elif(updated.bit_select(layer, 1)):
                    m.d.comb += draw.start.eq(1)
                    m.d.sync += job.eq(sw_prng.STREAM_REINFORCE)
                    m.next = "DRAW"
                with m.Else():
                    m.d.sync += layer.eq(layer + 1)

            # ---------------------------------------------------------------- draw engine
            with m.State("DRAW"):
                # INIT: counters then classifiers of every layer; boundary: one layer's sweep
                m.d.comb += [self.busy.eq(1), bank.cmd.valid.eq(draw.cmd.valid),
                             bank.cmd.payload.eq(draw.cmd.payload)]
                with m.If(draw.done):
                    with m.If(job == sw_prng.STREAM_REINFORCE):
                        m.d.sync += layer.eq(layer + 1)
                        m.next = "BOUNDARY"
                    with m.Elif(job == sw_prng.STREAM_INIT):
                        m.d.comb += draw.start.eq(1)
                        m.d.sync += job.eq(sw_prng.STREAM_CLASSIFIER)
                    with m.Elif(layer == L - 1):
                        m.d.sync += [batch_n.eq(0), since.eq(0), updated.eq(0), samples.eq(0),
                                     correct.eq(0), busy_cycles.eq(0), host_tables.eq(0)]
                        m.next = "REPLY"
                    with m.Else():
                        m.d.comb += draw.start.eq(1)
                        m.d.sync += [layer.eq(layer + 1), job.eq(sw_prng.STREAM_INIT)]

            # ---------------------------------------------------------------- READ/WRITE_STATE
            # the state-access unit runs the command: the payload, the bank and (READ_STATE,
            # OK) the reply are its
            with m.State("STATE_ACCESS"):
                m.d.comb += [self.busy.eq(1), self.rsp.valid.eq(sa.rsp.valid),
                             self.rsp.payload.eq(sa.rsp.payload),
                             self.rsp_data.valid.eq(sa.rsp_data.valid),
                             self.rsp_data.payload.eq(sa.rsp_data.payload),
                             bank.cmd.valid.eq(sa.cmd.valid), bank.cmd.payload.eq(sa.cmd.payload)]
                with m.If(sa.done.valid):
                    m.d.sync += rsp_status.eq(sa.done.status)
                    with m.If(sa.done.replied):
                        m.next = "IDLE"
                    with m.Else():
                        m.next = "REPLY"

        # The update engine: the activation read port when the forward pass leaves it free;
        # the counter bank while it works (the FSM uses the bank only when it is idle).
        m.d.comb += upd.act_grant.eq(upd.act_req & ~fwd.act_req)
        m.d.comb += act_rd.addr.eq(Mux(fwd.act_req, fwd.act_addr, upd.act_addr))
        m.d.comb += upd.cmd.ready.eq(bank.cmd.ready)
        with m.If(upd.busy):
            m.d.comb += [bank.cmd.valid.eq(upd.cmd.valid), bank.cmd.payload.eq(upd.cmd.payload)]

        # busy_cycles: cycles spent computing, not waiting for the link to take a reply
        waiting = fsm.ongoing("REPLY") | fsm.ongoing("REPLY_DATA") | sa.replying
        with m.If(self.busy & ~waiting):
            m.d.sync += busy_cycles.eq(busy_cycles + 1)
        return m
