"""``xnorlearn build --board B --checkpoint C``: a bitstream whose power-on counters are the
trained state (block-RAM banks; the UP5K's SPRAM cannot be initialised by a bitstream)."""

import functools
import io

import pytest

from xnorlearn.sw import checkpoint
from xnorlearn.sw.cli import main


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    path = tmp_path_factory.mktemp("ck") / "c.npz"
    assert main(["train", "--dataset", "digits", "--encoding", "median", "--layers", "16",
                 "--group-size", "4", "--lanes", "4", "--epochs", "2", "--no-progress",
                 "--save", str(path)]) == 0
    return path


@pytest.mark.parametrize("rows", [None, 64])
def test_power_on_state_holds_the_checkpoint(trained, rows):
    """Elaborated with the trained state, the core's counter memory and its sign-bit copy read
    back exactly the checkpoint's counters (and their signs) at time 0 (Amaranth simulator),
    for the plain and the rows bank."""
    from amaranth.sim import Simulator

    from xnorlearn.hw.counters import CounterBank, PipelinedCounterBank
    from xnorlearn.hw.top import TrainerTop
    from xnorlearn.hw.trainer import TrainerLayout
    from xnorlearn.sw.model import HwModel, compare_states
    ck = checkpoint.load(trained)
    cfg = ck.config
    assert compare_states(HwModel(cfg).state(), ck.counters) is not None   # really trained
    base = CounterBank if rows is None else functools.partial(PipelinedCounterBank,
                                                              row_words=rows)
    top = TrainerTop(cfg, bank_cls=base, state=ck.counters)
    got = {}

    async def bench(ctx):
        got["words"] = top.core.bank.peek_words(ctx)
        got["signs"] = top.core.signs.peek_rows(ctx)
    sim = Simulator(top)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    state = TrainerLayout(cfg).state_from_words(got["words"])
    assert compare_states(ck.counters, state) is None
    assert got["signs"] == top.core.slay.rows(ck.counters)


def test_build_checkpoint_cli(trained, tmp_path, monkeypatch, capsys):
    from xnorlearn.boards import build as build_mod
    from xnorlearn.boards.build import BuildReport
    seen = {}

    def fake(board, cfg, *, bank=None, counter_state=None, **kw):
        seen.update(cfg=cfg, state=counter_state, bank=bank or board.bank)
        return BuildReport(board.name, board.device.name, cfg.to_dict())
    monkeypatch.setattr(build_mod, "build", fake)
    ck = checkpoint.load(trained)
    main(["build", "--board", "ulx3s-25f", "--checkpoint", str(trained), "--build-dir",
          str(tmp_path / "b"), "--allow-timing-fail"])
    assert seen["bank"] == "bram-rows"
    assert seen["cfg"].replace(uart_divisor=ck.config.uart_divisor) == ck.config
    assert all((a == b).all() for a, b in zip(seen["state"], ck.counters))
    capsys.readouterr()
    monkeypatch.undo()
    # refused: SPRAM boards, and network flags next to the checkpoint
    assert main(["build", "--board", "icebreaker", "--checkpoint", str(trained)]) == 2
    assert "SPRAM, which the bitstream cannot initialise" in capsys.readouterr().err
    assert main(["build", "--board", "ulx3s-25f", "--checkpoint", str(trained),
                 "--layers", "32"]) == 2
    assert "drop --config and the network flags" in capsys.readouterr().err
    with pytest.raises(ValueError, match="SPRAM"):
        build_mod.build("icebreaker", ck.config, counter_state=ck.counters, out=io.StringIO())
