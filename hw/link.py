"""Host link: UART framing of ``docs/host-protocol.md`` in front of the trainer core.

:class:`HostLink` receives request frames, checks them (CRC, command code, length) and buffers
the payload; the trainer sees only good requests. The link answers every bad frame itself, and
IDENTIFY from a ROM built by :func:`xnorlearn.sw.protocol.identify_reply_payload`. The trainer
replies with a header and a stream of payload bytes; the link frames them and computes the CRC
while sending.

The receiver and the transmitter are independent: the link keeps a queue of ``depth``
(:data:`xnorlearn.sw.protocol.LINK_DEPTH`) frames, each with its own payload slot in one block
RAM, so it receives the next frames while the trainer executes the current one (a pipelined
host keeps up to ``depth`` requests in flight). Replies leave in the order the frames arrived,
error replies included. The behaviour is modelled byte for byte by
:class:`xnorlearn.sw.protocol.RequestReceiver`.
"""

from amaranth import Array, Cat, Const, Module, Mux, Signal
from amaranth.utils import ceil_log2
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..sw import protocol as proto
from .bram import registered_read
from .uart import UartRx, UartTx

__all__ = ["HostLink", "request_layout", "reply_layout", "crc16_next", "buffer_depth"]


def buffer_depth(cfg, depth=None):
    """Bytes of the link's payload memory: ``depth`` (default
    :data:`xnorlearn.sw.protocol.LINK_DEPTH`) slots of ``2**ceil(log2(max_payload))`` bytes."""
    depth = proto.LINK_DEPTH if depth is None else depth
    return depth << ceil_log2(proto.max_payload(cfg))


def request_layout():
    """``req`` payload: command code and payload length of a good, fully buffered request."""
    return data.StructLayout({"code": 8, "length": 16})


def reply_layout():
    """``rsp`` payload: the trainer's reply status and the number of ``rsp_data`` bytes."""
    return data.StructLayout({"status": 8, "length": 16})


def _crc16_taps():
    """For each bit of the next CRC: the CRC bits and data bits it is the XOR of (the
    byte update is linear over GF(2), so probe it with unit vectors)."""
    from ..sw.protocol import crc16_update

    def step(crc, byte):            # crc16_update without the init-value convention
        return crc16_update(crc, bytes([byte]))
    taps = []
    for j in range(16):
        taps.append(([i for i in range(16) if step(1 << i, 0) >> j & 1],
                     [i for i in range(8) if step(0, 1 << i) >> j & 1]))
    return taps


_CRC16_TAPS = _crc16_taps()


def crc16_next(crc, byte):
    """CRC-16/CCITT-FALSE after one more byte, as a flat XOR network (combinational)."""
    bits = []
    for crc_taps, data_taps in _CRC16_TAPS:
        terms = [crc[i] for i in crc_taps] + [byte[i] for i in data_taps]
        bit = terms[0]
        for t in terms[1:]:
            bit = bit ^ t
        bits.append(bit)
    return Cat(*bits)


