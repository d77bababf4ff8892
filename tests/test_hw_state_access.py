"""StateAccess (hw/state_access.py) on its own: a counter bank, a payload buffer, the unit.

READ_STATE must return the golden model's counters, WRITE_STATE must change exactly the
counters the golden model's ``load_state`` changes, tag every write with the sign-copy place
``SignLayout.location`` gives, and a bad header, value or length must write nothing.
"""

import numpy as np
import pytest
from amaranth import Module
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.sim import Simulator

from xnorlearn.hw.counters import CounterBank, PipelinedCounterBank
from xnorlearn.hw.signbank import SignLayout
from xnorlearn.hw.state_access import StateAccess
from xnorlearn.hw.trainer import TrainerLayout, tag_layout
from xnorlearn.sw import protocol
from xnorlearn.sw.config import Config
from xnorlearn.sw.model import HwModel, compare_states
from xnorlearn.sw.protocol import Status

from conftest import decode_fields

CONFIGS = {
    # P = 8 does not divide F = 20; 2 forward lanes of 2 words: tags in lanes and granules
    "p8_wide": Config(n_inputs=20, layers=(8, 6), n_classes=3, group_sizes=(4, 3),
                      counter_bits=3, lanes=8, forward_lanes=2, forward_words=2),
    # P = 5 (not a power of two), three layers, 5-bit counters
    "p5_three": Config(n_inputs=13, layers=(5, 7, 4), n_classes=2, group_sizes=(5, 7, 4),
                       counter_bits=5, lanes=5),
}


class Bench(wiring.Component):
    def __init__(self, cfg, bank_cls):
        self.cfg, self.lay, self.slay = cfg, TrainerLayout(cfg), SignLayout(cfg)
        self.tags = tag_layout(self.slay)
        self.gold = HwModel(cfg)
        self.bank = bank_cls(cfg.lanes, cfg.counter_bits, self.lay.cnt_depth,
                             init=self.lay.counter_words(self.gold.state()),
                             tag_bits=self.tags.size)
        self.max_payload = protocol.max_payload(cfg)
        self.sa = StateAccess(cfg, self.lay, self.slay, self.tags, self.max_payload)
        self.buf = Memory(shape=8, depth=self.max_payload, init=[])
        super().__init__({})

    def elaborate(self, platform):
        m = Module()
        m.submodules.bank, m.submodules.sa, m.submodules.buf = self.bank, self.sa, self.buf
        rd = self.buf.read_port()
        wiring.connect(m, self.sa.cmd, self.bank.cmd)
        wiring.connect(m, self.bank.resp, self.sa.resp)
        m.d.comb += [rd.addr.eq(self.sa.buf_addr), self.sa.buf_data.eq(rd.data)]
        return m


def run(cfg, bank_cls, requests):
    """Execute ``requests`` ((write, payload) pairs); returns, per request, (status, replied,
    reply bytes, write-back tags) and the bank's words after all of them."""
    b = Bench(cfg, bank_cls)
    sim = Simulator(b)
    sim.add_clock(1e-8)
    out = {}

    async def tb(ctx):
        sa, results = b.sa, []
        ctx.set(sa.rsp.ready, 1)
        ctx.set(sa.rsp_data.ready, 1)
        for write, payload in requests:
            for i, v in enumerate(payload):
                ctx.set(b.buf.data[i], v)
            assert ctx.get(sa.start.ready)
            ctx.set(sa.start.valid, 1)
            ctx.set(sa.start.p.write, write)
            ctx.set(sa.start.p.length, len(payload))
            await ctx.tick()
            ctx.set(sa.start.valid, 0)
            reply, header, tags = bytearray(), None, []
            for _ in range(20_000):
                if ctx.get(sa.rsp.valid):
                    assert header is None
                    header = (ctx.get(sa.rsp.p.status), ctx.get(sa.rsp.p.length))
                if ctx.get(sa.rsp_data.valid):
                    reply.append(ctx.get(sa.rsp_data.payload))
                if ctx.get(b.bank.wb.valid):
                    tag = ctx.get(b.bank.wb.tag)
                    tags.append(int(tag))
                done = ctx.get(sa.done.valid)
                status, replied = ctx.get(sa.done.status), ctx.get(sa.done.replied)
                await ctx.tick()
                if done:
                    break
            else:
                raise TimeoutError("no done")
            for _ in range(6):                  # a pipelined bank's last write lands
                if ctx.get(b.bank.wb.valid):
                    tags.append(int(ctx.get(b.bank.wb.tag)))
                await ctx.tick()
            assert not ctx.get(sa.busy)
            if replied:
                assert header == (Status.OK, len(reply)), header
            else:
                assert header is None and not reply
            results.append((status, replied, bytes(reply), tags))
        out["results"] = results
        out["words"] = b.bank.peek_words(ctx)

    sim.add_testbench(tb)
    sim.run()
    return b, out["results"], b.lay.state_from_words(out["words"])


