"""The spec v2 sparse reinforcement sweep (docs/hw-spec.md §7–8).

* The golden model's Numba kernel equals the plain reference (``prng.sweep_row``) bit for bit.
* The walk's statistics: every weight is reinforced with the probability ``p`` the skip table
  was made for, uniformly over its position (including the position mod 64 and the row's
  tail), independently of its neighbours, of the weight 64 further on, of the other rows and
  of the next sweep.

Expected values come from :func:`exact_rates`, an exact computation of the walk's per-position
probabilities from the table alone (a renewal process: after a reinforced weight or a skip the
walk starts afresh), so the statistical tests compare the kernel with the spec's text rather
than with another implementation of it; a second check bounds the table's quantisation (how far
these exact probabilities are from ``p``).
"""

import math

import numpy as np
import pytest

from xnorlearn.sw import kernels, prng, reference
from xnorlearn.sw.config import Config
from xnorlearn.sw.model import HwModel

S = prng.SWEEP_SKIP


def table_for(p, prob_bits):
    """``prng.reinforce_table`` for a layer whose probability is ``p`` (fan-in 1, p_r = 1,
    accuracy chosen so that ``p_r * sqrt(1 - A) * sqrt(2 / pi) = p``), and that exact ``p``."""
    a = 1.0 - (p / math.sqrt(2.0 / math.pi)) ** 2
    return prng.reinforce_table(1.0, a, 1, prob_bits), prng.reinforce_probability(1.0, a, 1)


def quantisation_bound(p, prob_bits):
    """How far a weight's probability may be from ``p`` because the table has ``b``-bit
    entries: about ``2^-b``, plus ``64 p^2 2^-b`` once the last entries saturate at
    ``2^b - 1`` (a ``2^-b`` chance of skipping 64 weights that should see ``64 p``)."""
    return (1.1 + 64 * p * p) / (1 << prob_bits)


def exact_rates(table, prob_bits, fan_in):
    """Probability that each position of a row is reinforced, straight from the spec's walk:
    from a start ``s`` the draw gives ``m`` with probability ``(C[m] - C[m-1]) / 2^b``
    (reinforce ``s + m``, restart at ``s + m + 1``) or a skip with ``1 - C[63] / 2^b``
    (restart at ``s + 64``)."""
    one = float(1 << prob_bits)
    pm = [(table[m] - (table[m - 1] if m else 0)) / one for m in range(S)]
    pskip = 1.0 - table[S - 1] / one
    start = np.zeros(fan_in + S + 1)
    start[0] = 1.0
    rate = np.zeros(fan_in)
    for s in range(fan_in):
        w = start[s]
        if w == 0.0:
            continue
        for m in range(S):
            if s + m < fan_in:
                rate[s + m] += w * pm[m]
            start[s + m + 1] += w * pm[m]
        start[s + S] += w * pskip
    return rate


def sweep_key(n, layer=0, seed=7):
    return prng.stream_key(seed, layer, prng.STREAM_REINFORCE, n)


def run_sweeps(table, prob_bits, fan_in, rows, n_sweeps, first=0):
    """Reinforced masks of ``n_sweeps`` kernel sweeps (keys of sweeps first, first + 1, …) on
    a layer whose counters start at 0 before each: bool (n_sweeps, rows, fan_in)."""
    t = np.asarray(table, dtype=np.int64)
    out = np.zeros((n_sweeps, rows, fan_in), dtype=bool)
    cnt = np.zeros(rows * fan_in, dtype=np.int16)
    for k in range(n_sweeps):
        cnt[:] = 0
        kernels.hw_sweep(cnt, 0, fan_in, rows, sweep_key(first + k), t, prob_bits, -32768, 32767)
        out[k] = cnt.reshape(rows, fan_in) > 0
    return out


def count_sweeps(table, prob_bits, fan_in, rows, n_sweeps):
    """How often each weight was reinforced over ``n_sweeps`` kernel sweeps (counters start at
    0 and count up: a reinforcement of ``c >= 0`` is ``c + 1``)."""
    t = np.asarray(table, dtype=np.int64)
    cnt = np.zeros(rows * fan_in, dtype=np.int16)
    for k in range(n_sweeps):
        kernels.hw_sweep(cnt, 0, fan_in, rows, sweep_key(k), t, prob_bits, -32768, 32767)
    assert cnt.max() < 32767
    return cnt.reshape(rows, fan_in).astype(np.int64)


