"""Board flash plumbing (boards/flash_pins.py): the per-board table and the pins a reader gets
through each board's platform (``platform.prepare`` only: RTLIL and constraints, no synthesis)."""

import re

import pytest
from amaranth import Fragment, Module

from xnorlearn.boards.program import store_command
from xnorlearn.boards.flash_pins import (FLASH, RESOURCE, FlashPins, flash_facts, flash_reader,
                                         with_flash_mode)
from xnorlearn.boards.registry import BOARDS, BoardError
from xnorlearn.boards.top import make_platform

# Largest uncompressed bitstream per device (bytes, rounded up): the store must start after it.
BITSTREAM_MAX = {"iCE40UP5K": 104_090, "LFE5U-12F": 600_000, "LFE5U-25F": 600_000,
                 "LFE5U-45F": 1_100_000, "LFE5U-85F": 2_300_000}
ORANGECRAB_USER_BITSTREAM = 0x80000


def test_table_covers_every_board():
    assert set(FLASH) == set(BOARDS)
    with pytest.raises(BoardError):
        flash_facts("no-such-board")


@pytest.mark.parametrize("name", sorted(BOARDS))
def test_table_entry_is_consistent(name):
    board, f = BOARDS[name], FLASH[name]
    assert f.mode in ("quad", "dual", "single")
    assert len(f.io) in (2, 4) and (f.mode != "quad" or len(f.io) == 4)
    assert f.set_qe is False or f.mode == "quad"
    assert f.offset % 0x10000 == 0 and 0 < f.offset < f.size
    assert f.capacity >= 1 << 20
    start = ORANGECRAB_USER_BITSTREAM if name.startswith("orangecrab") else 0
    assert f.offset >= start + BITSTREAM_MAX[board.device.name]
    assert (f.sck is None) == (board.family == "ecp5")     # ECP5: MCLK through USRMCLK
    reader = flash_reader(board)
    assert (reader.mode, reader.set_qe, reader.clk_hz) == (f.mode, f.set_qe, board.core_hz)
    Fragment.get(reader, None)          # elaborates (and so is not reported as unused)
    # a board's default read mode works with what its store write leaves in the flash: a
    # quad default sets QE itself (no programmer of ours sets it)
    assert f.mode != "quad" or f.set_qe
    assert "--enable-quad" not in store_command(board, "i.bin")


def test_flash_mode_override():
    ulx = BOARDS["ulx3s-25f"]
    assert ulx.flash_mode == "dual" and ulx.store_medium == "sdram"
    quad = with_flash_mode(ulx, "quad")
    assert with_flash_mode(ulx, None) is ulx and with_flash_mode(ulx, "dual") is ulx
    assert flash_facts(quad).mode == "quad" and not flash_facts(quad).set_qe
    assert store_command(quad, "i.bin") == store_command(ulx, "i.bin")
    reader = flash_reader(quad)
    assert (reader.mode, reader.set_qe) == ("quad", False)
    Fragment.get(reader, None)
    reader = flash_reader(ulx)
    assert (reader.mode, reader.set_qe) == ("dual", False)
    Fragment.get(reader, None)
    # the iCEBreaker sets QE itself in quad mode, not in dual mode
    assert flash_facts(with_flash_mode(BOARDS["icebreaker"], "dual")).set_qe is False
    with pytest.raises(ValueError, match="only IO0/IO1"):
        with_flash_mode(BOARDS["upduino3"], "quad")
    with pytest.raises(ValueError, match="flash mode must be"):
        with_flash_mode(ulx, "octal")


def test_flash_mode_cli_errors(capsys):
    from xnorlearn.sw.cli import main
    for argv, msg in ((["fit", "--board", "upduino3", "--store", "--flash-mode", "quad"],
                       "only IO0/IO1"),
                      (["fit", "--board", "ulx3s-25f", "--no-store", "--flash-mode", "dual"],
                       "--flash-mode only applies with the data store"),
                      (["sim", "--samples", "3", "--flash-mode", "dual"],
                       "only apply with --data-source store")):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert msg in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def _prepare(name):
    board = BOARDS[name]
    platform = make_platform(board)
    m = Module()
    m.submodules.reader = reader = flash_reader(board)
    m.submodules.flash_pins = FlashPins(reader, board)
    plan = platform.prepare(m, name="top")
    return board, plan.files


@pytest.mark.parametrize("name", sorted(BOARDS))
def test_reader_pins_through_platform(name):
    board, files = _prepare(name)
    f = FLASH[name]
    rtlil = files["top.il"]
    port = f"{RESOURCE}_0__"
    want = {f"{port}cs__io": f.cs}
    want.update({f"{port}dq__io[{i}]": pin for i, pin in enumerate(f.io)})
    if board.family == "ice40":
        pins = dict(re.findall(r"^set_io (\S+) (\S+)$", files["top.pcf"], re.M))
        want[f"{port}clk__io"] = f.sck
        assert "USRMCLK" not in rtlil
    else:
        pins = dict(re.findall(r'^LOCATE COMP "(\S+)" SITE "(\S+)";$', files["top.lpf"], re.M))
        assert "USRMCLK" in rtlil and f"{port}clk" not in files["top.lpf"]
    flash_pins = {k: v for k, v in pins.items() if k.startswith(port)}
    assert flash_pins == want


def test_unknown_board_name():
    with pytest.raises(BoardError):
        flash_reader("no-such-board")
