"""The fast co-simulation path: the host link without its UART (byte rings), the clock made
in the design, and Verilator builds that expose only the signals the benches use."""

import pytest

from xnorlearn.hw.link import HostLink
from xnorlearn.sim.byte_link import RING_BYTES, ByteRings
from xnorlearn.sim.harness import generated_clock, run_amaranth
from xnorlearn.sw import protocol as proto
from xnorlearn.sw.config import Config

CFG = Config(n_inputs=64, layers=(16,), group_sizes=(4,), n_classes=10, lanes=8)


# ------------------------------------------------------------------------ generated clock
VERILOG = """module other(clk, a);
  input clk;
  wire clk;
  input a;
endmodule
module top(clk, rst, q);
  input clk;
  wire clk;
  input rst;
  output q;
endmodule
"""


def test_generated_clock_replaces_the_top_modules_clk_port_only():
    out = generated_clock(VERILOG, "top", 10)
    top = out[out.index("module top"):]
    assert top.startswith("module top(rst, q);")
    assert "reg clk = 1'b1;" in top and "always #5 clk = ~clk;" in top
    assert "input clk;" not in top
    assert out.startswith("module other(clk, a);\n  input clk;")     # untouched


def test_generated_clock_refuses_what_it_cannot_do():
    with pytest.raises(ValueError, match="no module nope"):
        generated_clock(VERILOG, "nope")
    with pytest.raises(ValueError, match="even"):
        generated_clock(VERILOG, "top", 7)


# ------------------------------------------------------------------------ HostLink(phy=bytes)
def _exchange(dut, frames, *, rx, tx, cycles):
    """Feed ``frames`` into ``rx`` one byte per cycle (its ready must be 1) and return the
    bytes seen on ``tx`` (always ready) within ``cycles`` cycles."""
    data = b"".join(frames)
    out = bytearray()

    async def bench(ctx):
        ctx.set(tx.ready, 1)
        i = 0
        for _ in range(cycles):
            if i < len(data):
                ctx.set(rx.valid, 1)
                ctx.set(rx.payload, data[i])
            else:
                ctx.set(rx.valid, 0)
            _, _, rdy, tv, tp = await ctx.tick().sample(rx.ready, tx.valid, tx.payload)
            if i < len(data) and rdy:
                i += 1
            if tv:
                out.append(tp)
        assert i == len(data), "the link did not take every byte"

    run_amaranth(dut, bench, name="byte_link")
    return bytes(out)


def test_host_link_with_byte_phy_answers_identify_and_refuses_a_bad_crc():
    link = HostLink(CFG, phy="bytes")
    assert not hasattr(link, "rx") and not hasattr(link, "tx")
    good = proto.encode_frame(proto.Command.IDENTIFY)
    bad = bytearray(proto.encode_frame(proto.Command.IDENTIFY))
    bad[-1] ^= 0x40
    # an error reply waits for the line to be quiet for FRAME_TIMEOUT_BITS bit periods
    cycles = proto.FRAME_TIMEOUT_BITS * CFG.uart_divisor + 2000
    out = _exchange(link, [good, bytes(bad)], rx=link.rx_byte, tx=link.tx_byte, cycles=cycles)
    events = proto.FrameDecoder().feed(out)
    assert [type(e) for e in events] == [proto.Frame, proto.Frame]
    assert events[0] == proto.Frame(proto.Status.OK, proto.identify_reply_payload(CFG))
    assert events[1] == proto.Frame(proto.Status.BAD_CRC, b"")


def test_host_link_phy_is_checked():
    with pytest.raises(ValueError, match="phy"):
        HostLink(CFG, phy="spi")


# ------------------------------------------------------------------------ the rings
def test_byte_rings_feed_written_bytes_in_order_and_collect_replies():
    rings = ByteRings()
    sent = bytes(range(200, 256)) + bytes(range(0, 40))

    async def bench(ctx):
        # the host wrote its bytes just below the wrap of the ring
        start = RING_BYTES - 20
        for i, b in enumerate(sent):
            ctx.set(rings.rx_ring.data[(start + i) % RING_BYTES], b)
        ctx.set(rings.rx_taken, start)   # as if `start` bytes had gone before
        ctx.set(rings.rx_end, start)
        await ctx.tick()
        assert not ctx.get(rings.rx.valid)
        ctx.set(rings.rx_end, start + len(sent))
        got, k = [], 0
        ctx.set(rings.rx.ready, 1)
        for cycle in range(3 * len(sent)):
            # take bytes in bursts, and loop every taken byte back as a reply byte
            ctx.set(rings.rx.ready, cycle % 3 != 2)
            ctx.set(rings.tx.valid, 0)
            if got and k < len(got):
                ctx.set(rings.tx.valid, 1)
                ctx.set(rings.tx.payload, got[k])
                k += 1
            v, r, p = ctx.get(rings.rx.valid), ctx.get(rings.rx.ready), ctx.get(rings.rx.payload)
            await ctx.tick()
            if v and r:
                got.append(p)
        assert bytes(got) == sent
        assert ctx.get(rings.rx_taken) == start + len(sent)
        assert ctx.get(rings.tx_end) == k
        assert bytes(ctx.get(rings.tx_ring.data[i]) for i in range(k)) == sent[:k]

    run_amaranth(rings, bench, name="byte_rings")


# ------------------------------------------------------------------------ co-simulation
@pytest.mark.cosim
def test_byte_link_cosim_is_bit_exact_with_the_compute_cycles_of_the_uart_path():
    """The same trainer through its UART and through the byte rings: both bit-exact after
    every sample, and the core's busy cycles per sample equal (the link never stalls it)."""
    from xnorlearn.sim.cosim import run_cosim
    from xnorlearn.sw.datasets import load_dataset
    ds = load_dataset("digits", encoding="median")
    cfg = CFG.replace(batch=20, uart_divisor=4)
    runs = {link: run_cosim(cfg, ds.x_train[:60], ds.y_train[:60], ds.x_test[:10],
                            ds.y_test[:10], progress=False, quiet=True, link=link)
            for link in ("uart", "bytes")}
    for r in runs.values():
        assert r["bit_exact"] and r["samples"] == 60 and r["inference_matches_golden"]
        assert r["training_cycles"] > 0 and r["cycles_per_second"] > 0
    assert runs["bytes"]["busy_cycles"] == runs["uart"]["busy_cycles"]
    assert runs["bytes"]["train_accuracy"] == runs["uart"]["train_accuracy"]
    # bytes cost one cycle each instead of 10 bit periods
    assert runs["bytes"]["cycles_per_sample_with_uart"] < runs["uart"]["cycles_per_sample_with_uart"]
