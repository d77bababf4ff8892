"""The data store in gateware: training from a dataset image (``docs/host-protocol.md``, "Data
store").

* :class:`MemoryReader` serves an image from an :class:`~amaranth.lib.memory.Memory` behind the
  read interface of :class:`~xnorlearn.hw.flash.QspiFlashReader` (``cmd``: address and length,
  ``data``: the bytes). It is for unit tests and fast simulation; boards read their SPI flash
  with the flash reader. ``writable=True`` adds the write interface of the SDRAM store
  (``wcmd``: address and length, ``wdata``: the bytes), so simulation has a store the host
  fills with ``STORE_WRITE``.
* :class:`StoreRunner` sits between :class:`~xnorlearn.hw.link.HostLink` and
  :class:`~xnorlearn.hw.trainer.TrainerCore`. Ordinary commands pass straight through; it
  executes ``STORE_INFO``, ``TRAIN_STORE`` and ``EVAL_STORE`` itself by reading the header and
  the records and feeding each record to the core as a ``TRAIN`` (or ``INFER``) request; with
  a writable store (``writable=True``) also ``STORE_WRITE``, streaming the payload's bytes
  into the reader's ``wcmd``/``wdata``.

Every layout (header fields, request payloads, magic, format, record size) is derived from
:mod:`xnorlearn.sw.protocol`, the epoch order from :mod:`xnorlearn.sw.prng`.
"""

import dataclasses
import struct

from amaranth import Cat, Const, Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from ..sw import prng
from ..sw import protocol as proto
from ..sw.protocol import Command, Status, StoreCheck
from .flash import read_command_layout
from .link import crc16_next, reply_layout, request_layout
from .order import EpochOrder
from .prng import Hash32, StreamKey

__all__ = ["MemoryReader", "StoreRunner", "StoreParams", "read_command_layout", "STORE_WINDOW",
           "host_port_signature", "header_fields", "request_fields"]

#: byte address width of the reader (3-byte-address SPI flash), from the flash reader's layout
ADDR_BITS = read_command_layout()["addr"].width
#: bytes the reader addresses: the largest store window (16 MiB of a board's SDRAM)
STORE_WINDOW = 1 << ADDR_BITS
#: the record buffer's default size: one ECP5 DP16KD (2048 x 9) holds 2 KiB
BUFFER_BYTES = 2048
#: most record slots by default (the slot flags and labels are registers)
MAX_SLOTS = 16


def host_port_signature(max_payload):
    """The link's side of the link-core interface (:class:`~xnorlearn.hw.link.HostLink`'s
    ports; :class:`~xnorlearn.hw.trainer.TrainerCore` has it flipped)."""
    return wiring.Signature({
        "req": Out(stream.Signature(request_layout())),
        "buf_addr": In(range(max_payload)),
        "buf_data": Out(8),
        "rsp": In(stream.Signature(reply_layout())),
        "rsp_data": In(stream.Signature(8)),
    })


@dataclasses.dataclass(frozen=True)
class StoreParams:
    """Where a design finds its data store.

    Parameters
    ----------
    base : int
        Byte address of the image (its header) in the reader's address space.
    reader : callable
        ``reader()`` makes the reader component (``cmd``/``data`` as :class:`MemoryReader`;
        with ``sck``/``cs``/``io_o``/``io_oe``/``io_i`` for a flash reader, which the top level
        then exposes as pins).
    slots, lutram
        The runner's record buffer (:class:`StoreRunner`): ``None`` = its default.
    writable : bool
        The reader also has the write ports ``wcmd``/``wdata`` (the SDRAM store,
        ``hw.sdram.SdramStore``, or ``MemoryReader(writable=True)``): the runner then executes
        ``STORE_WRITE`` (the host fills the store over the link).
    capacity : int or None
        With ``writable``: bytes from ``base`` the host may write; default the rest of the
        reader's window, ``STORE_WINDOW - base``.

    A board with an SDRAM store: ``StoreParams(0, lambda: SdramStore(...), writable=True)``.
    """
    base: int
    reader: object
    slots: int | None = None
    lutram: bool = False
    writable: bool = False
    capacity: int | None = None

    def runner(self, cfg, max_payload):
        """The :class:`StoreRunner` of this store (``slots``, ``lutram``, ``writable``,
        ``capacity`` as given)."""
        return StoreRunner(cfg, self.base, max_payload, slots=self.slots, lutram=self.lutram,
                           writable=self.writable, capacity=self.capacity)


# ---------------------------------------------------------------------------- layouts
def _probe_positions(pack, lows, highs):
    """Byte positions of each field of a packer of integers (``pack(values) -> bytes``): the
    bytes that differ between ``pack(lows)`` and ``lows`` with field ``f`` set to
    ``highs[f]``, in significance order (little-endian fields)."""
    zero = pack(lows)
    out = []
    for f, hi in enumerate(highs):
        vals = list(lows)
        vals[f] = hi
        packed = pack(vals)
        out.append([p for p in range(len(zero)) if packed[p] != zero[p]])
    return out


