"""Host driver of the trainer chip: one API over a serial port and the cocotb co-simulation.

The core (:class:`Device`, :class:`ChipTrainer`) is ``async`` so that it runs inside cocotb,
where waiting for a reply means letting simulated time pass. A *transport* moves bytes:

* ``async write(data)`` sends bytes;
* ``async read(n, timeout_s)`` returns up to ``n`` bytes, fewer (possibly none) once
  ``timeout_s`` passed without the rest arriving;
* optional attribute ``quiet_s``: a time without bytes after which the line is surely idle.

:class:`SerialTransport` (pyserial) blocks inside its ``async`` methods and never suspends, so
:func:`run_sync` can run any driver coroutine to completion without an event loop;
:class:`SyncDevice` and :class:`SyncChipTrainer` are the blocking facades built that way, and
``SyncChipTrainer`` plugs straight into :func:`xnorlearn.sw.train.run_training`.
:class:`xnorlearn.sim.uart_transport.CocotbUartTransport` is the co-simulation transport.

Retries (``retries`` per request, default 2):

* the device answered ``BAD_CRC``, ``TIMEOUT`` or ``BAD_LENGTH``: by protocol the request was
  **not** executed, so any command is sent again (the driver builds every length right, so
  ``BAD_LENGTH`` means a length field corrupted on the line);
* the reply never came or never decoded: the device may or may not have executed the request,
  so it is sent again only if the command is idempotent (:data:`protocol.IDEMPOTENT`: every
  command but TRAIN; END_EPOCH is idempotent because a second flush does nothing). A lost TRAIN
  reply raises :class:`ProtocolError` — the training state is then unknown;
* ``UNKNOWN`` and ``BAD_ARG`` are never retried: they raise :class:`DeviceError` (as does the
  last retryable error status once the retries are used up).

Pipelined training (:meth:`Device.train_samples`): TRAIN frames are streamed with up to
``window`` (at most :data:`protocol.LINK_DEPTH`, the frames the device's link holds) in flight,
so the line does not idle for a round trip per sample. Replies come in request order. TRAIN is
not idempotent, so nothing in a stream is ever resent: on the first error reply or lost reply
the driver stops sending, collects what is still on its way and raises :class:`StreamError`,
which says how many samples were trained for certain.
"""

from __future__ import annotations

import numpy as np

from . import prng
from . import protocol as proto
from .protocol import BitstreamMismatch, Command, DeviceError, ProtocolError, Status

__all__ = ["Device", "SyncDevice", "ChipTrainer", "SyncChipTrainer", "SerialTransport",
           "run_sync", "ProtocolError", "DeviceError", "BitstreamMismatch", "StreamError"]


#: Error statuses of requests the device dropped on the line (never executed): resendable.
_NOT_EXECUTED = (Status.BAD_CRC, Status.TIMEOUT, Status.BAD_LENGTH)


class StreamError(ProtocolError):
    """A pipelined TRAIN stream stopped at an error reply or a lost reply.

    Attributes
    ----------
    trained : int
        Samples whose OK reply arrived in order before the failure: the device trained them
        (the first ``trained`` samples of the stream).
    predictions : list of int
        Their pre-update predictions.
    sent : int
        TRAIN frames sent in all; of the ``sent - trained`` after the confirmed ones the device
        may have executed up to ``late_ok`` (OK replies that arrived after the failure, whose
        samples cannot be told apart) — the training state is then unknown.
    late_ok : int
    """

    def __init__(self, message, trained, predictions, sent, late_ok):
        self.trained, self.predictions = trained, list(predictions)
        self.sent, self.late_ok = sent, late_ok
        super().__init__(message)


def run_sync(coro):
    """Run a coroutine that never suspends (e.g. a driver call over :class:`SerialTransport`)
    and return its result."""
    try:
        coro.send(None)
    except StopIteration as stop:
        return stop.value
    coro.close()
    raise RuntimeError("run_sync: the coroutine suspended; its transport needs an event loop "
                       "(use the async API, e.g. inside cocotb)")


