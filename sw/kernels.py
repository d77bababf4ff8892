"""Numba kernels of the golden model (both variants).

Every layer's arrays live in flat buffers with per-layer offsets, so one kernel call runs a whole
epoch (or one sample) through any number of layers without Python in the loop:

* ``dims[l] = (F, N, WF, WN, group, margin)`` — fan-in, width, words of a fan-in vector, words of
  an output vector (64 bits per ``uint64`` word), group size, ``floor(r * N)``.
* ``off[l] = (counters/hidden, weight words, classifier, activation bits, activation words)``
  offsets into the flat arrays.

Bit vectors are little-endian ``uint64`` words (bit ``i`` is bit ``i % 64`` of word ``i // 64``)
with zero padding. ``docs/hw-spec.md`` is the specification of the hw kernels; the paper kernels
follow ``ALGORITHM.md`` (mini-batch updates, unbounded hidden weights, ternary activations).
"""

import math

import numba
import numpy as np
from numba import types
from numba.extending import intrinsic

from .prng import STREAM_REINFORCE, SWEEP_SKIP, hash32_nb

U64 = np.uint64
ONE = np.uint64(1)


@intrinsic
def popcount64(typingctx, x):
    """LLVM ``ctpop`` on a uint64 (one POPCNT instruction)."""
    sig = types.uint64(types.uint64)

    def codegen(context, builder, signature, args):
        return builder.ctpop(args[0])

    return sig, codegen


# ---------------------------------------------------------------------------- shared helpers
@numba.njit(cache=True, inline="always")
def _pack_bits(bits, b0, n, words, w0, nw):
    """Pack ``bits[b0:b0+n]`` (uint8 0/1) into ``words[w0:w0+nw]``."""
    for w in range(nw):
        acc = U64(0)
        lo = w * 64
        hi = min(lo + 64, n)
        for i in range(lo, hi):
            if bits[b0 + i]:
                acc |= ONE << U64(i - lo)
        words[w0 + w] = acc


@numba.njit(cache=True, inline="always")
def _decide(s, ncls):
    """(argmax lowest index on ties, top1 - top2)."""
    best = 0
    for q in range(1, ncls):
        if s[q] > s[best]:
            best = q
    second = -(1 << 62)
    for q in range(ncls):
        if q != best and s[q] > second:
            second = s[q]
    return best, s[best] - second


# ---------------------------------------------------------------------------- hw variant
@numba.njit(cache=True)
def hw_forward(xw, xb, dims, off, wbits, rcls, h, abits, awords, scores):
    """Forward pass of one sample through every layer (spec §5).

    ``xw``/``xb``: the sample's packed words / bits. Fills ``h`` (pre-activations),
    ``abits``/``awords`` (layer outputs) and ``scores`` (L x C). Returns the network prediction.
    """
    nl = dims.shape[0]
    ncls = scores.shape[1]
    pred = 0
    for l in range(nl):
        F, N, WF, WN = dims[l, 0], dims[l, 1], dims[l, 2], dims[l, 3]
        ow, orc, oa, oaw = off[l, 1], off[l, 2], off[l, 3], off[l, 4]
        pad = WF * 64 - F
        for j in range(N):
            acc = 0
            base = ow + j * WF
            if l == 0:
                for w in range(WF):
                    acc += np.int64(popcount64(~(xw[w] ^ wbits[base + w])))
            else:
                pa = off[l - 1, 4]
                for w in range(WF):
                    acc += np.int64(popcount64(~(awords[pa + w] ^ wbits[base + w])))
            hj = 2 * (acc - pad) - F      # padding bits are 0 on both sides: XNOR counts them
            h[oa + j] = hj
            abits[oa + j] = 1 if hj >= 0 else 0
        _pack_bits(abits, oa, N, awords, oaw, WN)
        for q in range(ncls):
            scores[l, q] = 0
        for j in range(N):
            sgn = 1 if abits[oa + j] else -1
            rb = orc + j * ncls
            for q in range(ncls):
                scores[l, q] += sgn * rcls[rb + q]
        if l == nl - 1:
            pred, _ = _decide(scores[l], ncls)
    return pred


@numba.njit(cache=True)
def _hw_row_signs(cnt, oc, wbits, ow, F, WF, j):
    cb = oc + j * F
    for w in range(WF):
        acc = U64(0)
        lo = w * 64
        hi = min(lo + 64, F)
        for i in range(lo, hi):
            if cnt[cb + i] >= 0:
                acc |= ONE << U64(i - lo)
        wbits[ow + j * WF + w] = acc


