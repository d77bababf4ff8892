"""``xnorlearn sim --board B``: the board's default configuration, co-simulated with the
board's own counter bank, steady-state compute cycles projected at the board's clock."""

import json

import pytest

from xnorlearn.boards.registry import get_board
from xnorlearn.sw.cli import main


def test_board_bank_choice_is_the_builds():
    """sim --board, demo and the projection script pick the bank the board build uses."""
    from xnorlearn.boards.fit import counter_row_words
    from xnorlearn.sim.cosim import board_bank
    for name in ("icebreaker", "ulx3s-85f"):
        b = get_board(name)
        cfg = b.default_config()
        bank, rows = board_bank(b, cfg)
        assert bank == b.bank
        assert rows == (counter_row_words(cfg, b.family) if bank == "bram-rows" else None)


def test_sim_board_refuses_a_mismatched_dataset(capsys, monkeypatch):
    import xnorlearn.sim.cosim as cosim
    monkeypatch.setattr(cosim, "run_cosim", lambda *a, **k: pytest.fail("built"))
    assert main(["sim", "--board", "icebreaker", "--dataset", "digits"]) == 2
    err = capsys.readouterr().err
    assert "default configuration is for 784 inputs" in err and "Traceback" not in err
    # a configuration that does not fit the board fails before the Verilator build
    assert main(["sim", "--board", "icebreaker", "--layers", "1035", "--group-size",
                 "115"]) == 2
    err = capsys.readouterr().err
    assert "does not fit the icebreaker" in err and "784-1035 (lanes 4" in err


@pytest.mark.cosim
@pytest.mark.slow
def test_sim_board_ulx3s_25f_rows_bank(tmp_path, capsys):
    """The ULX3S-25F default (784-75-75, P = 8, forward 4 x 128 bits) with its pipelined rows
    bank: bit-exact, one full batch (B = 100) so the steady state holds one sweep. (The UP5K
    boards' defaults do not fit their logic and are refused; their SPRAM bank is
    co-simulated in tests/test_cosim_trainer.py.)"""
    out = tmp_path / "s.json"
    assert main(["sim", "--board", "ulx3s-25f", "--samples", "100", "--test-samples", "5",
                 "--check-every", "50", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "bit-exact: yes" in text
    d = json.loads(out.read_text())
    board = get_board("ulx3s-25f")
    cfg = board.default_config()
    assert d["bit_exact"] and d["board"] == "ulx3s-25f" and d["bank"] == "bram-rows"
    assert d["clock_mhz"] == 60 and d["steady_state_samples"] == 100
    # INIT is not counted; the forward pass takes its rounds, and the whole sample far less
    # than one P-lane beat per weight (the ideal of a forward pass from the counters)
    fwd = sum(cfg.forward_cycles(l) for l in range(cfg.n_layers))
    assert fwd <= d["cycles_per_sample_compute"] < d["ideal_cycles_per_sample"] / 4
    assert d["samples_per_second_at_clock"] == pytest.approx(
        board.core_hz / d["cycles_per_sample_compute"])
    assert d["samples_per_second_at_clock"] >= 60_000
    assert d["cycles_per_second"] > 0
