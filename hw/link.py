"""Host link: UART framing of ``docs/host-protocol.md`` in front of the trainer core.

:class:`HostLink` receives request frames, checks them (CRC, command code, length) and buffers
the payload; the trainer sees only good requests. The link answers every bad frame itself, and
IDENTIFY from a ROM built by :func:`xnorlearn.sw.protocol.identify_reply_payload`. The trainer
replies with a header and a stream of payload bytes; the link frames them and computes the CRC
while sending. The behaviour is modelled byte for byte by
:class:`xnorlearn.sw.protocol.RequestReceiver`.
"""

from amaranth import Array, Cat, Const, Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..sw import protocol as proto
from .bram import registered_read
from .uart import UartRx, UartTx

__all__ = ["HostLink", "request_layout", "reply_layout", "crc16_next"]


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
    """Request/reply framing between a UART and the trainer core.

    Every bad frame is answered by the link with an empty payload and never reaches the
    trainer: ``BAD_CRC``, ``UNKNOWN``, ``BAD_LENGTH`` (above ``max_payload`` or wrong for the
    command), ``TIMEOUT`` (no byte for 64 bit periods while a frame is open). After an error
    the link *drains*: it ignores bytes until the line has been quiet for those 64 bit periods,
    then replies — so a frame corrupted anywhere, even in its length field, gets exactly one
    reply and none of its bytes is taken for a new frame.

    Parameters
    ----------
    cfg : Config
        Sizes (length checks, identify ROM) and ``uart_divisor``.
    max_payload : int or None
        Receive buffer size in bytes; default :func:`xnorlearn.sw.protocol.max_payload`.
    identify : bool
        Answer IDENTIFY in the link (default). If False, IDENTIFY goes to the trainer.

    Attributes
    ----------
    rx : In(1)
        UART line from the host.
    tx : Out(1)
        UART line to the host.
    req : Out(stream.Signature(request_layout()))
        ``valid`` once a good request is fully buffered; the trainer raises ``ready`` when it
        takes it. The buffer stays frozen until the reply has been sent completely (bytes that
        arrive meanwhile are discarded).
    buf_addr : In(range(max_payload))
    buf_data : Out(8)
        ``buf_data`` = payload[``buf_addr`` of the previous cycle].
    rsp : In(stream.Signature(reply_layout()))
        The trainer's reply header, accepted after the ``req`` handshake.
    rsp_data : In(stream.Signature(8))
        Then exactly ``rsp.length`` reply payload bytes.
    """

    def __init__(self, cfg, max_payload=None, identify=True):
        self.cfg = cfg
        self.divisor = cfg.uart_divisor
        self.max_payload = proto.max_payload(cfg) if max_payload is None else int(max_payload)
        if not 1 <= self.max_payload <= 0xFFFF:
            raise ValueError(f"max_payload must be in 1 … 65535, got {self.max_payload}")
        self.identify = identify
        self.identify_rom = proto.identify_reply_payload(cfg)
        super().__init__({
            "rx": In(1, init=1),
            "tx": Out(1, init=1),
            "req": Out(stream.Signature(request_layout())),
            "buf_addr": In(range(self.max_payload)),
            "buf_data": Out(8),
            "rsp": In(stream.Signature(reply_layout())),
            "rsp_data": In(stream.Signature(8)),
        })

    def _length_ok(self, code, length):
        """Combinational: ``length`` is right for ``code`` (request_length_ok in gateware).
        The fixed lengths come from one table indexed by the code's low bits and one compare
        (a compare per command would cost ~6 LUTs each)."""
        cfg = self.cfg
        codes = [int(c) for c in proto.Command]
        bits = max(codes).bit_length()
        table = [proto.fixed_request_length(cfg, c) if c in codes else None
                 for c in range(1 << bits)]
        width = max(1, max(v for v in table if v is not None).bit_length())
        fixed = Array(Const(v or 0, width) for v in table)[code[:bits]]
        has_fixed = Array(Const(v is not None and c != proto.Command.WRITE_STATE)
                          for c, v in enumerate(table))[code[:bits]]
        in_table = (code >> bits) == 0
        lo, hi = proto.STATE_HEADER + 2, proto.STATE_HEADER + 2 * proto.STATE_CHUNK
        write_ok = ((code == proto.Command.WRITE_STATE) & (length >= lo) & (length <= hi)
                    & (length[0] == proto.STATE_HEADER % 2))
        return write_ok | (in_table & has_fixed & (length == fixed))

    def elaborate(self, platform):
        m = Module()
        d = self.divisor
        m.submodules.uart_rx = urx = UartRx(d)
        m.submodules.uart_tx = utx = UartTx(d)
        m.d.comb += [urx.rx.eq(self.rx), self.tx.eq(utx.tx), urx.o.ready.eq(1)]

        m.submodules.buf = buf = Memory(shape=8, depth=self.max_payload, init=[])
        wr = buf.write_port()
        # the trainer reads the buffer only while a request is being served, and nothing is
        # written then (hw/bram.py: no read-during-write logic)
        rd = registered_read(m, buf, "link_buf")
        m.d.comb += [rd.addr.eq(self.buf_addr), self.buf_data.eq(rd.data)]

        byte = urx.o.payload
        got = urx.o.valid

        # Quiet-line timer: cycles since the last byte (or framing error) arrived.
        limit = proto.FRAME_TIMEOUT_BITS * d
        quiet = Signal(range(limit + 1))
        expired = quiet == limit
        with m.If(got | urx.frame_error):
            m.d.sync += quiet.eq(0)
        with m.Elif(~expired):
            m.d.sync += quiet.eq(quiet + 1)

        code = Signal(8)
        length = Signal(16)
        # payload byte written next / identify byte sent next (it also counts the bytes of
        # other replies, wrapping harmlessly: only the ROM's first bytes are ever used)
        index = Signal(range(max(self.max_payload, len(self.identify_rom)) + 1))
        left = Signal(range(max(self.max_payload, proto.max_reply_payload(self.cfg)) + 1))
                                    # bytes after the current one (a down-counter: the "last
                                    # byte" test is a zero check, not an add-and-compare)
        crc = Signal(16, init=0xFFFF)
        # one CRC network for every byte received or sent: the byte is the received one, or
        # the one handed to the transmitter in the sending states (one XOR network per use
        # would cost ~50 LUTs each)
        crc_byte = Signal(8)
        crc_next = Signal(16)
        m.d.comb += [crc_byte.eq(byte), crc_next.eq(crc16_next(crc, crc_byte))]
        crc_lo = Signal(8)
        crc_ok = Signal()
        status = Signal(8)          # reply being sent
        rlength = Signal(16)
        from_rom = Signal()
        known = (code >= min(proto.Command)) & (code <= max(proto.Command))
        length_ok = self._length_ok(code, length)
        is_identify = Const(int(self.identify)) & (code == proto.Command.IDENTIFY)
        rom = Array(Const(b, 8) for b in self.identify_rom)
        # The ROM byte at `index`, from a register (the ROM lookup stays off the transmit
        # path); `rom_ok` says it belongs to the current index (one cycle after a change).
        rom_q = Signal(8)
        rom_ok = Signal()
        m.d.sync += [rom_q.eq(rom[index]), rom_ok.eq(1)]

        m.d.comb += [wr.addr.eq(index), wr.data.eq(byte)]
        m.d.comb += self.req.payload.eq(Cat(code, length))

        def reply(st, n=0, rom_source=False):
            m.d.sync += [status.eq(st), rlength.eq(n), from_rom.eq(rom_source)]
            m.next = "SEND_SYNC"

        def in_frame_timeout():
            with m.If(expired):
                reply(proto.Status.TIMEOUT)

        with m.FSM():
            with m.State("HUNT"):
                with m.If(got & (byte == proto.SYNC_HOST)):
                    m.d.sync += crc.eq(0xFFFF)
                    m.next = "CODE"
            with m.State("CODE"):
                with m.If(got):
                    m.d.sync += [code.eq(byte), crc.eq(crc_next)]
                    m.next = "LEN0"
                in_frame_timeout()
            with m.State("LEN0"):
                with m.If(got):
                    m.d.sync += [length[:8].eq(byte), crc.eq(crc_next)]
                    m.next = "LEN1"
                in_frame_timeout()
            with m.State("LEN1"):
                with m.If(got):
                    n = Cat(length[:8], byte)
                    m.d.sync += [length[8:].eq(byte), crc.eq(crc_next),
                                 index.eq(0), left.eq(n - 1)]
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
                    m.d.sync += [index.eq(index + 1), left.eq(left - 1),
                                 crc.eq(crc_next)]
                    with m.If(left == 0):
                        m.next = "CRC0"
                in_frame_timeout()
            with m.State("CRC0"):
                with m.If(got):
                    m.d.sync += crc_lo.eq(byte)
                    m.next = "CRC1"
                in_frame_timeout()
            with m.State("CRC1"):
                with m.If(got):
                    m.d.sync += crc_ok.eq(crc == Cat(crc_lo, byte))
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
                    reply(proto.Status.OK, len(self.identify_rom), rom_source=True)
                with m.Else():
                    m.next = "REQUEST"
            with m.State("DRAIN"):
                with m.If(expired):
                    reply(status)
            with m.State("REQUEST"):
                m.d.comb += self.req.valid.eq(1)
                with m.If(self.req.ready):
                    m.next = "WAIT_REPLY"
            with m.State("WAIT_REPLY"):
                m.d.comb += self.rsp.ready.eq(1)
                with m.If(self.rsp.valid):
                    reply(self.rsp.payload.status, self.rsp.payload.length)

            # ---- reply frame: sync, status, length, payload, crc; CRC computed on the fly
            def send(value, then, update_crc=True):
                m.d.comb += [utx.i.valid.eq(1), utx.i.payload.eq(value)]
                with m.If(utx.i.ready):
                    if update_crc:
                        m.d.comb += crc_byte.eq(value)
                        m.d.sync += crc.eq(crc_next)
                    m.next = then

            with m.State("SEND_SYNC"):
                m.d.sync += [index.eq(0), rom_ok.eq(0)]
                send(proto.SYNC_DEVICE, "SEND_STATUS", update_crc=False)
                with m.If(utx.i.ready):
                    m.d.sync += crc.eq(0xFFFF)
            with m.State("SEND_STATUS"):
                send(status, "SEND_LEN0")
            with m.State("SEND_LEN0"):
                send(rlength[:8], "SEND_LEN1")
            with m.State("SEND_LEN1"):
                m.d.sync += left.eq(rlength - 1)
                send(rlength[8:], "SEND_DATA")
                with m.If(utx.i.ready & (rlength == 0)):
                    m.next = "SEND_CRC0"
            with m.State("SEND_DATA"):
                value = Mux(from_rom, rom_q, self.rsp_data.payload)
                valid = Mux(from_rom, rom_ok, self.rsp_data.valid)
                m.d.comb += [utx.i.valid.eq(valid), utx.i.payload.eq(value),
                             self.rsp_data.ready.eq(~from_rom & utx.i.ready)]
                with m.If(valid & utx.i.ready):
                    m.d.comb += crc_byte.eq(value)
                    m.d.sync += [crc.eq(crc_next), index.eq(index + 1),
                                 left.eq(left - 1), rom_ok.eq(0)]
                    with m.If(left == 0):
                        m.next = "SEND_CRC0"
            with m.State("SEND_CRC0"):
                send(crc[:8], "SEND_CRC1", update_crc=False)
            with m.State("SEND_CRC1"):
                send(crc[8:], "HUNT", update_crc=False)
        return m
