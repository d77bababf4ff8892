"""cocotb bench: the whole trainer's Verilog, driven through its UART pins by the host driver,
in lock-step with the golden model.

Run by :func:`xnorlearn.sim.cosim.run_cosim` (parameters arrive as JSON, see
:func:`xnorlearn.sim.harness.cocotb_params`). After every training sample the bench peeks the
counter bank memory of the simulated design and compares every counter with
``HwModel.state()``; the first difference is reported as sample / layer / neuron / weight and
ends the run. The result (verdict, accuracy, cycles) is written as JSON for the caller.
"""

import json
import time
import types

import cocotb
import numpy as np
from cocotb.triggers import RisingEdge
from cocotb.utils import get_sim_time

from xnorlearn.hw.signbank import SignLayout
from xnorlearn.hw.trainer import TrainerLayout
from xnorlearn.sim.cosim import CLOCK_NS
from xnorlearn.sim.harness import cocotb_params, cocotb_reset
from xnorlearn.sim.byte_link import CocotbByteTransport
from xnorlearn.sim.uart_transport import CocotbUartTransport
from xnorlearn.sw.config import Config
from xnorlearn.sw.driver import Device
from xnorlearn.sw.model import HwModel, compare_states
from xnorlearn.sw.train import warm_up



def cycles_now():
    return int(get_sim_time(unit="ns")) // CLOCK_NS


def where(mismatch, **context):
    """JSON-able first state mismatch: context (sample, round, …), layer, neuron, weight."""
    return {**context, "layer": mismatch.layer, "neuron": mismatch.neuron,
            "weight": mismatch.weight, "expected": mismatch.expected, "got": mismatch.got}


