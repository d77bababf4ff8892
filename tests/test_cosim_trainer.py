"""Whole-trainer co-simulation: generated Verilog under Verilator, driven through its UART by
the host driver, bit-exact against the golden model after every training sample."""

import json

import pytest

from xnorlearn.sim.cosim import run_cosim
from xnorlearn.sw.config import Config
from xnorlearn.sw.datasets import load_dataset

pytestmark = pytest.mark.cosim

CONFIGS = {
    # one hidden layer, P = 5 does not divide N0 = 64 (13 beats, 1 lane used in the last)
    "one_layer_p5": dict(layers=(32,), group_sizes=(8,), lanes=5, batch=50),
    # two hidden layers, gamma < N_l in both, three reinforcement sweeps per 300 samples
    "two_layers_gamma_lt_n": dict(layers=(32, 16), group_sizes=(8, 4), lanes=8, batch=100),
    # the ECP5 boards' pipelined bank: 320 counter words in 5 rows of 64
    "two_layers_rows_bank": dict(layers=(32, 16), group_sizes=(8, 4), lanes=8, batch=100,
                                 row_words=64),
    # the UP5K boards' SPRAM bank (simulation models), wide forward pass: 4 neuron lanes of
    # 32 bits, three layers (widths 20 and 6 not multiples of 4), gamma = 1 and gamma = N
    "three_layers_spram_wide": dict(layers=(20, 6, 12), group_sizes=(1, 6, 4), lanes=4,
                                    batch=30, forward_lanes=4, forward_words=8, spram=True),
    # the rows bank with a wide forward pass: 8 lanes x 16 bits (N = 28, 12 not multiples of 8)
    "rows_bank_wide": dict(layers=(28, 12), group_sizes=(28, 3), lanes=8, batch=40,
                           forward_lanes=8, forward_words=2, row_words=32),
}


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_trainer_cosim_bit_exact_300_samples(name, tmp_path):
    ds = load_dataset("digits", encoding="median")          # 64 inputs
    params = dict(CONFIGS[name])
    row_words = params.pop("row_words", None)
    spram = params.pop("spram", False)
    cfg = Config(n_inputs=ds.n_inputs, n_classes=10, uart_divisor=4, **params)
    r = run_cosim(cfg, ds.x_train[:300], ds.y_train[:300], ds.x_test[:60], ds.y_test[:60],
                  progress=False, row_words=row_words, bank="spram" if spram else None)
    assert r["bit_exact"] and r["samples"] == 300 and r["first_mismatch"] is None
    assert r["inference_matches_golden"] and r["test_samples"] == 60
    fwd = sum(cfg.forward_cycles(l) for l in range(cfg.n_layers))
    # compute cycles: the forward pass alone needs its cycles; the rest is bounded overhead
    assert fwd <= r["cycles_per_sample_compute"] < 3 * cfg.ideal_cycles_per_sample()
    assert r["cycles_per_sample_with_uart"] > r["cycles_per_sample_compute"]


def test_trainer_protocol_fuzz_leaves_state_untouched():
    from xnorlearn.sim.cosim import run_fuzz
    ds = load_dataset("digits", encoding="median")
    cfg = Config(n_inputs=ds.n_inputs, n_classes=10, uart_divisor=4, layers=(32, 16),
                 group_sizes=(8, 4), lanes=8, batch=20)
    r = run_fuzz(cfg, ds.x_train, ds.y_train, rounds=200, seed=3)
    assert r["bit_exact"] and r["rounds"] == 200
    assert set(r["kinds"]) == {"flip", "truncate", "garbage", "oversize", "stopbit", "unknown",
                               "badlen"}
    assert r["resends"] == 0


def test_demo_command_projects_onto_a_board_it_fits(tmp_path, capsys):
    """The README's main command, shortened: bit-exact co-simulation with the bank of the
    first board the demo network fits (ULX3S-12F: the pipelined rows bank), and a projection
    at that board's clock."""
    from xnorlearn.boards.registry import get_board
    from xnorlearn.sw.cli import main
    out = tmp_path / "demo.json"
    assert main(["demo", "--samples", "40", "--test-samples", "10", "--check-every", "10",
                 "--json", str(out)]) == 0
    text = capsys.readouterr().out
    board = get_board("ulx3s-12f")
    assert "bit-exact: yes" in text
    assert f"Radiona ULX3S (LFE5U-12F) at {board.core_hz / 1e6:g} MHz" in text
    d = json.loads(out.read_text())
    assert d["bit_exact"] and d["board"] == "ulx3s-12f" and d["samples"] == 40
    assert d["board_hz"] == board.core_hz
    assert d["board_samples_per_s"] == pytest.approx(board.core_hz /
                                                     d["cycles_per_sample_compute"])


def test_resume_on_the_chip_is_bit_exact():
    """4 epochs straight = 2 epochs, checkpoint file, power cycle, restore (INIT, WRITE_STATE,
    SET_BATCH), 2 more — on the co-simulated chip, both equal to the golden model."""
    from xnorlearn.sw.model import HwModel
    from xnorlearn.sw.train import run_training
    ds = load_dataset("digits", encoding="median")
    cfg = Config(n_inputs=ds.n_inputs, n_classes=10, uart_divisor=4, layers=(20, 12),
                 group_sizes=(5, 12), lanes=4, batch=16)
    n, nt = 48, 20
    r = run_cosim(cfg, ds.x_train[:n], ds.y_train[:n], ds.x_test[:nt], ds.y_test[:nt],
                  progress=False, testcase="resume_epochs",
                  extra={"epochs": 4, "resume_after": 2})
    assert r["bit_exact"]
    straight = [tuple(e) for e in r["epochs_straight"]]
    assert [tuple(e) for e in r["epochs_resumed"]] == straight[2:]
    assert [tuple(e) for e in r["epochs_golden"]] == straight
    # and the golden model's own training loop agrees
    sub = type("Sub", (), {})()
    sub.__dict__.update(name="digits", x_train=ds.x_train[:n], y_train=ds.y_train[:n],
                        x_test=ds.x_test[:nt], y_test=ds.y_test[:nt], n_inputs=ds.n_inputs,
                        n_classes=10, info={})
    res = run_training(HwModel(cfg), sub, 4, seed=cfg.seed)
    assert [(e.train_accuracy, e.test_accuracy) for e in res.epochs] == straight
