"""Co-simulation of the whole trainer: generate its Verilog, build it with Verilator, train it
through the UART with the host driver in lock-step with the golden model (``cosim_bench``).
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import tempfile
import time

import numpy as np

__all__ = ["trainer_verilog", "run_cosim", "run_fuzz", "CosimError", "TOPLEVEL"]

TOPLEVEL = "xnorlearn_top"


class CosimError(RuntimeError):
    """The co-simulation could not run, or the design disagreed with the golden model."""


def trainer_verilog(cfg, row_words=None, spram=False):
    """Deterministic Verilog of :class:`~xnorlearn.hw.top.TrainerTop` for ``cfg``; with
    ``row_words``, the counters in a :class:`~xnorlearn.hw.counters.PipelinedCounterBank` of
    rows that deep (the ECP5 boards' bank); with ``spram``, in the UP5K boards'
    :class:`~xnorlearn.hw.spram.SpramCounterBank` (its SPRAMs as simulation models); else in
    the plain block-RAM bank."""
    import functools

    from amaranth.back import verilog

    from ..hw.counters import PipelinedCounterBank
    from ..hw.spram import SpramCounterBank
    from ..hw.top import TrainerTop
    if spram:
        bank_cls = SpramCounterBank
    elif row_words is not None:
        bank_cls = functools.partial(PipelinedCounterBank, row_words=row_words)
    else:
        bank_cls = None
    return verilog.convert(TrainerTop(cfg, bank_cls=bank_cls), name=TOPLEVEL, emit_src=False)


def default_build_root():
    return pathlib.Path(os.environ.get("XNORLEARN_BUILD", pathlib.Path.cwd() / "build")) / "cocotb"


def run_cosim(cfg, x_train, y_train, x_test=None, y_test=None, *, check_every=1,
              build_root=None, waves=None, progress=True, testcase="train_lockstep",
              extra=None, quiet=False, row_words=None, spram=False):
    """Train ``cfg``'s trainer on the given samples in co-simulation.

    Returns the bench's result dict (``bit_exact``, ``first_mismatch``, accuracies, cycles per
    sample with and without the UART, ideal cycles, wall time). ``row_words`` / ``spram`` select the
    pipelined counter bank (see :func:`trainer_verilog`). Raises :class:`CosimError`
    when the design disagrees with the golden model (the message names sample / layer /
    neuron / weight) or the simulation fails.
    """
    from cocotb_tools.runner import get_results

    from .harness import run_cocotb
    t0 = time.perf_counter()
    root = pathlib.Path(build_root) if build_root else default_build_root()
    root.mkdir(parents=True, exist_ok=True)
    verilog = trainer_verilog(cfg, row_words, spram)
    t_gen = time.perf_counter() - t0
    work = pathlib.Path(tempfile.mkdtemp(prefix="xnorlearn-cosim-", dir=root))
    try:
        x_test = np.zeros((0, cfg.n_inputs), np.uint8) if x_test is None else x_test
        y_test = np.zeros(0, np.int64) if y_test is None else y_test
        np.savez(work / "data.npz", x_train=np.asarray(x_train, np.uint8),
                 y_train=np.asarray(y_train, np.int64), x_test=np.asarray(x_test, np.uint8),
                 y_test=np.asarray(y_test, np.int64))
        result_path = work / "result.json"
        params = {"config": cfg.to_dict(), "data": str(work / "data.npz"),
                  "result": str(result_path), "check_every": check_every,
                  "progress": progress, "row_words": row_words, "spram": spram,
                  **(extra or {})}
        old_waves = os.environ.get("XNORLEARN_WAVES")
        if waves:
            os.environ["XNORLEARN_WAVES"] = "1"
        try:
            xml = run_cocotb(verilog, TOPLEVEL, "xnorlearn.sim.cosim_bench",
                             simulator="verilator", params=params, build_root=root,
                             testcase=testcase, quiet=quiet)
        finally:
            if waves:
                if old_waves is None:
                    os.environ.pop("XNORLEARN_WAVES", None)
                else:
                    os.environ["XNORLEARN_WAVES"] = old_waves
        if not result_path.exists():
            raise CosimError("the co-simulation ended without a result (see the log above)")
        result = json.loads(result_path.read_text())
        if waves:
            dumps = sorted(pathlib.Path(xml).parent.glob("*.vcd")) + \
                sorted(pathlib.Path(xml).parent.glob("*.fst"))
            if dumps:
                shutil.copy(dumps[-1], waves)
                result["waves"] = str(waves)
        _, failed = get_results(xml)
        result["generate_seconds"] = t_gen
        result["total_wall_seconds"] = time.perf_counter() - t0
        if failed or not result.get("bit_exact"):
            mm = result.get("first_mismatch")
            raise CosimError(f"design disagrees with the golden model: {mm}" if mm else
                             "co-simulation failed (see the log above)")
        return result
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run_fuzz(cfg, x, y, *, rounds=200, seed=1, build_root=None):
    """Protocol fuzzing of the whole trainer: corrupted, truncated, oversized and garbage frames
    (and UART framing errors) between good TRAIN frames. Every bad burst must get the reply the
    receiver model predicts, and the hidden state must stay equal to the golden model's, which
    only sees the good frames. Returns the bench's result (counts per corruption kind)."""
    return run_cosim(cfg, x, y, check_every=1, build_root=build_root, progress=False,
                     testcase="fuzz_protocol", extra={"rounds": rounds, "seed": seed})
