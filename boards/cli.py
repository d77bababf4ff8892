"""``xnorlearn boards | fit | build | program``, and the board side of ``train --target board``
and ``--target emulator`` (samples over the link, or whole epochs from the data store).

``register(subparsers)`` adds the commands to the ``xnorlearn`` parser (sw/cli.py). Every
handler returns an exit code and takes ``--json OUT``; bad input raises ``ValueError``
subclasses, which the main program reports as ``xnorlearn: error: …`` with status 2.
"""

from __future__ import annotations

import argparse
import dataclasses

import pathlib
import sys

from .registry import BOARDS, STORE_MEDIA, get_board

__all__ = ["register", "board_config", "store_config", "check_chip_args", "chip_session",
           "ChipSession"]


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
                                        f"board {board.name} + command line"),
                            getattr(args, "baud", None))


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
    board = _store_board(get_board(args.board), args)
    cfg = _config(board, args)
    store = board.store_default if args.store is None else args.store
    rep = fit_report(board, cfg, args.bank, store)
    for m in rep.memories:
        print(f"  {m.name:12} {m.depth:6} x {m.width:3} bits -> {m.kind:6} {m.blocks:4} "
              f"{m.aspect}")
    print(f"  block RAM {rep.need['bram']}/{rep.have['bram']}, SPRAM "
          f"{rep.need['spram']}/{rep.have['spram']}, logic ~{rep.need['luts']}/"
          f"{rep.have['luts']} (estimate)")
    where = {"flash": f"the flash ({board.flash_mode} SPI)",
             "sdram": "the SDRAM (filled over the UART)"}[board.store_medium]
    print(f"  data store: {f'in {where}' if store else 'none (--store to add it)'}")
    if args.json:
        _write_json(args.json, {"command": "fit", "config": cfg.to_dict(), **rep.to_dict(),
                                "store": store and board.store_medium})
    if not rep.fits:
        check_fit(board, cfg, args.bank, store)   # raises FitError with the whole explanation
    print(f"fits: {board.name}")
    return 0


def _store_board(board, args):
    """``board`` with ``--store-medium`` and ``--flash-mode`` applied (only together with the
    store; ``--flash-mode`` only with the flash store)."""
    from .flash_pins import with_flash_mode
    store = args.store if args.store is not None else board.store_default
    given = [f for f, v in (("--store-medium", getattr(args, "store_medium", None)),
                            ("--flash-mode", args.flash_mode)) if v is not None]
    if getattr(args, "store_medium", None) is not None:
        board.check_store_medium(args.store_medium)     # SDRAM on this board?
    if given and not store:
        raise ValueError(f"{', '.join(given)} only appl{'y' if len(given) > 1 else 'ies'} "
                         f"with the data store (--store; "
                         f"{board.name} builds without it by default)")
    if getattr(args, "store_medium", None) is not None:
        board = dataclasses.replace(board, store_medium=args.store_medium)
    if args.flash_mode is not None and board.store_medium != "flash":
        raise ValueError(f"--flash-mode applies to the flash store; {board.name} keeps its "
                         f"store in {board.store_medium.upper()} (--store-medium flash)")
    return with_flash_mode(board, args.flash_mode)


# ------------------------------------------------------------------------------ build
def cmd_build(args):
    from ..sw.cli import check_output
    from .build import build, report_markdown
    check_output(args.json, "--json")
    board = _store_board(get_board(args.board), args)
    state = None
    if args.checkpoint:
        cfg, state = _checkpoint_config(board, args)
    else:
        cfg = _config(board, args)
    # build() runs the fit check first: a configuration that does not fit fails at once;
    # --progress 0 turns the phase lines off (the watcher then waits for the end)
    rep = build(board, cfg, build_dir=args.build_dir, bank=args.bank,
                seed=args.placement_seed, period=args.progress or None, counter_state=state,
                out=sys.stdout, baud=args.baud, store=args.store)
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
    return board.config_for(config_from(ck.config, args), args.baud), ck.counters


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
    return board, board.config_for(cfg, getattr(args, "baud", None))


