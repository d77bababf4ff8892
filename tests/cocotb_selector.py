"""cocotb bench: generated Verilog of GroupSelector against reference.select_in_groups."""

import random

import cocotb

from xnorlearn.hw.selector import choice_layout, neuron_layout
from xnorlearn.sim.harness import CocotbIO, cocotb_params, cocotb_reset, compare_records, \
    exchange, pack, unpack
from xnorlearn.sim.vectors import selector_samples


@cocotb.test()
async def selector_random(dut):
    prm = cocotb_params()
    n, gamma, fan_in = prm["n_neurons"], prm["group_size"], prm["fan_in"]
    rng = random.Random(prm.get("seed", 31))
    samples = selector_samples(rng, prm["count"], n, gamma, fan_in)
    dut.n.value, dut.gamma.value = n, gamma     # per-layer ports (layers share the unit)
    await cocotb_reset(dut)
    io = CocotbIO(dut, prefix=prm.get("prefix"))
    layout = neuron_layout(io.width("i.payload") - 1)
    beats = [pack(layout, {"h": hj, "tau": t}) for h, tau, _ in samples for hj, t in zip(h, tau)]
    expected = [g for *_, groups in samples for g in groups]
    res, _ = await exchange(io, {"i": beats}, {"o": len(expected)}, rng=rng,
                            p_valid=prm.get("p_valid", 1.0), p_ready=prm.get("p_ready", 1.0))
    got = [unpack(choice_layout(n, gamma), r) for r in res["o"]]
    got = [dict(g, index=g["index"] if g["found"] else None,
                tau=g["tau"] if g["found"] else None) for g in got]
    compare_records("cocotb selector", expected, got)