class SerialTransport:
    """pyserial transport. ``port`` is a device name or any pyserial URL (``loop://``,
    ``socket://host:port``); its methods block and never suspend."""

    def __init__(self, port, baudrate=115200, timeout=1.0):
        import serial
        self.serial = serial.serial_for_url(port, baudrate=baudrate, timeout=timeout)
        self.baudrate = baudrate
        self.quiet_s = max(200 / baudrate, 0.005)   # far longer than the device's 64 bit periods

    async def write(self, data):
        self.serial.write(bytes(data))
        self.serial.flush()

    async def read(self, n, timeout_s):
        self.serial.timeout = timeout_s
        return self.serial.read(n)

    def close(self):
        self.serial.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Device:
    """Protocol-level driver of one trainer chip (``docs/host-protocol.md``).

    Parameters
    ----------
    transport
        Byte transport (see the module docstring).
    cfg : Config
        The configuration the chip must have been built for.
    timeout_s : float
        Longest wait for a reply (and for each further byte of it).
    retries : int
        Resends per request (see the module docstring for when).

    Use :meth:`connect` to check IDENTIFY before anything else.
    """

    def __init__(self, transport, cfg, *, timeout_s=2.0, retries=2):
        self.transport = transport
        self.cfg = cfg
        self.timeout_s = timeout_s
        self.retries = retries
        self.quiet_s = getattr(transport, "quiet_s", 0.01)
        self.decoder = proto.FrameDecoder(proto.SYNC_DEVICE, proto.max_reply_payload(cfg))
        self.resends = 0            # statistics: requests sent again

    @classmethod
    async def connect(cls, transport, cfg, **kwargs):
        """A :class:`Device` after IDENTIFY showed the chip was built for ``cfg``."""
        dev = cls(transport, cfg, **kwargs)
        info = await dev.identify()
        if info.version != proto.VERSION or info.digest != cfg.digest():
            raise BitstreamMismatch(
                "refusing to talk to a mismatched bitstream: the device reports protocol "
                f"version {info.version} and configuration digest {info.digest} "
                f"(n_inputs {info.n_inputs}, layers {list(info.layers)}, "
                f"n_classes {info.n_classes}, counter_bits {info.counter_bits}, "
                f"lanes {info.lanes}); the host expects version {proto.VERSION} and digest "
                f"{cfg.digest()} (n_inputs {cfg.n_inputs}, layers {list(cfg.layers)}, "
                f"n_classes {cfg.n_classes}, counter_bits {cfg.counter_bits}, "
                f"lanes {cfg.lanes})")
        return dev

    # ------------------------------------------------------------------ requests
    async def _reply(self, first_s=None):
        """The next good reply frame, or None if none arrived (lost or corrupted). The first
        byte may take ``first_s`` (default ``timeout_s``), every further one ``timeout_s``."""
        self.decoder.reset()
        wait = self.timeout_s if first_s is None else first_s
        while True:
            data = await self.transport.read(self.decoder.wanted(), wait)
            wait = self.timeout_s
            events = self.decoder.feed(data) if data else self.decoder.silence()
            for ev in events:
                if isinstance(ev, proto.Frame):
                    return ev
            if not data:
                return None

    async def _read_exact(self, n, wait):
        """``n`` bytes, fewer if the line stays quiet (``wait`` for the first read, then
        ``timeout_s``)."""
        out = b""
        while len(out) < n:
            data = await self.transport.read(n - len(out), wait)
            wait = self.timeout_s
            if not data:
                break
            out += data
        return out

    async def _stream_reply(self, wait):
        """The next reply of a stream, parsed strictly: the device sends nothing but frames, so
        the reply must start right here. Returns a :class:`protocol.Frame`, ``None`` when
        nothing arrived, or ``"corrupt"`` (bytes that are not a good frame: the stream cannot
        tell which request they answered)."""
        head = await self._read_exact(proto.HEADER_BYTES, wait)
        if not head:
            return None
        if len(head) < proto.HEADER_BYTES or head[0] != proto.SYNC_DEVICE:
            return "corrupt"
        n = head[2] | head[3] << 8
        if n > proto.max_reply_payload(self.cfg):
            return "corrupt"
        rest = await self._read_exact(n + 2, self.timeout_s)
        if len(rest) < n + 2 or proto.crc16(head[1:] + rest[:n]) != (rest[n] | rest[n + 1] << 8):
            return "corrupt"
        return proto.Frame(head[1], rest[:n])

    async def train_samples(self, X, Y, window=None):
        """TRAIN every sample of ``X`` with labels ``Y`` in order, keeping up to ``window``
        requests in flight (default and maximum :data:`protocol.LINK_DEPTH`); returns the
        pre-update predictions (int64).

        Replies are matched to requests in order (the device answers in order, error replies
        included). On an error reply, a corrupted or lost reply, or a malformed payload the
        stream stops: no further frame is sent, the replies still on their way are collected,
        and :class:`StreamError` says how many samples were trained for certain. Nothing is
        resent (TRAIN is not idempotent).

        Limit: in-order matching assumes every request frame gets its reply. A request frame
        whose sync byte is corrupted vanishes on the line (the device never sees a frame);
        the replies after it then answer the following requests, which only the missing last
        reply reveals — that failure (a lost reply) says the count is a lower bound and which
        samples were trained is unknown."""
        X, Y = np.asarray(X), np.asarray(Y)
        if len(X) != len(Y):
            raise ValueError(f"{len(X)} samples but {len(Y)} labels")
        window = proto.LINK_DEPTH if window is None else int(window)
        if not 1 <= window <= proto.LINK_DEPTH:
            raise ValueError(f"window must be in 1 … {proto.LINK_DEPTH} (the frames the "
                             f"device's link holds), got {window}")
        frames = [proto.encode_frame(Command.TRAIN, proto.train_request(self.cfg, x, int(y)))
                  for x, y in zip(X, Y)]
        n = len(frames)
        preds = []
        sent = 0
        self.decoder.reset()
        while len(preds) < n:
            while sent < n and sent - len(preds) < window:
                await self.transport.write(frames[sent])
                sent += 1
            reply = await self._stream_reply(self.timeout_s)
            k = len(preds)
            if isinstance(reply, proto.Frame) and reply.code == Status.OK and \
                    len(reply.payload) == 1:
                preds.append(reply.payload[0])
                continue
            first = f"samples 0 … {k - 1}" if k else "no sample"
            if isinstance(reply, proto.Frame) and reply.code != Status.OK:
                name = (Status(reply.code).name if reply.code in Status._value2member_map_
                        else f"status 0x{reply.code:02x}")
                late = await self._drain_stream(sent - k - 1)
                msg = (f"sample {k} was answered {name} (not executed): {first} trained for "
                       f"certain (their replies arrived in order); of the {sent - k - 1} "
                       f"frames sent after it, {late} were answered OK during the drain "
                       f"(executed)")
            else:
                why = ("no reply" if reply is None else "a corrupted reply"
                       if reply == "corrupt" else "a malformed prediction reply")
                late = await self._drain_stream(sent - k - (reply is None))
                msg = (f"{why} for sample {k}: {k} replies arrived in order, so the device "
                       f"trained at least {k} samples ({first}, unless a request frame "
                       f"vanished on the line); sample {k} and the {sent - k - 1} frames sent "
                       f"after it may or may not have been executed ({late} OK replies came "
                       f"during the drain)")
            raise StreamError(f"TRAIN stream stopped at sample {k} of {n}: {msg}; nothing is "
                              "resent (TRAIN is not idempotent)", k, preds, sent, late)
        return np.array(preds, dtype=np.int64)

    async def _drain_stream(self, expected):
        """After a stream failed: collect up to ``expected`` further replies (until none comes
        for ``timeout_s``, resynchronising on corrupted bytes); returns how many were OK."""
        ok = got = 0
        self.decoder.reset()
        while got < expected:
            data = await self.transport.read(self.decoder.wanted(), self.timeout_s)
            events = self.decoder.feed(data) if data else self.decoder.silence()
            for ev in events:
                if isinstance(ev, proto.Frame):
                    got += 1
                    ok += ev.code == Status.OK
            if not data:
                break
        await self._flush()
        self.decoder.reset()
        return ok

    async def _flush(self):
        while await self.transport.read(4096, self.quiet_s):
            pass

    async def request(self, command, payload=b"", busy_s=0.0):
        """Send one request; return the payload of its OK reply. ``busy_s``: how much longer
        than ``timeout_s`` the device may take before it starts to answer (a long
        ``TRAIN_STORE``).

        Raises :class:`DeviceError` for an error status and :class:`ProtocolError` when no
        usable reply came (after the retries the command allows)."""
        command = Command(command)
        frame = proto.encode_frame(command, payload)
        for attempt in range(self.retries + 1):
            if attempt:
                self.resends += 1
            await self.transport.write(frame)
            reply = await self._reply(self.timeout_s + busy_s)
            last = attempt == self.retries
            if reply is None:
                if command in proto.IDEMPOTENT and not last:
                    await self._flush()
                    continue
                if command not in proto.IDEMPOTENT:
                    raise ProtocolError(f"{command.name}: reply lost or corrupted; the device "
                                        "may or may not have executed it, so it is not resent "
                                        "(training state unknown)")
                raise ProtocolError(f"{command.name}: no valid reply after "
                                    f"{self.retries + 1} attempts")
            if reply.code == Status.OK:
                return reply.payload
            if reply.code in _NOT_EXECUTED and not last:
                continue            # not executed: safe to resend any command
            if reply.payload:
                raise ProtocolError(f"{command.name}: error reply with a "
                                    f"{len(reply.payload)}-byte payload")
            raise DeviceError(reply.code, command)
        raise AssertionError("unreachable")

    async def _empty(self, command, payload=b""):
        reply = await self.request(command, payload)
        if reply:
            raise ProtocolError(f"{Command(command).name}: expected an empty reply, "
                                f"got {len(reply)} bytes")

    # ------------------------------------------------------------------ commands
    async def identify(self):
        """IDENTIFY -> :class:`protocol.IdentifyInfo`."""
        return proto.parse_identify(await self.request(Command.IDENTIFY))

    async def init(self, seed):
        """INIT: counters, classifiers, registers and ``A = 0`` skip tables from ``seed``."""
        await self._empty(Command.INIT, proto.init_request(seed))

    async def set_tables(self, tables):
        """SET_THRESHOLDS: every layer's skip table (``L x 64`` entries, spec §8)."""
        await self._empty(Command.SET_THRESHOLDS, proto.set_tables_request(self.cfg, tables))

    async def train_sample(self, bits, label):
        """TRAIN one sample; returns the pre-update prediction."""
        return proto.parse_prediction(await self.request(
            Command.TRAIN, proto.train_request(self.cfg, bits, label)))

    async def infer(self, bits):
        return proto.parse_prediction(await self.request(
            Command.INFER, proto.infer_request(self.cfg, bits)))

    async def end_epoch(self):
        """Flush: a batch boundary now if samples arrived since the last one (spec §7)."""
        await self._empty(Command.END_EPOCH)

    def _check_layer(self, layer):
        if not 0 <= layer < self.cfg.n_layers:
            raise ValueError(f"layer must be in 0 … {self.cfg.n_layers - 1}, got {layer}")

    async def read_state(self, layer):
        """Counters of hidden layer ``layer``: int16 array (N_l, F_l), in STATE_CHUNK reads."""
        self._check_layer(layer)
        n, f = self.cfg.layers[layer], self.cfg.fan_in(layer)
        out = np.zeros((n, f), dtype=np.int16)
        for j in range(n):
            for first in range(0, f, proto.STATE_CHUNK):
                count = min(proto.STATE_CHUNK, f - first)
                reply = await self.request(Command.READ_STATE,
                                           proto.read_state_request(layer, j, first, count))
                out[j, first:first + count] = proto.parse_state(reply, count)
        return out

    async def write_state(self, layer, counters):
        """Write every counter of hidden layer ``layer`` (shape (N_l, F_l))."""
        self._check_layer(layer)
        cfg = self.cfg
        a = np.asarray(counters)
        want = (cfg.layers[layer], cfg.fan_in(layer))
        if a.shape != want:
            raise ValueError(f"layer {layer}: state shape {a.shape}, expected {want}")
        if a.size and (a.min() < cfg.counter_min or a.max() > cfg.counter_max):
            raise ValueError(f"layer {layer}: counter values outside "
                             f"{cfg.counter_min} … {cfg.counter_max}")
        for j in range(want[0]):
            for first in range(0, want[1], proto.STATE_CHUNK):
                chunk = a[j, first:first + proto.STATE_CHUNK]
                await self._empty(Command.WRITE_STATE,
                                  proto.write_state_request(layer, j, first, chunk))

    async def state(self):
        """Every layer's counters, like :meth:`HwModel.state`."""
        return [await self.read_state(l) for l in range(self.cfg.n_layers)]

    async def load_state(self, state):
        if len(state) != self.cfg.n_layers:
            raise ValueError(f"state has {len(state)} layers, the network {self.cfg.n_layers}")
        for l, s in enumerate(state):
            await self.write_state(l, s)

    async def read_counters(self):
        """dict: samples, correct, busy_cycles, batch_number, since_boundary."""
        return proto.parse_counters(await self.request(Command.READ_COUNTERS))

    async def reset_counters(self):
        """samples, correct, busy_cycles <- 0."""
        await self._empty(Command.RESET_COUNTERS)

    async def set_batch(self, batch_number):
        """SET_BATCH: the batch number the next sweep is keyed with (resuming a checkpoint)."""
        await self._empty(Command.SET_BATCH, proto.set_batch_request(batch_number))

    # ------------------------------------------------------------------ data store
    async def store_info(self):
        """STORE_INFO -> ``(verdict, raw 64 header bytes)`` as the chip read its store."""
        return proto.parse_store_info(await self.request(Command.STORE_INFO))

    async def train_store(self, seed, epoch, first, count, busy_s=0.0):
        """TRAIN_STORE: positions ``first … first + count - 1`` of epoch ``epoch``'s order;
        returns how many pre-update predictions were correct. ``busy_s``: the time the chip
        needs for ``count`` samples (the reply comes after the last)."""
        return proto.parse_correct(await self.request(
            Command.TRAIN_STORE, proto.train_store_request(seed, epoch, first, count), busy_s))

    async def eval_store(self, split, first, count, busy_s=0.0):
        """EVAL_STORE: correct predictions on records ``first … first + count - 1`` of
        ``split`` (``protocol.SPLIT_TRAIN`` / ``SPLIT_TEST``)."""
        return proto.parse_correct(await self.request(
            Command.EVAL_STORE, proto.eval_store_request(split, first, count), busy_s))

    async def store_write(self, offset, data):
        """STORE_WRITE: ``data`` at byte ``offset`` of a writable (SDRAM) store."""
        await self._empty(Command.STORE_WRITE, proto.store_write_request(offset, data))

    async def store_write_stream(self, writes, window=None, progress=None):
        """STORE_WRITE every ``(offset, data)`` of ``writes`` in order, keeping up to
        ``window`` frames in flight (default and maximum :data:`protocol.LINK_DEPTH`);
        ``progress(done_bytes, total_bytes)`` after every OK reply. Replies come in order;
        an error reply, a lost or corrupted one stops the stream (the rest is drained) with
        :class:`DeviceError` / :class:`ProtocolError`: what was written is unknown, so the
        caller writes the image again (STORE_WRITE is idempotent)."""
        writes = [(int(o), bytes(d)) for o, d in writes]
        window = proto.LINK_DEPTH if window is None else int(window)
        if not 1 <= window <= proto.LINK_DEPTH:
            raise ValueError(f"window must be in 1 … {proto.LINK_DEPTH} (the frames the "
                             f"device's link holds), got {window}")
        frames = [proto.encode_frame(Command.STORE_WRITE, proto.store_write_request(o, d))
                  for o, d in writes]
        total = sum(len(d) for _, d in writes)
        n, sent, done, nbytes = len(frames), 0, 0, 0
        self.decoder.reset()
        while done < n:
            while sent < n and sent - done < window:
                await self.transport.write(frames[sent])
                sent += 1
            reply = await self._stream_reply(self.timeout_s)
            if isinstance(reply, proto.Frame) and reply.code == Status.OK and not reply.payload:
                nbytes += len(writes[done][1])
                done += 1
                if progress:
                    progress(nbytes, total)
                continue
            await self._drain_stream(sent - done - 1)
            where = (f"frame {done} of {n} (offset {writes[done][0]}, "
                     f"{len(writes[done][1])} bytes)")
            if isinstance(reply, proto.Frame) and reply.code != Status.OK:
                raise DeviceError(reply.code, Command.STORE_WRITE, where)
            why = "no reply" if reply is None else "a corrupted or malformed reply"
            raise ProtocolError(f"STORE_WRITE: {why} for {where}; the store's content is "
                                f"unknown (its header is written last: write it again)")


