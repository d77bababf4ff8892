"""Amaranth-simulator harness for the data store: :class:`~xnorlearn.hw.store.StoreRunner`
between a payload buffer (what the link would hold) and a
:class:`~xnorlearn.hw.trainer.TrainerCore`, the image served by a
:class:`~xnorlearn.hw.store.MemoryReader`.

:class:`StoreDriver` executes protocol commands through the runner (so ordinary commands test
the pass-through) and can call back after every sample the runner fed to the core, to peek the
counter bank there. The UART path and the flash are covered by the co-simulation.

``writable=True`` gives the runner a writable store (``MemoryReader(writable=True)``, ``depth``
bytes, the rest after ``image`` zero like never-written SDRAM) that
:meth:`StoreDriver.store_write` fills with ``STORE_WRITE``.
"""

from amaranth import Module
from amaranth.lib import wiring
from amaranth.lib.memory import Memory

from ..hw.store import MemoryReader, StoreRunner
from ..hw.trainer import TrainerCore
from ..sw import protocol
from .core_harness import CoreDriver

__all__ = ["StoreHarness", "StoreDriver", "run_store_bench"]


class StoreHarness(wiring.Component):
    """Payload buffer -> runner -> core, runner -> reader (``image`` at byte ``base``)."""

    def __init__(self, cfg, image, base=0, bank_cls=None,
                 reader=None, writable=False, depth=None):
        self.max_payload = protocol.max_payload(cfg)
        extra = {} if bank_cls is None else {"bank_cls": bank_cls}
        self.core = TrainerCore(cfg, self.max_payload, **extra)
        if reader is None:
            reader = MemoryReader(image, base, writable=writable, depth=depth)
        self.reader = reader
        self.runner = StoreRunner(cfg, base, self.max_payload, writable=writable,
                                  capacity=reader.depth if writable else None)
        self.buf = Memory(shape=8, depth=self.max_payload, init=[])
        super().__init__({})

    def elaborate(self, platform):
        m = Module()
        m.submodules.core = core = self.core
        m.submodules.runner = runner = self.runner
        m.submodules.reader = reader = self.reader
        m.submodules.buf = buf = self.buf
        rd = buf.read_port()
        m.d.comb += [rd.addr.eq(runner.host.buf_addr), runner.host.buf_data.eq(rd.data)]
        runner.connect(m, reader, core)
        return m


class StoreDriver(CoreDriver):
    """:class:`~xnorlearn.sim.core_harness.CoreDriver` whose commands go through the runner.

    ``on_sample(driver, k)`` (optional, async) is called after the ``k``-th record the runner
    fed to the core in a store command has been answered (a few cycles later, so the counter
    bank has committed its writes); ``store_cycles`` is the last command's cycle count."""

    def __init__(self, harness, cfg, ctx, on_sample=None):
        super().__init__(harness, cfg, ctx)
        self.port = harness.runner.host
        self.on_sample = on_sample

    async def command(self, code, payload=b"", max_cycles=50_000_000):
        ctx, port, core = self.ctx, self.port, self.core
        for i, b in enumerate(payload):
            ctx.set(self.h.buf.data[i], b)
        ctx.set(port.req.p.code, code)
        ctx.set(port.req.p.length, len(payload))
        ctx.set(port.rsp.ready, 0)
        ctx.set(port.rsp_data.ready, 1)
        assert ctx.get(port.req.ready), "runner not idle"
        ctx.set(port.req.valid, 1)
        await ctx.tick()
        ctx.set(port.req.valid, 0)
        n, k, pending = 1, 0, None
        while not ctx.get(port.rsp.valid):
            fed = ctx.get(core.rsp_data.valid) and ctx.get(core.rsp_data.ready)
            await ctx.tick()
            n += 1
            if pending is not None:
                pending -= 1
                if pending == 0 and self.on_sample is not None:
                    await self.on_sample(self, k - 1)
                    pending = None
            if fed and code in (protocol.Command.TRAIN_STORE, protocol.Command.EVAL_STORE):
                k += 1
                pending = getattr(core.bank, "read_latency", 1) + 2
            if n > max_cycles:
                raise TimeoutError(f"command 0x{code:02x} did not finish")
        self.store_cycles = n
        if pending is not None and self.on_sample is not None:
            for _ in range(pending):          # the reply header waits (not counted)
                await ctx.tick()
            await self.on_sample(self, k - 1)
        status = ctx.get(port.rsp.p.status)
        length = ctx.get(port.rsp.p.length)
        ctx.set(port.rsp.ready, 1)
        await ctx.tick()
        ctx.set(port.rsp.ready, 0)
        n += 1
        out = bytearray()
        while len(out) < length:
            if ctx.get(port.rsp_data.valid):
                out.append(ctx.get(port.rsp_data.payload))
            await ctx.tick()
            n += 1
        self.cycles += n
        for _ in range(getattr(core.bank, "read_latency", 1) + 2):
            await ctx.tick()
        return status, bytes(out)

    async def store_info(self):
        st, r = await self.command(protocol.Command.STORE_INFO)
        return (st, *protocol.parse_store_info(r)) if st == 0 else (st, None, None)

    async def train_store(self, seed, epoch, first, count):
        st, r = await self.command(protocol.Command.TRAIN_STORE,
                                   protocol.train_store_request(seed, epoch, first, count))
        return st, (protocol.parse_correct(r) if st == 0 else None)

    async def store_write(self, offset, data):
        """STORE_WRITE of ``data`` at ``offset``: the status."""
        st, r = await self.command(protocol.Command.STORE_WRITE,
                                   protocol.store_write_request(offset, data))
        assert r == b""
        return st

    async def fill(self, image, chunk=None):
        """Write ``image`` with STORE_WRITE frames of ``chunk`` bytes (default the most a
        frame holds), in the order the host writes it (:func:`xnorlearn.sw.store.fill_plan`:
        the header last); the statuses."""
        from ..sw.store import fill_plan
        return [await self.store_write(off, data)
                for off, data in fill_plan(image, chunk or
                                           protocol.store_write_max_data(self.cfg))]

    async def eval_store(self, split, first, count):
        st, r = await self.command(protocol.Command.EVAL_STORE,
                                   protocol.eval_store_request(split, first, count))
        return st, (protocol.parse_correct(r) if st == 0 else None)


def run_store_bench(harness, cfg, bench, on_sample=None):
    """Run ``await bench(driver)`` (a :class:`StoreDriver` of ``harness``, ``on_sample`` as
    there) in Amaranth's simulator at 100 MHz; returns what ``bench`` returns."""
    from amaranth.sim import Simulator
    sim = Simulator(harness)
    sim.add_clock(1e-8)
    out = {}

    async def tb(ctx):
        out["v"] = await bench(StoreDriver(harness, cfg, ctx, on_sample))

    sim.add_testbench(tb)
    sim.run()
    return out.get("v")
