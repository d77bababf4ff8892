"""The counter-based PRNG of spec §3 in gateware: a pipelined ``hash32`` and ``stream_key``.

``hash32`` is six add/xor/shift steps on 32 bits (:data:`HASH32_STEPS`). :class:`Hash32`
registers after every ``steps_per_stage`` steps and accepts one value per cycle, so a
reinforcement sweep gets one draw ``hash32(key ^ idx)`` per cycle. Steps 1, 3 and 5,
``(a + C) + (a << s)``, are ``a · (2^s + 1) + C mod 2^32``: on a device with multipliers (the
iCE40 UP5K's SB_MAC16) :class:`Hash32` computes them as two 16-bit multiplies by that small
constant (``multiply``), which takes ~200 LUTs and ~50 carries off the fabric, and the
pipeline registers around them into the SB_MAC16s (160 flip-flops, 96 of them a logic cell of
their own otherwise).
:class:`StreamKey` computes ``stream_key(seed, layer, stream, n)`` once per sweep by passing
three values through one :class:`Hash32`.
"""

import types

from amaranth import Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["Hash32", "StreamKey", "HASH32_STEPS", "hash32_steps", "key_request_layout",
           "lent_hash_ports", "hash_ports", "has_multipliers"]

#: The six steps of ``hash32`` (spec §3; ``xnorlearn.sw.prng.hash32``), in order, as
#: ``(form, constant, shift)`` on 32 bits:
#: ``"add+shl"`` ``(a + C) + (a << s)``, ``"xor^shr"`` ``(a ^ C) ^ (a >> s)``,
#: ``"add^shl"`` ``(a + C) ^ (a << s)``. The one place the hash's shape lives in gateware.
HASH32_STEPS = (
    ("add+shl", 0x7ED55D16, 12),
    ("xor^shr", 0xC761C23C, 19),
    ("add+shl", 0x165667B1, 5),
    ("add^shl", 0xD3A2646C, 9),
    ("add+shl", 0xFD7046C5, 3),
    ("xor^shr", 0xB55A4F09, 16),
)


def _trunc(v):
    return v[:32]


def _step(form, c, s, multiply):
    if form == "add+shl" and multiply:
        # a·(2^s + 1) + C mod 2^32 from 16-bit halves: the low half's whole product (plus C)
        # and the low 16 bits of the high half's, each a multiply a DSP block takes
        mul = (1 << s) + 1

        def step(a):
            lo = a[:16] * mul + c
            hi = (a[16:32] * mul)[:16]
            return _trunc(lo + (hi << 16))
        return step
    if form == "add+shl":
        return lambda a: _trunc(_trunc(a + c) + _trunc(a << s))
    if form == "xor^shr":
        return lambda a: (a ^ c) ^ (a >> s)
    if form == "add^shl":
        return lambda a: _trunc(a + c) ^ _trunc(a << s)
    raise ValueError(f"unknown hash32 step form {form!r}")


def hash32_steps(multiply=False):
    """The six steps of ``hash32`` as functions on 32-bit Amaranth values (spec §3 order),
    from :data:`HASH32_STEPS`. ``multiply``: steps ``(a + C) + (a << s)`` as
    ``a · (2^s + 1) + C`` (the same values; for devices with multiplier blocks)."""
    return [_step(form, c, s, multiply) for form, c, s in HASH32_STEPS]


def has_multipliers(platform):
    """The platform's device has multiplier blocks that Yosys maps ``*`` onto and that the
    design otherwise leaves idle: the iCE40 UP5K/UP3K (eight SB_MAC16; the other iCE40
    parts have none). ECP5 keeps the adders (its carry chains are cheap; no gain measured)."""
    device = str(getattr(platform, "device", "") or "")
    return device.startswith("iCE40UP")


class Hash32(wiring.Component):
    """Pipelined ``hash32``: one input per cycle, results in order.

    Parameters
    ----------
    steps_per_stage : int
        Hash steps between pipeline registers (1, 2, 3 or 6). The output is always registered,
        so the latency is ``6 / steps_per_stage`` cycles.
    multiply : bool or None
        Steps 1, 3 and 5 as multiplies by ``2^s + 1`` (six 16-bit multiplies: six SB_MAC16 on
        the iCE40 UP5K, ~200 LUTs fewer) instead of adders. ``None`` (default): where the
        platform's device has multiplier blocks (:func:`has_multipliers`). Same values
        either way.

    Attributes
    ----------
    i : In(stream.Signature(32))
        Values to hash (for a draw: ``key ^ index``).
    o : Out(stream.Signature(32))
        ``hash32`` of each input, in order.
    """

    def __init__(self, steps_per_stage=1, multiply=None):
        if steps_per_stage not in (1, 2, 3, 6):
            raise ValueError("steps_per_stage must be 1, 2, 3 or 6")
        self.steps_per_stage = steps_per_stage
        self.multiply = multiply
        super().__init__({"i": In(stream.Signature(32)), "o": Out(stream.Signature(32))})

    @property
    def latency(self):
        return 6 // self.steps_per_stage

    def elaborate(self, platform):
        m = Module()
        en = Signal()
        m.d.comb += [en.eq(~self.o.valid | self.o.ready), self.i.ready.eq(en)]
        value, valid = self.i.payload, self.i.valid
        multiply = has_multipliers(platform) if self.multiply is None else self.multiply
        for n, step in enumerate(hash32_steps(multiply), start=1):
            value = step(value)
            if n % self.steps_per_stage == 0:
                last = n == 6
                # (no reset: a value matters only while its valid bit is set; without one,
                # Yosys can pack the registers around a multiply into the SB_MAC16)
                reg = self.o.payload if last else Signal(32, name=f"step{n}", reset_less=True)
                vreg = self.o.valid if last else Signal(name=f"step{n}_valid")
                with m.If(en):
                    m.d.sync += [reg.eq(value), vreg.eq(valid)]
                value, valid = reg, vreg
        return m


