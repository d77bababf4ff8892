"""``xnorlearn`` command line.

Conventions (every command):

* every flag has a help text that shows its default;
* a flag name means one thing everywhere (``--seed``: the training seed; ``--cache-dir``: the
  Verilator build cache; ``--build-dir``: a board build's folder; ``--placement-seed``:
  nextpnr's seed); the network flags (``--config``, ``--layers``, ``--group-size``, …) come
  from one helper, :func:`add_network_args`;
* ``--json OUT`` writes the result; output paths are checked before any work starts;
* bad input (a malformed configuration, a missing or corrupt dataset file, an out-of-range
  flag) ends with one line ``xnorlearn: error: …`` and exit status 2, never a traceback;
  Ctrl-C exits with 130.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import sys
import tempfile

__all__ = ["main", "build_parser", "default_config_for", "add_network_args",
           "config_overrides", "check_output", "version"]

# Default network per dataset when neither --config nor --layers is given.
DEFAULT_NETWORKS = {
    "digits": ((128, 128), 16),
    "fashion-mnist": ((135, 135), 45),
    "mnist": ((135, 135), 45),
    "prototypes": ((135, 135), 45),
}
TABLE_NETWORK = ((128, 128), 16)     # one's own .csv / .npz data
DEFAULT_SEED = 42


class CliError(Exception):
    """Reported as ``xnorlearn: error: <message>`` with exit status 2."""


class _UsageError(Exception):
    pass


def version():
    from .checkpoint import tool_version
    return tool_version()


# ------------------------------------------------------------------------------ argparse
class _Parser(argparse.ArgumentParser):
    """Parse errors become one line (``xnorlearn: error: …``, status 2) instead of the usage
    block and ``SystemExit``."""

    def error(self, message):
        raise _UsageError(f"{message} (see `{self.prog} --help`)")


class _Formatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows ``(default: …)`` unless the help already names the default or there is none."""

    def _get_help_string(self, action):
        text = action.help or ""
        if "default" in text or action.default is None or action.default is False \
                or action.default == argparse.SUPPRESS or not action.option_strings:
            return text
        return text + " (default: %(default)s)"


def int_at_least(lo):
    """argparse type: an integer >= ``lo``."""
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < lo:
            raise argparse.ArgumentTypeError(f"must be >= {lo}, got {value}")
        return value
    parse.__name__ = f"integer >= {lo}"
    return parse


def float_at_least(lo):
    def parse(text):
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not value >= lo:
            raise argparse.ArgumentTypeError(f"must be >= {lo:g}, got {text}")
        return value
    parse.__name__ = f"number >= {lo:g}"
    return parse


def _subparser(sub, name, **kwargs):
    return sub.add_parser(name, formatter_class=_Formatter, **kwargs)


def add_network_args(p, *, dataset=True):
    """The network flags every command that makes a design or trains one takes. Without a
    dataset (``fit``, ``build``, ``generate``) also ``--inputs`` and ``--classes``."""
    g = p.add_argument_group("network (flags override the configuration file)")
    base = ("the dataset's default network" if dataset else
            "the board's default configuration (without --board: the library default)")
    g.add_argument("--config", metavar="CFG",
                   help=f"configuration file (.toml or .json) (default: {base})")
    if not dataset:
        g.add_argument("--inputs", type=int_at_least(1), metavar="N0",
                       help="input width in bits (default: the configuration's)")
        g.add_argument("--classes", type=int_at_least(2), metavar="C",
                       help="number of classes (default: the configuration's)")
    g.add_argument("--layers", metavar="N1,N2,…",
                   help="hidden-layer widths, e.g. 135,135 (default: the configuration's)")
    g.add_argument("--group-size", metavar="G",
                   help="group size gamma, one value or one per layer (default: the "
                        "configuration's; with --layers the paper's for the width)")
    g.add_argument("--counter-bits", type=int_at_least(2), metavar="K",
                   help="hw counter width k (default: the configuration's, 8)")
    g.add_argument("--batch", type=int_at_least(1), metavar="B",
                   help="mini-batch / reinforcement sweep interval B (default: the "
                        "configuration's, 100)")
    g.add_argument("--lanes", type=int_at_least(1), metavar="P",
                   help="hardware XNOR-popcount lanes P; never changes results (default: the "
                        "configuration's, 8)")
    g.add_argument("--sweep-lanes", type=int_at_least(1), metavar="D",
                   help="hardware PRNG draws per cycle in sweeps (default: the "
                        "configuration's, 1)")
    g.add_argument("--seed", type=int_at_least(0), metavar="S",
                   help=f"seed of every random choice: initial state, sample order, data "
                        f"shuffling (default: the configuration's, {DEFAULT_SEED})")
    return g


def _int_list(text, what):
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise CliError(f"{what} must be comma-separated integers, got {text!r}") from None
    if not values:
        raise CliError(f"{what} is empty")
    return values


def config_overrides(args):
    """The configuration fields the network flags set (only those given)."""
    out = {}
    if getattr(args, "inputs", None) is not None:
        out["n_inputs"] = args.inputs
    if getattr(args, "classes", None) is not None:
        out["n_classes"] = args.classes
    if getattr(args, "layers", None):
        out["layers"] = _int_list(args.layers, "--layers")
        out["group_sizes"] = None
    if getattr(args, "group_size", None):
        out["group_sizes"] = _int_list(args.group_size, "--group-size")
    for field in ("counter_bits", "batch", "seed", "lanes", "sweep_lanes"):
        value = getattr(args, field, None)
        if value is not None:
            out[field] = value
    return out


def config_from(base, args, source="command line"):
    """``base`` (a Config or dict) with the network flags of ``args`` applied."""
    from .config import Config
    d = base.to_dict() if isinstance(base, Config) else dict(base)
    d.update(config_overrides(args))
    return Config.from_dict(d, source=source)


def default_config_for(dataset, args):
    """The run's Config: --config file (or the dataset's default network), then overrides.
    Inputs and classes come from the data; a configuration file that disagrees is refused."""
    from .config import Config

    base = {}
    if args.config:
        base = Config.load(args.config).to_dict()
        if base["n_inputs"] != dataset.n_inputs:
            raise CliError(f"{args.config}: n_inputs = {base['n_inputs']}, but dataset "
                           f"'{dataset.name}' has {dataset.n_inputs} input bits")
        if base["n_classes"] != dataset.n_classes:
            raise CliError(f"{args.config}: n_classes = {base['n_classes']}, but dataset "
                           f"'{dataset.name}' has {dataset.n_classes} classes")
    else:
        layers, gamma = DEFAULT_NETWORKS.get(dataset.name, TABLE_NETWORK)
        base.update(layers=list(layers), group_sizes=None if args.layers else gamma)
    base.update(n_inputs=dataset.n_inputs, n_classes=dataset.n_classes)
    return config_from(base, args)


