"""Formal proofs of the gateware blocks (SymbiYosys + Boolector), and their broken variants.

Every proof of ``sim/formal.py``'s ``PROOFS`` must pass, its cover task must reach every
``Cover`` (the assumptions leave the assertions something to check), and every broken variant
of ``MUTANTS`` (wrapping counters, a dropped forwarding stage, a lost conflict stall, a skipped
length check, a wrong CRC) must FAIL its proof. The quick ones run by default (marker
``formal``); bigger parameters and deeper bounds are ``slow``.
"""

import numpy as np
import pytest
from amaranth import Module, Signal
from amaranth.sim import Simulator

from xnorlearn.sim import formal
from xnorlearn.sw import protocol as proto

pytestmark = pytest.mark.formal


def _check(result):
    assert result.passed, f"{result.name} ({result.mode}, depth {result.depth}):\n" + \
        result.log[-4000:]


def _params():
    return [pytest.param(p, id=p.name, marks=[pytest.mark.slow] if p.slow else [])
            for p in formal.PROOFS]


@pytest.mark.parametrize("proof", _params())
def test_proof(proof, tmp_path):
    _check(formal.run_proof(proof.make(), mode=proof.mode, depth=proof.depth, name=proof.name,
                            workdir=tmp_path))
    if proof.cover_depth:
        _check(formal.run_proof(proof.make(), mode="cover", depth=proof.cover_depth,
                                name=proof.name, workdir=tmp_path))


@pytest.mark.parametrize("name", sorted(formal.MUTANTS))
def test_broken_variant_fails(name, tmp_path):
    make, mode, depth = formal.MUTANTS[name]
    result = formal.run_proof(make(), mode=mode, depth=depth, name=name, workdir=tmp_path)
    assert result.status == "FAIL", f"broken variant {name} passed its proof"
    assert "Assert failed" in result.log or "failed" in result.log


def test_prove_script_prints_the_table(capsys):
    import importlib.util
    import pathlib
    path = pathlib.Path(__file__).resolve().parents[1] / "scripts" / "prove.py"
    spec = importlib.util.spec_from_file_location("prove_script", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.main(["-k", "lane_ops_k3"]) == 0
    out = capsys.readouterr().out
    assert "| lane_ops_k3 | hw/counters.py apply_lane_ops |" in out and "| PASS |" in out


def test_crc_model_matches_protocol():
    """The harness's bit-serial CRC (an independent implementation) equals sw.protocol's."""
    m = Module()
    crc_in, byte = Signal(16), Signal(8)
    crc_out = formal.crc16_bitserial(m, crc_in, byte)
    sim = Simulator(m)
    rng = np.random.default_rng(3)
    cases = [(int(c), int(b)) for c, b in zip(rng.integers(0, 1 << 16, 200),
                                               rng.integers(0, 256, 200))]

    async def bench(ctx):
        for c, b in cases + [(0xFFFF, 0), (0, 0xFF)]:
            ctx.set(crc_in, c)
            ctx.set(byte, b)
            assert ctx.get(crc_out) == proto.crc16_update(c, bytes([b]))
    sim.add_testbench(bench)
    sim.run()


def test_bad_mode_or_solver_is_a_clear_error():
    harness = formal.LaneOpHarness(3)
    harness._MustUse__silence = True        # rejected before elaboration
    with pytest.raises(ValueError, match="mode must be"):
        formal.run_proof(harness, mode="induct")
    with pytest.raises(ValueError, match="solver must be"):
        formal.run_proof(harness, solver="z9")
