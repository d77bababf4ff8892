"""One set of command-line conventions: help and defaults on every flag, one meaning per flag
name, the shared network flags, generate's defaults, --version, progress off a terminal."""

import argparse
import io
import json

import pytest

from xnorlearn.sw.cli import _Formatter, build_parser, main


def _subcommands():
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices


def _options(p):
    return [a for a in p._actions if a.option_strings and
            not isinstance(a, (argparse._HelpAction, argparse._VersionAction))]


def test_every_flag_has_help_that_shows_its_default():
    fmt = _Formatter("x")
    for name, p in _subcommands().items():
        for a in _options(p):
            flag = f"{name} {a.option_strings[-1]}"
            assert a.help, f"{flag} has no help"
            if isinstance(a, (argparse._StoreTrueAction, argparse._StoreFalseAction)) \
                    or a.required:
                continue
            text = fmt._get_help_string(a)
            assert "default" in text, f"{flag}: help does not show the default: {text!r}"
            if a.default is not None and "%(default)" in text:
                assert str(a.default) in text % {"default": a.default}


def test_one_meaning_per_flag_name():
    cmds = _subcommands()
    opts = {name: {s for a in _options(p) for s in a.option_strings} for name, p in cmds.items()}
    # --seed is the seed of the network's random choices (its initial / power-on state and
    # the sample order) wherever it appears; nextpnr's seed has its own name
    helps = {name: next(a.help for a in _options(p) if "--seed" in a.option_strings)
             for name, p in cmds.items() if "--seed" in opts[name]}
    assert set(helps) >= {"train", "sim", "build", "fit", "generate"}
    assert len(set(helps.values())) == 1 and "placement" not in helps["build"]
    assert "--placement-seed" in opts["build"]
    # --build-dir is a board build's folder; the Verilator cache is --cache-dir
    for name in ("sim", "demo"):
        assert "--build-dir" not in opts[name] and "--cache-dir" in opts[name]
    # one default encoding
    enc = {name: next(a.default for a in _options(p) if "--encoding" in a.option_strings)
           for name, p in cmds.items() if "--encoding" in opts[name]}
    assert set(enc) >= {"train", "sim", "eval"} and set(enc.values()) == {"thermometer"}


NETWORK = {"--config", "--layers", "--group-size", "--counter-bits", "--batch", "--lanes",
           "--sweep-lanes", "--seed"}


def test_network_flags_are_shared():
    opts = {name: {s for a in _options(p) for s in a.option_strings}
            for name, p in _subcommands().items()}
    for name in ("train", "sim", "fit", "build", "generate"):
        assert NETWORK <= opts[name], (name, NETWORK - opts[name])
    for name in ("fit", "build", "generate"):
        assert {"--inputs", "--classes"} <= opts[name]


def test_fit_takes_the_network_flags(tmp_path, capsys):
    out = tmp_path / "fit.json"
    assert main(["fit", "--board", "ulx3s-85f", "--layers", "64,32", "--group-size", "8",
                 "--lanes", "4", "--inputs", "100", "--classes", "3",
                 "--json", str(out)]) == 0
    cfg = json.loads(out.read_text())["config"]
    assert (cfg["n_inputs"], cfg["layers"], cfg["group_sizes"], cfg["lanes"],
            cfg["n_classes"]) == (100, [64, 32], [8, 8], 4, 3)
    assert "fits: ulx3s-85f" in capsys.readouterr().out


def test_generate_default_design_to_stdout_and_file(tmp_path, capsys):
    from xnorlearn.hw.generate import generate
    from xnorlearn.sw.config import Config
    assert main(["generate", "--block", "selector", "-o", "-"]) == 0
    out, err = capsys.readouterr()
    assert out == generate(Config(), "selector")
    assert "wrote verilog of block selector" in err and "64-64-64" in err
    f = tmp_path / "d.v"
    assert main(["generate", "--block", "decision", "--layers", "32", "--classes", "4",
                 "-o", str(f)]) == 0
    assert f.read_text() == generate(Config(layers=(32,), n_classes=4), "decision")
    assert f"wrote {f}" in capsys.readouterr().out


def test_version(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0
    assert capsys.readouterr().out.startswith("xnorlearn ")


def test_progress_lines_off_a_terminal():
    from xnorlearn.sw.cli import _Progress
    s = io.StringIO()
    p = _Progress(3, stream=s)
    for done in (0, 2000, 4000, 6000, 8000):
        p(0, done, 8000)
    for done in (0, 5000, 8000):            # a chunk may cross several quarters
        p(1, done, 8000)
    for done in (0, 455):                   # one chunk: the epoch line says it all
        p(2, done, 455)
    p.close()
    lines = s.getvalue().splitlines()
    assert lines == ["  epoch 1/3: 2000/8000 samples", "  epoch 1/3: 4000/8000 samples",
                     "  epoch 1/3: 6000/8000 samples", "  epoch 2/3: 5000/8000 samples"]


def test_first_epoch_speed_excludes_jit(monkeypatch):
    """run_training compiles the kernels on a scratch copy before the clock starts: the
    trained model's state equals a run without the warm-up."""
    from xnorlearn.sw import train as train_mod
    from xnorlearn.sw.config import Config
    from xnorlearn.sw.datasets import load_digits
    from xnorlearn.sw.model import HwModel
    ds = load_digits()
    cfg = Config(n_inputs=ds.n_inputs, layers=(32,), group_sizes=8)
    calls = []
    real = train_mod.warm_up
    monkeypatch.setattr(train_mod, "warm_up", lambda t, d: (calls.append(t), real(t, d)))
    a = HwModel(cfg)
    train_mod.run_training(a, ds, 1, seed=42)
    monkeypatch.setattr(train_mod, "warm_up", lambda t, d: None)
    b = HwModel(cfg)
    train_mod.run_training(b, ds, 1, seed=42)
    assert calls == [a]
    assert all((x == y).all() for x, y in zip(a.state(), b.state()))
