"""The golden model: both variants of the learning rule behind one step-level API.

* :class:`HwModel` — the on-chip variant, the bit-exact specification of the gateware
  (``docs/hw-spec.md``): k-bit saturating odd-state counters, online updates, sparse
  reinforcement sweeps from the counter-based PRNG.
* :class:`PaperModel` — the published algorithm (Colombo, Pittorino, Roveri 2024; described in
  ``docs/golden-model.md``): unbounded hidden weights, mini-batch updates, float
  reinforcement probability, ternary activations.

Both take a :class:`~xnorlearn.sw.config.Config`, and data as 0/1 ``uint8`` bit rows (1 = +1).
Step-level API for co-simulation: :meth:`forward`, :meth:`train_sample`, :meth:`infer`,
:meth:`state`, :func:`compare_states`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from . import kernels, prng
from .config import Config

__all__ = ["HwModel", "PaperModel", "make_model", "compare_states", "StateMismatch",
           "LayerTrace", "pack_bits", "VARIANTS", "SWEEPS"]

VARIANTS = ("hw", "paper")
SWEEPS = ("sparse", "dense")     # hw variant: spec v2 sweep (the chip's), v1 dense sweep



def pack_bits(bits):
    """0/1 bit rows (n, N) -> little-endian uint64 words (n, ceil(N / 64)), zero padded."""
    bits = np.ascontiguousarray(bits, dtype=np.uint8)
    if bits.ndim == 1:
        return pack_bits(bits[None])[0]
    n, width = bits.shape
    nw = -(-width // 64)
    packed = np.packbits(bits, axis=1, bitorder="little")
    out = np.zeros((n, nw * 8), dtype=np.uint8)
    out[:, :packed.shape[1]] = packed
    return out.view("<u8").astype(np.uint64, copy=False).reshape(n, nw)


def _check_bits(x, width, what="sample"):
    x = np.asarray(x)
    if x.shape[-1] != width:
        raise ValueError(f"{what} has {x.shape[-1]} input bits, the network expects {width}")
    if x.dtype != np.uint8:
        if not np.isin(x, (0, 1)).all():
            raise ValueError(f"{what} must hold 0/1 bits")
        x = x.astype(np.uint8)
    return np.ascontiguousarray(x)


@dataclass
class LayerTrace:
    """One layer's forward pass: pre-activations, outputs, local scores and decision."""
    h: np.ndarray
    a: np.ndarray
    scores: np.ndarray
    prediction: int
    margin: int


@dataclass
class StateMismatch:
    layer: int
    neuron: int
    weight: int
    expected: int
    got: int

    def __str__(self):
        return (f"layer {self.layer} neuron {self.neuron} weight {self.weight}: "
                f"expected {self.expected}, got {self.got}")


def compare_states(expected, got):
    """First difference between two hidden states (lists of (N, F) arrays), or None."""
    if len(expected) != len(got):
        raise ValueError(f"states have {len(expected)} and {len(got)} layers")
    for l, (e, g) in enumerate(zip(expected, got)):
        e, g = np.asarray(e), np.asarray(g)
        if e.shape != g.shape:
            raise ValueError(f"layer {l}: shapes {e.shape} and {g.shape} differ")
        diff = np.argwhere(e != g)
        if len(diff):
            j, i = (int(v) for v in diff[0])
            return StateMismatch(l, j, i, int(e[j, i]), int(g[j, i]))
    return None