_HEADER_FIELDS = ("format", "record_bytes", "n_train", "n_test", "n_inputs", "n_classes")
_HEADER_ONES = (0xFFFF, 0xFFFF, prng.MASK32, prng.MASK32, 0xFFFF, 0xFF)


def header_fields():
    """``{field: [byte positions, least significant first]}`` of the store header fields the
    chip reads, plus ``magic`` and ``crc`` (derived by packing headers with
    :class:`~xnorlearn.sw.protocol.StoreHeader`)."""
    def pack(vals):
        kw = dict(zip(_HEADER_FIELDS, vals))
        return proto.StoreHeader(**kw).pack()[:-2]          # without the CRC
    pos = dict(zip(_HEADER_FIELDS, _probe_positions(pack, [0] * len(_HEADER_FIELDS),
                                                    _HEADER_ONES)))
    ref = proto.StoreHeader(0, 0, 0, 0, 0).pack()
    pos["magic"] = [ref.index(proto.STORE_MAGIC) + k for k in range(len(proto.STORE_MAGIC))]
    # the CRC ends the header (CRC-16 of every byte before it), little-endian
    assert struct.unpack("<H", ref[-2:])[0] == proto.crc16(ref[:-2])
    pos["crc"] = [proto.STORE_HEADER_BYTES - 2, proto.STORE_HEADER_BYTES - 1]
    return pos


def request_fields(code):
    """Byte positions of the fields of a TRAIN_STORE (seed, epoch, first, count),
    EVAL_STORE (split, first, count) or STORE_WRITE (offset) payload, from the protocol's
    request builders."""
    M = prng.MASK32
    if code == Command.STORE_WRITE:                 # offset (the data follow)
        return _probe_positions(lambda v: proto.store_write_request(v[0], b"\0"), [0], [M])
    if code == Command.TRAIN_STORE:
        return _probe_positions(lambda v: proto.train_store_request(*v), [0, 0, 0, 1],
                                [M, M, M, M])
    return _probe_positions(lambda v: proto.eval_store_request(*v), [0, 0, 1], [1, M, M])


# ---------------------------------------------------------------------------- MemoryReader
class MemoryReader(wiring.Component):
    """Serves an image from memory through the flash reader's ``cmd``/``data`` interface.

    For unit tests and fast simulation only: boards read the image from their SPI flash with
    :class:`~xnorlearn.hw.flash.QspiFlashReader`, which has the same ``cmd``, ``data`` and
    ``busy`` ports (plus its pins).

    Parameters
    ----------
    image : bytes
        The bytes served.
    base : int
        Byte address of ``image[0]``. Addresses outside ``base … base + depth − 1`` read
        ``0xFF`` (erased flash).
    writable : bool
        Add the write interface of the SDRAM store (``wcmd``, ``wdata``).
    depth : int or None
        Bytes of memory (default ``len(image)``); past the image they start as 0 (never-written
        SDRAM), and addresses ``base … base + depth − 1`` are served.

    Attributes
    ----------
    cmd : In(stream.Signature(read_command_layout()))
        Read ``length`` (>= 1) bytes from ``addr``; taken only when idle.
    data : Out(stream.Signature(8))
        The bytes in address order, one per cycle while ``ready`` is high.
    busy : Out(1)
        From a ``cmd`` (or ``wcmd``) handshake until its last byte has been taken.
    wcmd : In(stream.Signature(read_command_layout()))
        ``writable`` only: write ``length`` (>= 1) bytes from ``addr``; taken only when idle.
        Bytes outside the memory are dropped.
    wdata : In(stream.Signature(8))
        ``writable`` only: those bytes in address order (the producer may stall).
    """

    def __init__(self, image=b"", base=0, writable=False, depth=None):
        self.image = bytes(image)
        self.base = int(base)
        self.writable = bool(writable)
        self.depth = len(self.image) if depth is None else int(depth)
        if self.depth < len(self.image):
            raise ValueError(f"an image of {len(self.image)} bytes does not fit {self.depth}")
        self.mem = Memory(shape=8, depth=max(1, self.depth), init=list(self.image))
        ports = {
            "cmd": In(stream.Signature(read_command_layout())),
            "data": Out(stream.Signature(8)),
            "busy": Out(1),
        }
        if self.writable:
            ports.update(wcmd=In(stream.Signature(read_command_layout())),
                         wdata=In(stream.Signature(8)))
        super().__init__(ports)

    def elaborate(self, platform):
        m = Module()
        m.submodules.mem = mem = self.mem
        rd = mem.read_port()
        rel = Signal(ADDR_BITS)             # address relative to base (wraps below it)
        left = Signal(17)                   # bytes still to issue
        inside = Signal()                   # the byte on `data` comes from the image
        advance = ~self.data.valid | self.data.ready
        w_left = Signal(17)                 # bytes still to write
        m.d.comb += [rd.addr.eq(rel), rd.en.eq(advance),
                     self.data.payload.eq(Mux(inside, rd.data, 0xFF)),
                     self.busy.eq((left != 0) | self.data.valid | (w_left != 0)),
                     self.cmd.ready.eq(~self.busy)]
        with m.If(self.cmd.valid & self.cmd.ready):
            m.d.sync += [rel.eq(self.cmd.p.addr - self.base), left.eq(self.cmd.p.length)]
        with m.Elif(advance):
            m.d.sync += [self.data.valid.eq(left != 0), inside.eq(rel < self.depth)]
            with m.If(left != 0):
                m.d.sync += [rel.eq(rel + 1), left.eq(left - 1)]
        if self.writable:
            wp = mem.write_port()
            w_rel = Signal(ADDR_BITS)
            m.d.comb += [self.wcmd.ready.eq(~self.busy & ~self.cmd.valid),
                         self.wdata.ready.eq(w_left != 0),
                         wp.addr.eq(w_rel), wp.data.eq(self.wdata.payload),
                         wp.en.eq(self.wdata.valid & (w_left != 0) & (w_rel < self.depth))]
            with m.If(self.wcmd.valid & self.wcmd.ready):
                m.d.sync += [w_rel.eq(self.wcmd.p.addr - self.base),
                             w_left.eq(self.wcmd.p.length)]
            with m.Elif(self.wdata.valid & (w_left != 0)):
                m.d.sync += [w_rel.eq(w_rel + 1), w_left.eq(w_left - 1)]
        return m


