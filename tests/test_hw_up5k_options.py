"""The UP5K's trainer options in Amaranth's simulator, lock-step with the golden model: the
SPRAM counter bank (simulation models) asks the core for the sequential sweep search, the sign
copy in 256-row blocks (here two, with zero rows, hw/signbank.py) and one prefetched
activation word in the update engine. Counters compared after every sample."""

import numpy as np

from xnorlearn.hw.signbank import SignLayout
from xnorlearn.hw.spram import SpramCounterBank
from xnorlearn.sim.core_harness import CoreDriver, CoreHarness
from xnorlearn.sw.config import Config
from xnorlearn.sw.model import HwModel, compare_states


def test_up5k_options_bit_exact():
    # 2 words of P = 4 per forward beat, 350 sign-copy rows: two 256-row blocks with zero rows
    cfg = Config(n_inputs=62, layers=(40, 6), n_classes=3, group_sizes=(8, 3), counter_bits=3,
                 batch=5, lanes=4, p_reinforce=1.0, forward_lanes=1, forward_words=2)
    h = CoreHarness(cfg, bank_cls=SpramCounterBank)
    assert SignLayout(cfg).depth == 350 and h.core.signs.zero_rows
    assert len(h.core.signs.mems[0]) == 2 and h.core.updater.prefetch == 1
    rng = np.random.default_rng(5)
    X = rng.integers(0, 2, (12, cfg.n_inputs)).astype(np.uint8)
    Y = rng.integers(0, cfg.n_classes, len(X))
    gold = HwModel(cfg)
    from amaranth.sim import Simulator
    sim = Simulator(h)
    sim.add_clock(1e-8)

    async def tb(ctx):
        d = CoreDriver(h, cfg, ctx)
        assert compare_states(gold.state(), d.peek_state()) is None
        for t in range(len(X)):
            assert await d.train(X[t], Y[t]) == gold.train_sample(X[t], Y[t]), t
            assert compare_states(gold.state(), d.peek_state()) is None, t
        await d.end_epoch()
        gold.end_epoch()
        assert compare_states(gold.state(), d.peek_state()) is None
        for t in range(4):
            assert await d.infer(X[t]) == gold.infer(X[t])
    sim.add_testbench(tb)
    sim.run()
