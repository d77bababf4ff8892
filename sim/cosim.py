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

__all__ = ["trainer_verilog", "run_cosim", "run_store_cosim", "store_params", "sdram_store_top",
           "SIM_STORE_BASE",
           "run_fuzz", "CosimError", "TOPLEVEL", "board_bank", "BENCH_SIGNALS", "CLOCK_NS",
           "cache_dir", "default_build_root"]

TOPLEVEL = "xnorlearn_top"


class CosimError(RuntimeError):
    """The co-simulation could not run, or the design disagreed with the golden model."""


#: byte address of the dataset image in the simulated store (the simulation's own choice,
#: small so that the simulated flash below it stays small; boards use
#: ``xnorlearn.boards.flash_pins.flash_facts(board).offset``)
SIM_STORE_BASE = 0x1000
#: the co-simulation's clock period (generated in the design, sim.harness.generated_clock)
CLOCK_NS = 10
SIM_CLOCK_HZ = 1e9 / CLOCK_NS
#: the only signals the benches (cosim_bench, link_bench) reach through VPI besides the top
#: module's ports: counter-bank, sign-copy, image and flash-model memories, the core's reply
#: strobe and the store runner's state. Verilator keeps every other signal private, which is
#: what makes it fast (sim.harness.verilator_runner).
BENCH_SIGNALS = ("mem", "row*", "lane*", "busy", "*rsp_data__valid", "*rsp_data__payload",
                 "*rsp__valid", "uart_*", "flash_error*", "sdram_error*", "rx_*", "tx_*")


def store_params(image, base=SIM_STORE_BASE, slots=None):
    """:class:`~xnorlearn.hw.store.StoreParams` of a simulated store holding ``image`` at
    ``base``, served by a :class:`~xnorlearn.hw.store.MemoryReader` (``slots``: the runner's
    record slots, ``None`` its default)."""
    from ..hw.store import MemoryReader, StoreParams
    image = bytes(image)
    return StoreParams(base, lambda: MemoryReader(image, base), slots)


def _model_store_top(trainer, name, model, connect):
    """What :func:`flash_store_top` and :func:`sdram_store_top` build: a TrainerTop with a
    store and the model of the memory its reader drives (``connect(m, trainer, model)`` wires
    them), as a component with the trainer's ``uart_rx``, ``uart_tx``, ``busy`` and the
    model's ``<name>_error`` / ``<name>_error_code``; the trainer is submodule ``trainer``,
    the model ``<name>``."""
    from amaranth import Module
    from amaranth.lib import wiring
    from amaranth.lib.wiring import In, Out

    class ModelStoreTop(wiring.Component):
        def __init__(self):
            self.trainer = trainer
            setattr(self, name, model)
            super().__init__({"uart_rx": In(1, init=1), "uart_tx": Out(1, init=1),
                              "busy": Out(1), f"{name}_error": Out(1),
                              f"{name}_error_code": Out(len(model.error_code))})

        def elaborate(self, platform):
            m = Module()
            m.submodules.trainer = t = trainer
            m.submodules[name] = model
            connect(m, t, model)
            m.d.comb += [t.uart_rx.eq(self.uart_rx), self.uart_tx.eq(t.uart_tx),
                         self.busy.eq(t.busy),
                         getattr(self, f"{name}_error").eq(model.error),
                         getattr(self, f"{name}_error_code").eq(model.error_code)]
            return m

    return ModelStoreTop()


