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


def _config(board, args):
    """``--config`` (default: the board's default configuration) with the network flags
    applied, at the board's UART divisor."""
    from ..sw.cli import config_from
    from ..sw.config import Config
    base = Config.load(args.config) if args.config else board.default_config()
    return board.config_for(config_from(base, args, source=args.config or
                                        f"board {board.name} + command line"))


# ------------------------------------------------------------------------------ boards
def cmd_boards(args):
    from ..sw.cli import check_output
    check_output(args.json, "--json")
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
    from ..sw.cli import check_output
    from .fit import check_fit, fit_report
    check_output(args.json, "--json")
    board = get_board(args.board)
    cfg = _config(board, args)
    rep = fit_report(board, cfg, args.bank)
    for m in rep.memories:
        print(f"  {m.name:12} {m.depth:6} x {m.width:3} bits -> {m.kind:6} {m.blocks:4} "
              f"{m.aspect}")
    print(f"  block RAM {rep.need['bram']}/{rep.have['bram']}, SPRAM "
          f"{rep.need['spram']}/{rep.have['spram']}, logic ~{rep.need['luts']}/"
          f"{rep.have['luts']} (estimate)")
    if args.json:
        _write_json(args.json, {"command": "fit", "config": cfg.to_dict(), **rep.to_dict()})
    if not rep.fits:
        check_fit(board, cfg, args.bank)      # raises FitError with the whole explanation
    print(f"fits: {board.name}")
    return 0


# ------------------------------------------------------------------------------ build
def cmd_build(args):
    from ..sw.cli import check_output
    from .build import build, report_markdown
    check_output(args.json, "--json")
    board = get_board(args.board)
    state = None
    if args.checkpoint:
        cfg, state = _checkpoint_config(board, args)
    else:
        cfg = _config(board, args)
    # build() runs the fit check first: a configuration that does not fit fails at once;
    # --progress 0 turns the phase lines off (the watcher then waits for the end)
    rep = build(board, cfg, build_dir=args.build_dir, bank=args.bank,
                seed=args.placement_seed, period=args.progress or None, counter_state=state,
                out=sys.stdout)
    print(report_markdown(rep))
    if not rep.timing_met:
        print("timing NOT met; critical path (nextpnr):", file=sys.stderr)
        for line in rep.critical_path[:3] + ["…"] + rep.critical_path[-3:]:
            print(f"  {line}", file=sys.stderr)
    if args.json:
        _write_json(args.json, {"command": "build", **rep.to_dict()})
    return 0 if rep.timing_met or args.allow_timing_fail else 1


def _checkpoint_config(board, args):
    """``(cfg, counters)`` of ``--checkpoint``: its configuration at the board's UART divisor
    and its counters, the bitstream's power-on state. Network flags must agree with it."""
    from ..sw import checkpoint
    from ..sw.cli import CliError, config_from, config_overrides
    if args.config or config_overrides(args):
        raise CliError("--checkpoint brings its own configuration; drop --config and the "
                       "network flags")
    if (args.bank or board.bank) == "spram":
        raise CliError(f"{board.name} keeps its counters in SPRAM, which the bitstream cannot "
                       f"initialise: a trained state reaches it over the host link "
                       f"(WRITE_STATE) after power-on")
    ck = checkpoint.load(args.checkpoint)
    return board.config_for(config_from(ck.config, args)), ck.counters


# ------------------------------------------------------------------------------ program
def cmd_program(args):
    from ..sw.cli import check_output
    from .program import bitstream_path, missing_hint, program
    check_output(args.json, "--json")
    board = get_board(args.board)
    bit = pathlib.Path(args.bitstream) if args.bitstream else bitstream_path(board,
                                                                             args.build_dir)
    argv = program(board, bit, flash=args.flash, dry_run=args.dry_run)
    print(("would run: " if args.dry_run else "ran: ") + " ".join(argv))
    print(f"host link: {board.baud} Bd (UART divisor {board.uart_divisor} at "
          f"{board.core_hz / 1e6:g} MHz); `train`/`eval --target board` use it unless --baud")
    hint = missing_hint(board, argv)
    if hint:
        print(f"note: {hint}")
    if args.json:
        _write_json(args.json, {"command": "program", "board": board.name, "argv": argv,
                                "dry_run": args.dry_run, "tool_missing": hint})
    return 0


