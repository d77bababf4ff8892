"""Randomized co-simulation campaign: random trainer configurations against the golden model.

Each configuration (1–3 hidden layers, widths that are and are not multiples of the lanes
``P``, any group size γ dividing a width, ``k`` from 3 to 16, batch intervals, seeds, and one of
the three counter banks) is built as a :class:`~xnorlearn.sim.core_harness.CoreHarness` in
Amaranth's simulator and trained on random samples in lock-step with
:class:`~xnorlearn.sw.model.HwModel`: after every sample the prediction and every counter of
every layer must agree, and after a final END_EPOCH (a partial batch's sweep) the state once
more. The first disagreement is reported as configuration / sample / layer / neuron / weight
and can be written out as a stand-alone pytest file that replays it (:func:`write_regression`).

Two engines. ``amaranth`` (:func:`run_case`): Amaranth's simulator, state compared after every
sample; no build, so a configuration of 10 samples is covered in seconds. ``verilator``
(:func:`run_case_verilator`): the generated Verilog of the whole :class:`TrainerTop
<xnorlearn.hw.top.TrainerTop>` *with its data store* under Verilator, trained through
``TRAIN_STORE`` for many epochs with no host traffic per sample — the bench checks every
prediction and the counters every ``check_every`` samples and after every epoch — so after a
1–2 minute build it runs thousands of sample-steps per second: the engine for long campaigns.
"""

import contextlib
import dataclasses
import functools
import pprint
import time

import numpy as np
from amaranth.sim import Simulator

from ..hw import counters as counters_mod
from ..hw import spram as spram_mod
from ..hw.counters import PipelinedCounterBank
from ..hw.spram import SpramCounterBank
from ..sw.config import Config
from ..sw.model import HwModel, compare_states
from .core_harness import CoreDriver, CoreHarness

__all__ = ["BANKS", "FAULTS", "ENGINES", "Case", "Mismatch", "random_case", "run_case",
           "run_case_verilator", "write_regression", "replay"]

#: Counter-bank kinds
BANKS = ("bram", "pipelined", "spram")


def _wrapping_counters():
    """Fault: every counter bank's lane operations wrap instead of saturating."""
    from .formal import wrapping_lane_ops
    stack = contextlib.ExitStack()
    for mod in (counters_mod, spram_mod):
        old = mod.apply_lane_ops
        mod.apply_lane_ops = wrapping_lane_ops
        stack.callback(setattr, mod, "apply_lane_ops", old)
    return stack


#: Injectable gateware faults (for checking the campaign itself): name -> context manager
#: active while the design is elaborated.
FAULTS = {"wrapping_counters": _wrapping_counters}


@dataclasses.dataclass
class Case:
    """One campaign configuration: the network, its counter bank and its training data."""
    config: dict
    bank: str
    row_words: int | None
    data_seed: int
    samples: int
    fault: str | None = None

    @property
    def cfg(self):
        return Config.from_dict(self.config)

    def data(self):
        """Samples and labels; fewer samples give a prefix of more (separate streams)."""
        cfg = self.cfg
        x = np.random.default_rng([self.data_seed, 0]).integers(
            0, 2, (self.samples, cfg.n_inputs)).astype(np.uint8)
        y = np.random.default_rng([self.data_seed, 1]).integers(0, cfg.n_classes, self.samples)
        return x, y

    def describe(self):
        c = self.cfg
        bank = self.bank + (f"(row_words={self.row_words})" if self.row_words else "")
        return (f"N0={c.n_inputs} layers={list(c.layers)} C={c.n_classes} "
                f"gamma={list(c.group_sizes)} k={c.counter_bits} P={c.lanes} "
                f"D={c.sweep_lanes} B={c.batch} p_r={c.p_reinforce} seed={c.seed} bank={bank}"
                + (f" fault={self.fault}" if self.fault else ""))