def flash_store_top(cfg, image, base=SIM_STORE_BASE, *, mode="quad", set_qe=None, divisor=1,
                    bank_cls=None, state=None, slots=None, lutram=False):
    """Simulation top level: :class:`~xnorlearn.hw.top.TrainerTop` whose store is read by a
    :class:`~xnorlearn.hw.flash.QspiFlashReader` from a
    :class:`~xnorlearn.sim.flashmodel.FlashModel` holding ``image`` at ``base`` (erased below
    it), asleep at power-up as the FPGA's configuration may leave it. Ports: ``uart_rx``,
    ``uart_tx``, ``busy`` as TrainerTop's, and ``flash_error`` / ``flash_error_code`` (the
    model's protocol checks). The trainer is submodule ``trainer``, the model ``flash``.
    ``slots``, ``lutram``: the store runner's record buffer (a board's ``store_slots``,
    ``store_lutram``; ``None``: the runner's default)."""
    from ..hw.flash import QspiFlashReader
    from ..hw.store import StoreParams
    from ..hw.top import TrainerTop
    from .flashmodel import FlashModel, connect_flash

    def reader():
        return QspiFlashReader(mode=mode, divisor=divisor, clk_hz=SIM_CLOCK_HZ, set_qe=set_qe)
    trainer = TrainerTop(cfg, bank_cls=bank_cls, state=state,
                         store=StoreParams(base, reader, slots, lutram))
    r = trainer.reader
    flash = FlashModel(b"\xff" * base + bytes(image), qe=mode == "quad" and not r.set_qe,
                       asleep=True, t_res_cycles=r.t_res_cycles)
    return _model_store_top(trainer, "flash", flash,
                                lambda m, t, f: connect_flash(m, t.flash_pins(), f))