def key_request_layout():
    return data.StructLayout({"seed": 32, "layer": 16, "stream": 16, "n": 32})


def lent_hash_ports():
    """The ports of a component that borrows a :class:`Hash32` (``external_hash=True``):
    ``hash_i`` to the hash's input, ``hash_o`` from its output."""
    return {"hash_i": Out(stream.Signature(32)), "hash_o": In(stream.Signature(32))}


def hash_ports(m, component, own):
    """``(i, o)``: the hash streams ``component`` uses — its lent ``hash_i``/``hash_o``, or
    those of ``own`` (its own :class:`Hash32`, added to ``m`` as ``hash``) when not None."""
    if own is None:
        return component.hash_i, component.hash_o
    m.submodules.hash = own
    return own.i, own.o


class StreamKey(wiring.Component):
    """``stream_key(seed, layer, stream, n) = hash32(hash32(hash32(seed) ^ (stream << 16 | layer)) ^ n)``.

    Parameters
    ----------
    steps_per_stage : int
        Pipelining of the inner :class:`Hash32`.
    external_hash : bool
        Use a :class:`Hash32` outside this block (through ``hash_i``/``hash_o``) instead of
        an own one: the trainer core lends its draw hash, which is idle while a key is made
        (saves a whole hash pipeline, ~330 logic cells on the iCE40).

    Attributes
    ----------
    req : In(stream.Signature(key_request_layout()))
        ``seed``, ``layer``, ``stream`` (0 init, 1 classifier, 2 reinforce) and ``n``.
    key : Out(stream.Signature(32))
        The key, one per request.
    hash_i : Out(stream.Signature(32)), hash_o : In(stream.Signature(32))
        Only with ``external_hash``: to and from the lent hash (connect them to its ``i``
        and ``o`` while the key is being made; outputs that arrive while this block is idle
        are ignored).
    held : bool
        The caller holds ``req.payload`` from the request until the key has been taken, so it
        is not copied into a register here (saves 96 flip-flops, each a logic cell of its own
        on the iCE40: the trainer's request comes from registers that do not change).

    Notes
    -----
    Sequential: the three hashes go through one :class:`Hash32` one after the other, so a key
    takes ``3 · (latency + 1) + 1`` cycles; it is needed once per sweep, so area wins over speed.
    """

    def __init__(self, steps_per_stage=1, external_hash=False, held=False):
        self.steps_per_stage = steps_per_stage
        self.external_hash = external_hash
        self.held = held
        ports = {"req": In(stream.Signature(key_request_layout())),
                 "key": Out(stream.Signature(32))}
        if external_hash:
            ports.update(lent_hash_ports())
        super().__init__(ports)

    def elaborate(self, platform):
        m = Module()
        i, o = hash_ports(m, self, None if self.external_hash else Hash32(self.steps_per_stage))
        h = types.SimpleNamespace(i=i, o=o)
        req = self.req.payload if self.held else Signal(key_request_layout())
        prev = Signal(32)
        step = Signal(range(3))
        m.d.comb += [
            h.i.payload.eq(Mux(step == 0, req.seed,
                               Mux(step == 1, prev ^ ((req.stream << 16) | req.layer),
                                   prev ^ req.n))),
            self.key.payload.eq(prev),
        ]
        with m.FSM():
            with m.State("IDLE"):
                m.d.comb += self.req.ready.eq(1)
                with m.If(self.req.valid):
                    m.d.sync += step.eq(0)
                    if not self.held:
                        m.d.sync += req.eq(self.req.payload)
                    m.next = "FEED"
            with m.State("FEED"):
                m.d.comb += h.i.valid.eq(1)
                with m.If(h.i.ready):
                    m.next = "WAIT"
            with m.State("WAIT"):
                m.d.comb += h.o.ready.eq(1)
                with m.If(h.o.valid):
                    m.d.sync += prev.eq(h.o.payload)
                    with m.If(step == 2):
                        m.next = "DONE"
                    with m.Else():
                        m.d.sync += step.eq(step + 1)
                        m.next = "FEED"
            with m.State("DONE"):
                m.d.comb += self.key.valid.eq(1)
                with m.If(self.key.ready):
                    m.next = "IDLE"
        return m
