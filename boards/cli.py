"""``xnorlearn boards | fit | build | program``, and the board side of ``train --target board``.

``register(subparsers)`` adds the commands to the ``xnorlearn`` parser (sw/cli.py). Every
handler returns an exit code and takes ``--json OUT``; bad input raises ``ValueError``
subclasses, which the main program reports as ``xnorlearn: error: …`` with status 2.
"""

from __future__ import annotations

import pathlib
import sys

from .registry import BOARDS, get_board

__all__ = ["register", "board_trainer", "board_config"]


def _write_json(path, payload):
    from ..sw.cli import _write_json as write_json
    write_json(path, payload)
    print(f"wrote {path}")


def _config(board, path):
    from ..sw.config import Config
    cfg = Config.load(path) if path else board.default_config()
    return board.config_for(cfg)


# ------------------------------------------------------------------------------ boards
def cmd_boards(args):
    rows = [b.to_dict() for b in BOARDS.values()]
    print(f"{'board':15} {'device':20} {'LUT/LC':>7} {'BRAM':>10} {'SPRAM':>5} {'DSP':>4} "
          f"{'clock':>12} {'programmer':15} default network (P, k)")
    for b, d in zip(BOARDS.values(), rows):
        cfg = b.default_config()
        widths = "-".join(map(str, cfg.widths))
        print(f"{b.name:15} {b.device.name + '-' + b.device.package:20} {b.device.luts:7} "
              f"{str(b.device.bram) + (' EBR' if b.family == 'ice40' else ' DP16'):>10} "
              f"{b.device.spram:5} {b.device.dsp:4} "
              f"{f'{b.osc_hz / 1e6:g}->{b.core_hz / 1e6:g} MHz':>12} {b.programmer:15} "
              f"{widths} g{','.join(map(str, cfg.group_sizes))} (P={cfg.lanes}, "
              f"k={cfg.counter_bits}, {b.bank})")
    if args.json:
        _write_json(args.json, {"command": "boards", "boards": rows})
    return 0


# ------------------------------------------------------------------------------ fit
def cmd_fit(args):
    from .fit import check_fit, fit_report
    board = get_board(args.board)
    cfg = _config(board, args.config)
    rep = fit_report(board, cfg, args.bank)
    for m in rep.memories:
        print(f"  {m.name:12} {m.depth:6} x {m.width:3} bits -> {m.kind:6} {m.blocks:4} "
              f"{m.aspect}")
    print(f"  block RAM {rep.need['bram']}/{rep.have['bram']}, SPRAM "
          f"{rep.need['spram']}/{rep.have['spram']}, logic ~{rep.need['luts']}/"
          f"{rep.have['luts']} (estimate)")
    if args.json:
        _write_json(args.json, {"command": "fit", **rep.to_dict()})
    if not rep.fits:
        check_fit(board, cfg, args.bank)      # raises FitError with the whole explanation
    print(f"fits: {board.name}")
    return 0


# ------------------------------------------------------------------------------ build
def cmd_build(args):
    from .build import build, report_markdown
    board = get_board(args.board)
    cfg = _config(board, args.config)
    # build() runs the fit check first: a configuration that does not fit fails at once
    rep = build(board, cfg, build_dir=args.build_dir, bank=args.bank, seed=args.seed,
                period=args.progress)
    print(report_markdown(rep))
    if not rep.timing_met:
        print("timing NOT met; critical path (nextpnr):", file=sys.stderr)
        for line in rep.critical_path[:3] + ["…"] + rep.critical_path[-3:]:
            print(f"  {line}", file=sys.stderr)
    if args.json:
        _write_json(args.json, {"command": "build", **rep.to_dict()})
    return 0 if rep.timing_met or args.allow_timing_fail else 1


# ------------------------------------------------------------------------------ program
def cmd_program(args):
    from .program import bitstream_path, missing_hint, program
    board = get_board(args.board)
    bit = pathlib.Path(args.bitstream) if args.bitstream else bitstream_path(board,
                                                                             args.build_dir)
    argv = program(board, bit, flash=args.flash, dry_run=args.dry_run)
    print(("would run: " if args.dry_run else "ran: ") + " ".join(argv))
    hint = missing_hint(board, argv)
    if hint:
        print(f"note: {hint}")
    if args.json:
        _write_json(args.json, {"command": "program", "board": board.name, "argv": argv,
                                "dry_run": args.dry_run, "tool_missing": hint})
    return 0