# ------------------------------------------------------------------------------ bit-exactness
FANS = (1, 2, 37, 63, 64, 65, 127, 128, 200)


@pytest.mark.parametrize("prob_bits", (8, 12, 16))
def test_kernel_equals_reference_walk(prob_bits):
    rng = np.random.default_rng(prob_bits)
    top = (1 << prob_bits) - 1
    tables = [table_for(p, prob_bits)[0] for p in (1e-4, 0.0142, 0.05, 0.3, 0.79)]
    tables += [(0,) * S, (top,) * S, tuple(range(0, top, top // S))[:S],
               (0,) * 5 + (top,) * (S - 5), (0,) * (S - 1) + (1,)]
    seen = 0
    for table in tables:
        t = np.array(table, dtype=np.int64)
        for fan_in in FANS:
            for _ in range(4):
                key = int(rng.integers(0, 1 << 32))
                rows = 3
                cnt = np.zeros(rows * fan_in, dtype=np.int16)
                kernels.hw_sweep(cnt, 0, fan_in, rows, key, t, prob_bits, -32768, 32767)
                for j in range(rows):
                    want = prng.sweep_row(key, j, fan_in, table, prob_bits)
                    got = list(np.flatnonzero(cnt[j * fan_in:(j + 1) * fan_in]))
                    assert got == want, (table[:3], fan_in, key, j)
                    assert all(0 <= i < fan_in for i in want)
                    assert want == sorted(set(want))
                    seen += len(want)
    assert seen > 1000


def test_kernel_equals_reference_with_saturation_and_offsets():
    """Whole layers inside a bigger flat buffer (offset ``oc``), narrow counters at both ends:
    the kernel equals ``reference.reinforce_sweep`` and never changes a sign."""
    rng = np.random.default_rng(5)
    for bits in (2, 3, 4, 8):
        cmin, cmax = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
        for fan_in, rows in ((200, 5), (37, 9), (64, 4), (1, 6)):
            for p in (0.0142, 0.4, 0.79):
                table, _ = table_for(p, 16)
                c = rng.integers(cmin, cmax + 1, (rows, fan_in)).astype(np.int16)
                c[0, :] = cmax
                c[-1, :] = cmin
                key = int(rng.integers(0, 1 << 32))
                want = reference.reinforce_sweep(c, key, table, 16, cmin, cmax)
                flat = np.concatenate([np.full(13, 5, np.int16), c.ravel(),
                                       np.full(11, -5, np.int16)])
                kernels.hw_sweep(flat, 13, fan_in, rows, key, np.array(table), 16, cmin, cmax)
                got = flat[13:13 + rows * fan_in].reshape(rows, fan_in)
                assert (got == want).all()
                assert (flat[:13] == 5).all() and (flat[-11:] == -5).all()
                assert ((got >= 0) == (c >= 0)).all(), "a sweep changed a sign"
                assert (got[0] == cmax).all() and (got[-1] == cmin).all()
                d = got.astype(int) - c
                assert set(np.unique(d)) <= {-1, 0, 1}
                assert (d[c >= 0] >= 0).all() and (d[c < 0] <= 0).all()


def test_zero_table_reinforces_nothing():
    zero = np.zeros(S, dtype=np.int64)
    assert prng.reinforce_table(0.0, 0.3, 784, 16) == (0,) * S
    assert prng.reinforce_table(0.5, 1.0, 784, 16) == (0,) * S
    for fan_in in FANS:
        cnt = np.zeros(4 * fan_in, dtype=np.int16)
        for n in range(50):
            kernels.hw_sweep(cnt, 0, fan_in, 4, sweep_key(n), zero, 16, -128, 127)
            assert prng.sweep_row(sweep_key(n), 1, fan_in, zero, 16) == []
        assert not cnt.any()
    cfg = Config(n_inputs=40, layers=(20, 10), n_classes=3, group_sizes=5, batch=3,
                 p_reinforce=0.0, seed=2)
    m = HwModel(cfg)
    assert not m.tables.any()
    rng = np.random.default_rng(0)
    X, Y = rng.integers(0, 2, (60, 40)).astype(np.uint8), rng.integers(0, 3, 60)
    ref = reference.ReferenceHwModel(cfg)
    for x, y in zip(X, Y):
        ref.train_sample(x, y)
    m.train(X, Y)
    assert all((a == b).all() for a, b in zip(m.state(), ref.counters))


def test_full_table_reinforces_all_but_the_top_draw():
    """``C[m] = 2^b - 1`` for all m: every draw but ``u = 2^b - 1`` reinforces the next weight
    (m = 0); ``u = 2^b - 1`` skips 64 weights."""
    b = 8
    table = ((1 << b) - 1,) * S
    key = sweep_key(3)
    for j in range(200):
        r = prng.hash32(key ^ j)
        want, pos, t = [], 0, 0
        while pos < 300:
            u = prng.hash32(r ^ (t * 0x9E3779B9 % 2**32)) >> (32 - b)
            t += 1
            if u == (1 << b) - 1:
                pos += S
            else:
                want.append(pos)
                pos += 1
        assert prng.sweep_row(key, j, 300, table, b) == want


# ------------------------------------------------------------------------------ tables
@pytest.mark.parametrize("prob_bits", (8, 12, 16))
def test_tables_are_valid_and_close_to_p(prob_bits):
    one = 1 << prob_bits
    for fan_in in (1, 35, 75, 135, 784, 1035):
        for acc in (0.0, 0.3, 0.9, 0.999, 1.0):
            t = prng.reinforce_table(0.5, acc, fan_in, prob_bits)
            prng.check_tables([t], 1, prob_bits)           # nondecreasing, in range
            p = prng.reinforce_probability(0.5, acc, fan_in)
            for m in range(S):       # C[m] / 2^b is P(next reinforced weight <= m ahead)
                assert abs(t[m] / one - (1 - (1 - p) ** (m + 1))) < 1 / one + 1e-12
    # exact per-position probabilities of the walk stay within the quantisation of p
    for p in (0.001, 0.002, 0.0142, 0.03, 0.05, 0.1, 0.2, 0.3, 0.5, 0.79):
        table, p = table_for(p, prob_bits)
        rates = exact_rates(table, prob_bits, 300)
        assert np.abs(rates - p).max() < quantisation_bound(p, prob_bits), (p, rates)


# ------------------------------------------------------------------------------ statistics
Z = 5.0      # bounds: 5 standard deviations


def binomial_ok(count, trials, prob):
    """``count`` successes in ``trials`` within Z sigma of ``prob``."""
    mean, sd = trials * prob, math.sqrt(trials * prob * (1 - prob))
    return abs(count - mean) <= Z * sd


@pytest.mark.parametrize("p,fan_in,rows,sweeps", [
    (0.002, 200, 50, 20000),
    (0.0142, 200, 50, 8000),      # the 784-input layer's p at A = 0
    (0.05, 200, 50, 3000),
    (0.3, 200, 50, 600),
    (0.0142, 37, 100, 8000),      # fan-in below 64: every row is all "tail"
])
def test_reinforcement_rate_matches_p_uniformly(p, fan_in, rows, sweeps):
    b = 16
    table, p = table_for(p, b)
    counts = count_sweeps(table, b, fan_in, rows, sweeps)
    exact = exact_rates(table, b, fan_in)
    per_pos = counts.sum(axis=0)              # trials per position: rows * sweeps
    n = rows * sweeps
    # overall rate against p (allowing the table's quantisation, bounded above)
    total, trials = int(counts.sum()), n * fan_in
    quant = np.abs(exact - p).max()
    sd = math.sqrt(trials * p * (1 - p))
    assert abs(total - trials * p) <= Z * sd + trials * quant, (total / trials, p)
    # ... and against the exact walk probabilities, with no allowance
    assert binomial_ok(total, trials, exact.mean())
    # every position (incl. the tail after the last multiple of 64)
    z = (per_pos - n * exact) / np.sqrt(n * exact * (1 - exact))
    assert np.abs(z).max() <= Z, (int(np.abs(z).argmax()), float(np.abs(z).max()))
    chi2 = float((z ** 2).sum())                # ~ chi-square with fan_in degrees of freedom
    assert abs(chi2 - fan_in) <= Z * math.sqrt(2 * fan_in), chi2
    # by position mod 64, and the tail as a whole
    for r in range(min(S, fan_in)):
        pos = np.arange(r, fan_in, S)
        assert binomial_ok(int(per_pos[pos].sum()), n * len(pos), float(exact[pos].mean()))
    tail = np.arange(fan_in - fan_in % S if fan_in % S else fan_in - S, fan_in)
    tail_count, tail_trials = int(per_pos[tail].sum()), n * len(tail)
    assert binomial_ok(tail_count, tail_trials, float(exact[tail].mean()))
    assert abs(tail_count - tail_trials * p) <= (Z * math.sqrt(tail_trials * p * (1 - p))
                                                 + tail_trials * quant)
    # every row equally (row keys)
    per_row = counts.sum(axis=1)
    zr = (per_row - sweeps * exact.sum()) / np.sqrt(sweeps * (exact * (1 - exact)).sum())
    assert np.abs(zr).max() <= Z


def joint_ok(joint, trials, prob, label):
    mean = trials * prob
    assert abs(joint - mean) <= Z * math.sqrt(mean) + 1, (label, joint, mean)


@pytest.mark.parametrize("p,sweeps", [(0.0142, 6000), (0.05, 2000), (0.3, 300)])
def test_pairs_are_independent(p, sweeps):
    """Joint rates of pairs equal the product of their rates (≈ p²): neighbours, weights 64
    apart, the same column in two rows, the same weight in consecutive sweeps n and n + 1."""
    b, fan_in, rows = 16, 200, 40
    table, p = table_for(p, b)
    exact = exact_rates(table, b, fan_in)
    masks = run_sweeps(table, b, fan_in, rows, sweeps + 1)
    cur, nxt = masks[:-1], masks[1:]
    for d, label in ((1, "adjacent"), (2, "two apart"), (S - 1, "63 apart"),
                     (S, "64 apart"), (S + 1, "65 apart")):
        joint = int((cur[:, :, :-d] & cur[:, :, d:]).sum())
        # a renewal after the first: P(i and i + d) = rate(i) * rate(d - 1) of a fresh row
        want = float((exact[:-d] * exact[d - 1]).sum()) * rows * sweeps
        joint_ok(joint, 1, want, label)
        assert abs(exact[d - 1] - p) < quantisation_bound(p, b)      # ... which is ≈ p * p
    joint = int((cur[:, :-1, :] & cur[:, 1:, :]).sum())
    joint_ok(joint, sweeps * (rows - 1), float((exact ** 2).sum()), "same column, rows j, j+1")
    joint = int((cur[:, 0, :] & cur[:, rows // 2, :]).sum())
    joint_ok(joint, sweeps, float((exact ** 2).sum()), "same column, rows 0 and N/2")
    joint = int((cur & nxt).sum())
    joint_ok(joint, sweeps * rows, float((exact ** 2).sum()), "same weight, sweeps n, n+1")
    # the other layer's sweep at the same n has its own key: independent too
    other = np.zeros(rows * fan_in, dtype=np.int16)
    both = 0
    for k in range(sweeps):
        other[:] = 0
        kernels.hw_sweep(other, 0, fan_in, rows, sweep_key(k, layer=1), np.array(table), b,
                         -32768, 32767)
        both += int((cur[k] & (other.reshape(rows, fan_in) > 0)).sum())
    joint_ok(both, sweeps * rows, float((exact ** 2).sum()), "same weight, layers 0 and 1")


def test_statistics_catch_a_wrong_walk():
    """The statistical tests are sharp enough to fail for an off-by-one in the skip: a walk
    that skips 63 or 65 weights instead of 64 puts some position's expected count more than
    2 x 5 sigma away from the spec's at the sizes of test_reinforcement_rate_matches_p_uniformly
    (whose per-position bound is 5 sigma)."""
    b, fan_in = 16, 200
    for p, sweeps, rows in ((0.002, 20000, 50), (0.0142, 8000, 50)):
        table, p = table_for(p, b)
        right = exact_rates(table, b, fan_in)
        one = float(1 << b)
        pm = [(table[m] - (table[m - 1] if m else 0)) / one for m in range(S)]

        def walk(skip):
            start, rate = np.zeros(fan_in + 200), np.zeros(fan_in)
            start[0] = 1.0
            for s in range(fan_in):
                for m in range(S):
                    if s + m < fan_in:
                        rate[s + m] += start[s] * pm[m]
                    start[s + m + 1] += start[s] * pm[m]
                start[s + skip] += start[s] * (1 - table[S - 1] / one)
            return rate

        n = rows * sweeps                    # trials per position
        assert np.allclose(walk(S), right)
        for wrong in (walk(S + 1), walk(S - 1)):
            z = np.abs(wrong - right) * n / np.sqrt(n * right * (1 - right))
            assert z.max() > 2 * Z, z.max()
