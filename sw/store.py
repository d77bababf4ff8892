"""The data store, host side: the image of a dataset, its cache, its checks, and the training
loop that trains whole epochs from the board's store (``docs/host-protocol.md``, "Data
store").

* :func:`build_image` — the image of a dataset for a configuration
  (:func:`xnorlearn.sw.protocol.store_image`, identity ``dataset/encoding``);
  :func:`cached_image` keeps it in the per-user cache, named by its content hash;
  :func:`load_image` reads an image file; :func:`check_image` refuses an image that is not the
  one the run means to train on (another dataset, stale data, another configuration, a
  truncated file).
* :func:`check_store_info` — the host's reading of STORE_INFO: the chip's verdict explained, and
  the header's identity and content hash compared with the host's image (a stale image on the
  board is never trained on).
* :func:`fill_plan`, :func:`store_matches` and :func:`fill_store` — the SDRAM store the host
  fills over the link (``STORE_WRITE``): the header is blanked first and written last, so an
  interrupted fill is refused (``UNREADABLE``) and never half-trusted; a store that already
  holds the image is not written again.
* :class:`StoreTrainer` and :func:`run_store_training` — the loop of
  :func:`xnorlearn.sw.train.run_training` with TRAIN_STORE / EVAL_STORE instead of one TRAIN
  request per sample; it returns the same :class:`~xnorlearn.sw.train.TrainResult`, and on the
  golden model's chip (the board emulator) the same accuracies epoch by epoch.
"""

from __future__ import annotations

import hashlib
import os
import pathlib
import re
import time

from . import protocol as proto
from .protocol import SPLIT_TEST, StoreCheck, StoreError, StoreHeader
from .train import EpochResult, new_result, start_epoch_on

__all__ = ["image_identity", "build_image", "image_cache_dir", "cached_image", "cache_image",
           "load_image",
           "check_image", "check_store_info", "verdict_text", "estimate_samples_per_s",
           "StoreTrainer", "run_store_training", "StoreError", "fill_plan", "store_matches",
           "fill_store", "FillResult"]

#: Encoding of the datasets whose loader does not record one (always median-binarised).
_MEDIAN_ONLY = ("fashion-mnist", "mnist")


# ---------------------------------------------------------------------------- the image
def image_identity(dataset):
    """``dataset/encoding`` as the image header carries it: ASCII, at most
    ``STORE_IDENTITY_BYTES`` bytes (a long or non-ASCII table name is shortened)."""
    info = dataset.info or {}
    encoding = info.get("encoding") or ("median" if dataset.name in _MEDIAN_ONLY else "bits")
    name = re.sub(r"[^A-Za-z0-9._+-]", "_", dataset.name) or "data"
    room = proto.STORE_IDENTITY_BYTES - len(encoding) - 1
    return f"{name[:max(room, 1)]}/{encoding}"[:proto.STORE_IDENTITY_BYTES]


def build_image(cfg, dataset):
    """The store image of ``dataset`` for the design ``cfg``: header, training records, test
    records. StoreError if the data does not match the configuration."""
    if dataset.n_inputs != cfg.n_inputs or dataset.n_classes != cfg.n_classes:
        raise StoreError(f"dataset '{dataset.name}' has {dataset.n_inputs} input bits and "
                         f"{dataset.n_classes} classes, the design {cfg.n_inputs} and "
                         f"{cfg.n_classes}")
    return proto.store_image(cfg, dataset.x_train, dataset.y_train, dataset.x_test,
                             dataset.y_test, identity=image_identity(dataset))


def image_cache_dir():
    """Where images are kept: ``<per-user cache>/store`` (``$XNORLEARN_CACHE``, else
    ``$XDG_CACHE_HOME/xnorlearn``, else ``~/.cache/xnorlearn``)."""
    from ..sim.cosim import cache_dir
    return cache_dir() / "store"


def cached_image(cfg, dataset, cache=None):
    """``(image bytes, path)``: the image of ``dataset`` for ``cfg`` (:func:`build_image`),
    kept in the cache (:func:`cache_image`)."""
    image = build_image(cfg, dataset)
    return image, cache_image(image, cache)