# ------------------------------------------------------------------------------ train
def board_config(args, dataset):
    """The configuration ``train --target board`` and ``sim --board`` use: ``--config`` (as
    for the golden model) or the board's default, the network flags applied, always with the
    board's UART divisor."""
    from ..sw.cli import config_from, default_config_for
    board = get_board(args.board)
    if args.config:
        cfg = default_config_for(dataset, args)
    else:
        cfg = config_from(board.default_config(), args, source=f"board {board.name}")
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
    transport = SerialTransport(args.port, baudrate=args.baud or board.baud)
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
    from ..sw.cli import _subparser, add_network_args, float_at_least, int_at_least
    names = ", ".join(BOARDS)
    b = _subparser(sub, "boards", help="list the FPGA boards, their resources and default "
                                       "configurations")
    b.add_argument("--json", metavar="OUT", help="write the list as JSON (default: none)")
    b.set_defaults(func=cmd_boards)

    def common(p):
        p.add_argument("--board", required=True, metavar="NAME", help=f"one of: {names} "
                                                                       f"(required)")
        p.add_argument("--bank", choices=("bram", "bram-rows", "spram"),
                       help="counter memory (default: the board's): bram = inferred block "
                            "RAM, bram-rows = pipelined rows of block RAM (ECP5 default), "
                            "spram = UP5K SPRAM (UP5K default)")
        p.add_argument("--json", metavar="OUT", help="write the report as JSON "
                                                     "(default: none)")
        add_network_args(p, dataset=False)

    f = _subparser(sub, "fit", help="check that a configuration fits a board (no synthesis)")
    common(f)
    f.set_defaults(func=cmd_fit)

    bd = _subparser(sub, "build", help="fit check, synthesis, place and route, bitstream and "
                                       "report (YoWASP)")
    common(bd)
    bd.add_argument("--build-dir", metavar="DIR",
                    help="folder of the build (Yosys, nextpnr, bitstream) "
                         "(default: build/boards/NAME)")
    bd.add_argument("--placement-seed", type=int_at_least(0), metavar="N",
                    help="nextpnr placement seed (default: nextpnr's)")
    bd.add_argument("--progress", type=float_at_least(0), default=10.0, metavar="S",
                    help="print the tool phase every S seconds, 0 = off")
    bd.add_argument("--allow-timing-fail", action="store_true",
                    help="exit 0 even if the design misses the target clock")
    bd.add_argument("--checkpoint", metavar="CKPT.npz",
                    help="power-on counters = this trained state (and its configuration); "
                         "not on SPRAM boards (default: init(seed), the untrained state)")
    bd.set_defaults(func=cmd_build)

    pg = _subparser(sub, "program", help="load a bitstream into a board (iceprog, "
                                         "openFPGALoader, dfu-util)")
    pg.add_argument("--board", required=True, metavar="NAME", help=f"one of: {names} "
                                                                    f"(required)")
    pg.add_argument("--bitstream", help="bitstream file (default: "
                                        "<build-dir>/xnorlearn.bin or .bit)")
    pg.add_argument("--build-dir", metavar="DIR",
                    help="folder of the board build (default: build/boards/NAME)")
    pg.add_argument("--flash", action="store_true", help="write the SPI flash, not SRAM")
    pg.add_argument("--dry-run", action="store_true",
                    help="check the tool and print the command line without running it")
    pg.add_argument("--json", metavar="OUT", help="write the result as JSON (default: none)")
    pg.set_defaults(func=cmd_program)
