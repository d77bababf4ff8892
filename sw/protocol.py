"""Host link protocol v4 (``docs/host-protocol.md``): constants, CRC, frames, payloads.

One module shared by the host driver (:mod:`xnorlearn.sw.driver`), the gateware
(:mod:`xnorlearn.hw.link` builds its identify ROM, length checks and buffer size from the same
functions) and the tests, so no frame layout or payload size is restated anywhere else.

* :func:`crc16` — CRC-16/CCITT-FALSE; :func:`encode_frame`.
* :class:`FrameDecoder` — incremental host-side decoder: hunts for the sync byte, never yields a
  frame whose CRC fails, and re-synchronises by re-scanning from the byte after a bad sync.
* :class:`RequestReceiver` — byte-exact model of the device's receiver (:class:`HostLink`): what
  it executes and which error it answers for any byte sequence and silence.
* Request builders (``*_request``) and reply parsers (``parse_*``) for every command.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from . import prng

__all__ = [
    "SYNC_HOST", "SYNC_DEVICE", "VERSION", "STATE_CHUNK", "STATE_HEADER", "FRAME_TIMEOUT_BITS",
    "HEADER_BYTES", "LINK_DEPTH", "Command", "Status", "ProtocolError", "DeviceError", "BitstreamMismatch",
    "crc16", "crc16_update", "encode_frame", "Frame", "FrameError", "FrameDecoder",
    "RequestReceiver", "max_payload", "max_reply_payload", "sample_bytes", "tables_bytes",
    "request_length_ok", "fixed_request_length", "TABLE_ENTRIES",
    "pack_sample", "unpack_sample", "identify_reply_payload", "IdentifyInfo", "parse_identify",
    "init_request", "set_tables_request", "parse_tables_request", "train_request",
    "infer_request", "set_batch_request", "read_state_request", "write_state_request",
    "parse_prediction", "parse_state",
    "parse_counters", "counters_reply_payload", "COUNTERS_BYTES", "IDEMPOTENT",
    "STORE_MAGIC", "STORE_FORMAT", "STORE_HEADER_BYTES", "STORE_IDENTITY_BYTES",
    "STORE_HASH_BYTES", "StoreCheck", "StoreHeader", "StoreError", "record_bytes",
    "store_records", "store_image", "train_store_request", "eval_store_request",
    "parse_store_info", "store_info_reply_payload", "parse_correct", "correct_reply_payload",
    "SPLIT_TRAIN", "SPLIT_TEST", "parse_train_store_request", "parse_eval_store_request",
    "STORE_WRITE_HEADER", "store_write_request", "parse_store_write_request",
    "store_write_max_data",
]

SYNC_HOST = 0xA5          # first byte of every host -> device frame
SYNC_DEVICE = 0x5A        # first byte of every device -> host frame
VERSION = 4               # 2: skip tables; 3: the data-store commands; 4: STORE_WRITE
STATE_CHUNK = 64          # counters per READ_STATE / WRITE_STATE
STATE_HEADER = 6          # layer u8, neuron u16, first u16, count u8
FRAME_TIMEOUT_BITS = 64   # no byte for this many bit periods while a frame is open: TIMEOUT
HEADER_BYTES = 4          # sync, code, length (u16)
LINK_DEPTH = 4            # frames the device's link holds: the host's window of requests in flight
COUNTERS_BYTES = 24       # READ_COUNTERS reply
TABLE_ENTRIES = prng.SWEEP_SKIP   # u16 skip-table entries per layer in SET_THRESHOLDS


class Command(enum.IntEnum):
    IDENTIFY = 0x01
    INIT = 0x02
    SET_THRESHOLDS = 0x03     # every layer's reinforcement skip table (spec v2 §8)
    TRAIN = 0x04
    INFER = 0x05
    END_EPOCH = 0x06
    READ_STATE = 0x07
    WRITE_STATE = 0x08
    READ_COUNTERS = 0x09
    RESET_COUNTERS = 0x0A
    STORE_INFO = 0x0B         # the data store's header as the chip reads it, and its verdict
    TRAIN_STORE = 0x0C        # train positions of an epoch order from the store
    EVAL_STORE = 0x0D         # infer records of a split from the store, count the correct
    SET_BATCH = 0x0E          # restore the batch number (resuming a checkpoint on a chip)
    STORE_WRITE = 0x0F        # write bytes into a writable data store (SDRAM, filled by the host)


class Status(enum.IntEnum):
    OK = 0x00
    BAD_CRC = 0x01
    BAD_LENGTH = 0x02
    UNKNOWN = 0x03
    BAD_ARG = 0x04
    TIMEOUT = 0x05
    BAD_STORE = 0x06          # the data store's header is missing, corrupt or not for this design


#: Commands the driver may resend after a lost or corrupted *reply* (the device may or may not
#: have executed them): executing one twice leaves the device as executing it once. END_EPOCH
#: is one: a second flush finds ``m = 0`` and does nothing (hw-spec §7). STORE_WRITE is one
#: (the same bytes at the same offset again). TRAIN and TRAIN_STORE are not.
IDEMPOTENT = frozenset(Command) - {Command.TRAIN, Command.TRAIN_STORE}


class ProtocolError(Exception):
    """The link misbehaved: no reply, a reply that never decodes, or a malformed payload."""


class DeviceError(ProtocolError):
    """The device answered a request with an error status."""

    def __init__(self, status, command=None, detail=""):
        self.status = Status(status) if status in Status._value2member_map_ else status
        self.command = command
        name = self.status.name if isinstance(self.status, Status) else f"status 0x{status:02x}"
        what = f"{Command(command).name}: " if command in Command._value2member_map_ else ""
        super().__init__(f"{what}device answered {name}{': ' + detail if detail else ''}")


class BitstreamMismatch(ProtocolError):
    """IDENTIFY shows a device built for another protocol version or configuration."""


# ---------------------------------------------------------------------------- CRC
def _crc_table():
    table = []
    for b in range(256):
        c = b << 8
        for _ in range(8):
            c = ((c << 1) ^ 0x1021) if c & 0x8000 else (c << 1)
        table.append(c & 0xFFFF)
    return table


_CRC_TABLE = _crc_table()


def crc16_update(crc, data):
    """Continue a CRC-16/CCITT-FALSE over ``data`` (bytes-like) from ``crc``."""
    for b in data:
        crc = ((crc << 8) & 0xFFFF) ^ _CRC_TABLE[(crc >> 8) ^ b]
    return crc


def crc16(data):
    """CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection, no final XOR)."""
    return crc16_update(0xFFFF, data)


# ---------------------------------------------------------------------------- frames
def encode_frame(code, payload=b"", sync=SYNC_HOST):
    """``sync, code, length (LE), payload, crc (LE)`` with the CRC over code, length, payload."""
    payload = bytes(payload)
    if not 0 <= code <= 0xFF:
        raise ValueError(f"code must be a byte, got {code}")
    if len(payload) > 0xFFFF:
        raise ValueError(f"payload of {len(payload)} bytes does not fit a frame")
    body = struct.pack("<BH", code, len(payload)) + payload
    return bytes([sync]) + body + struct.pack("<H", crc16(body))


class Frame(NamedTuple):
    """A frame whose CRC matched: ``code, payload = frame``."""
    code: int
    payload: bytes


class FrameError(NamedTuple):
    """Bytes that looked like a frame but were not one (``reason``: crc, length, truncated)."""
    reason: str


class FrameDecoder:
    """Incremental decoder of one direction of the link.

    :meth:`feed` takes any bytes and returns the events they complete: :class:`Frame` for every
    frame whose CRC matches and :class:`FrameError` for every candidate that failed. After a
    failure the decoder re-scans from the byte after the failed sync byte, so a false sync
    inside garbage or a truncated frame never hides the good frame that follows.
    :meth:`silence` says the line went quiet: an incomplete frame is given up (``truncated``).
    """

    def __init__(self, sync=SYNC_DEVICE, max_payload=0xFFFF):
        self.sync = sync
        self.max_payload = max_payload
        self.buf = bytearray()
        self.crc_errors = 0

    def reset(self):
        self.buf.clear()

    @property
    def open(self):
        """True while a sync byte has been seen and its frame is incomplete."""
        return bool(self.buf)

    def wanted(self):
        """Bytes still needed to complete the open frame (1 when hunting)."""
        if len(self.buf) < HEADER_BYTES:
            return HEADER_BYTES - len(self.buf) if self.buf else 1
        n = self.buf[2] | self.buf[3] << 8
        return max(1, HEADER_BYTES + n + 2 - len(self.buf))

    def feed(self, data):
        self.buf += data
        return self._parse()

    def silence(self):
        events = []
        while self.buf:
            events.append(FrameError("truncated"))
            del self.buf[0]
            events += self._parse()
        return events

    def _parse(self):
        events = []
        while True:
            i = self.buf.find(self.sync)
            if i < 0:
                self.buf.clear()
                return events
            del self.buf[:i]
            if len(self.buf) < HEADER_BYTES:
                return events
            n = self.buf[2] | self.buf[3] << 8
            if n > self.max_payload:
                events.append(FrameError("length"))
                del self.buf[0]
                continue
            end = HEADER_BYTES + n + 2
            if len(self.buf) < end:
                return events
            body = bytes(self.buf[1:HEADER_BYTES + n])
            if crc16(body) != (self.buf[end - 2] | self.buf[end - 1] << 8):
                self.crc_errors += 1
                events.append(FrameError("crc"))
                del self.buf[0]
                continue
            events.append(Frame(body[0], body[3:]))
            del self.buf[:end]


# ---------------------------------------------------------------------------- sizes
def sample_bytes(cfg):
    """``ceil(N0 / 8)``: bytes of one packed sample."""
    return -(-cfg.n_inputs // 8)


def max_payload(cfg):
    """Largest request payload of any command: the device's receive buffer size."""
    return max(sample_bytes(cfg) + 1, tables_bytes(cfg), STATE_HEADER + 2 * STATE_CHUNK)


