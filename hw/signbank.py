"""Sign-bit copy of the hidden weights: what the forward pass reads, many bits per cycle.

The binary weight is the inverted sign bit of its counter (spec §2), so the forward pass needs
one bit per weight, not the ``k``-bit counter. :class:`SignBank` keeps that bit in block RAM
organised for the forward pass: ``lanes`` (``NL``) memories, one per neuron lane, each
``words · P`` bits wide (a *row*: ``words`` granules of ``P`` bits, one granule per counter
word). Neuron ``j`` of layer ``l`` lives in lane ``j mod NL``; its forward beat ``s`` is row
``base_l + (j div NL) · beats_l + s`` and its counter word ``b`` is granule ``b mod words`` of
beat ``b div words`` (:class:`SignLayout`). A read returns the same row of every lane: the
weights of ``NL`` neurons for one beat.

The counter bank reports every write it makes (``wb``: the new weight bits of one counter
word and a tag the trainer gave the command); the trainer turns that into a write of one
granule here, so the copy always equals the counters' signs.

Bits of a row past the layer's fan-in are 1 (padding weight +1); the trainer keeps the
activation bits there 0, so ``XNOR`` contributes nothing and the popcount needs no mask.
"""

from amaranth import Cat, Const, Module, Mux, Signal
from amaranth.lib import data, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from .bram import registered_read

__all__ = ["SignBank", "SignLayout", "sign_write_layout", "ICE40_BLOCK_ROWS"]