def sdram_store_top(cfg, image_bytes, *, bank_cls=None, state=None, slots=None, lutram=False):
    """Simulation top level: :class:`~xnorlearn.hw.top.TrainerTop` whose store is an
    :class:`~xnorlearn.hw.sdram.SdramStore` (the boards' settings: ``read_delay`` of their pin
    glue, 200 µs power-up) driving a :class:`~xnorlearn.sim.sdrammodel.SdramModel` that starts
    empty (all zero, as never-written SDRAM is refused) and holds ``image_bytes`` bytes: the
    host fills it with STORE_WRITE. Ports: ``uart_rx``, ``uart_tx``, ``busy`` as TrainerTop's,
    and ``sdram_error`` / ``sdram_error_code`` (the model's protocol and timing checks). The
    trainer is submodule ``trainer``, the model ``sdram``."""
    from ..hw.sdram import SdramStore
    from ..hw.store import StoreParams
    from ..hw.top import TrainerTop
    from .sdrammodel import SdramModel, connect_sdram

    trainer = TrainerTop(cfg, bank_cls=bank_cls, state=state,
                         store=StoreParams(0, lambda: SdramStore(SIM_CLOCK_HZ), slots, lutram,
                                           writable=True))
    r = trainer.reader
    sdram = SdramModel(r.cycles, cas_latency=r.cas_latency, depth=(image_bytes + 1) // 2 + 1)
    return _model_store_top(
        trainer, "sdram", sdram,
        lambda m, t, d: connect_sdram(m, t, d, read_delay=t.reader.read_delay))


def trainer_verilog(cfg, row_words=None, bank=None, counter_state=None, store=None,
                    link="uart"):
    """Deterministic Verilog of :class:`~xnorlearn.hw.top.TrainerTop` for ``cfg``. The counter
    bank: ``bank="spram"`` the UP5K's :class:`~xnorlearn.hw.spram.SpramCounterBank` (its
    simulation models), ``row_words`` (or ``bank="bram-rows"`` with it) a
    :class:`~xnorlearn.hw.counters.PipelinedCounterBank` of rows that deep (the ECP5 boards'
    bank), else the plain block-RAM bank. ``counter_state`` (every layer's counters) replaces
    the power-on state ``init(cfg.seed)`` in the counters and in the sign-bit copy.
    ``store`` (a :class:`~xnorlearn.hw.store.StoreParams`, e.g. :func:`store_params`) adds the
    data store; ``store=("flash", image, flash_kwargs)`` builds :func:`flash_store_top`
    instead (the flash reader and a flash model holding the image), ``store=("sdram",
    image_bytes, kwargs)`` :func:`sdram_store_top` (an empty SDRAM). ``link="bytes"``: the
    host link without its UART, fed by :func:`xnorlearn.sim.byte_link.byte_link_top`'s rings
    (no store)."""
    import functools

    from amaranth.back import verilog

    from ..hw.top import TrainerTop
    if bank == "spram":
        from ..hw.spram import SpramCounterBank
        bank_cls = SpramCounterBank
    elif row_words is not None:
        from ..hw.counters import PipelinedCounterBank
        bank_cls = functools.partial(PipelinedCounterBank, row_words=row_words)
    else:
        bank_cls = None
    if link == "bytes":
        if store is not None:
            raise ValueError("the byte link is for host-fed co-simulation (no store)")
        from .byte_link import byte_link_top
        return verilog.convert(byte_link_top(cfg, bank_cls=bank_cls, state=counter_state),
                               name=TOPLEVEL, emit_src=False)
    if link != "uart":
        raise ValueError(f"link must be 'uart' or 'bytes', got {link!r}")
    if isinstance(store, tuple) and store[0] == "flash":
        top = flash_store_top(cfg, store[1], bank_cls=bank_cls, state=counter_state,
                              **store[2])
        return verilog.convert(top, name=TOPLEVEL, emit_src=False)
    if isinstance(store, tuple) and store[0] == "sdram":
        top = sdram_store_top(cfg, store[1], bank_cls=bank_cls, state=counter_state,
                              **store[2])
        return verilog.convert(top, name=TOPLEVEL, emit_src=False)
    return verilog.convert(TrainerTop(cfg, bank_cls=bank_cls, state=counter_state,
                                      store=store),
                           name=TOPLEVEL, emit_src=False)


def board_bank(board, cfg):
    """``(bank, row_words)``: the counter bank ``board`` builds ``cfg`` with, as
    :func:`run_cosim` takes it — ``"spram"`` (UP5K), ``"bram-rows"`` with the fit check's row
    depth (ECP5), or ``"bram"``."""
    if board.bank == "bram-rows":
        from ..boards.fit import counter_row_words
        return board.bank, counter_row_words(cfg, board.family)
    return board.bank, None


def cache_dir():
    """The per-user cache of xnorlearn: ``$XNORLEARN_CACHE``, else ``$XDG_CACHE_HOME/xnorlearn``,
    else ``~/.cache/xnorlearn``."""
    if os.environ.get("XNORLEARN_CACHE"):
        return pathlib.Path(os.environ["XNORLEARN_CACHE"]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = pathlib.Path(xdg).expanduser() if xdg else pathlib.Path.home() / ".cache"
    return base / "xnorlearn"


def default_build_root():
    """Where co-simulation builds (Verilator) are cached: ``<cache_dir()>/verilator``."""
    return cache_dir() / "verilator"


def run_cosim(cfg, x_train, y_train, x_test=None, y_test=None, *, check_every=1,
              build_root=None, waves=None, progress=True, testcase="train_lockstep",
              extra=None, quiet=False, row_words=None, bank=None, counter_state=None,
              store=None, link="uart"):
    """Train ``cfg``'s trainer on the given samples in co-simulation.

    Returns the bench's result dict (``bit_exact``, ``first_mismatch``, accuracies, cycles per
    sample with and without the UART, ideal cycles, wall time, simulated cycles per wall
    second). ``bank`` / ``row_words`` select the counter bank (see :func:`trainer_verilog`,
    :func:`board_bank`). ``link``: ``"uart"`` (the host driver on the UART pins, bit by bit)
    or ``"bytes"`` (the link's bytes through ring buffers, :mod:`xnorlearn.sim.byte_link`:
    much faster, the UART not under test). ``build_root`` is the Verilator build cache (default
    :func:`default_build_root`). Raises :class:`CosimError`
    when the design disagrees with the golden model (the message names sample / layer /
    neuron / weight) or the simulation fails.
    """
    from cocotb_tools.runner import get_results

    from .harness import run_cocotb
    t0 = time.perf_counter()
    root = pathlib.Path(build_root) if build_root else default_build_root()
    root.mkdir(parents=True, exist_ok=True)
    verilog = trainer_verilog(cfg, row_words, bank, counter_state, store, link)
    t_gen = time.perf_counter() - t0
    work = pathlib.Path(tempfile.mkdtemp(prefix="xnorlearn-cosim-", dir=root))
    try:
        x_test = np.zeros((0, cfg.n_inputs), np.uint8) if x_test is None else x_test
        y_test = np.zeros(0, np.int64) if y_test is None else y_test
        states = {} if counter_state is None else \
            {f"state_{l}": np.asarray(s, np.int16) for l, s in enumerate(counter_state)}
        np.savez(work / "data.npz", **states, x_train=np.asarray(x_train, np.uint8),
                 y_train=np.asarray(y_train, np.int64), x_test=np.asarray(x_test, np.uint8),
                 y_test=np.asarray(y_test, np.int64))
        result_path = work / "result.json"
        params = {"config": cfg.to_dict(), "data": str(work / "data.npz"),
                  "result": str(result_path), "check_every": check_every,
                  "progress": progress, "row_words": row_words, "bank": bank, "link": link,
                  "t_start": time.time() if progress else None, **(extra or {})}
        old_waves = os.environ.get("XNORLEARN_WAVES")
        if waves:
            os.environ["XNORLEARN_WAVES"] = "1"
        try:
            xml = run_cocotb(verilog, TOPLEVEL, "xnorlearn.sim.cosim_bench",
                             simulator="verilator", params=params, build_root=root,
                             testcase=testcase, quiet=quiet, public=BENCH_SIGNALS,
                             clock_ns=CLOCK_NS)
        except SystemExit:          # cocotb's runner exits when the bench failed: read why
            xml = None
        finally:
            if waves:
                if old_waves is None:
                    os.environ.pop("XNORLEARN_WAVES", None)
                else:
                    os.environ["XNORLEARN_WAVES"] = old_waves
        if not result_path.exists():
            raise CosimError("the co-simulation ended without a result (see the log above)")
        result = json.loads(result_path.read_text())
        if waves and xml:
            dumps = sorted(pathlib.Path(xml).parent.glob("*.vcd")) + \
                sorted(pathlib.Path(xml).parent.glob("*.fst"))
            if dumps:
                shutil.copy(dumps[-1], waves)
                result["waves"] = str(waves)
        failed = get_results(xml)[1] if xml else 1
        result["generate_seconds"] = t_gen
        result["total_wall_seconds"] = time.perf_counter() - t0
        if result.get("simulated_cycles") and result.get("simulation_wall_seconds"):
            # whole bench: INIT and its full state check, inference, refusals included
            result["overall_cycles_per_second"] = (result["simulated_cycles"] /
                                                   result["simulation_wall_seconds"])
            result["cycles_per_second"] = result["overall_cycles_per_second"]
        if result.get("training_cycles") and result.get("training_wall_seconds"):
            # training: the samples or TRAIN_STORE ranges with their state checks
            result["cycles_per_second"] = (result["training_cycles"] /
                                           result["training_wall_seconds"])
        if failed or not result.get("bit_exact"):
            mm = result.get("first_mismatch")
            err = CosimError(f"design disagrees with the golden model: {mm}" if mm else
                             "co-simulation failed (see the log above)")
            err.result = result             # the bench's record, first_mismatch included
            raise err
        return result
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run_store_cosim(cfg, x_train, y_train, x_test, y_test, *, epochs=2, seed=None,
                    identity="", build_root=None, progress=True, quiet=False, row_words=None,
                    bank=None, waves=None, reader="flash", flash_mode="quad", flash_set_qe=None,
                    flash_divisor=1, check_every=1, watch_records=True, store_slots=None):
    """Train ``cfg``'s trainer *from its data store* in co-simulation: the image of the given
    samples (:func:`xnorlearn.sw.protocol.store_image`) is served to a :class:`TrainerTop
    <xnorlearn.hw.top.TrainerTop>` with a store, and the host drives STORE_INFO, TRAIN_STORE
    (``epochs`` epochs, the first split into two ranges) and EVAL_STORE through the UART.
    Every record's prediction is checked; the counters after every ``check_every``-th record
    and the last of each TRAIN_STORE. ``watch_records=False`` (long campaigns): no Python per
    record — the golden model trains each TRAIN_STORE range in bulk, and the counters and the
    number of correct predictions are compared at the end of every range.
    ``reader="flash"``: the image is in a :class:`~xnorlearn.sim.flashmodel.FlashModel` read
    by a :class:`~xnorlearn.hw.flash.QspiFlashReader` (``flash_mode``, ``flash_set_qe``,
    ``flash_divisor``), and the model must see no protocol violation; ``"sdram"``: an
    :class:`~xnorlearn.hw.sdram.SdramStore` and an empty
    :class:`~xnorlearn.sim.sdrammodel.SdramModel` (no violation either), which the host fills
    with STORE_WRITE first (:func:`xnorlearn.sw.store.fill_store`: ``fill_*`` in the result);
    ``"memory"``: a
    :class:`~xnorlearn.hw.store.MemoryReader` (fast). ``store_slots``: the runner's record
    slots (a board's ``store_slots``; ``None``: the runner's default).
    After every record the core trained, the counters are compared with ``HwModel`` stepped
    with the same records in ``prng.epoch_order``; a corrupted header must be refused
    (BAD_STORE). Returns the bench's result (``bit_exact``, accuracies,
    ``cycles_per_sample_store`` from TRAIN_STORE's start to its reply,
    ``cycles_per_sample_compute`` from the core's busy counter, …)."""
    from ..sw import protocol as proto
    image = proto.store_image(cfg, x_train, y_train, x_test, y_test, identity)
    if reader == "flash":
        store = ("flash", image, {"mode": flash_mode, "set_qe": flash_set_qe,
                                  "divisor": flash_divisor, "slots": store_slots})
    elif reader == "sdram":
        store = ("sdram", len(image), {"slots": store_slots})
    elif reader == "memory":
        store = store_params(image, slots=store_slots)
    else:
        raise ValueError(f"reader must be 'flash', 'sdram' or 'memory', got {reader!r}")
    extra = {"epochs": int(epochs), "order_seed": cfg.seed if seed is None else int(seed),
             "watch_records": bool(watch_records),
             "store_base": 0 if reader == "sdram" else SIM_STORE_BASE,
             "store_reader": reader, "store_slots": store_slots, "store_identity": identity,
             "flash_mode": flash_mode if reader == "flash" else None}
    return run_cosim(cfg, x_train, y_train, x_test, y_test, build_root=build_root,
                     check_every=check_every,
                     progress=progress, testcase="train_store_lockstep", extra=extra,
                     quiet=quiet, row_words=row_words, bank=bank, store=store, waves=waves)


def run_fuzz(cfg, x, y, *, rounds=200, seed=1, build_root=None):
    """Protocol fuzzing of the whole trainer: corrupted, truncated, oversized and garbage frames
    (and UART framing errors) between good TRAIN frames. Every bad burst must get the reply the
    receiver model predicts, and the hidden state must stay equal to the golden model's, which
    only sees the good frames. Returns the bench's result (counts per corruption kind)."""
    return run_cosim(cfg, x, y, check_every=1, build_root=build_root, progress=False,
                     testcase="fuzz_protocol", extra={"rounds": rounds, "seed": seed})
