"""cocotb bench: host-fed training through the pipelined UART link of the whole trainer.

Run by ``scripts/bench_link.py`` (:func:`run_link_bench`): the trainer's Verilog (the board's
counter bank, the board's ``uart_divisor``) is driven through its UART pins by the host driver
(:class:`~xnorlearn.sim.uart_transport.CocotbUartTransport`), first one request at a time
(``window = 1``), then as one pipelined TRAIN stream (:meth:`Device.train_samples`, ``window``
requests in flight), for each host round-trip latency asked for (:class:`LatentUart`: the host
sees the device's bytes that many cycles late, as over USB). The host's consumption of each
reply is time-stamped in clock cycles, so the steady-state cycles per host-fed sample are the
slope between two replies well inside the stream (pipeline fill and drain excluded, a
reinforcement sweep included when the stream spans a batch boundary). Every prediction is checked against the golden model, and so is the chip's
sample count.
"""

import json

import cocotb
import numpy as np
from cocotb.triggers import First, RisingEdge, Timer
from cocotb.utils import get_sim_time

from xnorlearn.sim.cosim import CLOCK_NS
from xnorlearn.sim.harness import cocotb_params, cocotb_reset
from xnorlearn.sim.uart_transport import CocotbUartTransport
from xnorlearn.sw.config import Config
from xnorlearn.sw.driver import Device
from xnorlearn.sw.model import HwModel



def cycles_now():
    return int(get_sim_time(unit="ns")) // CLOCK_NS


class _Stamping:
    """Stands in for :attr:`CocotbUartTransport.received`: every byte the monitor decodes is
    recorded with the cycle it arrived."""

    def __init__(self, arrivals):
        self.arrivals = arrivals

    def append(self, value):
        self.arrivals.append((cycles_now(), value))


class LatentUart(CocotbUartTransport):
    """:class:`CocotbUartTransport` whose host sees every byte from the device
    ``latency_cycles`` after it arrived: the USB-serial round trip of a real host (the
    request path is modelled as instant, the whole round trip sits on the reply path)."""

    def __init__(self, *args, latency_cycles=0, **kwargs):
        super().__init__(*args, **kwargs)
        self.latency_cycles = latency_cycles
        self.arrivals = []               # (cycle, byte) not yet visible to the host
        self.received = _Stamping(self.arrivals)
        self.visible = bytearray()

    def _release(self):
        now = cycles_now()
        while self.arrivals and self.arrivals[0][0] + self.latency_cycles <= now:
            self.visible.append(self.arrivals.pop(0)[1])

    async def read(self, n, timeout_s):
        deadline = get_sim_time("ps") + timeout_s * 1e12
        while True:
            self._release()
            if len(self.visible) >= n:
                break
            remaining = round(deadline - get_sim_time("ps"))
            if remaining <= 0:
                break
            if self.arrivals:
                due = (self.arrivals[0][0] + self.latency_cycles - cycles_now()) * CLOCK_NS
                await Timer(max(1, min(remaining, due * 1000)), "ps")
            else:
                self._arrived.clear()
                await First(self._arrived.wait(), Timer(remaining, "ps"))
        out = bytes(self.visible[:n])
        del self.visible[:n]
        return out


class Stamped:
    """Transport wrapper recording (cycle, bytes received so far) after every read."""

    def __init__(self, inner):
        self.inner = inner
        self.quiet_s = inner.quiet_s
        self.stamps = []
        self.total = 0

    async def write(self, data):
        await self.inner.write(data)

    async def read(self, n, timeout_s):
        data = await self.inner.read(n, timeout_s)
        if data:
            self.total += len(data)
            self.stamps.append((cycles_now(), self.total))
        return data

    def reply_times(self, start_bytes, reply_bytes, count):
        """Cycle at which each of ``count`` replies of ``reply_bytes`` bytes (after
        ``start_bytes`` already received) was complete."""
        out, i = [], 0
        for k in range(1, count + 1):
            want = start_bytes + k * reply_bytes
            while self.stamps[i][1] < want:
                i += 1
            out.append(self.stamps[i][0])
        return out


