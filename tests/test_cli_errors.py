"""Every sharp edge of the command line found in review, reproduced and fixed: one clear line
``xnorlearn: error: …``, exit status 2, no traceback, and nothing built or trained first."""

import gzip
import json
import struct

import numpy as np
import pytest

from xnorlearn.sw import train as train_mod
from xnorlearn.sw.cli import main

from conftest import one_line_error


@pytest.fixture
def no_work(monkeypatch):
    """Fail loudly if a command reaches the Verilator build, training or a board build."""
    def forbidden(*a, **k):
        raise AssertionError("work started before the arguments were validated")
    import xnorlearn.boards.build as build_mod
    import xnorlearn.sim.cosim as cosim
    monkeypatch.setattr(cosim, "run_cosim", forbidden)
    monkeypatch.setattr(train_mod, "run_training", forbidden)
    monkeypatch.setattr(build_mod, "build", forbidden)


@pytest.mark.parametrize("argv,needle", [
    (["sim", "--samples", "0"], "--samples: must be >= 1, got 0"),
    (["demo", "--samples", "0"], "--samples: must be >= 1, got 0"),
    (["sim", "--check-every", "0"], "--check-every: must be >= 1, got 0"),
    (["demo", "--check-every", "0"], "--check-every: must be >= 1"),
    (["sim", "--samples", "-5"], "--samples: must be >= 1, got -5"),
    (["sim", "--test-samples", "-1"], "--test-samples: must be >= 0, got -1"),
    (["demo", "--test-samples", "-3"], "--test-samples: must be >= 0"),
    (["sim", "--samples", "abc"], "expected an integer"),
    (["sim", "--samples", "100000"], "has 1438 training samples"),
    (["sim", "--test-samples", "100000"], "test samples"),
    (["train", "--epochs", "0"], "--epochs: must be >= 1"),
    (["train", "--epochs", "-2"], "--epochs: must be >= 1"),
    (["build", "--board", "icebreaker", "--progress", "-1"], "--progress: must be >= 0"),
    (["train", "--nonsense"], "unrecognized arguments: --nonsense"),
    (["sim", "--board", "nope"], "unknown board 'nope'"),
])
def test_bad_numbers_fail_before_any_work(argv, needle, capsys, no_work):
    assert main(argv) == 2
    one_line_error(capsys, needle)


@pytest.mark.parametrize("cmd", [
    ["train", "--no-progress", "--epochs", "1"],
    ["sim"],
    ["demo"],
    ["eval", "--checkpoint", "x.npz"],
    ["fit", "--board", "icebreaker"],
    ["build", "--board", "icebreaker"],
    ["boards"],
])
def test_unwritable_json_is_refused_first(cmd, tmp_path, capsys, no_work):
    for bad, needle in ((tmp_path / "missing" / "r.json", "does not exist"),
                        (tmp_path, "is a folder"),
                        ("/proc/xnorlearn-r.json", "cannot write")):
        assert main(cmd + ["--json", str(bad)]) == 2
        one_line_error(capsys, "--json", needle)


@pytest.mark.parametrize("cmd,flag", [
    (["train", "--no-progress", "--epochs", "1"], "--plot"),
    (["train", "--no-progress", "--epochs", "1"], "--save"),
    (["sim"], "--waves"),
    (["demo"], "--waves"),
    (["eval", "--checkpoint", "x.npz"], "--plot"),
])
def test_unwritable_outputs_are_refused_first(cmd, flag, tmp_path, capsys, no_work):
    assert main(cmd + [flag, str(tmp_path / "no" / "out.x")]) == 2
    one_line_error(capsys, flag, "does not exist")


def test_board_flags_without_target_board_are_refused(capsys, no_work):
    for extra in (["--board", "icebreaker"], ["--port", "/dev/ttyUSB1"],
                  ["--baud", "9600"]):
        assert main(["train", "--no-progress"] + extra) == 2
        one_line_error(capsys, extra[0], "only apply with --target board")


def test_build_progress_zero_means_off(monkeypatch, tmp_path, capsys):
    import xnorlearn.boards.build as build_mod
    seen = {}

    def fake(board, cfg, **kw):
        seen.update(kw)
        raise build_mod.BuildError("stop here")
    monkeypatch.setattr(build_mod, "build", fake)
    assert main(["build", "--board", "icebreaker", "--progress", "0"]) == 1
    assert seen["period"] is None            # the watcher waits for the end, prints nothing
    assert main(["build", "--board", "icebreaker", "--progress", "2.5",
                 "--placement-seed", "7"]) == 1
    assert seen["period"] == 2.5 and seen["seed"] == 7


