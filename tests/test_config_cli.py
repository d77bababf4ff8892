"""Configuration object, CLI, training loop and packaging."""

import json
import pathlib
import subprocess
import sys
import zipfile

import pytest

from xnorlearn.sw.cli import main
from xnorlearn.sw.config import Config, ConfigError
from xnorlearn.sw.datasets import load_digits
from xnorlearn.sw.model import make_model
from xnorlearn.sw.train import run_training

ROOT = pathlib.Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------------------ Config
def test_config_defaults_and_derived():
    c = Config(n_inputs=784, layers=[135, 135])
    assert c.layers == (135, 135) and c.group_sizes == (45, 45)
    assert c.widths == (784, 135, 135) and c.fan_in(1) == 135
    assert c.margin_threshold(0) == 33
    assert (c.counter_min, c.counter_max) == (-128, 127)
    assert c.ideal_cycles_per_sample(8) == 98 * 135 + 17 * 135
    assert Config(layers=(50,)).group_sizes == (50,)       # not in the paper's table: gamma = N
    assert Config(layers=(10, 20), group_sizes=5).group_sizes == (5, 5)


@pytest.mark.parametrize("fmt", ["json", "toml"])
def test_config_round_trip(tmp_path, fmt):
    c = Config(n_inputs=100, layers=(30, 20), group_sizes=(10, 5), counter_bits=6, batch=17,
               seed=123, robustness=0.3, name="x")
    p = tmp_path / f"c.{fmt}"
    c.save(p)
    assert Config.load(p) == c
    assert Config.load(p).digest() == c.digest()
    assert c.replace(seed=1).digest() == c.digest()          # seed is set at run time
    assert c.replace(counter_bits=7).digest() != c.digest()


@pytest.mark.parametrize("changes,needle", [
    ({"layers": []}, "layers"),
    ({"layers": (10, 0)}, "layers[1]"),
    ({"layers": 10}, "layers"),
    ({"layers": (10,), "group_sizes": 3}, "not a multiple"),
    ({"layers": (10, 10), "group_sizes": (5, 5, 5)}, "3 entries"),
    ({"counter_bits": 1}, "counter_bits"),
    ({"counter_bits": 17}, "counter_bits"),
    ({"robustness": 1.0}, "robustness"),
    ({"p_reinforce": -0.1}, "p_reinforce"),
    ({"p_reinforce": float("nan")}, "p_reinforce"),
    ({"batch": 0}, "batch"),
    ({"seed": -1}, "seed"),
    ({"seed": 2**32}, "seed"),
    ({"n_inputs": 2.5}, "n_inputs"),
    ({"n_classes": 1}, "n_classes"),
    ({"lanes": 0}, "lanes"),
    ({"prob_bits": 30}, "prob_bits"),
    ({"prob_bits": 17}, "prob_bits"),
    ({"prob_bits": 7}, "prob_bits"),
    ({"counter_bits": True}, "counter_bits"),
    ({"lanes": 8, "sweep_lanes": 3}, "sweep_lanes"),
    ({"lanes": 4, "sweep_lanes": 8}, "sweep_lanes"),
    ({"uart_divisor": 1}, "uart_divisor"),
])
def test_config_rejects_invalid(changes, needle):
    base = {"n_inputs": 10, "layers": (10,), "group_sizes": None}
    base.update(changes)
    with pytest.raises(ConfigError, match=needle.replace("[", r"\[").replace("]", r"\]")):
        Config(**base)


