"""Hidden-weight bank: ``k``-bit saturating counters in block RAM, ``P`` per word (spec §2).

One memory word holds the ``P`` counters one beat of the XNOR-popcount array needs; word
``neuron · ceil(F / P) + beat`` holds ``c[neuron][beat·P … beat·P + P − 1]``. The bank is a
simple dual-port memory (one synchronous read port, one write port), which Yosys maps onto
iCE40 ``SB_RAM40_4K`` and ECP5 ``DP16KD`` blocks, behind a two-stage read-modify-write
pipeline that applies ``P`` lane operations per cycle.
"""

from amaranth import Cat, Module, Mux, Signal, signed
from amaranth.lib import data, enum, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

__all__ = ["BankOp", "LaneOp", "CounterBank", "PipelinedCounterBank", "command_layout",
           "response_layout", "writeback_layout", "lane_op_result", "apply_lane_ops"]


class BankOp(enum.Enum, shape=2):
    """Command of the bank."""
    READ = 0     #: return the counter word and its weight bits on ``resp``
    UPDATE = 1   #: apply one :class:`LaneOp` per lane (read-modify-write)
    WRITE = 2    #: host write of a whole counter word


class LaneOp(enum.Enum, shape=2):
    """Per-lane operation of an UPDATE; all saturate at ``cmin`` / ``cmax``, never wrap."""
    HOLD = 0       #: leave the counter
    INC = 1        #: ``c + 1``
    DEC = 2        #: ``c − 1``
    REINFORCE = 3  #: move away from zero: ``c ≥ 0 ? c + 1 : c − 1`` (spec §7)


def lane_op_result(c, op, bits):
    """Python model of one lane operation on counter value ``c`` (used by the tests)."""
    cmin, cmax = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    op = LaneOp(op)
    if op == LaneOp.REINFORCE:
        op = LaneOp.INC if c >= 0 else LaneOp.DEC
    if op == LaneOp.INC:
        return min(c + 1, cmax)
    if op == LaneOp.DEC:
        return max(c - 1, cmin)
    return c


def apply_lane_ops(m, old, ops, bits):
    """Combinational result word of one UPDATE: lane ``i`` of ``old`` (an
    ``ArrayLayout(signed(bits), P)`` value) after :class:`LaneOp` ``ops[i]``, saturating."""
    cmax, cmin = (1 << (bits - 1)) - 1, -(1 << (bits - 1))
    new = Signal(data.ArrayLayout(signed(bits), len(old)))
    for i in range(len(old)):
        c, op = old[i], ops[i]
        up = (op == LaneOp.INC) | ((op == LaneOp.REINFORCE) & ~c[-1])
        down = (op == LaneOp.DEC) | ((op == LaneOp.REINFORCE) & c[-1])
        # One adder per lane: c + {+1, -1, 0}; 0 also when the step would saturate.
        step = Signal(signed(2), name=f"step{i}")
        m.d.comb += step.eq(Mux(up & (c != cmax), 1, Mux(down & (c != cmin), -1, 0)))
        m.d.comb += new[i].eq(c + step)
    return new


def _peek_memories(ctx, memories, lanes):
    """The words of ``memories`` (counter words, in address order) as lists of ints."""
    return [[int(w[q]) for q in range(lanes)]
            for mem in memories for w in (ctx.get(mem.data[i]) for i in range(mem.depth))]


def command_layout(lanes, bits, depth, tag_bits=0):
    """A bank command; ``tag`` (``tag_bits`` wide) is not interpreted by the bank: it comes
    back on ``wb`` with the command's write."""
    fields = {
        "op": BankOp,
        "addr": range(depth),
        "lanes": data.ArrayLayout(LaneOp, lanes),
        "data": data.ArrayLayout(signed(bits), lanes),
    }
    if tag_bits:
        fields["tag"] = tag_bits
    return data.StructLayout(fields)


def writeback_layout(lanes, tag_bits):
    """``wb``: one beat (``valid``) per UPDATE / WRITE, the cycle after the bank writes the
    word: the command's ``tag`` and the written word's weight bits (bit ``i`` = counter ``i``
    ≥ 0). The trainer core keeps its sign-bit copy of the weights from it."""
    return data.StructLayout({"valid": 1, "tag": max(1, tag_bits), "weights": lanes})


def _writeback(m, wb, valid, cmd, word, lanes, tag_bits):
    """Register the write-back beat of a write of ``word`` by command ``cmd``."""
    m.d.sync += [wb.valid.eq(valid),
                 wb.weights.eq(Cat(~word[i][-1] for i in range(lanes)))]
    if tag_bits:
        m.d.sync += wb.tag.eq(cmd.tag)


