"""``xnorlearn`` command line.

Every command takes ``--json OUT`` and writes its result there. Bad input (a malformed
configuration, a missing or corrupt dataset file) ends with ``xnorlearn: error: …`` and exit
status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys

__all__ = ["main", "build_parser", "default_config_for"]

# Default network per dataset when neither --config nor --layers is given.
DEFAULT_NETWORKS = {
    "digits": ((128, 128), 16),
    "fashion-mnist": ((135, 135), 45),
    "mnist": ((135, 135), 45),
    "prototypes": ((135, 135), 45),
}


class CliError(Exception):
    """Reported as ``xnorlearn: error: <message>`` with exit status 2."""


def _int_list(text, what):
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise CliError(f"{what} must be comma-separated integers, got {text!r}") from None
    if not values:
        raise CliError(f"{what} is empty")
    return values


def default_config_for(dataset, args):
    """The run's Config: --config file (or the dataset's default network), then overrides."""
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
        layers, gamma = DEFAULT_NETWORKS[dataset.name]
        base.update(layers=list(layers), group_sizes=None if args.layers else gamma)
    base.update(n_inputs=dataset.n_inputs, n_classes=dataset.n_classes)
    if args.layers:
        base["layers"] = _int_list(args.layers, "--layers")
        base["group_sizes"] = None
    if args.group_size:
        base["group_sizes"] = _int_list(args.group_size, "--group-size")
    for field in ("counter_bits", "batch", "seed", "lanes"):
        value = getattr(args, field, None)
        if value is not None:
            base[field] = value
    return Config.from_dict(base, source="command line")


def _write_json(path, payload):
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n")


# ------------------------------------------------------------------------------ train
def cmd_train(args):
    from tqdm import tqdm

    from .datasets import load_dataset
    from .model import make_model
    from .train import plot_curves, run_training

    dataset = load_dataset(args.dataset, data_dir=args.data_dir, split=args.split,
                           seed=args.seed if args.seed is not None else 42,
                           encoding=args.encoding)
    model = None
    if getattr(args, "target", "golden") == "board":
        # the chip over its serial port: same loop, same output (xnorlearn.boards.cli)
        from ..boards.cli import board_trainer
        if args.variant != "hw":
            raise CliError("--target board trains the hw variant (the chip); drop --variant")
        model, cfg = board_trainer(args, dataset)
    else:
        cfg = default_config_for(dataset, args)
    widths = "-".join(str(w) for w in cfg.widths)
    where = (f" on board {args.board} ({args.port})"
             if getattr(args, "target", "golden") == "board" else "")
    print(f"xnorlearn train: {dataset.name} ({len(dataset.y_train)} train / "
          f"{len(dataset.y_test)} test), network {widths}, group sizes "
          f"{','.join(map(str, cfg.group_sizes))}, {args.variant} variant, seed {cfg.seed}"
          f"{where}", flush=True)
    if model is None:
        model = make_model(cfg, args.variant)

    bar = None

    def progress(epoch, done, total):
        nonlocal bar
        if args.no_progress:
            return
        if bar is None:
            bar = tqdm(total=total, desc=f"epoch {epoch + 1}/{args.epochs}", unit="sample",
                       leave=False, file=sys.stderr, dynamic_ncols=True)
        bar.update(done - bar.n)

    def on_epoch(er):
        nonlocal bar
        if bar is not None:
            bar.close()
            bar = None
        print(f"epoch {er.epoch:3d}/{args.epochs}  train {100 * er.train_accuracy:6.2f} %  "
              f"test {100 * er.test_accuracy:6.2f} %  {er.train_seconds:7.2f} s  "
              f"{er.train_samples_per_s:9.0f} samples/s", flush=True)

    result = run_training(model, dataset, args.epochs, seed=cfg.seed, progress=progress,
                          on_epoch=on_epoch, variant=args.variant)
    print(f"final test accuracy {100 * result.final_test_accuracy:.2f} %  "
          f"({result.wall_seconds:.1f} s wall, {result.train_samples_per_s:.0f} training "
          f"samples/s, {result.infer_samples_per_s:.0f} inference samples/s)")
    payload = {"command": "train", **result.to_dict()}
    if args.json:
        _write_json(args.json, payload)
        print(f"wrote {args.json}")
    if args.plot:
        plot_curves(result, args.plot)
        print(f"wrote {args.plot}")
    return 0


# ------------------------------------------------------------------------------ sim / demo
def _cosim(args, dataset, cfg, n_train, n_test, title, row_words=None):
    from ..sim.cosim import run_cosim

    x, y = dataset.x_train[:n_train], dataset.y_train[:n_train]
    xt, yt = dataset.x_test[:n_test], dataset.y_test[:n_test]
    widths = "-".join(str(w) for w in cfg.widths)
    print(f"{title}: {dataset.name}, network {widths}, group sizes "
          f"{','.join(map(str, cfg.group_sizes))}, {cfg.lanes} lanes, {len(y)} training + "
          f"{len(yt)} test samples, UART divisor {cfg.uart_divisor}", flush=True)
    print("generating Verilog and building it with Verilator (cached after the first run) …",
          flush=True)
    r = run_cosim(cfg, x, y, xt, yt, check_every=args.check_every, waves=args.waves,
                  build_root=args.build_dir, quiet=not args.verbose, row_words=row_words)
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
    print(f"cycles per training sample: {r['cycles_per_sample_compute']:.0f} compute "
          f"({r['cycles_per_sample_compute'] / ideal:.3f} x ideal {ideal}), "
          f"{r['cycles_per_sample_with_uart']:.0f} with the UART at divisor "
          f"{cfg.uart_divisor}")
    return r


def cmd_sim(args):
    from .datasets import load_dataset

    dataset = load_dataset(args.dataset, data_dir=args.data_dir, seed=42,
                           encoding=args.encoding)
    cfg = default_config_for(dataset, args)
    if args.uart_divisor:
        cfg = cfg.replace(uart_divisor=args.uart_divisor)
    r = _cosim(args, dataset, cfg, args.samples, args.test_samples, "xnorlearn sim")
    print(f"wall time {r['total_wall_seconds']:.1f} s")
    if args.json:
        _write_json(args.json, {"command": "sim", "dataset": dataset.name, **r})
        print(f"wrote {args.json}")
    return 0


def cmd_demo(args):
    from .datasets import load_dataset

    dataset = load_dataset("digits", seed=42)
    base = {"n_inputs": dataset.n_inputs, "n_classes": dataset.n_classes,
            "layers": [64], "group_sizes": [4], "lanes": 16, "batch": 50,
            "uart_divisor": 4}
    from ..boards.fit import counter_row_words, fit_report
    from ..boards.registry import BOARDS
    from .config import Config
    cfg = Config.from_dict(base, source="demo")
    # project onto the first listed board the design fits, co-simulating that board's bank
    board = next(b for b in BOARDS.values() if fit_report(b, b.config_for(cfg)).fits)
    rows = counter_row_words(cfg, board.family) if board.bank == "bram-rows" else None
    r = _cosim(args, dataset, cfg, args.samples, args.test_samples,
               "xnorlearn demo (on-chip training in co-simulation)", row_words=rows)
    compute = r["cycles_per_sample_compute"]
    hz = board.core_hz
    per_s = hz / compute
    # the link's share scales with the bit period: board.uart_divisor cycles per bit is
    # 115 200 Bd at the board's clock
    uart = (r["cycles_per_sample_with_uart"] - compute) * board.uart_divisor / cfg.uart_divisor
    print(f"on a {board.title} at {hz / 1e6:g} MHz (the first listed board it fits; "
          f"`xnorlearn fit`) this design trains {per_s:,.0f} samples/s on chip "
          f"({hz / (compute + uart):,.0f} samples/s when every sample comes through a "
          f"115 200 Bd UART)")
    print(f"wall time {r['total_wall_seconds']:.1f} s")
    if args.json:
        _write_json(args.json, {"command": "demo", "dataset": dataset.name,
                                "board": board.name, "board_hz": hz,
                                "board_samples_per_s": per_s, **r})
        print(f"wrote {args.json}")
    return 0


# ------------------------------------------------------------------------------ parser
def build_parser():
    from .datasets import DATASETS
    from .model import VARIANTS

    p = argparse.ArgumentParser(prog="xnorlearn", description=(
        "Binary neural networks that train on the FPGA: golden model, gateware generator, "
        "co-simulation and board flow."))
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    t = sub.add_parser("train", help="train the golden model on a dataset",
                       description="Train the golden model (paper or hw variant) and report "
                                   "per-epoch train/test accuracy.")
    t.add_argument("--dataset", choices=DATASETS, default="digits")
    t.add_argument("--data-dir", help="folder with the IDX files (fashion-mnist default: "
                                      "/usr/share/datasets/fashion-mnist)")
    t.add_argument("--split", choices=("paper", "official"), default="paper",
                   help="paper: last 10 000 of the shuffled training file as test; "
                        "official: the t10k files")
    t.add_argument("--encoding", choices=("thermometer", "median"), default="thermometer",
                   help="digits only: 8-level thermometer code per pixel (512 inputs, default) "
                        "or the paper's median binarisation (64 inputs)")
    t.add_argument("--config", help="configuration file (.toml or .json); flags override it")
    t.add_argument("--layers", help="hidden-layer widths, e.g. 135,135")
    t.add_argument("--group-size", help="group size gamma (one value, or one per layer)")
    t.add_argument("--counter-bits", type=int, help="hw counter width k (default 8)")
    t.add_argument("--batch", type=int, help="mini-batch / reinforcement interval B (default 100)")
    t.add_argument("--epochs", type=int, default=5)
    t.add_argument("--variant", choices=VARIANTS, default="hw")
    t.add_argument("--seed", type=int, help="seed of every random choice (default 42)")
    t.add_argument("--json", metavar="OUT", help="write the result as JSON")
    t.add_argument("--plot", metavar="OUT.png", help="write the accuracy curves")
    t.add_argument("--no-progress", action="store_true", help="no progress bar")
    t.add_argument("--target", choices=("golden", "board"), default="golden",
                   help="golden: the NumPy model (default); board: a programmed FPGA over "
                        "its serial port")
    t.add_argument("--board", metavar="NAME", help="--target board: which board (its default "
                                                    "configuration unless --config/--layers)")
    t.add_argument("--port", metavar="DEVICE", help="--target board: serial port, e.g. "
                                                     "/dev/ttyUSB1 (any pyserial URL)")
    t.add_argument("--baud", type=int, default=115200, help="--target board: baud rate "
                                                              "(default 115200)")
    t.set_defaults(func=cmd_train)

    s = sub.add_parser("sim", help="train the generated Verilog in co-simulation, bit-exact "
                                   "against the golden model",
                       description="Co-simulate the whole trainer (Verilator + cocotb) through "
                                   "its UART, comparing every counter with the golden model "
                                   "after every sample.")
    s.add_argument("--dataset", choices=DATASETS, default="digits")
    s.add_argument("--data-dir")
    s.add_argument("--encoding", choices=("thermometer", "median"), default="median",
                   help="digits only (default median: 64 inputs)")
    s.add_argument("--config", help="configuration file (.toml or .json); flags override it")
    s.add_argument("--layers", help="hidden-layer widths, e.g. 64,64")
    s.add_argument("--group-size", help="group size gamma (one value, or one per layer)")
    s.add_argument("--lanes", type=int, help="XNOR-popcount lanes P (default 8)")
    s.add_argument("--counter-bits", type=int)
    s.add_argument("--batch", type=int, help="reinforcement sweep interval B")
    s.add_argument("--seed", type=int)
    s.add_argument("--uart-divisor", type=int, default=4,
                   help="clock cycles per UART bit in simulation (default 4)")
    s.add_argument("--samples", type=int, default=300, help="training samples")
    s.add_argument("--test-samples", type=int, default=100,
                   help="test samples inferred on the chip after training")
    s.add_argument("--check-every", type=int, default=1,
                   help="compare the full state every N samples (default 1: every sample)")
    s.add_argument("--waves", metavar="OUT", help="write a waveform dump (VCD) here")
    s.add_argument("--build-dir", help="Verilator build cache (default ./build/cocotb)")
    s.add_argument("--verbose", action="store_true",
                   help="show the Verilator build and every cocotb log line")
    s.add_argument("--json", metavar="OUT")
    s.set_defaults(func=cmd_sim)

    d = sub.add_parser("demo", help="on-chip training of the bundled digits in co-simulation",
                       description="Train a 512-64 network on the bundled 8x8 digits inside "
                                   "the co-simulated chip, check it bit-exact against the "
                                   "golden model, report accuracy and projected throughput.")
    d.add_argument("--samples", type=int, default=500)
    d.add_argument("--test-samples", type=int, default=200)
    d.add_argument("--check-every", type=int, default=1)
    d.add_argument("--waves", metavar="OUT")
    d.add_argument("--build-dir")
    d.add_argument("--verbose", action="store_true")
    d.add_argument("--json", metavar="OUT")
    d.set_defaults(func=cmd_demo)

    try:
        from xnorlearn.hw import generate
    except ImportError:
        generate = None
    if generate is not None and hasattr(generate, "register"):
        generate.register(sub)
    from xnorlearn.boards import cli as boards_cli
    boards_cli.register(sub)
    return p


def main(argv=None):
    from .config import ConfigError
    from .datasets import DatasetError

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (CliError, ConfigError, DatasetError, ValueError, OSError) as e:
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