class BankPeek:
    """Reads the counter bank memory of the simulated design through VPI (one memory, the
    rows of a pipelined bank with ``row_words`` words each, or the SPRAM models of the
    interleaved SPRAM bank), and checks the sign-bit copy of the weights against it."""

    def __init__(self, dut, cfg, row_words=None, bank_kind=None):
        bank = dut.core.bank
        if bank_kind == "spram":
            from xnorlearn.hw.spram import SPRAM_DEPTH, SPRAM_WIDTH
            wide = -(-cfg.lanes * cfg.counter_bits // SPRAM_WIDTH)

            def word(a):
                d, r = divmod(a >> 1, SPRAM_DEPTH)
                return sum(int(getattr(getattr(bank, f"g{a & 1}d{d}"), f"w{w}").model.mem[r]
                               .value) << (SPRAM_WIDTH * w) for w in range(wide))
            self.word = word
        elif row_words:
            rows = -(-TrainerLayout(cfg).cnt_depth // row_words)
            mems = [getattr(bank, f"row{r}") for r in range(rows)]
            self.word = lambda a: int(mems[a // row_words][a % row_words].value)
        else:
            self.word = lambda a: int(bank.mem[a].value)
        self.signs = dut.core.signs
        self.layout = TrainerLayout(cfg)
        self.slayout = SignLayout(cfg)
        # the sign copy's memories: one per lane, or (the SPRAM bank's trainer option) blocks
        # of rows per lane, named lane{q}_{d} (hw/signbank.py)
        import warnings

        from xnorlearn.hw.signbank import SignBank
        block_rows = None
        if bank_kind == "spram":
            from xnorlearn.hw.spram import SpramCounterBank
            block_rows = SpramCounterBank.trainer_options.get("sign_block_rows")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sb = SignBank.from_config(cfg, block_rows=block_rows)   # for its row placement
            for obj in [sb, *(mem for lane in sb.mems for mem in lane)]:
                obj._MustUse__silence = True
        ends = sb.starts[1:] + [sb.depth]
        self.sign_blocks = list(zip(sb.starts, ends))
        self.k, self.p = cfg.counter_bits, cfg.lanes

    def state(self, check_signs=True):
        """Every layer's counters; raises ``AssertionError`` if the sign-bit copy differs
        from their signs (``check_signs``)."""
        k, p, mask, sign = self.k, self.p, (1 << self.k) - 1, 1 << (self.k - 1)
        words = []
        for a in range(self.layout.cnt_depth):
            raw = self.word(a)
            lanes = []
            for q in range(p):
                v = (raw >> (q * k)) & mask
                lanes.append(v - (1 << k) if v & sign else v)
            words.append(lanes)
        state = self.layout.state_from_words(words)
        one = len(self.sign_blocks) == 1
        for q, rows in enumerate(self.slayout.rows(state) if check_signs else ()):
            for r, want in enumerate(rows):
                d, a = next((d, a) for d, (a, e) in enumerate(self.sign_blocks) if a <= r < e)
                mem = getattr(self.signs, f"lane{q}" if one else f"lane{q}_{d}")
                got = int(mem[r - a].value)
                assert got == want, (f"sign copy lane {q} row {r}: {got:#x}, counters' signs "
                                     f"{want:#x}")
        return state


class BenchRun:
    """What both benches start with: the runner's parameters, the configuration and data, the
    result record (written by :meth:`finish`), and after :meth:`connect` the reset design's
    host driver, counter peek and a fresh golden model."""

    def __init__(self, **fields):
        self.prm = cocotb_params()
        self.cfg = Config.from_dict(self.prm["config"])
        self.data = np.load(self.prm["data"])
        self.result = {"config": self.cfg.to_dict(), "bit_exact": False,
                       "first_mismatch": None, "samples": 0, **fields}
        self.t_wall = time.perf_counter()

    def finish(self, **extra):
        self.result.update(extra)
        self.result["wall_seconds"] = time.perf_counter() - self.t_wall
        with open(self.prm["result"], "w") as f:
            json.dump(self.result, f, indent=2)

    async def connect(self, dut, root=None):
        """Reset, connect the driver through the UART pins, or the byte link's rings (the
        ``link`` parameter); returns (device, peek, golden). ``root``: the TrainerTop in the
        design's hierarchy (default: the design itself, or its ``trainer`` with the byte
        link)."""
        cfg = self.cfg
        # the golden model's Numba kernels compiled before the clock runs: a first call in
        # the training loop would take seconds and count as simulation time
        warm_up(HwModel(cfg), types.SimpleNamespace(x_train=self.data["x_train"],
                                                    y_train=self.data["y_train"]))
        await cocotb_reset(dut)
        if self.prm.get("link") == "bytes":
            transport = CocotbByteTransport(dut, CLOCK_NS)
            root = dut.trainer if root is None else root
        else:
            transport = CocotbUartTransport(dut.uart_rx, dut.uart_tx, dut.clk,
                                            cfg.uart_divisor)
        dev = await Device.connect(transport, cfg)
        peek = BankPeek(dut if root is None else root, cfg, self.prm.get("row_words"),
                        self.prm.get("bank"))
        return dev, peek, HwModel(cfg)

    async def start(self, dev, peek, gold):
        """INIT on chip (spec §4) must give the golden initial state; then the golden skip
        tables, and the chip's counters reset (its busy counter from here on counts training
        only, not INIT)."""
        await dev.init(self.cfg.seed)
        mismatch = compare_states(gold.state(), peek.state())
        if mismatch:
            self.finish(first_mismatch=where(mismatch, sample=-1))
            assert False, f"after INIT: {mismatch}"
        await dev.set_tables(gold.tables)
        await dev.reset_counters()


@cocotb.test()
async def train_lockstep(dut):
    run = BenchRun()
    prm, cfg, data, finish = run.prm, run.cfg, run.data, run.finish
    x_train, y_train = data["x_train"], data["y_train"]
    x_test, y_test = data["x_test"], data["y_test"]
    check_every = int(prm.get("check_every", 1))
    dev, peek, gold = await run.connect(dut)

    await run.start(dev, peek, gold)
    if prm.get("t_start") is not None:
        print(f"[cosim] Verilator build and simulator start took "
              f"{time.time() - prm['t_start']:.1f} s; training {len(y_train)} samples",
              flush=True)

    n = len(y_train)
    # Steady state: the busy cycles of the samples up to the last full batch of B samples
    # (one reinforcement sweep per B samples, amortised exactly); with fewer than B samples,
    # every sample plus END_EPOCH's one sweep.
    steady_n = (n // cfg.batch) * cfg.batch
    steady = None
    correct = 0
    c0, w0 = cycles_now(), time.perf_counter()
    for t in range(n):
        pred = await dev.train_sample(x_train[t], int(y_train[t]))
        want = gold.train_sample(x_train[t], int(y_train[t]))
        correct += want == y_train[t]
        if pred != want:
            finish(first_mismatch={"sample": t, "what": "prediction", "expected": want,
                                   "got": pred})
            assert False, f"sample {t}: prediction {pred}, golden model {want}"
        if (t + 1) % check_every == 0 or t == n - 1:
            mismatch = compare_states(gold.state(), peek.state())
            if mismatch:
                finish(samples=t + 1, first_mismatch=where(mismatch, sample=t))
                assert False, f"sample {t}: {mismatch}"
        if t + 1 == steady_n:
            steady = await dev.read_counters()
        if prm.get("progress") and ((t + 1) % max(1, n // 10) == 0 or t == n - 1):
            print(f"[cosim] {t + 1}/{n} samples bit-exact, online accuracy "
                  f"{100 * correct / (t + 1):.1f} %", flush=True)
    train_cycles, train_wall = cycles_now() - c0, time.perf_counter() - w0
    counters = await dev.read_counters()
    await dev.end_epoch()
    gold.end_epoch()
    if steady is None and n:
        steady, steady_n = await dev.read_counters(), n
    mismatch = compare_states(gold.state(), peek.state())
    assert mismatch is None, f"after END_EPOCH: {mismatch}"

    # Inference: chip predictions equal the golden model's on the test samples.
    agree = test_correct = 0
    c1 = cycles_now()
    for t in range(len(y_test)):
        pred = await dev.infer(x_test[t])
        want = gold.infer(x_test[t])
        agree += pred == want
        test_correct += pred == y_test[t]
    infer_cycles = cycles_now() - c1
    assert agree == len(y_test), f"inference: {len(y_test) - agree} predictions differ"
    assert counters["samples"] == n and counters["correct"] == correct

    finish(bit_exact=True, samples=n,
           train_accuracy=correct / n if n else 0.0,
           test_samples=len(y_test),
           test_accuracy=test_correct / len(y_test) if len(y_test) else None,
           inference_matches_golden=True,
           busy_cycles=counters["busy_cycles"],
           cycles_per_sample_compute=steady["busy_cycles"] / steady_n if n else None,
           steady_state_samples=steady_n,
           steady_state_sweeps=-(-steady_n // cfg.batch),
           simulated_cycles=cycles_now(),
           simulation_wall_seconds=time.perf_counter() - run.t_wall,
           training_cycles=train_cycles, training_wall_seconds=train_wall,
           cycles_per_sample_with_uart=train_cycles / n if n else None,
           cycles_per_inference_with_uart=infer_cycles / len(y_test) if len(y_test) else None,
           ideal_cycles_per_sample=cfg.ideal_cycles_per_sample())
    await RisingEdge(dut.clk)


@cocotb.test()
async def infer_only(dut):
    """The chip powers on in a given state (``state_<l>`` in the data, built into the counter
    bank's initial contents): its power-on counters and its predictions on the test samples
    must equal the golden model's in that state."""
    run = BenchRun()
    cfg, data, finish = run.cfg, run.data, run.finish
    dev, peek, gold = await run.connect(dut)
    gold.load_state([data[f"state_{l}"] for l in range(cfg.n_layers)])
    mismatch = compare_states(gold.state(), peek.state())
    if mismatch:
        finish(first_mismatch=where(mismatch, sample=-1))
        assert False, f"power-on state: {mismatch}"
    x_test = data["x_test"]
    preds, agree = [], 0
    for t in range(len(x_test)):
        pred = await dev.infer(x_test[t])
        preds.append(pred)
        agree += pred == gold.infer(x_test[t])
    finish(bit_exact=agree == len(x_test), predictions=preds, test_samples=len(x_test),
           inference_matches_golden=agree == len(x_test))
    assert agree == len(x_test), f"inference: {len(x_test) - agree} predictions differ"


@cocotb.test()
async def fuzz_protocol(dut):
    """Bad frames between good ones: exact error replies, zero state corruption."""
    import random

    from xnorlearn.sw import protocol as proto

    run = BenchRun(kinds={})
    prm, cfg, data, result, finish = run.prm, run.cfg, run.data, run.result, run.finish
    x, y = data["x_train"], data["y_train"]
    rng = random.Random(prm.get("seed", 1))
    rounds = int(prm.get("rounds", 200))
    dev, peek, gold = await run.connect(dut)
    transport = dev.transport
    model = proto.RequestReceiver(cfg)
    limit = proto.max_payload(cfg)
    good_trained = 0

    def train_frame(t):
        return proto.encode_frame(proto.Command.TRAIN,
                                  proto.train_request(cfg, x[t % len(y)], int(y[t % len(y)])))

    for r in range(rounds):
        t = r
        frame = bytearray(train_frame(t))
        kind = rng.choice(["flip", "truncate", "garbage", "oversize", "stopbit", "unknown",
                           "badlen"])
        stop_bits = None
        if kind == "flip":                        # 1-3 bit errors anywhere, sync and CRC too
            for _ in range(rng.randint(1, 3)):
                frame[rng.randrange(len(frame))] ^= 1 << rng.randrange(8)
            burst = bytes(frame)
        elif kind == "truncate":                  # the frame stops arriving
            burst = bytes(frame[:rng.randrange(1, len(frame))])
        elif kind == "garbage":                   # noise, may contain sync bytes
            burst = bytes(rng.randrange(256) for _ in range(rng.randint(1, 40)))
        elif kind == "oversize":
            n = rng.randint(limit + 1, 0xFFFF)
            burst = bytes([proto.SYNC_HOST, proto.Command.TRAIN, n & 255, n >> 8]) + \
                bytes(rng.randrange(256) for _ in range(rng.randint(0, 8)))
        elif kind == "unknown":
            burst = proto.encode_frame(rng.choice([0, 0x1F, 0x42, 0xFF]), b"\x01\x02")
        elif kind == "badlen":                    # good CRC, wrong length for TRAIN
            burst = proto.encode_frame(proto.Command.TRAIN, bytes(frame[4:-3]))
        else:                                     # UART framing error: that byte is dropped
            burst = bytes(frame)
            stop_bits = [1] * len(burst)
            stop_bits[rng.randrange(len(burst))] = 0
        received = bytes(b for i, b in enumerate(burst)
                         if stop_bits is None or stop_bits[i])
        events = [e for e in (model.byte(b) for b in received) if e is not None]
        quiet = model.silence()
        expected = events + ([quiet] if quiet is not None else [])
        result["kinds"][kind] = result["kinds"].get(kind, 0) + 1

        await transport.inject(burst, stop_bits)
        await transport.idle(100)
        # every expected reply; good frames among the events are executed by both
        decoder = proto.FrameDecoder(sync=proto.SYNC_DEVICE,
                                     max_payload=proto.max_reply_payload(cfg))
        # collect every reply: stop after a quiet spell longer than any command's execution
        replies = []
        quiet_s = (4 * cfg.ideal_cycles_per_sample() + 2 * cfg.n_weights + 20_000) * 10e-9
        while True:
            chunk = await transport.read(1, quiet_s)
            if not chunk:
                break
            replies += [f for f in decoder.feed(chunk) if isinstance(f, proto.Frame)]
        got = [f.code for f in replies]
        want = []
        for e in expected:
            if isinstance(e, proto.Frame):
                assert e.code == proto.Command.TRAIN, f"round {r}: unexpected request {e}"
                label, bits = e.payload[0], proto.unpack_sample(e.payload[1:], cfg.n_inputs)
                gold.train_sample(bits, label)
                good_trained += 1
                want.append(proto.Status.OK)
            else:
                want.append(int(e))
        if kind == "stopbit":
            # A stop-bit error can also swallow the next byte's start bit, so the receiver may
            # lose alignment for a byte or two: demand an error reply (at most one), never OK.
            ok = len(got) <= 1 and proto.Status.OK not in got and \
                proto.Status.OK not in want
        else:
            ok = got == want
        if not ok:
            finish(first_mismatch={"round": r, "kind": kind, "burst": burst.hex(),
                                   "expected": want, "got": got})
            assert False, f"round {r} ({kind}): replies {got}, expected {want}"
        # a good frame right after works, and no corruption reached the state
        p = await dev.train_sample(x[t % len(y)], int(y[t % len(y)]))
        assert p == gold.train_sample(x[t % len(y)], int(y[t % len(y)])), f"round {r}"
        good_trained += 1
        mismatch = compare_states(gold.state(), peek.state())
        if mismatch:
            finish(first_mismatch=where(mismatch, round=r, kind=kind))
            assert False, f"round {r} ({kind}): {mismatch}"
    c = await dev.read_counters()
    assert c["samples"] == good_trained, (c, good_trained)
    finish(bit_exact=True, samples=good_trained, rounds=rounds, resends=dev.resends)


@cocotb.test()
async def resume_epochs(dut):
    """Checkpoint and resume on the chip, bit for bit (``extra``: ``epochs``, ``resume_after``).

    Straight: ``epochs`` epochs of the training loop (hw-spec §9: tables from last epoch's
    accuracy, the epoch order, END_EPOCH, test accuracy), the counters compared with the golden
    model after every epoch, a checkpoint file written after epoch ``resume_after``. Then a
    "power cycle" — INIT with another seed and a few junk samples, so counters, classifiers
    and batch number are all wrong — the checkpoint is loaded from its file and restored
    (INIT, WRITE_STATE, SET_BATCH), and the remaining epochs run again. Both runs' per-epoch
    accuracies and final counters must equal the golden model's."""
    import tempfile

    from xnorlearn.sw import checkpoint
    from xnorlearn.sw.driver import ChipTrainer
    from xnorlearn.sw.train import epoch_order

    run = BenchRun()
    prm, cfg, data, finish = run.prm, run.cfg, run.data, run.finish
    x, y, xt, yt = data["x_train"], data["y_train"], data["x_test"], data["y_test"]
    epochs, resume_after = int(prm["epochs"]), int(prm["resume_after"])
    dev, peek, gold = await run.connect(dut)
    chip = ChipTrainer(dev, cfg)
    await chip.init()

    async def train_epochs(first, last, accuracy, check):
        out = []
        for e in range(first, last):
            await chip.set_accuracy(accuracy)
            await chip.reset_counters()
            await chip.train(x, y, epoch_order(cfg.seed, e, len(y)))
            await chip.end_epoch()
            accuracy = chip.train_accuracy
            out.append((accuracy, await chip.evaluate(xt, yt)))
            await check(e, out[-1])
        return out

    golden = []

    async def lockstep(e, chip_acc):
        gold.set_accuracy(golden[-1][0] if golden else 0.0)
        gold.reset_counters()
        gold.train(x, y, epoch_order(cfg.seed, e, len(y)))
        gold.end_epoch()
        golden.append((gold.train_accuracy, gold.evaluate(xt, yt)))
        mismatch = compare_states(gold.state(), peek.state())
        if mismatch or chip_acc != golden[-1]:
            finish(first_mismatch=where(mismatch, epoch=e) if mismatch else
                   {"epoch": e, "what": "accuracy", "expected": golden[-1], "got": chip_acc})
            assert False, f"epoch {e}: {mismatch or 'accuracies differ'}"
        if e + 1 == resume_after:
            c = await dev.read_counters()
            ck = checkpoint.Checkpoint(
                config=cfg, variant="hw", epoch=e + 1, counters=await dev.state(),
                classifiers=[gold.classifier(l) for l in range(cfg.n_layers)],
                ctrl=np.array([c["batch_number"], c["since_boundary"]], dtype=np.int64),
                tables=np.array(chip.tables, dtype=np.int64),
                history=[{"epoch": i + 1, "train_accuracy": a, "test_accuracy": t}
                         for i, (a, t) in enumerate(golden)], target="sim")
            checkpoint.save(ck, ck_path)

    ck_path = tempfile.mktemp(suffix=".npz")
    straight = await train_epochs(0, epochs, 0.0, lockstep)
    final = peek.state()

    # power cycle: wrong seed, a few junk samples (counters, classifiers, batch number moved)
    await dev.init(cfg.seed ^ 0x5A5A5A5A)
    for t in range(min(3, len(y))):
        await dev.train_sample(x[t], int(y[t]))
    await dev.end_epoch()
    ck = checkpoint.load(ck_path)
    await chip.restore(ck)
    mismatch = compare_states(ck.counters, peek.state())
    assert mismatch is None, f"after restore: {mismatch}"

    async def no_check(e, acc):
        pass
    resumed = await train_epochs(resume_after, epochs, ck.last_train_accuracy, no_check)
    mismatch = compare_states(final, peek.state())
    if mismatch or resumed != straight[resume_after:]:
        finish(first_mismatch=where(mismatch, what="resumed") if mismatch else
               {"what": "resumed accuracies", "expected": straight[resume_after:],
                "got": resumed})
        assert False, f"resumed run differs: {mismatch or resumed}"
    finish(bit_exact=True, samples=len(y) * (2 * epochs - resume_after),
           epochs_straight=straight, epochs_resumed=resumed, epochs_golden=golden,
           simulated_cycles=cycles_now(),
           simulation_wall_seconds=time.perf_counter() - run.t_wall)


@cocotb.test()
async def train_store_lockstep(dut):
    """Training from the data store: STORE_INFO, TRAIN_STORE over ``epochs`` epochs (the first
    in two ranges), EVAL_STORE, each through the UART with the host driver. The bench watches
    the core's reply byte (``rsp_data`` rising) to know when a record the runner fed has been
    trained, steps the golden model with the same record (``prng.epoch_order``) and compares
    every counter there. Last, a corrupted header byte (written into the simulated store)
    must make STORE_INFO answer UNREADABLE and TRAIN_STORE BAD_STORE, training nothing."""
    from cocotb.triggers import ClockCycles, ReadOnly

    from xnorlearn.hw.store import header_fields
    from xnorlearn.sw import prng
    from xnorlearn.sw import protocol as proto

    run = BenchRun()
    prm, cfg, data, finish = run.prm, run.cfg, run.data, run.finish
    x_train, y_train = data["x_train"], data["y_train"]
    x_test, y_test = data["x_test"], data["y_test"]
    n, n_test = len(y_train), len(y_test)
    epochs, seed = int(prm["epochs"]), int(prm["order_seed"])
    flash = prm.get("store_reader") == "flash"
    sdram = prm.get("store_reader") == "sdram"
    root = dut.trainer if flash or sdram else dut   # TrainerTop in the design's hierarchy
    dev, peek, gold = await run.connect(dut, root)
    await run.start(dev, peek, gold)

    fill = {}
    if sdram:
        # the SDRAM starts empty (refused), the host fills it over the UART
        from xnorlearn.sw.store import fill_store
        image = proto.store_image(cfg, x_train, y_train, x_test, y_test,
                                  prm.get("store_identity", ""))
        verdict, _ = await dev.store_info()
        assert verdict == proto.StoreCheck.UNREADABLE, f"empty SDRAM: verdict {verdict!r}"
        c = cycles_now()
        r = await fill_store(dev, image, cfg)
        assert not r.skipped
        fill = {"fill_bytes": r.bytes, "fill_frames": r.frames,
                "fill_cycles": cycles_now() - c}

    verdict, raw = await dev.store_info()
    header = proto.StoreHeader.parse(raw)
    assert verdict == 0, f"STORE_INFO verdict {verdict!r} on a good image"
    assert (header.n_train, header.n_test) == (n, n_test)

    watch = {"active": False, "queue": [], "done": 0, "mismatch": None, "start": None,
             "reply": None, "times": [], "checked": 0}
    check_every = int(prm.get("check_every", 1))

    async def watch_records():
        core = root.core
        while True:
            await RisingEdge(core.rsp_data__valid)
            if not watch["active"]:
                continue
            await ReadOnly()
            pred = int(core.rsp_data__payload.value)
            watch["times"].append(cycles_now())
            for _ in range(4):              # the bank commits the sample's last writes
                await RisingEdge(dut.clk)
            if watch["mismatch"] or not watch["queue"]:
                continue
            i, t = watch["queue"].pop(0)
            want = gold.train_sample(x_train[i], int(y_train[i]))
            if pred != want:
                watch["mismatch"] = {"sample": t, "record": int(i), "what": "prediction",
                                     "expected": want, "got": pred}
                continue
            if (t + 1) % check_every == 0 or not watch["queue"]:
                mm = compare_states(gold.state(), peek.state())
                if mm:
                    watch["mismatch"] = where(mm, sample=t, record=int(i))
                watch["checked"] += 1
            watch["done"] += 1

    async def watch_runner():
        while True:
            await RisingEdge(root.runner.busy)
            start = cycles_now()
            await RisingEdge(root.runner.host__rsp__valid)
            if watch["active"]:
                watch["start"], watch["reply"] = start, cycles_now()

    # watch_records=False (long campaigns): no per-record work in Python; the golden model
    # trains each TRAIN_STORE range in bulk and the counters and the correct count are
    # compared at the end of every range
    per_record = bool(prm.get("watch_records", True))
    if per_record:
        cocotb.start_soon(watch_records())
    cocotb.start_soon(watch_runner())

    per_sample_s = (4 * cfg.ideal_cycles_per_sample() + 2 * cfg.n_weights) * CLOCK_NS * 1e-9
    history, store_cycles, busy_cycles, t_global = [], 0, 0, 0
    steady_cycles = steady_n = 0
    c0, w0 = cycles_now(), time.perf_counter()
    for e in range(epochs):
        order = prng.epoch_order(seed, e, n)
        ranges = [(0, n // 2), (n // 2, n - n // 2)] if e == 0 and n >= 2 else [(0, n)]
        correct = 0
        for first, count in ranges:
            watch["queue"] = [(int(order[first + k]), t_global + k) for k in range(count)]
            watch["times"] = []
            watch["active"] = True
            c = await dev.train_store(seed, e, first, count, busy_s=count * per_sample_s)
            await ClockCycles(dut.clk, 8)
            watch["active"] = False
            if not per_record:
                preds = gold.train(x_train, y_train, order[first:first + count])
                want = int((preds == y_train[order[first:first + count]]).sum())
                mm = compare_states(gold.state(), peek.state(check_signs=False))
                signs = None
                if mm is None:
                    try:
                        peek.state()
                    except AssertionError as err:
                        signs = str(err)
                if mm or signs or c != want:
                    last = t_global + count - 1
                    bad = (where(mm, sample=last, what="range end") if mm else
                           {"sample": last, "what": "sign copy", "expected": None,
                            "got": signs} if signs else
                           {"sample": last, "what": "correct count", "expected": want,
                            "got": int(c)})
                    finish(samples=t_global + count, first_mismatch=bad)
                    assert False, f"TRAIN_STORE epoch {e}: {bad}"
                watch["queue"], watch["done"] = [], t_global + count
                watch["checked"] += 1
            if watch["mismatch"]:
                finish(samples=watch["done"], first_mismatch=watch["mismatch"])
                assert False, f"TRAIN_STORE epoch {e}: {watch['mismatch']}"
            assert not watch["queue"], f"{len(watch['queue'])} records were not trained"
            correct += c
            t_global += count
            assert watch["done"] == t_global, "a record was not compared"
            store_cycles += watch["reply"] - watch["start"]
            times = watch["times"]
            if len(times) > 1:              # record to record: the runner's per-sample cost
                steady_cycles += times[-1] - times[0]
                steady_n += len(times) - 1
        counters = await dev.read_counters()
        assert counters["samples"] == n and counters["correct"] == correct \
            == gold.train_correct, (counters, correct, gold.train_correct)
        busy_cycles += counters["busy_cycles"]
        await dev.end_epoch()
        gold.end_epoch()
        mismatch = compare_states(gold.state(), peek.state())
        if mismatch:
            finish(samples=t_global, first_mismatch=where(mismatch, sample=t_global,
                                                           what="end_epoch"))
            assert False, f"after END_EPOCH {e}: {mismatch}"
        acc = correct / n
        history.append({"epoch": e, "train_accuracy": acc, "correct": int(correct)})
        if prm.get("progress"):
            print(f"[cosim] epoch {e}: {n} records trained from the store, bit-exact, "
                  f"accuracy {100 * acc:.1f} %", flush=True)
        gold.set_accuracy(acc)
        await dev.set_tables(gold.tables)
        gold.reset_counters()
        await dev.reset_counters()
    train_cycles, train_wall = cycles_now() - c0, time.perf_counter() - w0

    test_correct = await dev.eval_store(proto.SPLIT_TEST, 0, n_test,
                                        busy_s=n_test * per_sample_s) if n_test else 0
    gold_test = int((gold.predict(x_test) == y_test).sum()) if n_test else 0
    assert test_correct == gold_test, f"EVAL_STORE: {test_correct} correct, golden {gold_test}"
    train_eval = await dev.eval_store(proto.SPLIT_TRAIN, 0, n, busy_s=n * per_sample_s)
    assert train_eval == int((gold.predict(x_train) == y_train).sum())

    # a corrupted header is refused and trains nothing
    # (the flash model holds the whole flash, the memory reader the image alone, the SDRAM
    # model 16-bit words from the image's start)
    mem = dut.flash.mem if flash else dut.sdram.mem if sdram else root.reader.mem
    p = header_fields()["n_train"][0] + (int(prm["store_base"]) if flash else 0)
    flip = 1
    if sdram:
        p, flip = p // 2, 1 << 8 * (p % 2)
    old = int(mem[p].value)
    mem[p].value = old ^ flip
    await ClockCycles(dut.clk, 2)
    verdict, _ = await dev.store_info()
    assert verdict == proto.StoreCheck.UNREADABLE, verdict
    try:
        await dev.train_store(seed, 0, 0, 1)
        refused = False
    except proto.DeviceError as err:
        refused = err.status == proto.Status.BAD_STORE
    assert refused, "TRAIN_STORE on a corrupt header was not refused with BAD_STORE"
    assert compare_states(gold.state(), peek.state()) is None
    mem[p].value = old
    await ClockCycles(dut.clk, 2)
    assert (await dev.store_info())[0] == 0

    if flash and int(dut.flash_error.value):
        code = int(dut.flash_error_code.value)
        finish(first_mismatch={"what": "flash protocol", "error_code": code})
        assert False, f"the flash model saw a protocol violation (FlashError {code})"
    if sdram and int(dut.sdram_error.value):
        code = int(dut.sdram_error_code.value)
        finish(first_mismatch={"what": "SDRAM protocol", "error_code": code})
        assert False, f"the SDRAM model saw a protocol or timing violation (SdramError {code})"
    total = n * epochs
    finish(bit_exact=True, samples=total, epochs=history,
           train_accuracy=history[-1]["train_accuracy"] if history else None,
           test_samples=n_test, test_accuracy=test_correct / n_test if n_test else None,
           golden_test_accuracy=gold_test / n_test if n_test else None,
           corrupt_header_refused=True, store_reader=prm.get("store_reader"),
           flash_mode=prm.get("flash_mode"), flash_errors=0 if flash else None,
           sdram_errors=0 if sdram else None, **fill,
           cycles_per_sample_store=store_cycles / total if total else None,
           cycles_per_sample_store_steady=steady_cycles / steady_n if steady_n else None,
           records_compared=watch["done"], states_compared=watch["checked"],
           check_every=check_every,
           cycles_per_sample_compute=busy_cycles / total if total else None,
           simulated_cycles=cycles_now(),
           simulation_wall_seconds=time.perf_counter() - run.t_wall,
           training_cycles=train_cycles, training_wall_seconds=train_wall,
           ideal_cycles_per_sample=cfg.ideal_cycles_per_sample())
    await RisingEdge(dut.clk)


@cocotb.test()
async def no_store_unknown(dut):
    """A design built without a data store answers STORE_INFO, TRAIN_STORE and EVAL_STORE
    with UNKNOWN, and trains on as before."""
    from xnorlearn.sw import protocol as proto

    run = BenchRun()
    dev, peek, gold = await run.connect(dut)
    got = []
    for name, args in (("store_info", ()), ("train_store", (1, 0, 0, 1)),
                       ("eval_store", (proto.SPLIT_TEST, 0, 1))):
        try:
            await getattr(dev, name)(*args)
            got.append("OK")
        except proto.DeviceError as err:
            got.append(getattr(err.status, "name", str(err.status)))
    x, y = run.data["x_train"], run.data["y_train"]
    pred = await dev.train_sample(x[0], int(y[0]))
    want = gold.train_sample(x[0], int(y[0]))
    mismatch = compare_states(gold.state(), peek.state())
    ok = got == ["UNKNOWN"] * 3 and pred == want and mismatch is None
    run.finish(bit_exact=ok, samples=1, store_commands=got,
               first_mismatch=None if mismatch is None else where(mismatch, sample=0))
    assert ok, f"store commands answered {got}; training after them: {mismatch or 'ok'}"
