"""The sparse reinforcement sweep of spec v2 §7 in gateware: a geometric-skip walk per neuron row.

For the sweep key ``K`` of a layer (fan-in ``F``, ``N`` neurons) and its skip table ``C[0…63]``
(:func:`xnorlearn.sw.prng.reinforce_table`), row ``j`` draws ``u_t = hash32(R_j ^ (t · SWEEP_STRIDE)) >> (32 − b)``
with ``R_j = hash32(K ^ j)`` and walks ``pos`` from 0: ``u_t ≥ C[63]`` skips
:data:`~xnorlearn.sw.prng.SWEEP_SKIP` weights, otherwise weight ``pos + m``,
``m = min{m : u_t < C[m]}``, is reinforced (if ``< F``) and the walk goes on at ``pos + m + 1``.
:func:`xnorlearn.sw.prng.sweep_row` is the reference.

:class:`SweepEngine` runs one layer's sweep per start request and emits the reinforced
positions in increasing order (row, column, counter word, lane).

Pipeline (one hash input per cycle, ``Lh`` = hash latency, 6 with one step per stage):

* **issue** — the hash takes, per row, one row-key input ``K ^ (j+1)`` (the *next* row's key,
  computed while this row runs) and then the draws ``R_j ^ (t · SWEEP_STRIDE)``, ``t = 0, 1, …``
  (an accumulator adds the stride per draw), one per cycle,
  regardless of results. A tag FIFO (row-key or draw, row generation bit) follows every input.
* **search** — ``m`` by a pipelined binary search: the table of every layer is split by levels
  of the search tree into six small memories (level ``k`` holds the ``2^k`` entries the ``k``-th
  comparison can need, ``C[31]`` for level 0, ``C[15], C[47]`` for level 1, …, the even-indexed
  ``C[2i]`` for level 5), plus ``C[63]`` (the skip test) with ``C[31]``. Each cycle a level
  compares the draw against the entry its synchronous read returned and the result bit is the
  next level's address bit: six comparators of ``b`` bits and one of the skip test, no
  multiplexer over 64 entries; the memories are ``2^k · L`` entries (two banks, see below).
* **search, sequential** (``search="sequential"``, for devices short of block RAM: the
  iCE40 UP5K) — one table memory (``C[i]`` at address ``i`` of its layer and bank) and one
  comparator: ``u ≥ C[63]`` against the memory's read data (it reads ``C[63]`` whenever no
  search needs it) decides a skip in the cycle the draw arrives; any other draw searches the six levels one per cycle
  (``lo += 2^(5−k)`` if ``u ≥ C[lo + 2^(5−k) − 1]``) while the draw waits at the hash's
  output, holding the pipeline, so a hit costs seven cycles more than a skip. Draws of a row
  that has already ended are dropped unsearched.
* **walk** — ``pos`` (as the linear column and as counter word/lane, so no division by ``P``)
  advances by the step ``m + 1`` or 64; a hit is registered on ``o``. When a row ends, the draws
  of that row still in flight (about ``Lh + 7``) are discarded by their generation bit and the
  issue moves to the next row, whose key is ready: a row costs its draws plus ~``Lh + 8`` cycles.

Tables: two banks per layer, the power-on / INIT table (``init_tables``, never written) and
the host's (written through ``tw`` by SET_THRESHOLDS); ``host_tables`` chooses which one the
sweeps use, so INIT restores the power-on tables without rewriting anything.
"""

from amaranth import Array, Cat, Const, Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.fifo import SyncFIFO
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from ..sw import prng as sw_prng
from .bram import registered_read
from .prng import Hash32, hash_ports, lent_hash_ports

__all__ = ["SweepEngine", "start_layout", "table_write_layout", "hit_layout", "LEVELS"]

SKIP = sw_prng.SWEEP_SKIP
LEVELS = ceil_log2(SKIP)          # comparisons of the binary search (6)
assert SKIP == 1 << LEVELS


def start_layout(n_layers):
    return data.StructLayout({"key": 32, "layer": range(max(2, n_layers))})


def table_write_layout(n_layers, prob_bits):
    return data.StructLayout({"layer": range(max(2, n_layers)), "index": LEVELS,
                              "value": prob_bits})


