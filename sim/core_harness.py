"""Amaranth-simulator harness for :class:`~xnorlearn.hw.trainer.TrainerCore` without the UART.

:class:`CoreHarness` puts the core next to a payload buffer memory (what the link would hold);
:class:`CoreDriver` executes protocol commands on it from an async Amaranth testbench and can
peek the counter bank, so a test compares the hidden state with the golden model after every
sample quickly. The UART path is covered by the cocotb co-simulation.
"""

import struct

import numpy as np
from amaranth import Module
from amaranth.lib import wiring
from amaranth.lib.memory import Memory

from ..hw.trainer import Cmd, TrainerCore
from ..sw import protocol

__all__ = ["CoreHarness", "CoreDriver", "pack_sample"]


def pack_sample(bits):
    """0/1 bits -> bytes, LSB first (protocol order)."""
    bits = np.asarray(bits, dtype=np.uint8)
    return np.packbits(bits, bitorder="little").tobytes()


class CoreHarness(wiring.Component):
    def __init__(self, cfg, max_payload=None, bank_cls=None,
                 sweep_search=None):
        self.max_payload = max_payload or protocol.max_payload(cfg)
        extra = {} if bank_cls is None else {"bank_cls": bank_cls}
        if sweep_search is not None:
            extra["sweep_search"] = sweep_search
        self.core = TrainerCore(cfg, self.max_payload, **extra)
        self.buf = Memory(shape=8, depth=self.max_payload, init=[])
        super().__init__({})

    def elaborate(self, platform):
        m = Module()
        m.submodules.core = core = self.core
        m.submodules.buf = buf = self.buf
        rd = buf.read_port()
        m.d.comb += [rd.addr.eq(core.buf_addr), core.buf_data.eq(rd.data)]
        return m


class CoreDriver:
    """Protocol commands on a simulated core (inside an async Amaranth testbench)."""

    def __init__(self, harness, cfg, ctx):
        self.h, self.cfg, self.ctx = harness, cfg, ctx
        self.core = harness.core
        self.cycles = 0

    async def command(self, code, payload=b"", max_cycles=10_000_000):
        """Run one command; returns (status, reply bytes)."""
        ctx, core = self.ctx, self.core
        for i, b in enumerate(payload):
            ctx.set(self.h.buf.data[i], b)
        ctx.set(core.req.p.code, code)
        ctx.set(core.req.p.length, len(payload))
        ctx.set(core.rsp.ready, 1)
        ctx.set(core.rsp_data.ready, 1)
        assert ctx.get(core.req.ready), "core not idle"
        ctx.set(core.req.valid, 1)
        await ctx.tick()                       # taken at this edge
        ctx.set(core.req.valid, 0)
        n = 1
        while not ctx.get(core.rsp.valid):
            await ctx.tick()
            n += 1
            if n > max_cycles:
                raise TimeoutError(f"command 0x{code:02x} did not finish")
        status = ctx.get(core.rsp.p.status)
        length = ctx.get(core.rsp.p.length)
        await ctx.tick()                       # header taken
        n += 1
        out = bytearray()
        while len(out) < length:
            if ctx.get(core.rsp_data.valid):
                out.append(ctx.get(core.rsp_data.payload))
            await ctx.tick()
            n += 1
        self.cycles += n
        # let a pipelined counter bank commit its last writes before anyone peeks the memory
        # (not counted: the core is idle and the next command would be accepted meanwhile)
        for _ in range(getattr(core.bank, "read_latency", 1) + 2):
            await ctx.tick()
        return status, bytes(out)

    # ------------------------------------------------------------------ commands
    async def train(self, bits, label):
        st, r = await self.command(Cmd.TRAIN, bytes([label]) + pack_sample(bits))
        assert st == 0, f"TRAIN status {st}"
        return r[0]

    async def infer(self, bits):
        st, r = await self.command(Cmd.INFER, pack_sample(bits))
        assert st == 0
        return r[0]

    async def end_epoch(self):
        st, _ = await self.command(Cmd.END_EPOCH)
        assert st == 0

    async def set_tables(self, tables):
        """SET_THRESHOLDS with every layer's skip table; returns the status."""
        return (await self.command(Cmd.SET_THRESHOLDS,
                                   protocol.set_tables_request(self.cfg, tables)))[0]

    async def init(self, seed):
        return (await self.command(Cmd.INIT, struct.pack("<I", seed)))[0]

    async def read_state(self, layer, neuron, first, count):
        """READ_STATE: (status, the counters as a list, or None unless OK)."""
        st, r = await self.command(Cmd.READ_STATE,
                                   protocol.read_state_request(layer, neuron, first, count))
        return st, ([int(v) for v in protocol.parse_state(r, count)] if st == 0 else None)

    async def write_state(self, layer, neuron, first, values):
        """WRITE_STATE; returns the status."""
        return (await self.command(Cmd.WRITE_STATE,
                                   protocol.write_state_request(layer, neuron, first, values)))[0]

    async def read_counters(self):
        st, r = await self.command(Cmd.READ_COUNTERS)
        assert st == 0 and len(r) == 24
        samples, correct, busy, n, since = struct.unpack("<IIQII", r)
        return dict(samples=samples, correct=correct, busy_cycles=busy, batch_number=n,
                    since_boundary=since)

    def peek_state(self, check_signs=True):
        """Every layer's counters, read straight from the bank's memories (any bank class:
        each has ``peek_words``). With ``check_signs``, also checks that the sign-bit copy the
        forward pass reads equals the counters' signs (``AssertionError`` naming the first
        differing row; :meth:`sign_mismatch`)."""
        state = self.core.lay.state_from_words(self.core.bank.peek_words(self.ctx))
        if check_signs:
            mism = self.sign_mismatch(state)
            assert mism is None, mism
        return state

    def sign_mismatch(self, state):
        """The first row of the sign-bit copy that differs from ``state``'s signs, as text, or
        None."""
        want = self.core.slay.rows(state)
        got = self.core.signs.peek_rows(self.ctx)
        for q, (w, g) in enumerate(zip(want, got)):
            for r, (a, b) in enumerate(zip(w, g)):
                if a != b:
                    return f"sign copy lane {q} row {r}: {b:#x}, counters' signs {a:#x}"
        return None
