"""The project's counter-based PRNG (hw variant), in scalar Python, vectorised NumPy and Numba.

Every random value of the hw variant is ``draw(key, index) = hash32(key ^ index)`` where the key
names the purpose (seed, layer, stream, sweep number) and the index names the weight or
classifier entry. No generator state is carried from one draw to the next, so the values do not
depend on how many lanes the hardware has or in which order it visits the weights.
``docs/hw-spec.md`` is the normative text; this module is its reference implementation.

``hash32`` is Bob Jenkins' 32-bit "6-shift" integer hash: only additions, XORs and shifts,
which map onto iCE40/ECP5 carry chains without multipliers.
"""

import math

import numba
import numpy as np

__all__ = [
    "MASK32", "STREAM_INIT", "STREAM_CLASSIFIER", "STREAM_REINFORCE",
    "hash32", "hash32_np", "stream_key", "draw", "draw_np",
    "init_counter_from_draw", "classifier_bit_from_draw", "reinforce_threshold",
    "SWEEP_SKIP", "SWEEP_STRIDE", "reinforce_probability", "reinforce_table", "check_tables", "sweep_row",
    "STREAM_ORDER", "ORDER_ROUNDS", "ORDER_ROUND_SHIFT", "order_half_bits", "order_key",
    "order_index", "epoch_order",
]

MASK32 = 0xFFFF_FFFF

STREAM_INIT = 0          # initial hidden-weight counters
STREAM_CLASSIFIER = 1    # fixed random local classifiers R_l
STREAM_REINFORCE = 2     # reinforcement sweeps
STREAM_ORDER = 3         # epoch order of the training samples (n = epoch number)

# Initial counter: c = f0 + f1 + f2 - INIT_OFFSET, three 6-bit fields of one draw, so that
# H = 2c + 1 = 2(f0 + f1 + f2) - 189 is symmetric about 0 with std 64.0 (the paper's 64).
INIT_FIELD_BITS = 6
INIT_OFFSET = 95


def hash32(a):
    """Jenkins' 6-shift hash of a 32-bit unsigned integer (Python ints)."""
    a &= MASK32
    a = ((a + 0x7ED55D16) + (a << 12)) & MASK32
    a = ((a ^ 0xC761C23C) ^ (a >> 19)) & MASK32
    a = ((a + 0x165667B1) + (a << 5)) & MASK32
    a = ((a + 0xD3A2646C) ^ (a << 9)) & MASK32
    a = ((a + 0xFD7046C5) + (a << 3)) & MASK32
    a = ((a ^ 0xB55A4F09) ^ (a >> 16)) & MASK32
    return a


def hash32_np(a):
    """Vectorised :func:`hash32` on a uint32 array (wrap-around arithmetic)."""
    a = np.asarray(a, dtype=np.uint32)
    with np.errstate(over="ignore"):
        a = (a + np.uint32(0x7ED55D16)) + (a << np.uint32(12))
        a = (a ^ np.uint32(0xC761C23C)) ^ (a >> np.uint32(19))
        a = (a + np.uint32(0x165667B1)) + (a << np.uint32(5))
        a = (a + np.uint32(0xD3A2646C)) ^ (a << np.uint32(9))
        a = (a + np.uint32(0xFD7046C5)) + (a << np.uint32(3))
        a = (a ^ np.uint32(0xB55A4F09)) ^ (a >> np.uint32(16))
    return a


@numba.njit(cache=True, inline="always")
def hash32_nb(a):
    """:func:`hash32` for Numba kernels; ``a`` and the result are uint64 holding 32 bits."""
    m = np.uint64(MASK32)
    a = a & m
    a = ((a + np.uint64(0x7ED55D16)) + (a << np.uint64(12))) & m
    a = ((a ^ np.uint64(0xC761C23C)) ^ (a >> np.uint64(19))) & m
    a = ((a + np.uint64(0x165667B1)) + (a << np.uint64(5))) & m
    a = ((a + np.uint64(0xD3A2646C)) ^ (a << np.uint64(9))) & m
    a = ((a + np.uint64(0xFD7046C5)) + (a << np.uint64(3))) & m
    a = ((a ^ np.uint64(0xB55A4F09)) ^ (a >> np.uint64(16))) & m
    return a


def stream_key(seed, layer, stream, n=0):
    """Key of one stream of draws: ``hash32(hash32(hash32(seed) ^ (stream << 16 | layer)) ^ n)``.

    ``layer`` is the 0-based hidden-layer index, ``n`` the sweep (batch) number for
    :data:`STREAM_REINFORCE` and 0 otherwise.
    """
    if not (0 <= layer < 1 << 16 and 0 <= stream < 1 << 16 and 0 <= n <= MASK32):
        raise ValueError(f"stream_key argument out of range: layer={layer} stream={stream} n={n}")
    k = hash32(seed)
    k = hash32(k ^ ((stream << 16) | layer))
    return hash32(k ^ n)


