"""Hidden-weight bank in iCE40 UP5K single-port RAM (``SB_SPRAM256KA``, 16 bit × 16K each).

Same interface and timing as :class:`~xnorlearn.hw.counters.CounterBank` (``cmd``/``resp``
streams, READ response one cycle after the command, one command per cycle for the core's
streams), for ``P·k ≤ 32``-bit counter words.

A single-port RAM cannot be read and written in the same cycle, but a read-modify-write stream
reads word ``a`` in stage 0 while stage 1 writes word ``a − 1``. So words are **interleaved**:
even addresses live in SPRAM group 0, odd ones in group 1, each group ``ceil(P·k / 16)`` SPRAMs
wide and ``ceil(depth / 2 / 16384)`` deep. Consecutive-address streams then read one group
while writing the other, at one word per cycle. If a command would read the group that
stage 1 writes in the same cycle (two same-parity addresses back to back), ``cmd.ready`` drops
for that one cycle; the trainer core never issues such a pair (``conflicts`` counts them in
simulation, and the tests check it stays 0).

SPRAM contents cannot be set by the bitstream: on hardware the counters start undefined and
the host sends INIT (the driver does) before training. In simulation (``platform is None``)
each SPRAM is a behavioural model (:class:`SpramModel`, same cycle behaviour as Yosys'
``cells_sim.v``: registered read, output undefined after a write — modelled as a poison
value) that honours ``init``, so lock-step tests can start from the golden model's state.
"""

from amaranth import Cat, ClockSignal, Const, Instance, Module, Mux, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from .counters import (BankOp, CounterBank, _writeback, apply_lane_ops, bank_signature,
                       command_layout)
from .signbank import ICE40_BLOCK_ROWS

__all__ = ["SpramCounterBank", "SpramModel", "SPRAM_DEPTH", "SPRAM_WIDTH"]

SPRAM_DEPTH = 16384
SPRAM_WIDTH = 16
POISON = 0xA5A5   # what the model's DATAOUT shows after a write (hardware: undefined)


class SpramModel(wiring.Component):
    """Behavioural ``SB_SPRAM256KA``: on a clock edge with ``cs``: ``we`` writes ``din`` at
    ``addr`` (``dout`` becomes undefined), else ``dout`` ← ``mem[addr]``; without ``cs``,
    ``dout`` holds. ``depth`` may be smaller than 16K to keep simulations light."""

    addr: In(14)
    din: In(16)
    we: In(1)
    cs: In(1)
    dout: Out(16)

    def __init__(self, depth=SPRAM_DEPTH, init=()):
        self.depth = depth
        self.mem = Memory(shape=16, depth=depth, init=list(init))
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        m.submodules.mem = mem = self.mem
        rd = mem.read_port(domain="sync", transparent_for=())
        wr = mem.write_port()
        poisoned = Signal()
        m.d.comb += [rd.addr.eq(self.addr), rd.en.eq(self.cs & ~self.we),
                     wr.addr.eq(self.addr), wr.data.eq(self.din), wr.en.eq(self.cs & self.we),
                     self.dout.eq(Mux(poisoned, POISON, rd.data))]
        with m.If(self.cs):
            m.d.sync += poisoned.eq(self.we)
        return m


class _Spram(wiring.Component):
    """One SPRAM: the hardware primitive on a platform, the model in simulation."""

    addr: In(14)
    din: In(16)
    we: In(1)
    cs: In(1)
    dout: Out(16)

    def __init__(self, depth, init=()):
        self.model = SpramModel(depth, init)
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        if platform is None:
            m.submodules.model = model = self.model
            m.d.comb += [model.addr.eq(self.addr), model.din.eq(self.din),
                         model.we.eq(self.we), model.cs.eq(self.cs), self.dout.eq(model.dout)]
        else:
            # the behavioural model is for simulation only
            self.model._MustUse__silence = self.model.mem._MustUse__silence = True
            m.submodules.spram = Instance(
                "SB_SPRAM256KA",
                i_ADDRESS=self.addr, i_DATAIN=self.din, i_MASKWREN=Const(0xF, 4),
                i_WREN=self.we, i_CHIPSELECT=self.cs, i_CLOCK=ClockSignal("sync"),
                i_STANDBY=0, i_SLEEP=0, i_POWEROFF=1, o_DATAOUT=self.dout)
        return m


