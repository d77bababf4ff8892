"""Random and directed test vectors for the gateware blocks, with their golden results.

Every expected value comes from ``xnorlearn.sw.reference`` (the slow reference of the hw
variant) or ``xnorlearn.sw.prng``; the same generators feed the Amaranth-simulator tests and the
cocotb benches on the generated Verilog, so both check the same thing.
"""

from __future__ import annotations

import numpy as np

from xnorlearn.sw import prng, reference

from .harness import pack


# ---------------------------------------------------------------------------- popcount
def popcount_vectors(rng, count, max_inputs, lanes):
    """``count`` (n, a_bits, w_bits, h) tuples: random N in 1..max_inputs plus edge cases
    (N = 1, N = max, N = P, N = P ± 1, all-equal and all-different bits)."""
    out = []
    specials = sorted({1, max_inputs, min(lanes, max_inputs), max(1, min(lanes - 1, max_inputs)),
                       min(lanes + 1, max_inputs)})
    for i in range(count):
        if i < 4 * len(specials):
            n = specials[i % len(specials)]
            kind = i // len(specials)            # 0 random, 1 all match, 2 all differ, 3 random
        else:
            n, kind = rng.randint(1, max_inputs), 0
        a = [rng.getrandbits(1) for _ in range(n)]
        if kind == 1:
            w = list(a)
        elif kind == 2:
            w = [1 - x for x in a]
        else:
            w = [rng.getrandbits(1) for _ in range(n)]
        h = int(reference.preactivations(np.array(a), np.array([w]))[0])
        out.append((n, a, w, h))
    return out


def popcount_beats(layout, lanes, a, w, junk_rng):
    """Beats (packed ints) of one vector; lanes beyond N carry random junk (must be masked)."""
    beats = []
    for b0 in range(0, len(a), lanes):
        aa = sum((a[b0 + j] if b0 + j < len(a) else junk_rng.getrandbits(1)) << j
                 for j in range(lanes))
        ww = sum((w[b0 + j] if b0 + j < len(w) else junk_rng.getrandbits(1)) << j
                 for j in range(lanes))
        beats.append(pack(layout, {"a": aa, "w": ww}))
    return beats


# ---------------------------------------------------------------------------- counter bank
def bank_commands(rng, count, lanes, bits, depth):
    """Host writes of every word (values biased to cmin/cmax), then ``count`` random commands
    concentrated on a few hot addresses (back-to-back RMW of one word, saturation at both
    ends), then a READ of every word. Returns a list of command dicts."""
    cmin, cmax = -(1 << (bits - 1)), (1 << (bits - 1)) - 1

    def value():
        r = rng.random()
        return cmin if r < 0.2 else cmax if r < 0.4 else rng.randint(cmin, cmax)

    hot = [rng.randrange(depth) for _ in range(3)]
    cmds = [{"op": 2, "addr": a, "lanes": [0] * lanes, "data": [value() for _ in range(lanes)]}
            for a in range(depth)]
    op_bias = rng.choice([[1, 1, 1, 2, 3], [2, 2, 2, 3], [1, 1, 1, 3], [0, 1, 2, 3]])
    for _ in range(count):
        r = rng.random()
        addr = rng.choice(hot) if rng.random() < 0.6 else rng.randrange(depth)
        if rng.random() < 0.02:
            op_bias = rng.choice([[1, 1, 1, 2, 3], [2, 2, 2, 3], [1, 1, 1, 3], [0, 1, 2, 3]])
        if r < 0.55:
            cmds.append({"op": 1, "addr": addr, "lanes": [rng.choice(op_bias) for _ in range(lanes)],
                         "data": [0] * lanes})
        elif r < 0.9:
            cmds.append({"op": 0, "addr": addr, "lanes": [0] * lanes, "data": [0] * lanes})
        else:
            cmds.append({"op": 2, "addr": addr, "lanes": [0] * lanes,
                         "data": [value() for _ in range(lanes)]})
    cmds += [{"op": 0, "addr": a, "lanes": [0] * lanes, "data": [0] * lanes}
             for a in range(depth)]
    return cmds


def bank_expected(cmds, lanes, bits, depth):
    """Expected READ responses of :class:`~xnorlearn.hw.counters.CounterBank` (dicts with
    ``counters`` and ``weights``); lane operations use ``reference.saturate``."""
    cmin, cmax = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    mem = [[0] * lanes for _ in range(depth)]
    out = []
    for c in cmds:
        word = mem[c["addr"]]
        if c["op"] == 0:
            out.append({"counters": list(word),
                        "weights": sum(int(v >= 0) << i for i, v in enumerate(word))})
        elif c["op"] == 1:
            new = []
            for v, op in zip(word, c["lanes"]):
                step = {0: 0, 1: 1, 2: -1, 3: 1 if v >= 0 else -1}[op]
                new.append(reference.saturate(v + step, cmin, cmax))
            mem[c["addr"]] = new
        else:
            mem[c["addr"]] = list(c["data"])
    return out