def draw(key, index):
    """One 32-bit draw: ``hash32(key ^ index)``."""
    return hash32((key ^ index) & MASK32)


def draw_np(key, index):
    """Vectorised :func:`draw` over an index array."""
    return hash32_np(np.uint32(key) ^ np.asarray(index, dtype=np.uint32))


def init_counter_from_draw(u, counter_bits):
    """Initial counter value from a draw: ``u[31:26] + u[25:20] + u[19:14] - 95``, clamped to
    the counter range (only matters for counters narrower than 8 bits). Works on ints and arrays."""
    f = (u >> 26) & 63, (u >> 20) & 63, (u >> 14) & 63
    c = (np.asarray(f[0], dtype=np.int32) + np.asarray(f[1], dtype=np.int32)
         + np.asarray(f[2], dtype=np.int32) - INIT_OFFSET)
    lo, hi = -(1 << (counter_bits - 1)), (1 << (counter_bits - 1)) - 1
    return np.clip(c, lo, hi)


def classifier_bit_from_draw(u):
    """Classifier entry bit: 1 (+1) iff bit 31 of the draw is set."""
    return (u >> 31) & 1


def reinforce_probability(p_reinforce, train_accuracy, fan_in):
    """``p = p_r * sqrt(1 - A) * sqrt(2 / (pi * N))`` in IEEE double, in that order."""
    if not 0.0 <= train_accuracy <= 1.0:
        raise ValueError(f"training accuracy must be in [0, 1], got {train_accuracy}")
    return p_reinforce * math.sqrt(1.0 - train_accuracy) * math.sqrt(2.0 / (math.pi * fan_in))


def reinforce_threshold(p_reinforce, train_accuracy, fan_in, prob_bits):
    """Fixed-point reinforcement threshold of one layer for one epoch.

    ``T = floor(p_r * sqrt(1 - A) * sqrt(2 / (pi * N)) * 2**prob_bits)`` in IEEE double, in that
    order of operations, clamped to ``[0, 2**prob_bits - 1]``. A weight is reinforced iff the top
    ``prob_bits`` bits of its draw are ``< T``. ``A`` is last epoch's training accuracy (a
    fraction; 0 before the first epoch).
    """
    p = reinforce_probability(p_reinforce, train_accuracy, fan_in)
    t = math.floor(p * float(1 << prob_bits))
    return max(0, min(t, (1 << prob_bits) - 1))


# Sparse sweep (spec v2, docs/hw-spec.md §7): a row is walked by geometric skips of at most
# SWEEP_SKIP weights, one draw per skip, so a sweep costs draws in proportion to the number of
# reinforced weights plus a few per row.
SWEEP_SKIP = 64
# Draw t of a row is hashed at ``R ^ (t * SWEEP_STRIDE mod 2**32)`` rather than ``R ^ t``:
# hash32 mixes a flip of its low input bits poorly into its top bits, and draws at R ^ 0,
# R ^ 1, ... made the walk reinforce 2-4 % less often than p, with correlated neighbours.
# Stepping the index by this odd constant (2**32 / golden ratio; hardware adds it to an
# accumulator once per draw, no multiplier) removes both (tests/test_sweep_spec.py).
SWEEP_STRIDE = 0x9E3779B9


def reinforce_table(p_reinforce, train_accuracy, fan_in, prob_bits):
    """Skip table ``C[m] = floor(2**b * (1 - (1 - p)**(m + 1)))``, ``m < SWEEP_SKIP``, of one
    layer for one epoch (IEEE double, clamped to ``[0, 2**b - 1]``; nondecreasing).

    ``C[m] / 2**b`` is the probability that the next reinforced weight lies at most ``m``
    positions ahead when each weight is reinforced independently with probability ``p``
    (:func:`reinforce_probability`)."""
    p = reinforce_probability(p_reinforce, train_accuracy, fan_in)
    q, top = 1.0 - p, (1 << prob_bits) - 1
    return tuple(max(0, min(math.floor(float(1 << prob_bits) * (1.0 - q ** (m + 1))), top))
                 for m in range(SWEEP_SKIP))


