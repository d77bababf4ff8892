"""Checkpoints: one verified file, written atomically after every epoch, resumed bit-exactly;
``xnorlearn eval`` on a checkpoint."""

import json

import numpy as np
import pytest

from xnorlearn.sw import checkpoint
from xnorlearn.sw.cli import main
from xnorlearn.sw.model import compare_states

NET = ["--dataset", "digits", "--layers", "48,24", "--group-size", "8,4", "--batch", "37",
       "--seed", "5", "--no-progress"]


def test_resume_is_bit_exact(tmp_path, capsys):
    """4 epochs straight == 2 epochs, save, resume, 2 more: same counters, batch number,
    skip tables and the same accuracies epoch by epoch."""
    straight, half = tmp_path / "straight.npz", tmp_path / "half.npz"
    assert main(["train", *NET, "--epochs", "4", "--save", str(straight),
                 "--json", str(tmp_path / "a.json")]) == 0
    assert main(["train", *NET, "--epochs", "2", "--save", str(half)]) == 0
    assert checkpoint.load(half).epoch == 2
    resumed = tmp_path / "resumed.npz"
    assert main(["train", *NET, "--epochs", "4", "--resume", str(half), "--save", str(resumed),
                 "--json", str(tmp_path / "b.json")]) == 0
    assert "resuming after epoch 2" in capsys.readouterr().out
    a, b = checkpoint.load(straight), checkpoint.load(resumed)
    assert a.epoch == b.epoch == 4
    assert compare_states(a.counters, b.counters) is None
    assert (a.ctrl == b.ctrl).all() and a.ctrl[0] > 0          # sweeps happened
    assert (a.tables == b.tables).all()
    ja, jb = (json.loads((tmp_path / f"{n}.json").read_text()) for n in "ab")
    keys = ("epoch", "train_accuracy", "test_accuracy", "reinforce_p", "tables")
    assert [[e[k] for k in keys] for e in ja["epochs"]] == \
           [[e[k] for k in keys] for e in jb["epochs"]]
    # and the restored model is the trained one
    m = a.model()
    assert compare_states(m.state(), a.counters) is None and m.batch_number == a.ctrl[0]


def test_checkpoint_contents_and_integrity(tmp_path):
    path = tmp_path / "c.npz"
    assert main(["train", *NET, "--epochs", "1", "--save", str(path)]) == 0
    ck = checkpoint.load(path)
    assert ck.config.layers == (48, 24) and ck.config.seed == 5 and ck.variant == "hw"
    assert ck.dataset["name"] == "digits" and ck.dataset["encoding"] == "thermometer"
    assert len(ck.dataset["sha256"]) == 64 and len(ck.sha256) == 64
    assert [c.shape for c in ck.counters] == [(48, 512), (24, 48)]
    assert [r.shape for r in ck.classifiers] == [(48, 10), (24, 10)]
    assert len(ck.history) == 1 and ck.tool_version
    assert not list(tmp_path.glob(".*tmp"))                    # no temporary left behind
    # any change of content is detected
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["counters_1"] = arrays["counters_1"].copy()
    arrays["counters_1"][0, 0] ^= 1
    bad = tmp_path / "bad.npz"
    np.savez(bad, **arrays)
    with pytest.raises(checkpoint.CheckpointError, match="content hash mismatch"):
        checkpoint.load(bad)
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(checkpoint.CheckpointError, match="not an xnorlearn checkpoint"):
        checkpoint.load(tmp_path / "junk.npz")


def test_atomic_save_keeps_the_old_file_on_failure(tmp_path, monkeypatch):
    path = tmp_path / "c.npz"
    assert main(["train", *NET, "--epochs", "1", "--save", str(path)]) == 0
    before = path.read_bytes()
    ck = checkpoint.load(path)

    def boom(src, dst):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(checkpoint.os, "replace", boom)
    with pytest.raises(checkpoint.CheckpointError, match="No space left"):
        checkpoint.save(ck, path)
    assert path.read_bytes() == before and not list(tmp_path.glob(".*tmp"))


