"""DrawEngine (hw/draw.py) on its own: the engine, a counter bank and the classifier memory.

INIT's jobs must leave the bank and the classifier rows equal to ``HwModel(cfg, seed)``, every
counter WRITE tagged with the word's sign-copy place (``SignLayout.location``); a sweep job must
change the layer's counters exactly as the golden kernel ``kernels.hw_sweep`` with the key
``prng.stream_key(seed, layer, STREAM_REINFORCE, batch)`` and INIT's or the host's skip table,
and with ``parity_gap`` no two UPDATEs of same-parity words may be back to back.
"""

import numpy as np
import pytest
from amaranth import Module
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.sim import Simulator

from xnorlearn.hw.counters import BankOp, CounterBank, PipelinedCounterBank
from xnorlearn.hw.draw import DrawEngine
from xnorlearn.hw.signbank import SignLayout
from xnorlearn.hw.trainer import TrainerLayout, tag_layout
from xnorlearn.sw import kernels, prng
from xnorlearn.sw.config import Config
from xnorlearn.sw.model import HwModel, compare_states

from conftest import decode_fields

CONFIGS = {
    # F = 20 not a multiple of P = 8, 4 draws per cycle, 2 forward lanes × 2 words (tags)
    "p8_d4": Config(n_inputs=20, layers=(8, 6), n_classes=3, group_sizes=(4, 3),
                    counter_bits=3, lanes=8, sweep_lanes=4, p_reinforce=1.0,
                    forward_lanes=2, forward_words=2),
    # P = 5, one draw per cycle, three layers
    "p5_three": Config(n_inputs=13, layers=(5, 7, 4), n_classes=4, group_sizes=(5, 7, 4),
                       counter_bits=4, lanes=5, p_reinforce=1.0),
}


class Bench(wiring.Component):
    def __init__(self, cfg, bank_cls, state, parity_gap=False):
        self.cfg, self.lay, self.slay = cfg, TrainerLayout(cfg), SignLayout(cfg)
        self.tags = tag_layout(self.slay)
        self.bank = bank_cls(cfg.lanes, cfg.counter_bits, self.lay.cnt_depth,
                             init=self.lay.counter_words(state), tag_bits=self.tags.size)
        self.draw = DrawEngine(cfg, self.lay, self.slay, self.tags, parity_gap=parity_gap)
        self.r_mem = Memory(shape=cfg.n_classes, depth=self.lay.r_depth, init=[])
        super().__init__({})

    def elaborate(self, platform):
        m = Module()
        m.submodules.bank, m.submodules.draw = self.bank, self.draw
        m.submodules.r_mem = self.r_mem
        wr = self.r_mem.write_port()
        wiring.connect(m, self.draw.cmd, self.bank.cmd)
        m.d.comb += [self.bank.resp.ready.eq(1), wr.addr.eq(self.draw.r_write.addr),
                     wr.data.eq(self.draw.r_write.data), wr.en.eq(self.draw.r_write.en)]
        return m


def run(b, jobs, seed=0, batch=0, tables=None):
    """Run ``jobs`` ((job, layer) pairs) back to back (the next one started in the ``done``
    cycle, as the core does); ``tables``: host skip tables written first (then used).
    Returns the bank words, classifier rows, write-back tags and UPDATE addresses by cycle."""
    sim = Simulator(b)
    sim.add_clock(1e-8)
    out = {"tags": [], "updates": []}

    async def tb(ctx):
        d = b.draw
        ctx.set(d.seed, seed)
        ctx.set(d.batch, batch)
        if tables is not None:
            for l, t in enumerate(tables):
                for i, v in enumerate(t):
                    ctx.set(d.tw.valid, 1)
                    ctx.set(d.tw.p.layer, l)
                    ctx.set(d.tw.p.index, i)
                    ctx.set(d.tw.p.value, int(v))
                    await ctx.tick()
            ctx.set(d.tw.valid, 0)
            ctx.set(d.host_tables, 1)
        cycle = 0
        for k, (job, layer) in enumerate(jobs):
            ctx.set(d.job, job)
            ctx.set(d.layer, layer)
            ctx.set(d.start, 1)
            await ctx.tick()
            ctx.set(d.start, 0)
            for _ in range(100_000):
                cycle += 1
                if ctx.get(b.bank.wb.valid):
                    out["tags"].append(int(ctx.get(b.bank.wb.tag)))
                if ctx.get(d.cmd.valid) and ctx.get(d.cmd.p.op) == BankOp.UPDATE:
                    out["updates"].append((cycle, ctx.get(d.cmd.p.addr)))
                if ctx.get(d.done):
                    break
                await ctx.tick()
            else:
                raise TimeoutError("no done")
        ctx.set(d.start, 0)
        for _ in range(8):                     # the last writes land
            await ctx.tick()
            if ctx.get(b.bank.wb.valid):
                out["tags"].append(int(ctx.get(b.bank.wb.tag)))
        assert not ctx.get(d.busy)
        out["words"] = b.bank.peek_words(ctx)
        out["rows"] = [ctx.get(b.r_mem.data[i]) for i in range(b.lay.r_depth)]

    sim.add_testbench(tb)
    sim.run()
    return out


