"""UpdateEngine (hw/update.py) on its own: the engine, a counter bank, the chosen-neuron memory
and the activation memory.

Given the neurons the golden model chose in a sample (``HwModel.last_chosen``, target
``τ = [R[j][label] > 0]``) and the layer inputs of its forward pass, the engine's UPDATEs must
leave the bank equal to the golden model's state after ``train_sample``, every UPDATE tagged
with its word's sign-copy place (``SignLayout.location``).
"""

import numpy as np
import pytest
from amaranth import Module
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.sim import Simulator

from xnorlearn.hw.counters import CounterBank, PipelinedCounterBank
from xnorlearn.hw.signbank import SignLayout
from xnorlearn.hw.trainer import TrainerLayout, tag_layout
from xnorlearn.hw.update import UpdateEngine, chosen_layout
from xnorlearn.sw.config import Config
from xnorlearn.sw.model import HwModel, compare_states

CONFIGS = {
    # F = 20 not a multiple of P = 8, two forward words per activation word
    "p8_fw2": Config(n_inputs=20, layers=(8, 6), n_classes=3, group_sizes=(2, 3),
                     counter_bits=3, lanes=8, forward_lanes=2, forward_words=2, batch=1000),
    # P = 5, gamma = 1 (every wrong neuron), 4-bit counters
    "p5_gamma1": Config(n_inputs=13, layers=(7, 4), n_classes=2, group_sizes=1,
                        counter_bits=4, lanes=5, batch=1000),
}


def pack(bits, width, words):
    return [sum(int(b) << i for i, b in enumerate(bits[w * width:(w + 1) * width]))
            for w in range(words)]


class Bench(wiring.Component):
    def __init__(self, cfg, bank_cls, state, act_words, chosen_words, prefetch):
        self.cfg, self.lay, self.slay = cfg, TrainerLayout(cfg), SignLayout(cfg)
        self.tags = tag_layout(self.slay)
        self.bank = bank_cls(cfg.lanes, cfg.counter_bits, self.lay.cnt_depth,
                             init=self.lay.counter_words(state), tag_bits=self.tags.size)
        self.upd = UpdateEngine(cfg, self.lay, self.slay, self.tags, prefetch=prefetch)
        self.act = Memory(shape=cfg.forward_bits, depth=self.lay.act_depth, init=act_words)
        self.chosen = Memory(shape=chosen_layout(max(cfg.layers)),
                             depth=2 * max(self.lay.groups), init=chosen_words)
        super().__init__({})

    def elaborate(self, platform):
        m = Module()
        upd = self.upd
        m.submodules.bank, m.submodules.upd = self.bank, upd
        m.submodules.act, m.submodules.chosen = self.act, self.chosen
        act_rd, ch_rd = self.act.read_port(), self.chosen.read_port()
        wiring.connect(m, upd.cmd, self.bank.cmd)
        m.d.comb += [self.bank.resp.ready.eq(1), act_rd.addr.eq(upd.act_addr),
                     upd.act_data.eq(act_rd.data), upd.act_grant.eq(upd.act_req),
                     ch_rd.addr.eq(upd.ch_addr), upd.ch_data.eq(ch_rd.data)]
        return m


@pytest.mark.parametrize("prefetch", [1, 2])
@pytest.mark.parametrize("bank_cls", [CounterBank, PipelinedCounterBank],
                         ids=["bram", "pipelined"])
@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_updates_equal_the_golden_online_update(name, bank_cls, prefetch):
    cfg = CONFIGS[name]
    rng = np.random.default_rng(len(name) + prefetch)
    lay, slay, bw = TrainerLayout(cfg), SignLayout(cfg), cfg.forward_bits
    groups = max(lay.groups)
    learned = 0
    for s in range(4):
        gold = HwModel(cfg, seed=s + 1)
        x = rng.integers(0, 2, cfg.n_inputs).astype(np.uint8)
        y = int(rng.integers(cfg.n_classes))
        before = gold.state()
        traces = gold.forward(x)
        gold.train_sample(x, y)
        act = [0] * lay.act_depth
        inputs = [x] + [t.a for t in traces[:-1]]
        for l, a in enumerate(inputs):
            act[lay.act_base[l]:lay.act_base[l] + lay.fbeats[l]] = pack(a, bw, lay.fbeats[l])
        chosen_words, jobs = [{"index": 0, "tau": 0}] * (2 * groups), []
        for l in range(cfg.n_layers):
            picks = gold.last_chosen(l)
            r = gold.classifier(l)
            found = 0
            for g, j in enumerate(picks):
                if j >= 0:
                    found |= 1 << g
                    tau = int(r[j, y] > 0)
                    chosen_words[(l % 2) * groups + g] = {"index": int(j), "tau": tau}
            if found:
                jobs.append((l, found, dict(chosen_words=list(chosen_words))))
        # one layer at a time, each with the chosen memory as the core leaves it then
        state = before
        for l, found, mem in jobs:
            learned += 1
            b = Bench(cfg, bank_cls, state, act, mem["chosen_words"], prefetch)
            out = {}

            async def tb(ctx, b=b, l=l, found=found, out=out):
                upd, tags = b.upd, []
                ctx.set(upd.start.valid, 1)
                ctx.set(upd.start.p.layer, l)
                ctx.set(upd.start.p.found, found)
                await ctx.tick()
                ctx.set(upd.start.valid, 0)
                for _ in range(10_000):
                    if ctx.get(b.bank.wb.valid):
                        tags.append(int(ctx.get(b.bank.wb.tag)))
                    if not ctx.get(upd.busy):
                        break
                    await ctx.tick()
                for _ in range(8):
                    await ctx.tick()
                    if ctx.get(b.bank.wb.valid):
                        tags.append(int(ctx.get(b.bank.wb.tag)))
                out["words"], out["tags"] = b.bank.peek_words(ctx), tags

            sim = Simulator(b)
            sim.add_clock(1e-8)
            sim.add_testbench(tb)
            sim.run()
            state = lay.state_from_words(out["words"])
            picks = gold.last_chosen(l)
            want_tags = [(1, *slay.location(l, int(j), w)) for j in picks if j >= 0
                         for w in range(lay.beats[l])]
            fields = [b.tags[n] for n in ("en", "lane", "row", "granule")]
            got_tags = [tuple((t >> f.offset) & ((1 << f.width) - 1) for f in fields)
                        for t in out["tags"]]
            assert got_tags == want_tags, (s, l)
        assert compare_states(gold.state(), state) is None, s
    assert learned > 0
