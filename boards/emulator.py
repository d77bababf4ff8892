"""A board that is not there: a pseudo-terminal whose far end runs the device protocol on the
golden model (``HwModel``), so ``xnorlearn train --target board --port <pty>`` exercises the
real serial path (pyserial, framing, CRC, retries) without hardware.

    with BoardEmulator(cfg) as emu:
        main(["train", "--target", "board", "--board", "icebreaker", "--port", emu.port, ...])

The receiver is :class:`xnorlearn.sw.protocol.RequestReceiver` (the exact model of the
gateware link), fed byte by byte from the pty; a gap of ``quiet_s`` without bytes counts as
the link's frame timeout. Replies are what the chip answers (``docs/host-protocol.md``).

With ``store=`` (image bytes or a file path: what the board's flash holds behind the
bitstream) the emulated chip has a data store and answers STORE_INFO, TRAIN_STORE and
EVAL_STORE as the chip does; without one it answers them UNKNOWN, like a design built without a
store. With ``sdram=`` (a capacity in bytes) the store is an :class:`SdramStore` instead: it
starts zero-filled (a never-written SDRAM, refused as UNREADABLE) and the host fills it with
STORE_WRITE; the same instance keeps its contents across connections (and device resets) until
it is closed, like a powered board.

``faults=`` makes the session fail on purpose (:class:`Fault`): the device *resets* in the
middle of a request (it never answers it and comes back in its power-on state, the data store
kept), or the *connection is lost* for a while (the device finishes the request, but its reply
and everything sent until the line comes back are lost). The training CLI must notice, report
and resume from its last checkpoint (tests/test_faults.py).
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import select
import struct
import threading
import time
import tty

import numpy as np

from ..sw import prng
from ..sw import protocol as proto
from ..sw.model import HwModel
from ..sw.protocol import Command, Frame, Status, StoreError, StoreHeader

__all__ = ["BoardEmulator", "execute", "FlashStore", "SdramStore", "Fault"]


@dataclasses.dataclass(frozen=True)
class Fault:
    """A fault injected at the ``nth`` (1-based) executed request named ``command``.

    ``kind``: ``"reset"`` (the request is cut off: no reply; the chip restarts in its power-on
    state, ``HwModel(cfg)``) or ``"disconnect"`` (the request completes, but nothing goes back
    or comes in for ``hold_s`` seconds)."""
    kind: str
    command: str = "TRAIN_STORE"
    nth: int = 1
    hold_s: float = 1.0

    def __post_init__(self):
        if self.kind not in ("reset", "disconnect"):
            raise ValueError(f"fault kind must be 'reset' or 'disconnect', got {self.kind!r}")
        Command[self.command]            # KeyError for an unknown command name


class FlashStore:
    """A data store as the chip sees it: the flash bytes from the store offset on. Bytes past
    the end of ``image`` read as erased flash (``0xFF``), so a truncated image gives records
    with out-of-range labels. ``image``: bytes, or the path of an image file."""

    writable = False

    def __init__(self, image):
        if isinstance(image, (str, os.PathLike)):
            image = pathlib.Path(image).read_bytes()
        self.image = bytes(image)
        self._reread()

    def _reread(self):
        """Read the header again and forget the records and orders read from the old one."""
        self.raw = bytes(self._read(0, proto.STORE_HEADER_BYTES))
        try:
            self.header = StoreHeader.parse(self.raw)
        except StoreError:
            self.header = None
        self._splits = {}
        self._orders = {}

    def _read(self, offset, n):
        data = self.image[offset:offset + n]
        return data + b"\xff" * (n - len(data))

    def verdict(self, cfg):
        """STORE_INFO's verdict for the design ``cfg`` (:class:`protocol.StoreCheck`)."""
        if self.header is None:
            return proto.StoreCheck.UNREADABLE
        return self.header.verdict(cfg)

    def size(self, split):
        h = self.header
        return h.n_train if split == proto.SPLIT_TRAIN else h.n_test

    def records(self, split, n_inputs):
        """``(samples as 0/1 uint8 rows, labels as int64)`` of every record of ``split``."""
        if split not in self._splits:
            h = self.header
            n = self.size(split)
            data = self._read(h.record_offset(split, 0), n * h.record_bytes)
            rec = np.frombuffer(data, dtype=np.uint8).reshape(n, h.record_bytes)
            x = np.unpackbits(rec[:, 1:], axis=1, bitorder="little", count=n_inputs)
            self._splits[split] = (np.ascontiguousarray(x), rec[:, 0].astype(np.int64))
        return self._splits[split]

    def order(self, seed, epoch):
        """Positions ``0 … n_train-1`` of epoch ``epoch``'s order: record
        ``prng.order_index(prng.order_key(seed, epoch), p, n_train)`` at position ``p``
        (computed for the whole epoch at once by ``prng.epoch_order``)."""
        key = (seed, epoch)
        if key not in self._orders:
            if len(self._orders) > 4:
                self._orders.clear()
            self._orders[key] = prng.epoch_order(seed, epoch, self.header.n_train)
        return self._orders[key]


