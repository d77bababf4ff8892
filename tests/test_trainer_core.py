"""TrainerCore in Amaranth's simulator against the golden model, sample by sample.

The host link is replaced by a payload buffer (sim/core_harness.py); the UART path is covered by
the cocotb co-simulation. After every TRAIN the whole counter bank is peeked and compared with
``HwModel.state()``; predictions, INFER, END_EPOCH, INIT, skip tables (SET_THRESHOLDS),
counters and state access are checked too, and every bad argument must leave the state (and
the tables) untouched.
"""

import functools
import struct

import numpy as np
import pytest
from amaranth.sim import Simulator

from xnorlearn.hw.counters import PipelinedCounterBank
from xnorlearn.hw.trainer import Cmd, Status
from xnorlearn.sim.core_harness import CoreDriver, CoreHarness, pack_sample
from xnorlearn.sw import prng
from xnorlearn.sw.config import Config
from xnorlearn.sw.model import HwModel, compare_states


# the pipelined bank (read latency 4, rows of 8 words: several rows even for these tiny nets);
# "bram-seq": the plain bank with the sweep engine's sequential table search (the UP5K's)
BANKS = {"bram": None, "pipelined": functools.partial(PipelinedCounterBank, row_words=8),
         "bram-seq": None}


def run(cfg, bench, bank=None):
    h = CoreHarness(cfg, bank_cls=BANKS[bank] if bank else None,
                    sweep_search="sequential" if bank == "bram-seq" else None)
    sim = Simulator(h)
    sim.add_clock(1e-8)
    result = {}

    async def tb(ctx):
        result["value"] = await bench(CoreDriver(h, cfg, ctx), h)

    sim.add_testbench(tb)
    sim.run()
    return result.get("value")


def lockstep(d, gold, X, Y, *, epochs=1, seed=0, end_epoch=True):
    """Train golden model and core side by side; assert bit-exactness after every sample."""
    async def go():
        for e in range(epochs):
            order = np.random.default_rng([seed, e]).permutation(len(Y))
            for t, s in enumerate(order):
                p_hw = await d.train(X[s], Y[s])
                p_g = gold.train_sample(X[s], Y[s])
                mism = compare_states(gold.state(), d.peek_state())
                assert mism is None, f"epoch {e} sample {t}: {mism}"
                assert p_hw == p_g, f"epoch {e} sample {t}: prediction {p_hw} != {p_g}"
            if end_epoch:
                await d.end_epoch()
                gold.end_epoch()
                assert compare_states(gold.state(), d.peek_state()) is None
                acc = gold.train_accuracy
                gold.set_accuracy(acc)
                assert await d.set_tables(gold.tables) == Status.OK
                gold.reset_counters()
                await d.command(Cmd.RESET_COUNTERS)
    return go()


async def write_state_round_trip(d, gold, layer, neuron, first, vals):
    """WRITE_STATE on the core and the same values into the golden model: the states must
    agree, and READ_STATE must return the values."""
    assert await d.write_state(layer, neuron, first, vals) == Status.OK
    state = gold.state()
    state[layer][neuron, first:first + len(vals)] = vals
    gold.load_state(state)
    assert compare_states(gold.state(), d.peek_state()) is None
    assert await d.read_state(layer, neuron, first, len(vals)) == (Status.OK, list(vals))


CONFIGS = {
    # P does not divide N0, two layers, narrow counters (saturation), sweep every 5 samples
    "p8_n20_two_layers": Config(n_inputs=20, layers=(8, 6), n_classes=3, group_sizes=(4, 3),
                                counter_bits=3, batch=5, lanes=8, p_reinforce=1.0),
    # P = 1, gamma = 1 (every wrong neuron), three classes
    "p1_gamma1": Config(n_inputs=7, layers=(5,), n_classes=3, group_sizes=1, counter_bits=4,
                        batch=3, lanes=1, p_reinforce=1.0),
    # P > N0 (one beat), P not a power of two, three layers, all P lanes drawn per cycle
    "p5_three_layers": Config(n_inputs=4, layers=(5, 10, 4), n_classes=2,
                              group_sizes=(5, 2, 4), counter_bits=5, batch=4, lanes=5,
                              p_reinforce=1.0, sweep_lanes=5),
    # 4 draws per cycle in sweeps and init, F = 20 not a multiple of P = 8
    "p8_sweep4": Config(n_inputs=20, layers=(8, 6), n_classes=3, group_sizes=(4, 3),
                        counter_bits=3, batch=5, lanes=8, p_reinforce=1.0, sweep_lanes=4),
    # wide forward: 4 neuron lanes (N = 6 and 10 not multiples), 2 words per beat; rounds
    # of fewer beats than lanes (the serializer paces them)
    "p4_wide_forward": Config(n_inputs=21, layers=(10, 6), n_classes=3, group_sizes=(5, 3),
                              counter_bits=3, batch=5, lanes=4, p_reinforce=1.0,
                              forward_lanes=4, forward_words=2),
    # byte-lane sample loader (forward_bits 16), 3 layers, P = 2, forward_lanes 2
    "p2_fw8_three_layers": Config(n_inputs=37, layers=(6, 4, 5), n_classes=3,
                                  group_sizes=(3, 1, 5), counter_bits=4, batch=4, lanes=2,
                                  p_reinforce=1.0, forward_lanes=2, forward_words=8),
    # p8_n20_two_layers with 4 forward lanes and 2 words (16 bits) per beat
    "p8_n20_wide": Config(n_inputs=20, layers=(8, 6), n_classes=3, group_sizes=(4, 3),
                          counter_bits=3, batch=5, lanes=8, p_reinforce=1.0,
                          forward_lanes=4, forward_words=2),
}


