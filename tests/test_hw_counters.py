"""Hidden-weight counter bank against a word-level model built on reference.saturate."""

import gc
import random
import warnings

import pytest
from amaranth.hdl import Fragment

from xnorlearn.hw.counters import BankOp, CounterBank, LaneOp, PipelinedCounterBank, \
    command_layout, lane_op_result, response_layout
from xnorlearn.sim.harness import AmaranthIO, compare_records, exchange, pack, run_amaranth, \
    unpack
from xnorlearn.sim.vectors import bank_commands, bank_expected
from xnorlearn.sw import reference
from xnorlearn.sw.config import Config

# (lanes, bits, depth, commands, p_valid, p_ready)
CASES = [
    (4, 3, 24, 4000, 1.0, 1.0),       # back-to-back, narrow counters saturate constantly
    (4, 3, 24, 2500, 0.7, 0.6),       # with gaps and back-pressure on READ responses
    (1, 2, 8, 2000, 1.0, 0.8),        # P = 1, k = 2
    (8, 8, 40, 2000, 0.9, 0.9),       # default counter width
]


# the pipelined bank with rows of 8 words: several rows, a partial last row, one row
PIPELINED = [(4, 3, 24, 4000, 1.0, 1.0, 8), (4, 3, 21, 2500, 0.7, 0.6, 8),
             (1, 2, 8, 2000, 1.0, 0.8, 8), (8, 8, 40, 2000, 0.9, 0.9, 16),
             (2, 4, 3, 1500, 1.0, 1.0, 512)]


def run_bank(lanes, bits, depth, count, p_valid, p_ready, seed=5, row_words=None):
    rng = random.Random(seed)
    cmds = bank_commands(rng, count, lanes, bits, depth)
    expected = bank_expected(cmds, lanes, bits, depth)
    if row_words is None:
        dut = CounterBank(lanes, bits, depth)
    else:
        dut = PipelinedCounterBank(lanes, bits, depth, row_words=row_words)
    cl, rl = command_layout(lanes, bits, depth), response_layout(lanes, bits)
    beats = [pack(cl, c) for c in cmds]
    got = []

    async def bench(ctx):
        res, cycles = await exchange(AmaranthIO(ctx, dut), {"cmd": beats},
                                     {"resp": len(expected)}, rng=rng, p_valid=p_valid,
                                     p_ready=p_ready)
        got.extend(unpack(rl, r) for r in res["resp"])
        if p_valid == p_ready == 1.0:       # one command per cycle, no stall on RMW hazards
            assert cycles == len(beats) + dut.read_latency

    run_amaranth(dut, bench, name=f"counters_p{lanes}_k{bits}")
    compare_records(f"counter bank P={lanes} k={bits}", expected, got)


@pytest.mark.parametrize("lanes,bits,depth,count,p_valid,p_ready", CASES)
def test_counter_bank_random(lanes, bits, depth, count, p_valid, p_ready):
    run_bank(lanes, bits, depth, count, p_valid, p_ready)


@pytest.mark.parametrize("lanes,bits,depth,count,p_valid,p_ready,row_words", PIPELINED)
def test_pipelined_counter_bank_random(lanes, bits, depth, count, p_valid, p_ready, row_words):
    """Rows of block RAM, registered everywhere, four writes in flight: same results."""
    run_bank(lanes, bits, depth, count, p_valid, p_ready, row_words=row_words)


def test_pipelined_bank_rows_and_init():
    bank = PipelinedCounterBank(4, 8, 40, init=[[i % 7 - 3] * 4 for i in range(40)],
                                row_words=16)
    Fragment.get(bank, None)
    assert [r.depth for r in bank.rows] == [16, 16, 8]
    assert list(bank.rows[2].init[0]) == [(32 % 7) - 3] * 4
    small = PipelinedCounterBank(4, 8, 40, row_words=512)
    Fragment.get(small, None)
    assert small.row_words == 64 and len(small.rows) == 1
    with warnings.catch_warnings():      # the half-built object is never elaborated
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError, match="power of two"):
            PipelinedCounterBank(4, 8, 40, row_words=24)
        gc.collect()


def test_lane_op_model_matches_reference():
    """The lane-op model is the reference's update and reinforcement step."""
    for bits in (2, 3, 8):
        cmin, cmax = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
        for c in range(cmin, cmax + 1):
            assert lane_op_result(c, LaneOp.INC, bits) == reference.saturate(c + 1, cmin, cmax)
            assert lane_op_result(c, LaneOp.DEC, bits) == reference.saturate(c - 1, cmin, cmax)
            assert lane_op_result(c, LaneOp.HOLD, bits) == c
            assert lane_op_result(c, LaneOp.REINFORCE, bits) == reference.reinforce(c, cmin, cmax)


def test_from_config_depth():
    cfg = Config(n_inputs=30, layers=(12, 6), n_classes=3, group_sizes=3, lanes=8)
    bank = CounterBank.from_config(cfg, 0)
    Fragment.get(bank, None)        # elaborate: also proves from_config builds
    assert (bank.lanes, bank.bits, bank.depth) == (8, 8, 12 * 4)
    assert CounterBank.address(2, 3, 30, 8) == 11
    bank = CounterBank.from_config(cfg, 1)
    Fragment.get(bank, None)
    assert bank.depth == 6 * 2
    assert BankOp.READ.value == 0


def test_counter_bank_directed_saturation():
    """Every lane op at both ends of the range, applied twice back to back to one word."""
    bits, lanes = 4, 8
    cmin, cmax = -8, 7
    start = [cmax, cmin, cmax, cmin, 0, -1, cmax, cmin]
    ops = [LaneOp.INC, LaneOp.DEC, LaneOp.REINFORCE, LaneOp.REINFORCE, LaneOp.REINFORCE,
           LaneOp.REINFORCE, LaneOp.DEC, LaneOp.HOLD]
    after1 = [cmax, cmin, cmax, cmin, 1, -2, cmax - 1, cmin]
    after2 = [cmax, cmin, cmax, cmin, 2, -3, cmax - 2, cmin]
    dut = CounterBank(lanes, bits, 4)
    cl, rl = command_layout(lanes, bits, 4), response_layout(lanes, bits)
    z = [0] * lanes
    cmds = [{"op": BankOp.WRITE.value, "addr": 2, "lanes": z, "data": start},
            {"op": BankOp.READ.value, "addr": 2, "lanes": z, "data": z},
            {"op": BankOp.UPDATE.value, "addr": 2, "lanes": [o.value for o in ops], "data": z},
            {"op": BankOp.READ.value, "addr": 2, "lanes": z, "data": z},
            {"op": BankOp.UPDATE.value, "addr": 2, "lanes": [o.value for o in ops], "data": z},
            {"op": BankOp.READ.value, "addr": 2, "lanes": z, "data": z},
            {"op": BankOp.READ.value, "addr": 1, "lanes": z, "data": z}]
    got = []

    async def bench(ctx):
        res, _ = await exchange(AmaranthIO(ctx, dut), {"cmd": [pack(cl, c) for c in cmds]},
                                {"resp": 4})
        got.extend(unpack(rl, r) for r in res["resp"])

    run_amaranth(dut, bench, name="counters_directed")
    assert [g["counters"] for g in got] == [start, after1, after2, z]
    assert got[0]["weights"] == 0b01010101      # w = 1 iff c >= 0
    assert got[3]["weights"] == 0xFF            # a fresh bank is all zero: all weights +1
