"""ThresholdLoader (hw/thresholds.py) on its own: a payload buffer and the unit.

Its verdict on a SET_THRESHOLDS payload must be the golden rule's (``prng.check_tables`` on
``protocol.parse_tables_request``): OK with exactly the parsed entries written, in order, to
the sweep engine's table port, or BAD_ARG with nothing written.
"""

import numpy as np
import pytest
from amaranth import Module
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.sim import Simulator

from xnorlearn.hw.thresholds import ThresholdLoader
from xnorlearn.sw import prng, protocol
from xnorlearn.sw.config import Config
from xnorlearn.sw.protocol import Status


class Bench(wiring.Component):
    def __init__(self, cfg):
        self.max_payload = protocol.max_payload(cfg)
        self.thr = ThresholdLoader(cfg, self.max_payload)
        self.buf = Memory(shape=8, depth=self.max_payload, init=[])
        super().__init__({})

    def elaborate(self, platform):
        m = Module()
        m.submodules.thr, m.submodules.buf = self.thr, self.buf
        rd = self.buf.read_port()
        m.d.comb += [rd.addr.eq(self.thr.buf_addr), self.thr.buf_data.eq(rd.data)]
        return m


def run(cfg, payloads):
    """Per payload: (status, the table writes as (layer, index, value))."""
    b = Bench(cfg)
    sim = Simulator(b)
    sim.add_clock(1e-8)
    out = []

    async def tb(ctx):
        thr = b.thr
        for payload in payloads:
            for i, v in enumerate(payload):
                ctx.set(b.buf.data[i], v)
            assert not ctx.get(thr.busy) and ctx.get(thr.buf_addr) == 0
            ctx.set(thr.start, 1)
            await ctx.tick()
            ctx.set(thr.start, 0)
            writes = []
            for _ in range(10 * len(payload)):
                if ctx.get(thr.tw.valid):
                    writes.append((ctx.get(thr.tw.p.layer), ctx.get(thr.tw.p.index),
                                   ctx.get(thr.tw.p.value)))
                done, status = ctx.get(thr.done.valid), ctx.get(thr.done.status)
                await ctx.tick()
                if done:
                    break
            else:
                raise TimeoutError("no done")
            out.append((status, writes))

    sim.add_testbench(tb)
    sim.run()
    return out


def golden(cfg, payload):
    t = protocol.parse_tables_request(cfg, payload)
    try:
        prng.check_tables(t, cfg.n_layers, cfg.prob_bits)
    except ValueError:
        return Status.BAD_ARG, []
    return Status.OK, [(l, i, int(t[l, i])) for l in range(cfg.n_layers)
                       for i in range(t.shape[1])]


@pytest.mark.parametrize("layers,prob_bits", [((8, 6), 12), ((5, 7, 4), 16), ((9,), 10)])
def test_verdict_and_writes_match_the_golden_rule(layers, prob_bits):
    cfg = Config(n_inputs=20, layers=layers, n_classes=3, group_sizes=1, counter_bits=3,
                 lanes=4, prob_bits=prob_bits)
    rng = np.random.default_rng(sum(layers) + prob_bits)
    top = (1 << prob_bits) - 1
    good = [prng.reinforce_table(cfg.p_reinforce, 0.3, cfg.fan_in(l), prob_bits)
            for l in range(cfg.n_layers)]
    payloads = [protocol.set_tables_request(cfg, good)]
    for _ in range(8):
        t = np.array([sorted(int(rng.integers(0, top + 1)) for _ in range(prng.SWEEP_SKIP))
                      for _ in range(cfg.n_layers)], dtype=np.int64)
        kind = rng.integers(4)
        l, i = int(rng.integers(cfg.n_layers)), int(rng.integers(1, prng.SWEEP_SKIP))
        if kind == 1:                                   # one entry decreases
            t[l, i] = t[l, i - 1] - 1 if t[l, i - 1] else top
            t[l, i - 1] = max(t[l, i - 1], 1)
        elif kind == 2 and prob_bits < 16:              # one entry >= 2^b (sorted still)
            t[l, i:] = top + 1
        elif kind == 3:                                 # a later layer may start lower
            t[l, 0] = 0
        payloads.append(t.astype("<u2").tobytes())
    want = [golden(cfg, p) for p in payloads]
    assert {s for s, _ in want} == {Status.OK, Status.BAD_ARG} or prob_bits == 16
    assert run(cfg, payloads) == want