@pytest.mark.parametrize("bank", sorted(BANKS))
@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_training_bit_exact(name, bank):
    cfg = CONFIGS[name]
    rng = np.random.default_rng(len(name))
    n = 24
    X = rng.integers(0, 2, (n, cfg.n_inputs)).astype(np.uint8)
    Y = rng.integers(0, cfg.n_classes, n)
    gold = HwModel(cfg)

    async def bench(d, h):
        assert compare_states(gold.state(), d.peek_state()) is None   # power-on = init(seed)
        await lockstep(d, gold, X, Y, epochs=2)
        c = await d.read_counters()
        assert c["batch_number"] == gold.batch_number and c["since_boundary"] == 0
        for s in range(6):
            assert await d.infer(X[s]) == gold.infer(X[s])
        st = np.concatenate([s.ravel() for s in gold.state()])
        return st
    st = run(cfg, bench, bank)
    if cfg.counter_bits <= 3:
        assert (st == cfg.counter_min).any() and (st == cfg.counter_max).any()


def host_tables(cfg, rng):
    """Skip tables unlike INIT's: a dense one (p ~ 0.6), then sorted random entries with
    plateaus, zeros and the largest value."""
    top = (1 << cfg.prob_bits) - 1
    t = [prng.reinforce_table(4.0, 0.0, cfg.fan_in(0), cfg.prob_bits)]
    for _ in range(1, cfg.n_layers):
        t.append(sorted(int(rng.choice([0, top, rng.integers(0, top + 1)])) for _ in range(64)))
    return t


@pytest.mark.parametrize("name", ["p8_n20_two_layers", "p8_sweep4", "p8_n20_wide"])
def test_init_tables_counters_and_partial_batch(name):
    cfg = CONFIGS[name]
    rng = np.random.default_rng(5)
    X = rng.integers(0, 2, (13, cfg.n_inputs)).astype(np.uint8)
    Y = rng.integers(0, cfg.n_classes, 13)
    gold = HwModel(cfg)
    gold.init(1234)

    async def bench(d, h):
        assert await d.init(1234) == Status.OK
        assert compare_states(gold.state(), d.peek_state()) is None
        tables = host_tables(cfg, rng)
        gold.set_tables(tables)
        assert await d.set_tables(tables) == Status.OK
        correct = 0
        for t in range(13):                      # 13 = 2 full batches of 5 + a partial one
            p = await d.train(X[t], Y[t])
            assert p == gold.train_sample(X[t], Y[t])
            correct += p == Y[t]
        c = await d.read_counters()
        assert (c["samples"], c["correct"]) == (13, correct)
        assert (c["batch_number"], c["since_boundary"]) == (2, 3)
        assert c["busy_cycles"] > 13 * cfg.ideal_cycles_per_sample()
        await d.end_epoch()
        gold.end_epoch()
        assert compare_states(gold.state(), d.peek_state()) is None
        c = await d.read_counters()
        assert (c["batch_number"], c["since_boundary"]) == (3, 0)
        await d.end_epoch()                      # nothing pending: no boundary
        assert (await d.read_counters())["batch_number"] == 3
        assert (await d.command(Cmd.RESET_COUNTERS))[0] == Status.OK
        c = await d.read_counters()
        assert (c["samples"], c["correct"], c["busy_cycles"]) == (0, 0, 0)
        # IDENTIFY is the host link's (hw/link.py): the core does not execute it
        assert await d.command(Cmd.IDENTIFY) == (Status.UNKNOWN, b"")
    run(cfg, bench)


@pytest.mark.parametrize("bank,name", [("bram", "p8_n20_two_layers"),
                                       ("pipelined", "p8_n20_two_layers"),
                                       ("pipelined", "p8_n20_wide")])