class _Model:
    variant = None

    def __init__(self, cfg: Config, seed: int | None = None):
        if not isinstance(cfg, Config):
            raise TypeError(f"expected a Config, got {type(cfg).__name__}")
        self.cfg = cfg
        self.seed = cfg.seed if seed is None else int(seed)
        widths = cfg.widths
        nl = cfg.n_layers
        words = [-(-w // 64) for w in widths]
        self.dims = np.array([[widths[l], widths[l + 1], words[l], words[l + 1],
                               cfg.group_sizes[l], cfg.margin_threshold(l)]
                              for l in range(nl)], dtype=np.int64)
        off = np.zeros((nl, 5), dtype=np.int64)
        tot = np.zeros(5, dtype=np.int64)
        for l in range(nl):
            F, N, WF, WN = widths[l], widths[l + 1], words[l], words[l + 1]
            off[l] = tot
            tot += (F * N, N * WF, N * cfg.n_classes, N, WN)
        self.off = off
        self._sizes = tot
        self.rcls = np.zeros(tot[2], dtype=np.int8)
        self.h = np.zeros(tot[3], dtype=np.int64)
        self.scores = np.zeros((nl, cfg.n_classes), dtype=np.int64)
        self.updated = np.zeros(nl, dtype=np.int64)
        self.ctrl = np.zeros(2, dtype=np.int64)   # [batch number, samples since boundary]
        self.train_correct = 0                      # counters, like the chip's
        self.train_samples = 0

    # -------------------------------------------------------------- views
    def _layer(self, flat, l, col):
        F, N = self.dims[l, 0], self.dims[l, 1]
        o = self.off[l, col]
        if col == 0:
            return flat[o:o + F * N].reshape(N, F)
        if col == 2:
            return flat[o:o + N * self.cfg.n_classes].reshape(N, self.cfg.n_classes)
        raise AssertionError(col)

    def classifier(self, l):
        """±1 classifier matrix R_l, shape (N_l, C)."""
        return self._layer(self.rcls, l, 2).copy()

    @property
    def batch_number(self):
        return int(self.ctrl[0])

    @property
    def samples_since_boundary(self):
        return int(self.ctrl[1])

    # -------------------------------------------------------------- data entry
    def _prepare(self, X):
        X = _check_bits(X, self.cfg.n_inputs, "data")
        if X.ndim == 1:
            X = X[None]
        return pack_bits(X), X

    def _check_labels(self, Y, n):
        Y = np.ascontiguousarray(Y, dtype=np.int64)
        if Y.shape != (n,):
            raise ValueError(f"{n} samples but labels of shape {Y.shape}")
        if n and (Y.min() < 0 or Y.max() >= self.cfg.n_classes):
            raise ValueError(f"labels must be in 0 … {self.cfg.n_classes - 1}")
        return Y

    def train(self, X, Y, order=None):
        """Train on the samples ``X[order]`` (all in order if None). Returns the pre-update
        predictions. Batch state carries over between calls; :meth:`end_epoch` flushes."""
        Xw, Xb = self._prepare(X)
        Y = self._check_labels(Y, len(Xb))
        order = np.arange(len(Xb), dtype=np.int64) if order is None else \
            np.ascontiguousarray(order, dtype=np.int64)
        if len(order) and (order.min() < 0 or order.max() >= len(Xb)):
            raise ValueError("order holds an index outside the data")
        preds = np.zeros(len(order), dtype=np.int64)
        correct = self._train_kernel(Xw, Xb, Y, order, preds)
        self.train_correct += int(correct)
        self.train_samples += len(order)
        return preds

    def train_sample(self, x, y):
        """Train on one sample; returns the pre-update prediction."""
        return int(self.train(np.asarray(x)[None], np.array([y]))[0])

    def predict(self, X):
        Xw, Xb = self._prepare(X)
        preds = np.zeros(len(Xb), dtype=np.int64)
        self._infer_kernel(Xw, Xb, preds)
        return preds

    def infer(self, x):
        return int(self.predict(np.asarray(x)[None])[0])

    def evaluate(self, X, Y):
        """Accuracy (fraction) of inference on X, Y."""
        Y = self._check_labels(Y, len(X))
        return float((self.predict(X) == Y).mean()) if len(Y) else 0.0

    def forward(self, x):
        """Per-layer :class:`LayerTrace` of one sample (no state change)."""
        self.predict(np.asarray(x)[None])
        traces = []
        for l in range(self.cfg.n_layers):
            o, N = self.off[l, 3], self.dims[l, 1]
            pred, margin = kernels._decide(self.scores[l], self.cfg.n_classes)
            traces.append(LayerTrace(self.h[o:o + N].copy(), self._activations(l),
                                     self.scores[l].copy(), int(pred), int(margin)))
        return traces

    def reset_counters(self):
        self.train_correct = 0
        self.train_samples = 0

    @property
    def train_accuracy(self):
        return self.train_correct / self.train_samples if self.train_samples else 0.0


class HwModel(_Model):
    """hw variant: bit-exact specification of the gateware (docs/hw-spec.md).

    ``sweep="sparse"`` (default) is the spec: reinforcement sweeps walk each row by geometric
    skips drawn against per-layer skip tables (:attr:`tables`, spec §7–8). ``sweep="dense"`` is
    spec v1's one-draw-per-weight sweep against a per-layer threshold, kept only to compare
    accuracy; no hardware implements it.
    """

    variant = "hw"

    def __init__(self, cfg, seed=None, sweep="sparse"):
        if sweep not in SWEEPS:
            raise ValueError(f"unknown sweep {sweep!r}; choose one of {', '.join(SWEEPS)}")
        self.sweep = sweep
        super().__init__(cfg, seed)
        tot = self._sizes
        self.cnt = np.zeros(tot[0], dtype=np.int16)
        self.wbits = np.zeros(tot[1], dtype=np.uint64)
        self.abits = np.zeros(tot[3], dtype=np.uint8)
        self.awords = np.zeros(tot[4], dtype=np.uint64)
        self.chosen = np.zeros((cfg.n_layers, max(n // g for n, g in zip(cfg.layers,
                                                                        cfg.group_sizes))),
                               dtype=np.int64)
        # sparse: every layer's skip table; dense: the v1 threshold in column 0
        self._tables = np.zeros((cfg.n_layers, prng.SWEEP_SKIP), dtype=np.int64)
        self.init(self.seed)

    def init(self, seed):
        """Spec §4: counters and classifiers from the PRNG, registers cleared, A = 0 tables."""
        cfg = self.cfg
        self.seed = int(seed)
        if not 0 <= self.seed <= prng.MASK32:
            raise ValueError(f"seed must be a 32-bit unsigned integer, got {seed}")
        for l in range(cfg.n_layers):
            F, N, C = cfg.fan_in(l), cfg.layers[l], cfg.n_classes
            u = prng.draw_np(prng.stream_key(self.seed, l, prng.STREAM_INIT), np.arange(F * N))
            self._layer(self.cnt, l, 0)[:] = prng.init_counter_from_draw(
                u, cfg.counter_bits).reshape(N, F)
            u = prng.draw_np(prng.stream_key(self.seed, l, prng.STREAM_CLASSIFIER),
                             np.arange(N * C))
            self._layer(self.rcls, l, 2)[:] = (
                2 * prng.classifier_bit_from_draw(u).astype(np.int8) - 1).reshape(N, C)
        self._refresh_weights()
        self.updated[:] = 0
        self.ctrl[:] = 0
        self.reset_counters()
        self.set_accuracy(0.0)

    def _refresh_weights(self):
        for l in range(self.cfg.n_layers):
            F, N, WF = self.dims[l, 0], self.dims[l, 1], self.dims[l, 2]
            o = self.off[l, 1]
            self.wbits[o:o + N * WF] = pack_bits(
                (self._layer(self.cnt, l, 0) >= 0).astype(np.uint8)).ravel()

    @property
    def tables(self):
        """The current skip tables, int64 ``(L, 64)`` (a copy); None for ``sweep="dense"``."""
        return None if self.sweep == "dense" else self._tables.copy()

    @property
    def dense_thresholds(self):
        """The v1 thresholds of ``sweep="dense"``, int64 ``(L,)`` (a copy); None otherwise."""
        return self._tables[:, 0].copy() if self.sweep == "dense" else None

    def set_accuracy(self, train_accuracy):
        """Spec §8: skip tables (``prng.reinforce_table``) from the previous epoch's training
        accuracy; for ``sweep="dense"`` the v1 thresholds (``prng.reinforce_threshold``)."""
        cfg = self.cfg
        if self.sweep == "dense":
            self._tables[:] = 0
            self._tables[:, 0] = [prng.reinforce_threshold(cfg.p_reinforce, train_accuracy,
                                                           cfg.fan_in(l), cfg.prob_bits)
                                  for l in range(cfg.n_layers)]
            return
        self.set_tables([prng.reinforce_table(cfg.p_reinforce, train_accuracy, cfg.fan_in(l),
                                              cfg.prob_bits) for l in range(cfg.n_layers)])

    def set_tables(self, tables):
        """Host write of every layer's skip table (what SET_THRESHOLDS carries): shape
        ``(L, 64)``, entries in ``0 … 2**prob_bits - 1``, each row nondecreasing."""
        if self.sweep == "dense":
            raise ValueError('set_tables needs the sparse sweep; HwModel(cfg, sweep="dense") '
                             "takes its thresholds from set_accuracy")
        self._tables[:] = prng.check_tables(tables, self.cfg.n_layers, self.cfg.prob_bits)

    def _train_kernel(self, Xw, Xb, Y, order, preds):
        c = self.cfg
        return kernels.hw_train(Xw, Xb, Y, order, self.dims, self.off, self.cnt, self.wbits,
                                self.rcls, self.h, self.abits, self.awords, self.scores,
                                c.counter_min, c.counter_max, self.updated, self.chosen,
                                self._tables, self.sweep == "dense", self.ctrl, c.batch,
                                self.seed, c.prob_bits, preds)

    def _infer_kernel(self, Xw, Xb, preds):
        kernels.hw_infer(Xw, Xb, self.dims, self.off, self.wbits, self.rcls, self.h,
                         self.abits, self.awords, self.scores, preds)

    def _activations(self, l):
        o, N = self.off[l, 3], self.dims[l, 1]
        return self.abits[o:o + N].copy()

    def end_epoch(self):
        """Flush: a batch boundary now if any sample arrived since the last one (spec §7)."""
        c = self.cfg
        if self.ctrl[1]:
            kernels.hw_boundary(self.dims, self.off, self.cnt, self.updated, self._tables,
                                self.sweep == "dense", self.ctrl, self.seed, c.prob_bits,
                                c.counter_min, c.counter_max)

    def set_batch_number(self, n):
        """Restore the batch number (resuming a checkpoint; the chip's SET_BATCH): the next
        sweep is keyed with ``n``; a partial batch, if any, is dropped without its sweep."""
        n = int(n)
        if not 0 <= n <= prng.MASK32:
            raise ValueError(f"batch number must be a 32-bit unsigned integer, got {n}")
        self.ctrl[0], self.ctrl[1] = n, 0
        self.updated[:] = 0

    def state(self):
        """Copies of every layer's counters, int16 arrays of shape (N_l, N_{l-1})."""
        return [self._layer(self.cnt, l, 0).copy() for l in range(self.cfg.n_layers)]

    def load_state(self, state):
        """Host write of every counter (values checked against the counter range)."""
        c = self.cfg
        if len(state) != c.n_layers:
            raise ValueError(f"state has {len(state)} layers, the network {c.n_layers}")
        for l, s in enumerate(state):
            s = np.asarray(s)
            want = (c.layers[l], c.fan_in(l))
            if s.shape != want:
                raise ValueError(f"layer {l}: state shape {s.shape}, expected {want}")
            if s.min() < c.counter_min or s.max() > c.counter_max:
                raise ValueError(f"layer {l}: counter values outside "
                                 f"{c.counter_min} … {c.counter_max}")
            self._layer(self.cnt, l, 0)[:] = s
        self._refresh_weights()

    def last_chosen(self, l):
        """Neurons chosen for update by the last trained sample in layer ``l`` (per group, -1 =
        none)."""
        return self.chosen[l, :self.cfg.layers[l] // self.cfg.group_sizes[l]].copy()


class PaperModel(_Model):
    """paper variant: the published algorithm (docs/golden-model.md), for reproducing its
    numbers."""

    variant = "paper"

    def __init__(self, cfg, seed=None):
        super().__init__(cfg, seed)
        tot = self._sizes
        cfg = self.cfg
        self.hid = np.zeros(tot[0], dtype=np.int32)
        self.delta = np.zeros(tot[0], dtype=np.int32)
        self.touched = np.zeros(tot[3], dtype=np.uint8)
        self.wpos = np.zeros(tot[1], dtype=np.uint64)
        self.wnz = np.zeros(tot[1], dtype=np.uint64)
        self.aval = np.zeros(tot[3], dtype=np.int8)
        self.apos = np.zeros(tot[4], dtype=np.uint64)
        self.anz = np.zeros(tot[4], dtype=np.uint64)
        self.first_nz = pack_bits(np.ones(cfg.n_inputs, dtype=np.uint8))
        self.probs = np.zeros(cfg.n_layers, dtype=np.float64)
        # Initial state: trunc(N(0, init_std^2)) hidden weights, sgn(trunc(N(0, init_std^2)))
        # classifiers, drawn layer by layer (H_l then R_l) from NumPy's PCG64 seeded with seed.
        gen = np.random.default_rng(self.seed)
        for l in range(cfg.n_layers):
            F, N, C = cfg.fan_in(l), cfg.layers[l], cfg.n_classes
            self._layer(self.hid, l, 0)[:] = np.trunc(gen.normal(0.0, cfg.init_std, (N, F)))
            self._layer(self.rcls, l, 2)[:] = np.sign(np.trunc(gen.normal(0.0, cfg.init_std,
                                                                          (N, C))))
        # Reinforcement draws: a splitmix64 stream seeded from the same generator.
        self.rng = np.array([gen.integers(0, 2**63)], dtype=np.uint64)
        for l in range(cfg.n_layers):
            for j in range(cfg.layers[l]):
                kernels._paper_row_planes(self.hid, self.off[l, 0], self.wpos, self.wnz,
                                          self.off[l, 1], self.dims[l, 0], self.dims[l, 2], j)
        self.set_accuracy(0.0)

    def set_accuracy(self, train_accuracy):
        """p_l = p_r * sqrt(1 - A) * sqrt(2 / (pi * N_{l-1}))."""
        c = self.cfg
        self.probs[:] = [c.p_reinforce * math.sqrt(1.0 - train_accuracy)
                         * math.sqrt(2.0 / (math.pi * c.fan_in(l))) for l in range(c.n_layers)]

    def _train_kernel(self, Xw, Xb, Y, order, preds):
        return kernels.paper_train(Xw, Xb, Y, order, self.dims, self.off, self.hid, self.delta,
                                   self.touched, self.wpos, self.wnz, self.rcls, self.h,
                                   self.aval, self.apos, self.anz, self.scores, self.updated,
                                   self.probs, self.ctrl, self.cfg.batch, self.first_nz,
                                   self.rng, preds)

    def _infer_kernel(self, Xw, Xb, preds):
        kernels.paper_infer(Xw, self.dims, self.off, self.wpos, self.wnz, self.rcls, self.h,
                            self.aval, self.apos, self.anz, self.scores, self.first_nz, preds)

    def _activations(self, l):
        o, N = self.off[l, 3], self.dims[l, 1]
        return self.aval[o:o + N].copy()

    def end_epoch(self):
        """Apply a partial last mini-batch."""
        if self.ctrl[1]:
            kernels.paper_apply(self.dims, self.off, self.hid, self.delta, self.touched,
                                self.wpos, self.wnz, self.updated, self.probs, self.ctrl,
                                self.rng)

    def state(self):
        """Copies of every layer's hidden weights H_l, int32 arrays of shape (N_l, N_{l-1})."""
        return [self._layer(self.hid, l, 0).copy() for l in range(self.cfg.n_layers)]


def make_model(cfg, variant="hw", seed=None, sweep="sparse"):
    """A model of ``variant``; ``sweep`` chooses the hw variant's sweep (ignored by paper)."""
    if variant == "hw":
        return HwModel(cfg, seed, sweep)
    if variant == "paper":
        return PaperModel(cfg, seed)
    raise ValueError(f"unknown variant {variant!r}; choose one of {', '.join(VARIANTS)}")
