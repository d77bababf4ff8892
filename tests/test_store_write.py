"""The writable data store (the ULX3S's SDRAM, filled by the host with STORE_WRITE): the
protocol's payload, the runner in Amaranth's simulator with a writable MemoryReader, the host's
fill plan (header last), the board emulator and the CLI's ``--store-medium sdram`` flow with its
refusals."""

import numpy as np
import pytest
from amaranth.sim import Simulator

from xnorlearn.hw.store import STORE_WINDOW, MemoryReader, StoreRunner, request_fields
from xnorlearn.hw.trainer import Cmd, Status
from xnorlearn.sim.core_harness import CoreDriver, CoreHarness
from xnorlearn.sim.store_harness import StoreDriver, StoreHarness
from xnorlearn.sw import prng
from xnorlearn.sw import protocol as proto
from xnorlearn.sw.config import Config
from xnorlearn.sw.model import HwModel, compare_states
from xnorlearn.sw.store import fill_plan

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
    sim = Simulator(harness)
    sim.add_clock(1e-8)
    out = {}

    async def tb(ctx):
        out["v"] = await bench(StoreDriver(harness, cfg, ctx, on_sample))

    sim.add_testbench(tb)
    sim.run()
    return out.get("v")


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
            while not ctx.get(dut.wcmd.ready):
                await ctx.tick()
            ctx.set(dut.wcmd.p.addr, addr)
            ctx.set(dut.wcmd.p.length, len(payload))
            ctx.set(dut.wcmd.valid, 1)
            await ctx.tick()
            ctx.set(dut.wcmd.valid, 0)
            for b in payload:
                if stall:
                    for _ in range(2):
                        await ctx.tick()
                ctx.set(dut.wdata.payload, b)
                ctx.set(dut.wdata.valid, 1)
                while not ctx.get(dut.wdata.ready):
                    await ctx.tick()
                await ctx.tick()
                ctx.set(dut.wdata.valid, 0)
            assert not ctx.get(dut.busy)

        async def read(addr, n):
            while not ctx.get(dut.cmd.ready):
                await ctx.tick()
            ctx.set(dut.cmd.p.addr, addr)
            ctx.set(dut.cmd.p.length, n)
            ctx.set(dut.cmd.valid, 1)
            await ctx.tick()
            ctx.set(dut.cmd.valid, 0)
            ctx.set(dut.data.ready, 1)
            out = bytearray()
            while len(out) < n:
                if ctx.get(dut.data.valid):
                    out.append(ctx.get(dut.data.payload))
                await ctx.tick()
            ctx.set(dut.data.ready, 0)
            assert not ctx.get(dut.busy)
            return bytes(out)

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