class SignLayout:
    """Where every weight's sign bit lives in the :class:`SignBank` of a configuration."""

    def __init__(self, cfg):
        self.cfg = cfg
        self.lanes = cfg.forward_lanes
        self.words = cfg.forward_words
        self.width = cfg.forward_bits
        self.word_beats = [-(-f // cfg.lanes) for f in cfg.widths[:-1]]   # counter words
        self.beats = [cfg.forward_beats(l) for l in range(cfg.n_layers)]
        self.rounds = [-(-n // self.lanes) for n in cfg.layers]
        self.base = []
        d = 0
        for r, b in zip(self.rounds, self.beats):
            self.base.append(d)
            d += r * b
        self.depth = max(1, d)

    def location(self, layer, neuron, word):
        """(lane, row, granule) of counter word ``word`` of ``neuron`` in ``layer``."""
        lane, rnd = neuron % self.lanes, neuron // self.lanes
        return (lane, self.base[layer] + rnd * self.beats[layer] + word // self.words,
                word % self.words)

    def rows(self, state):
        """Initial contents from golden-model counters (list of (N, F) arrays): per lane, the
        list of row values (ints of ``width`` bits; padding bits 1)."""
        import numpy as np
        out = [[(1 << self.width) - 1] * self.depth for _ in range(self.lanes)]
        for l, s in enumerate(state):
            n, f = s.shape
            w = (np.asarray(s) >= 0)
            for j in range(n):
                lane, rnd = j % self.lanes, j // self.lanes
                for beat in range(self.beats[l]):
                    lo = beat * self.width
                    v = 0
                    for i in range(self.width):
                        if lo + i >= f or w[j, lo + i]:
                            v |= 1 << i
                    out[lane][self.base[l] + rnd * self.beats[l] + beat] = v
        return out


def sign_write_layout(lanes, words, depth, granule):
    """A write of one granule: lane, row, granule index within the row, the bits."""
    return data.StructLayout({
        "valid": 1,
        "lane": range(max(2, lanes)),
        "row": range(max(2, depth)),
        "granule": range(max(2, words)),
        "bits": granule,
    })


class SignBank(wiring.Component):
    """``lanes`` block-RAM columns of sign bits, one row of every lane read per cycle.

    Parameters
    ----------
    lanes : int
        ``NL``, neuron lanes (memories).
    words : int
        Granules per row.
    granule : int
        Bits per granule (``P``, the counter bank's lanes).
    depth : int
        Rows per lane.
    init : list of list of int, optional
        Per lane, the initial row values.
    block_rows : int, optional
        Split every lane into memories of this many rows (a power of two; ``None``, the
        default: one memory per lane, split by the tools). With :data:`ICE40_BLOCK_ROWS` every
        memory is one SB_RAM40_4K in its 256 × 16 aspect ratio (the only one with a bit mask,
        which the granule writes need). Where the rows fit as many memories of ``B − 1`` rows
        as of ``B`` (the UP5K default's 532 rows: three), every memory keeps its last row zero
        (*zero rows*): memory ``d`` holds rows ``d·(B−1) … (d+1)·(B−1) − 1`` at local address
        ``(row + d) mod B``, a memory that does not hold the row being read reads its zero row
        instead, and the output is the OR of all memories' data, with no select: three inputs
        per bit, which the popcount's XNOR takes in the same LUT4. Otherwise the read row's
        memory is chosen by a registered select (an AND-OR per bit). Yosys' own split of a
        532-row memory builds a wider multiplexer (427 LUTs against ~150 for 4 lanes × 32
        bits with a select, ~130 fewer again with zero rows).

    primitive : bool or None
        Build the blocks from SB_RAM40_4K instances (see :meth:`uses_primitive`; ``None``,
        the default: on an iCE40 platform with :data:`ICE40_BLOCK_ROWS`-row blocks).

    Attributes
    ----------
    rd_addr : In(range(depth))
        Row to read; ``rd_data`` has it one cycle later.
    rd_data : Out(ArrayLayout(words · granule, lanes))
        The row of every lane (lane ``q`` = element ``q``).
    wr : In(sign_write_layout(...))
        One granule write per cycle (``valid``); takes effect for reads issued after it. A row
        must not be read in the cycle it is written (the trainer never does: the forward pass
        reads one layer while the update engine writes the one before), so no read-during-write
        logic surrounds the block RAM.
    """

    read_latency = 1

    def __init__(self, lanes, words, granule, depth, init=None, block_rows=None,
                 primitive=None):
        self.lanes, self.words, self.granule, self.depth = lanes, words, granule, depth
        self.width = words * granule
        init = init or [[(1 << self.width) - 1] * depth for _ in range(lanes)]
        if block_rows is not None and (block_rows < 2 or block_rows & (block_rows - 1)):
            raise ValueError(f"block_rows must be a power of two >= 2, got {block_rows}")
        if block_rows is None or block_rows >= depth:
            block_rows = None
        self.block_rows = B = block_rows
        if primitive and B != ICE40_BLOCK_ROWS:
            raise ValueError(f"primitive blocks need block_rows={ICE40_BLOCK_ROWS} (and more "
                             f"rows than that), got {block_rows}")
        self.primitive = primitive
        n = 1 if B is None else -(-depth // B)
        self.zero_rows = n > 1 and -(-depth // (B - 1)) == n
        if B is None:
            self.starts = [0]                      # first row of every memory
            sizes = [depth]
        elif self.zero_rows:
            self.starts = [d * (B - 1) for d in range(n)]       # the zero-row placement
            sizes = [B] * n
        else:
            self.starts = [d * B for d in range(n)]
            sizes = [min(B, depth - d * B) for d in range(n)]
        ends = self.starts[1:] + [depth]
        # mems[q][d]: rows starts[d] … ends[d] − 1 of lane q (zero rows and spare rows 0)
        self.mems = [[Memory(shape=self.width, depth=size,
                             init=init[q][a:e] + [0] * (size - (e - a)))
                      for a, e, size in zip(self.starts, ends, sizes)] for q in range(lanes)]
        super().__init__({
            "rd_addr": In(range(max(2, depth))),
            "rd_data": Out(data.ArrayLayout(self.width, lanes)),
            "wr": In(sign_write_layout(lanes, words, depth, granule)),
        })

    @classmethod
    def from_config(cls, cfg, state=None, block_rows=None):
        """The bank of ``cfg``, initialised from golden-model counters ``state``."""
        lay = SignLayout(cfg)
        return cls(lay.lanes, lay.words, cfg.lanes, lay.depth,
                   init=lay.rows(state) if state is not None else None,
                   block_rows=block_rows)

    def peek_rows(self, ctx):
        """Every lane's rows (lists of ints), read in an Amaranth testbench."""
        ends = self.starts[1:] + [self.depth]
        return [[ctx.get(mem.data[i]) for mem, a, e in zip(blocks, self.starts, ends)
                 for i in range(e - a)] for blocks in self.mems]

    def uses_primitive(self, platform):
        """Whether ``elaborate(platform)`` builds the blocks from SB_RAM40_4K primitives: on
        an iCE40 platform with :data:`ICE40_BLOCK_ROWS`-row blocks (each one primitive deep
        in its 256 × 16 aspect ratio), unless ``primitive=False``. Yosys maps a memory with
        granule write enables onto the primitive with a mask and a write enable of its own per
        block (~10 LUTs each); the primitive's write enable (the block) and mask (the granule,
        the same for every block) need one LUT per block. Simulation (no platform) uses the
        memories; tests/test_hw_signbank.py simulates the primitive build with Yosys' model."""
        if self.primitive is not None:
            return bool(self.primitive)
        device = str(getattr(platform, "device", "") or "")
        return device.startswith("iCE40") and self.block_rows == ICE40_BLOCK_ROWS

    def _ebr_columns(self, m, mem, name, rd_addr, wr_addr, we, mask, wdata):
        """``mem`` (one block of a lane) as SB_RAM40_4K primitives side by side, 16 bits each,
        initialised from ``mem.init``; returns the registered read data."""
        from amaranth import ClockSignal, Instance
        cols = -(-self.width // 16)
        rdata = Signal(16 * cols, name=f"{name}_rdata")
        init = [int(v) for v in mem.init] + [0] * (ICE40_BLOCK_ROWS - mem.depth)
        pad = 16 * cols - self.width
        for c in range(cols):
            words = [(v >> (16 * c)) & 0xFFFF for v in init]
            params = {f"p_INIT_{i:X}": Const(sum(w << (16 * k) for k, w in
                                                 enumerate(words[16 * i:16 * i + 16])), 256)
                      for i in range(16)}
            m.submodules[f"{name}_{c}"] = Instance(
                "SB_RAM40_4K", p_WRITE_MODE=0, p_READ_MODE=0, **params,
                o_RDATA=rdata[16 * c:16 * c + 16],
                i_RCLK=ClockSignal("sync"), i_RCLKE=Const(1), i_RE=Const(1),
                i_RADDR=Cat(rd_addr, Const(0, 11 - len(rd_addr))),
                i_WCLK=ClockSignal("sync"), i_WCLKE=Const(1), i_WE=we,
                i_WADDR=Cat(wr_addr, Const(0, 11 - len(wr_addr))),
                i_MASK=Cat(mask, Const((1 << pad) - 1, pad))[16 * c:16 * c + 16],
                i_WDATA=Cat(wdata, Const(0, pad))[16 * c:16 * c + 16])
        return rdata[:self.width]

    def _place(self, m, row, name):
        """(local address per memory, in-memory-d flags) of ``row``; with zero rows the local
        address ``(row + d) mod B`` of every memory (the caller sends the ones that do not
        hold the row to their zero row), otherwise the row's low bits."""
        B, n = self.block_rows, len(self.starts)
        if B is None:
            return [row], [Const(1)]
        lo = (B - 1).bit_length()
        if self.zero_rows:
            # (row + d) is in block d iff its high bits are d; its low bits are the local
            # address, B − 1 (the zero row) for the row that starts block d + 1: no compare
            # of the row against the blocks' bounds (carry chains), one adder per block
            addrs, ins = [], []
            for d in range(n):
                full = Signal(len(row) + 1, name=f"{name}_full{d}")
                hit = Signal(name=f"{name}_in{d}")
                m.d.comb += [full.eq(row + d),
                             hit.eq((full[lo:] == d) & (full[:lo] != B - 1))]
                addrs.append(full[:lo])
                ins.append(hit)
            return addrs, ins
        return [row[:lo]] * n, [row[lo:] == d for d in range(n)]

    def elaborate(self, platform):
        m = Module()
        n = len(self.starts)
        rd_addrs, rd_in = self._place(m, self.rd_addr, "rd")
        wr_addrs, wr_in = self._place(m, self.wr.row, "wr")
        if self.zero_rows:
            # a memory that does not hold the row reads its zero row (local address B − 1)
            rd_addrs = [a | (~hit).replicate(len(a)) for a, hit in zip(rd_addrs, rd_in)]
        # which memory the read row is in, registered like the memories' outputs
        rd_sel = Signal(n)
        if n > 1 and not self.zero_rows:
            m.d.sync += rd_sel.eq(Cat(*rd_in))
        primitive = self.uses_primitive(platform)
        if primitive:
            gsel = Signal(self.words)            # one-hot granule of the write (or none)
            m.d.comb += gsel.eq(Mux(self.wr.valid, 1 << self.wr.granule, 0))
            mask = Cat(~gsel[i // self.granule] for i in range(self.width))
            wdata = self.wr.bits.replicate(self.words)
            for blocks in self.mems:
                for mem in blocks:
                    mem._MustUse__silence = True     # (the primitives hold its contents)
        for q, blocks in enumerate(self.mems):
            hit_lane = self.wr.valid
            if self.lanes > 1:
                hit_lane = hit_lane & (self.wr.lane == q)
            outs = []
            for d, mem in enumerate(blocks):
                if primitive:
                    # SB_RAM40_4K: the lane and block select the write enable, the granule
                    # the bit mask (shared by every block): no per-block granule enables
                    we = Signal(name=f"we_{q}_{d}")
                    m.d.comb += we.eq(hit_lane & wr_in[d])
                    outs.append(self._ebr_columns(m, mem, f"ram_{q}_{d}", rd_addrs[d],
                                                  wr_addrs[d], we, mask, wdata))
                    continue
                m.submodules[f"lane{q}" if n == 1 else f"lane{q}_{d}"] = mem
                # (see the class docstring: never read in the cycle it is written)
                rd = registered_read(m, mem, f"signs_{q}_{d}")
                wr = mem.write_port(granularity=self.granule)
                hit = hit_lane & wr_in[d]
                m.d.comb += [rd.addr.eq(rd_addrs[d]), wr.addr.eq(wr_addrs[d]),
                             wr.data.eq(self.wr.bits.replicate(self.words))]
                for g in range(self.words):
                    m.d.comb += wr.en[g].eq(hit & (self.wr.granule == g))
                outs.append(rd.data)
            if n == 1:
                out = outs[0]
            elif self.zero_rows:
                out = outs[0]
                for o in outs[1:]:
                    out = out | o
            else:
                out = outs[0] & rd_sel[0].replicate(self.width)
                for d in range(1, n):
                    out = out | (outs[d] & rd_sel[d].replicate(self.width))
            m.d.comb += self.rd_data[q].eq(out)
        return m


# Rows of one SB_RAM40_4K in its 256 × 16 aspect ratio (the iCE40 sign bank's block depth).
ICE40_BLOCK_ROWS = 256
