"""Block-RAM read ports without read-during-write or power-on logic around them.

Amaranth's synchronous read port (``read_port(domain="sync")``) promises the old word when the
same address is written in the same cycle, and the iCE40's SB_RAM40_4K promises nothing then,
so Yosys surrounds every such port with a bypass (registered write data and address, a compare
and a multiplexer per bit). Where a design never reads a word in the cycle it writes it, that
logic is waste: :func:`registered_read` builds the port as an asynchronous read and a register,
which Yosys' ``memory_dff`` merges into the block RAM honouring the memory's ``no_rw_check``
attribute (set here). The register's power-on value would cost a gate per bit too (the block
RAM's output register has none): its wire is named with :data:`NO_INIT_PREFIX`, and the
synthesis scripts (``sim/synth.py`` ``YOSYS_AFTER_READ``) drop the init attribute of such wires.
Behaviour in simulation is that of a read-first synchronous port.
"""

import types

from amaranth import Signal

__all__ = ["registered_read", "NO_INIT_PREFIX"]

# wires whose power-on value synthesis may drop (see sim/synth.py)
NO_INIT_PREFIX = "noinit_"


def registered_read(m, mem, name, en=None):
    """A read port of ``mem`` with one cycle of latency: ``data`` = the word at the ``addr``
    of the previous cycle in which ``en`` was high (``en=None``: always). The caller
    guarantees that no word is read in the cycle it is written. Returns an object with
    ``addr`` and ``data``."""
    mem.attrs["no_rw_check"] = 1
    rd = mem.read_port(domain="comb")
    data = Signal(mem.shape, name=NO_INIT_PREFIX + name, reset_less=True)
    if en is None:
        m.d.sync += data.eq(rd.data)
    else:
        with m.If(en):
            m.d.sync += data.eq(rd.data)
    return types.SimpleNamespace(addr=rd.addr, data=data)