def tables_bytes(cfg):
    """``2 * TABLE_ENTRIES * L``: the SET_THRESHOLDS payload (every layer's skip table)."""
    return 2 * TABLE_ENTRIES * cfg.n_layers


def max_reply_payload(cfg):
    """Largest reply payload of any command (IDENTIFY, READ_STATE, READ_COUNTERS or
    STORE_INFO)."""
    return max(len(identify_reply_payload(cfg)), 2 * STATE_CHUNK, COUNTERS_BYTES,
               1 + STORE_HEADER_BYTES)


def fixed_request_length(cfg, code):
    """Payload length of command ``code``; None for WRITE_STATE and STORE_WRITE (variable) or
    unknown codes."""
    return {Command.IDENTIFY: 0, Command.INIT: 4, Command.SET_THRESHOLDS: tables_bytes(cfg),
            Command.TRAIN: 1 + sample_bytes(cfg), Command.INFER: sample_bytes(cfg),
            Command.END_EPOCH: 0, Command.READ_STATE: STATE_HEADER,
            Command.READ_COUNTERS: 0, Command.RESET_COUNTERS: 0, Command.STORE_INFO: 0,
            Command.TRAIN_STORE: _TRAIN_STORE.size, Command.EVAL_STORE: _EVAL_STORE.size,
            Command.SET_BATCH: 4}.get(code)