@pytest.mark.parametrize("bank_cls", [CounterBank, PipelinedCounterBank],
                         ids=["bram", "pipelined"])
@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_read_and_write_state_against_golden(name, bank_cls):
    cfg = CONFIGS[name]
    rng = np.random.default_rng(len(name))
    gold = HwModel(cfg)
    reqs, expect = [], []
    for layer in range(cfg.n_layers):
        n, f = cfg.layers[layer], cfg.fan_in(layer)
        neuron = int(rng.integers(n))
        first = int(rng.integers(f))
        count = int(rng.integers(1, f - first + 1))
        vals = rng.integers(cfg.counter_min, cfg.counter_max + 1, count)
        reqs.append((1, protocol.write_state_request(layer, neuron, first, vals)))
        expect.append(("write", layer, neuron, first, vals))
        state = gold.state()
        state[layer][neuron, first:first + count] = vals
        gold.load_state(state)
        # read back a window around it (another neuron's row too: the last one)
        reqs.append((0, protocol.read_state_request(layer, neuron, 0, f)))
        expect.append(("read", layer, neuron, 0, gold.state()[layer][neuron, :f]))
        reqs.append((0, protocol.read_state_request(layer, n - 1, f - 1, 1)))
        expect.append(("read", layer, n - 1, f - 1, gold.state()[layer][n - 1, f - 1:]))
    b, results, state = run(cfg, bank_cls, reqs)
    assert compare_states(gold.state(), state) is None
    p, slay = cfg.lanes, b.slay
    for (status, replied, reply, tags), (kind, layer, neuron, first, vals) in zip(results,
                                                                                   expect):
        assert status == Status.OK
        if kind == "read":
            assert replied
            assert list(protocol.parse_state(reply, len(vals))) == list(vals)
            assert tags == []
        else:
            assert not replied and reply == b""
            # one WRITE per value, tagged with its word's place in the sign copy
            want = [(1, *slay.location(layer, neuron, (first + i) // p))
                    for i in range(len(vals))]
            assert [decode_fields(b.tags, t) for t in tags] == want


def test_bad_requests_write_nothing():
    cfg = CONFIGS["p8_wide"]
    gold = HwModel(cfg)
    cmax = cfg.counter_max
    good = protocol.write_state_request(1, 2, 3, [1, -2])
    reqs = [
        (0, protocol.read_state_request(2, 0, 0, 1)),             # layer >= L
        (0, protocol.read_state_request(0, 8, 0, 1)),             # neuron >= N
        (0, protocol.read_state_request(0, 0, 15, 6)),            # past F
        (0, bytes([0, 0, 0, 0, 0, 0])),                           # count 0
        (0, bytes([0, 0, 0, 0, 0, protocol.STATE_CHUNK + 1])),    # count > chunk
        (1, protocol.write_state_request(0, 1, 3, [1, cmax + 1])),   # value > cmax
        (1, protocol.write_state_request(0, 1, 3, [cfg.counter_min - 1])),   # < cmin
        (1, good[:-2]),                                           # short payload
        (1, good + b"\0\0"),                                      # long payload
    ]
    b, results, state = run(cfg, CounterBank, reqs)
    assert [(s, r, reply, tags) for s, r, reply, tags in results] == \
        [(Status.BAD_ARG, 0, b"", [])] * len(reqs)
    assert compare_states(gold.state(), state) is None
