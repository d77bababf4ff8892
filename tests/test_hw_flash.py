"""SPI flash reader (hw/flash.py) against the flash model (sim/flashmodel.py), Amaranth simulator.

The reader and the model are wired by :func:`xnorlearn.sim.flashmodel.connect_flash` (IO lines
with pull-ups). Every read is compared byte for byte with the image, and the model must report
no protocol violation; deliberately broken readers must make it report the right one.
"""

import random

import pytest
from amaranth import Module

from xnorlearn.hw.flash import QspiFlashReader
from xnorlearn.sim.flashmodel import FlashError, FlashModel, connect_flash

from conftest import simulate, take_bytes

CLK_HZ = 10e6           # small tRES1 wait (30 cycles) keeps the simulations short
IMAGE = bytes(random.Random(7).randrange(256) for _ in range(2048))

# Cycles from the `cmd` handshake to the handshake of the last of 99 bytes, SCK = sync / 2,
# consumer always ready: opcode + address/mode + dummy + 8 clocks per byte (single), 4 (dual) or
# 2 (quad).
BOUND_99 = {"quad": 450, "dual": 900, "single": 1700}


def expected(addr, n, image=IMAGE):
    return bytes(image[a] if a < len(image) else 0xFF for a in range(addr, addr + n))


def bench(reader, image=IMAGE, **model_kwargs):
    m = Module()
    m.submodules.reader = reader
    model_kwargs.setdefault("t_res_cycles", reader.t_res_cycles)
    m.submodules.flash = flash = FlashModel(image, **model_kwargs)
    connect_flash(m, reader, flash)
    return m, flash


async def wait_ready(ctx, reader, limit=1000):
    for _ in range(limit):
        if ctx.get(reader.cmd.ready):
            return
        await ctx.tick()
    raise AssertionError("reader never became ready")


async def read(ctx, reader, addr, n, rng=None, p_ready=1.0):
    """Issue one read and collect its bytes (``data.ready`` random with probability
    ``p_ready``). Returns (bytes, cycles from the cmd handshake to the last byte's)."""
    await wait_ready(ctx, reader)
    ctx.set(reader.cmd.payload, {"addr": addr, "length": n})
    ctx.set(reader.cmd.valid, 1)
    await ctx.tick()
    ctx.set(reader.cmd.valid, 0)
    return await take_bytes(ctx, reader.data, n, rng, p_ready)


def run(m, testbench, vcd=None):
    simulate(m, testbench, CLK_HZ, vcd)


@pytest.mark.parametrize("mode,divisor", [("quad", 1), ("quad", 3), ("dual", 1), ("dual", 2),
                                          ("single", 1), ("single", 2)])
def test_random_reads_with_backpressure(mode, divisor):
    rng = random.Random(hash((mode, divisor)) & 0xFFFF)
    reader = QspiFlashReader(mode=mode, divisor=divisor, clk_hz=CLK_HZ)
    m, flash = bench(reader)
    reads = [(0, 1), (len(IMAGE) - 3, 7)]          # first byte; across the end of the image
    reads += [(rng.randrange(len(IMAGE)), rng.randrange(1, 40)) for _ in range(6)]
    reads += [(0xFFFFFE, 4)]                       # wraps at 2**24 like the flash

    async def tb(ctx):
        for i, (addr, n) in enumerate(reads):
            got, _ = await read(ctx, reader, addr, n, rng, p_ready=[1.0, 0.5, 0.15][i % 3])
            want = expected(addr, n) if addr + n <= 1 << 24 else \
                expected(addr, (1 << 24) - addr) + expected(0, addr + n - (1 << 24))
            assert got == want, f"read {addr:#x}+{n}: got {got.hex()}, want {want.hex()}"
            assert not ctx.get(flash.error), FlashError(ctx.get(flash.error_code))
        for _ in range(20):                        # nothing more comes, the reader goes idle
            assert not ctx.get(reader.data.valid)
            await ctx.tick()
        assert not ctx.get(reader.busy) and ctx.get(reader.cmd.ready)
        assert not ctx.get(flash.error)
    run(m, tb)