def _network_flags_given(args):
    return bool(args.config) or bool(config_overrides(args))


# ------------------------------------------------------------------------------ files
def check_output(path, flag, *, allow_stdout=False):
    """Refuse an output path before any work: its folder must exist and take a new file, and
    the path must not be a folder."""
    if path is None or (allow_stdout and str(path) == "-"):
        return
    p = pathlib.Path(path).expanduser()
    if p.is_dir():
        raise CliError(f"{flag} {path}: is a folder, expected a file name")
    parent = p.parent if str(p.parent) else pathlib.Path(".")
    if not parent.is_dir():
        raise CliError(f"{flag} {path}: folder {parent} does not exist")
    if p.exists() and not os.access(p, os.W_OK):
        raise CliError(f"{flag} {path}: file is not writable")
    try:
        with tempfile.NamedTemporaryFile(dir=parent, prefix=".xnorlearn-check-"):
            pass
    except OSError as e:
        raise CliError(f"{flag} {path}: cannot write in folder {parent}: "
                       f"{e.strerror or e}") from None


def _write_json(path, payload):
    """Write ``payload`` as JSON, atomically (temporary file, then rename)."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(payload, indent=2, sort_keys=True, default=_json_default) + "\n")
    os.replace(tmp, path)


def _json_default(o):
    import numpy as np
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, np.generic):
        return o.item()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


# ------------------------------------------------------------------------------ datasets
def add_dataset_args(p, *, default="digits", default_help=None):
    from .datasets import DATASETS
    g = p.add_argument_group("data")
    g.add_argument("--dataset", default=default, metavar="NAME|PATH",
                   help=f"{', '.join(DATASETS)}, or your own table: a .csv file (label column "
                        f"--label-column) or a .npz file with arrays x and y "
                        f"(default: {default_help or default})")
    g.add_argument("--data-dir", metavar="DIR",
                   help="folder with the IDX files (default: fashion-mnist "
                        "/usr/share/datasets/fashion-mnist; mnist has none)")
    g.add_argument("--split", choices=("paper", "official"), default="paper",
                   help="paper: last 10 000 of the shuffled training file as test; "
                        "official: the t10k files (fashion-mnist, mnist)")
    g.add_argument("--encoding", choices=("thermometer", "median"), default="thermometer",
                   help="digits and tables: thermometer code (digits: 8 levels per pixel, "
                        "512 inputs; tables: --levels per feature) or median binarisation "
                        "(digits: one global median, 64 inputs; tables: one bit per feature); "
                        "the IDX datasets are always median-binarised")
    g.add_argument("--label-column", metavar="NAME|INDEX",
                   help="tables (.csv): the label column's header name or index "
                        "(default: the last column)")
    g.add_argument("--levels", type=int_at_least(2), default=32, metavar="L",
                   help="tables: thermometer levels per numeric feature (levels - 1 "
                        "quantile thresholds, one bit each)")
    g.add_argument("--test-fraction", type=float, default=0.2, metavar="F",
                   help="digits and tables: fraction of the shuffled samples held out as "
                        "the test set")
    return g


LOAD_FIELDS = ("dataset", "data_dir", "split", "encoding", "label_column", "levels",
               "test_fraction")


def load_args(args, seed):
    """How the data was loaded (kept in checkpoints so ``eval`` can load it again)."""
    d = {k: getattr(args, k) for k in LOAD_FIELDS}
    if d["dataset"] and os.path.exists(d["dataset"]):
        d["dataset"] = str(pathlib.Path(d["dataset"]).resolve())
    if d["data_dir"]:
        d["data_dir"] = str(pathlib.Path(d["data_dir"]).resolve())
    return {**d, "seed": seed}


def load_data(args, seed=None):
    from .datasets import DATASETS, is_table_path, load_dataset
    name = args.dataset
    if not is_table_path(name) and name not in DATASETS and os.path.exists(name):
        raise CliError(f"--dataset {name}: a file of your own must be .csv or .npz")
    if not 0 < args.test_fraction < 1:
        raise CliError(f"--test-fraction must lie strictly between 0 and 1, got "
                       f"{args.test_fraction}")
    if seed is None:
        seed = args.seed if getattr(args, "seed", None) is not None else DEFAULT_SEED
    if is_table_path(name):
        from .datasets import load_table
        return load_table(name, label_column=args.label_column, encoding=args.encoding,
                          levels=args.levels, seed=seed, test_fraction=args.test_fraction)
    if args.label_column is not None:
        raise CliError("--label-column applies to .csv tables only")
    if name == "digits" and args.test_fraction != 0.2:
        from .datasets import load_digits
        return load_digits(seed=seed, encoding=args.encoding,
                           test_fraction=args.test_fraction)
    return load_dataset(name, data_dir=args.data_dir, split=args.split, seed=seed,
                        encoding=args.encoding)


# ------------------------------------------------------------------------------ progress
class ProgressBar:
    """A tqdm bar on a terminal; otherwise plain lines at every quarter of the work (for
    logs). :meth:`show` draws it, :meth:`close` ends one bar (the next :meth:`show` starts
    another)."""

    def __init__(self, enabled=True, stream=None):
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.tty = self.stream.isatty() if hasattr(self.stream, "isatty") else False
        self.bar = None
        self.next_quarter = 1

    def show(self, done, total, desc, unit, line, unit_scale=False):
        """``done`` of ``total`` ``unit``s; ``line``: the text of a quarter line."""
        if not self.enabled:
            return
        if self.tty:
            if self.bar is None:
                from tqdm import tqdm
                self.bar = tqdm(total=total, desc=desc, unit=unit, unit_scale=unit_scale,
                                leave=False, file=self.stream, dynamic_ncols=True)
            self.bar.update(done - self.bar.n)
            return
        if done == 0:
            self.next_quarter = 1
        if 0 < done < total and done >= self.next_quarter * total / 4:
            print(line, file=self.stream, flush=True)
            while self.next_quarter * total / 4 <= done:
                self.next_quarter += 1

    def close(self):
        if self.bar is not None:
            self.bar.close()
            self.bar = None


class _Progress(ProgressBar):
    """A bar per epoch of training samples."""

    def __init__(self, epochs, enabled=True, stream=None):
        super().__init__(enabled, stream)
        self.epochs = epochs

    def __call__(self, epoch, done, total):
        self.show(done, total, f"epoch {epoch + 1}/{self.epochs}", "sample",
                  f"  epoch {epoch + 1}/{self.epochs}: {done}/{total} samples")


# ------------------------------------------------------------------------------ train
def cmd_train(args):
    from . import checkpoint
    from .model import make_model
    from .protocol import ProtocolError
    from .train import EpochResult, plot_curves, run_training

    board_target = args.target in ("board", "emulator")
    from ..boards.cli import check_chip_args
    check_chip_args(args)           # --board, --port, --data-source, --image, --dry-run
    for flag, path in (("--json", args.json), ("--plot", args.plot), ("--save", args.save)):
        check_output(path, flag)
    if (args.save or args.resume) and args.variant != "hw":
        raise CliError("checkpoints (--save, --resume) hold the hw variant; drop "
                       "--variant paper")
    if board_target and args.variant != "hw":
        raise CliError(f"--target {args.target} trains the hw variant (the chip); drop "
                       f"--variant")
    ck = checkpoint.load(args.resume) if args.resume else None
    if ck is not None and args.epochs <= ck.epoch:
        raise CliError(f"{args.resume} already has {ck.epoch} epochs; --epochs is the total "
                       f"number of epochs, give more than {ck.epoch}")
    seed = ck.dataset.get("seed") if ck is not None else None
    dataset = load_data(args, seed=seed)
    identity = {**checkpoint.dataset_identity(dataset),
                "load": load_args(args, seed if seed is not None else
                                  args.seed if args.seed is not None else DEFAULT_SEED)}

    model = None
    session = None
    start_epoch, history = 0, []
    if ck is not None:
        if ck.dataset.get("sha256") != identity["sha256"]:
            raise CliError(f"{args.resume} was trained on dataset '{ck.dataset.get('name')}' "
                           f"({ck.dataset.get('n_train')} train samples, encoding "
                           f"{ck.dataset.get('encoding')}); this is different data "
                           f"('{dataset.name}', {dataset.n_train} samples, encoding "
                           f"{identity['encoding']})")
        if _network_flags_given(args):
            asked = config_from(ck.config, args) if not args.config else \
                default_config_for(dataset, args)
            if asked.replace(uart_divisor=ck.config.uart_divisor) != ck.config:
                raise CliError(f"--resume continues {args.resume}'s configuration; the "
                               f"network flags ask for a different one (drop them)")
        start_epoch = ck.epoch
        history = [EpochResult(**e) for e in ck.history]
    if board_target:
        # the chip over its serial port (a board, or the emulator's pseudo-terminal): the same
        # loop through TRAIN requests, or whole epochs from its data store (xnorlearn.boards.cli)
        from ..boards.cli import chip_session
        session = chip_session(args, dataset, config=ck.config if ck is not None else None)
        if session is None:         # --dry-run: the commands were printed
            return 0
        model, cfg = session.model, session.cfg
        if ck is not None:          # INIT, WRITE_STATE, SET_BATCH: the checkpoint's network
            model.restore(_at_divisor(ck, cfg))
    elif ck is not None:
        cfg = ck.config
        model = ck.model()
    else:
        cfg = default_config_for(dataset, args)
    widths = "-".join(str(w) for w in cfg.widths)
    where = session.where if session is not None else ""
    resumed = f", resuming after epoch {start_epoch} of {args.resume}" if ck else ""
    print(f"xnorlearn train: {dataset.name} ({len(dataset.y_train)} train / "
          f"{len(dataset.y_test)} test, {dataset.n_classes} classes), network {widths}, "
          f"group sizes {','.join(map(str, cfg.group_sizes))}, {args.variant} variant, "
          f"seed {cfg.seed}{where}{resumed}", flush=True)
    for note in (session.notes if session is not None else ()):
        print(note, flush=True)
    if model is None:
        model = make_model(cfg, args.variant)

    progress = _Progress(args.epochs, enabled=not args.no_progress)
    saved = []

    def on_epoch(er):
        progress.close()
        print(f"epoch {er.epoch:3d}/{args.epochs}  train {100 * er.train_accuracy:6.2f} %  "
              f"test {100 * er.test_accuracy:6.2f} %  {er.train_seconds:7.2f} s  "
              f"{er.train_samples_per_s:9.0f} samples/s", flush=True)
        hist.append(er)
        if args.save:
            ck_now = checkpoint.capture(session.model if session is not None else model,
                                        epoch=er.epoch,
                                        history=[_asdict(e) for e in hist], dataset=identity,
                                        target=args.target)
            checkpoint.save(ck_now, args.save)
            saved.append(er.epoch)

    hist = list(history)

    def write_outputs(result):
        payload = {"command": "train", **result.to_dict(), "target": args.target}
        if session is not None:
            payload.update(session.info)
            payload["recovered_faults"] = recovered
        if args.save and saved:
            payload["checkpoint"] = {"path": args.save, "epoch": saved[-1]}
        if args.json:
            _write_json(args.json, payload)
            print(f"wrote {args.json}")
        if args.plot and result.epochs:
            plot_curves(result, args.plot)
            print(f"wrote {args.plot}")
        if args.save and saved:
            print(f"wrote {args.save} (checkpoint after epoch {saved[-1]})")

    def train(first, accuracy, done):
        if session is not None and session.store is not None:
            from .store import run_store_training
            return run_store_training(session.store, dataset, args.epochs,
                                      samples_per_s=session.samples_per_s,
                                      progress=progress, on_epoch=on_epoch, start_epoch=first,
                                      start_accuracy=accuracy, history=done)
        return run_training(session.model if session is not None else model, dataset,
                            args.epochs, seed=cfg.seed, progress=progress, on_epoch=on_epoch,
                            variant=args.variant, start_epoch=first, start_accuracy=accuracy,
                            history=done)

    def recover(error):
        """The chip stopped answering: report it, reconnect and restore the last checkpoint
        (or the start). False when the run cannot go on (no --save, retries used up)."""
        progress.close()
        print(f"xnorlearn: lost the device in epoch {len(hist) + 1}: {error}",
              file=sys.stderr, flush=True)
        if not args.save:
            print("xnorlearn: no checkpoint (--save) to resume from; stopping with the "
                  "finished epochs", file=sys.stderr)
            return False
        if len(recovered) >= args.fault_retries:
            print(f"xnorlearn: giving up after {len(recovered)} recoveries (--fault-retries)",
                  file=sys.stderr)
            return False
        last = saved[-1] if saved else None
        print("xnorlearn: reconnecting, then resuming from "
              + (f"{args.save} (after epoch {last})" if last else
                 f"{args.resume} (after epoch {start_epoch})" if ck else "the start"),
              file=sys.stderr, flush=True)
        session.reconnect()
        if last:
            session.model.restore(_at_divisor(checkpoint.load(args.save), cfg))
        elif ck is not None:
            session.model.restore(_at_divisor(ck, cfg))
        else:
            session.model.init()
        keep = last if last else start_epoch
        recovered.append({"epoch": len(hist) + 1, "error": str(error),
                          "resumed_after_epoch": keep})
        hist[:] = [e for e in hist if e.epoch <= keep]
        return True

    recovered = []
    try:
        first, accuracy, done = start_epoch, (ck.last_train_accuracy if ck else 0.0), history
        while True:
            try:
                result = train(first, accuracy, done)
                break
            except (ProtocolError, OSError) as e:
                if session is None:
                    raise
                lost_in = len(hist) + 1
                if not recover(e):
                    from .train import new_result
                    write_outputs(new_result(cfg, dataset, "chip", hist))
                    raise CliError(f"the device stopped answering in epoch {lost_in}: "
                                   f"{e}") from None
                first, done = len(hist), list(hist)
                accuracy = hist[-1].train_accuracy if hist else 0.0
    except KeyboardInterrupt as e:
        progress.close()
        partial = getattr(e, "result", None)
        if partial is None:
            raise
        done = len(partial.epochs)
        print(f"xnorlearn: interrupted; keeping the {done} finished epoch(s)", file=sys.stderr)
        write_outputs(partial)
        return 130
    finally:
        if session is not None:
            session.close()
    print(f"final test accuracy {100 * result.final_test_accuracy:.2f} %  "
          f"({result.wall_seconds:.1f} s wall, {result.train_samples_per_s:.0f} training "
          f"samples/s, {result.infer_samples_per_s:.0f} inference samples/s)")
    write_outputs(result)
    return 0


def _at_divisor(ck, cfg):
    """Checkpoint ``ck`` with the configuration ``cfg`` of the chip it resumes on (the same
    network at the board's UART divisor, which changes nothing the checkpoint holds)."""
    import dataclasses
    if ck.config.replace(uart_divisor=cfg.uart_divisor) != cfg:
        raise CliError("--resume: the chip's configuration is not the checkpoint's")
    return dataclasses.replace(ck, config=cfg)


def _asdict(er):
    from dataclasses import asdict
    return asdict(er)


# ------------------------------------------------------------------------------ eval
def cmd_eval(args):
    import numpy as np

    from . import checkpoint
    for flag, path in (("--json", args.json), ("--plot", args.plot)):
        check_output(path, flag)
    if args.target != "board":
        given = [f for f, v in (("--board", args.board), ("--port", args.port),
                                ("--baud", args.baud)) if v is not None]
        if given:
            raise CliError(f"{', '.join(given)} only apply with --target board")
    elif not args.board or not args.port:
        raise CliError("--target board needs --board NAME and --port DEVICE")
    if args.target == "sim" and args.samples is None:
        args.samples = 100
    ck = checkpoint.load(args.checkpoint)
    if args.dataset is None:
        # the data the checkpoint was trained on, loaded the same way
        saved = ck.dataset.get("load")
        if not saved:
            raise CliError(f"{args.checkpoint} does not say how its data was loaded; give "
                           f"--dataset")
        for k in LOAD_FIELDS:
            setattr(args, k, saved[k])
    dataset = load_data(args, seed=ck.dataset.get("seed"))
    cfg = ck.config
    if (dataset.n_inputs, dataset.n_classes) != (cfg.n_inputs, cfg.n_classes):
        raise CliError(f"{args.checkpoint}: the network takes {cfg.n_inputs} inputs and "
                       f"{cfg.n_classes} classes; dataset '{dataset.name}' has "
                       f"{dataset.n_inputs} and {dataset.n_classes} (same --encoding as in "
                       f"training?)")
    model = ck.model()
    x, y = (dataset.x_test, dataset.y_test) if args.part == "test" else \
        (dataset.x_train, dataset.y_train)
    if args.samples is not None:
        x, y = x[:args.samples], y[:args.samples]
    golden = model.predict(x)
    if args.target == "golden":
        pred = golden
    elif args.target == "sim":
        pred = _sim_predict(args, ck, x)
    else:
        pred = _chip_predict(args, ck, x)
    matches = bool((pred == golden).all())
    if args.target != "golden" and matches:
        print(f"{args.target}: chip inference equals the golden model on all {len(y)} samples")
    elif args.target != "golden":
        print(f"{args.target}: chip inference DIFFERS from the golden model on "
              f"{int((pred != golden).sum())} of {len(y)} samples", file=sys.stderr)
    c = cfg.n_classes
    confusion = np.zeros((c, c), dtype=np.int64)
    np.add.at(confusion, (y, pred), 1)
    support = confusion.sum(axis=1)
    per_class = [float(confusion[k, k] / support[k]) if support[k] else None for k in range(c)]
    accuracy = float((pred == y).mean()) if len(y) else 0.0
    names = dataset.info.get("classes") or [str(k) for k in range(c)]
    print(f"xnorlearn eval: {args.checkpoint} (epoch {ck.epoch}, network "
          f"{'-'.join(map(str, cfg.widths))}) on {dataset.name} {args.part} "
          f"({len(y)} samples)")
    print(f"accuracy {100 * accuracy:.2f} %")
    for k in range(c):
        acc = "   –  " if per_class[k] is None else f"{100 * per_class[k]:6.2f}"
        print(f"  class {str(names[k]):>12}: {acc} %  ({support[k]} samples)")
    print("confusion matrix (rows: true class, columns: predicted):")
    for k in range(c):
        print("  " + " ".join(f"{v:5d}" for v in confusion[k]))
    if args.json:
        _write_json(args.json, {"command": "eval", "checkpoint": args.checkpoint,
                                "epoch": ck.epoch, "dataset": checkpoint.dataset_identity(
                                    dataset), "part": args.part, "samples": int(len(y)),
                                "accuracy": accuracy, "per_class_accuracy": per_class,
                                "classes": [str(n) for n in names],
                                "confusion": confusion.tolist(), "target": args.target,
                                "matches_golden": matches})
        print(f"wrote {args.json}")
    if args.plot:
        _plot_confusion(confusion, names, f"{dataset.name} {args.part}: "
                                          f"{100 * accuracy:.2f} %", args.plot)
        print(f"wrote {args.plot}")
    return 0 if matches else 1


def _chip_predict(args, ck, x):
    """Predictions of a chip (the board emulator, or a board on its serial port) after
    INIT(seed) and WRITE_STATE of the checkpoint's counters."""
    import numpy as np

    from .driver import Device, SerialTransport, run_sync
    from .protocol import ProtocolError

    def infer_all(transport, cfg):
        async def go():
            dev = await Device.connect(transport, cfg)
            await dev.init(cfg.seed)
            await dev.load_state(ck.counters)
            return [await dev.infer(xi) for xi in x]
        try:
            return np.array(run_sync(go()), dtype=np.int64)
        except ProtocolError as e:
            raise RuntimeError(f"{args.port or 'emulator'}: {e}") from None

    if args.target == "emulator":
        from ..boards.emulator import BoardEmulator
        with BoardEmulator(ck.config) as emu:
            transport = SerialTransport(emu.port)
            try:
                return infer_all(transport, ck.config)
            finally:
                transport.serial.close()
    from ..boards.registry import get_board
    board = get_board(args.board)
    cfg = board.config_for(ck.config, args.baud)
    transport = SerialTransport(args.port, baudrate=args.baud or board.baud)
    try:
        return infer_all(transport, cfg)
    finally:
        transport.serial.close()


def _sim_predict(args, ck, x):
    """Predictions of the co-simulated chip (Verilator) powering on in the checkpoint's
    state (its counters as the bank's initial contents), inferring through its UART."""
    import numpy as np

    from ..sim.cosim import default_build_root, run_cosim
    cfg = ck.config.replace(uart_divisor=4)
    cache = args.cache_dir or default_build_root()
    print(f"co-simulating the chip in the checkpoint's state (Verilator, cache {cache}) …",
          flush=True)
    r = run_cosim(cfg, np.zeros((0, cfg.n_inputs), np.uint8), np.zeros(0, np.int64), x,
                  np.zeros(len(x), np.int64), build_root=cache, quiet=not args.verbose,
                  testcase="infer_only", counter_state=ck.counters)
    return np.asarray(r["predictions"], dtype=np.int64)


def _plot_confusion(confusion, names, title, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    c = len(confusion)
    fig, ax = plt.subplots(figsize=(1.0 + 0.5 * c, 0.8 + 0.5 * c), dpi=120)
    ax.imshow(confusion, cmap="Blues")
    for i in range(c):
        for j in range(c):
            ax.text(j, i, str(confusion[i, j]), ha="center", va="center", fontsize=7,
                    color="white" if confusion[i, j] > confusion.max() / 2 else "black")
    ax.set_xticks(range(c), [str(n) for n in names], rotation=90, fontsize=7)
    ax.set_yticks(range(c), [str(n) for n in names], fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


# ------------------------------------------------------------------------------ sim / demo
def _cosim(args, dataset, cfg, n_train, n_test, title, bank=None, row_words=None,
           link="uart"):
    from ..sim.cosim import default_build_root, run_cosim

    x, y = dataset.x_train[:n_train], dataset.y_train[:n_train]
    xt, yt = dataset.x_test[:n_test], dataset.y_test[:n_test]
    widths = "-".join(str(w) for w in cfg.widths)
    banks = {"spram": "UP5K SPRAM bank", "bram-rows": f"pipelined bank, rows of {row_words}",
             None: "block-RAM bank", "bram": "block-RAM bank"}
    print(f"{title}: {dataset.name}, network {widths}, group sizes "
          f"{','.join(map(str, cfg.group_sizes))}, {cfg.lanes} lanes, {banks[bank]}, "
          f"{len(y)} training + {len(yt)} test samples, " +
          (f"UART divisor {cfg.uart_divisor}" if link == "uart" else
           "host link without its UART (byte rings)"), flush=True)
    cache = args.cache_dir or default_build_root()
    print(f"generating Verilog and building it with Verilator in {cache} (cached after the "
          f"first run) …", flush=True)
    r = run_cosim(cfg, x, y, xt, yt, check_every=args.check_every, waves=args.waves,
                  build_root=cache, quiet=not args.verbose, row_words=row_words, bank=bank,
                  link=link)
    ideal = r["ideal_cycles_per_sample"]
    print(f"bit-exact: yes — every counter of every layer equals the golden model after each "
          f"of {r['samples']} samples" + ("" if args.check_every == 1 else
                                          f" (checked every {args.check_every} samples)"))
    print(f"online training accuracy {100 * r['train_accuracy']:.1f} %", end="")
    if r.get("test_accuracy") is not None:
        print(f", test accuracy {100 * r['test_accuracy']:.1f} % on {r['test_samples']} "
              f"samples (chip inference = golden model)")
    else:
        print()
    steady = r.get("steady_state_samples", r["samples"])
    print(f"cycles per training sample: {r['cycles_per_sample_compute']:.0f} compute "
          f"({r['cycles_per_sample_compute'] / ideal:.3f} x ideal {ideal}; steady state over "
          f"{steady} samples, sweeps amortised), {r['cycles_per_sample_with_uart']:.0f} with "
          + (f"the UART at divisor {cfg.uart_divisor}" if link == "uart" else
             "the byte link"))
    if r.get("cycles_per_second"):
        print(f"simulation speed {r['cycles_per_second']:,.0f} cycles/s while training "
              f"({r['overall_cycles_per_second']:,.0f} over the whole bench, INIT and its "
              f"checks included)")
    return r


def _check_sample_counts(args, dataset):
    if args.samples > dataset.n_train:
        raise CliError(f"--samples {args.samples}: dataset '{dataset.name}' has "
                       f"{dataset.n_train} training samples")
    if args.test_samples > dataset.n_test:
        raise CliError(f"--test-samples {args.test_samples}: dataset '{dataset.name}' has "
                       f"{dataset.n_test} test samples")


def cmd_sim(args):
    for flag, path in (("--json", args.json), ("--waves", args.waves)):
        check_output(path, flag)
    board = None
    if args.board:
        from ..boards.registry import get_board
        board = get_board(args.board)
    if args.dataset is None:
        args.dataset = "fashion-mnist" if board else "digits"
    dataset = load_data(args, seed=args.seed if args.seed is not None else DEFAULT_SEED)
    _check_sample_counts(args, dataset)
    bank = row_words = None
    if board:
        from ..boards.cli import board_config
        from ..boards.fit import check_fit
        from ..sim.cosim import board_bank
        board, cfg = board_config(args, dataset)
        check_fit(board, cfg)
        bank, row_words = board_bank(board, cfg)
    else:
        cfg = default_config_for(dataset, args)
    cfg = cfg.replace(uart_divisor=args.uart_divisor)
    store_only = [f for f, v in (("--store-reader", args.store_reader),
                                 ("--epochs", args.epochs), ("--clock-mhz", args.clock_mhz),
                                 ("--flash-mode", args.flash_mode))
                  if v is not None]
    if args.data_source != "store" and store_only:
        raise CliError(f"{', '.join(store_only)} only apply with --data-source store")
    if args.data_source == "store" and args.link != "uart":
        raise CliError("--link bytes applies to --data-source uart only (the store path "
                       "sends a few requests per epoch)")
    if args.data_source == "store":
        return _sim_store(args, dataset, cfg, board, bank, row_words)
    r = _cosim(args, dataset, cfg, args.samples, args.test_samples, "xnorlearn sim",
               bank=bank, row_words=row_words, link=args.link)
    extra = {}
    if board:
        per_s = board.core_hz / r["cycles_per_sample_compute"]
        extra = {"board": board.name, "bank": bank, "row_words": row_words,
                 "clock_mhz": board.core_hz / 1e6, "samples_per_second_at_clock": per_s}
        print(f"on a {board.title} at {board.core_hz / 1e6:g} MHz this design trains "
              f"{per_s:,.0f} samples/s on chip (steady state, compute only)")
    print(f"wall time {r['total_wall_seconds']:.1f} s")
    if args.json:
        _write_json(args.json, {"command": "sim", "dataset": dataset.name, **r, **extra})
        print(f"wrote {args.json}")
    return 0


def _sim_store(args, dataset, cfg, board, bank, row_words):
    """``sim --data-source store``: the chosen samples as a data-store image in the simulated
    design, trained with TRAIN_STORE over ``--epochs`` epochs and evaluated with EVAL_STORE."""
    from ..sim.cosim import default_build_root, run_store_cosim

    args.epochs = 2 if args.epochs is None else args.epochs
    args.store_reader = args.store_reader or (board.store_medium if board else "flash")
    x, y = dataset.x_train[:args.samples], dataset.y_train[:args.samples]
    xt, yt = dataset.x_test[:args.test_samples], dataset.y_test[:args.test_samples]
    widths = "-".join(str(w) for w in cfg.widths)
    print(f"xnorlearn sim (data store): {dataset.name}, network {widths}, {len(y)} training "
          f"+ {len(yt)} test records in the store image, {args.epochs} epochs of TRAIN_STORE",
          flush=True)
    cache = args.cache_dir or default_build_root()
    print(f"generating Verilog and building it with Verilator in {cache} (cached after the "
          f"first run) …", flush=True)
    flash = {}
    if args.flash_mode and (args.store_reader != "flash" or not board):
        raise CliError("--flash-mode needs --board and the flash reader (--store-reader flash)")
    if args.store_reader == "flash" and board:
        from ..boards.flash_pins import flash_facts, with_flash_mode
        facts = flash_facts(with_flash_mode(board, args.flash_mode))
        flash = {"flash_mode": facts.mode, "flash_set_qe": facts.set_qe}
    if board:
        flash["store_slots"] = board.store_slots
    r = run_store_cosim(cfg, x, y, xt, yt, epochs=args.epochs, identity=dataset.name[:24],
                        build_root=cache, quiet=not args.verbose, row_words=row_words,
                        bank=bank, waves=args.waves, reader=args.store_reader,
                        check_every=args.check_every, **flash)
    source = {"flash": f"its SPI flash ({r['flash_mode']} reads, flash model: no protocol "
                       f"violation)",
              "sdram": "its SDRAM (SDRAM model: no protocol or timing violation)",
              "memory": "its store (memory reader)"}[args.store_reader]
    if args.store_reader == "sdram":
        print(f"the host filled the SDRAM store over the UART first: {r['fill_bytes']:,} bytes "
              f"in {r['fill_frames']} STORE_WRITE frames, {r['fill_cycles']:,} cycles")
    every = ("each of the" if args.check_every == 1 else
             f"every {args.check_every}th (and each range's last) of the")
    print(f"bit-exact: yes — every counter equals the golden model after {every} "
          f"{r['records_compared']} records the chip fed itself from {source}; every "
          f"prediction equals the golden model's")
    for e in r["epochs"]:
        print(f"epoch {e['epoch']}: training accuracy {100 * e['train_accuracy']:.1f} %")
    if r.get("test_accuracy") is not None:
        print(f"EVAL_STORE test accuracy {100 * r['test_accuracy']:.1f} % on "
              f"{r['test_samples']} records (golden model "
              f"{100 * r['golden_test_accuracy']:.1f} %)")
    print("a corrupted store header is refused (STORE_INFO unreadable, TRAIN_STORE BAD_STORE)")
    store, compute = r["cycles_per_sample_store"], r["cycles_per_sample_compute"]
    print(f"cycles per training sample: {store:.1f} from the store (TRAIN_STORE start to "
          f"reply; {r['cycles_per_sample_store_steady'] or float('nan'):.1f} record to "
          f"record), {compute:.1f} compute (the core's busy cycles): the store-fed rate is "
          f"{100 * compute / store:.1f} % of the compute-only rate")
    hz = args.clock_mhz * 1e6 if args.clock_mhz else (board.core_hz if board else None)
    extra = {"data_source": "store", "clock_mhz": hz / 1e6 if hz else None,
             "samples_per_second_at_clock": hz / store if hz else None,
             "compute_samples_per_second_at_clock": hz / compute if hz else None,
             "store_fed_fraction": compute / store}
    if board:
        extra.update(board=board.name, bank=bank, row_words=row_words)
    if hz:
        print(f"at {hz / 1e6:g} MHz{' (' + board.title + ')' if board else ''}: "
              f"{hz / store:,.0f} samples/s from the store, {hz / compute:,.0f} compute only")
    if r.get("cycles_per_second"):
        print(f"simulation speed {r['cycles_per_second']:,.0f} cycles/s while training")
    print(f"wall time {r['total_wall_seconds']:.1f} s")
    if args.json:
        _write_json(args.json, {"command": "sim", "dataset": dataset.name, **r, **extra})
        print(f"wrote {args.json}")
    return 0


def cmd_demo(args):
    from .datasets import load_dataset

    for flag, path in (("--json", args.json), ("--waves", args.waves)):
        check_output(path, flag)
    dataset = load_dataset("digits", seed=DEFAULT_SEED)
    _check_sample_counts(args, dataset)
    base = {"n_inputs": dataset.n_inputs, "n_classes": dataset.n_classes,
            "layers": [64], "group_sizes": [4], "lanes": 16, "batch": 50,
            "uart_divisor": 4}
    from ..boards.fit import fit_report
    from ..boards.registry import BOARDS
    from ..sim.cosim import board_bank
    from .config import Config
    cfg = Config.from_dict(base, source="demo")
    # project onto the first listed board the design fits, co-simulating that board's bank
    board = next(b for b in BOARDS.values() if fit_report(b, b.config_for(cfg)).fits)
    bank, rows = board_bank(board, cfg)
    r = _cosim(args, dataset, cfg, args.samples, args.test_samples,
               "xnorlearn demo (on-chip training in co-simulation)", bank=bank, row_words=rows)
    compute = r["cycles_per_sample_compute"]
    hz = board.core_hz
    per_s = hz / compute
    # the link's share scales with the bit period: board.uart_divisor cycles per bit is
    # board.baud at the board's clock
    uart = (r["cycles_per_sample_with_uart"] - compute) * board.uart_divisor / cfg.uart_divisor
    print(f"on a {board.title} at {hz / 1e6:g} MHz (the first listed board it fits; "
          f"`xnorlearn fit`) this design trains {per_s:,.0f} samples/s on chip "
          f"({hz / (compute + uart):,.0f} samples/s when every sample comes through a "
          f"{board.baud:,} Bd UART, one request at a time)")
    print(f"wall time {r['total_wall_seconds']:.1f} s")
    if args.json:
        _write_json(args.json, {"command": "demo", "dataset": dataset.name,
                                "board": board.name, "board_hz": hz,
                                "board_samples_per_s": per_s, **r})
        print(f"wrote {args.json}")
    return 0


def _add_cosim_run_args(p, samples, test_samples):
    p.add_argument("--samples", type=int_at_least(1), default=samples, metavar="N",
                   help="training samples (the first of the training set)")
    p.add_argument("--test-samples", type=int_at_least(0), default=test_samples, metavar="N",
                   help="test samples inferred on the chip after training")
    p.add_argument("--check-every", type=int_at_least(1), default=1, metavar="N",
                   help="compare the full state with the golden model every N samples (and "
                        "after the last)")
    p.add_argument("--waves", metavar="OUT", help="write a waveform dump (VCD) here "
                                                  "(default: none)")
    p.add_argument("--cache-dir", metavar="DIR",
                   help="Verilator build cache (default: $XNORLEARN_CACHE, else "
                        "$XDG_CACHE_HOME/xnorlearn, else ~/.cache/xnorlearn; builds in "
                        "<cache>/verilator)")
    p.add_argument("--verbose", action="store_true",
                   help="show the Verilator build and every cocotb log line")
    p.add_argument("--json", metavar="OUT", help="write the result as JSON (default: none)")


# ------------------------------------------------------------------------------ generate
def cmd_generate(args):
    from ..hw import generate as gen
    from .config import Config
    if args.list_blocks:
        width = max(len(b) for b in gen.BLOCKS)
        for name, (_, desc) in gen.BLOCKS.items():
            print(f"{name:<{width}}  {desc}")
        return 0
    check_output(args.output, "-o/--output", allow_stdout=True)
    if args.board:
        from ..boards.registry import get_board
        board = get_board(args.board)
        base = Config.load(args.config) if args.config else board.default_config()
        cfg = board.config_for(config_from(base, args))
    else:
        base = Config.load(args.config) if args.config else Config()
        cfg = config_from(base, args)
    blocks = list(gen.BLOCKS) if args.block is None else [args.block]
    texts = [gen.generate(cfg, b, args.format, args.layer) for b in blocks]
    text = "\n".join(texts)
    what = (f"{args.format} of {'every block' if args.block is None else 'block ' + args.block}"
            f" ({', '.join(blocks) if len(blocks) > 1 else blocks[0]}), network "
            f"{'-'.join(map(str, cfg.widths))}, {cfg.n_classes} classes, P={cfg.lanes}, "
            f"k={cfg.counter_bits}")
    if args.output == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
        print(f"xnorlearn generate: wrote {what} to stdout", file=sys.stderr)
    else:
        pathlib.Path(args.output).write_text(text)
        print(f"wrote {args.output}: {what}, {len(text.encode())} bytes")
    return 0


def _register_generate(sub):
    from ..hw.generate import BLOCKS
    p = _subparser(sub, "generate", help="write Verilog or RTLIL of the gateware blocks",
                   description="Generate Verilog (or RTLIL) of one gateware block, or of all "
                               "blocks, sized by a configuration (the library default, a "
                               "board's default with --board, a file with --config; the "
                               "network flags override it). Output is byte-for-byte "
                               "deterministic.")
    p.add_argument("--block", metavar="NAME",
                   help=f"block to generate (default: all); one of {', '.join(BLOCKS)}")
    p.add_argument("-o", "--output", metavar="OUT", default="-",
                   help="output file, - for stdout")
    p.add_argument("--format", choices=("verilog", "rtlil"), default="verilog",
                   help="output format")
    p.add_argument("--layer", type=int_at_least(0), default=0,
                   help="hidden layer (0-based) the layer-specific blocks are sized for")
    p.add_argument("--board", metavar="NAME",
                   help="start from this board's default configuration (default: none)")
    p.add_argument("--list-blocks", action="store_true", help="list the blocks and exit")
    add_network_args(p, dataset=False)
    p.set_defaults(func=cmd_generate)


# ------------------------------------------------------------------------------ parser
def build_parser():
    from ..boards.registry import STORE_MEDIA
    from .model import VARIANTS

    p = _Parser(prog="xnorlearn", formatter_class=_Formatter, description=(
        "Binary neural networks that train on the FPGA: golden model, gateware generator, "
        "co-simulation and board flow."))
    p.add_argument("--version", action="version", version=f"xnorlearn {version()}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND",
                           parser_class=_Parser)

    t = _subparser(sub, "train", help="train the golden model (or a board) on a dataset",
                   description="Train the golden model (paper or hw variant), or the chip on "
                               "a board, and report per-epoch train/test accuracy.")
    add_dataset_args(t)
    add_network_args(t)
    t.add_argument("--epochs", type=int_at_least(1), default=5, metavar="N",
                   help="epochs to train (with --resume: the total, counting the "
                        "checkpoint's)")
    t.add_argument("--variant", choices=VARIANTS, default="hw",
                   help="hw: the on-chip rule (bit-exact spec of the gateware); paper: the "
                        "published algorithm")
    t.add_argument("--json", metavar="OUT", help="write the result as JSON (default: none)")
    t.add_argument("--plot", metavar="OUT.png", help="write the accuracy curves "
                                                     "(default: none)")
    t.add_argument("--save", metavar="CKPT.npz",
                   help="write a checkpoint after every epoch, atomically (default: none)")
    t.add_argument("--resume", metavar="CKPT.npz",
                   help="continue bit-exactly from a checkpoint (default: start afresh)")
    t.add_argument("--no-progress", action="store_true", help="no progress bar or lines")
    t.add_argument("--fault-retries", type=int_at_least(0), default=3, metavar="N",
                   help="--target board/emulator with --save: when the device stops answering "
                        "(a lost reply, a reset, a vanished port), reconnect and resume from "
                        "the last checkpoint, up to N times")
    t.add_argument("--target", choices=("golden", "board", "emulator"), default="golden",
                   help="golden: the NumPy model; board: a programmed FPGA over its serial "
                        "port; emulator: the board emulator (the golden model behind a "
                        "pseudo-terminal, with the data store image in its flash), no board "
                        "needed")
    t.add_argument("--board", metavar="NAME", help="--target board / emulator: which board, "
                                                    "its default configuration unless "
                                                    "--config/--layers (default: none)")
    t.add_argument("--port", metavar="DEVICE", help="--target board: serial port, e.g. "
                                                     "/dev/ttyUSB1, any pyserial URL "
                                                     "(default: none)")
    t.add_argument("--baud", type=int_at_least(1),
                   help="--target board: the link's baud rate, as the bitstream was built "
                        "(xnorlearn build --baud; it sets the UART divisor) (default: the "
                        "board's rate: 3000000 on the iCEBreaker and ULX3S, 115200 with an "
                        "adapter)")
    t.add_argument("--data-source", choices=("store", "uart"),
                   help="--target board / emulator: store = the dataset image in the board's "
                        "flash, whole epochs per request (TRAIN_STORE); uart = every sample "
                        "over the serial link (TRAIN) (default: store)")
    t.add_argument("--image", metavar="IMAGE.bin",
                   help="--data-source store: train from this image file, checked against "
                        "the dataset and configuration (default: built from the dataset, "
                        "cached in <cache>/store: $XNORLEARN_CACHE, else "
                        "$XDG_CACHE_HOME/xnorlearn, else ~/.cache/xnorlearn)")
    t.add_argument("--store-medium", choices=STORE_MEDIA,
                   help="--data-source store: where the board keeps the image: flash (written "
                        "by the board's programmer) or sdram (boards with SDRAM, the ULX3S: "
                        "filled over the UART with STORE_WRITE, skipped when it already holds "
                        "the image) (default: the board's: sdram on the ULX3S, flash elsewhere)")
    t.add_argument("--dry-run", action="store_true",
                   help="--target board, data store: print the command that writes the image "
                        "into the flash, and stop (nothing written, no port opened)")
    t.set_defaults(func=cmd_train)

    e = _subparser(sub, "eval", help="evaluate a checkpoint: accuracy, per class, confusion",
                   description="Infer a dataset with a checkpoint's network: accuracy, "
                               "per-class accuracy and the confusion matrix.")
    e.add_argument("--checkpoint", required=True, metavar="CKPT.npz",
                   help="checkpoint written by `xnorlearn train --save` (required)")
    add_dataset_args(e, default=None, default_help="the checkpoint's data, loaded with the "
                                                    "same flags")
    e.add_argument("--part", choices=("test", "train"), default="test",
                   help="which part of the dataset to evaluate")
    e.add_argument("--target", choices=("golden", "sim", "emulator", "board"),
                   default="golden",
                   help="where inference runs: golden = the golden model; sim = the "
                        "co-simulated chip (Verilator) powered on in the checkpoint's state; "
                        "emulator / board = a chip behind a serial port (the board "
                        "emulator, or --board/--port) after INIT and WRITE_STATE; every "
                        "target is compared with the golden model")
    e.add_argument("--samples", type=int_at_least(1), metavar="N",
                   help="evaluate only the first N samples (default: all; 100 with --target "
                        "sim)")
    e.add_argument("--board", metavar="NAME", help="--target board: which board "
                                                    "(default: none)")
    e.add_argument("--port", metavar="DEVICE", help="--target board: serial port "
                                                     "(default: none)")
    e.add_argument("--baud", type=int_at_least(1),
                   help="--target board: the link's baud rate, as the bitstream was built "
                        "(xnorlearn build --baud) (default: the board's rate)")
    e.add_argument("--cache-dir", metavar="DIR",
                   help="--target sim: Verilator build cache (default: as for sim)")
    e.add_argument("--verbose", action="store_true",
                   help="--target sim: show the Verilator build and cocotb log")
    e.add_argument("--json", metavar="OUT", help="write the result as JSON (default: none)")
    e.add_argument("--plot", metavar="OUT.png", help="draw the confusion matrix "
                                                     "(default: none)")
    e.set_defaults(func=cmd_eval, seed=None)

    s = _subparser(sub, "sim", help="train the generated Verilog in co-simulation, bit-exact "
                                    "against the golden model",
                   description="Co-simulate the whole trainer (Verilator + cocotb) through "
                               "its UART, comparing every counter with the golden model "
                               "after every sample. With --board, the board's default "
                               "configuration and its own counter bank, projected at its "
                               "clock.")
    add_dataset_args(s, default=None, default_help="digits; fashion-mnist with --board")
    add_network_args(s)
    s.add_argument("--board", metavar="NAME",
                   help="co-simulate this board's default configuration (or --config / "
                        "--layers) with its own counter bank; report samples/s at its "
                        "clock (default: none, the plain block-RAM bank)")
    s.add_argument("--uart-divisor", type=int_at_least(2), default=4, metavar="N",
                   help="clock cycles per UART bit in simulation")
    s.add_argument("--data-source", choices=("uart", "store"), default="uart",
                   type=lambda v: "uart" if v == "host" else v,
                   help="uart (or host): every sample comes from the host through the UART "
                        "(TRAIN); store: the samples are a data-store image the design reads "
                        "itself (TRAIN_STORE / EVAL_STORE) (default: uart)")
    s.add_argument("--link", choices=("uart", "bytes"), default="uart",
                   help="--data-source uart: uart: the host driver drives the UART pins bit "
                        "by bit; bytes: the link's bytes go straight to its framing logic "
                        "through ring buffers, the UART left out (a faster simulation) "
                        "(default: uart)")
    s.add_argument("--store-reader", choices=("flash", "sdram", "memory"),
                   help="--data-source store: read the image with the flash reader from a "
                        "simulated SPI flash (the board's read mode with --board), with the "
                        "SDRAM controller from a simulated SDRAM the host fills over the UART "
                        "first, or from a memory (faster to simulate) (default: the board's "
                        "store medium with --board, sdram on the ULX3S; else flash)")
    s.add_argument("--epochs", type=int_at_least(1), metavar="N",
                   help="--data-source store: epochs of TRAIN_STORE (default: 2)")
    s.add_argument("--flash-mode", choices=("quad", "dual"),
                   help="--data-source store with --board: read the simulated flash in quad "
                        "or dual SPI (default: the board's, as xnorlearn build --flash-mode)")
    s.add_argument("--clock-mhz", type=float_at_least(0.001), metavar="F",
                   help="--data-source store: project samples/s at this clock (default: the "
                        "board's with --board, else none)")
    _add_cosim_run_args(s, 300, 100)
    s.set_defaults(func=cmd_sim)

    d = _subparser(sub, "demo", help="on-chip training of the bundled digits in co-simulation",
                   description="Train a 512-64 network on the bundled 8x8 digits inside "
                               "the co-simulated chip, check it bit-exact against the "
                               "golden model, report accuracy and projected throughput.")
    _add_cosim_run_args(d, 500, 200)
    d.set_defaults(func=cmd_demo)

    _register_generate(sub)
    from xnorlearn.boards import cli as boards_cli
    boards_cli.register(sub)
    return p


def main(argv=None):
    from .checkpoint import CheckpointError
    from .config import ConfigError
    from .datasets import DatasetError

    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except _UsageError as e:
        print(f"xnorlearn: error: {e}", file=sys.stderr)
        return 2
    try:
        return args.func(args)
    except (CliError, ConfigError, DatasetError, CheckpointError, ValueError, OSError) as e:
        print(f"xnorlearn: error: {e}", file=sys.stderr)
        return 2
    except RuntimeError as e:      # CosimError (design != golden model), toolchain failures
        print(f"xnorlearn: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("xnorlearn: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
