"""hw/bram.py registered_read: a read-first synchronous read port (one cycle of latency, held
while ``en`` is low) in Amaranth's simulator, and the attributes synthesis relies on."""

import random

from amaranth import Module
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out
from amaranth.sim import Simulator

from xnorlearn.hw.bram import NO_INIT_PREFIX, registered_read
from xnorlearn.sim.synth import YOSYS_AFTER_READ


class _Dut(wiring.Component):
    raddr: In(4)
    ren: In(1)
    waddr: In(4)
    wdata: In(8)
    wen: In(1)
    rdata: Out(8)

    def __init__(self, init):
        self.mem = Memory(shape=8, depth=16, init=init)
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        m.submodules.mem = self.mem
        rd = registered_read(m, self.mem, "test", en=self.ren)
        wr = self.mem.write_port()
        m.d.comb += [rd.addr.eq(self.raddr), self.rdata.eq(rd.data),
                     wr.addr.eq(self.waddr), wr.data.eq(self.wdata), wr.en.eq(self.wen)]
        return m


def test_registered_read_is_read_first_and_holds():
    rng = random.Random(3)
    model = [rng.getrandbits(8) for _ in range(16)]
    dut = _Dut(list(model))
    assert dut.mem.attrs.get("no_rw_check") is None          # set when the port is built

    async def bench(ctx):
        held = None
        for _ in range(300):
            raddr, ren = rng.randrange(16), rng.random() < 0.7
            waddr, wen, wdata = rng.randrange(16), rng.random() < 0.5, rng.getrandbits(8)
            ctx.set(dut.raddr, raddr)
            ctx.set(dut.ren, ren)
            ctx.set(dut.waddr, waddr)
            ctx.set(dut.wen, wen)
            ctx.set(dut.wdata, wdata)
            expected = model[raddr] if ren else held      # the old word (read-first in
                                                          # simulation; callers never collide)
            await ctx.tick()
            if wen:
                model[waddr] = wdata
            if expected is not None:
                assert ctx.get(dut.rdata) == expected
            held = expected

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    assert dut.mem.attrs["no_rw_check"] == 1
    # the synthesis scripts drop the read register's power-on value
    assert f"setattr -unset init w:{NO_INIT_PREFIX}*" in YOSYS_AFTER_READ
