"""SweepEngine (spec v2 §7 sparse sweep) against xnorlearn.sw.prng.sweep_row, Amaranth simulator."""

import random

import pytest

from xnorlearn.hw.sweep import LEVELS, SweepEngine
from xnorlearn.sim.harness import expect_equal, run_amaranth
from xnorlearn.sw import prng

B = 12        # prob_bits of most cases (any b works; 12 keeps the random tables varied)


def random_table(rng, b, kind):
    top = (1 << b) - 1
    if kind == "zero":
        return (0,) * prng.SWEEP_SKIP
    if kind == "full":                   # every draw below C[0]: every weight reinforced
        return (top,) * prng.SWEEP_SKIP
    if kind == "sorted":                 # arbitrary nondecreasing, repeats and plateaus
        return tuple(sorted(rng.choice([0, top, rng.randrange(top + 1)])
                            for _ in range(prng.SWEEP_SKIP)))
    p_r, a, f = kind
    return prng.reinforce_table(p_r, a, f, b)


def expected_hits(key, layer, eng, table):
    f, n, P = eng.fan_ins[layer], eng.rows[layer], eng.lanes
    out = []
    for j in range(n):
        for i in prng.sweep_row(key, j, f, table, eng.prob_bits):
            out.append({"row": j, "col": i, "word": eng.word_bases[layer] + j * eng.beats[layer]
                        + i // P, "lane": i % P})
    return out


def run_sweeps(eng, jobs, host_tables=None, p_ready=1.0, seed=0):
    """Run ``jobs`` = [(key, layer)] one after the other (optionally after writing
    ``host_tables``); return the hits of each and the cycles each took."""
    rng = random.Random(seed)
    results = []

    async def bench(ctx):
        if host_tables is not None:
            for l, table in enumerate(host_tables):
                for i, c in enumerate(table):
                    ctx.set(eng.tw.valid, 1)
                    ctx.set(eng.tw.p.layer, l)
                    ctx.set(eng.tw.p.index, i)
                    ctx.set(eng.tw.p.value, c)
                    await ctx.tick()
            ctx.set(eng.tw.valid, 0)
            ctx.set(eng.host_tables, 1)
        for key, layer in jobs:
            ctx.set(eng.start.valid, 1)
            ctx.set(eng.start.p.key, key)
            ctx.set(eng.start.p.layer, layer)
            while not ctx.get(eng.start.ready):
                await ctx.tick()
            await ctx.tick()
            ctx.set(eng.start.valid, 0)
            hits, cycles = [], 1
            while True:
                ready = rng.random() < p_ready
                ctx.set(eng.o.ready, ready)
                if ready and ctx.get(eng.o.valid):
                    hits.append({f: ctx.get(getattr(eng.o.p, f))
                                 for f in ("row", "col", "word", "lane")})
                if not ctx.get(eng.busy):
                    break
                await ctx.tick()
                cycles += 1
                assert cycles < 200_000, "sweep does not end"
            results.append((hits, cycles))

    run_amaranth(eng, bench, name="sweep")
    return results


def check(eng, jobs, tables, results):
    for n, ((key, layer), (hits, _)) in enumerate(zip(jobs, results)):
        want = expected_hits(key, layer, eng, tables[layer])
        for i, (e, g) in enumerate(zip(want, hits)):
            for f in e:
                expect_equal(f"sweep {n} (layer {layer}, key {key:#x})", i, f, e[f], g[f])
        expect_equal(f"sweep {n} (layer {layer})", "count", "hits", len(want), len(hits))


# fan-ins: 1, below 64, exactly 64, not a multiple of 64, several skips
FAN_INS = (1, 5, 64, 100, 203)
ROWS = (7, 5, 3, 4, 3)


SEARCHES = ("pipelined", "sequential")
# (search, key_ahead): the defaults (ahead with the pipelined search, at the row's end with the
# sequential one) and the other two
VARIANTS = [("pipelined", None), ("sequential", None), ("pipelined", False), ("sequential", True)]


@pytest.mark.parametrize("search", SEARCHES)
@pytest.mark.parametrize("lanes", [1, 4, 3])
def test_init_tables(lanes, search):
    """Power-on tables of several kinds, lane counts incl. a non-power of two, every layer."""
    rng = random.Random(lanes)
    kinds = [(0.5, 0.0, 1), "zero", (0.5, 0.3, 64), "sorted", "full"]
    tables = [random_table(rng, B, k) for k in kinds]
    eng = SweepEngine(FAN_INS, ROWS, B, lanes=lanes, init_tables=tables, search=search)
    jobs = [(rng.getrandbits(32), l) for l in range(len(FAN_INS))] * 2
    results = run_sweeps(eng, jobs)
    check(eng, jobs, tables, results)
    assert not any(results[1][0]), "an all-zero table reinforces nothing"
    # a full table (every entry 2^b - 1) reinforces every weight except after the rare draw
    # u = 2^b - 1, which skips 64 (check() above compares the exact set with the reference)
    assert len(results[4][0]) >= 0.8 * FAN_INS[4] * ROWS[4], "a full table reinforces ~all"


@pytest.mark.parametrize("search,key_ahead", VARIANTS)
def test_host_tables_many_keys_backpressure(search, key_ahead):
    """Host tables written through tw (init tables differ), large and small p, random
    backpressure on the hits, many keys back to back."""
    rng = random.Random(7)
    init = [random_table(rng, 16, "zero")] * 3
    fan_ins, rows = (65, 130, 17), (6, 4, 9)
    tables = [random_table(rng, 16, (0.5, 0.0, 3)),       # large p (~0.23)
              random_table(rng, 16, (0.5, 0.85, 130)),    # small p
              random_table(rng, 16, "sorted")]
    # (the sequential case with the key held by the caller, as in the trainer core: the
    # bench keeps start.p.key until the next sweep)
    eng = SweepEngine(fan_ins, rows, 16, lanes=8, word_bases=(1000, 0, 600), init_tables=init,
                      search=search, key_held=search == "sequential", key_ahead=key_ahead)
    jobs = [(rng.getrandbits(32), rng.randrange(3)) for _ in range(24)]
    results = run_sweeps(eng, jobs, host_tables=tables, p_ready=0.6, seed=3)
    check(eng, jobs, tables, results)
    assert sum(len(h) for h, _ in results) > 200


@pytest.mark.parametrize("search", SEARCHES)
def test_single_layer_random_tables(search):
    rng = random.Random(11)
    for trial in range(3):
        f = rng.choice([1, 2, 63, 64, 127, 128, 129])
        b = rng.choice([8, 13, 16])
        table = random_table(rng, b, rng.choice(["sorted", "sorted", (2.0, 0.0, f)]))
        eng = SweepEngine([f], [5], b, lanes=rng.choice([1, 2, 8]), init_tables=[table],
                          search=search)
        jobs = [(rng.getrandbits(32), 0) for _ in range(4)]
        check(eng, jobs, [table], run_sweeps(eng, jobs, seed=trial))


@pytest.mark.parametrize("search,key_ahead", VARIANTS)
def test_one_draw_per_cycle(search, key_ahead):
    """Steady state: a row costs its draws plus a fixed overhead (the row key and the draws
    in flight when the row ends); the skips of a large row arrive one per cycle. The
    sequential search adds LEVELS + 1 cycles per draw that is not a skip (at most); a row
    key hashed when the row ends (not ahead) adds the hash's latency and 2 per row."""
    f, n = 1000, 4
    eng = SweepEngine([f], [n], 16, lanes=4, init_tables=[prng.reinforce_table(0.5, 0.0, f, 16)],
                      search=search, key_ahead=key_ahead)
    key = 0x12345678
    (hits, cycles), = run_sweeps(eng, [(key, 0)])
    draws = searched = 0
    table = eng.init_tables[0]
    for j in range(n):           # the draws the walk consumes (sweep_row's loop, counted)
        r = prng.hash32(key ^ j)
        pos = t = 0
        while pos < f:
            u = prng.hash32(r ^ t) >> 16
            t += 1
            searched += u < table[-1]
            pos += prng.SWEEP_SKIP if u >= table[-1] else next(
                m for m in range(64) if u < table[m]) + 1
        draws += t
    if search == "sequential":
        draws += (LEVELS + 1) * searched
    # per row: the next row key's slot, the draws in flight when the row ends and one cycle
    # to turn round; per sweep: the first row key and the drain of the last row
    per_row = eng.latency + 2 + (0 if eng.key_ahead else eng.hash_depth + 2)
    assert cycles <= draws + n * per_row + 2 * eng.latency + 4, (cycles, draws)
    assert cycles >= draws
