"""The hw variant's epoch order (docs/hw-spec.md §9): a keyed bijection of [0, n) that the
chip computes from (seed, epoch, i)."""

import numpy as np
import pytest

from xnorlearn.sw import prng
from xnorlearn.sw.train import epoch_order


@pytest.mark.parametrize("block", range(6))
def test_bijection_for_every_n_up_to_3000(block):
    for n in range(1 + 500 * block, 501 + 500 * block):
        order = prng.epoch_order(7 + n, n % 5, n)
        assert np.array_equal(np.sort(order), np.arange(n)), n


@pytest.mark.parametrize("n", [50_000, 60_000, 1 << 16, (1 << 16) + 1])
def test_bijection_for_large_n(n):
    assert np.array_equal(np.sort(prng.epoch_order(42, 3, n)), np.arange(n))


def test_scalar_reference_equals_vectorised():
    for n in (1, 2, 5, 17, 100, 1797, 50_000):
        key = prng.order_key(11, 4)
        order = prng.epoch_order(11, 4, n)
        idx = range(n) if n < 2000 else range(0, n, 97)
        assert [prng.order_index(key, i, n) for i in idx] == [int(order[i]) for i in idx]


def test_feistel_pass_is_a_permutation_of_4_to_the_h():
    for h in (1, 3, 8):
        key = prng.order_key(5, 1)
        values = {prng._feistel(key, x, h) for x in range(4 ** h)}
        assert values == set(range(4 ** h))


def test_orders_differ_across_epochs_and_seeds():
    n = 1797
    base = prng.epoch_order(42, 0, n)
    others = [prng.epoch_order(42, e, n) for e in range(1, 6)]
    others += [prng.epoch_order(s, 0, n) for s in (0, 1, 43, 1 << 31)]
    for o in others:
        # two independent uniform orders agree in about one place; allow a few
        assert np.count_nonzero(o == base) < 10
    assert len({o.tobytes() for o in others + [base]}) == len(others) + 1


def test_order_looks_uniform():
    """Position of each sample over many epochs: mean near (n - 1) / 2, no sample stuck."""
    n, epochs = 1000, 400
    pos = np.zeros(n)
    first = np.zeros(n, dtype=int)
    for e in range(epochs):
        order = prng.epoch_order(9, e, n)
        pos[order] += np.arange(n)
        first[order[0]] += 1
    mean = pos / epochs
    # the mean position of one sample over 400 epochs has sd ~ 289 / 20 = 14.4
    assert abs(mean.mean() - (n - 1) / 2) < 1e-9
    assert np.abs(mean - (n - 1) / 2).max() < 6 * 14.4
    assert first.max() <= 4


def test_paper_variant_keeps_numpy_shuffle_and_hw_uses_the_spec():
    assert np.array_equal(epoch_order(3, 2, 100, "paper"),
                          np.random.default_rng([3, 2]).permutation(100))
    assert np.array_equal(epoch_order(3, 2, 100), prng.epoch_order(3, 2, 100))
    assert np.array_equal(epoch_order(3, 2, 100, "chip"), prng.epoch_order(3, 2, 100))


def test_out_of_range():
    with pytest.raises(ValueError):
        prng.order_half_bits(0)
    with pytest.raises(ValueError):
        prng.order_index(prng.order_key(1, 0), 10, 10)
    assert len(prng.epoch_order(1, 0, 0)) == 0
