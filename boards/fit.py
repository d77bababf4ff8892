"""Fit check before synthesis: does a configuration fit a board's memories and logic?

:func:`check_fit` lists every memory of the trainer (sizes from
:class:`~xnorlearn.hw.trainer.TrainerLayout` and the host protocol), maps each onto the device's
block RAM with the best aspect ratio (as Yosys' ``memory_libmap`` does), and estimates the
logic from a linear model calibrated on real YoWASP builds (docs/boards.md). A configuration
that cannot fit raises :class:`FitError` naming the resource, what is needed, what the board
has and by how much it is over.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..sw import protocol as proto


__all__ = ["check_fit", "fit_report", "FitError", "FitReport", "MemoryUse", "estimate_luts",
           "blocks_for"]

# (depth, width) aspect ratios of one block.
ICE40_EBR = ((256, 16), (512, 8), (1024, 4), (2048, 2))
ECP5_DP16KD = ((512, 36), (1024, 18), (2048, 9), (4096, 4), (8192, 2), (16384, 1))
SPRAM_WORDS, SPRAM_WIDTH = 16384, 16
# Yosys keeps small memories out of block RAM: ECP5 in LUT RAM (TRELLIS_DPR16X4) below
# ~64 words, iCE40 (no LUT RAM) in flip-flops only when tiny.
ECP5_LUTRAM_MAX_WORDS = 64
ICE40_FF_MAX_BITS = 64

# LUT model (docs/boards.md, "Fit check"), fitted on YoWASP builds of this design:
#   LUT4 (ECP5) / logic cells (iCE40) = base + per_bit·P·k + per_layer·L + mux·(rows − 1)·P·k
#                                       + per_fwd_bit·forward_lanes·forward_bits
#                                       + per_addr_bit·(counter-word address bits)
# where rows is how many block-RAM rows the counter memory is deep (the read data of a deep
# memory goes through a rows:1 multiplexer per bit) and the last term is the forward pass
# (sign-copy read multiplexers and popcounts). Calibration points (measured, nextpnr):
#   iCE40 (recalibrated after the second UP5K area pass): iCEBreaker default 784-75-75 P4 k8
#   SPRAM forward 4x32 5109 LC (estimated 5109; 5781 before the pass). Of the 672 LC it
#   saved, ~220 are in the forward pass (sign copy: primitives and zero rows; popcounts:
#   carry-save trees) and scale with forward_lanes·forward_bits (8.8 -> 7.07 per bit), the
#   rest (~450: hash on SB_MAC16, link, sweep, the core's identify ROM) is in blocks every
#   configuration has (base 3300 -> 2850), from the per-block figures (scripts/hier_sizes.py).
#   The smaller builds were not rebuilt: 32-16 forward 1x4 4228 LC and 64-32 4463 LC before the
#   pass, estimated 3771 and 3833 now. After the first pass (base and per_addr_bit fitted):
#   5781, 4228, 4463 LC; before it (the slopes' origin): 64-32 5319 LC, 32-16 5062 LC,
#   784-75-75 forward 1x32 6450 LC, 2x32 6731 LC, 4x32 7625 LC.
#   ECP5: ULX3S-85F default (784-255-255 P16, 9 rows, forward 8x128) 14962 LUT4, ULX3S-12F
#   default (784-75-75 P6 k6, 6 rows, forward 2x48) 7553 LUT4 (both before the area work,
#   which also shrank the link, popcounts and key path there: conservative now)
# Expect ±15 %; the check fails only when the estimate exceeds the device.
LUT_MODEL = {
    "ice40": dict(base=2850, per_bit=13.5, per_layer=242, mux=0.7, per_fwd_bit=7.07,
                  per_addr_bit=31.3),
    "ecp5": dict(base=5012, per_bit=13.5, per_layer=670, mux=0.84, per_fwd_bit=5.88,
                 per_addr_bit=0),
}


#: Logic of the data store, measured: yosys synth of each block alone (docs/gateware.md, "Data
#: store", "SDRAM store"): the store runner (its own hash, stream key and epoch order; the
#: ULX3S-25F / iCEBreaker default configuration), the STORE_WRITE path a writable store adds to
#: it, and the reader of each medium (QSPI flash reader; SDRAM controller with its FIFO).
STORE_RUNNER_LUTS = {"ice40": 2167, "ecp5": 2100}
STORE_WRITE_LUTS = 134
STORE_READER_LUTS = {"flash": {"ice40": 183, "ecp5": 190}, "sdram": {"ecp5": 318}}


def store_luts(family, medium="flash"):
    """LUT4 of the data store in ``medium`` (``boards.registry.STORE_MEDIA``) on ``family``."""
    return (STORE_RUNNER_LUTS[family] + STORE_READER_LUTS[medium][family]
            + (STORE_WRITE_LUTS if medium == "sdram" else 0))

#: Multiplier blocks (SB_MAC16) of one Hash32 on the iCE40 UP parts (hw/prng.py: three steps
#: as two 16-bit multiplies each) and of the update engine's constant multiplies (neuron
#: number × beats, counter word and sign-copy row: at most two).
HASH_DSP, UPDATE_DSP = 6, 2


def dsp_need(cfg, device, store=False):
    """SB_MAC16s the design takes on ``device``: the core's draw hash (and the store
    runner's) in multiply form where the device has them, the update engine's two."""
    import types

    from ..hw.prng import has_multipliers
    if device.family != "ice40" or not has_multipliers(types.SimpleNamespace(device=device.name)):
        return 0
    return HASH_DSP * (1 + bool(store)) + UPDATE_DSP


class FitError(ValueError):
    """The configuration does not fit; the message names the resource and the shortfall."""

    def __init__(self, message, report=None):
        super().__init__(message)
        self.report = report


@dataclass
class MemoryUse:
    name: str
    depth: int
    width: int
    kind: str = ""          # "bram" | "spram" | "lutram" | "ff"
    blocks: int = 0
    aspect: str = ""
    style: dict = field(default_factory=dict)   # family -> "bram" | "lutram": set by the
                                                # design (ram_style), not by size

    @property
    def bits(self):
        return self.depth * self.width


@dataclass
class FitReport:
    board: str
    memories: list = field(default_factory=list)
    need: dict = field(default_factory=dict)
    have: dict = field(default_factory=dict)
    problems: list = field(default_factory=list)

    @property
    def fits(self):
        return not self.problems

    def to_dict(self):
        return {"board": self.board, "fits": self.fits, "need": self.need, "have": self.have,
                "problems": self.problems,
                "memories": [dict(m.__dict__, bits=m.bits) for m in self.memories]}


def blocks_for(depth, width, aspects):
    """Fewest blocks holding ``depth × width`` bits, and the aspect used."""
    best = None
    for d, w in aspects:
        n = -(-depth // d) * -(-width // w)
        if best is None or n < best[0]:
            best = (n, f"{d}x{w}")
    return best


def trainer_memories(cfg, store=False, sweep_search="pipelined", store_slots=None,
                     store_lutram=False):
    from ..hw.link import buffer_depth as link_buffer_depth
    from ..hw.signbank import SignLayout
    from ..hw.trainer import TrainerLayout
    lay, slay = TrainerLayout(cfg), SignLayout(cfg)
    max_n = max(cfg.layers)
    extra = []
    if store:
        kind = "lutram" if store_lutram else "bram"
        extra = [MemoryUse("store record slots", store_buffer_depth(cfg, store_slots), 8,
                           style={"ice40": "bram", "ecp5": kind})]
    return extra + [
        MemoryUse("counters", lay.cnt_depth, cfg.lanes * cfg.counter_bits),
        *[MemoryUse(f"sign copy, lane {q}", slay.depth, slay.width) for q in range(slay.lanes)],
        MemoryUse("classifiers", lay.r_depth, cfg.n_classes),
        MemoryUse("activations", lay.act_depth, cfg.forward_bits),
        MemoryUse("chosen", max(lay.groups), max(2, max_n - 1).bit_length()),
        MemoryUse("link buffer", link_buffer_depth(cfg), 8),     # LINK_DEPTH payload slots
        # the sweep engine's skip tables (hw/sweep.py): a memory per binary-search level, or
        # one memory for the sequential search
        *[MemoryUse(f"sweep table, {name}", d, w, style={"ice40": "bram", "ecp5": "lutram"})
          for name, (d, w) in sweep_table_shapes(cfg, sweep_search)],
    ]


def store_buffer_depth(cfg, slots=None):
    """Bytes of the store runner's record-slot memory, from the runner built for ``cfg``
    (``slots``: a board's ``store_slots``, ``None`` the runner's default)."""
    import warnings

    from ..hw.store import StoreRunner
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")          # built for its shape only, never elaborated
        runner = StoreRunner(cfg, 0, proto.max_payload(cfg), slots=slots)
        depth = runner.buf.depth
        for obj in (runner, runner.buf):
            obj._MustUse__silence = True
    return depth


def sweep_table_shapes(cfg, search="pipelined"):
    """``(name, (depth, width))`` of the sweep engine's table memories, from the engine built
    for ``cfg`` with ``search`` (its level memories and the top word, or its one table)."""
    from ..hw.sweep import SweepEngine
    eng = SweepEngine(cfg.widths[:-1], cfg.layers, cfg.prob_bits, lanes=cfg.lanes,
                      external_hash=True, search=search)
    if search == "sequential":
        named = [("all levels", eng.table_mem)]
    else:
        named = [(f"level {k}", mem) for k, mem in enumerate(eng.level_mems, start=1)]
        named.append(("top", eng.top_mem))
    for obj in [eng, eng.tags] + [mem for _, mem in named]:
        obj._MustUse__silence = True          # built for its shapes only, never elaborated
    from amaranth import Shape
    return [(name, (mem.depth, Shape.cast(mem.shape).width)) for name, mem in named]


def estimate_luts(cfg, family, rows=1):
    """Logic estimate (LUT4 or iCE40 logic cells) of the whole board design."""
    c = LUT_MODEL[family]
    pk = cfg.lanes * cfg.counter_bits
    fwd = cfg.forward_lanes * cfg.forward_bits          # XNOR-popcount inputs per cycle
    from ..hw.trainer import TrainerLayout
    addr = max(1, TrainerLayout(cfg).cnt_depth - 1).bit_length()   # counter-word address bits
    return int(c["base"] + c["per_bit"] * pk + c["per_layer"] * cfg.n_layers
               + c["mux"] * (rows - 1) * pk + c["per_fwd_bit"] * fwd
               + c["per_addr_bit"] * addr)


def block_aspects(family):
    """The (depth, width) aspect ratios of the family's block RAM."""
    return ICE40_EBR if family == "ice40" else ECP5_DP16KD