@cocotb.test()
async def link_throughput(dut):
    prm = cocotb_params()
    cfg = Config.from_dict(prm["config"])
    data = np.load(prm["data"])
    x, y = data["x_train"], data["y_train"]
    window = int(prm["window"])
    n_seq, n_stream = int(prm["sequential"]), int(prm["stream"])
    await cocotb_reset(dut)
    uart = LatentUart(dut.uart_rx, dut.uart_tx, dut.clk, cfg.uart_divisor,
                      clock_period_ns=CLOCK_NS)
    port = Stamped(uart)
    dev = await Device.connect(port, cfg, timeout_s=0.05)
    gold = HwModel(cfg)
    await dev.init(cfg.seed)
    await dev.set_tables(gold.tables)
    await dev.reset_counters()
    phases = []
    t = 0
    for latency in prm["latencies"]:
        uart.latency_cycles = int(latency)
        # one request at a time (the old host)
        c0 = cycles_now()
        seq = [await dev.train_sample(x[t + i], int(y[t + i])) for i in range(n_seq)]
        seq_cycles = (cycles_now() - c0) / max(1, n_seq)
        assert seq == list(gold.train(x[t:t + n_seq], y[t:t + n_seq])), "sequential differs"
        t += n_seq
        # the pipelined stream
        xs, ys = x[t:t + n_stream], y[t:t + n_stream]
        before = port.total
        c1 = cycles_now()
        preds = await dev.train_samples(xs, ys, window=window)
        total_cycles = cycles_now() - c1
        assert list(preds) == list(gold.train(xs, ys)), "stream predictions differ"
        t += n_stream
        # replies the host consumed while it was still sending (the last `window` replies
        # come after the last frame, at the device's pace, and are left out)
        times = port.reply_times(before, 7, n_stream)   # TRAIN reply: 5A 00 01 00 p crc crc
        lo, hi = 2 * window, n_stream - 1 - window
        phases.append({"latency_cycles": int(latency), "cycles_per_sample_sequential": seq_cycles,
                       "cycles_per_sample_stream": (times[hi] - times[lo]) / (hi - lo),
                       "stream_total_cycles": total_cycles, "steady_from": lo, "steady_to": hi})
    counters = await dev.read_counters()
    assert counters["samples"] == t, counters
    assert uart.stop_bit_errors == 0
    result = {"config": cfg.to_dict(), "window": window, "stream": n_stream,
              "sequential": n_seq, "phases": phases,
              "cycles_per_sample_compute": counters["busy_cycles"] / t,
              "line_cycles_per_frame": 10 * cfg.uart_divisor * (
                  4 + 1 + -(-cfg.n_inputs // 8) + 2),
              "bit_exact": True}
    with open(prm["result"], "w") as f:
        json.dump(result, f, indent=2)
    await RisingEdge(dut.clk)


def run_link_bench(cfg, x, y, *, window=None, sequential=6, stream=100, latencies=(0,),
                   bank=None, row_words=None, build_root=None, quiet=True):
    """Co-simulate host-fed training of ``cfg``'s trainer at its own ``uart_divisor``, for each
    host round-trip latency (in clock cycles) ``sequential`` samples one request at a time and
    then a ``stream`` of samples pipelined; needs ``len(latencies) * (sequential + stream)``
    samples. Returns the bench's result (``phases``: cycles per sample per latency)."""
    import pathlib
    import shutil
    import tempfile

    from cocotb_tools.runner import get_results

    from xnorlearn.sim.cosim import BENCH_SIGNALS, TOPLEVEL, default_build_root, trainer_verilog
    from xnorlearn.sim.harness import run_cocotb
    from xnorlearn.sw import protocol as proto
    root = pathlib.Path(build_root) if build_root else default_build_root()
    root.mkdir(parents=True, exist_ok=True)
    work = pathlib.Path(tempfile.mkdtemp(prefix="xnorlearn-linkbench-", dir=root))
    try:
        np.savez(work / "data.npz", x_train=np.asarray(x, np.uint8),
                 y_train=np.asarray(y, np.int64))
        params = {"config": cfg.to_dict(), "data": str(work / "data.npz"),
                  "result": str(work / "result.json"), "sequential": sequential,
                  "stream": stream, "latencies": [int(v) for v in latencies],
                  "window": proto.LINK_DEPTH if window is None else window}
        xml = run_cocotb(trainer_verilog(cfg, row_words, bank), TOPLEVEL,
                         "xnorlearn.sim.link_bench", simulator="verilator", params=params,
                         build_root=root, quiet=quiet, public=BENCH_SIGNALS,
                         clock_ns=CLOCK_NS)
        _, failed = get_results(xml)
        path = work / "result.json"
        if failed or not path.exists():
            raise RuntimeError("link bench failed (see the log above)")
        return json.loads(path.read_text())
    finally:
        shutil.rmtree(work, ignore_errors=True)
