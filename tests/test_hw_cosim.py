"""cocotb 2 co-simulation of the generated Verilog of every block against the golden reference.

The bigger blocks (XNOR-popcount array, counter bank) sit side by side in one ``CosimTop`` so
that a single Verilator build (cached under build/cocotb, keyed by the Verilog's hash) serves
both benches. The small blocks run on Icarus, whose build is instant.
"""

import pytest

from xnorlearn.hw.counters import CounterBank, PipelinedCounterBank
from xnorlearn.hw.decision import DecisionUnit
from xnorlearn.hw.generate import convert
from xnorlearn.hw.popcount import XnorPopcount
from xnorlearn.hw.prng import Hash32, StreamKey
from xnorlearn.hw.selector import GroupSelector
from xnorlearn.sim.harness import CosimTop, run_cocotb

pytestmark = pytest.mark.cosim

# bench -> (cocotb module, testcase, parameters); >= 10 000 vectors (beats) each
VERILATOR_BENCHES = {
    "popcount": ("cocotb_popcount", "popcount_random",
                 dict(lanes=8, max_inputs=50, count=10000, p_valid=0.9, p_ready=0.8, seed=3)),
    "counters": ("cocotb_counters", "counters_random",
                 dict(lanes=8, bits=4, depth=48, count=12000, p_valid=0.9, p_ready=0.7, seed=12)),
    # the pipelined rows bank: 48 words in 3 rows of 16, four writes in flight
    "counters_rows": ("cocotb_counters", "counters_random",
                      dict(lanes=8, bits=4, depth=48, count=12000, p_valid=0.95, p_ready=0.8,
                           seed=13)),
}


def verilator_blocks():
    return {"popcount": XnorPopcount(8, 50, 1), "counters": CounterBank(8, 4, 48),
            "counters_rows": PipelinedCounterBank(8, 4, 48, row_words=16)}


@pytest.fixture(scope="module")
def cosim_verilog():
    return convert(CosimTop(verilator_blocks()), "cosim_top")


@pytest.mark.parametrize("bench", list(VERILATOR_BENCHES))
def test_cosim_verilator(cosim_verilog, bench):
    module, testcase, params = VERILATOR_BENCHES[bench]
    run_cocotb(cosim_verilog, "cosim_top", module, simulator="verilator", testcase=testcase,
               params=dict(params, prefix=bench))


# bench -> (component factory, cocotb module, testcase, parameters)
ICARUS_BENCHES = {
    "hash32": (lambda: Hash32(1), "cocotb_prng", "hash32_random",
               dict(count=10000, p_valid=0.9, p_ready=0.9)),
    "stream_key": (lambda: StreamKey(), "cocotb_prng", "stream_key_random", dict(count=300)),
    "selector": (lambda: GroupSelector(12, 4, 20), "cocotb_selector", "selector_random",
                 dict(n_neurons=12, group_size=4, fan_in=20, count=900, p_valid=0.9,
                      p_ready=0.8)),
    "decision": (lambda: DecisionUnit(16, 10, 4), "cocotb_decision", "decision_random",
                 dict(n_neurons=16, n_classes=10, margin_threshold=4, count=650, p_valid=0.9,
                      p_ready=0.8)),
    "popcount_p1": (lambda: XnorPopcount(1, 7, 0), "cocotb_popcount", "popcount_random",
                    dict(lanes=1, max_inputs=7, count=2500, p_valid=0.8, p_ready=0.9, seed=4)),
}


@pytest.mark.parametrize("bench", list(ICARUS_BENCHES))
def test_cosim_icarus(bench):
    factory, module, testcase, params = ICARUS_BENCHES[bench]
    run_cocotb(convert(factory(), bench), bench, module, simulator="icarus", testcase=testcase,
               params=params)