def request_length_ok(cfg, code, n):
    """Whether ``n`` is a valid request payload length for command ``code`` (False when the
    code is unknown). WRITE_STATE is checked for an even count of 1 … STATE_CHUNK counters;
    the device re-checks that the count byte agrees. STORE_WRITE carries its offset and 1 …
    :func:`store_write_max_data` bytes."""
    if code == Command.WRITE_STATE:
        extra = n - STATE_HEADER
        return extra % 2 == 0 and 2 <= extra <= 2 * STATE_CHUNK
    if code == Command.STORE_WRITE:
        return STORE_WRITE_HEADER + 1 <= n <= max_payload(cfg)
    fixed = fixed_request_length(cfg, code)
    return fixed is not None and n == fixed


class RequestReceiver:
    """Exact model of the device's receiver (what :class:`xnorlearn.hw.link.HostLink` does).

    Feed it the bytes the device receives (:meth:`byte`) and the moments the line stays quiet
    for ``FRAME_TIMEOUT_BITS`` bit periods (:meth:`silence`). Each returns ``None`` or one
    event: ``Frame(code, payload)`` for a request to execute, or a :class:`Status` the device
    answers itself with an empty payload. The device replies to the events in the order they
    are returned here — error replies never overtake the replies of earlier frames.

    * Hunting, bytes other than ``SYNC_HOST`` are ignored.
    * A length above :func:`max_payload` ends the frame at once (``BAD_LENGTH``).
    * A complete frame is checked in this order: CRC, known code, length for the code.
    * After an error the device **drains**: it ignores every byte until the line has been quiet
      for the frame timeout, then queues the error reply. So a frame corrupted in any way (even
      in its length field) gets exactly one reply, and the host never has bytes of it parsed
      as a new frame; frames sent back to back after it are drained too (no reply).
    * Silence while a frame is open answers ``TIMEOUT``.

    **Queue** (``depth``, the device's :data:`LINK_DEPTH`): every event takes one of ``depth``
    entries until its reply has been sent completely (:meth:`answered`). The device receives
    while it executes, so the host may keep up to ``depth`` frames in flight; a sync byte that
    arrives while all entries are taken does not open a frame (hunting goes on: every byte is
    dropped until an entry is free). With ``depth=None`` the queue is not modelled (a host that
    stays within the window never sees it full).
    """

    def __init__(self, cfg, max_payload_bytes=None, depth=None):
        self.cfg = cfg
        self.max_payload = max_payload(cfg) if max_payload_bytes is None else max_payload_bytes
        self.depth = depth
        self.outstanding = 0     # events whose replies have not been sent completely
        self.frame = None        # bytes of the open frame after the sync byte
        self.drain = None        # status answered once the line is quiet

    @property
    def full(self):
        """All entries taken: a sync byte opens no frame now."""
        return self.depth is not None and self.outstanding >= self.depth

    def answered(self, n=1):
        """The device finished sending the reply of the oldest ``n`` events."""
        if n > self.outstanding:
            raise ValueError(f"{n} replies sent, only {self.outstanding} events outstanding")
        self.outstanding -= n

    def _event(self, ev):
        self.outstanding += 1
        return ev

    def byte(self, b):
        if self.drain is not None:
            return None
        if self.frame is None:
            if b == SYNC_HOST and not self.full:
                self.frame = bytearray()
            return None
        f = self.frame
        f.append(b)
        if len(f) == 3:
            n = f[1] | f[2] << 8
            if n > self.max_payload:
                self.frame, self.drain = None, Status.BAD_LENGTH
            return None
        if len(f) < 3:
            return None
        n = f[1] | f[2] << 8
        if len(f) < 3 + n + 2:
            return None
        self.frame = None
        body = bytes(f[:3 + n])
        if crc16(body) != (f[-2] | f[-1] << 8):
            self.drain = Status.BAD_CRC
        elif f[0] not in Command._value2member_map_:
            self.drain = Status.UNKNOWN
        elif not request_length_ok(self.cfg, f[0], n):
            self.drain = Status.BAD_LENGTH
        else:
            return self._event(Frame(f[0], body[3:]))
        return None

    def silence(self):
        if self.drain is not None:
            status, self.drain = self.drain, None
            return self._event(status)
        if self.frame is not None:
            self.frame = None
            return self._event(Status.TIMEOUT)
        return None

    def feed(self, data):
        """Events of a burst of bytes followed by silence."""
        events = [e for e in (self.byte(b) for b in data) if e is not None]
        s = self.silence()
        return events + ([s] if s is not None else [])


