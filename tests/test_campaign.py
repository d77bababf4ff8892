"""The randomized co-simulation campaign (sim/campaign.py, scripts/campaign.py).

The generator must reach every kind of configuration the campaign promises; a clean case must be
bit-exact; an injected gateware fault must be found, reported as sample / layer / neuron /
weight, and written as a pytest file that fails on its own for the same reason.
"""

import dataclasses
import importlib.util
import json
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from xnorlearn.sim.campaign import BANKS, Case, random_case, run_case, write_regression
from xnorlearn.sw.config import Config

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _script():
    spec = importlib.util.spec_from_file_location("campaign_script",
                                                  ROOT / "scripts" / "campaign.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_generator_covers_the_promised_space():
    rng = np.random.default_rng(0)
    cases = [random_case(rng, 3) for _ in range(300)]
    cfgs = [c.cfg for c in cases]
    assert {len(c.layers) for c in cfgs} == {1, 2, 3}
    assert {c.bank for c in cases} == set(BANKS)
    assert {c.counter_bits for c in cfgs} == set(range(3, 17))
    widths = [(w, c.lanes) for c in cfgs for w in c.layers]
    assert any(w % p == 0 and p > 1 for w, p in widths)
    assert any(w % p for w, p in widths)
    gammas = [(g, w) for c in cfgs for g, w in zip(c.group_sizes, c.layers)]
    assert any(g == 1 for g, w in gammas) and any(g == w > 1 for g, w in gammas)
    assert any(1 < g < w for g, w in gammas)
    assert len({c.batch for c in cfgs}) > 4 and len({c.seed for c in cfgs}) == len(cfgs)
    for case in cases:
        if case.bank == "spram":
            assert case.cfg.lanes * case.cfg.counter_bits <= 32
        assert (case.row_words is not None) == (case.bank == "pipelined")


def test_fewer_samples_are_a_prefix():
    case = random_case(np.random.default_rng(4), 9)
    x, y = case.data()
    x5, y5 = dataclasses.replace(case, samples=5).data()
    assert (x5 == x[:5]).all() and (y5 == y[:5]).all()


@pytest.mark.parametrize("bank,row_words", [("bram", None), ("pipelined", 2), ("spram", None)])
def test_clean_case_is_bit_exact(bank, row_words):
    cfg = Config(n_inputs=11, layers=(6, 3), n_classes=3, group_sizes=(2, 3), counter_bits=3,
                 batch=2, lanes=4, p_reinforce=1.0, seed=7)
    mismatch, samples, _ = run_case(Case(cfg.to_dict(), bank, row_words, 5, 4))
    assert mismatch is None and samples == 4


def _faulty_case():
    # k = 3, every sweep reinforces (p_r = 1, B = 1): counters reach the ends at once
    cfg = Config(n_inputs=9, layers=(4,), n_classes=2, group_sizes=1, counter_bits=3,
                 batch=1, lanes=4, p_reinforce=1.0, seed=3)
    return Case(cfg.to_dict(), "bram", None, 11, 6, fault="wrapping_counters")


def test_injected_fault_gives_a_failing_regression_file(tmp_path):
    case = _faulty_case()
    mismatch, samples, _ = run_case(case)
    assert mismatch is not None and mismatch.what == "counter"
    assert isinstance(mismatch.sample, int) and samples == mismatch.sample + 1
    lo, hi = case.cfg.counter_min, case.cfg.counter_max
    assert {mismatch.expected, mismatch.got} <= {lo, hi}        # wrapped instead of saturated
    path = write_regression(tmp_path / "test_found.py", case, mismatch, name="found")
    text = path.read_text()
    assert f"layer {mismatch.layer} neuron {mismatch.neuron} weight {mismatch.weight}" in text
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          str(path)], cwd=tmp_path, capture_output=True, text=True)
    assert run.returncode == 1, run.stdout + run.stderr
    assert str(mismatch) in run.stdout
    # the same file without the fault replays clean
    fixed = tmp_path / "test_fixed.py"
    fixed.write_text(text.replace("'fault': 'wrapping_counters'", "'fault': None"))
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          str(fixed)], cwd=tmp_path, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr


def test_script_end_to_end(tmp_path, capsys):
    out = tmp_path / "c.json"
    assert _script().main(["--seed", "5", "--configs", "1", "--samples", "2",
                           "--json", str(out)]) == 0
    rec = json.loads(out.read_text())
    assert rec["configs_run"] == 1 and rec["samples"] == 2 and rec["first_mismatch"] is None
    assert rec["sample_steps_per_second"] > 0
    assert "sample-steps/s" in capsys.readouterr().out


def test_script_with_fault_writes_regression(tmp_path, capsys):
    reg = tmp_path / "test_reg.py"
    # seed 126 draws k = 3, p_r = 1, B = 1 first: the fault shows within a few samples
    code = _script().main(["--seed", "126", "--configs", "1", "--samples", "8",
                           "--inject-fault", "wrapping_counters", "--regression", str(reg)])
    out = capsys.readouterr().out
    assert code == 1 and reg.exists() and "first mismatch: configuration" in out


def test_script_rejects_bad_arguments(capsys):
    with pytest.raises(SystemExit) as e:
        _script().main(["--configs", "0"])
    assert e.value.code == 2 and "--configs must be at least 1" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.cosim
def test_verilator_engine_clean_and_faulty(tmp_path):
    """The Verilator engine (the whole trainer with its data store, TRAIN_STORE epochs, no
    Python per sample): a clean case is bit-exact over its epochs; the wrapping-counter fault
    is found as a counter mismatch at a range end and written as a replayable file."""
    from xnorlearn.sim.campaign import run_case_verilator
    case = random_case(np.random.default_rng(8), 40)
    mismatch, steps, _, r = run_case_verilator(case, epochs=3, check_every=0,
                                               build_root=tmp_path / "v")
    assert mismatch is None and steps == 120 and r["bit_exact"] and r["states_compared"] >= 4
    bad = _faulty_case()
    mismatch, steps, _, _ = run_case_verilator(bad, epochs=3, check_every=0,
                                               build_root=tmp_path / "v")
    assert mismatch is not None and mismatch.what == "counter", mismatch
    path = write_regression(tmp_path / "test_v.py", bad, mismatch, name="v",
                            engine="verilator", epochs=3, check_every=0)
    assert "engine='verilator'" in path.read_text()


@pytest.mark.slow
def test_campaign_twenty_configurations(tmp_path, capsys):
    """CI's slow stage: 20 random configurations, every counter after every sample."""
    out = tmp_path / "c.json"
    assert _script().main(["--seed", "20", "--configs", "20", "--samples", "6",
                           "--json", str(out)]) == 0
    rec = json.loads(out.read_text())
    assert rec["configs_run"] == 20 and rec["first_mismatch"] is None
