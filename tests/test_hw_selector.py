"""Group selector against reference.select_in_groups (Amaranth simulator)."""

import random

import pytest

from xnorlearn.hw.selector import GroupSelector, choice_layout, neuron_layout
from xnorlearn.sim.harness import AmaranthIO, compare_records, exchange, pack, run_amaranth, \
    unpack
from xnorlearn.sim.vectors import selector_samples

# (neurons, group size, fan-in, samples, p_valid, p_ready)
CASES = [
    (12, 4, 20, 900, 1.0, 1.0),       # 10 800 neurons
    (12, 4, 20, 300, 0.7, 0.6),
    (6, 1, 7, 300, 0.8, 1.0),         # gamma = 1: every wrong neuron
    (9, 9, 100, 300, 1.0, 0.7),       # one group = the whole layer
]


def selector_beats(sel, samples):
    layout = neuron_layout(sel.h_width)
    beats = [pack(layout, {"h": hj, "tau": t}) for h, tau, _ in samples for hj, t in zip(h, tau)]
    expected = [g for _, _, groups in samples for g in groups]
    return beats, expected


def normalise(records):
    """A choice's index means nothing when nothing was found."""
    return [dict(r, index=r["index"] if r["found"] else None,
                 tau=r["tau"] if r["found"] else None) for r in records]


@pytest.mark.parametrize("n,gamma,fan_in,count,p_valid,p_ready", CASES)
def test_selector_random(n, gamma, fan_in, count, p_valid, p_ready):
    rng = random.Random(n * 100 + gamma)
    samples = selector_samples(rng, count, n, gamma, fan_in)
    dut = GroupSelector(n, gamma, fan_in)
    beats, expected = selector_beats(dut, samples)
    got = []

    async def bench(ctx):
        res, _ = await exchange(AmaranthIO(ctx, dut), {"i": beats}, {"o": len(expected)},
                                rng=rng, p_valid=p_valid, p_ready=p_ready)
        got.extend(unpack(choice_layout(n, gamma), r) for r in res["o"])

    run_amaranth(dut, bench, name=f"selector_n{n}_g{gamma}")
    compare_records(f"selector N={n} gamma={gamma}", expected, normalise(got))
