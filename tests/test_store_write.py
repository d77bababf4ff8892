"""The writable data store (the ULX3S's SDRAM, filled by the host with STORE_WRITE): the
protocol's payload, the runner in Amaranth's simulator with a writable MemoryReader, the host's
fill plan (header last), the board emulator and the CLI's ``--store-medium sdram`` flow with its
refusals."""

import argparse
import dataclasses
import json

import numpy as np
import pytest
from amaranth.sim import Simulator

from xnorlearn.boards import registry
from xnorlearn.boards.cli import store_config
from xnorlearn.boards.emulator import BoardEmulator, SdramStore, execute
from xnorlearn.boards.program import check_store_fits
from xnorlearn.boards.registry import BOARDS, get_board

from xnorlearn.hw.store import STORE_WINDOW, MemoryReader, StoreRunner, request_fields
from xnorlearn.hw.trainer import Cmd, Status
from xnorlearn.sim.core_harness import CoreDriver, CoreHarness
from xnorlearn.sim.store_harness import StoreHarness, run_store_bench
from xnorlearn.sw import prng
from xnorlearn.sw import protocol as proto
from xnorlearn.sw.config import Config
from xnorlearn.sw.model import HwModel, compare_states
from xnorlearn.sw import store
from xnorlearn.sw.cli import main
from xnorlearn.sw.datasets import load_dataset
from xnorlearn.sw.driver import Device, SerialTransport, run_sync
from xnorlearn.sw.store import fill_plan

from conftest import give_bytes, one_line_error, request, take_bytes

# every test's images go to a cache of its own
pytestmark = pytest.mark.usefixtures("cache")

CFG = Config(n_inputs=20, layers=(8, 6), n_classes=3, group_sizes=(4, 3), counter_bits=3,
             batch=5, lanes=8, p_reinforce=1.0)


def data(cfg, n, seed):
    rng = np.random.default_rng(seed)
    return (rng.integers(0, 2, (n, cfg.n_inputs)).astype(np.uint8),
            rng.integers(0, cfg.n_classes, n))


def image_for(cfg, n_train=13, n_test=5, seed=0):
    xt, yt = data(cfg, n_train, seed)
    xe, ye = data(cfg, n_test, seed + 1)
    return proto.store_image(cfg, xt, yt, xe, ye, "toy/test"), (xt, yt, xe, ye)


def run(harness, bench, cfg=CFG, on_sample=None):
    return run_store_bench(harness, cfg, bench, on_sample)


# ---------------------------------------------------------------------------- protocol
def test_store_write_payload_and_lengths():
    p = proto.store_write_request(0x01020304, b"\xaa\xbb")
    assert p == bytes([4, 3, 2, 1, 0xAA, 0xBB])
    assert proto.parse_store_write_request(p) == (0x01020304, b"\xaa\xbb")
    assert request_fields(Cmd.STORE_WRITE) == [[0, 1, 2, 3]]
    with pytest.raises(ValueError):
        proto.store_write_request(0, b"")
    with pytest.raises(ValueError):
        proto.store_write_request(1 << 32, b"x")
    mp = proto.max_payload(CFG)
    assert proto.store_write_max_data(CFG) == mp - proto.STORE_WRITE_HEADER
    ok = [n for n in range(mp + 2) if proto.request_length_ok(CFG, Cmd.STORE_WRITE, n)]
    assert ok == list(range(proto.STORE_WRITE_HEADER + 1, mp + 1))
    assert Cmd.STORE_WRITE in proto.IDEMPOTENT and Cmd.STORE_WRITE == 0x0F
    assert proto.VERSION == 4
    assert proto.identify_reply_payload(CFG)[0] == proto.VERSION