class SdramStore(FlashStore):
    """A writable data store (a board's SDRAM, filled by the host with STORE_WRITE):
    ``capacity`` bytes, zero at power-up."""

    writable = True

    def __init__(self, capacity):
        self.capacity = int(capacity)
        self.image = bytearray(self.capacity)
        self._reread()

    def _read(self, offset, n):
        return bytes(self.image[offset:offset + n]) + bytes(max(0, offset + n - self.capacity))

    def write(self, offset, data):
        """STORE_WRITE's effect: False (BAD_ARG, nothing written) past the capacity."""
        if offset + len(data) > self.capacity:
            return False
        self.image[offset:offset + len(data)] = data
        if offset < proto.STORE_HEADER_BYTES or self.header is None or \
                offset < self.header.image_bytes:
            self._reread()
        return True


def _store_command(cfg, m, code, p, store):
    """STORE_INFO / TRAIN_STORE / EVAL_STORE on the golden model ``m`` with data store
    ``store`` (a :class:`FlashStore`)."""
    bad = (Status.BAD_ARG, b"")
    if code == Command.STORE_WRITE:
        if not store.writable:
            return Status.UNKNOWN, b""
        offset, data = proto.parse_store_write_request(p)
        return (Status.OK, b"") if store.write(offset, data) else bad
    verdict = store.verdict(cfg)
    if code == Command.STORE_INFO:
        return Status.OK, proto.store_info_reply_payload(verdict, store.raw)
    if verdict:
        return Status.BAD_STORE, b""
    if code == Command.TRAIN_STORE:
        seed, epoch, first, count = proto.parse_train_store_request(p)
        n = store.header.n_train
        if count == 0 or first + count > n:
            return bad
        x, y = store.records(proto.SPLIT_TRAIN, cfg.n_inputs)
        order = store.order(seed, epoch)[first:first + count]
        labels = y[order]
        wrong = np.flatnonzero(labels >= cfg.n_classes)
        stop = int(wrong[0]) if len(wrong) else count     # records before a bad label train
        correct = 0
        if stop:
            preds = m.train(x[order[:stop]], labels[:stop])
            correct = int((preds == labels[:stop]).sum())
        if stop < count:
            return bad
        return Status.OK, proto.correct_reply_payload(correct)
    split, first, count = proto.parse_eval_store_request(p)
    if split not in (proto.SPLIT_TRAIN, proto.SPLIT_TEST) or count == 0 \
            or first + count > store.size(split):
        return bad
    x, y = store.records(split, cfg.n_inputs)
    preds = m.predict(x[first:first + count])
    return Status.OK, proto.correct_reply_payload(int((preds == y[first:first + count]).sum()))


_STORE_COMMANDS = (Command.STORE_INFO, Command.TRAIN_STORE, Command.EVAL_STORE,
                   Command.STORE_WRITE)


def execute(cfg, m, code, p, built_for=None, store=None):
    """Run one request on golden model ``m``; returns ``(status, reply payload)``. ``store``:
    the chip's data store (a :class:`FlashStore` or :class:`SdramStore`, image bytes or an
    image path), or None for a design without one (the store commands answer UNKNOWN;
    STORE_WRITE also on a flash store)."""
    bad = (Status.BAD_ARG, b"")
    if code in _STORE_COMMANDS:
        if store is None:
            return Status.UNKNOWN, b""
        if not isinstance(store, FlashStore):
            store = FlashStore(store)
        return _store_command(built_for or cfg, m, code, p, store)
    if code == Command.IDENTIFY:
        return Status.OK, proto.identify_reply_payload(built_for or cfg)
    if code == Command.INIT:
        m.init(struct.unpack("<I", p)[0])
    elif code == Command.SET_THRESHOLDS:
        try:        # checks every entry and every table first: BAD_ARG changes nothing
            m.set_tables(proto.parse_tables_request(cfg, p))
        except ValueError:
            return bad
    elif code in (Command.TRAIN, Command.INFER):
        label, sample = (p[0], p[1:]) if code == Command.TRAIN else (None, p)
        if label is not None and label >= cfg.n_classes:
            return bad
        x = proto.unpack_sample(sample, cfg.n_inputs)
        y = m.train_sample(x, label) if label is not None else m.infer(x)
        return Status.OK, bytes([int(y)])
    elif code == Command.END_EPOCH:
        m.end_epoch()
    elif code in (Command.READ_STATE, Command.WRITE_STATE):
        layer, j, first, count = struct.unpack_from("<BHHB", p)
        if (layer >= cfg.n_layers or j >= cfg.layers[layer] or not 1 <= count <= 64
                or first + count > cfg.fan_in(layer)):
            return bad
        state = m.state()
        if code == Command.READ_STATE:
            return Status.OK, state[layer][j, first:first + count].astype("<i2").tobytes()
        if len(p) != 6 + 2 * count:
            return bad
        vals = np.frombuffer(p[6:], dtype="<i2")
        if vals.min() < cfg.counter_min or vals.max() > cfg.counter_max:
            return bad
        state[layer][j, first:first + count] = vals
        m.load_state(state)
    elif code == Command.READ_COUNTERS:
        return Status.OK, proto.counters_reply_payload(
            m.train_samples, m.train_correct, 0, m.batch_number, m.samples_since_boundary)
    elif code == Command.RESET_COUNTERS:
        m.reset_counters()
    elif code == Command.SET_BATCH:
        m.set_batch_number(struct.unpack("<I", p)[0])
    return Status.OK, b""