# ---------------------------------------------------------------------------- StoreRunner
class StoreRunner(wiring.Component):
    """Executes the store commands between the host link and the trainer core.

    Ordinary commands pass straight through (the link's request, payload buffer and reply
    ports are wired to the core's). For the three store commands the runner answers itself:

    * it reads the 64-byte header at ``base`` and checks it as ``StoreHeader.parse`` +
      ``StoreHeader.verdict`` do: CRC-16/CCITT-FALSE, magic and format (``UNREADABLE``, and then
      nothing else is reported), record size, input bits, classes, ``n_train >= 1``;
    * ``STORE_INFO``: the verdict byte and the 64 bytes read;
    * ``TRAIN_STORE`` / ``EVAL_STORE``: ``BAD_STORE`` if the verdict is not 0, ``BAD_ARG`` for
      ``count = 0``, a range past the split or a split other than train/test; else, for each
      position, the record index (``prng.order_index(order_key(seed, epoch), p, n_train)``
      for TRAIN_STORE, ``first + p`` of the split for EVAL_STORE), its address
      ``base + 64 + index·record`` and the record itself are fetched into a free slot of the
      record buffer while the core trains (infers) an earlier record from another slot — and
      the index after it is computed meanwhile — then the record is handed to
      the core as a ``TRAIN`` (``INFER``: the label byte is held back) request; the
      predictions equal to the records' labels are counted and answered as ``correct: u32``.
      A core reply other than OK (a label out of range) stops the run and is forwarded.
    * ``STORE_WRITE`` (``writable`` only; else it passes through and the core answers
      ``UNKNOWN``): the offset from the payload buffer, ``BAD_ARG`` if ``offset + n`` (``n``
      data bytes) exceeds ``capacity``, else a write of ``n`` bytes at ``base + offset``
      (``wr_cmd``) and the payload's bytes after the offset streamed into ``wr_data``; OK
      with no payload once the last byte was taken. The header is not read.

    Parameters
    ----------
    cfg : Config
        The design (record size, input bits, classes).
    base : int
        Byte address of the image in the reader's address space.
    max_payload : int
        The link's request buffer size (``buf_addr``'s range).
    steps_per_stage : int
        Pipelining of the runner's :class:`~xnorlearn.hw.prng.Hash32` (shared by the epoch
        key and :class:`~xnorlearn.hw.order.EpochOrder`).
    slots : int or None
        Record slots in the buffer (a power of two, at least 2). Default: as many as one
        2 KiB block RAM holds (:data:`BUFFER_BYTES`), at most :data:`MAX_SLOTS` — 16 slots of
        128 bytes for 784-input records. The fetcher runs ahead of the core by up to
        ``slots − 1`` records, which hides the core's reinforcement sweep (thousands of cycles
        every batch) when a record read takes about as long as a sample's compute; with four
        slots the reads stalled during each sweep and the ULX3S-25F lost ~40 cycles a sample.
        Where the compute is much slower than a read, 2 slots suffice.
    lutram : bool
        Ask for the buffer in distributed (LUT) RAM (``ram_style = "distributed"``) instead
        of block RAM (the ULX3S-12F, whose 32 block RAMs are taken by the trainer).
    writable : bool
        The reader has the write ports (SDRAM): execute ``STORE_WRITE``.
    capacity : int or None
        Bytes from ``base`` that ``STORE_WRITE`` may write (default ``STORE_WINDOW - base``).

    Attributes
    ----------
    host : In(host_port_signature(max_payload))
        To the link: ``req``, ``buf_addr``/``buf_data``, ``rsp``, ``rsp_data`` as the core
        has them.
    core : Out(host_port_signature(max_payload))
        To the core: the same ports as the link has them.
    rd_cmd : Out(stream.Signature(read_command_layout()))
    rd_data : In(stream.Signature(8))
        To the reader (:class:`MemoryReader` or a flash reader).
    wr_cmd : Out(stream.Signature(read_command_layout()))
    wr_data : Out(stream.Signature(8))
        ``writable`` only: to the reader's ``wcmd``/``wdata``.
    busy : Out(1)
        A store command is executing.
    """

    def __init__(self, cfg, base, max_payload, steps_per_stage=2, slots=None, lutram=False,
                 writable=False, capacity=None):
        self.cfg = cfg
        self.base = int(base)
        self.writable = bool(writable)
        self.capacity = STORE_WINDOW - self.base if capacity is None else int(capacity)
        if self.writable and not 0 < self.capacity <= STORE_WINDOW - self.base:
            self._MustUse__silence = True
            raise ValueError(f"a store of {self.capacity} bytes at 0x{self.base:x} does not fit "
                             f"the reader's {STORE_WINDOW}-byte window")
        self.max_payload = int(max_payload)
        self.steps_per_stage = steps_per_stage
        self.record = proto.record_bytes(cfg)
        if self.record > self.max_payload:
            raise ValueError(f"records of {self.record} bytes do not fit a {self.max_payload}"
                             f"-byte request buffer")
        # record slots of a power-of-two size (the header lands in slot 0 first); the fetcher
        # fills them in turn while the core works on an earlier one, so reads run back to back
        # even when a record read takes about as long as a sample's compute
        self.slot = 1 << ceil_log2(max(self.record, proto.STORE_HEADER_BYTES))
        if slots is None:
            fit = (BUFFER_BYTES // self.slot).bit_length() - 1       # log2 of what fits
            slots = 1 << max(1, min(ceil_log2(MAX_SLOTS), fit))
        if isinstance(slots, bool) or not isinstance(slots, int) or slots < 2 \
                or slots & (slots - 1):
            self._MustUse__silence = True           # never built: no unused warning
            raise ValueError(f"slots must be a power of two >= 2, got {slots!r}")
        self.slots = slots
        self.lutram = bool(lutram)
        self.buf = Memory(shape=8, depth=self.slots * self.slot, init=[],
                          attrs={"ram_style": "distributed"} if self.lutram else None)
        sig = host_port_signature(self.max_payload)
        ports = {
            "host": In(sig),
            "core": Out(sig),
            "rd_cmd": Out(stream.Signature(read_command_layout())),
            "rd_data": In(stream.Signature(8)),
            "busy": Out(1),
        }
        if self.writable:
            ports.update(wr_cmd=Out(stream.Signature(read_command_layout())),
                         wr_data=Out(stream.Signature(8)))
        super().__init__(ports)

    def connect(self, m, reader, core):
        """Wire the runner in ``m`` to its ``reader`` (``cmd`` / ``data``) and to the trainer
        ``core``'s link-side ports (what :class:`~xnorlearn.hw.top.TrainerTop` and the
        simulation harness both do); the ``host`` side is the caller's."""
        wiring.connect(m, self.rd_cmd, reader.cmd)
        wiring.connect(m, reader.data, self.rd_data)
        if self.writable:
            wiring.connect(m, self.wr_cmd, reader.wcmd)
            wiring.connect(m, self.wr_data, reader.wdata)
        wiring.connect(m, self.core.req, core.req)
        wiring.connect(m, core.rsp, self.core.rsp)
        wiring.connect(m, core.rsp_data, self.core.rsp_data)
        m.d.comb += [self.core.buf_addr.eq(core.buf_addr), core.buf_data.eq(self.core.buf_data)]

    def elaborate(self, platform):
        cfg, R, HB = self.cfg, self.record, proto.STORE_HEADER_BYTES
        K = ceil_log2(self.slot)
        S = self.slots
        host, core = self.host, self.core
        m = Module()
        m.submodules.buf = buf = self.buf
        wr, rd = buf.write_port(), buf.read_port()
        m.submodules.hash = hsh = Hash32(self.steps_per_stage)
        m.submodules.keygen = keygen = StreamKey(external_hash=True)
        m.submodules.order = order = EpochOrder(external_hash=True)

        # ------------------------------------------------------------ registers
        is_train = Signal()                 # TRAIN_STORE (else EVAL_STORE / STORE_INFO)
        is_info = Signal()
        cnt = Signal(range(HB + 1))         # header byte / argument byte position
        crc = Signal(16, init=0xFFFF)
        crc_rx = Signal(16)
        bad_unread, bad_record, bad_inputs, bad_classes = (Signal(name=n) for n in (
            "bad_unread", "bad_record", "bad_inputs", "bad_classes"))
        n_train, n_test = Signal(32), Signal(32)
        verdict = Signal(8)
        seed, epoch, first, count = (Signal(32, name=n) for n in ("seed", "epoch", "first",
                                                                  "count"))
        split = Signal(8)
        key = Signal(32)
        a_valid = Signal()
        a_pos = Signal(range(self.max_payload + 1))
        a_idx = Signal(range(self.max_payload + 1))
        r_status = Signal(8)
        r_len = Signal(range(1 + HB + 1))
        ri = Signal(range(1 + HB + 1))
        rb = Signal(8)
        correct = Signal(32)
        running = Signal()
        stop = Signal()                     # a core reply was not OK: no new records
        err_status = Signal(8)
        full = Signal(S)                    # slot holds a record not yet trained
        labels = Signal(data.ArrayLayout(8, S))
        wr_slot = Signal(range(S))          # the fetcher's next slot
        rd_slot = Signal(range(S))          # the consumer's next slot
        c_left = Signal(32)                 # records still to train / infer
        key_phase = Signal()
        p_idle = Signal()                   # no index computation or fetch under way
        i_left = Signal(32)                 # record addresses still to compute
        next_i = Signal(32)                 # the next position (TRAIN_STORE) or record index
        addr_valid = Signal()               # a computed address waits for the fetcher
        w_off = Signal(32)                  # STORE_WRITE: offset from the payload
        w_len = Signal.like(host.req.p.length)   # STORE_WRITE: its payload length

        # ------------------------------------------------------------ the shared hash
        m.d.comb += [
            hsh.i.valid.eq(Mux(key_phase, keygen.hash_i.valid, order.hash_i.valid)),
            hsh.i.payload.eq(Mux(key_phase, keygen.hash_i.payload, order.hash_i.payload)),
            keygen.hash_i.ready.eq(hsh.i.ready & key_phase),
            order.hash_i.ready.eq(hsh.i.ready & ~key_phase),
            keygen.hash_o.valid.eq(hsh.o.valid & key_phase),
            order.hash_o.valid.eq(hsh.o.valid & ~key_phase),
            keygen.hash_o.payload.eq(hsh.o.payload),
            order.hash_o.payload.eq(hsh.o.payload),
            hsh.o.ready.eq(Mux(key_phase, keygen.hash_o.ready, order.hash_o.ready)),
            keygen.req.p.seed.eq(seed), keygen.req.p.layer.eq(0),
            keygen.req.p.stream.eq(prng.STREAM_ORDER), keygen.req.p.n.eq(epoch),
        ]

        # ------------------------------------------------------------ header parsing tables
        pos = header_fields()
        ref = proto.StoreHeader(R, 0, 0, cfg.n_inputs, cfg.n_classes).pack()
        actions = {}                # header byte position -> list of (kind, arg)

        def at(p, *what):
            actions.setdefault(p, []).append(what)
        for k, p in enumerate(pos["magic"]):
            at(p, "expect", bad_unread, proto.STORE_MAGIC[k])
        for field, flag in (("format", bad_unread), ("record_bytes", bad_record),
                            ("n_inputs", bad_inputs), ("n_classes", bad_classes)):
            for p in pos[field]:
                at(p, "expect", flag, ref[p])
        for field, reg in (("n_train", n_train), ("n_test", n_test), ("crc", crc_rx)):
            for k, p in enumerate(pos[field]):
                at(p, "byte", reg, k)
        byte = self.rd_data.payload

        def header_byte():
            with m.If(cnt < HB - 2):
                m.d.sync += crc.eq(crc16_next(crc, byte))
            with m.Switch(cnt):
                for p, acts in sorted(actions.items()):
                    with m.Case(p):
                        for kind, reg, arg in acts:
                            if kind == "expect":
                                with m.If(byte != arg):
                                    m.d.sync += reg.eq(1)
                            else:
                                m.d.sync += reg.word_select(arg, 8).eq(byte)

        unread = bad_unread | (crc != crc_rx)
        verdict_now = Mux(unread, int(StoreCheck.UNREADABLE),
                          Mux(bad_record, int(StoreCheck.RECORD), 0)
                          | Mux(bad_inputs, int(StoreCheck.INPUTS), 0)
                          | Mux(bad_classes, int(StoreCheck.CLASSES), 0)
                          | Mux(n_train == 0, int(StoreCheck.EMPTY), 0))

        # ------------------------------------------------------------ argument parsing tables
        arg_regs = {Command.TRAIN_STORE: (seed, epoch, first, count),
                    Command.EVAL_STORE: (split, first, count),
                    Command.STORE_WRITE: (w_off,)}
        # bytes of arguments: up to the last byte of the last field (STORE_WRITE: its data
        # follow the offset)
        arg_len = {c: 1 + max(p for where in request_fields(c) for p in where)
                   for c in arg_regs}
        assert arg_len[Command.STORE_WRITE] == proto.STORE_WRITE_HEADER

        def arg_byte(c):
            with m.Switch(a_pos):
                for reg, where in zip(arg_regs[c], request_fields(c)):
                    for k, p in enumerate(where):
                        with m.Case(p):
                            m.d.sync += reg.word_select(k, 8).eq(host.buf_data)

        # ------------------------------------------------------------ pass-through wiring
        passing = Signal()
        is_write = Const(int(self.writable)) & (host.req.p.code == Command.STORE_WRITE)
        is_store = ((host.req.p.code == Command.STORE_INFO)
                    | (host.req.p.code == Command.TRAIN_STORE)
                    | (host.req.p.code == Command.EVAL_STORE) | is_write)
        with m.If(passing):
            m.d.comb += [
                core.req.valid.eq(host.req.valid & ~is_store),
                core.req.payload.eq(host.req.payload),
                host.req.ready.eq(Mux(is_store, 1, core.req.ready)),
                host.buf_addr.eq(core.buf_addr),
                core.buf_data.eq(host.buf_data),
            ]
            for a, b in ((host.rsp, core.rsp), (host.rsp_data, core.rsp_data)):
                m.d.comb += [a.valid.eq(b.valid), a.payload.eq(b.payload),
                             b.ready.eq(a.ready)]
        with m.Else():
            core_pos = Signal(K)            # (zero-extended to the slot's address width)
            m.d.comb += [host.buf_addr.eq(a_idx), core.buf_data.eq(rd.data),
                         core_pos.eq(core.buf_addr), rd.addr.eq(Cat(core_pos, rd_slot))]

        # ------------------------------------------------------------ command FSM
        n_split = Mux(is_train | (split == proto.SPLIT_TRAIN), n_train, n_test)
        with m.FSM(name="store") as fsm:
            with m.State("IDLE"):
                m.d.comb += passing.eq(1)
                with m.If(host.req.valid & is_store):
                    c = host.req.p.code
                    m.d.sync += [is_train.eq(c == Command.TRAIN_STORE),
                                 is_info.eq(c == Command.STORE_INFO),
                                 crc.eq(0xFFFF), bad_unread.eq(0), bad_record.eq(0),
                                 bad_inputs.eq(0), bad_classes.eq(0), correct.eq(0),
                                 stop.eq(0), full.eq(0), wr_slot.eq(0), rd_slot.eq(0),
                                 c_left.eq(0), i_left.eq(0), addr_valid.eq(0),
                                 split.eq(0), a_idx.eq(0), a_valid.eq(0),
                                 w_len.eq(host.req.p.length)]
                    m.next = "HDR_CMD"
                    if self.writable:
                        with m.If(is_write):
                            m.next = "W_ARGS"
            with m.State("HDR_CMD"):
                m.d.comb += [self.rd_cmd.valid.eq(1), self.rd_cmd.p.addr.eq(self.base),
                             self.rd_cmd.p.length.eq(HB)]
                with m.If(self.rd_cmd.ready):
                    m.d.sync += cnt.eq(0)
                    m.next = "HDR_DATA"
            with m.State("HDR_DATA"):
                m.d.comb += [self.rd_data.ready.eq(1), wr.addr.eq(cnt), wr.data.eq(byte),
                             wr.en.eq(self.rd_data.valid)]
                with m.If(self.rd_data.valid):
                    header_byte()
                    m.d.sync += cnt.eq(cnt + 1)
                    with m.If(cnt == HB - 1):
                        m.next = "VERDICT"
            with m.State("VERDICT"):
                m.d.sync += [verdict.eq(verdict_now), a_idx.eq(0), a_valid.eq(0)]
                with m.If(is_info):
                    m.d.sync += [r_status.eq(Status.OK), r_len.eq(1 + HB)]
                    m.next = "REPLY"
                with m.Elif(verdict_now != 0):
                    m.d.sync += [r_status.eq(Status.BAD_STORE), r_len.eq(0)]
                    m.next = "REPLY"
                with m.Else():
                    m.next = "ARGS"
            with m.State("ARGS"):
                m.d.sync += [a_idx.eq(a_idx + 1), a_valid.eq(1), a_pos.eq(a_idx)]
                with m.If(a_valid):
                    with m.If(is_train):
                        arg_byte(Command.TRAIN_STORE)
                        with m.If(a_pos == arg_len[Command.TRAIN_STORE] - 1):
                            m.next = "CHECK"
                    with m.Else():
                        arg_byte(Command.EVAL_STORE)
                        with m.If(a_pos == arg_len[Command.EVAL_STORE] - 1):
                            m.next = "CHECK"
            with m.State("CHECK"):
                end = Signal(33)
                m.d.comb += end.eq(first + count)
                with m.If((count == 0) | (end > n_split)
                          | (~is_train & (split != proto.SPLIT_TRAIN)
                             & (split != proto.SPLIT_TEST))):
                    m.d.sync += [r_status.eq(Status.BAD_ARG), r_len.eq(0)]
                    m.next = "REPLY"
                with m.Else():
                    # EVAL_STORE of the test split: its records follow the training records
                    m.d.sync += [i_left.eq(count), c_left.eq(count),
                                 next_i.eq(first + Mux(~is_train & (split == proto.SPLIT_TEST),
                                                       n_train, 0))]
                    m.next = "RUN"
                    with m.If(is_train):
                        m.next = "KEY"
            with m.State("KEY"):
                m.d.comb += [key_phase.eq(1), keygen.req.valid.eq(1)]
                with m.If(keygen.req.ready):
                    m.next = "KEY_WAIT"
            with m.State("KEY_WAIT"):
                m.d.comb += [key_phase.eq(1), keygen.key.ready.eq(1)]
                with m.If(keygen.key.valid):
                    m.d.sync += key.eq(keygen.key.payload)
                    m.next = "RUN"
            with m.State("RUN"):
                m.d.comb += running.eq(1)
                with m.If(stop & p_idle):
                    m.d.sync += [r_status.eq(err_status), r_len.eq(0)]
                    m.next = "REPLY"
                with m.Elif(~stop & (c_left == 0) & p_idle):
                    m.d.sync += [r_status.eq(Status.OK),
                                 r_len.eq(len(proto.correct_reply_payload(0)))]
                    m.next = "REPLY"
            # ---------------------------------------------------- STORE_WRITE
            if self.writable:
                with m.State("W_ARGS"):
                    m.d.sync += [a_idx.eq(a_idx + 1), a_valid.eq(1), a_pos.eq(a_idx)]
                    with m.If(a_valid):
                        arg_byte(Command.STORE_WRITE)
                        with m.If(a_pos == arg_len[Command.STORE_WRITE] - 1):
                            m.next = "W_CHECK"
                with m.State("W_CHECK"):
                    w_end = Signal(34)
                    m.d.comb += w_end.eq(w_off + w_len - proto.STORE_WRITE_HEADER)
                    # the first data byte is read from the payload buffer while wr_cmd waits
                    m.d.sync += a_idx.eq(proto.STORE_WRITE_HEADER)
                    with m.If((w_len <= proto.STORE_WRITE_HEADER) | (w_end > self.capacity)):
                        m.d.sync += [r_status.eq(Status.BAD_ARG), r_len.eq(0)]
                        m.next = "REPLY"
                    with m.Else():
                        m.next = "W_CMD"
                with m.State("W_CMD"):
                    m.d.comb += [self.wr_cmd.valid.eq(1),
                                 self.wr_cmd.p.addr.eq(self.base + w_off),
                                 self.wr_cmd.p.length.eq(w_len - proto.STORE_WRITE_HEADER)]
                    with m.If(self.wr_cmd.ready):
                        m.next = "W_DATA"
                with m.State("W_DATA"):
                    # buf_data is the byte at a_idx; the next one is addressed as it is taken
                    take = self.wr_data.ready
                    m.d.comb += [self.wr_data.valid.eq(1),
                                 self.wr_data.payload.eq(host.buf_data),
                                 host.buf_addr.eq(Mux(take & (a_idx != w_len - 1), a_idx + 1,
                                                      a_idx))]
                    with m.If(take):
                        m.d.sync += a_idx.eq(a_idx + 1)
                        with m.If(a_idx == w_len - 1):
                            m.d.sync += [r_status.eq(Status.OK), r_len.eq(0)]
                            m.next = "REPLY"
            with m.State("REPLY"):
                m.d.comb += [host.rsp.valid.eq(1), host.rsp.p.status.eq(r_status),
                             host.rsp.p.length.eq(r_len)]
                with m.If(host.rsp.ready):
                    m.d.sync += ri.eq(0)
                    m.next = "IDLE"
                    with m.If(r_len != 0):
                        m.next = "R_ADDR"
            with m.State("R_ADDR"):
                m.d.comb += rd.addr.eq(ri - 1)
                m.next = "R_LOAD"
            with m.State("R_LOAD"):
                m.d.sync += rb.eq(Mux(is_info, Mux(ri == 0, verdict, rd.data),
                                      correct.word_select(ri[:2], 8)))
                m.next = "R_SEND"
            with m.State("R_SEND"):
                m.d.comb += [host.rsp_data.valid.eq(1), host.rsp_data.payload.eq(rb)]
                with m.If(host.rsp_data.ready):
                    m.d.sync += ri.eq(ri + 1)
                    with m.If(ri == r_len - 1):
                        m.next = "IDLE"
                    with m.Else():
                        m.next = "R_ADDR"
        self.fsm = fsm
        m.d.comb += self.busy.eq(~passing)

        # ------------------------------------------------------------ indexer: record addresses
        # (one address ahead of the fetcher, so index computation overlaps the flash read)
        idx_sr = Signal(ADDR_BITS)
        acc = Signal(ADDR_BITS)
        mcnt = Signal(range(ADDR_BITS))
        next_addr = Signal(ADDR_BITS)       # the next record's address (addr_valid)
        i_idle = Signal()
        with m.FSM(name="indexer"):
            with m.State("I_IDLE"):
                m.d.comb += i_idle.eq(1)
                with m.If(running & ~stop & (i_left != 0) & ~addr_valid):
                    with m.If(is_train):
                        m.d.comb += [order.req.valid.eq(1), order.req.p.key.eq(key),
                                     order.req.p.i.eq(next_i), order.req.p.n.eq(n_train)]
                        with m.If(order.req.ready):
                            m.next = "I_ORDER"
                    with m.Else():
                        m.d.sync += [idx_sr.eq(next_i), acc.eq(0), mcnt.eq(0)]
                        m.next = "I_MUL"
            with m.State("I_ORDER"):
                m.d.comb += order.index.ready.eq(1)
                with m.If(order.index.valid):
                    m.d.sync += [idx_sr.eq(order.index.payload), acc.eq(0), mcnt.eq(0)]
                    m.next = "I_MUL"
            with m.State("I_MUL"):
                # index · record by shift-and-add, most significant index bit first
                m.d.sync += [acc.eq((acc << 1) + Mux(idx_sr[-1], R, 0)),
                             idx_sr.eq(idx_sr << 1), mcnt.eq(mcnt + 1)]
                with m.If(mcnt == ADDR_BITS - 1):
                    m.next = "I_ADDR"
            with m.State("I_ADDR"):
                m.d.sync += [next_addr.eq(acc + (self.base + HB)), addr_valid.eq(1),
                             i_left.eq(i_left - 1), next_i.eq(next_i + 1)]
                m.next = "I_IDLE"

        # ------------------------------------------------------------ fetcher: records
        raddr = Signal(ADDR_BITS)
        wcnt = Signal(range(R + 1))
        f_idle = Signal()
        m.d.comb += p_idle.eq(i_idle & f_idle)
        with m.FSM(name="fetcher"):
            with m.State("F_IDLE"):
                m.d.comb += f_idle.eq(1)
                with m.If(running & ~stop & addr_valid & ~full.bit_select(wr_slot, 1)):
                    m.d.sync += [raddr.eq(next_addr), addr_valid.eq(0)]
                    m.next = "F_CMD"
            with m.State("F_CMD"):
                m.d.comb += [self.rd_cmd.valid.eq(1), self.rd_cmd.p.addr.eq(raddr),
                             self.rd_cmd.p.length.eq(R)]
                with m.If(self.rd_cmd.ready):
                    m.d.sync += wcnt.eq(0)
                    m.next = "F_DATA"
            with m.State("F_DATA"):
                # EVAL_STORE holds the label back: the INFER payload is the sample alone
                skip = ~is_train & (wcnt == 0)
                wpos = Signal(K)
                m.d.comb += [self.rd_data.ready.eq(1), wpos.eq(wcnt - ~is_train),
                             wr.addr.eq(Cat(wpos, wr_slot)),
                             wr.data.eq(byte), wr.en.eq(self.rd_data.valid & ~skip)]
                with m.If(self.rd_data.valid):
                    m.d.sync += wcnt.eq(wcnt + 1)
                    with m.If(wcnt == 0):
                        m.d.sync += labels[wr_slot].eq(byte)
                    with m.If(wcnt == R - 1):
                        m.d.sync += [full.bit_select(wr_slot, 1).eq(1), wr_slot.eq(wr_slot + 1)]
                        m.next = "F_IDLE"

        # ------------------------------------------------------------ consumer: the core
        with m.FSM(name="consumer"):
            with m.State("C_IDLE"):
                with m.If(running & ~stop & (c_left != 0) & full.bit_select(rd_slot, 1)):
                    m.d.comb += [core.req.valid.eq(1),
                                 core.req.p.code.eq(Mux(is_train, Command.TRAIN,
                                                        Command.INFER)),
                                 core.req.p.length.eq(Mux(is_train, R, R - 1))]
                    with m.If(core.req.ready):
                        m.next = "C_RSP"
            with m.State("C_RSP"):
                m.d.comb += core.rsp.ready.eq(1)
                with m.If(core.rsp.valid):
                    with m.If(core.rsp.p.status != Status.OK):
                        m.d.sync += [stop.eq(1), err_status.eq(core.rsp.p.status)]
                        m.next = "C_IDLE"
                    with m.Else():
                        m.next = "C_DATA"
            with m.State("C_DATA"):
                m.d.comb += core.rsp_data.ready.eq(1)
                with m.If(core.rsp_data.valid):
                    m.d.sync += [correct.eq(correct + (core.rsp_data.payload
                                                       == labels[rd_slot])),
                                 full.bit_select(rd_slot, 1).eq(0), rd_slot.eq(rd_slot + 1),
                                 c_left.eq(c_left - 1)]
                    m.next = "C_IDLE"
        return m
