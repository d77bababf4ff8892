"""A board that is not there: a pseudo-terminal whose far end runs the device protocol on the
golden model (``HwModel``), so ``xnorlearn train --target board --port <pty>`` exercises the
real serial path (pyserial, framing, CRC, retries) without hardware.

    with BoardEmulator(cfg) as emu:
        main(["train", "--target", "board", "--board", "icebreaker", "--port", emu.port, ...])

The receiver is :class:`xnorlearn.sw.protocol.RequestReceiver` (the exact model of the
gateware link), fed byte by byte from the pty; a gap of ``quiet_s`` without bytes counts as
the link's frame timeout. Replies are what the chip answers (``docs/host-protocol.md``).
"""

from __future__ import annotations

import os
import select
import struct
import threading
import tty

import numpy as np

from ..sw import protocol as proto
from ..sw.model import HwModel
from ..sw.protocol import Command, Frame, Status

__all__ = ["BoardEmulator", "execute"]


def execute(cfg, m, code, p, built_for=None):
    """Run one request on golden model ``m``; returns ``(status, reply payload)``."""
    bad = (Status.BAD_ARG, b"")
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
    IDENTIFY; ``requests`` counts executed requests per command.
    """

    def __init__(self, cfg, built_for=None, quiet_s=0.05):
        self.cfg = cfg
        self.built_for = built_for or cfg
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
        data = proto.encode_frame(status, payload, sync=proto.SYNC_DEVICE)
        view = memoryview(data)
        while view:
            n = os.write(self.master, view)
            view = view[n:]

    def _handle(self, ev):
        if ev is None:
            return
        if isinstance(ev, Frame):
            name = Command(ev.code).name
            self.requests[name] = self.requests.get(name, 0) + 1
            status, payload = execute(self.cfg, self.model, ev.code, ev.payload, self.built_for)
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
            for b in data:
                self._handle(self.receiver.byte(b))
