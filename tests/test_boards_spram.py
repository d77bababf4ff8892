"""SPRAM counter bank (hw/spram.py): bit-exact lock-step training of TrainerCore built with
``bank_cls=SpramCounterBank`` against the golden model, in Amaranth's simulator with the
behavioural SB_SPRAM256KA model; plus the bank's own stall/forwarding corner cases."""


import numpy as np
import pytest
from amaranth.sim import Simulator

from test_trainer_core import lockstep, write_state_round_trip
from xnorlearn.hw.counters import BankOp, LaneOp, lane_op_result
from xnorlearn.hw.spram import SpramCounterBank
from xnorlearn.hw.trainer import Status
from xnorlearn.sim.core_harness import CoreDriver, CoreHarness
from xnorlearn.sw.config import Config
from xnorlearn.sw.model import HwModel, compare_states


def run(cfg, bench):
    h = CoreHarness(cfg, bank_cls=SpramCounterBank)
    sim = Simulator(h)
    sim.add_clock(1e-8)
    result = {}

    async def tb(ctx):
        d = CoreDriver(h, cfg, ctx)
        result["value"] = await bench(d, h)
        result["conflicts"] = ctx.get(h.core.bank.conflicts)

    sim.add_testbench(tb)
    sim.run()
    assert result["conflicts"] == 0, "the core issued a same-group pair (would stall)"
    return result.get("value")


CONFIGS = {
    # the UP5K default shape: P = 4, k = 8 (32-bit words, two SPRAMs per group)
    "p4_k8": Config(n_inputs=21, layers=(8, 6), n_classes=3, group_sizes=(4, 3),
                    counter_bits=8, batch=5, lanes=4, p_reinforce=1.0),
    # narrow counters that saturate, odd beats per neuron
    "p8_k3": Config(n_inputs=20, layers=(8, 6), n_classes=3, group_sizes=(4, 3),
                    counter_bits=3, batch=5, lanes=8, p_reinforce=1.0),
    # sweeps and INIT drawing a whole word per cycle (sweep_lanes = P): UPDATE/WRITE streams
    # of consecutive words at full rate
    "p4_k8_sweep4": Config(n_inputs=21, layers=(8, 6), n_classes=3, group_sizes=(4, 3),
                           counter_bits=8, batch=5, lanes=4, sweep_lanes=4, p_reinforce=1.0),
    # P = 1: every beat is one word, streams alternate parity word by word
    "p1_k4": Config(n_inputs=7, layers=(5,), n_classes=3, group_sizes=1, counter_bits=4,
                    batch=3, lanes=1, p_reinforce=1.0),
}


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_spram_training_bit_exact(name):
    cfg = CONFIGS[name]
    rng = np.random.default_rng(len(name) + 7)
    n = 20
    X = rng.integers(0, 2, (n, cfg.n_inputs)).astype(np.uint8)
    Y = rng.integers(0, cfg.n_classes, n)
    gold = HwModel(cfg)

    async def bench(d, h):
        assert compare_states(gold.state(), d.peek_state()) is None
        await lockstep(d, gold, X, Y, epochs=2)
        for s in range(4):
            assert await d.infer(X[s]) == gold.infer(X[s])
        return np.concatenate([s.ravel() for s in gold.state()])

    st = run(cfg, bench)
    if cfg.counter_bits <= 3:
        assert (st == cfg.counter_min).any() and (st == cfg.counter_max).any()


@pytest.mark.parametrize("name", ["p4_k8", "p4_k8_sweep4"])
def test_spram_init_and_state_access(name):
    cfg = CONFIGS[name]
    gold = HwModel(cfg)
    gold.init(99)

    async def bench(d, h):
        assert await d.init(99) == Status.OK                 # what the host does on SPRAM
        assert compare_states(gold.state(), d.peek_state()) is None
        await write_state_round_trip(d, gold, 0, 3, 2, [-128, 127, 0, -1, 5])
        x = np.ones(cfg.n_inputs, np.uint8)
        assert await d.infer(x) == gold.infer(x)
        p = await d.train(x, 1)
        assert p == gold.train_sample(x, 1)
        assert compare_states(gold.state(), d.peek_state()) is None
    run(cfg, bench)


def test_spram_bank_streams_and_conflict_stall():
    """Direct bank test: full-rate consecutive UPDATE stream, READ right after, a same-parity
    pair (must stall one cycle, not corrupt), and READ backpressure."""
    lanes, bits, depth = 4, 8, 12
    init = [[(a * 7 + q * 3) % 200 - 100 for q in range(lanes)] for a in range(depth)]
    dut = SpramCounterBank(lanes, bits, depth, init=init)
    model = [list(w) for w in init]
    ops = [LaneOp.INC, LaneOp.DEC, LaneOp.REINFORCE, LaneOp.HOLD]

    async def bench(ctx):
        ctx.set(dut.resp.ready, 1)

        async def issue(op, addr, lanes_ops=(), data=()):
            ctx.set(dut.cmd.valid, 1)
            ctx.set(dut.cmd.p.op, op)
            ctx.set(dut.cmd.p.addr, addr)
            for q, o in enumerate(lanes_ops):
                ctx.set(dut.cmd.p.lanes[q], o)
            for q, v in enumerate(data):
                ctx.set(dut.cmd.p.data[q], v)
            stalls = 0
            while not ctx.get(dut.cmd.ready):
                stalls += 1
                await ctx.tick()
            await ctx.tick()
            ctx.set(dut.cmd.valid, 0)
            return stalls

        # consecutive UPDATE stream at full rate
        for a in range(depth):
            assert await issue(BankOp.UPDATE, a, ops) == 0
            model[a] = [lane_op_result(c, o, bits) for c, o in zip(model[a], ops)]
        # same address twice (same parity): one stall, result applied twice
        assert await issue(BankOp.UPDATE, 4, ops) == 0
        assert await issue(BankOp.UPDATE, 4, ops) == 1
        for _ in range(2):
            model[4] = [lane_op_result(c, o, bits) for c, o in zip(model[4], ops)]
        # WRITE then READ of the next same-parity word stalls once; READ returns next cycle
        assert await issue(BankOp.WRITE, 6, data=[1, -2, 3, -4]) == 0
        model[6] = [1, -2, 3, -4]
        assert await issue(BankOp.READ, 6) == 1
        assert [ctx.get(dut.resp.p.counters[q]) for q in range(lanes)] == model[6]
        assert ctx.get(dut.resp.valid)
        # backpressure: response held while resp.ready is low
        ctx.set(dut.cmd.valid, 1)
        ctx.set(dut.cmd.p.op, BankOp.READ)
        ctx.set(dut.cmd.p.addr, 3)
        await ctx.tick()                     # READ 6's response taken, READ 3 accepted
        ctx.set(dut.resp.ready, 0)
        ctx.set(dut.cmd.p.addr, 5)
        for _ in range(3):
            assert not ctx.get(dut.cmd.ready)
            assert [ctx.get(dut.resp.p.counters[q]) for q in range(lanes)] == model[3]
            await ctx.tick()
        ctx.set(dut.resp.ready, 1)
        await ctx.tick()
        ctx.set(dut.cmd.valid, 0)
        assert [ctx.get(dut.resp.p.counters[q]) for q in range(lanes)] == model[5]
        await ctx.tick()
        assert dut.peek_words(ctx) == model

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()


@pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")
def test_spram_bank_rejects_wide_words():
    with pytest.raises(ValueError, match="32"):
        SpramCounterBank(8, 8, 16)
