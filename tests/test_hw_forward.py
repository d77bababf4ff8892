"""ForwardEngine (hw/forward.py) on its own: the engine, a sign copy, the activation memory,
the classifier memory.

Layer after layer (each layer's output words written by the engine are the next one's input),
the engine must reproduce the golden model's forward pass (``HwModel.forward``): the packed
activations, the decision (``learn`` unless the prediction is right with margin ≥ the layer's
threshold; the prediction) and, in every layer that learns, the group choices the golden
model's ``last_chosen`` reports (neuron and target ``τ = [R[j][label] > 0]``).
"""

import numpy as np
import pytest
from amaranth import Module
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.sim import Simulator

from xnorlearn.hw.bram import registered_read
from xnorlearn.hw.forward import ForwardEngine
from xnorlearn.hw.signbank import SignBank, SignLayout
from xnorlearn.hw.trainer import TrainerLayout
from xnorlearn.sw.config import Config
from xnorlearn.sw.model import HwModel

CONFIGS = {
    # 1 forward lane of 8 bits, F = 20 (3 beats), three layers
    "p8_three": Config(n_inputs=20, layers=(8, 6, 5), n_classes=3, group_sizes=(4, 3, 1),
                       counter_bits=3, lanes=8),
    # 4 lanes × 2 words: N = 10 and 6 not multiples of 4, rounds shorter than the lanes
    "p4_wide": Config(n_inputs=21, layers=(10, 6), n_classes=3, group_sizes=(5, 3),
                      counter_bits=3, lanes=4, forward_lanes=4, forward_words=2),
}


def pack(bits, width, words):
    out = []
    for w in range(words):
        chunk = bits[w * width:(w + 1) * width]
        out.append(sum(int(b) << i for i, b in enumerate(chunk)))
    return out


class Bench(wiring.Component):
    def __init__(self, cfg, gold):
        self.cfg, self.lay, self.slay = cfg, TrainerLayout(cfg), SignLayout(cfg)
        self.signs = SignBank.from_config(cfg, gold.state())
        self.fwd = ForwardEngine(cfg, self.lay, self.slay)
        self.act = Memory(shape=cfg.forward_bits, depth=self.lay.act_depth, init=[])
        rows = [sum(1 << q for q in range(cfg.n_classes) if gold.classifier(l)[j, q] > 0)
                for l in range(cfg.n_layers) for j in range(cfg.layers[l])]
        self.r_mem = Memory(shape=cfg.n_classes, depth=self.lay.r_depth, init=rows)
        super().__init__({})

    def elaborate(self, platform):
        m = Module()
        fwd = self.fwd
        m.submodules.fwd, m.submodules.signs = fwd, self.signs
        m.submodules.act, m.submodules.r_mem = self.act, self.r_mem
        act_rd, r_rd = registered_read(m, self.act, "act"), registered_read(m, self.r_mem, "r")
        act_wr = self.act.write_port()
        m.d.comb += [act_rd.addr.eq(fwd.act_addr), fwd.act_data.eq(act_rd.data),
                     self.signs.rd_addr.eq(fwd.sign_addr), fwd.sign_data.eq(self.signs.rd_data),
                     r_rd.addr.eq(fwd.r_addr), fwd.r_data.eq(r_rd.data),
                     act_wr.addr.eq(fwd.act_write.addr), act_wr.data.eq(fwd.act_write.data),
                     act_wr.en.eq(fwd.act_write.en)]
        return m


def run_sample(cfg, x, y):
    gold = HwModel(cfg, seed=int(x.sum()) + 7 * y)
    b = Bench(cfg, gold)
    lay, bw = b.lay, cfg.forward_bits
    traces = gold.forward(x)
    gold.train_sample(x, y)
    out = {"layers": []}

    async def tb(ctx):
        fwd = b.fwd
        for w, v in enumerate(pack(x, bw, lay.fbeats[0])):
            ctx.set(b.act.data[lay.act_base[0] + w], v)
        ctx.set(fwd.label, y)
        for l in range(cfg.n_layers):
            ctx.set(fwd.layer, l)
            await ctx.tick()                      # the layer's registers settle
            ctx.set(fwd.start, 1)
            await ctx.tick()
            ctx.set(fwd.start, 0)
            chosen = {}
            for _ in range(10_000):
                if ctx.get(fwd.chosen.en):
                    chosen[ctx.get(fwd.chosen.addr)] = (ctx.get(fwd.chosen.data.index),
                                                       ctx.get(fwd.chosen.data.tau))
                if ctx.get(fwd.done.valid):
                    done = (ctx.get(fwd.done.learn), ctx.get(fwd.done.pred))
                    break
                await ctx.tick()
            else:
                raise TimeoutError("no done")
            await ctx.tick()
            assert not ctx.get(fwd.busy)
            out["layers"].append((done, ctx.get(fwd.found), chosen))
        out["act"] = [ctx.get(b.act.data[i]) for i in range(lay.act_depth)]

    sim = Simulator(b)
    sim.add_clock(1e-8)
    sim.add_testbench(tb)
    sim.run()
    return gold, traces, b, out


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_layers_equal_the_golden_forward_pass(name):
    cfg = CONFIGS[name]
    rng = np.random.default_rng(len(name))
    learned = 0
    for s in range(6):
        x = rng.integers(0, 2, cfg.n_inputs).astype(np.uint8)
        y = int(rng.integers(cfg.n_classes))
        gold, traces, b, out = run_sample(cfg, x, y)
        lay, bw, groups = b.lay, cfg.forward_bits, b.lay.groups
        for l, ((learn, pred), found, chosen) in enumerate(out["layers"]):
            t = traces[l]
            want_learn = not (t.prediction == y and t.margin >= cfg.margin_threshold(l))
            assert (learn, pred) == (want_learn, t.prediction), (s, l)
            if l + 1 < cfg.n_layers:               # the next layer's input words
                base = lay.act_base[l + 1]
                got = out["act"][base:base + lay.fbeats[l + 1]]
                assert got == pack(t.a, bw, lay.fbeats[l + 1]), (s, l)
            if want_learn:
                learned += 1
                half = (l % 2) * max(groups)
                r = gold.classifier(l)
                want = gold.last_chosen(l)
                assert found == sum(1 << g for g, j in enumerate(want) if j >= 0), (s, l)
                for g, j in enumerate(want):
                    if j >= 0:
                        assert chosen[half + g] == (j, int(r[j, y] > 0)), (s, l, g)
    assert learned > 0