# ------------------------------------------------------------------------------ train: store
def check_chip_args(args):
    """Refuse, before any work, the ``train`` flags that do not apply to ``args.target``, and
    set ``args.data_source`` (default ``store`` on a board or the emulator)."""
    from ..sw.cli import CliError
    chip_flags = (("--board", args.board), ("--port", args.port), ("--baud", args.baud),
                  ("--data-source", args.data_source), ("--image", args.image),
                  ("--store-medium", args.store_medium), ("--dry-run", args.dry_run or None))
    if args.target == "golden":
        given = [f for f, v in chip_flags if v is not None]
        if given:
            raise CliError(f"{', '.join(given)} only apply with --target board or emulator "
                           f"(this run would train the golden model)")
        return
    if args.data_source is None:
        args.data_source = "store"
    if args.target == "emulator":
        given = [f for f, v in (("--port", args.port), ("--baud", args.baud),
                                ("--dry-run", args.dry_run or None)) if v is not None]
        if given:
            raise CliError(f"{', '.join(given)} only apply with --target board (the emulator "
                           f"has its own pseudo-terminal and nothing to write)")
        if not args.board:
            raise CliError("--target emulator needs --board NAME (the board it emulates)")
    if args.data_source == "uart":
        given = [f for f, v in (("--image", args.image), ("--dry-run", args.dry_run or None),
                                ("--store-medium", args.store_medium)) if v is not None]
        if given:
            raise CliError(f"{', '.join(given)} only apply with --data-source store")
    if args.target == "board" and (not args.board or (not args.port and not args.dry_run)):
        raise CliError("--target board needs --board NAME and --port DEVICE")
    get_board(args.board).divisor_for(args.baud)    # an unknown board or rate fails here
    if args.store_medium is None:
        args.store_medium = get_board(args.board).store_medium
    get_board(args.board).check_store_medium(args.store_medium)     # SDRAM on this board?
    if args.image is not None:
        from ..sw.store import load_image
        load_image(args.image)      # missing, unreadable or no header: fail before any work
    if args.target == "board" and args.data_source == "store" and not args.dry_run \
            and args.store_medium == "flash":
        from .program import PROGRAMMERS, ProgrammerMissing, store_command
        board = get_board(args.board)
        argv = store_command(board, args.image or "IMAGE.bin")
        import shutil
        if shutil.which(argv[0]) is None:
            var, pkg, _ = PROGRAMMERS[board.store_programmer[0]]
            raise ProgrammerMissing(
                f"programmer '{argv[0]}' not found on PATH, needed to write the data store "
                f"into {board.name}'s flash; install it (Debian/Ubuntu: 'sudo apt-get install "
                f"{pkg}') or point ${var} at it (--dry-run prints the command)")


def store_config(args, dataset):
    """``(board, cfg)`` of a data-store run: ``--config`` (as for the golden model), else the
    board's default configuration sized for the dataset's inputs and classes (what ``xnorlearn
    build --board B --inputs N0 --classes C`` builds), the network flags applied, at the
    board's UART divisor."""
    from ..sw.cli import config_from, default_config_for
    board = get_board(args.board)
    if args.config:
        cfg = default_config_for(dataset, args)
    else:
        base = board.default_config().replace(n_inputs=dataset.n_inputs,
                                              n_classes=dataset.n_classes)
        cfg = config_from(base, args, source=f"board {board.name}")
    return board, board.config_for(cfg, getattr(args, "baud", None))


class ChipSession:
    """What ``train --target board / emulator`` trains: ``model`` (the blocking chip trainer,
    also what checkpoints read), ``store`` (a :class:`~xnorlearn.sw.store.StoreTrainer` for the
    data-store flow, else None), ``cfg``, ``samples_per_s`` (the chip's expected speed),
    ``where`` (for the run's title line); :meth:`close` ends the link (and the emulator)."""

    def __init__(self, model, cfg, where, closers, store=None, samples_per_s=None, info=None,
                 reconnect=None):
        self.model, self.cfg, self.where = model, cfg, where
        self.store, self.samples_per_s = store, samples_per_s
        self.info = info or {}      # for the run's JSON: board, data source, store image
        self.notes = []             # lines printed under the run's title
        self._closers = closers
        self._reconnect = reconnect

    def reconnect(self):
        """After the link failed (a lost reply, a device reset, a vanished port): close the
        serial port, open it again and wait up to BOOT_WAIT_S for IDENTIFY, check the data
        store again (STORE_INFO), and replace :attr:`model` (and :attr:`store`). The chip's
        state is unknown afterwards: restore a checkpoint (or INIT) before training on."""
        try:
            self.model.transport.close()
        except OSError:
            pass
        self.model, self.store = self._reconnect()

    def close(self):
        while self._closers:
            try:
                self._closers.pop()()
            except OSError:
                pass