def cache_image(image, cache=None):
    """The path of ``image`` in the cache (default :func:`image_cache_dir`):
    ``<identity>-<SHA-256 of the image, 16 hex digits>.bin``, written once (atomically); a file
    already there with the same name and size is reused."""
    image = bytes(image)
    folder = pathlib.Path(cache) if cache is not None else image_cache_dir()
    name = StoreHeader.parse(image).identity.replace("/", "-") or "image"
    path = folder / f"{name}-{hashlib.sha256(image).hexdigest()[:16]}.bin"
    if not (path.is_file() and path.stat().st_size == len(image)):
        folder.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_bytes(image)
        os.replace(tmp, path)
    return path


def load_image(path):
    """The bytes of an image file; StoreError (one line) if it cannot be read or holds no
    readable header."""
    path = pathlib.Path(path).expanduser()
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise StoreError(f"data store image {path} not found") from None
    except IsADirectoryError:
        raise StoreError(f"data store image {path} is a folder, expected a file") from None
    except OSError as e:
        raise StoreError(f"data store image {path}: {e.strerror or e}") from None
    try:
        StoreHeader.parse(data)
    except StoreError as e:
        raise StoreError(f"{path}: {e}") from None
    return data


def _describe(h):
    return (f"'{h.identity}', {h.n_train} train + {h.n_test} test records, content hash "
            f"{h.content_hash.hex()}")


def _compare(have, want, what):
    """StoreError if header ``have`` is not the image ``want`` (identity, sizes, hash)."""
    if have.identity != want.identity:
        raise StoreError(f"{what} holds dataset '{have.identity}', this run trains "
                         f"'{want.identity}' (another dataset or encoding)")
    if (have.n_train, have.n_test, have.content_hash) != \
            (want.n_train, want.n_test, want.content_hash):
        raise StoreError(f"{what} is stale: it holds {_describe(have)}; this run's data is "
                         f"{_describe(want)} (same dataset and encoding, other samples: "
                         f"split, seed or data version)")


def check_image(image, cfg, dataset, want=None):
    """The header of ``image`` after checking it is the image of ``dataset`` for ``cfg``:
    StoreError (one line) for an unreadable header, a configuration mismatch (record size,
    input bits, classes, no training records), another dataset or encoding, a stale image
    (other samples: content hash or sizes differ), a file shorter than its header says, or
    records that do not match the header's content hash. ``want``: the header of the image
    built from ``dataset`` when the caller has it (else it is built here)."""
    image = bytes(image)
    h = StoreHeader.parse(image)
    h.check(cfg)
    if want is None:
        want = StoreHeader.parse(build_image(cfg, dataset)[:proto.STORE_HEADER_BYTES])
    _compare(h, want, "the data store image")
    if len(image) < h.image_bytes:
        raise StoreError(f"the data store image is truncated: {len(image)} bytes, its header "
                         f"says {h.image_bytes} ({h.n_train} + {h.n_test} records of "
                         f"{h.record_bytes} bytes and the {proto.STORE_HEADER_BYTES}-byte "
                         f"header)")
    digest = hashlib.sha256(image[proto.STORE_HEADER_BYTES:h.image_bytes]).digest()
    if digest[:proto.STORE_HASH_BYTES] != h.content_hash:
        raise StoreError("the data store image is corrupt: its records do not match the "
                         "header's content hash")
    return h


# ---------------------------------------------------------------------------- STORE_INFO
_VERDICT_TEXT = {
    StoreCheck.RECORD: "record size",
    StoreCheck.INPUTS: "input bits",
    StoreCheck.CLASSES: "classes",
    StoreCheck.EMPTY: "no training records",
}


def verdict_text(verdict, raw, cfg):
    """One line saying what the chip found wrong in the header ``raw`` it read."""
    verdict = StoreCheck(int(verdict))
    if verdict & StoreCheck.UNREADABLE:
        try:
            StoreHeader.parse(raw)
            why = "header unreadable"
        except StoreError as e:
            why = str(e)
        return (f"the board's data store has no usable image (verdict 0x{int(verdict):02x}: "
                f"{why}); was the image written at the board's store offset, and does the "
                f"bitstream read its flash there?")
    try:
        h = StoreHeader.parse(raw)
        h.check(cfg)
        detail = ""
    except StoreError as e:
        detail = f": {e}"
    names = ", ".join(t for f, t in _VERDICT_TEXT.items() if verdict & f) or "unknown check"
    return (f"the board's data store image is not for this design (verdict "
            f"0x{int(verdict):02x}: {names}{detail})")