@numba.njit(cache=True)
def hw_learn(xb, y, dims, off, cnt, wbits, rcls, h, abits, scores, cmin, cmax, updated, chosen):
    """Local errors, group selection and online counter updates of one sample (spec §6).
    ``chosen[l, g]`` receives the chosen neuron of group ``g`` or -1."""
    nl = dims.shape[0]
    ncls = scores.shape[1]
    for l in range(nl):
        F, N, WF = dims[l, 0], dims[l, 1], dims[l, 2]
        gs, margin_min = dims[l, 4], dims[l, 5]
        oc, ow, orc, oa = off[l, 0], off[l, 1], off[l, 2], off[l, 3]
        for g in range(chosen.shape[1]):
            chosen[l, g] = -1
        pred, margin = _decide(scores[l], ncls)
        if pred == y and margin >= margin_min:
            continue
        for g in range(N // gs):
            best = -1
            besth = 0
            for j in range(g * gs, (g + 1) * gs):
                hj = h[oa + j]
                tau = rcls[orc + j * ncls + y]
                if (tau > 0 and hj < 0) or (tau < 0 and hj > 0):
                    ah = abs(hj)
                    if best < 0 or ah < besth:
                        best = j
                        besth = ah
            chosen[l, g] = best
            if best < 0:
                continue
            updated[l] = 1
            tau_bit = 1 if rcls[orc + best * ncls + y] > 0 else 0
            cb = oc + best * F
            for i in range(F):
                if l == 0:
                    xi = xb[i]
                else:
                    xi = abits[off[l - 1, 3] + i]
                c = cnt[cb + i]
                if xi == tau_bit:
                    if c < cmax:
                        cnt[cb + i] = c + 1
                elif c > cmin:
                    cnt[cb + i] = c - 1
            _hw_row_signs(cnt, oc, wbits, ow, F, WF, best)


@numba.njit(cache=True, inline="always")
def _reinforce(cnt, at, cmin, cmax):
    """``H <- H + 2 sgn(H)`` saturating: the counter moves one step away from zero."""
    c = cnt[at]
    if c >= 0:
        if c < cmax:
            cnt[at] = c + 1
    elif c > cmin:
        cnt[at] = c - 1


@numba.njit(cache=True)
def hw_sweep(cnt, oc, F, N, key, table, prob_bits, cmin, cmax):
    """Sparse reinforcement sweep of one layer (spec v2 §7), row by row: row key
    ``R = hash32(key ^ j)``, draws ``u_t = hash32(R ^ t) >> (32 - b)``; ``u_t >= C[63]`` skips
    ``SWEEP_SKIP`` weights, else the weight ``m = min{m : u_t < C[m]}`` positions ahead is
    reinforced (if inside the row) and the walk continues after it. ``table`` is the layer's
    64-entry nondecreasing ``C``. Signs never change, so weight words stay."""
    shift = U64(32 - prob_bits)
    last = table[SWEEP_SKIP - 1]
    k = U64(key)
    for j in range(N):
        r = hash32_nb(k ^ U64(j))
        row = oc + j * F
        pos = 0
        t = 0
        while pos < F:
            u = np.int64(hash32_nb(r ^ U64(t)) >> shift)
            t += 1
            if u >= last:
                pos += SWEEP_SKIP
                continue
            m = 0
            while u >= table[m]:
                m += 1
            pos += m
            if pos < F:
                _reinforce(cnt, row + pos, cmin, cmax)
            pos += 1


@numba.njit(cache=True)
def hw_sweep_dense(cnt, oc, F, N, key, threshold, prob_bits, cmin, cmax):
    """Spec v1 dense sweep of one layer, kept only to compare accuracy with v2: one draw per
    weight, reinforced iff ``draw(key, idx) >> (32 - b) < threshold``."""
    shift = U64(32 - prob_bits)
    t = U64(threshold)
    k = U64(key)
    for idx in range(F * N):
        u = hash32_nb(k ^ U64(idx)) >> shift
        if u < t:
            _reinforce(cnt, oc + idx, cmin, cmax)


@numba.njit(cache=True)
def stream_key_nb(seed, layer, stream, n):
    k = hash32_nb(U64(seed))
    k = hash32_nb(k ^ U64((stream << 16) | layer))
    return hash32_nb(k ^ U64(n))


@numba.njit(cache=True)
def hw_train(X, XB, Y, order, dims, off, cnt, wbits, rcls, h, abits, awords, scores,
             cmin, cmax, updated, chosen, tables, dense, ctrl, batch, seed, prob_bits, preds):
    """Train on ``order`` (indices into X/XB/Y), online, with sweeps at batch boundaries.

    ``tables[l]`` is layer ``l``'s skip table (sparse sweep, the spec); with ``dense`` set the
    v1 dense sweep runs instead, with ``tables[l, 0]`` as its threshold.

    ``ctrl = [batch_number, samples_since_boundary]`` is updated in place. ``preds`` receives the
    pre-update predictions. Returns the number of correct predictions.
    """
    nl = dims.shape[0]
    correct = 0
    for t in range(order.shape[0]):
        s = order[t]
        pred = hw_forward(X[s], XB[s], dims, off, wbits, rcls, h, abits, awords, scores)
        preds[t] = pred
        if pred == Y[s]:
            correct += 1
        hw_learn(XB[s], Y[s], dims, off, cnt, wbits, rcls, h, abits, scores, cmin, cmax,
                 updated, chosen)
        ctrl[1] += 1
        if ctrl[1] == batch:
            hw_boundary(dims, off, cnt, updated, tables, dense, ctrl, seed, prob_bits, cmin, cmax)
    return correct


@numba.njit(cache=True)
def hw_boundary(dims, off, cnt, updated, tables, dense, ctrl, seed, prob_bits, cmin, cmax):
    """Batch boundary (spec §7): sweep every layer that updated, advance the batch number."""
    nl = dims.shape[0]
    for l in range(nl):
        if updated[l]:
            key = stream_key_nb(seed, l, STREAM_REINFORCE, ctrl[0])
            if dense:
                hw_sweep_dense(cnt, off[l, 0], dims[l, 0], dims[l, 1], key, tables[l, 0],
                               prob_bits, cmin, cmax)
            else:
                hw_sweep(cnt, off[l, 0], dims[l, 0], dims[l, 1], key, tables[l], prob_bits,
                         cmin, cmax)
        updated[l] = 0
    ctrl[0] = (ctrl[0] + 1) & 0xFFFFFFFF
    ctrl[1] = 0


@numba.njit(cache=True)
def hw_infer(X, XB, dims, off, wbits, rcls, h, abits, awords, scores, preds):
    for s in range(X.shape[0]):
        preds[s] = hw_forward(X[s], XB[s], dims, off, wbits, rcls, h, abits, awords, scores)


# ---------------------------------------------------------------------------- paper variant
@numba.njit(cache=True)
def paper_forward(xw, dims, off, wpos, wnz, rcls, h, aval, apos, anz, scores, first_nz):
    """Ternary forward pass: ``h = a . sgn(H)``, ``a = sgn(h)`` (0 at h = 0).

    For every layer: ``h = 2 * pop(nzA & nzW & ~(posA ^ posW)) - pop(nzA & nzW)``.
    ``first_nz`` holds the all-ones (valid bits) mask of the ±1 input vector.
    """
    nl = dims.shape[0]
    ncls = scores.shape[1]
    pred = 0
    for l in range(nl):
        F, N, WF, WN = dims[l, 0], dims[l, 1], dims[l, 2], dims[l, 3]
        ow, orc, oa, oaw = off[l, 1], off[l, 2], off[l, 3], off[l, 4]
        for j in range(N):
            agree = 0
            nz = 0
            base = ow + j * WF
            for w in range(WF):
                if l == 0:
                    ap = xw[w]
                    an = first_nz[w]
                else:
                    pa = off[l - 1, 4]
                    ap = apos[pa + w]
                    an = anz[pa + w]
                both = an & wnz[base + w]
                agree += np.int64(popcount64(both & ~(ap ^ wpos[base + w])))
                nz += np.int64(popcount64(both))
            hj = 2 * agree - nz
            h[oa + j] = hj
            aval[oa + j] = 1 if hj > 0 else (-1 if hj < 0 else 0)
        for w in range(WN):
            p = U64(0)
            z = U64(0)
            lo = w * 64
            hi = min(lo + 64, N)
            for j in range(lo, hi):
                v = aval[oa + j]
                if v != 0:
                    z |= ONE << U64(j - lo)
                    if v > 0:
                        p |= ONE << U64(j - lo)
            apos[oaw + w] = p
            anz[oaw + w] = z
        for q in range(ncls):
            scores[l, q] = 0
        for j in range(N):
            v = aval[oa + j]
            if v != 0:
                rb = orc + j * ncls
                for q in range(ncls):
                    scores[l, q] += v * rcls[rb + q]
        if l == nl - 1:
            pred, _ = _decide(scores[l], ncls)
    return pred


@numba.njit(cache=True)
def _paper_row_planes(hid, oc, wpos, wnz, ow, F, WF, j):
    cb = oc + j * F
    for w in range(WF):
        p = U64(0)
        z = U64(0)
        lo = w * 64
        hi = min(lo + 64, F)
        for i in range(lo, hi):
            v = hid[cb + i]
            if v != 0:
                z |= ONE << U64(i - lo)
                if v > 0:
                    p |= ONE << U64(i - lo)
        wpos[ow + j * WF + w] = p
        wnz[ow + j * WF + w] = z


@numba.njit(cache=True, inline="always")
def _splitmix_uniform(rng):
    """Uniform in (0, 1] from a splitmix64 state held in ``rng[0]``."""
    rng[0] += U64(0x9E3779B97F4A7C15)
    z = rng[0]
    z = (z ^ (z >> U64(30))) * U64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> U64(27))) * U64(0x94D049BB133111EB)
    z = z ^ (z >> U64(31))
    return (np.float64(z >> U64(11)) + 1.0) * (1.0 / 9007199254740992.0)