class BoardEmulator:
    """Pseudo-terminal device running the protocol on ``HwModel(cfg)`` in a thread.

    ``built_for`` (default ``cfg``) is the configuration the emulated bitstream reports in
    IDENTIFY (and checks its data store against); ``store`` the data store image (bytes or a
    file path; default: none, the store commands answer UNKNOWN); ``sdram``: instead, a
    writable store of this many bytes the host fills with STORE_WRITE (:class:`SdramStore`);
    ``requests`` counts executed requests per command.
    """

    def __init__(self, cfg, built_for=None, quiet_s=0.05, store=None, faults=(), sdram=None):
        self.cfg = cfg
        self.faults = list(faults)
        self.fault_log = []             # (kind, command, nth) of every fault that happened
        self._deaf_until = 0.0
        self.built_for = built_for or cfg
        if store is not None and sdram:
            raise ValueError("an emulated board keeps its store in flash (store=) or SDRAM "
                             "(sdram=), not both")
        self.store = (SdramStore(sdram) if sdram else
                      None if store is None else FlashStore(store))
        self.model = HwModel(cfg)
        # Compile the golden model's Numba kernels now (seconds on a fresh checkout, with no
        # JIT cache yet), not inside the host driver's reply timeout.
        warm, x0 = HwModel(cfg), np.zeros(cfg.n_inputs, np.uint8)
        warm.train_sample(x0, 0)
        warm.infer(x0)
        warm.end_epoch()
        self.receiver = proto.RequestReceiver(cfg)
        self.quiet_s = quiet_s
        self.requests = {}
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        self.port = os.ttyname(self.slave)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self):
        self._thread.start()
        return self

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()

    def close(self):
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=2)
        for fd in (self.master, self.slave):
            try:
                os.close(fd)
            except OSError:
                pass

    def _reply(self, status, payload=b""):
        if time.monotonic() < self._deaf_until:
            return                                      # the line is down
        data = proto.encode_frame(status, payload, sync=proto.SYNC_DEVICE)
        view = memoryview(data)
        while view:
            n = os.write(self.master, view)
            view = view[n:]

    def _fault(self, name):
        for f in self.faults:
            if f.command == name and f.nth == self.requests[name]:
                self.faults.remove(f)
                self.fault_log.append((f.kind, name, f.nth))
                return f
        return None

    def _handle(self, ev):
        if ev is None:
            return
        if isinstance(ev, Frame):
            name = Command(ev.code).name
            self.requests[name] = self.requests.get(name, 0) + 1
            fault = self._fault(name)
            if fault is not None and fault.kind == "reset":
                self.model = HwModel(self.cfg)          # power-on state; no reply
                self.receiver = proto.RequestReceiver(self.cfg)
                return
            status, payload = execute(self.cfg, self.model, ev.code, ev.payload, self.built_for,
                                      self.store)
            if fault is not None:                       # disconnect: the reply is lost
                self._deaf_until = time.monotonic() + fault.hold_s
                return
            self._reply(status, payload)
        else:
            self._reply(ev)

    def _run(self):
        while not self._stop.is_set():
            try:
                r, _, _ = select.select([self.master], [], [], self.quiet_s)
            except (OSError, ValueError):
                return
            if not r:
                self._handle(self.receiver.silence())
                continue
            try:
                data = os.read(self.master, 4096)
            except OSError:
                return
            if time.monotonic() < self._deaf_until:
                continue                                # the line is down: bytes lost
            for b in data:
                self._handle(self.receiver.byte(b))