def test_config_file_errors(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("layers = [1, 2\n")
    with pytest.raises(ConfigError, match="malformed TOML"):
        Config.load(bad)
    unk = tmp_path / "unk.json"
    unk.write_text('{"layers": [4], "widht": 3}')
    with pytest.raises(ConfigError, match="unknown field.*widht"):
        Config.load(unk)
    with pytest.raises(ConfigError, match="cannot read"):
        Config.load(tmp_path / "missing.toml")
    yaml = tmp_path / "c.yaml"
    yaml.write_text("x: 1")
    with pytest.raises(ConfigError, match="format"):
        Config.load(yaml)


# ------------------------------------------------------------------------------ training
@pytest.mark.parametrize("variant", ["hw", "paper"])
def test_digits_reaches_90_percent_deterministically(variant):
    ds = load_digits()
    cfg = Config(n_inputs=ds.n_inputs, layers=(128, 128), group_sizes=16, seed=42)
    runs = [run_training(make_model(cfg, variant), ds, 8, seed=42) for _ in range(2)]
    accs = [e.test_accuracy for e in runs[0].epochs]
    assert accs[-1] >= 0.90, accs
    assert accs == [e.test_accuracy for e in runs[1].epochs]
    assert [e.train_accuracy for e in runs[0].epochs] == [e.train_accuracy
                                                           for e in runs[1].epochs]
    other = run_training(make_model(cfg.replace(seed=7), variant), ds, 2, seed=7)
    assert [e.test_accuracy for e in other.epochs] != accs[:2]


def test_cli_train_json_and_plot(tmp_path, capsys):
    out, png = tmp_path / "r.json", tmp_path / "r.png"
    rc = main(["train", "--dataset", "digits", "--layers", "64,64", "--group-size", "16",
               "--epochs", "2", "--variant", "hw", "--seed", "3", "--json", str(out),
               "--plot", str(png), "--no-progress"])
    assert rc == 0
    text = capsys.readouterr().out
    assert "epoch   2/2" in text and "final test accuracy" in text
    r = json.loads(out.read_text())
    assert r["config"]["layers"] == [64, 64] and r["config"]["seed"] == 3
    assert r["variant"] == "hw" and len(r["epochs"]) == 2
    assert {"train_accuracy", "test_accuracy", "train_samples_per_s"} <= set(r["epochs"][0])
    assert r["wall_seconds"] > 0 and r["train_samples_per_s"] > 0
    assert r["infer_samples_per_s"] > 0 and 0 <= r["final_test_accuracy"] <= 1
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_train_with_config_file(tmp_path, capsys):
    cfg = tmp_path / "net.toml"
    Config(n_inputs=512, layers=(32,), group_sizes=8, batch=10).save(cfg)
    assert main(["train", "--config", str(cfg), "--epochs", "1", "--no-progress",
                 "--json", str(tmp_path / "o.json")]) == 0
    r = json.loads((tmp_path / "o.json").read_text())
    assert r["config"]["layers"] == [32] and r["config"]["batch"] == 10


@pytest.mark.parametrize("argv,needle", [
    (["--layers", "64,x"], "--layers"),
    (["--layers", "60", "--group-size", "16"], "not a multiple"),
    (["--dataset", "mnist"], "data_dir"),
    (["--dataset", "fashion-mnist", "--data-dir", "/nonexistent"], "/nonexistent"),
    (["--epochs", "0"], "epochs"),
    (["--counter-bits", "40"], "counter_bits"),
])
def test_cli_errors_are_clear(argv, needle, capsys):
    assert main(["train", "--no-progress"] + argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("xnorlearn: error:") and needle in err
    assert "Traceback" not in err


def test_cli_config_input_mismatch(tmp_path, capsys):
    cfg = tmp_path / "net.json"
    Config(n_inputs=784, layers=(32,)).save(cfg)
    assert main(["train", "--config", str(cfg), "--no-progress"]) == 2
    assert "784" in capsys.readouterr().err


# ------------------------------------------------------------------------------ packaging
def test_installed_wheel_imports(tmp_path):
    """Build the wheel, install it (no deps) into a fresh folder and import every subpackage
    from there, not from the source tree."""
    wheel_dir, target = tmp_path / "wheel", tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps",
                    "-q", "-w", str(wheel_dir), str(ROOT)], check=True)
    wheels = list(wheel_dir.glob("xnorlearn-*.whl"))
    assert len(wheels) == 1
    names = zipfile.ZipFile(wheels[0]).namelist()
    for sub in ("sw", "hw", "sim", "boards"):
        assert f"xnorlearn/{sub}/__init__.py" in names
    assert "xnorlearn/sw/model.py" in names and "xnorlearn/__init__.py" not in names
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target",
                    str(target), str(wheels[0])], check=True)
    code = ("import sys, xnorlearn.sw, xnorlearn.hw, xnorlearn.sim, xnorlearn.boards;"
            "from xnorlearn.sw.model import HwModel; from xnorlearn.sw.config import Config;"
            "import numpy as np;"
            "m = HwModel(Config(n_inputs=8, layers=(4,), n_classes=2, group_sizes=2));"
            "print(xnorlearn.sw.__file__, m.infer(np.ones(8, np.uint8)))")
    out = subprocess.run([sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, "
                          f"{str(target)!r}); {code}"], check=True, capture_output=True,
                         text=True).stdout
    assert out.startswith(str(target)), out
    entry = [n for n in names if n.endswith("entry_points.txt")]
    text = zipfile.ZipFile(wheels[0]).read(entry[0]).decode()
    assert "xnorlearn = xnorlearn.sw.cli:main" in text