def test_watcher_with_period_none_prints_nothing(tmp_path):
    import io

    from xnorlearn.boards.build import _Watcher
    out = io.StringIO()
    w = _Watcher(tmp_path, out, None)
    w.start()
    w.stop.set()
    w.join(5)
    assert not w.is_alive() and out.getvalue() == ""


# ------------------------------------------------------------------------------ data
def _idx(path, arr, code):
    header = bytes([0, 0, code, arr.ndim]) + b"".join(struct.pack(">I", d) for d in arr.shape)
    path.write_bytes(gzip.compress(header + arr.astype(arr.dtype.newbyteorder(">")).tobytes()))


def _two_class_mnist(folder, n=300, image_code=0x08):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, n).astype(np.uint8)
    x = np.where(y[:, None, None] == 1, 200, 20).astype(np.uint8) + \
        rng.integers(0, 30, (n, 4, 4)).astype(np.uint8)
    if image_code == 0x09:
        x = (x // 2).astype(np.int8)
    for part, lo, hi in (("train", 0, n - 100), ("t10k", n - 100, n)):
        _idx(folder / f"{part}-images-idx3-ubyte.gz", x[lo:hi], image_code)
        _idx(folder / f"{part}-labels-idx1-ubyte.gz", y[lo:hi], 0x08)


def test_classes_come_from_the_data(tmp_path, capsys):
    _two_class_mnist(tmp_path)
    out = tmp_path / "r.json"
    assert main(["train", "--dataset", "mnist", "--data-dir", str(tmp_path), "--split", "official",
                 "--no-progress",
                 "--epochs", "1", "--layers", "8", "--json", str(out)]) == 0
    assert "2 classes" in capsys.readouterr().out
    r = json.loads(out.read_text())
    assert r["config"]["n_classes"] == 2 and r["dataset"]["n_classes"] == 2
    # a configuration for 10 classes does not silently train the 2-class data
    from xnorlearn.sw.config import Config
    cfg = tmp_path / "ten.toml"
    Config(n_inputs=16, layers=(8,), n_classes=10).save(cfg)
    assert main(["train", "--dataset", "mnist", "--data-dir", str(tmp_path), "--split", "official",
                 "--no-progress",
                 "--epochs", "1", "--config", str(cfg)]) == 2
    one_line_error(capsys, "n_classes = 10", "has 2 classes")


def test_idx_int8_images_are_refused(tmp_path, capsys):
    _two_class_mnist(tmp_path, image_code=0x09)
    assert main(["train", "--dataset", "mnist", "--data-dir", str(tmp_path), "--split", "official",
                 "--no-progress",
                 "--epochs", "1"]) == 2
    one_line_error(capsys, "train-images-idx3-ubyte.gz", "int8",
                   "only unsigned byte data (type 0x08) is supported")


# ------------------------------------------------------------------------------ Ctrl-C
def test_ctrl_c_keeps_the_finished_epochs(tmp_path, capsys, monkeypatch):
    from xnorlearn.sw import checkpoint
    real = train_mod.epoch_order

    def interrupt_in_third_epoch(seed, epoch, n, variant="hw"):
        if epoch == 2:
            raise KeyboardInterrupt
        return real(seed, epoch, n, variant)
    monkeypatch.setattr(train_mod, "epoch_order", interrupt_in_third_epoch)
    out, ck, png = tmp_path / "r.json", tmp_path / "c.npz", tmp_path / "r.png"
    rc = main(["train", "--layers", "32", "--epochs", "5", "--no-progress", "--json", str(out),
               "--save", str(ck), "--plot", str(png)])
    assert rc == 130
    captured = capsys.readouterr()
    assert "keeping the 2 finished epoch(s)" in captured.err and "Traceback" not in captured.err
    r = json.loads(out.read_text())
    assert r["interrupted"] is True and [e["epoch"] for e in r["epochs"]] == [1, 2]
    assert r["checkpoint"]["epoch"] == 2
    assert checkpoint.load(ck).epoch == 2 and png.exists()