def check_store_info(verdict, raw, cfg, want):
    """The header the chip read (STORE_INFO), after checking that its verdict is 0 and that
    it is the image ``want`` (a :class:`StoreHeader`) the host means to train on; StoreError
    (one line) otherwise."""
    if int(verdict) != 0:
        raise StoreError(verdict_text(verdict, raw, cfg))
    h = StoreHeader.parse(raw)
    _compare(h, want, "the board's data store")
    return h


# ---------------------------------------------------------------------------- the SDRAM fill
def fill_plan(image, chunk):
    """``[(offset, bytes)]``: the STORE_WRITE frames that write ``image`` (at most ``chunk``
    data bytes each), in order: first the header's start blanked (zeros over its magic: from
    here on the store reads UNREADABLE, whatever it held), then the records in address order,
    then the header (``STORE_HEADER_BYTES``) last, its pieces from the end back, so the piece
    with its first byte (the magic) is the very last frame. A fill cut off anywhere leaves a
    store whose first byte is 0 — refused by the chip — never one whose header vouches for
    records that are not all there."""
    image, chunk = bytes(image), int(chunk)
    if chunk < 1:
        raise ValueError(f"chunk must be >= 1, got {chunk}")
    head = min(proto.STORE_HEADER_BYTES, len(image))
    plan = [(0, bytes(min(chunk, head)))] if head else []
    plan += [(o, image[o:o + chunk]) for o in range(head, len(image), chunk)]
    plan += [(o, image[o:min(o + chunk, head)]) for o in reversed(range(0, head, chunk))]
    return plan


def store_matches(verdict, raw, cfg, want):
    """Whether STORE_INFO's ``(verdict, raw)`` shows the image ``want`` (a
    :class:`StoreHeader`: identity, sizes, content hash) already in the store."""
    try:
        check_store_info(verdict, raw, cfg, want)
    except StoreError:
        return False
    return True


class FillResult:
    """What :func:`fill_store` did: ``skipped`` (the store already held the image), ``bytes``
    and ``frames`` written, ``seconds``, ``bytes_per_s``."""

    def __init__(self, skipped, nbytes=0, frames=0, seconds=0.0):
        self.skipped, self.bytes, self.frames, self.seconds = skipped, nbytes, frames, seconds

    @property
    def bytes_per_s(self):
        return self.bytes / self.seconds if self.seconds > 0 else 0.0


def fill_store(device, image, cfg, *, window=None, progress=None, force=False):
    """Make the writable store behind ``device`` (a :class:`xnorlearn.sw.driver.Device`,
    async) hold ``image``: STORE_INFO first — when it already reports this image (identity,
    sizes, content hash) nothing is written — else the frames of :func:`fill_plan`, up to
    ``window`` in flight, then STORE_INFO must accept it (StoreError otherwise).
    ``progress(done_bytes, total_bytes)`` after every reply. Returns a :class:`FillResult`
    (a coroutine: run it with ``driver.run_sync``)."""
    async def go():
        want = StoreHeader.parse(image)
        if not force:
            verdict, raw = await device.store_info()
            if store_matches(verdict, raw, cfg, want):
                return FillResult(True)
        plan = fill_plan(image, proto.store_write_max_data(cfg))
        t0 = time.perf_counter()
        await device.store_write_stream(plan, window=window, progress=progress)
        dt = time.perf_counter() - t0
        verdict, raw = await device.store_info()
        try:
            check_store_info(verdict, raw, cfg, want)
        except StoreError as e:
            raise StoreError(f"after writing the image into the store: {e}") from None
        return FillResult(False, len(image), len(plan), dt)
    return go()


# ---------------------------------------------------------------------------- the loop
def estimate_samples_per_s(cfg, core_hz):
    """A cautious estimate of the chip's training speed from its store (samples/s): twice the
    ideal forward beats, plus the sweep share and the record read, at ``core_hz``. Only the
    reply timeouts use it (a slower chip just waits longer for a reply)."""
    cycles = (2 * cfg.ideal_cycles_per_sample() + 2 * cfg.n_weights / cfg.batch
              + 8 * proto.record_bytes(cfg) + 64)
    return core_hz / cycles


