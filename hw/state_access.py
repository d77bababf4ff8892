"""READ_STATE / WRITE_STATE (docs/host-protocol.md): counters by (layer, neuron, first, count).

:class:`StateAccess` executes one state-access command on the counter bank: it reads the
request's 6-byte header (``layer`` u8, ``neuron`` u16, ``first`` u16, ``count`` u8) from the
payload buffer, checks it, finds the first counter's word and sign-copy place by stepping (no
multipliers), and then

* READ_STATE: sends the reply header and, per counter, one bank READ → two reply bytes
  (little-endian ``i16``), straight to the host;
* WRITE_STATE: checks every value first (a value outside ``[cmin, cmax]`` or a payload length
  other than ``6 + 2·count`` writes nothing and answers BAD_ARG), then read-modify-writes one
  lane per value, each WRITE tagged with its sign-copy place so the copy follows.

Nothing else uses the bank while it works: the trainer core's sequencer gives it the bank's
command port while it is busy, and the bank must accept its commands in that state (the core's
bank contract: one command per cycle, READ responses exactly ``read_latency`` cycles later).
"""

from amaranth import Array, Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from ..sw import protocol
from ..sw.protocol import Status
from .counters import BankOp, command_layout, response_layout

__all__ = ["StateAccess", "rsp_layout"]


def rsp_layout():
    """A reply header: status and payload length (the host link's ``rsp``)."""
    return data.StructLayout({"status": 8, "length": 16})


def _const_array(values):
    width = max(1, max(int(v).bit_length() for v in values))
    return Array(Const(int(v), width) for v in values)