# ---------------------------------------------------------------------------- payloads
def pack_sample(bits):
    """0/1 bits -> bytes, bit ``i`` is bit ``i mod 8`` of byte ``i div 8``; padding bits 0."""
    bits = np.asarray(bits)
    if bits.ndim != 1:
        raise ValueError(f"a sample is one row of bits, got shape {bits.shape}")
    if bits.size and not np.isin(bits, (0, 1)).all():
        raise ValueError("a sample must hold 0/1 bits")
    return np.packbits(bits.astype(np.uint8), bitorder="little").tobytes()


def unpack_sample(data, n_bits):
    """Inverse of :func:`pack_sample`: ``n_bits`` 0/1 values as uint8."""
    return np.unpackbits(np.frombuffer(bytes(data), dtype=np.uint8), bitorder="little",
                         count=n_bits)


def identify_reply_payload(cfg):
    """IDENTIFY reply of a device built for ``cfg`` (the gateware's identify ROM)."""
    out = struct.pack("<B", VERSION) + bytes.fromhex(cfg.digest())
    out += struct.pack("<HB", cfg.n_inputs, cfg.n_layers)
    out += struct.pack(f"<{cfg.n_layers}H", *cfg.layers)
    out += struct.pack("<BBH", cfg.n_classes, cfg.counter_bits, cfg.lanes)
    return out