#: How long a board may take to answer IDENTIFY after its flash was written (it reconfigures
#: from flash: an uncompressed ECP5-85F bitstream at the default 2.4 MHz MCLK takes ~8 s).
BOOT_WAIT_S = 15.0


def _connect(port, cfg, baud, closers, patience_s=0.0):
    """A blocking chip trainer on ``port`` after IDENTIFY matched ``cfg`` (asked again for up
    to ``patience_s`` while no reply comes)."""
    import time

    from ..sw.driver import ChipTrainer, Device, SerialTransport, SyncChipTrainer, run_sync
    from ..sw.protocol import BitstreamMismatch, ProtocolError
    transport = SerialTransport(port, baudrate=baud)
    closers.append(transport.close)
    deadline = time.monotonic() + patience_s
    while True:
        try:
            dev = run_sync(Device.connect(transport, cfg))
            break
        except BitstreamMismatch as e:
            raise RuntimeError(f"{port}: {e}") from None
        except ProtocolError as e:
            if time.monotonic() >= deadline:
                raise RuntimeError(f"{port}: {e}") from None
    chip = SyncChipTrainer(ChipTrainer(dev, cfg))
    chip.transport = transport
    return chip


class _FillProgress:
    """The bytes of an SDRAM fill on a :class:`~xnorlearn.sw.cli.ProgressBar`; ``done``: the
    bytes written so far."""

    def __init__(self, enabled=True, stream=None):
        from ..sw.cli import ProgressBar
        self.bar = ProgressBar(enabled, stream)
        self.done = 0

    def __call__(self, done, total):
        self.done = done
        self.bar.show(done, total, "filling the SDRAM store", "B",
                      f"  filling the SDRAM store: {done:,}/{total:,} bytes", unit_scale=True)

    def close(self):
        self.bar.close()


def fill_sdram(trainer, image, cfg, port, progress=True):
    """Make the SDRAM store of the chip behind ``trainer`` (a
    :class:`~xnorlearn.sw.store.StoreTrainer`) hold ``image``
    (:func:`xnorlearn.sw.store.fill_store`: skipped when STORE_INFO shows it there); prints
    what it did; returns the :class:`~xnorlearn.sw.store.FillResult`."""
    from ..sw import store as st
    from ..sw.driver import run_sync
    from ..sw.protocol import Command, DeviceError, ProtocolError, Status
    bar = _FillProgress(enabled=progress)
    try:
        r = run_sync(st.fill_store(trainer.device, image, cfg, progress=bar))
    except KeyboardInterrupt:
        bar.close()
        print(f"SDRAM fill interrupted after {bar.done:,} of {len(image):,} bytes: the image's "
              f"header is written last, so the chip refuses the partial image (UNREADABLE) "
              f"until a run fills it again", file=sys.stderr, flush=True)
        raise
    except DeviceError as e:
        bar.close()
        if e.status == Status.UNKNOWN:
            what = "STORE_INFO" if e.command == Command.STORE_INFO else "STORE_WRITE"
            raise RuntimeError(f"{port}: the bitstream has no SDRAM store ({what} answered "
                               f"UNKNOWN): build it with the SDRAM store, or train from the "
                               f"flash (--store-medium flash)") from None
        raise RuntimeError(f"{port}: filling the SDRAM store: {e}") from None
    except ProtocolError as e:
        bar.close()
        raise RuntimeError(f"{port}: filling the SDRAM store: {e}") from None
    bar.close()
    if r.skipped:
        print("the SDRAM store already holds this image (STORE_INFO: same dataset, records "
              "and content hash): not written again", flush=True)
    else:
        print(f"filled the SDRAM store: {r.bytes:,} bytes in {r.frames:,} STORE_WRITE frames "
              f"in {r.seconds:.2f} s ({r.bytes_per_s:,.0f} bytes/s)", flush=True)
    return r


