"""Training checkpoints: one ``.npz`` file with everything needed to continue bit-exactly.

Format (``docs/checkpoints.md``): a NumPy ``.npz`` archive (no pickled objects) with

* ``meta`` — UTF-8 JSON (a ``uint8`` array): format version, tool version, variant, the whole
  configuration, the number of finished epochs, the accuracy history (one record per epoch),
  the dataset's identity (name, sizes, encoding, SHA-256 of its arrays), the training target
  and ``sha256``, the content hash;
* ``counters_<l>`` — hidden layer ``l``'s counters, ``int16`` ``(N_l, N_{l-1})``;
* ``classifier_<l>`` — its fixed ±1 classifier, ``int8`` ``(N_l, C)``;
* ``ctrl`` — ``[batch number, samples since the last batch boundary]`` (``int64``);
* ``tables`` — the reinforcement skip tables in use at the end of the last epoch (hw variant,
  ``(L, 64)``; the next epoch recomputes them from the last training accuracy).

``sha256`` covers the JSON (without that field) and every array (name, dtype, shape, bytes);
:func:`load` refuses a file whose content does not match it. :func:`save` writes to a
temporary file in the same folder and renames it over the target (``os.replace``), so an
interrupted write never leaves a half-written checkpoint.

Python::

    from xnorlearn.sw import checkpoint
    ck = checkpoint.load("run.npz")
    model = ck.model()          # an HwModel in the saved state
    ck.epoch, ck.history, ck.config, ck.dataset
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import pathlib
import tempfile
from dataclasses import dataclass, field

import numpy as np

__all__ = ["Checkpoint", "CheckpointError", "save", "load", "capture", "dataset_identity",
           "FORMAT", "tool_version"]

FORMAT = "xnorlearn-checkpoint-1"


class CheckpointError(ValueError):
    """A checkpoint cannot be written, read or used; the message names the file."""


def tool_version():
    try:
        from importlib.metadata import version
        return version("xnorlearn")
    except Exception:  # noqa: BLE001 - not installed (source tree on sys.path)
        return "unknown"


def dataset_identity(dataset):
    """Name, sizes, encoding and a SHA-256 of the binarised arrays of ``dataset``."""
    h = hashlib.sha256()
    for a in (dataset.x_train, dataset.y_train, dataset.x_test, dataset.y_test):
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(a.data)
    info = dataset.info or {}
    return {"name": dataset.name, "n_inputs": dataset.n_inputs,
            "n_classes": dataset.n_classes, "n_train": dataset.n_train,
            "n_test": dataset.n_test, "encoding": info.get("encoding"),
            "seed": info.get("seed"),
            "source": next((v for v in (info.get("path"), info.get("source"))
                            if isinstance(v, str)), None),
            "sha256": h.hexdigest()}


@dataclass
class Checkpoint:
    config: object                     # xnorlearn.sw.config.Config
    variant: str
    epoch: int                         # finished epochs
    counters: list                     # per layer, int16 (N_l, N_{l-1})
    classifiers: list                  # per layer, int8 (N_l, C)
    ctrl: np.ndarray                   # [batch number, samples since boundary]
    tables: np.ndarray | None
    history: list = field(default_factory=list)   # per-epoch records (dicts)
    dataset: dict = field(default_factory=dict)
    target: str = "golden"
    tool_version: str = ""
    sha256: str = ""
    path: str | None = None

    @property
    def last_train_accuracy(self):
        return float(self.history[-1]["train_accuracy"]) if self.history else 0.0

    def model(self):
        """A golden :class:`~xnorlearn.sw.model.HwModel` in the saved state: counters through
        ``load_state``, batch number and skip tables restored; the classifiers (fixed by the
        seed) are checked against the saved ones."""
        from .model import HwModel
        if self.variant != "hw":
            raise CheckpointError(f"{self.path or 'checkpoint'}: variant {self.variant!r}; "
                                  f"only hw-variant checkpoints can be restored")
        m = HwModel(self.config)
        try:
            m.load_state(self.counters)
        except ValueError as e:
            raise CheckpointError(f"{self.path or 'checkpoint'}: {e}") from None
        for l, r in enumerate(self.classifiers):
            if not np.array_equal(m.classifier(l), r):
                raise CheckpointError(f"{self.path or 'checkpoint'}: layer {l} classifier "
                                      f"differs from the one seed {self.config.seed} gives")
        m.ctrl[:] = self.ctrl
        if self.tables is not None and m.tables is not None \
                and np.shape(m.tables) == np.shape(self.tables):
            m.set_tables(self.tables)
        return m

    # ------------------------------------------------------------------ (de)serialisation
    def _meta(self):
        return {"format": FORMAT, "tool_version": self.tool_version or tool_version(),
                "variant": self.variant, "config": self.config.to_dict(), "epoch": self.epoch,
                "history": self.history, "dataset": self.dataset, "target": self.target}

    def _arrays(self):
        arrays = {"ctrl": np.asarray(self.ctrl, dtype=np.int64)}
        for l, (c, r) in enumerate(zip(self.counters, self.classifiers)):
            arrays[f"counters_{l}"] = np.asarray(c, dtype=np.int16)
            arrays[f"classifier_{l}"] = np.asarray(r, dtype=np.int8)
        if self.tables is not None:
            arrays["tables"] = np.asarray(self.tables, dtype=np.int64)
        return arrays


def _digest(meta, arrays):
    h = hashlib.sha256(json.dumps(meta, sort_keys=True, separators=(",", ":")).encode())
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(f"{name}:{a.dtype.str}:{a.shape}".encode())
        h.update(a.data)
    return h.hexdigest()


def capture(trainer, *, epoch, history, dataset, target="golden"):
    """A :class:`Checkpoint` of ``trainer`` (the golden model, or a blocking chip trainer of
    :mod:`xnorlearn.sw.driver`, whose counters and batch number are read over the link)."""
    cfg = trainer.cfg
    state = [np.asarray(s, dtype=np.int16) for s in trainer.state()]
    if hasattr(trainer, "classifier"):
        classifiers = [trainer.classifier(l) for l in range(cfg.n_layers)]
        ctrl = np.asarray(trainer.ctrl, dtype=np.int64).copy()
    else:
        # the chip: classifiers are INIT(seed)'s, the batch number comes from READ_COUNTERS
        from .driver import run_sync
        from .model import HwModel
        ref = HwModel(cfg)
        classifiers = [ref.classifier(l) for l in range(cfg.n_layers)]
        c = run_sync(trainer.trainer.device.read_counters())
        ctrl = np.array([c["batch_number"], c["since_boundary"]], dtype=np.int64)
    tables = getattr(trainer, "tables", None)
    return Checkpoint(config=cfg, variant="hw", epoch=int(epoch),
                      counters=state, classifiers=classifiers, ctrl=ctrl,
                      tables=None if tables is None else np.array(tables, dtype=np.int64),
                      history=list(history), dataset=dict(dataset), target=target,
                      tool_version=tool_version())


def save(ck, path):
    """Write ``ck`` to ``path`` atomically (temporary file + ``os.replace``); returns the
    content hash."""
    path = pathlib.Path(path)
    meta = ck._meta()
    arrays = ck._arrays()
    meta["sha256"] = _digest(meta, arrays)
    buf = io.BytesIO()
    np.savez(buf, meta=np.frombuffer(json.dumps(meta, sort_keys=True).encode(), np.uint8),
             **arrays)
    folder = path.parent if str(path.parent) else pathlib.Path(".")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(buf.getvalue())
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
    except OSError as e:
        raise CheckpointError(f"{path}: cannot write checkpoint: {e.strerror or e}") from None
    ck.sha256, ck.path = meta["sha256"], str(path)
    return meta["sha256"]


def load(path):
    """Read and verify a checkpoint written by :func:`save`."""
    from .config import Config, ConfigError
    path = pathlib.Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except FileNotFoundError:
        raise CheckpointError(f"{path}: no such checkpoint file") from None
    except IsADirectoryError:
        raise CheckpointError(f"{path}: is a folder, not a checkpoint file") from None
    except OSError as e:
        raise CheckpointError(f"{path}: cannot read checkpoint: {e.strerror or e}") from None
    except Exception as e:  # noqa: BLE001 - zipfile / format errors of a non-npz file
        raise CheckpointError(f"{path}: not an xnorlearn checkpoint (.npz): {e}") from None
    if "meta" not in arrays:
        raise CheckpointError(f"{path}: not an xnorlearn checkpoint (no 'meta' entry)")
    try:
        meta = json.loads(arrays.pop("meta").tobytes().decode())
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{path}: corrupt checkpoint metadata: {e}") from None
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{path}: unknown checkpoint format {meta.get('format')!r}, "
                              f"expected {FORMAT!r}")
    want = meta.pop("sha256", None)
    if want != _digest(meta, arrays):
        raise CheckpointError(f"{path}: content hash mismatch: the checkpoint is corrupt or "
                              f"was edited")
    try:
        cfg = Config.from_dict(meta["config"], source=f"{path}: config")
    except ConfigError as e:
        raise CheckpointError(str(e)) from None
    n = cfg.n_layers
    try:
        counters = [arrays[f"counters_{l}"] for l in range(n)]
        classifiers = [arrays[f"classifier_{l}"] for l in range(n)]
        ctrl = arrays["ctrl"]
    except KeyError as e:
        raise CheckpointError(f"{path}: missing array {e.args[0]}") from None
    return Checkpoint(config=cfg, variant=meta["variant"], epoch=int(meta["epoch"]),
                      counters=counters, classifiers=classifiers, ctrl=ctrl,
                      tables=arrays.get("tables"), history=meta.get("history", []),
                      dataset=meta.get("dataset", {}), target=meta.get("target", "golden"),
                      tool_version=meta.get("tool_version", ""), sha256=want, path=str(path))
