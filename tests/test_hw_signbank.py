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