@dataclass(frozen=True)
class IdentifyInfo:
    version: int
    digest: str
    n_inputs: int
    layers: tuple
    n_classes: int
    counter_bits: int
    lanes: int


def parse_identify(payload):
    payload = bytes(payload)
    if len(payload) < 36:
        raise ProtocolError(f"IDENTIFY reply of {len(payload)} bytes is too short")
    version = payload[0]
    digest = payload[1:33].hex()
    n_inputs, n_layers = struct.unpack_from("<HB", payload, 33)
    want = 36 + 2 * n_layers + 4
    if len(payload) != want:
        raise ProtocolError(f"IDENTIFY reply of {len(payload)} bytes, expected {want} for "
                            f"{n_layers} layers")
    layers = struct.unpack_from(f"<{n_layers}H", payload, 36)
    n_classes, counter_bits, lanes = struct.unpack_from("<BBH", payload, 36 + 2 * n_layers)
    return IdentifyInfo(version, digest, n_inputs, tuple(layers), n_classes, counter_bits, lanes)


def init_request(seed):
    seed = int(seed)
    if not 0 <= seed <= 0xFFFF_FFFF:
        raise ValueError(f"seed must be a 32-bit unsigned integer, got {seed}")
    return struct.pack("<I", seed)


def set_tables_request(cfg, tables):
    """SET_THRESHOLDS payload: for every layer ``l``, for ``m < TABLE_ENTRIES``, ``C_l[m]`` as
    u16 little-endian. ``tables`` (L x 64) must obey the spec's rules (``prng.check_tables``:
    entries below ``2**prob_bits``, each table nondecreasing); ValueError otherwise."""
    t = prng.check_tables(tables, cfg.n_layers, cfg.prob_bits)
    return t.astype("<u2").tobytes()


def parse_tables_request(cfg, payload):
    """The device's reading of a SET_THRESHOLDS payload of the right length: the tables as an
    int64 ``(L, TABLE_ENTRIES)`` array, unchecked (the device answers BAD_ARG when
    ``prng.check_tables`` refuses them)."""
    if len(payload) != tables_bytes(cfg):
        raise ProtocolError(f"SET_THRESHOLDS payload of {len(payload)} bytes, expected "
                            f"{tables_bytes(cfg)}")
    return np.frombuffer(bytes(payload), dtype="<u2").astype(np.int64).reshape(
        cfg.n_layers, TABLE_ENTRIES)


def _sample(cfg, bits):
    bits = np.asarray(bits)
    if bits.shape != (cfg.n_inputs,):
        raise ValueError(f"sample has shape {bits.shape}, the network expects "
                         f"({cfg.n_inputs},) bits")
    return pack_sample(bits)


def train_request(cfg, bits, label):
    label = int(label)
    if not 0 <= label < cfg.n_classes:
        raise ValueError(f"label must be in 0 … {cfg.n_classes - 1}, got {label}")
    return bytes([label]) + _sample(cfg, bits)


def infer_request(cfg, bits):
    return _sample(cfg, bits)


def set_batch_request(batch_number):
    """SET_BATCH payload: the batch number ``n`` the next sweep is keyed with (hw-spec §7)."""
    n = int(batch_number)
    if not 0 <= n <= prng.MASK32:
        raise ValueError(f"batch number must be a 32-bit unsigned integer, got {n}")
    return struct.pack("<I", n)


def read_state_request(layer, neuron, first, count):
    if not 1 <= count <= STATE_CHUNK:
        raise ValueError(f"count must be in 1 … {STATE_CHUNK}, got {count}")
    return struct.pack("<BHHB", layer, neuron, first, count)


def write_state_request(layer, neuron, first, values):
    values = [int(v) for v in values]
    if not 1 <= len(values) <= STATE_CHUNK:
        raise ValueError(f"count must be in 1 … {STATE_CHUNK}, got {len(values)}")
    return struct.pack(f"<BHHB{len(values)}h", layer, neuron, first, len(values), *values)


