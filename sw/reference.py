"""Slow, obviously-correct reference of every hw-variant primitive (docs/hw-spec.md).

Plain unpacked integer arithmetic on ±1 values, one element at a time where that is clearer.
The fast golden model (``xnorlearn.sw.model``) and the gateware blocks are tested against these
functions; nothing here is optimised and nothing here should be.

Bit vectors are 0/1 integer arrays (1 means +1). Counters are signed integers.
"""

import numpy as np

from . import prng

__all__ = [
    "pm1", "preactivations", "activations", "scores", "decision", "wrong_neurons",
    "select_in_groups", "saturate", "update_counters", "reinforce", "reinforce_sweep",
    "reinforce_sweep_dense", "layer_learns",
    "init_layer", "ReferenceHwModel",
]


def pm1(bits):
    """0/1 bits -> -1/+1 ints."""
    return 2 * np.asarray(bits, dtype=np.int64) - 1


def preactivations(a_bits, w_bits):
    """``h[j] = sum_i a_i * w[j, i]`` on ±1 values; ``w_bits`` has shape (N, F)."""
    a, w = pm1(a_bits), pm1(w_bits)
    return np.array([int(sum(int(a[i]) * int(w[j, i]) for i in range(len(a))))
                     for j in range(w.shape[0])], dtype=np.int64)


def activations(h):
    """``a = 1 iff h >= 0``."""
    return (np.asarray(h) >= 0).astype(np.uint8)


def scores(a_bits, r_bits):
    """``s[q] = sum_j a_j * R[j, q]`` on ±1 values; ``r_bits`` has shape (N, C)."""
    a, r = pm1(a_bits), pm1(r_bits)
    return np.array([sum(int(a[j]) * int(r[j, q]) for j in range(len(a)))
                     for q in range(r.shape[1])], dtype=np.int64)


def decision(s):
    """(argmax with lowest index on ties, top1 - top2 margin)."""
    s = [int(v) for v in s]
    best = 0
    for q in range(1, len(s)):
        if s[q] > s[best]:
            best = q
    ordered = sorted(s, reverse=True)
    return best, ordered[0] - ordered[1]


def layer_learns(s, y, margin_threshold):
    pred, margin = decision(s)
    return pred != y or margin < margin_threshold


def wrong_neurons(h, tau_bits):
    """Boolean per neuron: ``h * tau < 0`` strictly (tau as ±1)."""
    return np.array([int(hj) * (2 * int(t) - 1) < 0 for hj, t in zip(h, tau_bits)], dtype=bool)


def select_in_groups(h, tau_bits, group_size):
    """Chosen neuron indices: per group, the wrong neuron of smallest |h|, lowest index on ties."""
    wrong = wrong_neurons(h, tau_bits)
    chosen = []
    for g0 in range(0, len(h), group_size):
        best = None
        for j in range(g0, g0 + group_size):
            if wrong[j] and (best is None or abs(int(h[j])) < abs(int(h[best]))):
                best = j
        if best is not None:
            chosen.append(best)
    return chosen


def saturate(v, cmin, cmax):
    return max(cmin, min(cmax, int(v)))


def update_counters(c, chosen, a_bits, tau_bits, cmin, cmax):
    """Online update of the chosen neurons' counters: ``c += (a_i == tau_j) ? +1 : -1``, saturating.
    Returns a new array."""
    c = np.array(c, dtype=np.int64, copy=True)
    for j in chosen:
        for i in range(c.shape[1]):
            step = 1 if int(a_bits[i]) == int(tau_bits[j]) else -1
            c[j, i] = saturate(c[j, i] + step, cmin, cmax)
    return c


def reinforce(c, cmin, cmax):
    """One reinforcement of one counter: a step away from zero (``H <- H + 2 sgn(H)``),
    saturating."""
    return saturate(c + (1 if c >= 0 else -1), cmin, cmax)


def reinforce_sweep(c, key, table, prob_bits, cmin, cmax):
    """One reinforcement sweep (spec §7): in every row ``j`` the inputs
    ``prng.sweep_row(key, j, F, table, prob_bits)``. Returns a new array."""
    c = np.array(c, dtype=np.int64, copy=True)
    n, f = c.shape
    for j in range(n):
        for i in prng.sweep_row(key, j, f, table, prob_bits):
            c[j, i] = reinforce(c[j, i], cmin, cmax)
    return c


