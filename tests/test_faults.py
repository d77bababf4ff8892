"""Faults in the middle of a training session on a chip (the board emulator): a device reset or
a lost connection during an epoch is detected and reported, the session reconnects and resumes
from its last checkpoint, and the result is bit-exact with an uninterrupted run."""

import json

import pytest

from xnorlearn.boards import emulator as emu_mod
from xnorlearn.boards.emulator import BoardEmulator, Fault
from xnorlearn.sw import checkpoint
from xnorlearn.sw.cli import main
from xnorlearn.sw.config import Config
from xnorlearn.sw.model import compare_states


# images go to a cache of each test's own (conftest.py)
pytestmark = pytest.mark.usefixtures("cache")


@pytest.fixture
def small(tmp_path):
    path = tmp_path / "small.json"
    Config(n_inputs=64, layers=(32,), group_sizes=8, n_classes=10, lanes=4, batch=50).save(path)
    return path


def _run(tmp_path, small, name, source="store", extra=()):
    return main(["train", "--target", "emulator", "--board", "icebreaker", "--data-source",
                 source, "--dataset", "digits", "--encoding", "median", "--no-progress",
                 "--config", str(small), "--epochs", "4", "--json", str(tmp_path / f"{name}.json"),
                 *extra])


def _epochs(path):
    return [(e["epoch"], e["train_accuracy"], e["test_accuracy"], e["tables"])
            for e in json.loads(path.read_text())["epochs"]]


def _faulty(monkeypatch, *faults):
    """The next emulator the CLI starts has these faults; returns the list of emulators."""
    made = []

    class Faulty(BoardEmulator):
        def __init__(self, *a, **kw):
            super().__init__(*a, faults=faults if not made else (), **kw)
            made.append(self)
    monkeypatch.setattr(emu_mod, "BoardEmulator", Faulty)
    return made


@pytest.mark.parametrize("fault, source", [
    (Fault("reset", "TRAIN_STORE", nth=3), "store"),
    (Fault("disconnect", "TRAIN_STORE", nth=2, hold_s=1.0), "store"),
    (Fault("reset", "TRAIN", nth=1437 + 300), "uart"),          # epoch 2, sample 301
])
def test_fault_mid_epoch_resumes_bit_exactly(fault, source, tmp_path, small, monkeypatch,
                                             capsys):
    assert _run(tmp_path, small, "straight", source,
                ["--save", str(tmp_path / "straight.npz")]) == 0
    capsys.readouterr()
    made = _faulty(monkeypatch, fault)
    assert _run(tmp_path, small, "faulty", source,
                ["--save", str(tmp_path / "faulty.npz")]) == 0
    err = capsys.readouterr().err
    assert made[0].fault_log == [(fault.kind, fault.command, fault.nth)]
    lost = 3 if fault.nth == 3 else 2
    assert f"lost the device in epoch {lost}" in err, err
    assert f"resuming from {tmp_path / 'faulty.npz'} (after epoch {lost - 1})" in err, err
    assert "Traceback" not in err
    # nothing lost: the same epochs, accuracies, tables and final counters as straight through
    assert _epochs(tmp_path / "faulty.json") == _epochs(tmp_path / "straight.json")
    report = json.loads((tmp_path / "faulty.json").read_text())
    assert [r["epoch"] for r in report["recovered_faults"]] == [lost]
    a = checkpoint.load(tmp_path / "straight.npz")
    b = checkpoint.load(tmp_path / "faulty.npz")
    assert b.epoch == 4 and compare_states(a.counters, b.counters) is None
    assert (a.ctrl == b.ctrl).all()


def test_fault_without_a_checkpoint_stops_and_keeps_the_finished_epochs(tmp_path, small,
                                                                        monkeypatch, capsys):
    _faulty(monkeypatch, Fault("reset", "TRAIN_STORE", nth=3))
    assert _run(tmp_path, small, "nosave") == 2
    err = capsys.readouterr().err
    assert "lost the device in epoch 3" in err and "no checkpoint (--save)" in err
    assert err.strip().splitlines()[-1].startswith("xnorlearn: error: the device stopped "
                                                   "answering in epoch 3")
    assert "Traceback" not in err
    assert [e[0] for e in _epochs(tmp_path / "nosave.json")] == [1, 2]


def test_fault_retries_are_limited(tmp_path, small, monkeypatch, capsys):
    _faulty(monkeypatch, Fault("reset", "TRAIN_STORE", nth=2))
    assert _run(tmp_path, small, "noretry",
                extra=["--save", str(tmp_path / "c.npz"), "--fault-retries", "0"]) == 2
    err = capsys.readouterr().err
    assert "giving up after 0 recoveries" in err
    assert checkpoint.load(tmp_path / "c.npz").epoch == 1       # the finished epoch is kept
    assert [e[0] for e in _epochs(tmp_path / "noretry.json")] == [1]