def test_state_access_and_bad_arguments_leave_state_untouched(bank, name):
    cfg = CONFIGS[name]
    gold = HwModel(cfg)

    async def bench(d, h):
        before = d.peek_state()
        bad = [
            (Cmd.TRAIN, bytes([3]) + pack_sample(np.zeros(20, np.uint8))),      # label >= C
            (Cmd.READ_STATE, struct.pack("<BHHB", 2, 0, 0, 1)),                 # layer >= L
            (Cmd.READ_STATE, struct.pack("<BHHB", 0, 8, 0, 1)),                 # neuron >= N
            (Cmd.READ_STATE, struct.pack("<BHHB", 0, 0, 15, 6)),                # past F
            (Cmd.READ_STATE, struct.pack("<BHHB", 0, 0, 0, 0)),                 # count 0
            (Cmd.WRITE_STATE, struct.pack("<BHHBhh", 0, 1, 3, 2, 1, 4)),        # 4 > cmax 3
            (Cmd.WRITE_STATE, struct.pack("<BHHBh", 0, 1, 3, 2, 1)),            # short
            (0x7F, b""),                                                         # unknown
        ]
        for code, payload in bad:
            st, r = await d.command(code, payload)
            assert st == Status.BAD_ARG and r == b"", (code, payload)
            assert compare_states(before, d.peek_state()) is None, (code, payload)
        thr_before = (await d.read_counters())
        # READ_STATE matches the golden state, across a word boundary (P = 8)
        st, r = await d.read_state(0, 3, 5, 12)
        assert st == Status.OK
        assert r == list(gold.state()[0][3, 5:17])
        # WRITE_STATE then READ_STATE round trip; the golden model's load_state agrees
        await write_state_round_trip(d, gold, 1, 5, 2, [-4, 3, 0, -1, 2])
        # the written weights are used by the forward pass
        x = np.ones(20, np.uint8)
        assert await d.infer(x) == gold.infer(x)
        assert (await d.read_counters())["samples"] == thr_before["samples"]
    run(cfg, bench, bank)


@pytest.mark.parametrize("bank", sorted(BANKS))
def test_bad_tables_change_nothing_and_init_restores(bank):
    """SET_THRESHOLDS with an entry >= 2^b or a decreasing table (in the last entry of the
    last layer: everything before it was fine) answers BAD_ARG and changes no table: sweeps
    still use the tables set before. INIT brings back the A = 0 tables."""
    cfg = Config(n_inputs=20, layers=(8, 6), n_classes=3, group_sizes=(4, 3), counter_bits=3,
                 batch=3, lanes=8, p_reinforce=1.0, prob_bits=12)
    rng = np.random.default_rng(8)
    X = rng.integers(0, 2, (12, cfg.n_inputs)).astype(np.uint8)
    Y = rng.integers(0, cfg.n_classes, 12)
    gold = HwModel(cfg)
    good = host_tables(cfg, rng)
    too_big = [list(t) for t in good]
    too_big[-1][-1] = 1 << cfg.prob_bits
    decreasing = [list(t) for t in good]
    decreasing[-1][-1] = decreasing[-1][-2] - 1 if decreasing[-1][-2] else None
    if decreasing[-1][-1] is None:
        decreasing[-1][-2:] = [5, 4]
    u16 = struct.Struct("<H")

    def payload(tables):
        return b"".join(u16.pack(c) for t in tables for c in t)

    async def bench(d, h):
        gold.set_tables(good)
        assert await d.set_tables(good) == Status.OK
        for bad in (too_big, decreasing):
            st, r = await d.command(Cmd.SET_THRESHOLDS, payload(bad))
            assert (st, r) == (Status.BAD_ARG, b"")
        for t in range(6):                         # two boundaries with the good tables
            assert await d.train(X[t], Y[t]) == gold.train_sample(X[t], Y[t])
            assert compare_states(gold.state(), d.peek_state()) is None, t
        assert await d.init(77) == Status.OK
        gold.init(77)
        for t in range(6, 12):                     # INIT's tables again
            assert await d.train(X[t], Y[t]) == gold.train_sample(X[t], Y[t])
            assert compare_states(gold.state(), d.peek_state()) is None, t
    run(cfg, bench, bank)


def test_update_engine_outlives_a_layer_that_does_not_learn():
    """Three layers, gamma = 1 in the first (a long update job): at digits sample 46 the
    middle layer does not learn while the engine still updates layer 0, and the last layer's
    selector must not write the half of the chosen memory the engine is reading (found by the
    Verilator co-simulation; fixed by LAYER_DONE waiting)."""
    from xnorlearn.sw.datasets import load_dataset
    ds = load_dataset("digits", encoding="median")
    cfg = Config(n_inputs=ds.n_inputs, layers=(20, 6, 12), group_sizes=(1, 6, 4), lanes=4,
                 batch=30)
    gold = HwModel(cfg)

    async def bench(d, h):
        await d.set_tables(gold.tables)
        for t in range(50):
            p = await d.train(ds.x_train[t], ds.y_train[t])
            assert p == gold.train_sample(ds.x_train[t], ds.y_train[t])
            mism = compare_states(gold.state(), d.peek_state())
            assert mism is None, f"sample {t}: {mism}"
    run(cfg, bench)