def parse_prediction(payload):
    if len(payload) != 1:
        raise ProtocolError(f"prediction reply of {len(payload)} bytes, expected 1")
    return payload[0]


def parse_state(payload, count):
    if len(payload) != 2 * count:
        raise ProtocolError(f"READ_STATE reply of {len(payload)} bytes, expected {2 * count}")
    return np.frombuffer(bytes(payload), dtype="<i2").astype(np.int16)


_COUNTERS = struct.Struct("<IIQII")
_COUNTER_NAMES = ("samples", "correct", "busy_cycles", "batch_number", "since_boundary")


def parse_counters(payload):
    """READ_COUNTERS reply -> dict with samples, correct, busy_cycles, batch_number,
    since_boundary."""
    if len(payload) != _COUNTERS.size:
        raise ProtocolError(f"READ_COUNTERS reply of {len(payload)} bytes, "
                            f"expected {_COUNTERS.size}")
    return dict(zip(_COUNTER_NAMES, _COUNTERS.unpack(bytes(payload))))


def counters_reply_payload(samples, correct, busy_cycles, batch_number, since_boundary):
    return _COUNTERS.pack(samples, correct, busy_cycles, batch_number, since_boundary)


assert _COUNTERS.size == COUNTERS_BYTES


# ---------------------------------------------------------------------------- data store
# The dataset image a board keeps in its flash (docs/host-protocol.md, "Data store"): one
# header, then the training records, then the test records. A record is exactly a TRAIN
# request payload (label byte, packed sample), so the chip trains a record as it is read.
STORE_MAGIC = b"XNLSTORE"
STORE_FORMAT = 1
STORE_HEADER_BYTES = 64
STORE_IDENTITY_BYTES = 24     # "dataset/encoding", ASCII, NUL-padded
STORE_HASH_BYTES = 14         # SHA-256 of the records, truncated
SPLIT_TRAIN = 0
SPLIT_TEST = 1

# magic, format, record bytes, n_train, n_test, n_inputs, n_classes, reserved, identity, hash;
# then the CRC-16 of these 62 bytes (u16 LE) ends the header
_STORE_HEADER = struct.Struct(f"<8sHHIIHBB{STORE_IDENTITY_BYTES}s{STORE_HASH_BYTES}s")
assert _STORE_HEADER.size + 2 == STORE_HEADER_BYTES
_TRAIN_STORE = struct.Struct("<IIII")     # seed, epoch, first position, count
_EVAL_STORE = struct.Struct("<BII")       # split, first record, count
_CORRECT = struct.Struct("<I")


class StoreCheck(enum.IntFlag):
    """What the chip checks in the header it reads (STORE_INFO's verdict; 0 = usable).

    The chip checks these alone; the content hash and identity are for the host."""
    UNREADABLE = 0x01   # CRC, magic or format wrong: no image, a corrupt or truncated one
    RECORD = 0x02       # record size is not 1 + ceil(N0 / 8)
    INPUTS = 0x04       # input bits differ from the design's N0
    CLASSES = 0x08      # classes differ from the design's
    EMPTY = 0x10        # no training records


class StoreError(ValueError):
    """A data-store image that cannot be used (the message says why, in one line)."""


def record_bytes(cfg):
    """Bytes of one store record: the TRAIN payload, ``1 + ceil(N0 / 8)``."""
    return 1 + sample_bytes(cfg)