class SpramCounterBank(wiring.Component):
    """:class:`~xnorlearn.hw.counters.CounterBank` on interleaved single-port SPRAMs.

    Parameters are those of ``CounterBank``; ``lanes · bits`` must be ≤ 32.
    """

    def __init__(self, lanes, bits, depth, init=(), tag_bits=0):
        if lanes < 1 or not 2 <= bits <= 16 or depth < 1 or lanes * bits > 2 * SPRAM_WIDTH:
            self._MustUse__silence = True           # never elaborated: no warning
        if lanes < 1 or not 2 <= bits <= 16 or depth < 1:
            raise ValueError("need lanes >= 1, 2 <= bits <= 16, depth >= 1")
        if lanes * bits > 2 * SPRAM_WIDTH:
            raise ValueError(f"SPRAM bank: lanes x bits = {lanes * bits} > 32 bits per word")
        self.lanes, self.bits, self.depth, self.tag_bits = lanes, bits, depth, tag_bits
        self.word_layout = data.ArrayLayout(signed(bits), lanes)
        self.width = lanes * bits
        self.wide = -(-self.width // SPRAM_WIDTH)
        self.group_depth = -(-depth // 2)
        self.deep = -(-self.group_depth // SPRAM_DEPTH)
        init = [list(w) for w in init]
        mask = (1 << bits) - 1

        def packed(word):
            return sum((int(c) & mask) << (i * bits) for i, c in enumerate(word))

        # blocks[g][d][w]: group g (address parity), depth slice d, 16-bit column w
        self.blocks = []
        for g in range(2):
            rows = [packed(init[a]) if a < len(init) else 0 for a in range(g, depth, 2)]
            grp = []
            for d in range(self.deep):
                part = rows[d * SPRAM_DEPTH:(d + 1) * SPRAM_DEPTH]
                n = max(1, min(SPRAM_DEPTH, self.group_depth - d * SPRAM_DEPTH))
                grp.append([_Spram(n, [(v >> (16 * w)) & 0xFFFF for v in part])
                            for w in range(self.wide)])
            self.blocks.append(grp)
        self.conflicts = Signal(16)      # simulation aid: stalls caused by a group conflict
        super().__init__(bank_signature(lanes, bits, depth, tag_bits))

    read_latency = 1
    #: two same-parity commands in consecutive cycles stall (the trainer core leaves a gap)
    parity_interleaved = True
    #: The UP5K's trainer (TrainerCore's defaults with this bank): its 30 block RAMs are
    #: spoken for (sign copy, activations, link buffer), so the sweep engine keeps its skip
    #: tables in one of them, not seven; the sign copy is built from single SB_RAM40_4K rows
    #: (hw/signbank.py); the update engine buffers one activation word (its 5280 logic cells
    #: are spoken for too: +64 cycles per sample at 784-75-75, 32 flip-flops fewer)
    trainer_options = {"sweep_search": "sequential", "sign_block_rows": ICE40_BLOCK_ROWS,
                       "update_prefetch": 1}
    from_config = classmethod(CounterBank.from_config.__func__)

    def peek_words(self, ctx):
        """Every counter word (lists of ``P`` ints) from the simulation models."""
        words = []
        for a in range(self.depth):
            g, i = a & 1, a >> 1
            d, r = divmod(i, SPRAM_DEPTH)
            v = 0
            for w, blk in enumerate(self.blocks[g][d]):
                v |= ctx.get(blk.model.mem.data[r]) << (16 * w)
            word = []
            for q in range(self.lanes):
                c = (v >> (q * self.bits)) & ((1 << self.bits) - 1)
                word.append(c - (1 << self.bits) if c >> (self.bits - 1) else c)
            words.append(word)
        return words

    def elaborate(self, platform):
        m = Module()
        bits, lanes = self.bits, self.lanes
        dbits = max(0, ceil_log2(self.deep)) if self.deep > 1 else 0

        s1_valid = Signal()
        s1 = Signal(command_layout(lanes, bits, self.depth, self.tag_bits))
        s1_writes = s1_valid & ((s1.op == BankOp.UPDATE) | (s1.op == BankOp.WRITE))
        needs_read = self.cmd.valid & ((self.cmd.p.op == BankOp.READ) |
                                       (self.cmd.p.op == BankOp.UPDATE))
        conflict = Signal()
        stall = Signal()
        read_wait = Signal()             # a READ's response waits: its group must hold
        m.d.comb += [
            conflict.eq(needs_read & s1_writes & (self.cmd.p.addr[0] == s1.addr[0])),
            read_wait.eq(s1_valid & (s1.op == BankOp.READ) & ~self.resp.ready),
            stall.eq(read_wait | conflict),
            self.cmd.ready.eq(~stall),
        ]
        with m.If(conflict & (self.conflicts != 0xFFFF)):
            m.d.sync += self.conflicts.eq(self.conflicts + 1)
        with m.If(~stall):
            m.d.sync += [s1_valid.eq(self.cmd.valid), s1.eq(self.cmd.p)]
        with m.Elif(conflict):
            m.d.sync += s1_valid.eq(0)           # stage 1 finishes its write; bubble

        # Stage 1: the word read in stage 0, lane operations, write-back.
        old_bits = Signal(16 * self.wide)
        s1_group, s1_index = s1.addr[0], s1.addr[1:]
        s1_slice = s1_index[14:14 + dbits] if dbits else Const(0, 1)
        with m.Switch(Cat(s1_slice, s1_group) if dbits else s1_group):
            for g in range(2):
                for d in range(self.deep):
                    key = (g << dbits) | d if dbits else g
                    with m.Case(key):
                        m.d.comb += old_bits.eq(Cat(b.dout for b in self.blocks[g][d]))
        old = Signal(self.word_layout)
        m.d.comb += old.eq(old_bits[:self.width])

        new = apply_lane_ops(m, old, s1.lanes, bits)
        wdata = Signal(self.word_layout)
        m.d.comb += wdata.eq(Mux(s1.op == BankOp.WRITE, s1.data, new))
        _writeback(m, self.wb, s1_writes, s1, wdata, lanes, self.tag_bits)

        # Memory ports: stage 0 reads (group of cmd.addr), stage 1 writes (group of s1.addr).
        # A conflict needs no term here: it is a read of the group stage 1 writes, which has
        # its chip select, write enable and address from the write anyway (one level of logic
        # less on the path from the core's command to the SPRAMs' pins, the UP5K's critical
        # path: 7.5 ns of routing to the die's corner).
        rd_go = needs_read & ~read_wait
        c_group, c_index = self.cmd.p.addr[0], self.cmd.p.addr[1:]
        c_slice = c_index[14:14 + dbits] if dbits else Const(0, 1)
        for g in range(2):
            for d in range(self.deep):
                m.submodules[f"g{g}d{d}"] = _Group(self.blocks[g][d])
                wr_here = s1_writes & (s1_group == g) & ((s1_slice == d) if dbits else 1)
                rd_here = rd_go & (c_group == g) & ((c_slice == d) if dbits else 1)
                for w, blk in enumerate(self.blocks[g][d]):
                    m.d.comb += [
                        blk.cs.eq(wr_here | rd_here),
                        blk.we.eq(wr_here),
                        blk.addr.eq(Mux(wr_here, s1_index[:14], c_index[:14])),
                        blk.din.eq(Cat(wdata.as_value(), Const(0, 16 * self.wide))
                                   [16 * w:16 * w + 16]),
                    ]

        m.d.comb += [
            self.resp.valid.eq(s1_valid & (s1.op == BankOp.READ)),
            self.resp.p.counters.eq(old),
            self.resp.p.weights.eq(Cat(~old[i][-1] for i in range(lanes))),
        ]
        return m


class _Group(wiring.Component):
    """Holder so that each SPRAM of a group is elaborated exactly once."""

    def __init__(self, blocks):
        self._blocks = blocks
        super().__init__({})

    def elaborate(self, platform):
        m = Module()
        for w, blk in enumerate(self._blocks):
            m.submodules[f"w{w}"] = blk
        return m
