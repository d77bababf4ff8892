"""Programming a board: the command line of its programmer (iceprog, openFPGALoader,
dfu-util), the tool check with the Debian package to install, and the call itself; and
writing a data-store image into the board's flash at its store offset (:func:`write_store`)."""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess

__all__ = ["program_command", "program", "ProgrammerMissing", "PROGRAMMERS", "bitstream_path",
           "store_command", "check_store_fits", "write_store", "missing_hint"]

# programmer -> (environment override as amaranth-boards reads it, Debian package, tool name)
PROGRAMMERS = {
    "iceprog": ("ICEPROG", "fpga-icestorm", "iceprog"),
    "openFPGALoader": ("OPENFPGALOADER", "openfpgaloader", "openFPGALoader"),
    "dfu-util": ("DFU_UTIL", "dfu-util", "dfu-util"),
}


class ProgrammerMissing(RuntimeError):
    pass


def bitstream_path(board, build_dir=None):
    ext = ".bin" if board.family == "ice40" else ".bit"
    return pathlib.Path(build_dir or f"build/boards/{board.name}") / f"xnorlearn{ext}"


def _tool(board, programmer=None):
    var, _, default = PROGRAMMERS[programmer or board.programmer]
    tool = os.environ.get(var)
    if not tool or tool == "true":          # "true" is the build-time stand-in (pitfall 3)
        tool = default
    return tool


def program_command(board, bitstream, flash=False):
    """argv that programs ``bitstream`` into ``board`` (SRAM unless ``flash``)."""
    tool = _tool(board)
    bitstream = str(bitstream)
    if board.programmer == "iceprog":
        return [tool, "-S", bitstream] if not flash else [tool, bitstream]
    if board.programmer == "openFPGALoader":
        return [tool, "-b", "ulx3s", "-f" if flash else "-m", bitstream]
    return [tool, "-a", "0", "-D", bitstream]


def program(board, bitstream, *, flash=False, dry_run=False):
    """Program the board; returns the argv. Raises :class:`ProgrammerMissing` (with the Debian
    package to install) when the tool is not on PATH, ``FileNotFoundError`` without bitstream.
    ``dry_run`` checks the bitstream and returns the argv without running (or requiring) the
    tool; :func:`missing_hint` says what to install."""
    argv = program_command(board, bitstream, flash)
    if not pathlib.Path(bitstream).is_file():
        raise FileNotFoundError(f"bitstream {bitstream} not found; run 'xnorlearn build "
                                f"--board {board.name}' first or pass --bitstream")
    if shutil.which(argv[0]) is None and not dry_run:
        var, pkg, _ = PROGRAMMERS[board.programmer]
        raise ProgrammerMissing(
            f"programmer '{argv[0]}' not found on PATH; install it (Debian/Ubuntu: "
            f"'sudo apt-get install {pkg}') or point ${var} at it. The command would be: "
            f"{' '.join(argv)}")
    if not dry_run:
        subprocess.run(argv, check=True)
    return argv


def missing_hint(board, argv):
    """``None`` if ``argv[0]`` is on PATH, else what to install."""
    if shutil.which(argv[0]) is not None:
        return None
    var, pkg, _ = PROGRAMMERS[board.programmer]
    return (f"'{argv[0]}' is not installed: 'sudo apt-get install {pkg}' (Debian/Ubuntu) or "
            f"set ${var}")


# ------------------------------------------------------------------------------ data store
def store_command(board, image):
    """argv that writes the raw file ``image`` into ``board``'s flash at its store offset:
    ``iceprog -o OFFSET image`` (iCE40 boards), ``openFPGALoader -b ulx3s -f --offset OFFSET
    image`` (ULX3S; over a JTAG cable for the OrangeCrab, whose DFU bootloader writes only its
    own slots). The offset is in bytes (decimal). No ``--enable-quad``: openFPGALoader cannot
    set the Quad Enable bit of the ULX3S's flash parts (``boards/flash_pins.py``), so the
    ULX3S reads its flash store in dual SPI."""
    if not board.store_programmer:
        raise ValueError(f"board {board.name} has no data-store programmer in the registry")
    head = list(board.store_programmer)
    tool = _tool(board, head[0])
    offset = str(board.store_offset)
    if head[0] == "iceprog":
        return [tool, "-o", offset, str(image)]
    return [tool, *head[1:], "-f", "--offset", offset, str(image)]


def check_store_fits(board, image_bytes, medium="flash"):
    """StoreError naming both sizes when an image of ``image_bytes`` does not fit ``board``'s
    store in ``medium``: its flash after the store offset (suggesting ``--store-medium sdram``
    where the board has SDRAM) or its SDRAM store window."""
    from ..sw.protocol import StoreError
    have = board.store_bytes(medium)
    if image_bytes <= have:
        return
    if medium == "sdram":
        raise StoreError(
            f"the data store image needs {image_bytes:,} bytes but {board.name}'s SDRAM store "
            f"holds {have:,} bytes (the store reader's window of its "
            f"{board.sdram_bytes // (1 << 20)} MiB SDRAM); use a smaller dataset")
    hint = (f"or keep the store in the board's {board.sdram_bytes // (1 << 20)} MiB SDRAM, "
            f"filled over the UART: --store-medium sdram ({board.sdram_store_bytes:,} bytes)"
            if board.sdram_bytes else
            "or a board with more flash (a store in SDRAM is not supported on this board)")
    raise StoreError(
        f"the data store image needs {image_bytes:,} bytes but {board.name}'s flash has "
        f"{have:,} bytes after the store offset 0x{board.store_offset:x} "
        f"({board.flash_bytes // (1 << 20)} MiB flash); use a smaller dataset {hint}")


def write_store(board, image, *, dry_run=False):
    """Write the image file ``image`` into ``board``'s flash at the store offset; returns the
    argv. Checks that it fits the flash (StoreError with both sizes) and that the tool is on
    PATH (:class:`ProgrammerMissing` naming it and how to install it) unless ``dry_run``,
    which only returns the argv."""
    image = pathlib.Path(image)
    if not image.is_file():
        raise FileNotFoundError(f"data store image {image} not found")
    check_store_fits(board, image.stat().st_size)
    argv = store_command(board, image)
    if shutil.which(argv[0]) is None and not dry_run:
        var, pkg, _ = PROGRAMMERS[board.store_programmer[0]]
        raise ProgrammerMissing(
            f"programmer '{argv[0]}' not found on PATH, needed to write the data store into "
            f"{board.name}'s flash; install it (Debian/Ubuntu: 'sudo apt-get install {pkg}') "
            f"or point ${var} at it. The command would be: {' '.join(argv)}")
    if not dry_run:
        done = subprocess.run(argv)
        if done.returncode:
            raise RuntimeError(f"writing the data store failed: '{' '.join(argv)}' exited with "
                               f"status {done.returncode}")
    return argv