@dataclass(frozen=True)
class StoreHeader:
    record_bytes: int
    n_train: int
    n_test: int
    n_inputs: int
    n_classes: int
    identity: str = ""
    content_hash: bytes = bytes(STORE_HASH_BYTES)
    format: int = STORE_FORMAT
    magic: bytes = STORE_MAGIC

    @property
    def image_bytes(self):
        """Length of the whole image: header and every record."""
        return STORE_HEADER_BYTES + (self.n_train + self.n_test) * self.record_bytes

    def record_offset(self, split, index):
        """Byte offset of record ``index`` of ``split`` in the image."""
        first = 0 if split == SPLIT_TRAIN else self.n_train
        return STORE_HEADER_BYTES + (first + index) * self.record_bytes

    def pack(self):
        ident = self.identity.encode("ascii")
        if len(ident) > STORE_IDENTITY_BYTES:
            raise StoreError(f"dataset identity {self.identity!r} is longer than "
                             f"{STORE_IDENTITY_BYTES} bytes")
        body = _STORE_HEADER.pack(self.magic, self.format, self.record_bytes, self.n_train,
                                  self.n_test, self.n_inputs, self.n_classes, 0, ident,
                                  self.content_hash)
        return body + struct.pack("<H", crc16(body))

    @classmethod
    def parse(cls, data):
        """The header at the start of ``data``; StoreError if it is short, its CRC fails or its
        magic or format is not this version's."""
        data = bytes(data)
        if len(data) < STORE_HEADER_BYTES:
            raise StoreError(f"data store image of {len(data)} bytes is shorter than its "
                             f"{STORE_HEADER_BYTES}-byte header")
        body = data[:_STORE_HEADER.size]
        (crc,) = struct.unpack_from("<H", data, _STORE_HEADER.size)
        (magic, fmt, rec, n_train, n_test, n_inputs, n_classes, _res, ident,
         digest) = _STORE_HEADER.unpack(body)
        if magic != STORE_MAGIC:
            raise StoreError("no data store image here (wrong magic bytes)")
        if crc16(body) != crc:
            raise StoreError("data store header is corrupt (CRC mismatch)")
        if fmt != STORE_FORMAT:
            raise StoreError(f"data store image has format {fmt}, this version reads format "
                             f"{STORE_FORMAT}")
        return cls(rec, n_train, n_test, n_inputs, n_classes,
                   ident.rstrip(b"\0").decode("ascii", "replace"), digest, fmt, magic)

    def verdict(self, cfg):
        """The chip's check against its configuration (a :class:`StoreCheck`, 0 = usable)."""
        v = StoreCheck(0)
        if self.record_bytes != record_bytes(cfg):
            v |= StoreCheck.RECORD
        if self.n_inputs != cfg.n_inputs:
            v |= StoreCheck.INPUTS
        if self.n_classes != cfg.n_classes:
            v |= StoreCheck.CLASSES
        if self.n_train == 0:
            v |= StoreCheck.EMPTY
        return v

    def check(self, cfg):
        """StoreError naming the first disagreement with the design ``cfg``."""
        if self.n_inputs != cfg.n_inputs:
            raise StoreError(f"data store holds {self.n_inputs}-bit samples, the design takes "
                             f"{cfg.n_inputs} input bits")
        if self.n_classes != cfg.n_classes:
            raise StoreError(f"data store holds {self.n_classes} classes, the design has "
                             f"{cfg.n_classes}")
        if self.record_bytes != record_bytes(cfg):
            raise StoreError(f"data store records are {self.record_bytes} bytes, the design "
                             f"reads {record_bytes(cfg)}")
        if self.n_train == 0:
            raise StoreError("data store holds no training records")


def store_records(cfg, x, y):
    """Records of samples ``x`` (rows of 0/1 bits) and labels ``y``: each the TRAIN payload."""
    x, y = np.asarray(x), np.asarray(y)
    if x.ndim != 2 or x.shape[1] != cfg.n_inputs or len(y) != len(x):
        raise StoreError(f"samples of shape {x.shape} with {len(y)} labels do not match "
                         f"{cfg.n_inputs} input bits")
    if len(y) and (y.min() < 0 or y.max() >= cfg.n_classes):
        raise StoreError(f"labels must be in 0 … {cfg.n_classes - 1}")
    if x.size and not np.isin(x, (0, 1)).all():
        raise StoreError("samples must hold 0/1 bits")
    packed = np.packbits(x.astype(np.uint8), axis=1, bitorder="little")
    return np.concatenate([y.astype(np.uint8)[:, None], packed], axis=1).tobytes()


def store_image(cfg, x_train, y_train, x_test, y_test, identity=""):
    """The whole image (header + training records + test records) as bytes."""
    import hashlib
    records = store_records(cfg, x_train, y_train) + store_records(cfg, x_test, y_test)
    digest = hashlib.sha256(records).digest()[:STORE_HASH_BYTES]
    header = StoreHeader(record_bytes(cfg), len(y_train), len(y_test), cfg.n_inputs,
                         cfg.n_classes, identity, digest)
    return header.pack() + records