@dataclasses.dataclass
class Mismatch:
    """First disagreement: ``sample`` (index into the case's samples, or ``"end_epoch"``);
    ``layer``/``neuron``/``weight`` of a counter, or ``what="prediction"``."""
    sample: object
    what: str
    layer: int | None
    neuron: int | None
    weight: int | None
    expected: int
    got: int

    def __str__(self):
        where = (f"layer {self.layer} neuron {self.neuron} weight {self.weight}"
                 if self.what == "counter" else "prediction")
        return (f"sample {self.sample}: {where}: expected {self.expected}, got {self.got}")


def _divisors(n):
    return [d for d in range(1, n + 1) if n % d == 0]


def random_case(rng, samples, *, fault=None):
    """A random :class:`Case` drawn from ``rng`` (numpy Generator)."""
    lanes = int(rng.choice([1, 2, 3, 4, 5, 8]))
    n_layers = int(rng.integers(1, 4))
    bank = str(rng.choice(BANKS))
    n_inputs = int(rng.integers(2, 41))
    layers = []
    for _ in range(n_layers):
        if rng.random() < 0.5:               # a multiple of P, and otherwise any width
            layers.append(lanes * int(rng.integers(1, max(2, 16 // lanes) + 1)))
        else:
            layers.append(int(rng.integers(1, 17)))
    gammas = [int(rng.choice(_divisors(w))) for w in layers]
    k_max = 16 if bank != "spram" else min(16, 32 // lanes)
    bits = int(rng.integers(3, k_max + 1))
    cfg = Config(n_inputs=n_inputs, layers=tuple(layers), n_classes=int(rng.integers(2, 5)),
                 group_sizes=tuple(gammas), counter_bits=bits, batch=int(rng.integers(1, 9)),
                 seed=int(rng.integers(0, 1 << 32)), lanes=lanes,
                 sweep_lanes=int(rng.choice(_divisors(lanes))),
                 p_reinforce=float(rng.choice([0.25, 0.5, 1.0])))
    row_words = int(rng.choice([2, 4, 8])) if bank == "pipelined" else None
    return Case(cfg.to_dict(), bank, row_words, int(rng.integers(0, 1 << 32)), samples, fault)


def _bank_cls(case):
    if case.bank == "pipelined":
        return functools.partial(PipelinedCounterBank, row_words=case.row_words)
    if case.bank == "spram":
        return SpramCounterBank
    if case.bank == "bram":
        return None
    raise ValueError(f"unknown bank {case.bank!r}; use one of {', '.join(BANKS)}")


def run_case(case):
    """Co-simulate ``case``; returns ``(mismatch or None, samples run, wall seconds)``."""
    cfg = case.cfg
    x, y = case.data()
    fault = FAULTS[case.fault]() if case.fault else contextlib.nullcontext()
    t0 = time.perf_counter()
    with fault:
        harness = CoreHarness(cfg, bank_cls=_bank_cls(case))
        sim = Simulator(harness)
    sim.add_clock(1e-8)
    gold = HwModel(cfg)
    out = {"mismatch": None, "samples": 0}

    def state_mismatch(sample, d):
        state = d.peek_state(check_signs=False)
        m = compare_states(gold.state(), state)
        if m is not None:
            return Mismatch(sample, "counter", m.layer, m.neuron, m.weight, m.expected, m.got)
        signs = d.sign_mismatch(state)
        assert signs is None, f"sample {sample}: {signs}"
        return None

    async def bench(ctx):
        d = CoreDriver(harness, cfg, ctx)
        if (mm := state_mismatch("power-on", d)) is not None:
            out["mismatch"] = mm
            return
        for s in range(len(y)):
            p_hw = await d.train(x[s], int(y[s]))
            p_gold = gold.train_sample(x[s], int(y[s]))
            out["samples"] = s + 1
            if p_hw != p_gold:
                out["mismatch"] = Mismatch(s, "prediction", None, None, None, p_gold, p_hw)
                return
            if (mm := state_mismatch(s, d)) is not None:
                out["mismatch"] = mm
                return
        await d.end_epoch()
        gold.end_epoch()
        out["mismatch"] = state_mismatch("end_epoch", d)

    sim.add_testbench(bench)
    sim.run()
    return out["mismatch"], out["samples"], time.perf_counter() - t0


def run_case_verilator(case, *, epochs=2, check_every=1, build_root=None, test_samples=8):
    """Co-simulate ``case`` under Verilator from the data store: its samples are the training
    records of an image (plus ``test_samples`` more as the test split), trained for ``epochs``
    epochs with TRAIN_STORE (:func:`xnorlearn.sim.cosim.run_store_cosim`, memory reader).
    ``check_every=0``: the counters and the correct count at the end of every TRAIN_STORE
    range only, with no Python per record (full Verilator speed).
    Returns ``(mismatch or None, sample-steps run, wall seconds, bench result)``."""
    from .cosim import CosimError, run_store_cosim
    cfg = case.cfg.replace(uart_divisor=4)      # the host's few requests per epoch: fast UART
    x, y = dataclasses.replace(case, samples=case.samples + test_samples).data()
    bank = {"bram": None, "pipelined": None, "spram": "spram"}[case.bank]
    fault = FAULTS[case.fault]() if case.fault else contextlib.nullcontext()
    t0 = time.perf_counter()
    try:
        with fault:
            r = run_store_cosim(cfg, x[:case.samples], y[:case.samples], x[case.samples:],
                                y[case.samples:], epochs=epochs, reader="memory",
                                check_every=max(1, check_every),
                                watch_records=check_every > 0, build_root=build_root,
                                progress=False,
                                quiet=True, bank=bank, row_words=case.row_words)
    except CosimError as e:
        r = getattr(e, "result", None)
        mm = (r or {}).get("first_mismatch")
        if not mm:
            raise
        done = int(mm.get("sample", 0)) if isinstance(mm.get("sample"), int) else 0
        what = mm.get("what", "counter")
        if "layer" in mm:
            what = "counter"
        return (Mismatch(mm.get("sample"), what, mm.get("layer"), mm.get("neuron"),
                         mm.get("weight"), mm.get("expected"), mm.get("got")),
                done, time.perf_counter() - t0, r)
    return None, epochs * case.samples, time.perf_counter() - t0, r


#: Campaign engines: name -> run function ``(case, **options) -> (mismatch, steps, seconds)``
ENGINES = ("amaranth", "verilator")


def replay(case_dict, engine="amaranth", **options):
    """Run a recorded case (what a regression file calls); returns the mismatch or None."""
    case = Case(**case_dict)
    if engine == "verilator":
        return run_case_verilator(case, **options)[0]
    return run_case(case)[0]


_REGRESSION = '''"""Regression found by scripts/campaign.py: the trainer core disagreed with the golden model.

{describe}
first mismatch: {mismatch}
Replays the same configuration, counter bank and samples.
"""

from xnorlearn.sim.campaign import replay

CASE = {case}


def test_{name}():
    mismatch = replay(CASE{options})
    assert mismatch is None, f"{{mismatch}} ({{CASE['bank']}} bank)"
'''


def write_regression(path, case, mismatch, name="campaign_regression", engine="amaranth",
                     **options):
    """Write a pytest file that replays ``case`` (trimmed to the samples up to the mismatch;
    with the verilator engine, the epochs up to it) and fails while the disagreement
    persists."""
    import pathlib
    if engine == "verilator":
        if isinstance(mismatch.sample, int):
            options["epochs"] = min(options.get("epochs", 2), mismatch.sample // case.samples + 1)
        args = ", engine='verilator'" + "".join(f", {k}={v!r}" for k, v in sorted(options.items()))
    else:
        if isinstance(mismatch.sample, int):
            case = dataclasses.replace(case, samples=mismatch.sample + 1)
        args = ""
    text = _REGRESSION.format(describe=case.describe(), mismatch=mismatch,
                              case=pprint.pformat(dataclasses.asdict(case), indent=4,
                                                  width=96, sort_dicts=True),
                              name=name, options=args)
    pathlib.Path(path).write_text(text)
    return path


def case_record(case, mismatch, samples, seconds):
    """JSON-able result of one configuration."""
    return {"case": dataclasses.asdict(case), "describe": case.describe(),
            "samples_run": samples, "seconds": round(seconds, 3),
            "mismatch": None if mismatch is None else {**dataclasses.asdict(mismatch),
                                                       "text": str(mismatch)}}