@pytest.mark.parametrize("bank_cls", [CounterBank, PipelinedCounterBank],
                         ids=["bram", "pipelined"])
@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_init_jobs_equal_the_golden_init(name, bank_cls):
    cfg = CONFIGS[name]
    seed = 0xC0FFEE + len(name)
    gold = HwModel(cfg, seed=seed)
    zero = [np.zeros_like(s) for s in gold.state()]
    b = Bench(cfg, bank_cls, zero)
    jobs = [(j, l) for l in range(cfg.n_layers)
            for j in (prng.STREAM_INIT, prng.STREAM_CLASSIFIER)]
    out = run(b, jobs, seed=seed)
    assert compare_states(gold.state(), b.lay.state_from_words(out["words"])) is None
    want_rows = [sum(1 << q for q in range(cfg.n_classes) if gold.classifier(l)[j, q] > 0)
                 for l in range(cfg.n_layers) for j in range(cfg.layers[l])]
    assert out["rows"] == want_rows
    want_tags = [(1, *b.slay.location(l, j, w)) for l in range(cfg.n_layers)
                 for j in range(cfg.layers[l]) for w in range(b.lay.beats[l])]
    assert [decode_fields(b.tags, t) for t in out["tags"]] == want_tags


@pytest.mark.parametrize("host", [False, True], ids=["init_tables", "host_tables"])
@pytest.mark.parametrize("parity_gap", [False, True], ids=["", "parity_gap"])
@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_sweep_job_equals_the_golden_kernel(name, parity_gap, host):
    cfg = CONFIGS[name]
    rng = np.random.default_rng(len(name) + 2 * parity_gap + host)
    state = [rng.integers(cfg.counter_min, cfg.counter_max + 1, (n, cfg.fan_in(l)))
             .astype(np.int16) for l, n in enumerate(cfg.layers)]
    seed, batch = int(rng.integers(1 << 32)), int(rng.integers(1 << 32))
    tables = HwModel(cfg).tables
    if host:
        tables = np.array([prng.reinforce_table(cfg.p_reinforce, a, cfg.fan_in(l),
                                                cfg.prob_bits)
                           for l, a in enumerate(rng.uniform(0.2, 0.9, cfg.n_layers))])
    swept = [l for l in range(cfg.n_layers) if l != 1]      # not every layer
    b = Bench(cfg, CounterBank, state, parity_gap=parity_gap)
    out = run(b, [(prng.STREAM_REINFORCE, l) for l in swept], seed=seed, batch=batch,
              tables=tables if host else None)
    want = [s.copy() for s in state]
    for l in swept:
        flat = want[l].ravel()          # a view: the kernel sweeps it in place
        key = prng.stream_key(seed, l, prng.STREAM_REINFORCE, batch)
        kernels.hw_sweep(flat, 0, cfg.fan_in(l), cfg.layers[l], key,
                         np.asarray(tables[l], dtype=np.int64), cfg.prob_bits,
                         cfg.counter_min, cfg.counter_max)
    assert any((w != s).any() for w, s in zip(want, state)), "a sweep that changes nothing"
    assert compare_states(want, b.lay.state_from_words(out["words"])) is None
    # UPDATEs of strictly increasing words; with parity_gap no same-parity pair back to back
    addrs = [a for _, a in out["updates"]]
    assert all(x < y for x, y in zip(addrs, addrs[1:])) or len(swept) > 1
    if parity_gap:
        ups = out["updates"]
        assert all(not (c2 == c1 + 1 and (a1 - a2) % 2 == 0)
                   for (c1, a1), (c2, a2) in zip(ups, ups[1:]))
    assert all(decode_fields(b.tags, t)[0] == 0 for t in out["tags"])    # sweeps keep the signs
