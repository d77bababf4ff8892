"""Golden model against the slow, obviously-correct reference (xnorlearn.sw.reference)."""

import numpy as np
import pytest

from xnorlearn.sw import kernels, prng, reference
from xnorlearn.sw.config import Config
from xnorlearn.sw.model import HwModel, PaperModel, compare_states, pack_bits


def rand_bits(rng, *shape):
    return rng.integers(0, 2, shape).astype(np.uint8)


# ------------------------------------------------------------------------------ PRNG
def test_hash32_three_implementations_agree():
    rng = np.random.default_rng(1)
    a = np.concatenate([rng.integers(0, 2**32, 20000, dtype=np.uint64),
                        np.array([0, 1, 2**31, 2**32 - 1], dtype=np.uint64)])
    vec = prng.hash32_np(a.astype(np.uint32))
    for v, h in zip(a[:2000], vec[:2000]):
        assert prng.hash32(int(v)) == int(h) == int(prng.hash32_nb(np.uint64(v)))
    # regression values: these are in docs/hw-spec.md's PRNG and the gateware tests use them
    assert [prng.hash32(i) for i in range(3)] == [0x6B4ED927, 0xB48681B6, 0xE267B84C]


def test_stream_keys_and_draws():
    k = prng.stream_key(42, 1, prng.STREAM_REINFORCE, 7)
    expect = prng.hash32(prng.hash32(prng.hash32(42) ^ ((2 << 16) | 1)) ^ 7)
    assert k == expect == int(kernels.stream_key_nb(42, 1, 2, 7))
    idx = np.arange(1000)
    assert list(prng.draw_np(k, idx)) == [prng.draw(k, int(i)) for i in idx]
    with pytest.raises(ValueError):
        prng.stream_key(1, -1, 0)


def test_init_distribution_matches_paper_std():
    u = prng.draw_np(prng.stream_key(3, 0, prng.STREAM_INIT), np.arange(200_000))
    H = 2 * prng.init_counter_from_draw(u, 8) + 1
    assert abs(H.std() - 64.0) < 0.5 and abs(H.mean()) < 0.5
    assert H.min() >= -189 and H.max() <= 189 and (H % 2 != 0).all()
    # narrow counters clamp
    c4 = prng.init_counter_from_draw(u, 4)
    assert c4.min() == -8 and c4.max() == 7


def test_reinforce_threshold_arithmetic():
    import math
    want = math.floor(0.5 * math.sqrt(1 - 0.8) * math.sqrt(2 / (math.pi * 784)) * 65536)
    assert prng.reinforce_threshold(0.5, 0.8, 784, 16) == want == 417
    assert prng.reinforce_threshold(0.5, 1.0, 784, 16) == 0
    assert prng.reinforce_threshold(1.0, 0.0, 1, 8) == math.floor(math.sqrt(2 / math.pi) * 256)
    with pytest.raises(ValueError):
        prng.reinforce_threshold(0.5, 1.5, 10, 16)


