"""The latencies docs/gateware.md states, measured in Amaranth's simulator."""

import pytest

from xnorlearn.hw.counters import CounterBank, command_layout
from xnorlearn.hw.decision import DecisionUnit, activation_layout
from xnorlearn.hw.popcount import XnorPopcount, beat_layout
from xnorlearn.hw.prng import Hash32, StreamKey
from xnorlearn.hw.selector import GroupSelector, neuron_layout
from xnorlearn.sim.harness import AmaranthIO, measure_latency, pack, run_amaranth


def latency_of(dut, send, beats, receive, statics=None):
    result = []

    async def bench(ctx):
        result.append(await measure_latency(AmaranthIO(ctx, dut), send, beats, receive,
                                            statics=statics))

    run_amaranth(dut, bench, name="latency")
    return result[0]


@pytest.mark.parametrize("lanes,k,expected", [(8, 0, 1), (8, 1, 3), (32, 2, 3), (5, 2, 2),
                                              (1, 1, 1)])
def test_popcount_latency(lanes, k, expected):
    dut = XnorPopcount(lanes, 40, k)
    beats = [pack(beat_layout(lanes), {"a": 0, "w": 0})] * (-(-40 // lanes))
    assert latency_of(dut, "i", beats, "o", {"n": 40}) == expected == dut.latency


def test_counter_bank_read_latency():
    dut = CounterBank(4, 8, 16)
    cmd = pack(command_layout(4, 8, 16), {"op": 0, "addr": 3, "lanes": [0] * 4, "data": [0] * 4})
    assert latency_of(dut, "cmd", [cmd], "resp") == 1


@pytest.mark.parametrize("steps", [1, 2, 3, 6])
def test_hash32_latency(steps):
    dut = Hash32(steps)
    assert latency_of(dut, "i", [123], "o") == dut.latency == 6 // steps


def test_stream_key_latency():
    assert latency_of(StreamKey(), "req", [0], "key") == 22


def test_selector_latency():
    dut = GroupSelector(8, 4, 10)
    beats = [pack(neuron_layout(dut.h_width), {"h": -1, "tau": 1})] * 4
    assert latency_of(dut, "i", beats, "o") == 2       # |h| and the wrong test, then compare


def test_decision_latency():
    dut = DecisionUnit(5, 7, 1)
    beats = [pack(activation_layout(7), {"a": 1, "r": 0b1010101})] * 5
    assert latency_of(dut, "i", beats, "o", {"label": 0}) == 7 + 1
