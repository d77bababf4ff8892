"""``xnorlearn sim --data-source store``: the design trains from its own data store in
co-simulation (Verilator + cocotb through the UART), bit-exact after every record, over two
epochs, the image read by the flash reader from a flash model; EVAL_STORE agrees with the
golden model and a corrupted header is refused."""

import json

import pytest

from xnorlearn.sw.cli import main


@pytest.mark.cosim
def test_sim_from_the_store(tmp_path, capsys):
    out = tmp_path / "s.json"
    assert main(["sim", "--data-source", "store", "--samples", "24", "--test-samples", "10",
                 "--layers", "16", "--group-size", "4", "--lanes", "8", "--epochs", "2",
                 "--clock-mhz", "60", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "bit-exact: yes" in text and "BAD_STORE" in text and "SPI flash" in text
    d = json.loads(out.read_text())
    assert d["bit_exact"] and d["data_source"] == "store"
    # the default reader: QspiFlashReader against the flash model, which saw no violation
    assert d["store_reader"] == "flash" and d["flash_mode"] == "quad" and d["flash_errors"] == 0
    assert d["records_compared"] == d["samples"] == 48 and len(d["epochs"]) == 2
    assert d["corrupt_header_refused"]
    assert d["test_accuracy"] == d["golden_test_accuracy"]
    assert d["samples_per_second_at_clock"] == pytest.approx(60e6 / d["cycles_per_sample_store"])
    assert d["compute_samples_per_second_at_clock"] == pytest.approx(
        60e6 / d["cycles_per_sample_compute"])
    # the runner's overhead: store-fed >= 90 % of the compute-only rate
    assert d["store_fed_fraction"] >= 0.9
    assert d["samples_per_second_at_clock"] >= 0.9 * d["compute_samples_per_second_at_clock"]


def test_sim_store_options_need_the_store(capsys, monkeypatch):
    import xnorlearn.sim.cosim as cosim
    monkeypatch.setattr(cosim, "run_cosim", lambda *a, **k: pytest.fail("built"))
    for extra in (["--epochs", "3"], ["--store-reader", "memory"], ["--clock-mhz", "12"]):
        assert main(["sim", "--samples", "5", *extra]) == 2
        err = capsys.readouterr().err
        assert "only apply with --data-source store" in err and "Traceback" not in err
    from xnorlearn.sw.cli import build_parser
    a = build_parser().parse_args(["sim", "--data-source", "host"])
    assert a.data_source == "uart"          # "host" is the UART data source


@pytest.mark.cosim
def test_design_without_store_answers_unknown():
    """Through the UART: the plain TrainerTop (the network of ``sim --layers 16 --group-size 4
    --lanes 8`` on the digits, so the Verilator build is shared with that run) answers the
    store commands UNKNOWN and still trains bit-exactly."""
    from xnorlearn.sim.cosim import run_cosim
    from xnorlearn.sw.cli import DEFAULT_SEED, build_parser, default_config_for, load_data
    args = build_parser().parse_args(["sim", "--layers", "16", "--group-size", "4",
                                      "--lanes", "8"])
    args.dataset = "digits"
    ds = load_data(args, seed=DEFAULT_SEED)
    cfg = default_config_for(ds, args).replace(uart_divisor=args.uart_divisor)
    r = run_cosim(cfg, ds.x_train[:2], ds.y_train[:2], testcase="no_store_unknown",
                  progress=False, quiet=True)
    assert r["bit_exact"] and r["store_commands"] == ["UNKNOWN"] * 3


@pytest.mark.cosim
@pytest.mark.slow
@pytest.mark.parametrize("board", ["ulx3s-25f", "orangecrab-25f"])
def test_sim_board_from_its_store(board, tmp_path, capsys):
    """The 784-75-75 default of the ULX3S-25F trained from its SDRAM store (filled over the
    UART first) and of the OrangeCrab-25F from its flash (quad): bit-exact, and fed from the
    store each trains at >= 90 % of its compute-only rate (a record reads in ~107 cycles from
    the SDRAM, in 440 from the quad flash; a sample computes in 425; with four record slots the
    flash reads stalled during every sweep: 86 %)."""
    out = tmp_path / "s.json"
    assert main(["sim", "--board", board, "--data-source", "store", "--samples", "300",
                 "--test-samples", "20", "--check-every", "25", "--json", str(out)]) == 0
    d = json.loads(out.read_text())
    assert d["bit_exact"] and d["board"] == board and d["clock_mhz"] == 60
    if board.startswith("ulx3s"):
        assert d["store_reader"] == "sdram" and d["sdram_errors"] == 0
        assert d["fill_bytes"] > 300 * 99
    else:
        assert d["flash_mode"] == "quad" and d["flash_errors"] == 0
    assert d["records_compared"] == 600 and d["corrupt_header_refused"]
    assert d["samples_per_second_at_clock"] >= 0.9 * d["compute_samples_per_second_at_clock"]


@pytest.mark.cosim
def test_sim_from_the_sdram_store(tmp_path, capsys):
    """The SDRAM store: the SDRAM model starts empty (STORE_INFO refuses it), the host fills it
    with STORE_WRITE through the UART, then the design trains from it bit-exact with no SDRAM
    protocol or timing violation, and a corrupted header in the SDRAM is refused."""
    out = tmp_path / "s.json"
    assert main(["sim", "--data-source", "store", "--store-reader", "sdram", "--samples", "24",
                 "--test-samples", "10", "--layers", "16", "--group-size", "4", "--lanes", "8",
                 "--epochs", "2", "--clock-mhz", "60", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "bit-exact: yes" in text and "its SDRAM" in text and "STORE_WRITE frames" in text
    d = json.loads(out.read_text())
    assert d["bit_exact"] and d["store_reader"] == "sdram" and d["sdram_errors"] == 0
    assert d["flash_errors"] is None and d["corrupt_header_refused"]
    # the whole image was written: the header and 24 + 10 records
    from xnorlearn.sw import protocol as proto
    from xnorlearn.sw.config import Config
    cfg = Config.from_dict(d["config"])
    assert d["fill_bytes"] == proto.STORE_HEADER_BYTES + 34 * proto.record_bytes(cfg)
    assert d["fill_frames"] >= d["fill_bytes"] / proto.store_write_max_data(cfg)
    assert d["records_compared"] == d["samples"] == 48
    assert d["test_accuracy"] == d["golden_test_accuracy"]
    assert d["store_fed_fraction"] >= 0.9