# ------------------------------------------------------------------------------ primitives
def test_pack_bits_little_endian():
    rng = np.random.default_rng(2)
    for width in (1, 63, 64, 65, 130):
        bits = rand_bits(rng, 5, width)
        words = pack_bits(bits)
        assert words.shape == (5, -(-width // 64))
        for s in range(5):
            for i in range(width):
                assert (int(words[s, i // 64]) >> (i % 64)) & 1 == bits[s, i]
            pad = words.shape[1] * 64 - width
            if pad:
                assert int(words[s, -1]) >> (64 - pad) == 0


def test_decision_ties_against_reference():
    rng = np.random.default_rng(3)
    for _ in range(10_000):
        c = int(rng.integers(2, 12))
        s = rng.integers(-3, 4, c).astype(np.int64)     # few values: many ties
        assert tuple(kernels._decide(s, c)) == reference.decision(s)
    assert tuple(kernels._decide(np.array([5, 5, 5]), 3)) == (0, 0)


CONFIGS = [
    # (n_inputs, layers, classes, groups, counter_bits, batch, p_reinforce)
    (70, (12, 6), 4, (4, 3), 3, 7, 1.0),        # narrow counters: saturation at both ends
    (64, (8,), 3, (1,), 4, 1, 1.0),             # gamma = 1, sweep after every sample
    (130, (10, 10, 5), 10, (10, 5, 5), 8, 50, 0.5),  # gamma = N, three layers, N0 > 2 words
    (1, (4,), 2, (2,), 2, 3, 1.0),              # single input bit, 2-bit counters
    (66, (64, 2), 2, (16, 2), 5, 11, 1.0),      # even fan-ins: h = 0 happens
]


@pytest.mark.parametrize("n0,layers,ncls,groups,bits,batch,pr", CONFIGS)
def test_hw_model_bit_exact_against_reference(n0, layers, ncls, groups, bits, batch, pr):
    cfg = Config(n_inputs=n0, layers=layers, n_classes=ncls, group_sizes=groups,
                 counter_bits=bits, batch=batch, p_reinforce=pr, seed=11)
    rng = np.random.default_rng(n0)
    n = 120
    X = rand_bits(rng, n, n0)
    Y = rng.integers(0, ncls, n)
    fast, ref = HwModel(cfg), reference.ReferenceHwModel(cfg)
    assert compare_states(ref.counters, fast.state()) is None
    for l in range(cfg.n_layers):
        assert (fast.classifier(l) == reference.pm1(ref.classifiers[l])).all()
    seen_zero_h = seen_min = seen_max = 0
    for t in range(n):
        traces = fast.forward(X[t])
        rtr = ref.forward(X[t])
        for l, (a, b) in enumerate(zip(traces, rtr)):
            assert (a.h == b["h"]).all(), f"sample {t} layer {l}: h"
            assert (a.a == b["a"]).all() and (a.scores == b["s"]).all()
            assert (a.prediction, a.margin) == reference.decision(b["s"])
            seen_zero_h += int((a.h == 0).sum())
        p_fast, p_ref = fast.train_sample(X[t], Y[t]), ref.train_sample(X[t], Y[t])
        assert p_fast == p_ref
        mismatch = compare_states(ref.counters, fast.state())
        assert mismatch is None, f"sample {t}: {mismatch}"
        st = np.concatenate([s.ravel() for s in fast.state()])
        seen_min += int((st == cfg.counter_min).any())
        seen_max += int((st == cfg.counter_max).any())
        if t == n // 2:
            fast.set_accuracy(0.5)
            ref.set_tables(fast.tables)
    fast.end_epoch()
    ref.end_epoch()
    assert compare_states(ref.counters, fast.state()) is None
    assert fast.batch_number == ref.batch_number == -(-n // batch)
    if bits <= 4:
        assert seen_min and seen_max, "test did not reach saturation"
    if n0 == 66:
        assert seen_zero_h, "test did not exercise h = 0"


def test_dense_sweep_kernel_against_reference():
    """The v1 dense sweep (HwModel(sweep="dense"), accuracy comparisons only)."""
    rng = np.random.default_rng(4)
    for bits, thr in ((8, 0), (8, 20000), (3, 65535), (16, 300)):
        cmin, cmax = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
        c = rng.integers(cmin, cmax + 1, (7, 33)).astype(np.int16)
        key = int(rng.integers(0, 2**32))
        want = reference.reinforce_sweep_dense(c, key, thr, 16, cmin, cmax)
        got = c.ravel().copy()
        kernels.hw_sweep_dense(got, 0, 33, 7, key, thr, 16, cmin, cmax)
        assert (got.reshape(7, 33) == want).all()
        assert ((got.reshape(7, 33) >= 0) == (c >= 0)).all(), "a sweep changed a sign"
        if thr == 0:
            assert (got.reshape(7, 33) == c).all()


def test_selection_and_update_primitives():
    # directed cases for the reference itself (the fast model is checked against it above)
    h = np.array([3, -1, -5, 0, 2, 2, -2, 4])
    tau = np.array([0, 1, 1, 0, 0, 0, 1, 1])
    assert list(reference.wrong_neurons(h, tau)) == [True, True, True, False, True, True, True,
                                                     False]
    assert reference.select_in_groups(h, tau, 4) == [1, 4]
    assert reference.select_in_groups(h, tau, 8) == [1]
    assert reference.select_in_groups(h, tau, 1) == [0, 1, 2, 4, 5, 6]
    assert reference.select_in_groups(np.array([1, 1]), np.array([1, 1]), 2) == []
    c = np.array([[3, -4, 0]])
    assert reference.update_counters(c, [0], [1, 1, 0], [1], -4, 3).tolist() == [[3, -3, -1]]


def test_training_is_chunking_independent_and_deterministic():
    cfg = Config(n_inputs=100, layers=(20, 20), n_classes=5, group_sizes=5, batch=13, seed=5)
    rng = np.random.default_rng(6)
    X, Y = rand_bits(rng, 300, 100), rng.integers(0, 5, 300)
    for cls in (HwModel, PaperModel):
        a, b, c = cls(cfg), cls(cfg), cls(cfg.replace(seed=6))
        pa = a.train(X, Y)
        pb = np.concatenate([b.train(X, Y, np.arange(lo, min(lo + 37, 300)))
                             for lo in range(0, 300, 37)])
        assert (pa == pb).all()
        assert compare_states(a.state(), b.state()) is None
        c.train(X, Y)
        assert compare_states(a.state(), c.state()) is not None
    # lanes are a hardware parameter: never change the golden result
    h1, h32 = HwModel(cfg.replace(lanes=1)), HwModel(cfg.replace(lanes=32))
    assert (h1.train(X, Y) == h32.train(X, Y)).all()
    assert compare_states(h1.state(), h32.state()) is None


def test_compare_states_names_first_difference():
    a = [np.zeros((3, 4), np.int16), np.zeros((2, 3), np.int16)]
    b = [x.copy() for x in a]
    assert compare_states(a, b) is None
    b[1][1, 2] = 5
    b[1][0, 0] = -1
    m = compare_states(a, b)
    assert (m.layer, m.neuron, m.weight, m.expected, m.got) == (1, 0, 0, 0, -1)
    assert "layer 1 neuron 0 weight 0" in str(m)
    with pytest.raises(ValueError):
        compare_states(a, b[:1])


def test_load_state_round_trip_and_checks():
    cfg = Config(n_inputs=10, layers=(6,), n_classes=3, group_sizes=3, counter_bits=4)
    m = HwModel(cfg)
    st = [np.full((6, 10), -8, np.int16)]
    st[0][2, 3] = 7
    m.load_state(st)
    assert compare_states(st, m.state()) is None
    x = np.ones(10, np.uint8)
    assert (m.forward(x)[0].h[[0, 2]] == [-10, -8]).all()
    with pytest.raises(ValueError, match="outside"):
        m.load_state([np.full((6, 10), 8)])
    with pytest.raises(ValueError, match="shape"):
        m.load_state([np.zeros((10, 6))])


# ------------------------------------------------------------------------------ paper variant
def paper_reference_batch(H, R, X, Y, cfg):
    """Slow paper-variant mini-batch (no reinforcement): returns (new H list, predictions)."""
    H = [h.astype(np.int64).copy() for h in H]
    delta = [np.zeros_like(h) for h in H]
    preds = []
    for x, y in zip(X, Y):
        a = 2 * x.astype(np.int64) - 1
        for l in range(cfg.n_layers):
            h = np.array([sum(int(a[i]) * int(np.sign(H[l][j, i])) for i in range(len(a)))
                          for j in range(H[l].shape[0])])
            out = np.sign(h)
            s = out @ R[l]
            pred, margin = reference.decision(s)
            if pred != y or margin < cfg.margin_threshold(l):
                tau = R[l][:, y]
                g = cfg.group_sizes[l]
                for g0 in range(0, len(h), g):
                    best = None
                    for j in range(g0, g0 + g):
                        if h[j] * tau[j] < 0 and (best is None or abs(h[j]) < abs(h[best])):
                            best = j
                    if best is not None:
                        delta[l][best] += 2 * a * tau[best]
            a = out
        preds.append(pred)
    return [h + d for h, d in zip(H, delta)], preds


def test_paper_batch_against_reference():
    cfg = Config(n_inputs=40, layers=(12, 6), n_classes=4, group_sizes=(4, 3), batch=25,
                 p_reinforce=0.0, init_std=2.0, seed=9)   # small std: zero weights and h = 0
    rng = np.random.default_rng(7)
    X, Y = rand_bits(rng, 50, 40), rng.integers(0, 4, 50)
    m = PaperModel(cfg)
    R = [m.classifier(l).astype(np.int64) for l in range(cfg.n_layers)]
    assert any((r == 0).any() for r in R)      # ternary classifier entries exercised
    H = m.state()
    assert any((h == 0).any() for h in H)
    for lo in (0, 25):
        H, want = paper_reference_batch(H, R, X[lo:lo + 25], Y[lo:lo + 25], cfg)
        got = m.train(X, Y, np.arange(lo, lo + 25))
        assert list(got) == want
        assert compare_states(H, m.state()) is None


def test_paper_reinforcement_rate_and_signs():
    cfg = Config(n_inputs=200, layers=(50,), n_classes=2, group_sizes=1, batch=1,
                 p_reinforce=1.0, seed=3)
    m = PaperModel(cfg)
    m.probs[:] = 0.3
    before = m.state()[0].astype(np.int64)
    m.updated[:] = 1
    m.ctrl[1] = 1
    m.end_epoch()   # applies an (empty) batch and reinforces the layer
    after = m.state()[0].astype(np.int64)
    d = after - before
    assert set(np.unique(d)) <= {-2, 0, 2}
    assert (np.sign(after) == np.sign(before)).all()
    assert (d[before == 0] == 0).all()
    rate = (d != 0).sum() / (before != 0).sum()
    assert abs(rate - 0.3) < 0.02
    assert (d[before > 0] >= 0).all() and (d[before < 0] <= 0).all()


def test_paper_forward_ternary():
    cfg = Config(n_inputs=70, layers=(9, 7), n_classes=3, group_sizes=(3, 7), init_std=1.0)
    m = PaperModel(cfg)
    H = m.state()
    rng = np.random.default_rng(8)
    for _ in range(50):
        x = rand_bits(rng, 70)
        a = 2 * x.astype(np.int64) - 1
        for l, tr in enumerate(m.forward(x)):
            h = np.sign(H[l]).astype(np.int64) @ a
            assert (tr.h == h).all()
            a = np.sign(h)
            assert (tr.a == a).all()
            assert (tr.scores == a @ m.classifier(l)).all()


# ------------------------------------------------------------------------------ bad input
def test_model_rejects_bad_input():
    cfg = Config(n_inputs=10, layers=(6,), n_classes=3, group_sizes=3)
    for cls in (HwModel, PaperModel):
        m = cls(cfg)
        with pytest.raises(ValueError, match="10"):
            m.train_sample(np.zeros(9, np.uint8), 0)
        with pytest.raises(ValueError, match="0/1"):
            m.infer(np.full(10, 2))
        with pytest.raises(ValueError, match="labels"):
            m.train_sample(np.zeros(10, np.uint8), 3)
        with pytest.raises(ValueError, match="outside"):
            m.train(np.zeros((2, 10), np.uint8), [0, 1], order=[0, 2])
    with pytest.raises(ValueError, match="seed"):
        HwModel(cfg).init(-1)
    t = np.array([prng.reinforce_table(0.5, 0.0, 10, 16)])
    HwModel(cfg).set_tables(t)
    for bad, needle in ((t[:, :63], "shape"), (np.vstack([t, t]), "shape"),
                        (t + (65536 - t[0, 63]), "outside"), (t - t[0, 0] - 1, "outside"),
                        (t.astype(float), "integers"), (t[:, ::-1], "decreases")):
        with pytest.raises(ValueError, match=needle):
            HwModel(cfg).set_tables(bad)
    with pytest.raises(ValueError, match="sweep"):
        HwModel(cfg, sweep="sparce")
    with pytest.raises(ValueError, match="sparse"):
        HwModel(cfg, sweep="dense").set_tables(t)
    with pytest.raises(TypeError):
        HwModel({"n_inputs": 3})