@pytest.mark.parametrize("argv,needle", [
    (["--epochs", "2"], "already has 2 epochs"),
    (["--epochs", "3", "--encoding", "median"], "different data"),
    (["--epochs", "3", "--layers", "16,8"], "different one"),
    (["--epochs", "3", "--variant", "paper"], "hw variant"),
])
def test_resume_refuses_what_would_not_continue(argv, needle, tmp_path, capsys):
    path = tmp_path / "c.npz"
    assert main(["train", *NET, "--epochs", "2", "--save", str(path)]) == 0
    capsys.readouterr()
    base = [a for a in NET if a not in ("--layers", "48,24")]
    assert main(["train", *base, "--resume", str(path), *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("xnorlearn: error:") and needle in err and "Traceback" not in err


def test_eval_checkpoint(tmp_path, capsys):
    path = tmp_path / "c.npz"
    assert main(["train", *NET, "--epochs", "2", "--save", str(path),
                 "--json", str(tmp_path / "t.json")]) == 0
    out, png = tmp_path / "e.json", tmp_path / "cm.png"
    assert main(["eval", "--checkpoint", str(path), "--dataset", "digits", "--json", str(out),
                 "--plot", str(png)]) == 0
    text = capsys.readouterr().out
    assert "confusion matrix" in text and "accuracy" in text
    r = json.loads(out.read_text())
    t = json.loads((tmp_path / "t.json").read_text())
    assert r["accuracy"] == t["final_test_accuracy"]           # same model, same test set
    cm = np.array(r["confusion"])
    assert cm.shape == (10, 10) and cm.sum() == r["samples"] == 359
    assert r["accuracy"] == pytest.approx(np.trace(cm) / cm.sum())
    per = r["per_class_accuracy"]
    assert all(p == pytest.approx(cm[k, k] / cm[k].sum()) for k, p in enumerate(per))
    assert png.read_bytes()[:4] == b"\x89PNG"
    # without --dataset: the checkpoint's own data, loaded the same way
    assert main(["eval", "--checkpoint", str(path), "--json", str(out)]) == 0
    assert json.loads(out.read_text())["confusion"] == cm.tolist()
    # a dataset the network cannot take
    assert main(["eval", "--checkpoint", str(path), "--dataset", "digits", "--encoding",
                 "median"]) == 2
    assert "512 inputs" in capsys.readouterr().err


def test_checkpoint_readable_from_python(tmp_path):
    """``xnorlearn.sw.checkpoint.load`` gives a model whose predictions match a live one."""
    from xnorlearn.sw.config import Config
    from xnorlearn.sw.datasets import load_digits
    from xnorlearn.sw.model import HwModel
    from xnorlearn.sw.train import run_training
    ds = load_digits()
    live = HwModel(Config(n_inputs=ds.n_inputs, layers=(32,), group_sizes=8))
    run_training(live, ds, 1, seed=42)
    ck = checkpoint.capture(live, epoch=1, history=[], dataset=checkpoint.dataset_identity(ds))
    checkpoint.save(ck, tmp_path / "x.npz")
    m = checkpoint.load(tmp_path / "x.npz").model()
    assert (m.predict(ds.x_test) == live.predict(ds.x_test)).all()


def test_eval_on_the_board_emulator(tmp_path, capsys):
    """--target emulator: a chip behind a pseudo-terminal gets INIT + WRITE_STATE of the
    checkpoint's counters over the serial protocol and infers like the golden model."""
    path = tmp_path / "c.npz"
    assert main(["train", "--dataset", "digits", "--encoding", "median", "--layers", "32",
                 "--group-size", "8", "--epochs", "2", "--no-progress", "--save",
                 str(path)]) == 0
    gold, emu = tmp_path / "g.json", tmp_path / "e.json"
    assert main(["eval", "--checkpoint", str(path), "--json", str(gold)]) == 0
    assert main(["eval", "--checkpoint", str(path), "--target", "emulator", "--json",
                 str(emu)]) == 0
    assert "emulator: chip inference equals the golden model on all 359" in \
        capsys.readouterr().out
    g, e = json.loads(gold.read_text()), json.loads(emu.read_text())
    assert e["matches_golden"] and e["confusion"] == g["confusion"]
    assert main(["eval", "--checkpoint", str(path), "--port", "/dev/null"]) == 2
    assert "only apply with --target board" in capsys.readouterr().err
    assert main(["eval", "--checkpoint", str(path), "--target", "board"]) == 2
    assert "needs --board NAME and --port" in capsys.readouterr().err


@pytest.mark.cosim
def test_eval_on_the_cosimulated_chip(tmp_path, capsys):
    """--target sim: the Verilog chip powers on in the checkpoint's state (its counters are
    the bank's initial contents, checked against the golden model through the bank) and
    infers like the golden model."""
    path = tmp_path / "c.npz"
    assert main(["train", "--dataset", "digits", "--encoding", "median", "--layers", "16",
                 "--group-size", "4", "--lanes", "8", "--epochs", "2", "--no-progress",
                 "--save", str(path)]) == 0
    out = tmp_path / "s.json"
    assert main(["eval", "--checkpoint", str(path), "--target", "sim", "--samples", "40",
                 "--json", str(out)]) == 0
    assert "sim: chip inference equals the golden model on all 40" in capsys.readouterr().out
    assert json.loads(out.read_text())["matches_golden"]


def test_save_on_the_board_target_equals_golden(tmp_path):
    """--save with --target board (through the board emulator): the counters and batch number
    read back over the link make the same checkpoint as the golden model's run."""
    from xnorlearn.boards.emulator import BoardEmulator
    from xnorlearn.boards.registry import get_board
    from xnorlearn.sw.config import Config
    cfg = Config(n_inputs=64, layers=(32,), group_sizes=8, n_classes=10, lanes=4, batch=50)
    path = tmp_path / "small.json"
    cfg.save(path)
    common = ["--dataset", "digits", "--encoding", "median", "--config", str(path),
              "--epochs", "2", "--no-progress"]
    with BoardEmulator(get_board("icebreaker").config_for(cfg)) as emu:
        assert main(["train", "--target", "board", "--data-source", "uart", "--board",
                     "icebreaker", "--port", emu.port,
                     "--save", str(tmp_path / "board.npz"), *common]) == 0
    assert main(["train", "--save", str(tmp_path / "gold.npz"), *common]) == 0
    b, g = checkpoint.load(tmp_path / "board.npz"), checkpoint.load(tmp_path / "gold.npz")
    assert b.target == "board" and g.target == "golden" and b.epoch == g.epoch == 2
    assert compare_states(g.counters, b.counters) is None
    assert (b.ctrl == g.ctrl).all() and (b.tables == g.tables).all()
    assert all((x == y).all() for x, y in zip(b.classifiers, g.classifiers))