def chip_session(args, dataset, config=None):
    """The chip ``train --target board / emulator`` trains (a :class:`ChipSession`), or None
    after ``--dry-run`` printed the commands.

    Data store (the default): the image of the dataset (built and cached, or ``--image``) is
    checked against the dataset and configuration and against the board's flash size; on a
    board it is written at the store offset with the board's programmer, on the emulator it
    becomes the emulated flash. ``--store-medium sdram``: checked against the SDRAM store's
    size instead, and after IDENTIFY written into the chip's SDRAM over the link
    (:func:`fill_sdram`; skipped when the chip already holds it). Then IDENTIFY, STORE_INFO
    (the chip's verdict, and the header's identity and content hash against the host's
    image: a stale image is refused), INIT.
    ``--data-source uart``: IDENTIFY and INIT only; every sample then travels as TRAIN.
    ``config``: the network to use (a checkpoint's, for ``--resume``) instead of the board's
    default or ``--config``, at the board's UART divisor."""
    from ..sw import protocol as proto
    from ..sw import store as st
    from ..sw.protocol import ProtocolError
    from .program import check_store_fits, write_store
    board = get_board(args.board)
    closers = []
    try:
        if config is not None:
            cfg = board.config_for(config, args.baud)
            if (cfg.n_inputs, cfg.n_classes) != (dataset.n_inputs, dataset.n_classes):
                raise ValueError(f"the network takes {cfg.n_inputs} inputs and "
                                 f"{cfg.n_classes} classes; dataset '{dataset.name}' has "
                                 f"{dataset.n_inputs} and {dataset.n_classes}")
        if args.data_source == "uart":
            if config is None:
                board, cfg = board_config(args, dataset)
            port = args.port
            if args.target == "emulator":
                from .emulator import BoardEmulator
                emu = BoardEmulator(cfg).start()
                closers.append(emu.close)
                port = emu.port
            chip = _connect(port, cfg, args.baud or board.baud, closers)
            chip.init()
            where = (f" on board {args.board} ({args.port})" if args.target == "board" else
                     f" on the {board.name} emulator (samples over the serial link)")
            return ChipSession(chip, cfg, where, closers,
                               info={"board": board.name, "data_source": "uart"},
                               reconnect=lambda: (_connect(port, cfg, args.baud or board.baud,
                                                           closers,
                                                           patience_s=BOOT_WAIT_S), None))

        if config is None:
            board, cfg = store_config(args, dataset)
        built = st.build_image(cfg, dataset)
        image = st.load_image(args.image) if args.image else built
        header = st.check_image(image, cfg, dataset,
                                want=proto.StoreHeader.parse(built))
        medium = getattr(args, "store_medium", None) or "flash"
        sdram = medium == "sdram"
        check_store_fits(board, len(image), medium)
        path = args.image or st.cache_image(image)
        place = (f"{len(image):,}-byte image {path} at flash offset 0x{board.store_offset:x} "
                 f"of {board.name}")
        if sdram:
            chunk = proto.store_write_max_data(cfg)
            frames = len(st.fill_plan(image, chunk))
            place = (f"{len(image):,}-byte image {path} in the SDRAM of {board.name} "
                     f"(filled over the UART)")
        if args.target == "board" and sdram:
            if args.dry_run:
                print(f"would fill {len(image):,} bytes into {board.name}'s SDRAM store in "
                      f"{frames:,} STORE_WRITE frames of up to {chunk} bytes over "
                      f"{args.port or 'the serial port'}, unless STORE_INFO shows this image "
                      f"already there (records first, the header last)")
                print(f"  (image {path}; the SDRAM store holds {board.sdram_store_bytes:,} "
                      f"bytes; the SDRAM forgets it at power-off)")
                print(f"then train from the data store over {args.port or 'the serial port'} "
                      f"(TRAIN_STORE, EVAL_STORE)")
                return None
            port = args.port
        elif args.target == "board":
            argv = write_store(board, path, dry_run=args.dry_run)
            if args.dry_run:
                print(f"would run: {' '.join(argv)}")
                print(f"  ({len(image):,} bytes at flash offset 0x{board.store_offset:x} of "
                      f"the {board.flash_bytes // (1 << 20)} MiB flash, "
                      f"{board.store_capacity:,} bytes free for images)")
                print(f"then train from the data store over {args.port or 'the serial port'} "
                      f"(TRAIN_STORE, EVAL_STORE)")
                return None
            print(f"wrote the data store: {' '.join(argv)} (the FPGA restarts from its "
                  f"flash, so the bitstream must be there: xnorlearn program --flash)",
                  flush=True)
            port = args.port
        else:
            from .emulator import BoardEmulator
            emu = (BoardEmulator(cfg, sdram=board.sdram_store_bytes) if sdram else
                   BoardEmulator(cfg, store=image)).start()
            closers.append(emu.close)
            port = emu.port
        fills = []
        # after a write the FPGA boots from its flash (an ECP5 takes seconds): keep asking
        def connect(patience_s):
            chip = _connect(port, cfg, args.baud or board.baud, closers,
                            patience_s=patience_s)
            trainer = st.StoreTrainer(chip, cfg.seed)
            if sdram:       # (again after a reconnect: a board that lost power is empty)
                fills.append(fill_sdram(trainer, image, cfg, port,
                                        progress=not getattr(args, "no_progress", False)))
            try:
                verdict, raw = trainer.store_info()
            except ProtocolError as e:
                raise RuntimeError(f"{port}: STORE_INFO: {e} (was the bitstream built with a "
                                   f"data store? --data-source uart trains without "
                                   f"one)") from None
            st.check_store_info(verdict, raw, cfg, header)
            return chip, trainer

        chip, trainer = connect(BOOT_WAIT_S if args.target == "board" else 0.0)
        chip.init()
        where = (f" on board {args.board} ({args.port}) from its data store"
                 if args.target == "board" else
                 f" on the {board.name} emulator from its data store")
        note = (f"data store: {place}; {header.n_train} train + {header.n_test} test records "
                f"of {header.record_bytes} bytes, '{header.identity}'")
        info = {"board": board.name, "data_source": "store",
                "store": {"image": str(path), "bytes": len(image), "identity": header.identity,
                          "content_hash": header.content_hash.hex(),
                          "n_train": header.n_train, "n_test": header.n_test,
                          "record_bytes": header.record_bytes, "medium": medium}}
        if sdram:
            f = fills[-1]
            info["store"]["fill"] = {"skipped": f.skipped, "bytes": f.bytes,
                                     "frames": f.frames, "seconds": f.seconds,
                                     "bytes_per_s": f.bytes_per_s}
        else:
            info["store"]["flash_offset"] = board.store_offset
        session = ChipSession(chip, cfg, where, closers, trainer,
                              st.estimate_samples_per_s(cfg, board.core_hz), info,
                              reconnect=lambda: connect(BOOT_WAIT_S))
        session.notes.append(note)
        return session
    except BaseException:
        ChipSession(None, None, "", closers).close()
        raise


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
        p.add_argument("--store", action=argparse.BooleanOptionalAction, default=None,
                       help="with the data store (flash reader + store runner: train "
                            "--data-source store); --no-store without (default: with on the "
                            "ECP5 boards, without on the UP5K boards, whose logic cells do not "
                            "hold it yet)")
        p.add_argument("--flash-mode", choices=("quad", "dual"),
                       help="with the store: read the flash in quad SPI (IO0-IO3, needs the "
                            "flash's QE bit) or dual SPI (IO0/IO1, no QE, half the rate) "
                            "(default: the board's: quad, except dual on the UPduino)")
        p.add_argument("--store-medium", choices=STORE_MEDIA,
                       help="where the data store lives: flash (written by the board's "
                            "programmer) or sdram (boards with SDRAM, the ULX3S: filled over "
                            "the UART by `train --store-medium sdram`) (default: flash)")
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
    bd.add_argument("--baud", type=int_at_least(1), metavar="BD",
                    help="host link rate: the UART divisor is round(core clock / BD); train "
                         "and eval then need the same --baud (default: the board's rate, "
                         "`xnorlearn boards --json`: 3000000 on the iCEBreaker's FT2232H and the "
                         "ULX3S's FT231X, 115200 with an adapter)")
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