def hit_layout(max_rows, max_fan_in, depth, lanes):
    return data.StructLayout({"row": range(max(2, max_rows)), "col": range(max(2, max_fan_in)),
                              "word": range(max(2, depth)), "lane": range(max(2, lanes))})


def _level_of(index):
    """(level, address within the level) of table entry ``index`` (level −1 = ``C[63]``)."""
    v = index + 1
    tz = (v & -v).bit_length() - 1
    level = LEVELS - 1 - tz
    return level, (v >> (LEVELS - level)) if level >= 0 else 0


class SweepEngine(wiring.Component):
    """Sparse reinforcement sweep of one layer per request (spec v2 §7).

    Parameters
    ----------
    fan_ins, rows : sequence of int
        ``F_l`` and ``N_l`` of every layer.
    prob_bits : int
        ``b``, width of the draws and table entries.
    lanes : int
        ``P``, counters per counter word (``word``/``lane`` of the hits).
    word_bases : sequence of int, optional
        Counter word of row 0 of every layer (default: layers one after the other,
        ``N_l · ceil(F_l / P)`` words each, as :class:`~xnorlearn.hw.trainer.TrainerLayout`).
    init_tables : sequence of 64-tuples, optional
        Power-on / INIT table of every layer (default all zero: nothing is reinforced).
    hash_steps : int
        ``steps_per_stage`` of the own :class:`~xnorlearn.hw.prng.Hash32`.
    external_hash : bool
        Use a hash outside this block through ``hash_i``/``hash_o`` (the trainer core lends
        its draw hash). It must deliver results in order; at most ``hash_depth`` inputs may be
        in flight (a :class:`~xnorlearn.hw.prng.Hash32` holds at most its latency).
    hash_depth : int
        Bound on the lent hash's in-flight inputs (sizes the tag FIFO; default 6).
    key_held : bool
        The caller holds ``start.payload.key`` from the request until the sweep is done (not
        busy), so it is not copied into a register here.
    key_ahead : bool or None
        Hash the next row's key while a row runs (``True``: a row costs its draws plus
        ~``Lh + 8`` cycles, and 32 flip-flops hold the key) or when the row ends (``False``:
        ``Lh + 2`` cycles more per row, no such register). ``None`` (default): ahead with the
        pipelined search, at the row's end with the sequential one (the UP5K's, short of
        logic cells).
    search : str
        ``"pipelined"`` (default): a draw per cycle through six table memories;
        ``"sequential"``: one table memory (a block RAM on the iCE40) and a search of seven
        cycles per draw that is not a skip (see above). Same hits, in the same order.

    Attributes
    ----------
    start : In(stream.Signature(start_layout(L)))
        ``key`` (``stream_key(seed, l, 2, n)``) and ``layer``; accepted only while idle.
    tw : In(stream.Signature(table_write_layout(L, b)))
        Write ``C_layer[index] = value`` into the host table bank (``ready`` is always 1;
        do not write while a sweep runs).
    host_tables : In(1)
        1: sweeps use the host tables; 0: the ``init_tables``.
    o : Out(stream.Signature(hit_layout(...)))
        Reinforced positions in increasing order: ``row`` j, ``col`` i, counter ``word``
        ``word_bases[l] + j · ceil(F / P) + i // P`` and ``lane`` ``i % P``. Backpressure
        stalls the whole engine.
    busy : Out(1)
        High from the cycle after ``start`` is accepted until the last hit has been taken and
        nothing is left in flight (the lent hash included): low again means done.
    hash_i : Out(stream.Signature(32)), hash_o : In(stream.Signature(32))
        Only with ``external_hash``.
    """

    def __init__(self, fan_ins, rows, prob_bits, lanes=1, word_bases=None, init_tables=None,
                 hash_steps=1, external_hash=False, hash_depth=6, search="pipelined",
                 key_held=False, key_ahead=None):
        self.fan_ins, self.rows = [int(f) for f in fan_ins], [int(n) for n in rows]
        L = len(self.fan_ins)
        if L < 1 or len(self.rows) != L or min(self.fan_ins + self.rows) < 1:
            raise ValueError("need one positive fan-in and row count per layer")
        if not 1 <= prob_bits <= 32 or lanes < 1:
            raise ValueError("need 1 <= prob_bits <= 32 and lanes >= 1")
        self.prob_bits, self.lanes = prob_bits, lanes
        self.beats = [-(-f // lanes) for f in self.fan_ins]
        if word_bases is None:
            word_bases, w = [], 0
            for n, b in zip(self.rows, self.beats):
                word_bases.append(w)
                w += n * b
        self.word_bases = [int(w) for w in word_bases]
        self.depth = max(w + n * b for w, n, b in zip(self.word_bases, self.rows, self.beats))
        if init_tables is None:
            init_tables = [(0,) * SKIP] * L
        init_tables = [tuple(int(c) for c in t) for t in init_tables]
        if len(init_tables) != L or any(len(t) != SKIP for t in init_tables):
            raise ValueError(f"need {SKIP} table entries per layer")
        if any(not 0 <= c < 1 << prob_bits for t in init_tables for c in t):
            raise ValueError(f"table entries must be < 2**{prob_bits}")
        if any(t[i + 1] < t[i] for t in init_tables for i in range(SKIP - 1)):
            raise ValueError("tables must be nondecreasing")
        self.init_tables = init_tables
        if search not in ("pipelined", "sequential"):
            raise ValueError(f"search must be 'pipelined' or 'sequential', got {search!r}")
        self.search = search
        self.key_held = key_held
        self.key_ahead = (search == "pipelined") if key_ahead is None else bool(key_ahead)
        self.external_hash = external_hash
        self.hash_steps = hash_steps
        self.hash_depth = 6 // hash_steps if not external_hash else hash_depth
        self.hash = None if external_hash else Hash32(hash_steps)

        # Table memories: level k (0 … LEVELS-1) at address Cat(prefix[k bits], layer, bank);
        # the top memory holds C[31] (level 0) and C[63] (skip test) in one word.
        # Their RAM style is chosen per device family in elaborate(): block RAM on the iCE40
        # (Yosys would build the smallest ones from flip-flops and multiplexers, ~80 FFs and
        # ~30 LUTs more), LUT RAM on the ECP5 (a few hundred bits each; the 12F's 32 DP16KD
        # are all spoken for).
        self.lb = ceil_log2(L) if L > 1 else 0
        b = prob_bits
        self.level_mems = []
        if search == "sequential":
            # C[i] of layer l, bank k at Cat(i, l, k)
            init = []
            for bank in range(2):
                for l in range(1 << self.lb):
                    init.extend(init_tables[l] if bank == 0 and l < L else (0,) * SKIP)
            self.table_mem = Memory(shape=b, depth=len(init), init=init)
            self.top_mem = None
        else:
            self.table_mem = None
            for k in range(1, LEVELS):
                init = []
                for bank in range(2):
                    for l in range(1 << self.lb):
                        for p in range(1 << k):
                            idx = p * (SKIP >> k) + (SKIP >> (k + 1)) - 1
                            init.append(init_tables[l][idx] if bank == 0 and l < L else 0)
                self.level_mems.append(Memory(shape=b, depth=len(init), init=init))
            top = []
            for bank in range(2):
                for l in range(1 << self.lb):
                    t = init_tables[l] if bank == 0 and l < L else (0,) * SKIP
                    top.append(t[SKIP // 2 - 1] | (t[SKIP - 1] << b))
            self.top_mem = Memory(shape=2 * b, depth=len(top), init=top)
        self.tags = SyncFIFO(width=2, depth=self.hash_depth + 1)

        ports = {
            "start": In(stream.Signature(start_layout(L))),
            "tw": In(stream.Signature(table_write_layout(L, b))),
            "host_tables": In(1),
            "o": Out(stream.Signature(hit_layout(max(self.rows), max(self.fan_ins),
                                                 self.depth, lanes))),
            "busy": Out(1),
        }
        if external_hash:
            ports.update(lent_hash_ports())
        super().__init__(ports)

    @property
    def latency(self):
        """Cycles from a draw's hash input to its hit on ``o`` (hash, search, walk); with
        ``search="sequential"`` that of a draw that follows no search (a hit adds
        ``LEVELS + 1``)."""
        return self.hash_depth + (2 if self.search == "sequential" else LEVELS + 1)

    def _pipelined_search(self, m, en, idle, ho, tags, tw_layer, bank_layer,
                          w_valid, w_gen, w_hit, w_step):
        """Six table memories, a draw per cycle; returns (pop, a draw is in the pipeline)."""
        b, lb = self.prob_bits, self.lb
        tw = self.tw.p
        m.submodules.top = self.top_mem
        for k, mem in enumerate(self.level_mems, start=1):
            m.submodules[f"level{k}"] = mem
        # ------------------------------------------------------------ table writes
        mp1 = Signal(LEVELS + 1)
        m.d.comb += mp1.eq(tw.index + 1)
        top_wr = self.top_mem.write_port(granularity=b)
        m.d.comb += [top_wr.addr.eq(Cat(tw_layer, Const(1, 1))),
                     top_wr.data.eq(Cat(tw.value, tw.value)),
                     top_wr.en.eq(Mux(self.tw.valid,
                                      Cat(mp1 == SKIP // 2, mp1 == SKIP), 0))]
        for k, mem in enumerate(self.level_mems, start=1):
            wr = mem.write_port()
            sel = mp1[LEVELS - 1 - k] & (mp1[:LEVELS - 1 - k] == 0 if LEVELS - 1 - k else 1)
            m.d.comb += [wr.addr.eq(Cat(mp1[LEVELS - k:LEVELS], tw_layer, Const(1, 1))),
                         wr.data.eq(tw.value), wr.en.eq(self.tw.valid & sel)]

        # ------------------------------------------------------------ search pipeline
        # s0 = the hash output (with its tag); s1 … s5 registers; level k compares in s_k.
        top_rd = self.top_mem.read_port(domain="sync")
        # the top word is read while idle (address from the request) and then holds
        m.d.comb += [top_rd.addr.eq(Cat(self.start.p.layer[:lb] if lb else Const(0, 0),
                                        self.host_tables)),
                     top_rd.en.eq(idle)]
        c31, c63 = top_rd.data[:b], top_rd.data[b:]

        tag_key, tag_gen = tags.r_data[0], tags.r_data[1]
        pop = ho.valid & en
        m.d.comb += [ho.ready.eq(en), tags.r_en.eq(pop)]
        u0 = ho.payload[32 - b:]
        vs = [Signal(name=f"s{k}_valid") for k in range(LEVELS)]
        gs = [Signal(name=f"s{k}_gen") for k in range(LEVELS)]
        us = [Signal(b, name=f"s{k}_u") for k in range(LEVELS)]
        ks = [Signal(name=f"s{k}_skip") for k in range(LEVELS)]
        pfx = [Signal(max(1, k), name=f"s{k}_prefix") for k in range(LEVELS)]
        m.d.comb += [vs[0].eq(ho.valid & ~tag_key), gs[0].eq(tag_gen), us[0].eq(u0),
                     ks[0].eq(u0 >= c63)]
        bit = [None] * LEVELS
        bit[0] = Signal(name="s0_bit")
        m.d.comb += bit[0].eq(u0 >= c31)
        prefix_after = [None] * LEVELS           # the k+1 result bits after level k (MSB first)
        prefix_after[0] = bit[0]
        for k in range(1, LEVELS):
            mem = self.level_mems[k - 1]
            rd = mem.read_port(domain="sync")
            # address presented in s_{k-1}: the prefix including level k-1's result
            m.d.comb += [rd.addr.eq(Cat(prefix_after[k - 1], bank_layer)), rd.en.eq(en)]
            with m.If(en):
                m.d.sync += [vs[k].eq(vs[k - 1]), gs[k].eq(gs[k - 1]), us[k].eq(us[k - 1]),
                             ks[k].eq(ks[k - 1]), pfx[k].eq(prefix_after[k - 1])]
            bit[k] = Signal(name=f"s{k}_bit")
            m.d.comb += bit[k].eq(us[k] >= rd.data)
            prefix_after[k] = Cat(bit[k], pfx[k])     # new bit is the LSB
        # s6: the step (m + 1, or SKIP for a skip) and whether it is a hit
        with m.If(en):
            last_k = LEVELS - 1
            m.d.sync += [w_valid.eq(vs[last_k]), w_gen.eq(gs[last_k]), w_hit.eq(~ks[last_k]),
                         w_step.eq(Mux(ks[last_k], SKIP, prefix_after[last_k] + 1))]

        return pop, Cat(*vs[1:]).any()

    def _sequential_search(self, m, en, idle, ho, tags, tw_layer, bank_layer, gen,
                           w_valid, w_gen, w_hit, w_step):
        """One table memory, one comparator: a skip in the cycle its draw arrives, any other
        draw in seven more (one level per cycle, the pipeline held); returns (pop, a search
        is under way)."""
        b, lb = self.prob_bits, self.lb
        tw = self.tw.p
        m.submodules.table = mem = self.table_mem
        wr = mem.write_port()
        m.d.comb += [wr.addr.eq(Cat(tw.index, tw_layer, Const(1, 1))), wr.data.eq(tw.value),
                     wr.en.eq(self.tw.valid)]
        # (tables are written only between sweeps; the idle reads of C[63] that a write may
        # meet are read again before the next sweep starts)
        rd = registered_read(m, mem, "sweep_table", en=en)

        # C[63] of the layer is what the memory reads whenever no search needs it (while idle
        # from the request's layer): the skip test of a draw compares against the read data,
        # no register holds C[63]
        tag_key, tag_gen = tags.r_data[0], tags.r_data[1]
        u0 = ho.payload[32 - b:]
        # a draw of a row that has ended (its generation is gone) is dropped unsearched
        draw = ho.valid & ~tag_key & (tag_gen == gen)
        skip = draw & (u0 >= rd.data)

        # The draw being searched stays at the hash's output (not taken, so the hash holds
        # it) until its search ends: no copy of it here.
        busy = Signal()                  # a search is under way
        lo = Signal(LEVELS)              # m's bits found so far
        step = Signal(LEVELS)            # one-hot: the bit this level decides
        bit = Signal()
        m.d.comb += bit.eq(u0 >= rd.data)       # rd.data = C[lo | (step − 1)]
        lo_next = Signal(LEVELS)
        m.d.comb += lo_next.eq(lo | Mux(bit, step, 0))
        done = busy & step[0]
        search = ~busy & draw & ~skip    # a search starts on the draw at the output
        # taken: a row key, a skip or a dropped draw at once, a searched draw when its last
        # level's compare ends
        take = Mux(busy, done, ~search)
        pop = ho.valid & en & take
        m.d.comb += [ho.ready.eq(en & take), tags.r_en.eq(pop)]

        first = Cat(Const(0, LEVELS - 1), Const(1, 1))       # step of level 0: 2^(L−1)
        with m.If(idle):
            m.d.comb += rd.addr.eq(Cat(Const(SKIP - 1, LEVELS), self.start.p.layer[:lb]
                                       if lb else Const(0, 0), self.host_tables))
        with m.Elif(busy & ~done):
            m.d.comb += rd.addr.eq(Cat((lo_next | ((step >> 1) - 1))[:LEVELS], bank_layer))
        with m.Elif(search):
            # level 0 compares against C[31] in the next cycle
            m.d.comb += rd.addr.eq(Cat(Const(SKIP // 2 - 1, LEVELS), bank_layer))
        with m.Else():
            # the next draw's skip test (also after a search's last level)
            m.d.comb += rd.addr.eq(Cat(Const(SKIP - 1, LEVELS), bank_layer))

        with m.If(en):
            m.d.sync += [w_valid.eq(done | (pop & skip)), w_gen.eq(tag_gen),
                         w_hit.eq(done), w_step.eq(Mux(done, lo_next + 1, SKIP))]
            with m.If(busy):
                m.d.sync += [lo.eq(lo_next), step.eq(step >> 1)]
                with m.If(done):
                    m.d.sync += busy.eq(0)
            with m.If(search):
                m.d.sync += [busy.eq(1), lo.eq(0), step.eq(first)]
        return pop, busy

    def elaborate(self, platform):
        m = Module()
        style = {"ice40": "block", "ecp5": "distributed"}.get(getattr(platform, "family", None))
        for mem in self.level_mems + [self.top_mem, self.table_mem]:
            if style and mem is not None:
                mem.attrs["ram_style"] = style
        L, P = len(self.fan_ins), self.lanes
        lb = self.lb
        max_n, max_f = max(self.rows), max(self.fan_ins)

        hi, ho = hash_ports(m, self, self.hash)
        m.submodules.tags = tags = self.tags

        def const_array(values):
            w = max(1, max(int(v).bit_length() for v in values))
            return Array(Const(int(v), w) for v in values)

        # ------------------------------------------------------------ per-sweep registers
        key = self.start.p.key if self.key_held else Signal(32)
        layer = Signal(range(max(2, L)))
        f_last = Signal(range(max_f))                       # F − 1
        n_rows = Signal(range(max_n + 1))
        beats = Signal(range(max(self.beats) + 1))
        row = Signal(range(max_n + 1))                      # row being walked
        row_base = Signal(range(max(2, self.depth + 1)))    # its first counter word
        key_idx = Signal(range(max_n + 2))                  # next row key to issue
        key_first = Signal()                                # next issue slot: a row key
        w = Signal(32)            # t · SWEEP_STRIDE of the row's next draw t (no multiplier)
        gen = Signal()                                      # row generation (issue and walk)
        rk_cur = Signal(32)                                 # R_j of the row being issued
        rk_next = Signal(32) if self.key_ahead else None    # R_{j+1}
        # walk position: last = pos − 1 (−1 at a row start, wrapping), also as word/lane
        # (the latter only for P not a power of two)
        wl = max(2, max_f + SKIP).bit_length() + 1
        last = Signal(wl)
        ww = max(2, self.depth + SKIP).bit_length() + 1
        last_word = Signal(ww)
        last_lane = Signal(range(max(2, P)))

        en = Signal()            # the whole pipeline moves (the output register is free)
        m.d.comb += en.eq(~self.o.valid | self.o.ready)

        idle = Signal()
        tag_key = tags.r_data[0]
        w_valid, w_gen, w_hit = Signal(), Signal(), Signal()   # the walk's input register:
        w_step = Signal(range(SKIP + 1))            # the step (m + 1, or SKIP for a skip)
        m.d.comb += self.tw.ready.eq(1)
        tw = self.tw.p
        tw_layer = tw.layer[:lb] if lb else Const(0, 0)
        bank_layer = Cat(layer[:lb] if lb else Const(0, 0), self.host_tables)
        if self.search == "sequential":
            pop, searching = self._sequential_search(
                m, en, idle, ho, tags, tw_layer, bank_layer, gen, w_valid, w_gen, w_hit, w_step)
        else:
            pop, searching = self._pipelined_search(
                m, en, idle, ho, tags, tw_layer, bank_layer, w_valid, w_gen, w_hit, w_step)

        # ------------------------------------------------------------ walk
        new_last = Signal(wl)
        new_word = Signal(ww)
        new_lane = Signal.like(last_lane)
        m.d.comb += new_last.eq(last + w_step)
        pow2 = P & (P - 1) == 0
        if pow2:
            # the hit's counter word and lane straight from its column (a shift and one
            # adder): no word/lane position registers walking along
            sh = P.bit_length() - 1
            m.d.comb += [new_word.eq(row_base + (new_last >> sh)),
                         new_lane.eq(new_last[:sh] if sh else 0)]
        else:
            step_w = const_array([s // P for s in range(SKIP + 1)])[w_step]
            step_l = const_array([s % P for s in range(SKIP + 1)])[w_step]
            lsum = Signal(range(2 * P + 1))
            m.d.comb += lsum.eq(last_lane + step_l)
            carry = lsum >= P
            m.d.comb += [new_word.eq(last_word + step_w + carry),
                         new_lane.eq(Mux(carry, lsum - P, lsum))]
        past = new_last > f_last
        at_end = new_last == f_last
        running = Signal()
        walk = running & w_valid & (w_gen == gen) & en
        row_end = walk & (past | at_end)
        next_base = row_base + beats

        with m.If(en):
            m.d.sync += self.o.valid.eq(0)
        with m.If(walk):
            m.d.sync += last.eq(new_last)
            if not pow2:
                m.d.sync += [last_word.eq(new_word), last_lane.eq(new_lane)]
            with m.If(w_hit & ~past):
                m.d.sync += [self.o.valid.eq(1), self.o.p.row.eq(row), self.o.p.col.eq(new_last),
                             self.o.p.word.eq(new_word), self.o.p.lane.eq(new_lane)]

        # ------------------------------------------------------------ issue
        # hash input: the next row key K ^ key_idx, or draw t: R_j ^ (t · SWEEP_STRIDE)
        issue = Signal()
        m.d.comb += [hi.valid.eq(issue),
                     hi.payload.eq(Mux(key_first, key ^ key_idx, rk_cur ^ w)),
                     tags.w_en.eq(hi.valid & hi.ready),
                     tags.w_data.eq(Cat(key_first, gen))]
        with m.If(hi.valid & hi.ready):
            with m.If(key_first):
                m.d.sync += [key_first.eq(0), key_idx.eq(key_idx + 1)]
            with m.Else():
                m.d.sync += w.eq(w + sw_prng.SWEEP_STRIDE)

        def row_start(base):
            m.d.sync += [last.eq(-1), row_base.eq(base), w.eq(0)]
            if not pow2:
                m.d.sync += [last_word.eq(base - 1), last_lane.eq(P - 1)]

        pipe_empty = ~(tags.r_rdy | searching | w_valid)
        with m.FSM():
            with m.State("IDLE"):
                m.d.comb += [idle.eq(1), self.start.ready.eq(pipe_empty)]
                with m.If(self.start.valid & pipe_empty):
                    lay = self.start.p.layer
                    if not self.key_held:
                        m.d.sync += key.eq(self.start.p.key)
                    m.d.sync += [layer.eq(lay),
                                 f_last.eq(const_array([f - 1 for f in self.fan_ins])[lay]),
                                 n_rows.eq(const_array(self.rows)[lay]),
                                 beats.eq(const_array(self.beats)[lay]),
                                 row_base.eq(const_array(self.word_bases)[lay]),
                                 row.eq(0), key_idx.eq(0), key_first.eq(1)]
                    if not self.key_ahead:
                        m.d.sync += gen.eq(~gen)    # (KEY0 keeps it: see RUN)
                    m.next = "KEY0"
            with m.State("KEY0"):
                # R_0 = hash32(K ^ 0); then the row loop
                m.d.comb += [self.busy.eq(1), issue.eq(key_first)]
                with m.If(pop & tag_key):
                    m.d.sync += rk_cur.eq(ho.payload)
                    if self.key_ahead:
                        m.d.sync += [key_first.eq(n_rows > 1), gen.eq(~gen)]
                    row_start(row_base)
                    m.next = "RUN"
            with m.State("RUN"):
                m.d.comb += [self.busy.eq(1), running.eq(1), issue.eq(1)]
                if self.key_ahead:
                    with m.If(pop & tag_key):
                        m.d.sync += rk_next.eq(ho.payload)
                with m.If(row_end):
                    m.d.sync += [row.eq(row + 1), gen.eq(~gen)]
                    row_start(next_base)
                    if self.key_ahead:
                        m.d.sync += [rk_cur.eq(rk_next), key_first.eq(key_idx < n_rows)]
                    with m.If(row == n_rows - 1):
                        m.next = "DRAIN"
                    if not self.key_ahead:
                        with m.Else():
                            # the next row's key now (its draws wait for it; the old row's
                            # draws still in flight are dropped by their generation)
                            m.d.sync += key_first.eq(1)
                            m.next = "KEY0"
            with m.State("DRAIN"):
                # the last row's draws still in flight are dropped; the hit register empties
                m.d.comb += self.busy.eq(1)
                with m.If(pipe_empty & ~self.o.valid):
                    m.next = "IDLE"
        return m