def response_layout(lanes, bits):
    return data.StructLayout({
        "counters": data.ArrayLayout(signed(bits), lanes),
        "weights": lanes,
    })


def bank_signature(lanes, bits, depth, tag_bits=0):
    """The one signature of every counter bank (plain, rows, SPRAM)."""
    return wiring.Signature({
        "cmd": In(stream.Signature(command_layout(lanes, bits, depth, tag_bits))),
        "resp": Out(stream.Signature(response_layout(lanes, bits))),
        "wb": Out(writeback_layout(lanes, tag_bits)),
    })


class CounterBank(wiring.Component):
    """Block-RAM bank of saturating up/down counters with ``P`` RMW lanes.

    Parameters
    ----------
    lanes : int
        ``P``, counters per word (= lanes of the XNOR-popcount array).
    bits : int
        ``k``, counter width (two's complement, ``cmin = −2^(k−1)``, ``cmax = 2^(k−1) − 1``).
    depth : int
        Number of words (``N · ceil(F / P)`` for one layer).
    init : list of list of int, optional
        Initial counter words (default all zero, i.e. all weights +1).
    tag_bits : int
        Width of the commands' ``tag`` field, returned on ``wb`` (0: no tag).

    Attributes
    ----------
    cmd : In(stream.Signature(command_layout(lanes, bits, depth)))
        Commands, one per cycle: ``op`` (:class:`BankOp`), ``addr`` (word), ``lanes`` (one
        :class:`LaneOp` per lane, UPDATE only), ``data`` (counter word, WRITE only).
    resp : Out(stream.Signature(response_layout(lanes, bits)))
        One beat per READ, in command order: ``counters`` (the ``P`` counters) and ``weights``
        (bit ``i`` = 1 iff counter ``i`` ≥ 0: the binary weights for the popcount array).
    wb : Out(writeback_layout(lanes, tag_bits))
        Every write (UPDATE, WRITE), the cycle after it: its tag and new weight bits.

    Notes
    -----
    Pipeline: stage 0 presents ``addr`` to the synchronous read port; stage 1 receives the
    word, applies the lane operations and writes the result back in the same cycle. A command
    in stage 1 that reads the word written by the command just before it would see the stale
    RAM output (the read port is not transparent), so the last written ``(addr, word)`` is kept
    in a forwarding register and replaces the RAM output on an address match. Back-to-back
    UPDATEs of one address therefore run at full rate without stalls. READ latency: the
    response is valid one cycle after the command is accepted. ``cmd.ready`` is low only while
    a READ response waits for ``resp.ready``.
    """

    #: Cycles from an accepted READ to its response (the trainer core adapts to it).
    read_latency = 1

    def __init__(self, lanes, bits, depth, init=(), tag_bits=0):
        if lanes < 1 or not 2 <= bits <= 16 or depth < 1:
            raise ValueError("need lanes >= 1, 2 <= bits <= 16, depth >= 1")
        self.lanes, self.bits, self.depth, self.tag_bits = lanes, bits, depth, tag_bits
        self.word_layout = data.ArrayLayout(signed(bits), lanes)
        # no_rw_check: what the RAM returns when stage 0 reads the word stage 1 writes in the
        # same cycle does not matter (the forwarding register replaces it), so Yosys need not
        # emulate read-before-write around the block RAM.
        self.mem = Memory(shape=self.word_layout, depth=depth, init=list(init),
                          attrs={"no_rw_check": 1})
        super().__init__(bank_signature(lanes, bits, depth, tag_bits))

    @classmethod
    def from_config(cls, cfg, layer=0):
        """Bank of hidden layer ``layer``: ``N_l · ceil(F / P)`` words of ``P`` counters."""
        beats = -(-cfg.fan_in(layer) // cfg.lanes)
        return cls(cfg.lanes, cfg.counter_bits, cfg.layers[layer] * beats)

    def peek_words(self, ctx):
        """Every counter word (lists of ``P`` ints), read in an Amaranth testbench."""
        return _peek_memories(ctx, [self.mem], self.lanes)

    @staticmethod
    def address(neuron, beat, fan_in, lanes):
        """Word address of ``beat`` of ``neuron`` for a layer of fan-in ``fan_in``."""
        return neuron * (-(-fan_in // lanes)) + beat

    def elaborate(self, platform):
        m = Module()
        m.submodules.mem = mem = self.mem
        rd = mem.read_port(domain="sync")
        wr = mem.write_port()

        s1_valid = Signal()
        s1 = Signal(command_layout(self.lanes, self.bits, self.depth, self.tag_bits))
        stall = Signal()
        m.d.comb += [
            stall.eq(s1_valid & (s1.op == BankOp.READ) & ~self.resp.ready),
            self.cmd.ready.eq(~stall),
            rd.addr.eq(self.cmd.p.addr),
            rd.en.eq(~stall),
        ]
        with m.If(~stall):
            m.d.sync += [s1_valid.eq(self.cmd.valid), s1.eq(self.cmd.p)]

        # Forwarding of the most recent write (see Notes).
        fwd_valid = Signal()
        fwd_addr = Signal(range(self.depth))
        fwd_word = Signal(self.word_layout)
        old = Signal(self.word_layout)
        m.d.comb += old.eq(Mux(fwd_valid & (fwd_addr == s1.addr), fwd_word, rd.data))

        new = apply_lane_ops(m, old, s1.lanes, self.bits)

        writes = s1_valid & ((s1.op == BankOp.UPDATE) | (s1.op == BankOp.WRITE))
        wdata = Signal(self.word_layout)
        m.d.comb += [
            wdata.eq(Mux(s1.op == BankOp.WRITE, s1.data, new)),
            wr.addr.eq(s1.addr),
            wr.data.eq(wdata),
            wr.en.eq(writes),
        ]
        with m.If(writes):
            m.d.sync += [fwd_valid.eq(1), fwd_addr.eq(s1.addr), fwd_word.eq(wdata)]
        _writeback(m, self.wb, writes, s1, wdata, self.lanes, self.tag_bits)

        m.d.comb += [
            self.resp.valid.eq(s1_valid & (s1.op == BankOp.READ)),
            self.resp.p.counters.eq(old),
            self.resp.p.weights.eq(Cat(~old[i][-1] for i in range(self.lanes))),
        ]
        return m



class PipelinedCounterBank(wiring.Component):
    """:class:`CounterBank` for large devices: rows of block RAM, registered on every side.

    Same commands, responses and results as :class:`CounterBank`, with
    ``read_latency = 4``. Built for the ECP5-85F's 100+ DP16KD spread over the whole die,
    where the plain bank's path (RAM output → rows:1 multiplexer → lane adders → write
    port) spans the chip. Here the memory is split into ``rows`` memories of ``row_words``
    words (each one aspect ratio deep, so Yosys maps every row onto its own column of
    blocks) and every long wire starts at a register:

    ====== =====================================================================
    stage  cycle ``c0`` = the command is accepted
    ====== =====================================================================
    A      ``c1``: the registered command addresses every row (read port)
    B      ``c2``: each row's read data is registered, zeroed unless the row was addressed
    C      ``c3``: OR of the row registers → registered old word; forwarding matches
    D      ``c4``: forwarding, lane operations, READ response; the result is registered
    W      ``c5``: the registered result is written to its row
    ====== =====================================================================

    A write computed in stage D commits at the end of the next cycle, so a command's read
    (end of ``c1``) misses the writes of the four commands ahead of it; the last four stage-D
    results are kept (``hist``), compared against the command's address one stage early
    (registered match bits) and replace the read word, most recent first. Back-to-back
    UPDATEs of one address therefore still run at one per cycle. ``cmd.ready`` is low only
    while a READ response waits for ``resp.ready`` (the whole pipeline holds).
    """

    read_latency = 4
    _AHEAD = 4    # writes a stage-D command may not see in its RAM read

    def __init__(self, lanes, bits, depth, init=(), row_words=512, tag_bits=0):
        if lanes < 1 or not 2 <= bits <= 16 or depth < 1:
            raise ValueError("need lanes >= 1, 2 <= bits <= 16, depth >= 1")
        if row_words < 1 or row_words & (row_words - 1):
            raise ValueError(f"row_words must be a power of two, not {row_words}")
        self.lanes, self.bits, self.depth, self.tag_bits = lanes, bits, depth, tag_bits
        self.row_words = min(row_words, 1 << max(0, (depth - 1).bit_length()))
        self.word_layout = data.ArrayLayout(signed(bits), lanes)
        init = list(init)
        self.rows = []
        for base in range(0, depth, self.row_words):
            n = min(self.row_words, depth - base)
            self.rows.append(Memory(shape=self.word_layout, depth=n,
                                    init=init[base:base + n], attrs={"no_rw_check": 1}))
        super().__init__(bank_signature(lanes, bits, depth, tag_bits))

    @classmethod
    def from_config(cls, cfg, layer=0, row_words=512):
        beats = -(-cfg.fan_in(layer) // cfg.lanes)
        return cls(cfg.lanes, cfg.counter_bits, cfg.layers[layer] * beats,
                   row_words=row_words)

    def peek_words(self, ctx):
        """Every counter word (lists of ``P`` ints), read in an Amaranth testbench."""
        return _peek_memories(ctx, self.rows, self.lanes)

    def elaborate(self, platform):
        m = Module()
        R, A = len(self.rows), self._AHEAD
        sh = (self.row_words - 1).bit_length()
        cmd_layout = command_layout(self.lanes, self.bits, self.depth, self.tag_bits)

        def stage(name):
            return (Signal(name=f"{name}_valid"), Signal(cmd_layout, name=name),
                    Signal(R, name=f"{name}_hit"))

        a_valid, a, _ = stage("a")
        b_valid, b, b_hit = stage("b")
        c_valid, c, c_hit = stage("c")
        d_valid, d, d_hit = stage("d")
        row_q = [Signal(self.word_layout, name=f"row{r}_q") for r in range(R)]
        d_raw = Signal(self.word_layout)
        d_match = Signal(A)
        hist = [(Signal(name=f"hist{i}_valid"), Signal(range(self.depth), name=f"hist{i}_addr"),
                 Signal(self.word_layout, name=f"hist{i}_word"),
                 Signal(R, name=f"hist{i}_hit")) for i in range(A)]

        stall = Signal()
        m.d.comb += [stall.eq(d_valid & (d.op == BankOp.READ) & ~self.resp.ready),
                     self.cmd.ready.eq(~stall)]

        row_of = a.addr >> sh if sh else a.addr
        with m.If(~stall):
            m.d.sync += [
                a_valid.eq(self.cmd.valid), a.eq(self.cmd.p),
                b_valid.eq(a_valid), b.eq(a),
                b_hit.eq(Cat(a_valid & (row_of == r) for r in range(R))),
                c_valid.eq(b_valid), c.eq(b), c_hit.eq(b_hit),
                d_valid.eq(c_valid), d.eq(c), d_hit.eq(c_hit),
            ]

        # stage A/B: every row reads a.addr; stage B registers the addressed row's word
        for r, mem in enumerate(self.rows):
            m.submodules[f"row{r}"] = mem
            rd = mem.read_port(domain="sync")
            m.d.comb += [rd.addr.eq(a.addr[:sh] if sh else 0), rd.en.eq(~stall)]
            with m.If(~stall):
                m.d.sync += row_q[r].eq(Mux(b_hit[r], rd.data, 0))
            # stage W: the newest stage-D result goes to its row
            h_valid, h_addr, h_word, h_hit = hist[0]
            wr = mem.write_port()
            m.d.comb += [wr.addr.eq(h_addr[:sh] if sh else 0), wr.data.eq(h_word),
                         wr.en.eq(h_valid & h_hit[r])]

        # stage C: OR of the rows; which in-flight write (if any) holds c.addr's newest word
        # when c reaches stage D (the D command now, then hist[0..A-2])
        d_writes = d_valid & ((d.op == BankOp.UPDATE) | (d.op == BankOp.WRITE))
        ahead = [(d_writes, d.addr)] + [(hv, ha) for hv, ha, _, _ in hist[:A - 1]]
        or_word = 0
        for r in range(R):
            or_word = row_q[r].as_value() | or_word
        with m.If(~stall):
            m.d.sync += [d_raw.eq(or_word),
                         d_match.eq(Cat(v & (ad == c.addr) for v, ad in ahead))]

        # stage D: forwarding (most recent first), lane operations, response
        old = Signal(self.word_layout)
        sel = d_raw.as_value()
        for i in reversed(range(A)):
            sel = Mux(d_match[i], hist[i][2].as_value(), sel)
        m.d.comb += old.eq(sel)
        new = apply_lane_ops(m, old, d.lanes, self.bits)
        wdata = Signal(self.word_layout)
        m.d.comb += wdata.eq(Mux(d.op == BankOp.WRITE, d.data, new))
        m.d.comb += [
            self.resp.valid.eq(d_valid & (d.op == BankOp.READ)),
            self.resp.p.counters.eq(old),
            self.resp.p.weights.eq(Cat(~old[i][-1] for i in range(self.lanes))),
        ]
        with m.If(~stall):
            m.d.sync += [hist[0][0].eq(d_writes), hist[0][1].eq(d.addr), hist[0][2].eq(wdata),
                         hist[0][3].eq(d_hit)]
            for i in range(1, A):
                m.d.sync += [dst.eq(src) for dst, src in zip(hist[i], hist[i - 1])]
        _writeback(m, self.wb, d_writes & ~stall, d, wdata, self.lanes, self.tag_bits)
        return m
