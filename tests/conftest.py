import os

from xnorlearn.sim.toolenv import setup_environment

setup_environment()
# Waveforms only on request: XNORLEARN_WAVES=1 makes cocotb benches dump FST/VCD.
os.environ.setdefault("XNORLEARN_WAVES", "0")


def one_line_error(capsys, *needles):
    """The captured standard error is one ``xnorlearn: error:`` line, no traceback, holding
    every one of ``needles``; returns it."""
    err = capsys.readouterr().err
    assert err.startswith("xnorlearn: error:"), err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    for n in needles:
        assert n in err, (n, err)
    return err


async def take_bytes(ctx, stream, n, rng=None, p_ready=1.0, check=None):
    """Collect ``n`` bytes from the byte ``stream`` in an Amaranth testbench, ``ready`` high
    with probability ``p_ready`` (``rng``: a ``random.Random``); ``check()`` runs every cycle
    before (it asserts what must hold meanwhile). Returns (bytes, cycles); gives up after
    ``40·n + 2000`` cycles."""
    got, cycles = [], 0
    while len(got) < n:
        if check is not None:
            check()
        rdy = p_ready >= 1.0 or rng.random() < p_ready
        ctx.set(stream.ready, rdy)
        if rdy and ctx.get(stream.valid):
            got.append(ctx.get(stream.payload))
        await ctx.tick()
        cycles += 1
        assert cycles < 40 * n + 2000, "read stalled"
    ctx.set(stream.ready, 1)
    return bytes(got), cycles
