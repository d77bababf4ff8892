"""The training loop (docs/hw-spec.md §9), shared by every target.

A *trainer* is anything with the golden model's host-side interface — ``set_accuracy(A)``,
``reset_counters()``, ``train(X, Y, order) -> predictions``, ``end_epoch()``,
``train_accuracy``, ``evaluate(X, Y)`` — so the same loop drives the golden model now and the
chip (co-simulation or board, through the host driver) later.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import numpy as np

from . import prng

__all__ = ["EpochResult", "TrainResult", "epoch_order", "run_training", "plot_curves",
           "warm_up", "new_result", "start_epoch_on"]


def epoch_order(seed, epoch, n, variant="hw"):
    """Sample order of one epoch (hw-spec §9): for the hw variant and every chip target the
    keyed bijection :func:`xnorlearn.sw.prng.epoch_order`, which the chip computes itself when
    it trains from its data store; for the paper variant the authors' shuffle,
    ``numpy.random.default_rng([seed, epoch]).permutation(n)``."""
    if variant == "paper":
        return np.random.default_rng([seed, epoch]).permutation(n)
    return prng.epoch_order(seed, epoch, n)


@dataclass
class EpochResult:
    epoch: int
    train_accuracy: float      # on the pre-update predictions made during the epoch
    test_accuracy: float
    train_seconds: float
    train_samples_per_s: float
    reinforce_p: list | None = None  # per layer: reinforcement probability p_l of this epoch
    tables: list | None = None       # hw / chip: per layer, the 64-entry skip table used


@dataclass
class TrainResult:
    config: dict
    variant: str
    dataset: dict
    epochs: list = field(default_factory=list)
    wall_seconds: float = 0.0
    train_samples_per_s: float = 0.0     # all epochs, training only
    infer_samples_per_s: float = 0.0     # forward-only, on the test set
    interrupted: bool = False            # Ctrl-C: only the finished epochs are here

    @property
    def final_test_accuracy(self):
        return self.epochs[-1].test_accuracy if self.epochs else 0.0

    def to_dict(self):
        d = asdict(self)
        d["final_test_accuracy"] = self.final_test_accuracy
        return d


def new_result(cfg, dataset, variant, history=()):
    """An empty :class:`TrainResult` of ``cfg`` on ``dataset`` holding ``history`` (the
    finished epochs of a resumed run)."""
    return TrainResult(config=cfg.to_dict(), variant=variant,
                       dataset={"name": dataset.name, "n_train": len(dataset.y_train),
                                "n_test": len(dataset.y_test), "n_inputs": dataset.n_inputs,
                                "n_classes": dataset.n_classes,
                                **{k: v for k, v in dataset.info.items()
                                   if isinstance(v, (str, int, float))}},
                       epochs=list(history))


def start_epoch_on(trainer, accuracy):
    """The start of an epoch (spec §8): skip tables from the previous epoch's training
    ``accuracy`` (``trainer.set_accuracy``), then the counters reset. Returns the epoch's
    ``(reinforce_p, tables)`` for its :class:`EpochResult` (tables: None for trainers without
    them, the paper variant)."""
    cfg = trainer.cfg
    trainer.set_accuracy(accuracy)
    probs = [prng.reinforce_probability(cfg.p_reinforce, accuracy, cfg.fan_in(l))
             for l in range(cfg.n_layers)]
    tables = getattr(trainer, "tables", None)        # what this epoch's sweeps use
    tables = None if tables is None else [[int(v) for v in t] for t in tables]
    trainer.reset_counters()
    return probs, tables


def warm_up(trainer, dataset):
    """Compile the golden model's Numba kernels before anything is timed: train, flush and
    infer two samples on a throw-away copy of ``trainer`` (same class and configuration), so
    the first epoch's samples/s measures training, not JIT compilation. Both entry points are
    called, in bulk and one sample at a time (``train_sample`` / ``infer``: what a co-simulation
    compares after every sample). Other trainers (the chip) need nothing."""
    from .model import _Model
    if not isinstance(trainer, _Model) or not len(dataset.y_train):
        return
    scratch = type(trainer)(trainer.cfg)
    x, y = dataset.x_train, dataset.y_train
    k = min(2, len(y))
    scratch.train(x[:k], y[:k])
    scratch.train_sample(x[0], int(y[0]))
    scratch.end_epoch()
    scratch.evaluate(x[:k], y[:k])
    scratch.infer(x[0])


def run_training(trainer, dataset, epochs, *, seed, chunk=2000, progress=None, on_epoch=None,
                 variant=None, start_epoch=0, start_accuracy=0.0, history=(), order=None):
    """Train ``trainer`` on ``dataset`` up to epoch ``epochs`` and evaluate after each.

    ``progress(epoch, done, total)`` is called between chunks of ``chunk`` samples;
    ``on_epoch(EpochResult)`` after each epoch. To continue a run (a checkpoint),
    ``start_epoch`` is the number of finished epochs, ``start_accuracy`` the last one's
    training accuracy (it sets the next thresholds) and ``history`` their
    :class:`EpochResult` records; epochs ``start_epoch + 1 .. epochs`` are trained.
    ``order(seed, epoch, n)`` replaces the variant's epoch order (:func:`epoch_order`; only
    ``scripts/bench_accuracy.py`` does, to compare orders).

    Ctrl-C (``KeyboardInterrupt``) propagates with the finished epochs attached as its
    ``result`` attribute (a :class:`TrainResult`, ``interrupted`` set).
    """
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    if not 0 <= start_epoch < epochs:
        raise ValueError(f"the run already has {start_epoch} epochs; epochs (the total) must "
                         f"be larger, got {epochs}")
    cfg = trainer.cfg
    result = new_result(cfg, dataset, variant or trainer.variant, history)
    n = len(dataset.y_train)
    accuracy = start_accuracy
    warm_up(trainer, dataset)
    t_start = time.perf_counter()
    train_time = 0.0
    infer_time = 0.0
    infer_count = 0
    trained = 0

    def finish():
        result.wall_seconds = time.perf_counter() - t_start
        result.train_samples_per_s = trained / train_time if train_time > 0 else 0.0
        result.infer_samples_per_s = infer_count / infer_time if infer_time > 0 else 0.0
        return result

    try:
        for epoch in range(start_epoch, epochs):
            probs, tables = start_epoch_on(trainer, accuracy)
            perm = (order(seed, epoch, n) if order is not None
                    else epoch_order(seed, epoch, n, result.variant))
            if progress:
                progress(epoch, 0, n)
            t0 = time.perf_counter()
            for lo in range(0, n, chunk):
                trainer.train(dataset.x_train, dataset.y_train, perm[lo:lo + chunk])
                if progress:
                    progress(epoch, min(lo + chunk, n), n)
            trainer.end_epoch()
            dt = time.perf_counter() - t0
            accuracy = trainer.train_accuracy
            t1 = time.perf_counter()
            test_acc = trainer.evaluate(dataset.x_test, dataset.y_test)
            train_time += dt
            trained += n
            infer_time += time.perf_counter() - t1
            infer_count += len(dataset.y_test)
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


def plot_curves(result, path):
    """Train/test accuracy per epoch as a PNG."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ep = [e.epoch for e in result.epochs]
    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=120)
    ax.plot(ep, [100 * e.train_accuracy for e in result.epochs], "o-", label="train (online)")
    ax.plot(ep, [100 * e.test_accuracy for e in result.epochs], "s-", label="test")
    widths = "-".join(str(w) for w in [result.dataset["n_inputs"]] + result.config["layers"])
    ax.set_title(f"{result.dataset['name']} {widths}, {result.variant} variant, "
                 f"seed {result.config['seed']}")
    ax.set_xlabel("epoch")
    ax.set_ylabel("accuracy (%)")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