# ------------------------------------------------------------------------------ train
def board_config(args, dataset):
    """The configuration ``train --target board`` talks to: ``--config`` / ``--layers`` (as
    for the golden model) or the board's default, always with the board's UART divisor."""
    board = get_board(args.board)
    if args.config or args.layers:
        from ..sw.cli import default_config_for
        cfg = default_config_for(dataset, args)
    else:
        cfg = board.default_config()
        changes = {k: getattr(args, k) for k in ("seed",) if getattr(args, k, None) is not None}
        cfg = cfg.replace(**changes) if changes else cfg
        if cfg.n_inputs != dataset.n_inputs or cfg.n_classes != dataset.n_classes:
            raise ValueError(
                f"board {board.name}'s default configuration is for {cfg.n_inputs} inputs and "
                f"{cfg.n_classes} classes (FashionMNIST); dataset '{dataset.name}' has "
                f"{dataset.n_inputs} and {dataset.n_classes}: use --dataset fashion-mnist or "
                f"pass the --config the bitstream was built with")
    return board, board.config_for(cfg)


def board_trainer(args, dataset):
    """``(trainer, cfg)``: a blocking ChipTrainer on the board at ``args.port``, after
    IDENTIFY matched and INIT(seed) set the power-on state (SPRAM starts undefined)."""
    from ..sw.driver import ChipTrainer, Device, SerialTransport, SyncChipTrainer, run_sync
    from ..sw.protocol import ProtocolError
    if not args.board or not args.port:
        raise ValueError("--target board needs --board NAME and --port DEVICE")
    board, cfg = board_config(args, dataset)
    transport = SerialTransport(args.port, baudrate=args.baud)
    try:
        dev = run_sync(Device.connect(transport, cfg))
    except ProtocolError as e:
        transport.close()
        raise RuntimeError(f"{args.port}: {e}") from None
    trainer = SyncChipTrainer(ChipTrainer(dev, cfg))
    trainer.init()
    trainer.transport = transport
    return trainer, cfg


# ------------------------------------------------------------------------------ parser
def register(sub):
    names = ", ".join(BOARDS)
    b = sub.add_parser("boards", help="list the FPGA boards, their resources and default "
                                      "configurations")
    b.add_argument("--json", metavar="OUT")
    b.set_defaults(func=cmd_boards)

    def common(p):
        p.add_argument("--board", required=True, metavar="NAME", help=f"one of: {names}")
        p.add_argument("--config", help="configuration file (.toml/.json); default: the "
                                        "board's default configuration")
        p.add_argument("--bank", choices=("bram", "bram-rows", "spram"),
                       help="counter memory (default: the board's): bram = inferred block "
                            "RAM, bram-rows = pipelined rows of block RAM (ECP5 default), "
                            "spram = UP5K SPRAM (UP5K default)")
        p.add_argument("--json", metavar="OUT")

    f = sub.add_parser("fit", help="check that a configuration fits a board (no synthesis)")
    common(f)
    f.set_defaults(func=cmd_fit)

    bd = sub.add_parser("build", help="fit check, synthesis, place and route, bitstream and "
                                      "report (YoWASP)")
    common(bd)
    bd.add_argument("--build-dir", help="default build/boards/NAME")
    bd.add_argument("--seed", type=int, help="nextpnr placement seed")
    bd.add_argument("--progress", type=float, default=10.0, metavar="S",
                    help="print the tool phase every S seconds (default 10)")
    bd.add_argument("--allow-timing-fail", action="store_true",
                    help="exit 0 even if the design misses the target clock")
    bd.set_defaults(func=cmd_build)

    pg = sub.add_parser("program", help="load a bitstream into a board (iceprog, "
                                        "openFPGALoader, dfu-util)")
    pg.add_argument("--board", required=True, metavar="NAME", help=f"one of: {names}")
    pg.add_argument("--bitstream", help="default build/boards/NAME/xnorlearn.bin|.bit")
    pg.add_argument("--build-dir")
    pg.add_argument("--flash", action="store_true", help="write the SPI flash, not SRAM")
    pg.add_argument("--dry-run", action="store_true",
                    help="check the tool and print the command line without running it")
    pg.add_argument("--json", metavar="OUT")
    pg.set_defaults(func=cmd_program)