def _sync_method(name, inner="device", cls="Device"):
    def method(self, *args, **kwargs):
        return run_sync(getattr(getattr(self, inner), name)(*args, **kwargs))
    method.__name__ = name
    method.__doc__ = f"Blocking :meth:`{cls}.{name}`."
    return method


class SyncDevice:
    """Blocking facade of :class:`Device` for transports that never suspend (serial)."""

    def __init__(self, device):
        self.device = device
        self.cfg = device.cfg

    @classmethod
    def connect(cls, transport, cfg, **kwargs):
        return cls(run_sync(Device.connect(transport, cfg, **kwargs)))

    for _name in ("request", "identify", "init", "set_tables", "train_sample", "train_samples",
                  "infer",
                  "end_epoch", "read_state", "write_state", "state", "load_state",
                  "read_counters", "reset_counters", "store_info", "train_store", "eval_store",
                  "set_batch"):
        locals()[_name] = _sync_method(_name)
    del _name


class ChipTrainer:
    """The golden model's trainer interface (see :mod:`xnorlearn.sw.train`) on a chip, async.

    ``train_accuracy`` is the host's own tally of the pre-update predictions TRAIN returned
    since the last :meth:`reset_counters` — the same number the chip's counters hold, without
    a round trip; :meth:`train_accuracy_async` reads the chip's counters instead.
    :meth:`init` must be called once (the golden model initialises in its constructor).
    ``window``: TRAIN requests kept in flight by :meth:`train` (default
    :data:`protocol.LINK_DEPTH`; 1 is strictly request/reply).
    """

    variant = "chip"

    def __init__(self, device, cfg=None, window=None):
        self.device = device
        self.cfg = cfg if cfg is not None else device.cfg
        self.window = window        # TRAIN requests in flight (None: protocol.LINK_DEPTH)
        self.tables = None          # the skip tables the chip holds, L lists of 64 ints
        self.train_samples = 0
        self.train_correct = 0

    async def init(self, seed=None):
        await self.device.init(self.cfg.seed if seed is None else seed)
        self.tables = self._tables(0.0)
        self.train_samples = self.train_correct = 0

    def _tables(self, accuracy):
        c = self.cfg
        return [list(prng.reinforce_table(c.p_reinforce, accuracy, c.fan_in(l), c.prob_bits))
                for l in range(c.n_layers)]

    async def set_accuracy(self, train_accuracy):
        """Spec §8 skip tables from the previous epoch's accuracy, sent with SET_THRESHOLDS."""
        t = self._tables(train_accuracy)
        await self.device.set_tables(t)
        self.tables = t

    async def reset_counters(self):
        await self.device.reset_counters()
        self.train_samples = self.train_correct = 0

    async def train(self, X, Y, order=None):
        """TRAIN on ``X[order]`` as one pipelined stream (:meth:`Device.train_samples`, up to
        ``window`` requests in flight); returns the pre-update predictions (int64). On a
        :class:`StreamError` the samples trained for certain are in the tally."""
        X, Y = np.asarray(X), np.asarray(Y)
        if len(X) != len(Y):
            raise ValueError(f"{len(X)} samples but {len(Y)} labels")
        order = np.arange(len(X)) if order is None else np.asarray(order)
        Yo = Y[order]
        try:
            preds = await self.device.train_samples(X[order], Yo, window=self.window)
        except StreamError as e:
            got = np.asarray(e.predictions, dtype=np.int64)
            self.train_samples += len(got)
            self.train_correct += int((got == Yo[:len(got)]).sum())
            raise
        self.train_samples += len(preds)
        self.train_correct += int((preds == Yo).sum())
        return preds

    async def end_epoch(self):
        await self.device.end_epoch()

    @property
    def train_accuracy(self):
        return self.train_correct / self.train_samples if self.train_samples else 0.0

    async def train_accuracy_async(self):
        c = await self.device.read_counters()
        return c["correct"] / c["samples"] if c["samples"] else 0.0

    async def predict(self, X):
        return np.array([await self.device.infer(x) for x in np.asarray(X)], dtype=np.int64)

    async def evaluate(self, X, Y):
        Y = np.asarray(Y)
        if len(Y) == 0:
            return 0.0
        return float((await self.predict(X) == Y).mean())

    async def state(self):
        return await self.device.state()

    async def restore(self, checkpoint):
        """Put a checkpoint's network on the chip so training continues bit-exactly: INIT with
        its seed (classifiers, registers), WRITE_STATE of every counter, SET_BATCH of its batch
        number. Checkpoints are taken at epoch ends, after END_EPOCH's flush, so no partial
        batch is pending; one with samples since the boundary is refused."""
        ck = checkpoint
        if ck.config.digest() != self.cfg.digest():
            raise ValueError("the checkpoint's configuration is not the chip's")
        batch_number, since = (int(v) for v in ck.ctrl[:2])
        if since:
            raise ValueError(f"the checkpoint holds {since} samples of an unfinished batch; "
                             "only checkpoints taken at an epoch end can be resumed on a chip")
        await self.init(ck.config.seed)
        await self.device.load_state(ck.counters)
        await self.device.set_batch(batch_number)


class SyncChipTrainer:
    """Blocking facade of :class:`ChipTrainer` (serial transport) for ``run_training``."""

    variant = "chip"

    def __init__(self, trainer):
        self.trainer = trainer
        self.cfg = trainer.cfg

    @property
    def tables(self):
        return self.trainer.tables

    @property
    def train_accuracy(self):
        return self.trainer.train_accuracy

    for _name in ("init", "set_accuracy", "reset_counters", "train", "end_epoch",
                  "train_accuracy_async", "predict", "evaluate", "state", "restore"):
        locals()[_name] = _sync_method(_name, "trainer", "ChipTrainer")
    del _name
