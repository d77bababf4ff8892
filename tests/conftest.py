import os

from xnorlearn.sim.toolenv import setup_environment

setup_environment()
# Waveforms only on request: XNORLEARN_WAVES=1 makes cocotb benches dump FST/VCD.
os.environ.setdefault("XNORLEARN_WAVES", "0")


def one_line_error(capsys, *needles):
    """The captured standard error is one ``xnorlearn: error:`` line, no traceback, holding
    every one of ``needles``; returns it."""
    err = capsys.readouterr().err
    assert err.startswith("xnorlearn: error:"), err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    for n in needles:
        assert n in err, (n, err)
    return err