class StoreTrainer:
    """The store commands of a chip behind a blocking facade: ``chip`` is a
    :class:`xnorlearn.sw.driver.SyncChipTrainer` (after ``init``). It keeps the trainer
    interface run_training uses (``set_accuracy``, ``tables``, ``reset_counters``,
    ``end_epoch``, ``state``) and adds :meth:`train_store` and :meth:`eval_store`."""

    variant = "chip"

    def __init__(self, chip, seed):
        self.chip = chip
        self.cfg = chip.cfg
        self.seed = int(seed)

    @property
    def device(self):
        return self.chip.trainer.device

    @property
    def tables(self):
        return self.chip.tables

    def set_accuracy(self, accuracy):
        self.chip.set_accuracy(accuracy)

    def reset_counters(self):
        self.chip.reset_counters()

    def end_epoch(self):
        self.chip.end_epoch()

    def state(self):
        return self.chip.state()

    def store_info(self):
        from .driver import run_sync
        return run_sync(self.device.store_info())

    def train_store(self, epoch, first, count, busy_s):
        from .driver import run_sync
        return run_sync(self.device.train_store(self.seed, epoch, first, count, busy_s))

    def eval_store(self, split, first, count, busy_s):
        from .driver import run_sync
        return run_sync(self.device.eval_store(split, first, count, busy_s))


def run_store_training(trainer, dataset, epochs, *, samples_per_s, chunk=None, progress=None,
                       on_epoch=None, start_epoch=0, start_accuracy=0.0, history=()):
    """Train the chip behind ``trainer`` (a :class:`StoreTrainer`) from its data store up to
    epoch ``epochs``, the loop of :func:`xnorlearn.sw.train.run_training`: per epoch the skip
    tables from the previous epoch's accuracy, the counters reset, TRAIN_STORE over positions
    ``0 … n-1`` of the epoch's order in chunks, END_EPOCH, training accuracy = correct / n,
    test accuracy from EVAL_STORE on the test records. ``dataset`` is the data of the image on
    the board (for the sizes and the result's record; check the board's store first with
    :func:`check_store_info`).

    ``samples_per_s``: the chip's expected speed (:func:`estimate_samples_per_s`); it sets the
    chunk (``chunk`` samples per request, default about one second of training) and how long
    a reply may take. ``progress``, ``on_epoch``, ``start_epoch``, ``start_accuracy``,
    ``history`` and Ctrl-C (the finished epochs in ``KeyboardInterrupt.result``) are as for
    run_training.
    """
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    if not 0 <= start_epoch < epochs:
        raise ValueError(f"the run already has {start_epoch} epochs; epochs (the total) must "
                         f"be larger, got {epochs}")
    if not samples_per_s > 0:
        raise ValueError(f"samples_per_s must be > 0, got {samples_per_s}")
    cfg = trainer.cfg
    result = new_result(cfg, dataset, "hw", history)
    n, n_test = len(dataset.y_train), len(dataset.y_test)
    if n == 0:
        raise StoreError("the data store holds no training records")
    chunk = int(chunk) if chunk else max(1, min(n, int(samples_per_s)))

    def busy(count):            # time the chip may need for count samples, with margin
        return 2.0 * count / samples_per_s + 1.0

    accuracy = start_accuracy
    t_start = time.perf_counter()
    train_time = infer_time = 0.0
    trained = inferred = 0

    def finish():
        result.wall_seconds = time.perf_counter() - t_start
        result.train_samples_per_s = trained / train_time if train_time > 0 else 0.0
        result.infer_samples_per_s = inferred / infer_time if infer_time > 0 else 0.0
        return result

    try:
        for epoch in range(start_epoch, epochs):
            probs, tables = start_epoch_on(trainer, accuracy)
            if progress:
                progress(epoch, 0, n)
            t0 = time.perf_counter()
            correct = 0
            for lo in range(0, n, chunk):
                count = min(chunk, n - lo)
                correct += trainer.train_store(epoch, lo, count, busy(count))
                if progress:
                    progress(epoch, lo + count, n)
            trainer.end_epoch()
            dt = time.perf_counter() - t0
            accuracy = correct / n
            t1 = time.perf_counter()
            test_correct = 0
            for lo in range(0, n_test, chunk):
                count = min(chunk, n_test - lo)
                test_correct += trainer.eval_store(SPLIT_TEST, lo, count, busy(count))
            test_acc = test_correct / n_test if n_test else 0.0
            train_time += dt
            trained += n
            infer_time += time.perf_counter() - t1
            inferred += n_test
            er = EpochResult(epoch + 1, accuracy, test_acc, dt, n / dt if dt > 0 else 0.0,
                             probs, tables)
            result.epochs.append(er)
            if on_epoch:
                on_epoch(er)
    except KeyboardInterrupt as e:
        finish().interrupted = True
        e.result = result
        raise
    return finish()