def check_tables(tables, n_layers, prob_bits):
    """Every layer's skip table as an int64 ``(n_layers, SWEEP_SKIP)`` array, after checking the
    spec's rules: that shape, every entry in ``0 … 2**prob_bits - 1``, each table
    nondecreasing. ValueError naming the first broken rule otherwise."""
    S, top = SWEEP_SKIP, (1 << prob_bits) - 1
    try:
        t = np.asarray(tables)
        if t.dtype.kind not in "iu" or t.dtype == np.uint64 and t.size and t.max() > top:
            raise TypeError
        t = t.astype(np.int64)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"skip tables must be {n_layers} rows of {S} integers "
                         f"in 0 … {top}") from None
    if t.shape != (n_layers, S):
        raise ValueError(f"skip tables must have shape ({n_layers}, {S}) (layers x entries), "
                         f"got {t.shape}")
    bad = np.argwhere((t < 0) | (t > top))
    if len(bad):
        l, m = (int(v) for v in bad[0])
        raise ValueError(f"skip table of layer {l}: entry {m} is {t[l, m]}, outside 0 … {top} "
                         f"(prob_bits = {prob_bits})")
    bad = np.argwhere(np.diff(t, axis=1) < 0)
    if len(bad):
        l, m = (int(v) for v in bad[0])
        raise ValueError(f"skip table of layer {l} decreases: entry {m + 1} ({t[l, m + 1]}) "
                         f"< entry {m} ({t[l, m]})")
    return t


def sweep_row(key, row, fan_in, table, prob_bits):
    """The reinforced inputs of neuron ``row`` in the sweep with key ``key`` (spec v2 §7),
    in increasing order.

    Row key ``R = hash32(key ^ row)``; draws ``u_t = hash32(R ^ (t * SWEEP_STRIDE mod 2**32))
    >> (32 - b)``, t = 0, 1, …;
    the walk starts at ``pos = 0`` and, while ``pos < fan_in``: if ``u_t >= C[63]`` it skips
    ``SWEEP_SKIP`` weights, else the weight ``pos + m`` with ``m = min{m : u_t < C[m]}`` is
    reinforced (if it is ``< fan_in``) and the walk continues at ``pos + m + 1``."""
    r = hash32((key ^ row) & MASK32)
    shift, last = 32 - prob_bits, table[SWEEP_SKIP - 1]
    pos = w = 0                     # w = t * SWEEP_STRIDE mod 2**32 for draw t
    out = []
    while pos < fan_in:
        u = hash32(r ^ w) >> shift
        w = (w + SWEEP_STRIDE) & MASK32
        if u >= last:
            pos += SWEEP_SKIP
            continue
        m = 0
        while u >= table[m]:
            m += 1
        if pos + m < fan_in:
            out.append(pos + m)
        pos += m + 1
    return out


# Epoch order (docs/hw-spec.md §9): a keyed bijection of [0, n) that hardware evaluates from
# (seed, epoch, i) alone — a balanced Feistel network on 2h bits (4^h >= n) with hash32 round
# functions, cycle-walked back into [0, n).
ORDER_ROUNDS = 4
ORDER_ROUND_SHIFT = 24   # round r's function hashes K ^ (r << 24) ^ right half (h <= 16 bits)


def order_half_bits(n):
    """``h``: half the Feistel width, the least ``h >= 1`` with ``4**h >= n``."""
    if not 1 <= n <= MASK32:
        raise ValueError(f"an epoch order needs 1 <= n < 2**32 samples, got {n}")
    h = 1
    while 4 ** h < n:
        h += 1
    return h


def order_key(seed, epoch):
    """Key of one epoch's order: ``stream_key(seed, 0, STREAM_ORDER, epoch)``."""
    return stream_key(seed, 0, STREAM_ORDER, epoch)


def _feistel(key, x, h):
    mask = (1 << h) - 1
    left, right = x >> h, x & mask
    for r in range(ORDER_ROUNDS):
        f = hash32(key ^ (r << ORDER_ROUND_SHIFT) ^ right) >> (32 - h)
        left, right = right, left ^ f
    return (left << h) | right


def order_index(key, i, n):
    """Position ``i`` of the epoch order with key ``key`` over ``n`` samples: the Feistel
    permutation of ``[0, 4**h)`` applied to ``i`` and then again to its own result until the
    value is ``< n`` (cycle walking; it ends because ``i < n`` lies on the same cycle)."""
    if not 0 <= i < n:
        raise ValueError(f"index {i} outside 0 … {n - 1}")
    h = order_half_bits(n)
    x = _feistel(key, i, h)
    while x >= n:
        x = _feistel(key, x, h)
    return x


def epoch_order(seed, epoch, n):
    """The whole epoch order as an int64 array: ``[order_index(order_key(seed, epoch), i, n)
    for i in range(n)]``, vectorised (every round on every index still walking)."""
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    h = order_half_bits(n)
    key = np.uint32(order_key(seed, epoch))
    mask, shift = np.uint32((1 << h) - 1), np.uint32(32 - h)
    x = np.arange(n, dtype=np.uint32)
    walking = np.ones(n, dtype=bool)
    while walking.any():
        v = x[walking]
        left, right = v >> np.uint32(h), v & mask
        for r in range(ORDER_ROUNDS):
            f = hash32_np(key ^ np.uint32(r << ORDER_ROUND_SHIFT) ^ right) >> shift
            left, right = right, left ^ f
        x[walking] = (left << np.uint32(h)) | right
        walking = x >= n
    return x.astype(np.int64)