def test_fill_plan_blanks_the_header_first_and_writes_it_last():
    image, _ = image_for(CFG)
    for chunk in (7, 64, 100, 1000):
        plan = fill_plan(image, chunk)
        assert all(1 <= len(d) <= chunk for _, d in plan)
        mem = bytearray(b"\x55" * len(image))
        for off, d in plan:
            mem[off:off + len(d)] = d
        assert bytes(mem) == image
        # the first frame wipes the magic, the header's bytes come last
        assert plan[0][0] == 0 and plan[0][1] == bytes(len(plan[0][1]))
        head = [k for k, (off, _) in enumerate(plan) if off < proto.STORE_HEADER_BYTES]
        n_head = -(-proto.STORE_HEADER_BYTES // chunk)
        assert head[1:] == list(range(len(plan) - n_head, len(plan)))
        assert plan[-1][0] == 0                 # the magic's piece is the very last frame
        # cut anywhere before the end, over an earlier valid image: never a readable header
        # (that could vouch for records that are not its own)
        other, _ = image_for(CFG, seed=9)
        for cut in range(1, len(plan) + 1):
            mem = bytearray(other)
            for off, d in plan[:cut]:
                mem[off:off + len(d)] = d
            if cut == len(plan):
                assert proto.StoreHeader.parse(bytes(mem)) == proto.StoreHeader.parse(image)
            else:
                with pytest.raises(proto.StoreError):
                    proto.StoreHeader.parse(bytes(mem))


# ---------------------------------------------------------------------------- MemoryReader
def test_memory_reader_writes_then_reads():
    dut = MemoryReader(b"\x01\x02", base=0x100, writable=True, depth=40)
    sim = Simulator(dut)
    sim.add_clock(1e-8)
    got = {}

    async def tb(ctx):
        async def write(addr, payload, stall=False):
            await request(ctx, dut.wcmd, addr, len(payload))
            await give_bytes(ctx, dut.wdata, payload, gap=lambda i: 2 if stall else 0)
            assert not ctx.get(dut.busy)

        async def read(addr, n):
            await request(ctx, dut.cmd, addr, n)
            out, _ = await take_bytes(ctx, dut.data, n)
            ctx.set(dut.data.ready, 0)
            assert not ctx.get(dut.busy)
            return out

        got["fresh"] = await read(0x100, 6)
        await write(0x102, b"\x10\x11\x12")
        await write(0x100 + 38, b"\x20\x21\x22\x23", stall=True)   # the last two fall off
        got["after"] = await read(0x100, 6)
        got["end"] = await read(0x100 + 37, 4)
    sim.add_testbench(tb)
    sim.run()
    assert got["fresh"][:6] == b"\x01\x02\x00\x00\x00\x00"
    assert got["after"] == b"\x01\x02\x10\x11\x12\x00"
    assert got["end"] == b"\x00\x20\x21\xff"


# ---------------------------------------------------------------------------- runner
def test_store_written_over_the_link_trains_bit_exact():
    """An empty writable store: STORE_INFO unreadable, TRAIN_STORE BAD_STORE; filled with
    STORE_WRITE frames (10 data bytes each, header last) it is accepted, and TRAIN_STORE /
    EVAL_STORE match the golden model record by record; writes past the capacity are BAD_ARG
    and change nothing."""
    seed, n_train = 31, 13
    image, (xt, yt, xe, ye) = image_for(CFG, n_train)
    depth = 256
    base = 0x40
    gold = HwModel(CFG)
    expect = []

    async def on_sample(d, k):
        i = expect.pop(0)
        gold.train_sample(xt[i], yt[i])
        assert compare_states(gold.state(), d.peek_state()) is None, f"record {i}"

    async def bench(d):
        st, v, raw = await d.store_info()
        assert st == Status.OK and v == proto.StoreCheck.UNREADABLE and raw == bytes(64)
        assert (await d.train_store(seed, 0, 0, 1))[0] == Status.BAD_STORE
        assert (await d.eval_store(proto.SPLIT_TEST, 0, 1))[0] == Status.BAD_STORE
        plan = fill_plan(image, 10)
        for k, (off, chunk) in enumerate(plan):
            assert await d.store_write(off, chunk) == Status.OK, (off, len(chunk))
            if k == len(plan) - 2:          # all but the header's last piece: still refused
                assert (await d.store_info())[1] == proto.StoreCheck.UNREADABLE
        st, v, raw = await d.store_info()
        assert (st, v, raw) == (Status.OK, 0, image[:64])
        # out of range: past the capacity by one byte, and an offset beyond 2**24
        assert await d.store_write(depth - 3, b"abcd") == Status.BAD_ARG
        assert await d.store_write(STORE_WINDOW + 5, b"a") == Status.BAD_ARG
        assert await d.store_write(prng.MASK32, b"a") == Status.BAD_ARG
        assert await d.store_write(depth - 4, b"\x00" * 4) == Status.OK   # the last bytes
        assert (await d.store_info())[1:] == (0, image[:64])
        order = prng.epoch_order(seed, 0, n_train)
        expect.extend(order)
        st, correct = await d.train_store(seed, 0, 0, n_train)
        assert st == Status.OK and not expect and correct == gold.train_correct
        d.on_sample = None
        st, c = await d.eval_store(proto.SPLIT_TEST, 0, len(ye))
        assert st == Status.OK and c == int((gold.predict(xe) == ye).sum())
        return True
    assert run(StoreHarness(CFG, b"", base, writable=True, depth=depth), bench,
               on_sample=on_sample)


def test_store_write_without_a_writable_store_is_unknown():
    image, _ = image_for(CFG)

    async def bench(d):
        st, r = await d.command(Cmd.STORE_WRITE, proto.store_write_request(0, b"\x01\x02"))
        assert (st, r) == (Status.UNKNOWN, b"")
        assert (await d.store_info())[1:] == (0, image[:64])      # the store is untouched
        return True
    assert run(StoreHarness(CFG, image, 0), bench)
    h = CoreHarness(CFG)                  # a design without any store
    sim = Simulator(h)
    sim.add_clock(1e-8)

    async def tb(ctx):
        d = CoreDriver(h, CFG, ctx)
        assert await d.command(Cmd.STORE_WRITE, proto.store_write_request(0, b"x")) == \
            (Status.UNKNOWN, b"")
    sim.add_testbench(tb)
    sim.run()


def test_runner_capacity_checks():
    with pytest.raises(ValueError, match="window"):
        StoreRunner(CFG, 0x100, proto.max_payload(CFG), writable=True, capacity=STORE_WINDOW)
    r = StoreRunner(CFG, 0, proto.max_payload(CFG), writable=True)
    plain = StoreRunner(CFG, 0, proto.max_payload(CFG))
    assert r.capacity == STORE_WINDOW and hasattr(r, "wr_cmd")
    assert not hasattr(plain, "wr_cmd")
    for x in (r, r.buf, plain, plain.buf):         # never built: no unused warning
        x._MustUse__silence = True


# ---------------------------------------------------------------------------- host + emulator
DIGITS = ["--dataset", "digits", "--encoding", "median", "--epochs", "1", "--no-progress"]


def small_cfg(ds):
    return Config(n_inputs=ds.n_inputs, layers=(32,), group_sizes=8, n_classes=ds.n_classes,
                  lanes=4, batch=50)


def test_registry_sdram_fields():
    for b in BOARDS.values():
        ulx3s = b.name.startswith("ulx3s")
        assert b.sdram_bytes == (32 << 20 if ulx3s else 0), b.name
        assert b.sdram_store_bytes == (STORE_WINDOW if ulx3s else 0) == (1 << 24 if ulx3s
                                                                          else 0)
        assert b.store_media == (("flash", "sdram") if ulx3s else ("flash",))
        d = b.to_dict()
        # the ULX3S keeps its store in SDRAM unless told otherwise
        assert b.store_medium == ("sdram" if ulx3s else "flash")
        assert d["sdram_bytes"] == b.sdram_bytes and d["store_medium_default"] == b.store_medium
        assert d["store_media"] == list(b.store_media)
        assert d["sdram_store_bytes"] == b.sdram_store_bytes
    with pytest.raises(registry.BoardError, match="icebreaker has no SDRAM.*ulx3s-85f"):
        get_board("icebreaker").check_store_medium("sdram")


def test_size_refusals_name_both_sizes():
    fashion = 64 + 70_000 * 99
    with pytest.raises(proto.StoreError, match=r"needs 6,930,064 bytes but ulx3s-85f's flash "
                                               r"has 1,048,576 bytes.*--store-medium sdram"):
        check_store_fits(get_board("ulx3s-85f"), fashion)
    check_store_fits(get_board("ulx3s-85f"), fashion, "sdram")         # fits the SDRAM
    with pytest.raises(proto.StoreError, match=r"needs 16,777,217 bytes but ulx3s-85f's "
                                               r"SDRAM store holds 16,777,216 bytes"):
        check_store_fits(get_board("ulx3s-85f"), STORE_WINDOW + 1, "sdram")
    with pytest.raises(proto.StoreError, match="SDRAM is not supported"):
        check_store_fits(get_board("upduino3"), fashion)


def test_emulator_sdram_store_commands(digits):
    cfg = small_cfg(digits)
    image = store.build_image(cfg, digits)
    m = HwModel(cfg)
    sd = SdramStore(1 << 20)
    st, r = execute(cfg, m, Cmd.STORE_INFO, b"", store=sd)
    assert st == Status.OK and proto.parse_store_info(r)[0] == proto.StoreCheck.UNREADABLE
    assert execute(cfg, m, Cmd.TRAIN_STORE, proto.train_store_request(1, 0, 0, 1),
                   store=sd) == (Status.BAD_STORE, b"")
    for off, d in fill_plan(image, proto.store_write_max_data(cfg)):
        assert execute(cfg, m, Cmd.STORE_WRITE, proto.store_write_request(off, d),
                       store=sd) == (Status.OK, b"")
    st, r = execute(cfg, m, Cmd.STORE_INFO, b"", store=sd)
    assert proto.parse_store_info(r) == (0, image[:64])
    assert execute(cfg, m, Cmd.STORE_WRITE, proto.store_write_request((1 << 20) - 1, b"ab"),
                   store=sd) == (Status.BAD_ARG, b"")
    assert execute(cfg, m, Cmd.TRAIN_STORE, proto.train_store_request(1, 0, 0, 10),
                   store=sd)[0] == Status.OK
    # a flash store, or none, does not take writes
    assert execute(cfg, m, Cmd.STORE_WRITE, proto.store_write_request(0, b"a"),
                   store=image)[0] == Status.UNKNOWN
    assert execute(cfg, m, Cmd.STORE_WRITE, proto.store_write_request(0, b"a"))[0] == \
        Status.UNKNOWN


def test_fill_skips_a_store_that_holds_the_image_and_refuses_an_interrupted_one(digits):
    """Through the emulator's pty: the first fill writes (pipelined), a second one finds the
    image there (STORE_INFO) and writes nothing; a fill cut off half-way (Ctrl-C) leaves the
    store UNREADABLE (the header is written last) until the next fill."""
    cfg = small_cfg(digits)
    image = store.build_image(cfg, digits)
    with BoardEmulator(cfg, sdram=STORE_WINDOW) as emu:
        with SerialTransport(emu.port, baudrate=3_000_000) as tr:
            dev = run_sync(Device.connect(tr, cfg))
            seen = []
            r = run_sync(store.fill_store(dev, image, cfg,
                                          progress=lambda d, t: seen.append((d, t))))
            plan = fill_plan(image, proto.store_write_max_data(cfg))
            assert not r.skipped and (r.bytes, r.frames) == (len(image), len(plan))
            assert emu.requests["STORE_WRITE"] == len(plan)
            assert seen[-1] == (len(image) + len(plan[0][1]), len(image) + len(plan[0][1]))
            r2 = run_sync(store.fill_store(dev, image, cfg))
            assert r2.skipped and emu.requests["STORE_WRITE"] == len(plan)
            # another image over it, cut off after half its frames
            other = store.build_image(cfg, load_dataset("digits", encoding="median", seed=7))
            half = fill_plan(other, proto.store_write_max_data(cfg))
            run_sync(dev.store_write_stream(half[:len(half) // 2]))
            verdict, raw = run_sync(dev.store_info())
            assert verdict == proto.StoreCheck.UNREADABLE
            with pytest.raises(proto.DeviceError, match="BAD_STORE"):
                run_sync(dev.train_store(1, 0, 0, 1))
            with pytest.raises(proto.StoreError, match="no usable image"):
                store.check_store_info(verdict, raw, cfg,
                                       proto.StoreHeader.parse(image))
            r3 = run_sync(store.fill_store(dev, image, cfg))
            assert not r3.skipped
            assert run_sync(dev.store_info()) == (0, image[:64])
            # out of range over the link: BAD_ARG
            with pytest.raises(proto.DeviceError, match="BAD_ARG"):
                run_sync(dev.store_write(STORE_WINDOW - 1, b"ab"))


def _epochs(path):
    return [(e["train_accuracy"], e["test_accuracy"], e["reinforce_p"], e["tables"])
            for e in json.loads(path.read_text())["epochs"]]


def test_train_emulator_sdram_equals_golden_model(tmp_path, capsys):
    """`xnorlearn train --target emulator --board ulx3s-85f --store-medium sdram --dataset
    digits --epochs 2 --json OUT`: the image filled over the link, then the golden model's
    accuracies epoch by epoch."""
    out = tmp_path / "emu.json"
    assert main(["train", "--target", "emulator", "--board", "ulx3s-85f", "--store-medium",
                 "sdram", "--dataset", "digits", "--epochs", "2", "--json", str(out),
                 "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "filled the SDRAM store:" in text and "bytes/s" in text and "epoch   2/2" in text
    r = json.loads(out.read_text())
    assert (r["board"], r["data_source"], r["store"]["medium"]) == ("ulx3s-85f", "store",
                                                                    "sdram")
    assert r["store"]["fill"]["bytes"] == r["store"]["bytes"] and not r["store"]["fill"][
        "skipped"]
    cfg_path = tmp_path / "cfg.json"
    cfg_path.write_text(json.dumps(r["config"]))
    gold = tmp_path / "golden.json"
    assert main(["train", "--config", str(cfg_path), "--json", str(gold), "--no-progress",
                 "--dataset", "digits", "--epochs", "2"]) == 0
    assert _epochs(out) == _epochs(gold)


def test_sdram_cli_refusals_and_dry_run(capsys, monkeypatch):
    # a board without SDRAM
    assert main(["train", "--target", "emulator", "--board", "icebreaker", "--store-medium",
                 "sdram", *DIGITS]) == 2
    one_line_error(capsys, "icebreaker has no SDRAM", "ulx3s")
    assert main(["train", "--store-medium", "sdram", *DIGITS]) == 2
    one_line_error(capsys, "--store-medium only apply with --target board or emulator")
    assert main(["train", "--target", "emulator", "--board", "ulx3s-85f", "--data-source",
                 "uart", "--store-medium", "sdram", *DIGITS]) == 2
    one_line_error(capsys, "--store-medium only apply with --data-source store")
    # an image larger than the SDRAM window: both sizes named, before any link work
    small = dataclasses.replace(BOARDS["ulx3s-85f"], sdram_bytes=4096)
    monkeypatch.setitem(registry.BOARDS, "ulx3s-85f", small)
    assert main(["train", "--target", "emulator", "--board", "ulx3s-85f", "--store-medium",
                 "sdram", *DIGITS]) == 2
    one_line_error(capsys, "SDRAM store holds 4,096 bytes", "needs ")
    monkeypatch.undo()
    # the flash of a ULX3S too small: the message suggests the SDRAM
    tiny = dataclasses.replace(BOARDS["ulx3s-85f"], flash_bytes=(3 << 20) + 4096)
    monkeypatch.setitem(registry.BOARDS, "ulx3s-85f", tiny)
    assert main(["train", "--target", "emulator", "--board", "ulx3s-85f", "--store-medium",
                 "flash", *DIGITS]) == 2
    one_line_error(capsys, "has 4,096 bytes", "--store-medium sdram")
    monkeypatch.undo()
    # --dry-run: what the fill would do, nothing opened
    assert main(["train", "--target", "board", "--board", "ulx3s-85f", "--store-medium",
                 "sdram", "--dry-run", *DIGITS]) == 0
    out = capsys.readouterr().out
    assert out.startswith("would fill ") and "STORE_WRITE frames of up to 252 bytes" in out
    # build / fit: the board must have SDRAM; --flash-mode is for the flash store
    assert main(["fit", "--board", "icebreaker", "--store-medium", "sdram"]) == 2
    one_line_error(capsys, "icebreaker has no SDRAM")
    assert main(["fit", "--board", "ulx3s-85f", "--store-medium", "sdram"]) == 0
    capsys.readouterr()
    assert main(["fit", "--board", "ulx3s-85f", "--flash-mode", "quad"]) == 2
    one_line_error(capsys, "--flash-mode applies to the flash store", "--store-medium flash")
    assert main(["fit", "--board", "ulx3s-85f", "--store-medium", "flash", "--flash-mode",
                 "quad"]) == 0


def test_bitstream_without_an_sdram_store_is_a_clear_error(capsys):
    """`--target board --store-medium sdram` against a bitstream whose store is the flash (an
    emulator with a flash image) or that has none: one line says so (device error: exit 1)."""
    cfg_args = ["--layers", "32", "--group-size", "8"]
    ns = argparse.Namespace(board="ulx3s-85f", config=None, baud=None, inputs=None,
                            classes=None, layers="32", group_size="8", counter_bits=None,
                            batch=None, lanes=None, sweep_lanes=None, seed=None)
    ds = load_dataset("digits", encoding="median", seed=42)
    _, cfg = store_config(ns, ds)
    for emu_kw, needle in (({"store": bytes(64)}, "STORE_WRITE answered UNKNOWN"),
                           ({}, "STORE_INFO answered UNKNOWN")):
        with BoardEmulator(cfg, **emu_kw) as emu:
            rc = main(["train", "--target", "board", "--board", "ulx3s-85f", "--port",
                       emu.port, "--store-medium", "sdram", *cfg_args, *DIGITS])
        assert rc == 1
        one_line_error(capsys, "no SDRAM store", needle, "--store-medium flash")


def test_second_board_run_skips_the_fill(tmp_path, capsys):
    """Two `train --target board --store-medium sdram` runs against one powered board (one
    emulator instance): the first fills the SDRAM, the second finds the image there
    (STORE_INFO) and writes nothing; both train the same."""
    args = ["--layers", "32", "--group-size", "8"]
    ns = argparse.Namespace(board="ulx3s-85f", config=None, baud=None, inputs=None,
                            classes=None, layers="32", group_size="8", counter_bits=None,
                            batch=None, lanes=None, sweep_lanes=None, seed=None)
    _, cfg = store_config(ns, load_dataset("digits", encoding="median", seed=42))
    outs = [tmp_path / "a.json", tmp_path / "b.json"]
    with BoardEmulator(cfg, sdram=STORE_WINDOW) as emu:
        for k, out in enumerate(outs):
            assert main(["train", "--target", "board", "--board", "ulx3s-85f", "--port",
                         emu.port, "--store-medium", "sdram", "--json", str(out), *args,
                         *DIGITS]) == 0
            text = capsys.readouterr().out
            assert ("filled the SDRAM store:" in text) == (k == 0), text
            assert ("already holds this image" in text) == (k == 1), text
        writes = emu.requests["STORE_WRITE"]
    a, b = (json.loads(o.read_text()) for o in outs)
    assert a["store"]["fill"]["frames"] == writes and b["store"]["fill"]["skipped"]
    assert _epochs(outs[0]) == _epochs(outs[1])


def test_trainer_top_takes_a_writable_store():
    """The lead's wiring: StoreParams(..., writable=True) with a reader that has wcmd/wdata
    gives a TrainerTop whose runner executes STORE_WRITE (elaborates; the runner is writable,
    its capacity the given one)."""
    from amaranth.hdl import Fragment

    from xnorlearn.hw.store import StoreParams
    from xnorlearn.hw.top import TrainerTop
    params = StoreParams(0, lambda: MemoryReader(b"", 0, writable=True, depth=512),
                         writable=True, capacity=512)
    top = TrainerTop(CFG, store=params, phy="bytes")
    assert top.runner.writable and top.runner.capacity == 512
    Fragment.get(top, None)


def test_ctrl_c_during_the_fill_leaves_the_store_refused(capsys, monkeypatch, digits):
    """Ctrl-C half-way through the fill (the progress callback raises it): one line says the
    partial image is refused, and the chip's STORE_INFO says UNREADABLE (the header comes
    last), TRAIN_STORE BAD_STORE."""
    import time
    import types

    from xnorlearn.boards import cli as bcli

    def interrupt(self, done, total):
        self.done = done
        if done > total // 2:
            raise KeyboardInterrupt
    monkeypatch.setattr(bcli._FillProgress, "__call__", interrupt)
    cfg = small_cfg(digits)
    image = store.build_image(cfg, digits)
    with BoardEmulator(cfg, sdram=STORE_WINDOW) as emu:
        with SerialTransport(emu.port, baudrate=3_000_000) as tr:
            dev = run_sync(Device.connect(tr, cfg))
            with pytest.raises(KeyboardInterrupt):
                bcli.fill_sdram(types.SimpleNamespace(device=dev), image, cfg, emu.port)
            err = capsys.readouterr().err
            assert "SDRAM fill interrupted after" in err and "UNREADABLE" in err
            time.sleep(0.2)                         # the frames in flight are answered
            run_sync(dev._flush())
            verdict, _ = run_sync(dev.store_info())
            assert verdict == proto.StoreCheck.UNREADABLE
            with pytest.raises(proto.DeviceError, match="BAD_STORE"):
                run_sync(dev.train_store(1, 0, 0, 1))
            assert 0 < emu.requests["STORE_WRITE"] < len(fill_plan(
                image, proto.store_write_max_data(cfg)))