@pytest.mark.parametrize("mode", ["quad", "dual", "single"])
def test_throughput_99_bytes(mode):
    reader = QspiFlashReader(mode=mode, divisor=1, clk_hz=CLK_HZ)
    m, flash = bench(reader)
    rng = random.Random(99)
    measured = []

    async def tb(ctx):
        for _ in range(3):
            addr = rng.randrange(len(IMAGE) - 99)
            got, cycles = await read(ctx, reader, addr, 99)
            assert got == expected(addr, 99)
            measured.append(cycles)
        assert not ctx.get(flash.error)
    run(m, tb)
    print(f"\n{mode}: 99-byte read, SCK = sync/2: {max(measured)} cycles from cmd handshake")
    assert max(measured) <= BOUND_99[mode]


def test_busy_during_power_up_then_idle():
    reader = QspiFlashReader(mode="quad", clk_hz=CLK_HZ)
    m, flash = bench(reader)

    async def tb(ctx):
        assert ctx.get(reader.busy) and not ctx.get(reader.cmd.ready)
        await wait_ready(ctx, reader)
        assert not ctx.get(reader.busy)
        assert not ctx.get(flash.error)
    run(m, tb)


def test_length_zero_is_taken_and_ignored():
    reader = QspiFlashReader(mode="quad", clk_hz=CLK_HZ)
    m, flash = bench(reader)

    async def tb(ctx):
        await wait_ready(ctx, reader)
        ctx.set(reader.cmd.payload, {"addr": 5, "length": 0})
        ctx.set(reader.cmd.valid, 1)
        await ctx.tick()
        ctx.set(reader.cmd.valid, 0)
        for _ in range(50):
            assert not ctx.get(reader.data.valid) and not ctx.get(reader.cs)
            await ctx.tick()
        got, _ = await read(ctx, reader, 5, 3)
        assert got == expected(5, 3) and not ctx.get(flash.error)
    run(m, tb)


# ------------------------------------------------------------------ the model catches bad readers
class FewDummies(QspiFlashReader):
    """Three dummy clocks instead of four: the data comes half a byte early."""
    def read_phases(self):
        return [("ADDR", True, 8), ("DUMMY", True, 3)]


class ModeBitsUndriven(QspiFlashReader):
    """Releases IO0-3 after the address, leaving the mode-bit clocks undriven."""
    def read_phases(self):
        return [("ADDR", True, 6), ("DUMMY", True, 6)]


class DualKeepsIo0(QspiFlashReader):
    """Dual mode that keeps driving IO0 while the flash sends data on it."""
    RELEASE_OE = {**QspiFlashReader.RELEASE_OE, "dual": 0b1101}


class NoWake(QspiFlashReader):
    """Forgets Release Power-down."""
    def init_sequence(self):
        return [step for step in super().init_sequence() if step[0] != "WAKE"]


@pytest.mark.parametrize("make,model_kwargs,code", [
    (lambda: FewDummies(mode="quad", clk_hz=CLK_HZ), {}, FlashError.CS_MID_BYTE),
    (lambda: ModeBitsUndriven(mode="quad", clk_hz=CLK_HZ), {}, FlashError.UNDRIVEN),
    (lambda: DualKeepsIo0(mode="dual", clk_hz=CLK_HZ), {}, FlashError.CONTENTION),
    (lambda: NoWake(mode="quad", clk_hz=CLK_HZ), {}, FlashError.POWERED_DOWN),
    (lambda: QspiFlashReader(mode="quad", clk_hz=CLK_HZ, set_qe=False), {},
     FlashError.QE_CLEAR),
    (lambda: QspiFlashReader(mode="quad", clk_hz=CLK_HZ), {"t_res_cycles": 200},
     FlashError.T_RES),
])
def test_model_flags_broken_reader(make, model_kwargs, code):
    reader = make()
    m, flash = bench(reader, **model_kwargs)

    async def tb(ctx):
        got, _ = await read(ctx, reader, 100, 5)
        await ctx.tick().repeat(10)
        assert ctx.get(flash.error), "the model missed the violation"
        assert FlashError(ctx.get(flash.error_code)) == code
    run(m, tb)


def test_quad_reader_works_when_qe_already_set():
    reader = QspiFlashReader(mode="quad", clk_hz=CLK_HZ, set_qe=False)
    m, flash = bench(reader, qe=True)

    async def tb(ctx):
        got, _ = await read(ctx, reader, 300, 20)
        assert got == expected(300, 20)
        assert not ctx.get(flash.error)
    run(m, tb)


