"""SampleLoader (hw/loader.py) on its own: a payload buffer, the loader, the activation memory.

For a TRAIN payload (``protocol.train_request``: the label byte first) and an INFER payload
(``protocol.infer_request``), the first layer's input words must hold the sample's bits, bit
``i`` at bit ``i mod forward_bits`` of word ``i div forward_bits``, with 0 past ``N0`` (even
where the payload's padding bits are 1), and no other word may be written — for both builds
(byte-lane writes, which leave the byte lanes past the sample's last byte alone, and the bit
accumulator, which writes whole words).
"""

import numpy as np
import pytest
from amaranth import Module
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.sim import Simulator

from xnorlearn.hw.loader import SampleLoader
from xnorlearn.hw.trainer import TrainerLayout
from xnorlearn.sw import protocol
from xnorlearn.sw.config import Config

SENTINEL = 0x5A5A5A5A5A5A5A5A


class Bench(wiring.Component):
    def __init__(self, cfg):
        self.cfg, self.lay = cfg, TrainerLayout(cfg)
        self.gran = 8 if cfg.forward_bits % 8 == 0 else cfg.forward_bits
        self.max_payload = protocol.max_payload(cfg)
        self.ld = SampleLoader(cfg, self.lay, self.max_payload, self.gran)
        self.buf = Memory(shape=8, depth=self.max_payload, init=[])
        mask = (1 << cfg.forward_bits) - 1
        self.act = Memory(shape=cfg.forward_bits, depth=self.lay.act_depth,
                          init=[SENTINEL & mask] * self.lay.act_depth)
        super().__init__({})

    def elaborate(self, platform):
        m = Module()
        m.submodules.ld, m.submodules.buf, m.submodules.act = self.ld, self.buf, self.act
        rd = self.buf.read_port()
        wr = self.act.write_port(granularity=self.gran)
        m.d.comb += [rd.addr.eq(self.ld.buf_addr), self.ld.buf_data.eq(rd.data),
                     wr.addr.eq(self.ld.act_write.addr), wr.data.eq(self.ld.act_write.data),
                     wr.en.eq(self.ld.act_write.en)]
        return m


@pytest.mark.parametrize("cfg", [
    Config(n_inputs=37, layers=(6,), n_classes=3, lanes=2, forward_lanes=2, forward_words=8),
    Config(n_inputs=21, layers=(10,), n_classes=3, lanes=4, forward_words=2),     # 8 bits
    Config(n_inputs=20, layers=(8,), n_classes=3, lanes=5),                       # 5 bits
    Config(n_inputs=29, layers=(8,), n_classes=3, lanes=3, forward_words=4),      # 12 bits
    Config(n_inputs=53, layers=(8,), n_classes=3, lanes=3, forward_words=8),      # 3 bytes
], ids=lambda c: f"n{c.n_inputs}_fb{c.forward_bits}")
def test_sample_words(cfg):
    rng = np.random.default_rng(cfg.n_inputs)
    b = Bench(cfg)
    lay, bw = b.lay, cfg.forward_bits
    samples = [rng.integers(0, 2, cfg.n_inputs).astype(np.uint8) for _ in range(4)]
    samples[0][:] = 1                      # every bit set: the padding must still be 0
    got = []

    async def tb(ctx):
        ld = b.ld
        for k, x in enumerate(samples):
            train = k % 2 == 0
            payload = (protocol.train_request(cfg, x, 2) if train
                       else protocol.infer_request(cfg, x))
            # padding bits of the last sample byte set (they must not reach the words), and
            # bytes past the payload are not the sample's
            pad = 0xFF & ~((1 << (cfg.n_inputs - 8 * (len(payload) - train - 1))) - 1)
            payload = payload[:-1] + bytes([payload[-1] | pad])
            payload = payload + b"\xff" * (b.max_payload - len(payload))
            for i, v in enumerate(payload):
                ctx.set(b.buf.data[i], v)
            assert not ctx.get(ld.busy) and ctx.get(ld.buf_addr) == 0
            ctx.set(ld.skip, train)
            ctx.set(ld.start, 1)
            await ctx.tick()
            ctx.set(ld.start, 0)
            for _ in range(1000):
                done = ctx.get(ld.done)
                await ctx.tick()
                if done:
                    break
            else:
                raise TimeoutError("no done")
            got.append([ctx.get(b.act.data[i]) for i in range(lay.act_depth)])

    sim = Simulator(b)
    sim.add_clock(1e-8)
    sim.add_testbench(tb)
    sim.run()
    mask = (1 << bw) - 1
    n_bytes = protocol.sample_bytes(cfg)
    for x, words in zip(samples, got):
        want = [sum(int(v) << i for i, v in enumerate(x[w * bw:(w + 1) * bw]))
                for w in range(lay.fbeats[0])]
        if b.gran == 8:
            # byte lanes past the sample's last byte are not written (the core's memory keeps
            # its power-on 0 there: nothing else writes the first layer's input words)
            for k in range(n_bytes, lay.fbeats[0] * bw // 8):
                w, q = divmod(k, bw // 8)
                want[w] |= (SENTINEL >> (8 * q) & 0xFF) << (8 * q)
        assert words[:lay.fbeats[0]] == want
        assert words[lay.fbeats[0]:] == [SENTINEL & mask] * (lay.act_depth - lay.fbeats[0])
