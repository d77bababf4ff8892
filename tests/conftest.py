import os

import pytest

from xnorlearn.sim.toolenv import setup_environment

setup_environment()
# Waveforms only on request: XNORLEARN_WAVES=1 makes cocotb benches dump FST/VCD.
os.environ.setdefault("XNORLEARN_WAVES", "0")


def decode_fields(layout, value):
    """The fields of the ``data.StructLayout`` ``layout`` packed in the integer ``value``, in
    the layout's order (e.g. a counter-bank write-back tag)."""
    from amaranth.lib import data
    c = data.Const(layout, value)
    return tuple(c[name] for name, _ in layout)


def one_line_error(capsys, *needles):
    """The captured standard error is one ``xnorlearn: error:`` line, no traceback, holding
    every one of ``needles``; returns it."""
    err = capsys.readouterr().err
    assert err.startswith("xnorlearn: error:"), err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    for n in needles:
        assert n in err, (n, err)
    return err


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A per-user cache of this test only (``XNORLEARN_CACHE``: images, Verilator builds are
    not in it); a module takes it for every test with ``pytest.mark.usefixtures("cache")``."""
    monkeypatch.setenv("XNORLEARN_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture(scope="module")
def digits():
    """The embedded digits, median-encoded, seed 42."""
    from xnorlearn.sw.datasets import load_dataset
    return load_dataset("digits", encoding="median", seed=42)


def simulate(m, testbench, clk_hz, vcd=None):
    """Run ``testbench`` on ``m`` in Amaranth's simulator with a ``clk_hz`` sync clock
    (``vcd``: write the waveforms there)."""
    from amaranth.sim import Simulator
    sim = Simulator(m)
    sim.add_clock(1 / clk_hz)
    sim.add_testbench(testbench)
    if vcd:
        with sim.write_vcd(vcd):
            sim.run()
    else:
        sim.run()


async def wait_ready(ctx, port, limit=5000):
    """Wait until the stream ``port`` is ready (at most ``limit`` cycles)."""
    for _ in range(limit):
        if ctx.get(port.ready):
            return
        await ctx.tick()
    raise AssertionError("store never became ready")


async def request(ctx, port, addr, n):
    """Hand ``{addr, length: n}`` to a reader's ``cmd`` / ``wcmd`` stream ``port``."""
    await wait_ready(ctx, port)
    ctx.set(port.payload, {"addr": addr, "length": n})
    ctx.set(port.valid, 1)
    await ctx.tick()
    ctx.set(port.valid, 0)


async def give_bytes(ctx, stream, data, gap=None):
    """Offer ``data`` on the byte ``stream`` one byte at a time; ``gap(i)``: idle cycles
    (``valid`` low) before byte ``i``."""
    for i, b in enumerate(data):
        for _ in range(gap(i) if gap else 0):
            await ctx.tick()
        ctx.set(stream.payload, b)
        ctx.set(stream.valid, 1)
        while not ctx.get(stream.ready):
            await ctx.tick()
        await ctx.tick()
        ctx.set(stream.valid, 0)


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