# ---------------------------------------------------------------------------- PRNG
def hash_vectors(rng, count):
    """(input, hash32(input)) pairs: edge values, then draws ``key ^ index`` of a real sweep
    (consecutive indices), then uniform random words."""
    xs = [0, 1, 0xFFFF_FFFF, 0x8000_0000, 0x7FFF_FFFF, 0x0000_FFFF, 0xFFFF_0000]
    key = prng.stream_key(rng.getrandbits(32), 1, prng.STREAM_REINFORCE, rng.getrandbits(32))
    xs += [key ^ i for i in range(min(1000, count // 4))]
    while len(xs) < count:
        xs.append(rng.getrandbits(32))
    return [(x, prng.hash32(x)) for x in xs[:count]]


def stream_key_vectors(rng, count):
    """(request dict, stream_key) pairs; edge and random seeds, layers, streams, n."""
    out = []
    for i in range(count):
        if i < 4:
            req = {"seed": [0, 0xFFFF_FFFF, 42, 1][i], "layer": [0, 0xFFFF, 1, 2][i],
                   "stream": [0, 2, 1, 0xFFFF][i], "n": [0, 0xFFFF_FFFF, 7, 0][i]}
        else:
            req = {"seed": rng.getrandbits(32), "layer": rng.randrange(8) if i % 2 else
                   rng.getrandbits(16), "stream": rng.randrange(3) if i % 3 else
                   rng.getrandbits(16), "n": rng.getrandbits(32) if i % 2 else rng.randrange(100)}
        out.append((req, prng.stream_key(req["seed"], req["layer"], req["stream"], req["n"])))
    return out


# ---------------------------------------------------------------------------- group selector
def selector_samples(rng, count, n_neurons, group_size, fan_in):
    """``count`` samples (h list, tau list, expected per-group choices). Kinds: random h,
    small |h| with many ties, all h = 0 (nothing wrong), all correct, all wrong."""
    out = []
    for i in range(count):
        kind = i % 6
        if kind == 0:
            h = [rng.randint(-fan_in, fan_in) for _ in range(n_neurons)]
        elif kind in (1, 2):
            h = [rng.randint(-2, 2) for _ in range(n_neurons)]     # ties in |h|, zeros
        elif kind == 3:
            h = [0] * n_neurons
        else:
            h = [rng.choice([-fan_in, fan_in, rng.randint(-fan_in, fan_in)])
                 for _ in range(n_neurons)]
        tau = [rng.getrandbits(1) for _ in range(n_neurons)]
        if kind == 4:       # every neuron correct: no group chooses
            tau = [int(v > 0) if v else rng.getrandbits(1) for v in h]
        elif kind == 5:     # every nonzero neuron wrong
            tau = [int(v < 0) if v else rng.getrandbits(1) for v in h]
        chosen = set(reference.select_in_groups(np.array(h), np.array(tau), group_size))
        groups = []
        for g in range(n_neurons // group_size):
            members = [j for j in range(g * group_size, (g + 1) * group_size) if j in chosen]
            groups.append({"group": g, "found": int(bool(members)),
                           "index": members[0] if members else None,
                           "tau": tau[members[0]] if members else None})
        out.append((h, tau, groups))
    return out


# ---------------------------------------------------------------------------- decision unit
def decision_samples(rng, count, n_neurons, n_classes, margin_threshold):
    """``count`` samples (a bits, R rows (N x C bits), label, expected dict). Includes
    classifiers with identical columns (all scores equal), near ties and random ones."""
    out = []
    for i in range(count):
        kind = i % 5
        a = [rng.getrandbits(1) for _ in range(n_neurons)]
        if kind == 0:           # all-equal scores
            col = [rng.getrandbits(1) for _ in range(n_neurons)]
            r = [[col[j]] * n_classes for j in range(n_neurons)]
        elif kind == 1:         # two classes share the maximum, possibly not class 0
            r = [[rng.getrandbits(1) for _ in range(n_classes)] for _ in range(n_neurons)]
            q1, q2 = rng.sample(range(n_classes), 2)
            for j in range(n_neurons):
                r[j][q2] = r[j][q1] = a[j] if rng.random() < 0.8 else r[j][q1]
        elif kind == 2:         # extreme scores +N / -N
            r = [[a[j] if q % 2 else 1 - a[j] for q in range(n_classes)]
                 for j in range(n_neurons)]
        else:
            r = [[rng.getrandbits(1) for _ in range(n_classes)] for _ in range(n_neurons)]
        y = rng.randrange(n_classes)
        s = reference.scores(np.array(a), np.array(r))
        pred, margin = reference.decision(s)
        learn = reference.layer_learns(s, y, margin_threshold)
        out.append((a, r, y, {"pred": pred, "margin": margin, "learn": int(learn)}))
    return out


async def drive_decision_samples(io, samples, n_neurons, n_classes, margin_threshold, rng,
                                 p_valid=1.0, p_ready=1.0):
    """Feed decision samples one by one through :func:`~.harness.exchange` (the label is a
    static port, set per sample) and return the unpacked decisions."""
    from xnorlearn.hw.decision import activation_layout, decision_layout
    from .harness import exchange, unpack
    layout = activation_layout(n_classes)
    got = []
    for a, r, y, _ in samples:
        beats = [pack(layout, {"a": a[j], "r": sum(b << q for q, b in enumerate(r[j]))})
                 for j in range(len(a))]
        res, _ = await exchange(io, {"i": beats}, {"o": 1}, rng=rng, p_valid=p_valid,
                                p_ready=p_ready,
                                statics={"label": y, "margin_threshold": margin_threshold},
                                max_cycles=20 * (len(a) + n_classes) + 50)
        got.append(unpack(decision_layout(n_neurons, n_classes), res["o"][0]))
    return got


__all__ = ["drive_decision_samples", "popcount_vectors", "popcount_beats", "bank_commands", "bank_expected",
           "hash_vectors", "stream_key_vectors", "selector_samples", "decision_samples"]