# ------------------------------------------------------------------ the model on its own
class BitBang:
    """Drives the model's pins from the testbench: SPI mode 0, one sync cycle per SCK half."""

    def __init__(self, ctx, flash):
        self.ctx, self.flash = ctx, flash

    async def select(self, on):
        self.ctx.set(self.flash.cs, on)
        self.ctx.set(self.flash.sck, 0)
        await self.ctx.tick().repeat(2)

    async def clock(self, out_bits=None, lines=1):
        """One SCK clock: drive ``out_bits`` on IO0 (or IO0-3), return the lines sampled at the
        end of the high half (what the flash drove after the previous falling edge)."""
        ctx, f = self.ctx, self.flash
        mask = (1 << lines) - 1
        ctx.set(f.io_i_oe, 0 if out_bits is None else mask)
        ctx.set(f.io_i, (out_bits or 0) & mask if out_bits is not None else
                (ctx.get(f.io_o) & ctx.get(f.io_oe)) | (0xF & ~ctx.get(f.io_oe)))
        ctx.set(f.sck, 0)
        await ctx.tick()
        ctx.set(f.sck, 1)
        await ctx.tick()
        sampled = (ctx.get(f.io_o) & ctx.get(f.io_oe)) | (0xF & ~ctx.get(f.io_oe))
        ctx.set(f.sck, 0)
        return sampled

    async def send(self, data):
        for byte in data:
            for i in range(7, -1, -1):
                await self.clock(byte >> i & 1)

    async def receive(self, n, lines=1):
        out = []
        for _ in range(n):
            byte = 0
            for _ in range(8 // lines):
                v = await self.clock()
                bits = {1: v >> 1 & 1, 2: (v >> 1 & 1) << 1 | (v & 1), 4: v}[lines]
                byte = byte << lines | bits
            out.append(byte)
        return out

    async def command(self, data, n_in=0, dummy=0, lines=1):
        await self.select(1)
        await self.send(data)
        for _ in range(dummy):
            await self.clock()
        got = await self.receive(n_in, lines)
        await self.select(0)
        return got


def test_model_commands_bitbanged():
    flash = FlashModel(IMAGE, asleep=False)

    async def tb(ctx):
        bb = BitBang(ctx, flash)
        await bb.select(0)
        assert await bb.command([0x03, 0x00, 0x01, 0x00], 6) == list(expected(0x100, 6))
        assert await bb.command([0x0B, 0x00, 0x07, 0xFE], 4, dummy=8) == list(expected(0x7FE, 4))
        assert await bb.command([0x3B, 0x00, 0x05, 0x55], 5, dummy=8, lines=2) \
            == list(expected(0x555, 5))
        assert await bb.command([0x35], 2) == [0, 0]                   # QE clear
        await bb.command([0x06])
        assert await bb.command([0x05], 1) == [0x02]                   # WEL
        await bb.command([0x31, 0x02])
        assert await bb.command([0x35], 1) == [0x02]                   # QE set
        assert await bb.command([0x6B, 0x00, 0x00, 0x10], 3, dummy=8, lines=4) \
            == list(expected(0x10, 3))
        assert not ctx.get(flash.error), FlashError(ctx.get(flash.error_code))
        await bb.command([0x0B, 0x00, 0x00, 0x10], 0, dummy=3)         # CS in the dummy clocks
        assert FlashError(ctx.get(flash.error_code)) == FlashError.CS_IN_DUMMY
    run(flash, tb)


def test_model_rejects_write_without_enable():
    flash = FlashModel(IMAGE, asleep=False)

    async def tb(ctx):
        bb = BitBang(ctx, flash)
        await bb.select(0)
        await bb.command([0x31, 0x02])
        assert FlashError(ctx.get(flash.error_code)) == FlashError.NOT_WRITE_ENABLED
    run(flash, tb)


def test_reader_and_model_convert_to_verilog():
    """Both are plain synchronous gateware: Verilog for e.g. a Verilator co-simulation."""
    from amaranth.back import verilog
    reader = QspiFlashReader(mode="quad", clk_hz=CLK_HZ)
    m, flash = bench(reader, image=IMAGE[:256])
    text = verilog.convert(m, name="flash_bench", emit_src=False, ports=[
        reader.cmd.valid, reader.cmd.ready, reader.cmd.payload.as_value(), reader.data.valid,
        reader.data.ready, reader.data.payload, reader.busy, flash.error, flash.error_code])
    assert "module flash_bench" in text
