"""The sample loader: a TRAIN / INFER sample's bytes → the first layer's input words.

:class:`SampleLoader` reads the ``ceil(N0 / 8)`` sample bytes (bit ``i`` of the sample is bit
``i mod 8`` of byte ``i div 8``, docs/host-protocol.md) from the payload buffer, after the label
byte if there is one, and writes them as ``forward_bits``-bit words at activation word 0 … . The
bits past ``N0`` must be 0 (the popcount does not mask them): the last byte is masked.

Two builds, by the activation memory's write granularity: with byte lanes (``forward_bits`` a
multiple of 8) every byte is written straight into its place, one per cycle; otherwise a bit
accumulator collects bytes and retires whole words. With byte lanes the byte lanes of the last
word past the sample's last byte are never written: they keep the memory's power-on 0 (nothing
else writes the first layer's input words).
"""

from amaranth import Const, Module, Mux, Signal
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["SampleLoader"]


class SampleLoader(wiring.Component):
    """Loads one sample into the activation memory.

    Parameters
    ----------
    cfg : Config
    lay : TrainerLayout
        Activation words (``fbeats[0]`` words of layer 0's input at word 0).
    max_payload : int
        Size of the payload buffer.
    granularity : int
        The activation memory's write granularity (8: byte lanes, or ``forward_bits``).

    Attributes
    ----------
    start : In(1)
        Begin (one cycle, while idle).
    skip : In(1)
        Held from ``start`` to ``done``: the payload's first byte is not the sample's (TRAIN's
        label).
    done : Out(1)
        The last word is written (one cycle; the loader is idle after it).
    busy : Out(1)
    buf_addr : Out(range(max_payload))
        Payload byte to read; ``buf_data`` has it one cycle later. 0 while idle.
    buf_data : In(8)
    act_write : Out(StructLayout({"en", "addr", "data"}))
        Activation memory writes (``en``: one bit per ``granularity`` bits).
    """

    def __init__(self, cfg, lay, max_payload, granularity):
        self.cfg, self.lay, self.gran = cfg, lay, granularity
        BW = cfg.forward_bits
        super().__init__({
            "start": In(1),
            "skip": In(1),
            "done": Out(1),
            "busy": Out(1),
            "buf_addr": Out(range(max_payload)),
            "buf_data": In(8),
            "act_write": Out(data.StructLayout({
                "en": BW // granularity, "addr": range(max(2, lay.act_depth)), "data": BW})),
        })

    def elaborate(self, platform):
        cfg, lay = self.cfg, self.lay
        BW = cfg.forward_bits
        m = Module()

        n_bytes = -(-cfg.n_inputs // 8)
        last_byte_mask = (1 << (cfg.n_inputs - 8 * (n_bytes - 1))) - 1
        rd_idx = Signal(range(n_bytes + 2))   # payload byte read next (skip + bytes read)
        all_issued = rd_idx == Mux(self.skip, n_bytes + 1, n_bytes)
        byte_i = Signal(range(n_bytes + 1))
        load_pend = Signal()               # a byte read was issued last cycle
        byte_in = Signal(8)
        a_waddr = Signal(range(max(2, lay.act_depth + 1)))
        wr = self.act_write
        m.d.comb += [self.buf_addr.eq(rd_idx),
                     byte_in.eq(Mux(byte_i == n_bytes - 1,
                                    self.buf_data & last_byte_mask, self.buf_data))]

        with m.FSM(name="loader"):
            with m.State("IDLE"):
                with m.If(self.start):
                    m.next = "LOAD_START"
            if self.gran == 8:
                # byte lanes: every payload byte is written straight into its place, one per
                # cycle (no bit accumulator, no shifter)
                bpw = BW // 8
                if bpw & (bpw - 1) == 0:
                    # a power of two bytes per word: word and lane are fields of byte_i
                    lg = bpw.bit_length() - 1
                    lb, word = (byte_i[:lg] if lg else Const(0)), byte_i >> lg
                    lb_step = []
                else:
                    lb = Signal(range(max(2, bpw)))
                    word = a_waddr
                    lb_step = [lb.eq(Mux(lb == bpw - 1, 0, lb + 1)),
                               a_waddr.eq(Mux(lb == bpw - 1, a_waddr + 1, a_waddr))]
                with m.State("LOAD_START"):
                    m.d.comb += self.busy.eq(1)
                    m.d.sync += [byte_i.eq(0), rd_idx.eq(self.skip), load_pend.eq(0)]
                    if lb_step:
                        m.d.sync += [lb.eq(0), a_waddr.eq(0)]
                    m.next = "LOAD"
                with m.State("LOAD"):
                    m.d.comb += self.busy.eq(1)
                    issue = ~all_issued
                    m.d.sync += load_pend.eq(issue)
                    with m.If(issue):
                        m.d.sync += rd_idx.eq(rd_idx + 1)
                    with m.If(load_pend):
                        m.d.comb += [wr.addr.eq(word), wr.data.eq(byte_in.replicate(bpw)),
                                     wr.en.eq(1 << lb)]
                        m.d.sync += [byte_i.eq(byte_i + 1)] + lb_step
                    with m.If((byte_i == n_bytes) & ~load_pend):
                        m.d.comb += self.done.eq(1)
                        m.d.sync += rd_idx.eq(0)
                        m.next = "IDLE"
            else:
                # bit accumulator: bytes in, BW-bit words out
                acc = Signal(BW + 16)
                nacc = Signal(range(BW + 17))
                with m.State("LOAD_START"):
                    m.d.comb += self.busy.eq(1)
                    m.d.sync += [acc.eq(0), nacc.eq(0), byte_i.eq(0), rd_idx.eq(self.skip),
                                 a_waddr.eq(0), load_pend.eq(0)]
                    m.next = "LOAD"
                with m.State("LOAD"):
                    m.d.comb += self.busy.eq(1)
                    room = a_waddr < lay.fbeats[0]     # bits past N0 (last byte's padding) drop
                    all_in = (byte_i == n_bytes) & ~load_pend
                    write = room & ((nacc >= BW) | (all_in & (nacc != 0)))
                    acc_w = Signal.like(acc)
                    n_w = Signal.like(nacc)
                    m.d.comb += [acc_w.eq(Mux(write, acc >> BW, acc)),
                                 n_w.eq(Mux(write, Mux(nacc >= BW, nacc - BW, 0), nacc))]
                    with m.If(write):
                        m.d.comb += [wr.addr.eq(a_waddr), wr.data.eq(acc[:BW]), wr.en.eq(1)]
                        m.d.sync += a_waddr.eq(a_waddr + 1)
                    acc_n = Signal.like(acc)
                    n_n = Signal.like(nacc)
                    m.d.comb += [acc_n.eq(Mux(load_pend, acc_w | (byte_in << n_w), acc_w)),
                                 n_n.eq(Mux(load_pend, n_w + 8, n_w))]
                    m.d.sync += [acc.eq(acc_n), nacc.eq(n_n)]
                    with m.If(load_pend):
                        m.d.sync += byte_i.eq(byte_i + 1)
                    # issue a read if the byte it returns next cycle fits even if no word
                    # retires this cycle: registered values only
                    issue = ~all_issued & (nacc + Mux(load_pend, 8, 0) < BW + 8)
                    m.d.sync += load_pend.eq(issue)
                    with m.If(issue):
                        m.d.sync += rd_idx.eq(rd_idx + 1)
                    with m.If(all_in & ((nacc == 0) | ~room)):
                        m.d.comb += self.done.eq(1)
                        m.d.sync += rd_idx.eq(0)
                        m.next = "IDLE"
        return m
