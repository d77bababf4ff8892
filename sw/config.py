"""The one configuration object of xnorlearn.

A :class:`Config` describes a network and its training rule completely: the golden model (both
variants), the gateware elaboration and the board fit check all read the same object, so no
other part of the project restates a width, a group size or a counter width by hand.

It is validated once, in ``__post_init__``; every later consumer may rely on its invariants.
It serialises to and from JSON and TOML (``Config.load`` / ``Config.save``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import pathlib
import tomllib
from dataclasses import dataclass, field

__all__ = ["Config", "ConfigError", "DEFAULT_GROUP_SIZE_BY_WIDTH"]

# Group size gamma the paper used on FashionMNIST for each hidden-layer width K (ALGORITHM.md §6).
DEFAULT_GROUP_SIZE_BY_WIDTH = {35: 35, 75: 75, 135: 45, 255: 85, 525: 105, 1035: 115}


class ConfigError(ValueError):
    """A configuration value is invalid; the message names the field and the rule it breaks."""


def _default_group_sizes(layers):
    return tuple(DEFAULT_GROUP_SIZE_BY_WIDTH.get(w, w) for w in layers)


@dataclass(frozen=True)
class Config:
    """Network, learning rule and hardware parameters.

    Parameters
    ----------
    n_inputs : int
        Input width ``N0`` in bits (after binarisation).
    layers : tuple of int
        Hidden-layer widths ``N1 … NL``.
    n_classes : int
        Number of classes ``C``.
    group_sizes : tuple of int
        Group size gamma per hidden layer; each width must be a multiple of its group size.
        A single int is accepted and applied to every layer. ``None`` picks the paper's value
        for the width (:data:`DEFAULT_GROUP_SIZE_BY_WIDTH`) or the width itself.
    counter_bits : int
        Width ``k`` of the hw variant's saturating hidden-weight counters (2 … 16).
    robustness : float
        ``r``: a layer learns when ``top1 - top2 < floor(r * N_l)`` of its local scores.
    p_reinforce : float
        ``p_r``, the base probability of metaplastic reinforcement.
    batch : int
        Paper variant: mini-batch size. hw variant: reinforcement sweep interval ``B``.
    seed : int
        Seed of every random choice (0 … 2**32 - 1).
    init_std : float
        Standard deviation of the paper variant's initial hidden weights.
    prob_bits : int
        ``b``, fixed-point width of the hw variant's reinforcement draws and skip-table entries
        (8 … 16: the host sends the table entries as u16).
    lanes : int
        Hardware only: XNOR-popcount lanes ``P`` (bits per beat). Never changes results.
    uart_divisor : int
        Hardware only: host-link UART bit period in clock cycles (2 … 65535); the default is
        12 MHz / 115200 baud.
    sweep_lanes : int
        Hardware only: PRNG draws per cycle in reinforcement sweeps and on-chip init (a divisor
        of ``lanes``; each costs one pipelined ``hash32``). Never changes results.
    """

    n_inputs: int = 64
    layers: tuple = (64, 64)
    n_classes: int = 10
    group_sizes: tuple | int | None = None
    counter_bits: int = 8
    robustness: float = 0.25
    p_reinforce: float = 0.5
    batch: int = 100
    seed: int = 42
    init_std: float = 64.0
    prob_bits: int = 16
    lanes: int = 8
    uart_divisor: int = 104
    sweep_lanes: int = 1
    name: str = field(default="xnorlearn", compare=False)

    # ------------------------------------------------------------------ validation
    def __post_init__(self):
        def fail(name, msg):
            raise ConfigError(f"config field '{name}': {msg}")

        def check_int(name, value, lo, hi=None):
            if isinstance(value, bool) or not isinstance(value, int):
                fail(name, f"must be an integer, got {value!r}")
            if value < lo or (hi is not None and value > hi):
                rng = f"{lo} … {hi}" if hi is not None else f">= {lo}"
                fail(name, f"must be in {rng}, got {value}")

        check_int("n_inputs", self.n_inputs, 1, 1 << 20)
        layers = self.layers
        if isinstance(layers, (int, str)) or layers is None:
            fail("layers", f"must be a list of hidden-layer widths, got {layers!r}")
        layers = tuple(layers)
        if not layers:
            fail("layers", "needs at least one hidden layer")
        for i, w in enumerate(layers):
            check_int(f"layers[{i}]", w, 1, 1 << 16)
        object.__setattr__(self, "layers", layers)
        check_int("n_classes", self.n_classes, 2, 256)

        gs = self.group_sizes
        if gs is None:
            gs = _default_group_sizes(layers)
        elif isinstance(gs, int) and not isinstance(gs, bool):
            gs = (gs,) * len(layers)
        else:
            if isinstance(gs, str):
                fail("group_sizes", f"must be an int or a list of ints, got {gs!r}")
            gs = tuple(gs)
            if len(gs) == 1 and len(layers) > 1:
                gs = gs * len(layers)
            if len(gs) != len(layers):
                fail("group_sizes", f"has {len(gs)} entries for {len(layers)} hidden layers")
        for i, (g, w) in enumerate(zip(gs, layers)):
            check_int(f"group_sizes[{i}]", g, 1)
            if w % g:
                fail(f"group_sizes[{i}]",
                     f"layer {i + 1} width {w} is not a multiple of its group size {g}")
        object.__setattr__(self, "group_sizes", gs)

        check_int("counter_bits", self.counter_bits, 2, 16)
        for name in ("robustness", "p_reinforce", "init_std"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                fail(name, f"must be a finite number, got {v!r}")
            object.__setattr__(self, name, float(v))
        if not 0.0 <= self.robustness < 1.0:
            fail("robustness", f"must be in [0, 1), got {self.robustness}")
        if not 0.0 <= self.p_reinforce <= 1.0:
            fail("p_reinforce", f"must be in [0, 1], got {self.p_reinforce}")
        if not self.init_std > 0:
            fail("init_std", f"must be > 0, got {self.init_std}")
        check_int("batch", self.batch, 1, 1 << 24)
        check_int("seed", self.seed, 0, (1 << 32) - 1)
        check_int("prob_bits", self.prob_bits, 8, 16)
        check_int("lanes", self.lanes, 1, 1024)
        check_int("uart_divisor", self.uart_divisor, 2, 65535)
        check_int("sweep_lanes", self.sweep_lanes, 1, self.lanes)
        if self.lanes % self.sweep_lanes:
            fail("sweep_lanes", f"must divide lanes ({self.lanes}), got {self.sweep_lanes}")
        if not isinstance(self.name, str) or not self.name:
            fail("name", f"must be a non-empty string, got {self.name!r}")

    # ------------------------------------------------------------------ derived values
    @property
    def widths(self):
        """``(N0, N1, …, NL)``."""
        return (self.n_inputs,) + self.layers

    @property
    def n_layers(self):
        return len(self.layers)

    def fan_in(self, layer):
        """``N_{l-1}`` of hidden layer ``layer`` (0-based)."""
        return self.widths[layer]

    def margin_threshold(self, layer):
        """``floor(r * N_l)``: the smallest top1 - top2 margin that counts as robust."""
        return math.floor(self.robustness * self.layers[layer])

    @property
    def counter_min(self):
        return -(1 << (self.counter_bits - 1))

    @property
    def counter_max(self):
        return (1 << (self.counter_bits - 1)) - 1

    @property
    def n_weights(self):
        return sum(a * b for a, b in zip(self.widths[:-1], self.widths[1:]))

    def ideal_cycles_per_sample(self, lanes=None):
        """``sum_l ceil(N_{l-1} / P) * N_l``: forward-pass beats of a P-lane XNOR array."""
        p = self.lanes if lanes is None else lanes
        return sum(-(-a // p) * b for a, b in zip(self.widths[:-1], self.widths[1:]))

    # ------------------------------------------------------------------ (de)serialisation
    def to_dict(self):
        d = dataclasses.asdict(self)
        d["layers"] = list(self.layers)
        d["group_sizes"] = list(self.group_sizes)
        return d

    @classmethod
    def from_dict(cls, d, *, source="config"):
        if not isinstance(d, dict):
            raise ConfigError(f"{source}: expected a table of fields, got {type(d).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ConfigError(f"{source}: unknown field(s) {', '.join(unknown)}; "
                              f"known fields: {', '.join(sorted(known))}")
        return cls(**d)

    def replace(self, **changes):
        d = self.to_dict()
        d.update(changes)
        if "layers" in changes and "group_sizes" not in changes:
            d["group_sizes"] = None
        return Config.from_dict(d)

    def to_json(self):
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"

    def to_toml(self):
        lines = []
        for k, v in self.to_dict().items():
            if isinstance(v, str):
                lines.append(f"{k} = {json.dumps(v)}")
            elif isinstance(v, list):
                lines.append(f"{k} = [{', '.join(str(x) for x in v)}]")
            else:
                lines.append(f"{k} = {v!r}")
        return "\n".join(lines) + "\n"

    def save(self, path):
        path = pathlib.Path(path)
        text = self.to_toml() if path.suffix == ".toml" else self.to_json()
        path.write_text(text)

    @classmethod
    def load(cls, path):
        path = pathlib.Path(path)
        try:
            text = path.read_text()
        except OSError as e:
            raise ConfigError(f"{path}: cannot read configuration: {e.strerror}") from None
        try:
            if path.suffix == ".toml":
                d = tomllib.loads(text)
            elif path.suffix == ".json":
                d = json.loads(text)
            else:
                raise ConfigError(f"{path}: unknown configuration format "
                                  f"'{path.suffix}' (use .toml or .json)")
        except (tomllib.TOMLDecodeError, json.JSONDecodeError) as e:
            raise ConfigError(f"{path}: malformed {path.suffix[1:].upper()}: {e}") from None
        return cls.from_dict(d, source=str(path))

    def digest(self):
        """SHA-256 (hex) of the canonical JSON of every field that changes the hardware's
        behaviour; the host link's identify command compares it to refuse a mismatched
        bitstream."""
        d = self.to_dict()
        for runtime_only in ("name", "seed", "init_std"):   # set at run time or paper-only
            d.pop(runtime_only)
        blob = json.dumps(d, sort_keys=True, separators=(",", ":")).encode()
        return hashlib.sha256(blob).hexdigest()