def train_store_request(seed, epoch, first, count):
    """TRAIN_STORE payload: train positions ``first … first + count - 1`` of the epoch order
    ``π_epoch`` (hw-spec §9, key from ``seed``) over the store's training records."""
    for name, v in (("seed", seed), ("epoch", epoch), ("first", first), ("count", count)):
        if not 0 <= int(v) <= prng.MASK32:
            raise ValueError(f"{name} must be a 32-bit unsigned integer, got {v}")
    if count < 1:
        raise ValueError(f"count must be >= 1, got {count}")
    return _TRAIN_STORE.pack(int(seed), int(epoch), int(first), int(count))


def parse_train_store_request(payload):
    return _TRAIN_STORE.unpack(bytes(payload))


def eval_store_request(split, first, count):
    """EVAL_STORE payload: infer records ``first … first + count - 1`` of ``split``
    (:data:`SPLIT_TRAIN` or :data:`SPLIT_TEST`) and count the correct predictions."""
    if split not in (SPLIT_TRAIN, SPLIT_TEST):
        raise ValueError(f"split must be {SPLIT_TRAIN} (train) or {SPLIT_TEST} (test), "
                         f"got {split}")
    if not 0 <= int(first) <= prng.MASK32 or not 1 <= int(count) <= prng.MASK32:
        raise ValueError(f"bad record range: first {first}, count {count}")
    return _EVAL_STORE.pack(split, int(first), int(count))


def parse_eval_store_request(payload):
    return _EVAL_STORE.unpack(bytes(payload))


def store_info_reply_payload(verdict, header_bytes):
    """STORE_INFO reply: the verdict byte, then the 64 header bytes as read from the store."""
    header_bytes = bytes(header_bytes)
    if len(header_bytes) != STORE_HEADER_BYTES:
        raise ValueError(f"a store header is {STORE_HEADER_BYTES} bytes")
    return bytes([int(verdict)]) + header_bytes


def parse_store_info(payload):
    """STORE_INFO reply -> ``(StoreCheck verdict, raw header bytes)``."""
    payload = bytes(payload)
    if len(payload) != 1 + STORE_HEADER_BYTES:
        raise ProtocolError(f"STORE_INFO reply of {len(payload)} bytes, expected "
                            f"{1 + STORE_HEADER_BYTES}")
    return StoreCheck(payload[0]), payload[1:]


def correct_reply_payload(correct):
    return _CORRECT.pack(int(correct))


def parse_correct(payload):
    """TRAIN_STORE / EVAL_STORE reply: the number of correct predictions."""
    if len(payload) != _CORRECT.size:
        raise ProtocolError(f"reply of {len(payload)} bytes, expected {_CORRECT.size}")
    return _CORRECT.unpack(bytes(payload))[0]


# ---------------------------------------------------------------------------- STORE_WRITE
_STORE_WRITE = struct.Struct("<I")        # offset in the store (from the image's first byte)
STORE_WRITE_HEADER = _STORE_WRITE.size    # payload bytes before the data


def store_write_max_data(cfg):
    """Most data bytes one STORE_WRITE carries: the link's payload buffer less the offset."""
    return max_payload(cfg) - STORE_WRITE_HEADER


def store_write_request(offset, data):
    """STORE_WRITE payload: ``offset: u32`` (byte offset from the image's first byte, its
    header), then the bytes to write there (at least one)."""
    offset, data = int(offset), bytes(data)
    if not 0 <= offset <= prng.MASK32:
        raise ValueError(f"offset must be a 32-bit unsigned integer, got {offset}")
    if not data:
        raise ValueError("a STORE_WRITE carries at least one byte")
    return _STORE_WRITE.pack(offset) + data


def parse_store_write_request(payload):
    """``(offset, data)`` of a STORE_WRITE payload."""
    payload = bytes(payload)
    if len(payload) <= STORE_WRITE_HEADER:
        raise ProtocolError(f"STORE_WRITE payload of {len(payload)} bytes carries no data")
    (offset,) = _STORE_WRITE.unpack_from(payload)
    return offset, payload[STORE_WRITE_HEADER:]