@numba.njit(cache=True)
def paper_train(X, XB, Y, order, dims, off, hid, delta, touched, wpos, wnz, rcls, h, aval,
                apos, anz, scores, updated, probs, ctrl, batch, first_nz, rng, preds):
    """Mini-batch training (paper variant).

    Every sample is forwarded with the weights as they were at the start of its batch; the
    selected updates ``2 * a_i * tau_j`` are summed into ``delta`` and applied at the batch end,
    followed by reinforcement (``H += 2 sgn(H)`` with probability ``probs[l]``) of every layer
    that updated in the batch. ``ctrl = [batch_number, samples_in_batch]``.
    """
    nl = dims.shape[0]
    ncls = scores.shape[1]
    correct = 0
    for t in range(order.shape[0]):
        s = order[t]
        pred = paper_forward(X[s], dims, off, wpos, wnz, rcls, h, aval, apos, anz, scores,
                             first_nz)
        preds[t] = pred
        y = Y[s]
        if pred == y:
            correct += 1
        for l in range(nl):
            F, N = dims[l, 0], dims[l, 1]
            gs, margin_min = dims[l, 4], dims[l, 5]
            oc, orc, oa = off[l, 0], off[l, 2], off[l, 3]
            lpred, margin = _decide(scores[l], ncls)
            if lpred == y and margin >= margin_min:
                continue
            for g in range(N // gs):
                best = -1
                besth = 0
                for j in range(g * gs, (g + 1) * gs):
                    hj = h[oa + j]
                    tau = rcls[orc + j * ncls + y]
                    if hj * tau < 0:
                        ah = abs(hj)
                        if best < 0 or ah < besth:
                            best = j
                            besth = ah
                if best < 0:
                    continue
                updated[l] = 1
                touched[off[l, 3] + best] = 1
                tau2 = 2 * rcls[orc + best * ncls + y]
                cb = oc + best * F
                for i in range(F):
                    if l == 0:
                        xi = 2 * np.int64(XB[s, i]) - 1
                    else:
                        xi = np.int64(aval[off[l - 1, 3] + i])
                    delta[cb + i] += tau2 * xi
        ctrl[1] += 1
        if ctrl[1] == batch:
            paper_apply(dims, off, hid, delta, touched, wpos, wnz, updated, probs, ctrl, rng)
    return correct


@numba.njit(cache=True)
def paper_apply(dims, off, hid, delta, touched, wpos, wnz, updated, probs, ctrl, rng):
    """End of a mini-batch: apply the summed updates, then reinforce the layers that updated."""
    nl = dims.shape[0]
    for l in range(nl):
        F, N, WF = dims[l, 0], dims[l, 1], dims[l, 2]
        oc, ow, oa = off[l, 0], off[l, 1], off[l, 3]
        for j in range(N):
            if touched[oa + j]:
                touched[oa + j] = 0
                cb = oc + j * F
                for i in range(F):
                    hid[cb + i] += delta[cb + i]
                    delta[cb + i] = 0
                _paper_row_planes(hid, oc, wpos, wnz, ow, F, WF, j)
        if updated[l]:
            p = probs[l]
            if p > 0.0:
                # Each weight independently with probability p: jump by geometric gaps.
                n = F * N
                logq = math.log1p(-p) if p < 1.0 else -np.inf
                idx = -1
                while True:
                    if p >= 1.0:
                        idx += 1
                    else:
                        idx += 1 + int(math.floor(math.log(_splitmix_uniform(rng)) / logq))
                    if idx >= n:
                        break
                    v = hid[oc + idx]
                    if v > 0:
                        hid[oc + idx] = v + 2
                    elif v < 0:
                        hid[oc + idx] = v - 2
        updated[l] = 0
    ctrl[0] += 1
    ctrl[1] = 0


@numba.njit(cache=True)
def paper_infer(X, dims, off, wpos, wnz, rcls, h, aval, apos, anz, scores, first_nz, preds):
    for s in range(X.shape[0]):
        preds[s] = paper_forward(X[s], dims, off, wpos, wnz, rcls, h, aval, apos, anz, scores,
                                 first_nz)
