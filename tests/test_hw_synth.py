"""Synthesis smoke tests (Yosys only) of every block for iCE40 and ECP5.

The counter bank must land in block RAM (SB_RAM40_4K / DP16KD), not in flip-flops.
"""

import pytest

from xnorlearn.hw.generate import BLOCKS, generate, top_name
from xnorlearn.sim.synth import summarise, synth_cells
from xnorlearn.sw.config import Config

pytestmark = pytest.mark.synth

# Small but realistic: 8 lanes, 8-bit counters, layer 0 = 64 inputs x 32 neurons.
CFG = Config(n_inputs=64, layers=(32, 32), n_classes=10, group_sizes=8, lanes=8)


@pytest.mark.parametrize("family", ["ice40", "ecp5"])
@pytest.mark.parametrize("block", list(BLOCKS))
def test_block_synthesizes(block, family):
    cells = synth_cells(generate(CFG, block), top_name(block), family)
    size = summarise(cells, family)
    assert size["LUT"] > 0, cells
    if block == "counters":
        # 32 neurons x 8 beats = 256 words of 8 x 8 bits: block RAM, and only pipeline FFs.
        assert size["RAM"] >= 1, cells
        assert size["FF"] < 8 * 8 * 8, f"counters look like flip-flops: {cells}"
    elif block == "counters_rows":
        # 16 384 bits of counters in block RAM; the pipeline's registers (command in four
        # stages, row word, OR, four forwarded writes) are ~ 800 FFs
        assert size["RAM"] >= 1, cells
        assert size["FF"] < 2048, f"counters look like flip-flops: {cells}"
    elif block in ("core", "trainer"):
        # 64x32 + 32x32 8-bit counters = 24 576 bits: they must sit in block RAM
        assert size["RAM"] >= 2, cells
        assert size["FF"] < CFG.n_weights * CFG.counter_bits // 8, \
            f"counters look like flip-flops: {cells}"
    elif block == "sweep":
        # the skip-table levels are small memories (EBR / LUT RAM / flip-flops, Yosys' choice)
        assert size["FF"] < 600, cells
    elif block == "link":
        pass          # its small payload buffer may become EBR (iCE40) or LUT RAM (ECP5)
    else:
        assert size["RAM"] == 0, cells