def reinforce_sweep_dense(c, key, threshold, prob_bits, cmin, cmax):
    """Spec v1's dense sweep (one draw per weight, reinforced iff its top ``b`` bits are below
    ``threshold``), kept to check the golden model's v1 kernel. Returns a new array."""
    c = np.array(c, dtype=np.int64, copy=True)
    n, f = c.shape
    for j in range(n):
        for i in range(f):
            u = prng.draw(key, j * f + i) >> (32 - prob_bits)
            if u < threshold:
                c[j, i] = reinforce(c[j, i], cmin, cmax)
    return c


def init_layer(cfg, layer, seed):
    """(counters (N, F), classifier bits (N, C)) of one layer after init(seed), spec §4."""
    f, n, ncls = cfg.fan_in(layer), cfg.layers[layer], cfg.n_classes
    ki = prng.stream_key(seed, layer, prng.STREAM_INIT)
    kr = prng.stream_key(seed, layer, prng.STREAM_CLASSIFIER)
    c = np.zeros((n, f), dtype=np.int64)
    r = np.zeros((n, ncls), dtype=np.uint8)
    for j in range(n):
        for i in range(f):
            c[j, i] = int(prng.init_counter_from_draw(prng.draw(ki, j * f + i), cfg.counter_bits))
        for q in range(ncls):
            r[j, q] = prng.classifier_bit_from_draw(prng.draw(kr, j * ncls + q))
    return c, r


class ReferenceHwModel:
    """The whole hw variant, step by step, straight from the spec. Slow: use small networks."""

    def __init__(self, cfg, seed=None):
        self.cfg = cfg
        self.seed = cfg.seed if seed is None else seed
        layers = [init_layer(cfg, l, self.seed) for l in range(cfg.n_layers)]
        self.counters = [c for c, _ in layers]
        self.classifiers = [r for _, r in layers]
        self.batch_number = 0
        self.since_boundary = 0
        self.updated = [False] * cfg.n_layers
        self.tables = [prng.reinforce_table(cfg.p_reinforce, 0.0, cfg.fan_in(l), cfg.prob_bits)
                       for l in range(cfg.n_layers)]

    def forward(self, x_bits):
        a = np.asarray(x_bits, dtype=np.uint8)
        trace = []
        for l in range(self.cfg.n_layers):
            w = (self.counters[l] >= 0).astype(np.uint8)
            h = preactivations(a, w)
            out = activations(h)
            s = scores(out, self.classifiers[l])
            trace.append({"input": a, "h": h, "a": out, "s": s})
            a = out
        return trace

    def infer(self, x_bits):
        return decision(self.forward(x_bits)[-1]["s"])[0]

    def train_sample(self, x_bits, y):
        cfg = self.cfg
        trace = self.forward(x_bits)
        for l, t in enumerate(trace):
            if not layer_learns(t["s"], y, cfg.margin_threshold(l)):
                continue
            tau = self.classifiers[l][:, y]
            chosen = select_in_groups(t["h"], tau, cfg.group_sizes[l])
            if chosen:
                self.counters[l] = update_counters(self.counters[l], chosen, t["input"], tau,
                                                   cfg.counter_min, cfg.counter_max)
                self.updated[l] = True
        self.since_boundary += 1
        if self.since_boundary == cfg.batch:
            self.boundary()
        return decision(trace[-1]["s"])[0]

    def boundary(self):
        cfg = self.cfg
        for l in range(cfg.n_layers):
            if self.updated[l]:
                key = prng.stream_key(self.seed, l, prng.STREAM_REINFORCE, self.batch_number)
                self.counters[l] = reinforce_sweep(self.counters[l], key, self.tables[l],
                                                   cfg.prob_bits, cfg.counter_min, cfg.counter_max)
        self.updated = [False] * cfg.n_layers
        self.batch_number = (self.batch_number + 1) & prng.MASK32
        self.since_boundary = 0

    def end_epoch(self):
        if self.since_boundary:
            self.boundary()

    def set_tables(self, tables):
        """Every layer's skip table (spec §8), e.g. ``HwModel.tables``."""
        self.tables = [tuple(int(v) for v in t) for t in tables]