class StateAccess(wiring.Component):
    """Executes READ_STATE and WRITE_STATE.

    Parameters
    ----------
    cfg : Config
    lay : TrainerLayout
        Counter words (``cnt_base``, ``beats``).
    slay : SignLayout
        Sign-copy places (``base``, ``beats``, ``lanes``, ``words``).
    tag_layout : Layout
        The bank command tag (``en``, ``lane``, ``row``, ``granule``).
    max_payload : int
        Size of the payload buffer.

    Attributes
    ----------
    start : In(stream.Signature(StructLayout({"write", "length"})))
        A command (``write``: WRITE_STATE, else READ_STATE; ``length``: payload bytes, at
        most ``max_payload``, as the host link guarantees); accepted only when idle.
    done : Out(StructLayout({"valid", "status", "replied"}))
        ``valid`` for one cycle: the command ends (the unit is idle after this cycle).
        ``replied``: the reply has been sent (READ_STATE, OK); else the caller sends a reply
        of ``status`` (OK or BAD_ARG) without payload.
    busy : Out(1)
    replying : Out(1)
        Waiting for the host to take a reply header or byte.
    buf_addr : Out(range(max_payload))
        Payload byte to read; ``buf_data`` has it one cycle later. 0 while idle (the core
        ORs the payload addresses of its units).
    buf_data : In(8)
    rsp : Out(stream.Signature(rsp_layout()))
    rsp_data : Out(stream.Signature(8))
        READ_STATE's reply header and bytes.
    cmd : Out(stream.Signature(command_layout(...)))
        READ and WRITE commands for the counter bank (issued without waiting for ``ready``:
        the bank is idle while this unit works).
    resp : In(stream.Signature(response_layout(...)))
        The bank's READ responses (always taken).
    """

    def __init__(self, cfg, lay, slay, tag_layout, max_payload):
        self.cfg, self.lay, self.slay, self.tag_layout = cfg, lay, slay, tag_layout
        self.max_payload = max_payload
        super().__init__({
            "start": In(stream.Signature(data.StructLayout({"write": 1, "length": 16}))),
            "done": Out(data.StructLayout({"valid": 1, "status": 8, "replied": 1})),
            "busy": Out(1),
            "replying": Out(1),
            "buf_addr": Out(range(max_payload)),
            "buf_data": In(8),
            "rsp": Out(stream.Signature(rsp_layout())),
            "rsp_data": Out(stream.Signature(8)),
            "cmd": Out(stream.Signature(command_layout(cfg.lanes, cfg.counter_bits,
                                                       lay.cnt_depth, tag_layout.size))),
            "resp": In(stream.Signature(response_layout(cfg.lanes, cfg.counter_bits))),
        })

    def elaborate(self, platform):
        cfg, lay, slay = self.cfg, self.lay, self.slay
        L, P, K = cfg.n_layers, cfg.lanes, cfg.counter_bits
        NL, G = slay.lanes, slay.words
        lg_nl = ceil_log2(NL)
        max_f, max_n = max(cfg.widths[:-1]), max(cfg.layers)
        m = Module()

        HDR = protocol.STATE_HEADER
        hdr = Signal(HDR * 8)        # the request's header, shifted in from the top
        layer, neuron, first, count = hdr[0:8], hdr[8:24], hdr[24:40], hdr[40:48]
        write = Signal()           # WRITE_STATE (not READ_STATE)
        length = Signal(range(self.max_payload + 1))   # ``start.length`` ≤ the buffer
        rd_idx = Signal(range(HDR + 2 * protocol.STATE_CHUNK + 2))   # payload byte read next
        k = Signal(8)              # counter number within the request
        j = Signal(range(max_n + 1))   # neurons stepped over (to `neuron`)
        lane = Signal(range(max(2, P + 1)))
        # `first` (< F once the header passed its checks): DIV steps it down in place
        scan = hdr[24:24 + len(Signal(range(max_f)))]
        addr = Signal(range(max(2, lay.cnt_depth + 1)))   # word of the counter accessed
        srow = Signal(range(max(2, slay.depth + 1)))      # its sign-copy row …
        gran = Signal(range(max(2, G)))                   # … and granule
        ok = Signal()              # the header passed its range checks
        end = Signal(range(HDR + 2 * protocol.STATE_CHUNK + 1))   # payload end
        kmax = Signal(8)           # count − 1 (registered: no subtractor on the FSM)
        value = Signal(16)
        bad = Signal()             # a WRITE_STATE value is out of range
        m.d.comb += [self.buf_addr.eq(rd_idx), self.resp.ready.eq(1)]

        # per-layer constants of the requested layer (valid once its check has passed)
        sel = layer[:max(1, ceil_log2(L))]
        CNT_BASE = _const_array(lay.cnt_base)[sel]
        BEATS = _const_array(lay.beats)[sel]
        SB_BASE = _const_array(slay.base)[sel]
        SBEATS = _const_array(slay.beats)[sel]

        def next_counter():
            """Step to the next counter (next lane, or next word)."""
            m.d.sync += k.eq(k + 1)
            with m.If(lane == P - 1):
                m.d.sync += [lane.eq(0), addr.eq(addr + 1)]
                with m.If(gran == G - 1):
                    m.d.sync += [gran.eq(0), srow.eq(srow + 1)]
                with m.Else():
                    m.d.sync += gran.eq(gran + 1)
            with m.Else():
                m.d.sync += lane.eq(lane + 1)

        def finish(status, replied=0):
            m.d.comb += [self.done.valid.eq(1), self.done.status.eq(status),
                         self.done.replied.eq(replied)]
            m.d.sync += rd_idx.eq(0)

        with m.FSM(name="state_access"):
            with m.State("IDLE"):
                m.d.comb += self.start.ready.eq(1)
                with m.If(self.start.valid):
                    m.d.sync += [write.eq(self.start.p.write), length.eq(self.start.p.length),
                                 bad.eq(0)]
                    m.next = "HDR"
            with m.State("HDR"):
                # the header bytes, little-endian (rd_idx runs one byte ahead of buf_data)
                m.d.comb += self.busy.eq(1)
                m.d.sync += rd_idx.eq(rd_idx + 1)
                with m.If(rd_idx != 0):
                    m.d.sync += hdr.eq(Cat(hdr[8:], self.buf_data))
                with m.If(rd_idx == HDR):
                    m.next = "CHECK"
            with m.State("CHECK"):
                # the range checks land in `ok` (a register) and ACCEPT acts on it: keeps the
                # compare chain off the FSM's next-state and enable logic
                m.d.comb += self.busy.eq(1)
                ok_layer = layer < L
                lf = _const_array(list(cfg.widths[:-1]) + [0])[Mux(ok_layer, layer, L)]
                ln = _const_array(list(cfg.layers) + [0])[Mux(ok_layer, layer, L)]
                ok_hdr = (ok_layer & (neuron < ln) & (count >= 1)
                          & (count <= protocol.STATE_CHUNK) & (first + count <= lf))
                ok_len = Mux(write, length == HDR + 2 * count, 1)
                m.d.sync += [ok.eq(ok_hdr & ok_len), end.eq(HDR + 2 * count),
                             kmax.eq(count - 1)]
                m.next = "ACCEPT"
            with m.State("ACCEPT"):
                m.d.comb += self.busy.eq(1)
                with m.If(~ok):
                    finish(Status.BAD_ARG)
                    m.next = "IDLE"
                with m.Else():
                    m.d.sync += [k.eq(0), j.eq(0), rd_idx.eq(HDR)]
                    m.next = "BASE"
            # the counter's word and sign-copy place by stepping: over `neuron` neurons of
            # `beats` words, then over the words of `first`
            with m.State("BASE"):
                m.d.comb += self.busy.eq(1)
                m.d.sync += [addr.eq(CNT_BASE), srow.eq(SB_BASE), gran.eq(0)]
                m.next = "ROW"
            with m.State("ROW"):
                m.d.comb += self.busy.eq(1)
                with m.If(j != neuron):
                    m.d.sync += [j.eq(j + 1), addr.eq(addr + BEATS)]
                    with m.If(j[:lg_nl] == NL - 1 if lg_nl else 1):   # a round of NL
                        m.d.sync += srow.eq(srow + SBEATS)
                with m.Else():
                    m.next = "DIV"
            with m.State("DIV"):
                # (word, lane) of `first` by repeated subtraction (P need not be a power of 2)
                m.d.comb += self.busy.eq(1)
                with m.If(scan >= P):
                    m.d.sync += [scan.eq(scan - P), addr.eq(addr + 1)]
                    with m.If(gran == G - 1):
                        m.d.sync += [gran.eq(0), srow.eq(srow + 1)]
                    with m.Else():
                        m.d.sync += gran.eq(gran + 1)
                with m.Else():
                    m.d.sync += lane.eq(scan)
                    with m.If(write):
                        m.d.sync += rd_idx.eq(HDR)
                        m.next = "WS_CHECK"
                    with m.Else():
                        m.next = "RS_HDR"
            # READ_STATE: header, then per counter READ -> 2 bytes
            with m.State("RS_HDR"):
                m.d.comb += [self.busy.eq(1), self.replying.eq(1), self.rsp.valid.eq(1),
                             self.rsp.p.status.eq(Status.OK),
                             self.rsp.p.length.eq(2 * count)]
                with m.If(self.rsp.ready):
                    m.next = "RS_READ"
            with m.State("RS_READ"):
                m.d.comb += [self.busy.eq(1), self.cmd.valid.eq(1),
                             self.cmd.p.op.eq(BankOp.READ), self.cmd.p.addr.eq(addr)]
                m.next = "RS_LATCH"
            with m.State("RS_LATCH"):
                m.d.comb += self.busy.eq(1)
                with m.If(self.resp.valid):      # the only READ in flight
                    m.d.sync += value.eq(Array(self.resp.p.counters[q] for q in range(P))[lane])
                    m.next = "RS_LO"
            with m.State("RS_LO"):
                m.d.comb += [self.busy.eq(1), self.replying.eq(1), self.rsp_data.valid.eq(1),
                             self.rsp_data.payload.eq(value[:8])]
                with m.If(self.rsp_data.ready):
                    m.next = "RS_HI"
            with m.State("RS_HI"):
                m.d.comb += [self.busy.eq(1), self.replying.eq(1), self.rsp_data.valid.eq(1),
                             self.rsp_data.payload.eq(value[8:16])]
                with m.If(self.rsp_data.ready):
                    next_counter()
                    with m.If(k == kmax):
                        finish(Status.OK, replied=1)
                        m.next = "IDLE"
                    with m.Else():
                        m.next = "RS_READ"
            # WRITE_STATE: check every value first (nothing is written on BAD_ARG) ...
            with m.State("WS_CHECK"):
                m.d.comb += self.busy.eq(1)
                m.d.sync += rd_idx.eq(rd_idx + 1)
                with m.If(rd_idx != HDR):
                    with m.If((rd_idx - HDR - 1)[0]):          # high byte of a value just arrived
                        # in [cmin, cmax] iff bits K-1 … 15 are all equal (no compare chain
                        # behind the payload buffer's slow block-RAM output)
                        v = Cat(value[8:16], self.buf_data)
                        with m.If((v[K - 1:] != 0) & (v[K - 1:] != (1 << (17 - K)) - 1)):
                            m.d.sync += bad.eq(1)
                    m.d.sync += value.eq(Cat(value[8:16], self.buf_data))
                with m.If(rd_idx == end):
                    m.d.sync += [rd_idx.eq(HDR), k.eq(0)]
                    m.next = "WS_DECIDE"
            with m.State("WS_DECIDE"):
                m.d.comb += self.busy.eq(1)
                with m.If(bad):
                    finish(Status.BAD_ARG)
                    m.next = "IDLE"
                with m.Else():
                    m.next = "WS_LO"
            # ... then read-modify-write one lane per value
            # buf_addr = rd_idx (the value's low byte) was presented in the previous cycle
            with m.State("WS_LO"):
                m.d.comb += self.busy.eq(1)
                m.d.sync += [value.eq(self.buf_data), rd_idx.eq(rd_idx + 1)]
                m.next = "WS_HI"
            with m.State("WS_HI"):
                m.d.comb += [self.busy.eq(1), self.cmd.valid.eq(1),
                             self.cmd.p.op.eq(BankOp.READ), self.cmd.p.addr.eq(addr)]
                m.d.sync += [value.eq(Cat(value[:8], self.buf_data)), rd_idx.eq(rd_idx + 1)]
                m.next = "WS_WRITE"
            with m.State("WS_WRITE"):
                m.d.comb += self.busy.eq(1)
                word = Signal(data.ArrayLayout(signed(K), P))
                m.d.comb += word.eq(self.resp.p.counters)
                with m.Switch(lane):
                    for q in range(P):
                        with m.Case(q):
                            m.d.comb += word[q].eq(value[:K].as_signed())
                with m.If(self.resp.valid):      # the word read in WS_HI (only READ in flight)
                    tag = Signal(self.tag_layout)
                    m.d.comb += [tag.en.eq(1), tag.row.eq(srow), tag.granule.eq(gran),
                                 tag.lane.eq(neuron[:lg_nl] if lg_nl else 0)]
                    m.d.comb += [self.cmd.valid.eq(1), self.cmd.p.op.eq(BankOp.WRITE),
                                 self.cmd.p.addr.eq(addr), self.cmd.p.data.eq(word),
                                 self.cmd.p.tag.eq(tag)]
                    next_counter()
                    with m.If(k == kmax):
                        finish(Status.OK)
                        m.next = "IDLE"
                    with m.Else():
                        m.next = "WS_LO"
        return m
