"""cocotb bench: generated Verilog of DecisionUnit against reference.scores / decision."""

import random

import cocotb

from xnorlearn.sim.harness import CocotbIO, cocotb_params, cocotb_reset, compare_records
from xnorlearn.sim.vectors import decision_samples, drive_decision_samples


@cocotb.test()
async def decision_random(dut):
    prm = cocotb_params()
    n, c, m = prm["n_neurons"], prm["n_classes"], prm["margin_threshold"]
    rng = random.Random(prm.get("seed", 41))
    samples = decision_samples(rng, prm["count"], n, c, m)
    dut.n.value = n                       # the layer width port (layers may share the unit)
    await cocotb_reset(dut)
    io = CocotbIO(dut, prefix=prm.get("prefix"))
    got = await drive_decision_samples(io, samples, n, c, m, rng, prm.get("p_valid", 1.0),
                                       prm.get("p_ready", 1.0))
    compare_records("cocotb decision", [e for *_, e in samples], got)