class HostLink(wiring.Component):
    """Request/reply framing between a UART and the trainer core, with a queue of frames.

    Every bad frame is answered by the link with an empty payload and never reaches the
    trainer: ``BAD_CRC``, ``UNKNOWN``, ``BAD_LENGTH`` (above ``max_payload`` or wrong for the
    command), ``TIMEOUT`` (no byte for 64 bit periods while a frame is open). After an error
    the receiver *drains*: it ignores bytes until the line has been quiet for those 64 bit
    periods, then queues the error reply — so a frame corrupted anywhere, even in its length
    field, gets exactly one reply and none of its bytes is taken for a new frame.

    **Queue.** The receiver and the transmitter run independently around a queue of ``depth``
    entries. A sync byte opens a frame only if an entry is free (the frame's outcome — a
    request, IDENTIFY or an error — is sure to have a place); while all ``depth`` entries are
    taken, the receiver hunts without opening frames, so every byte is dropped. Each entry owns
    a payload slot of ``2**ceil(log2(max_payload))`` bytes in one memory (block RAM). The
    transmitter serves the entries in arrival order: it offers a request on ``req`` and sends
    the trainer's reply, or sends an error reply or the IDENTIFY ROM, and frees the entry once
    the last reply byte is handed to the UART. So replies (error replies too) leave in request
    order, and the payload slot stays valid for the trainer until its reply has been sent.

    Parameters
    ----------
    cfg : Config
        Sizes (length checks, identify ROM) and ``uart_divisor``.
    max_payload : int or None
        Largest request payload in bytes; default :func:`xnorlearn.sw.protocol.max_payload`.
    identify : bool
        Answer IDENTIFY in the link (default). If False, IDENTIFY goes to the trainer.
    depth : int or None
        Frames the link holds (a power of two); default
        :data:`xnorlearn.sw.protocol.LINK_DEPTH`, the host's window.
    phy : str
        ``"uart"`` (default): the link's bytes travel on the ``rx``/``tx`` UART lines;
        ``"bytes"`` (co-simulation, where the UART is not under test): on the byte streams
        ``rx_byte``/``tx_byte`` instead, one byte per cycle, framing and CRC unchanged.

    Attributes
    ----------
    rx : In(1)
        UART line from the host (``phy="uart"``).
    tx : Out(1)
        UART line to the host (``phy="uart"``).
    rx_byte : In(stream.Signature(8))
        Bytes from the host, always taken (``phy="bytes"``).
    tx_byte : Out(stream.Signature(8))
        Bytes to the host (``phy="bytes"``).
    req : Out(stream.Signature(request_layout()))
        ``valid`` while the oldest frame is a good request the trainer has not taken; the
        trainer raises ``ready`` when it takes it. Its payload slot stays unchanged until the
        reply has been sent.
    buf_addr : In(range(max_payload))
    buf_data : Out(8)
        ``buf_data`` = payload[``buf_addr`` of the previous cycle] of the request taken.
    rsp : In(stream.Signature(reply_layout()))
        The trainer's reply header, accepted after the ``req`` handshake.
    rsp_data : In(stream.Signature(8))
        Then exactly ``rsp.length`` reply payload bytes.
    """

    def __init__(self, cfg, max_payload=None, identify=True, depth=None, phy="uart"):
        if phy not in ("uart", "bytes"):
            raise ValueError(f"phy must be 'uart' or 'bytes', got {phy!r}")
        self.phy = phy
        self.cfg = cfg
        self.divisor = cfg.uart_divisor
        self.max_payload = proto.max_payload(cfg) if max_payload is None else int(max_payload)
        if not 1 <= self.max_payload <= 0xFFFF:
            raise ValueError(f"max_payload must be in 1 … 65535, got {self.max_payload}")
        self.depth = proto.LINK_DEPTH if depth is None else int(depth)
        if self.depth < 1 or self.depth & (self.depth - 1):
            raise ValueError(f"depth must be a power of two, got {self.depth}")
        self.slot_bits = ceil_log2(self.max_payload)
        self.identify = identify
        self.identify_rom = proto.identify_reply_payload(cfg)
        lines = ({"rx": In(1, init=1), "tx": Out(1, init=1)} if phy == "uart" else
                 {"rx_byte": In(stream.Signature(8)), "tx_byte": Out(stream.Signature(8))})
        super().__init__({
            **lines,
            "req": Out(stream.Signature(request_layout())),
            "buf_addr": In(range(self.max_payload)),
            "buf_data": Out(8),
            "rsp": In(stream.Signature(reply_layout())),
            "rsp_data": In(stream.Signature(8)),
        })

    def _length_ok(self, code, length):
        """Combinational: ``length`` is right for ``code`` (request_length_ok in gateware),
        for a known ``code``: the fixed length from a table indexed by the code (one compare,
        not one per command), WRITE_STATE's range and parity, STORE_WRITE's minimum."""
        cfg = self.cfg
        cbits = max(proto.Command).bit_length()
        fixed = [proto.fixed_request_length(cfg, c) if c in set(proto.Command) else None
                 for c in range(1 << cbits)]
        width = max(1, max(f or 0 for f in fixed).bit_length())
        expected = Array(Const(f or 0, width) for f in fixed)[code[:cbits]]
        lo, hi = proto.STATE_HEADER + 2, proto.STATE_HEADER + 2 * proto.STATE_CHUNK
        state_ok = (length >= lo) & (length <= hi) & (length[0] == proto.STATE_HEADER % 2)
        # STORE_WRITE: its offset and at least one byte (the max_payload check bounds it)
        write_ok = length >= proto.STORE_WRITE_HEADER + 1
        return Mux(code == proto.Command.WRITE_STATE, state_ok,
                   Mux(code == proto.Command.STORE_WRITE, write_ok, length == expected))

    def elaborate(self, platform):
        m = Module()
        d = self.divisor
        if self.phy == "uart":
            m.submodules.uart_rx = urx = UartRx(d)
            m.submodules.uart_tx = utx = UartTx(d)
            m.d.comb += [urx.rx.eq(self.rx), self.tx.eq(utx.tx)]
            rx, frame_error, tx = urx.o, urx.frame_error, utx.i
            m.d.comb += rx.ready.eq(1)
        else:
            rx, frame_error, tx = self.rx_byte, Const(0), self.tx_byte

        # ---- the queue: entries [head, tail) in arrival order; pointers count modulo 2·depth
        pbits = ceil_log2(self.depth)
        head = Signal(pbits + 1)
        tail = Signal(pbits + 1)
        full = (head ^ tail) == self.depth
        empty = head == tail
        head_slot, tail_slot = head[:pbits], tail[:pbits]
        KIND_REQUEST, KIND_ERROR, KIND_ROM = 0, 1, 2
        e_kind = Array(Signal(2, name=f"e_kind{i}") for i in range(self.depth))
        # an entry's code: a good request's command or an error reply's status (both fit in
        # fewer than 8 bits: every entry bit is a logic cell of its own on the iCE40)
        code_bits = max(max(proto.Command), max(proto.Status)).bit_length()
        e_code = Array(Signal(code_bits, name=f"e_code{i}") for i in range(self.depth))
        e_len = Array(Signal(range(self.max_payload + 1), name=f"e_len{i}")
                      for i in range(self.depth))

        m.submodules.buf = buf = Memory(shape=8, depth=self.depth << self.slot_bits, init=[])
        wr = buf.write_port()
        # the receiver writes the newest entry's slot, the trainer reads the oldest's: never
        # the same word in one cycle (hw/bram.py: no read-during-write bypass)
        rd = registered_read(m, buf, "link_buf")
        buf_addr = Signal(self.slot_bits)
        m.d.comb += [buf_addr.eq(self.buf_addr), rd.addr.eq(Cat(buf_addr, head_slot)),
                     self.buf_data.eq(rd.data)]

        byte = rx.payload
        got = rx.valid if self.phy == "uart" else rx.valid & rx.ready   # the UART's: always

        # Quiet-line timer: cycles since the last byte (or framing error) arrived.
        limit = proto.FRAME_TIMEOUT_BITS * d
        quiet = Signal(range(limit + 1))
        expired = quiet == limit
        with m.If(got | frame_error):
            m.d.sync += quiet.eq(0)
        with m.Elif(~expired):
            m.d.sync += quiet.eq(quiet + 1)

        # ================================================================ receiver
        code = Signal(8)
        # a frame's length; only one of at most max_payload is kept (a longer one is refused
        # at its second byte), so the high byte's upper bits are never stored
        # at least 8 bits: LEN0 keeps the length's low byte here, whole, before LEN1 decides
        length = Signal(range(max(self.max_payload, 0xFF) + 1))
        index = Signal(self.slot_bits)
        index_next = Signal(self.slot_bits + 1)
        m.d.comb += index_next.eq(index + 1)    # the last byte: index_next == length (the
                                                # increment's adder is shared, no down-counter)
        crc = Signal(16, init=0xFFFF)
        crc_lo_ok = Signal()        # the first CRC byte (low half) matched
        crc_ok = Signal()
        status = Signal(range(max(proto.Status) + 1))     # the error being drained
        known = (code >= min(proto.Command)) & (code <= max(proto.Command))
        length_ok = self._length_ok(code, length)
        is_identify = Const(int(self.identify)) & (code == proto.Command.IDENTIFY)

        m.d.comb += [wr.addr.eq(Cat(index, tail_slot)), wr.data.eq(byte)]

        def commit(kind, value, n=0):
            """The frame's outcome becomes the newest queue entry (reserved at its sync)."""
            m.d.sync += [e_kind[tail_slot].eq(kind), e_code[tail_slot].eq(value),
                         e_len[tail_slot].eq(n), tail.eq(tail + 1)]
            m.next = "HUNT"

        def in_frame_timeout():
            with m.If(expired):
                commit(KIND_ERROR, proto.Status.TIMEOUT)

        with m.FSM(name="rx_fsm") as rx_fsm:
            with m.State("HUNT"):
                with m.If(got & (byte == proto.SYNC_HOST) & ~full):
                    m.d.sync += crc.eq(0xFFFF)
                    m.next = "CODE"
            with m.State("CODE"):
                with m.If(got):
                    m.d.sync += [code.eq(byte), crc.eq(crc16_next(crc, byte))]
                    m.next = "LEN0"
                in_frame_timeout()
            with m.State("LEN0"):
                with m.If(got):
                    m.d.sync += [length[:8].eq(byte), crc.eq(crc16_next(crc, byte))]
                    m.next = "LEN1"
                in_frame_timeout()
            with m.State("LEN1"):
                with m.If(got):
                    n = Cat(length[:8], byte)
                    m.d.sync += [length.eq(n), crc.eq(crc16_next(crc, byte)),
                                 index.eq(0)]
                    with m.If(n > self.max_payload):
                        m.d.sync += status.eq(proto.Status.BAD_LENGTH)
                        m.next = "DRAIN"
                    with m.Elif(n == 0):
                        m.next = "CRC0"
                    with m.Else():
                        m.next = "PAYLOAD"
                in_frame_timeout()
            with m.State("PAYLOAD"):
                m.d.comb += wr.en.eq(got)
                with m.If(got):
                    m.d.sync += [index.eq(index_next),
                                 crc.eq(crc16_next(crc, byte))]
                    with m.If(index_next == length):
                        m.next = "CRC0"
                in_frame_timeout()
            with m.State("CRC0"):
                with m.If(got):
                    m.d.sync += crc_lo_ok.eq(crc[:8] == byte)
                    m.next = "CRC1"
                in_frame_timeout()
            with m.State("CRC1"):
                with m.If(got):
                    m.d.sync += crc_ok.eq(crc_lo_ok & (crc[8:] == byte))
                    m.next = "CHECK"
                in_frame_timeout()
            with m.State("CHECK"):
                with m.If(~crc_ok):
                    m.d.sync += status.eq(proto.Status.BAD_CRC)
                    m.next = "DRAIN"
                with m.Elif(~known):
                    m.d.sync += status.eq(proto.Status.UNKNOWN)
                    m.next = "DRAIN"
                with m.Elif(~length_ok):
                    m.d.sync += status.eq(proto.Status.BAD_LENGTH)
                    m.next = "DRAIN"
                with m.Elif(is_identify):
                    commit(KIND_ROM, proto.Status.OK)
                with m.Else():
                    commit(KIND_REQUEST, code, length)
            with m.State("DRAIN"):
                with m.If(expired):
                    commit(KIND_ERROR, status)


        if self.phy == "bytes":
            # a UART leaves 10 bit periods between bytes; a byte stream is held while the
            # receiver checks a frame's CRC (its one cycle without a byte)
            m.d.comb += rx.ready.eq(~rx_fsm.ongoing("CHECK"))
        # ================================================================ transmitter
        tcrc = Signal(16, init=0xFFFF)
        tstatus = Signal(8)         # reply being sent
        longest = max(self.max_payload, proto.max_reply_payload(self.cfg))
        tlength = Signal(range(longest + 1))
        tlength16 = Signal(16)
        m.d.comb += tlength16.eq(tlength)
        from_rom = Signal()
        h_kind, h_code, h_len = e_kind[head_slot], e_code[head_slot], e_len[head_slot]
        m.d.comb += [self.req.payload.code.eq(h_code), self.req.payload.length.eq(h_len)]

        rom = Array(Const(b, 8) for b in self.identify_rom)
        # The ROM byte at `rindex`, from a register (the ROM lookup stays off the transmit
        # path); `rom_ok` says it belongs to the current index (one cycle after a change).
        rindex = Signal(range(longest + 1))     # payload bytes sent (the last byte:
        rindex_next = Signal(range(longest + 2))    # rindex_next == tlength, no down-counter)
        m.d.comb += rindex_next.eq(rindex + 1)
        rom_q = Signal(8)
        rom_ok = Signal()
        m.d.sync += [rom_q.eq(rom[rindex]), rom_ok.eq(1)]

        def reply(st, n=0, rom_source=False):
            m.d.sync += [tstatus.eq(st), tlength.eq(n), from_rom.eq(rom_source)]
            m.next = "SEND_SYNC"

        # One CRC update for every byte the transmitter sends (the byte on the UART's input,
        # whichever state chose it): a single XOR network instead of one per state.
        tcrc_upd = Signal()
        with m.If(tcrc_upd & tx.valid & tx.ready):
            m.d.sync += tcrc.eq(crc16_next(tcrc, tx.payload))

        with m.FSM(name="tx_fsm"):
            with m.State("IDLE"):           # offers the oldest entry's request at once
                with m.If(~empty):
                    with m.If(h_kind == KIND_ERROR):
                        reply(h_code)
                    with m.Elif(h_kind == KIND_ROM):
                        reply(proto.Status.OK, len(self.identify_rom), rom_source=True)
                    with m.Else():
                        m.d.comb += self.req.valid.eq(1)
                        with m.If(self.req.ready):
                            m.next = "WAIT_REPLY"
            with m.State("WAIT_REPLY"):
                m.d.comb += self.rsp.ready.eq(1)
                with m.If(self.rsp.valid):
                    reply(self.rsp.payload.status, self.rsp.payload.length)

            # ---- reply frame: sync, status, length, payload, crc; CRC computed on the fly
            def send(value, then, update_crc=True):
                m.d.comb += [tx.valid.eq(1), tx.payload.eq(value),
                             tcrc_upd.eq(update_crc)]
                with m.If(tx.ready):
                    m.next = then

            with m.State("SEND_SYNC"):
                m.d.sync += [rindex.eq(0), rom_ok.eq(0)]
                send(proto.SYNC_DEVICE, "SEND_STATUS", update_crc=False)
                with m.If(tx.ready):
                    m.d.sync += tcrc.eq(0xFFFF)
            with m.State("SEND_STATUS"):
                send(tstatus, "SEND_LEN0")
            with m.State("SEND_LEN0"):
                send(tlength16[:8], "SEND_LEN1")
            with m.State("SEND_LEN1"):
                send(tlength16[8:], "SEND_DATA")
                with m.If(tx.ready & (tlength == 0)):
                    m.next = "SEND_CRC0"
            with m.State("SEND_DATA"):
                value = Mux(from_rom, rom_q, self.rsp_data.payload)
                valid = Mux(from_rom, rom_ok, self.rsp_data.valid)
                m.d.comb += [tx.valid.eq(valid), tx.payload.eq(value), tcrc_upd.eq(1),
                             self.rsp_data.ready.eq(~from_rom & tx.ready)]
                with m.If(valid & tx.ready):
                    m.d.sync += [rindex.eq(rindex_next), rom_ok.eq(0)]
                    with m.If(rindex_next == tlength):
                        m.next = "SEND_CRC0"
            with m.State("SEND_CRC0"):
                send(tcrc[:8], "SEND_CRC1", update_crc=False)
            with m.State("SEND_CRC1"):
                send(tcrc[8:], "IDLE", update_crc=False)
                with m.If(tx.ready):
                    m.d.sync += head.eq(head + 1)       # the entry and its slot are free
        return m