def row_blocks(depth, width, row_words, aspects):
    """Blocks of a counter memory split into rows of ``row_words`` words, every row one block
    deep (no multiplexer inside a row): full rows in the ``row_words``-deep aspect ratio, a
    partial last row in the cheapest aspect at least as deep as it."""
    wide = dict((d, w) for d, w in aspects)
    full, part = divmod(depth, row_words)
    n = full * -(-width // wide[row_words])
    if part:
        n += min(-(-width // w) for d, w in aspects if d >= part)
    return n


def counter_row_choices(cfg, family):
    """Row depths of the pipelined ("bram-rows") counter bank, best first, as
    ``(row_words, blocks)``: fewest blocks, on a tie the deeper (fewer rows: a narrower row
    multiplexer and fewer row registers)."""
    from ..hw.trainer import TrainerLayout
    aspects = block_aspects(family)
    depth = TrainerLayout(cfg).cnt_depth
    width = cfg.lanes * cfg.counter_bits
    ranked = sorted((row_blocks(depth, width, d, aspects), -d) for d, _ in aspects)
    return [(-neg_d, n) for n, neg_d in ranked]


def counter_row_words(cfg, family):
    """The row depth of the pipelined counter bank (the first of
    :func:`counter_row_choices`)."""
    return counter_row_choices(cfg, family)[0][0]


def spram_bank_shape(cfg, depth):
    """SPRAM blocks of the even/odd-interleaved bank: 2 groups × ceil(P·k / 16) wide ×
    ceil(ceil(depth / 2) / 16384) deep."""
    width = cfg.lanes * cfg.counter_bits
    wide = -(-width // SPRAM_WIDTH)
    deep = -(-(-(-depth // 2)) // SPRAM_WORDS)
    return 2 * wide * deep, wide, deep


def fit_report(board, cfg, bank=None, store=False):
    """What ``cfg`` needs on ``board`` (memories, logic) against what it has; ``store``: with
    the data store (store runner + the reader of ``board.store_medium``: the flash reader or
    the SDRAM controller)."""
    dev = board.device
    bank = bank or board.bank
    rep = FitReport(board.name)
    ebr = spram = 0
    search = "sequential" if bank == "spram" else "pipelined"   # hw/spram.py sweep_search
    for mem in trainer_memories(cfg, store, search, board.store_slots, board.store_lutram):
        if mem.name == "counters" and bank == "spram":
            mem.kind = "spram"
            mem.blocks, wide, deep = spram_bank_shape(cfg, mem.depth)
            mem.aspect = f"2 groups x {wide} wide x {deep} deep (16K x 16)"
            if cfg.lanes * cfg.counter_bits > 32:
                rep.problems.append(
                    f"SPRAM counter word: lanes x counter_bits = {cfg.lanes} x "
                    f"{cfg.counter_bits} = {cfg.lanes * cfg.counter_bits} bits, but the "
                    f"interleaved SPRAM bank holds at most 32 bits per word (over by "
                    f"{cfg.lanes * cfg.counter_bits - 32} bits; e.g. lanes=4, "
                    f"counter_bits=8)")
            spram += mem.blocks
        elif mem.name == "counters" and bank == "bram-rows":
            # one memory per row (each row its own column of blocks; the last one partial)
            mem.kind = "bram"
            aspects = block_aspects(dev.family)
            rw = counter_row_words(cfg, dev.family)
            mem.blocks = row_blocks(mem.depth, mem.width, rw, aspects)
            mem.aspect = (f"{-(-mem.depth // rw)} rows of "
                          f"{min(rw, 1 << (mem.depth - 1).bit_length())} words")
            ebr += mem.blocks
        elif mem.style.get(dev.family) == "lutram" or (
                dev.family == "ecp5" and mem.depth <= ECP5_LUTRAM_MAX_WORDS
                and mem.style.get(dev.family) != "bram"):
            mem.kind = "lutram"
        elif dev.family == "ice40" and mem.bits <= ICE40_FF_MAX_BITS \
                and mem.style.get(dev.family) != "bram":
            mem.kind = "ff"
        else:
            mem.kind = "bram"
            aspects = block_aspects(dev.family)
            mem.blocks, mem.aspect = blocks_for(mem.depth, mem.width, aspects)
            ebr += mem.blocks
        rep.memories.append(mem)
    counters = next(m for m in rep.memories if m.name == "counters")
    rows = 1
    if counters.kind == "bram" and "rows" in counters.aspect:
        rows = int(counters.aspect.split()[0])
    elif counters.kind == "bram" and counters.aspect:
        rows = -(-counters.depth // int(counters.aspect.split("x")[0]))
    store_lut = store_luts(dev.family, board.store_medium) if store else 0
    luts = estimate_luts(cfg, dev.family, rows) + store_lut
    lut_name = "logic cells (LC)" if dev.family == "ice40" else "LUT4"
    dsp = dsp_need(cfg, dev, store)
    rep.need = {"bram": ebr, "spram": spram, "luts": luts, "dsp": dsp}
    rep.have = {"bram": dev.bram, "spram": dev.spram, "luts": dev.luts, "dsp": dev.dsp}
    if dsp > dev.dsp:
        rep.problems.append(
            f"DSP: {dsp} SB_MAC16 (the draw hash in multiply form, {HASH_DSP} per hash"
            + (", the data store's hash too" if store else "") + f"), the {dev.name} has "
            f"{dev.dsp}; over by {dsp - dev.dsp}")
    if spram > dev.spram:
        if dev.spram == 0:
            rep.problems.append(f"{board.name} has no SPRAM; use bank='bram'")
        else:
            rep.problems.append(
                f"SPRAM: the counters need {counters.depth} words x {counters.width} bits = "
                f"{counters.bits} bits in {spram} SB_SPRAM256KA, the {dev.name} has "
                f"{dev.spram} ({dev.spram * SPRAM_WORDS * SPRAM_WIDTH} bits); over by "
                f"{spram - dev.spram} block(s)")
    if ebr > dev.bram:
        detail = ", ".join(f"{m.name} {m.depth}x{m.width} -> {m.blocks} ({m.aspect})"
                           for m in rep.memories if m.kind == "bram")
        rep.problems.append(
            f"block RAM: needs {ebr} {dev.bram_name} ({detail}), the {dev.name} has "
            f"{dev.bram} ({dev.bram * dev.bram_bits} bits); over by {ebr - dev.bram} "
            f"block(s) = {100 * (ebr - dev.bram) / dev.bram:.0f} %")
    if luts > dev.luts:
        rep.problems.append(
            f"logic: an estimated {luts} {lut_name} (model in docs/boards.md) for "
            f"{cfg.lanes} lanes, {cfg.counter_bits}-bit counters, {cfg.n_layers} layers"
            + (f", the data store {store_lut}" if store else "") + "; the "
            f"{dev.name} has {dev.luts}; over by {luts - dev.luts} "
            f"({100 * (luts - dev.luts) / dev.luts:.0f} %)")
    return rep


def check_fit(board, cfg, bank=None, store=False):
    """Return the :class:`FitReport`; raise :class:`FitError` if anything does not fit."""
    if isinstance(board, str):
        from .registry import get_board
        board = get_board(board)
    rep = fit_report(board, cfg, bank, store)
    if rep.problems:
        widths = "-".join(map(str, cfg.widths))
        raise FitError(f"network {widths} (lanes {cfg.lanes}, counter_bits "
                       f"{cfg.counter_bits}) does not fit the {board.name} "
                       f"({board.device.name}): " + "; ".join(rep.problems), rep)
    return rep
