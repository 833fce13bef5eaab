"""Guard for the Lava-dependent modules: a clear error instead of an obscure import failure.

The float reference, the rules and the fast fixed-point simulator never import this module
or Lava; :mod:`lava_diffpc.proc` and :mod:`lava_diffpc.lava_graph` call
:func:`require_lava` first.
"""

from __future__ import annotations

import importlib.util
import sys

SETUP_HINT = ("lava-nc 0.10 installs and runs on Python 3.10 only: run `make test` (it "
              "creates .venv with Python 3.10 and installs lava-nc 0.10.0 and lava-dl 0.6.0), "
              "or `python3.10 -m venv .venv && .venv/bin/pip install -e '.[test]'`.")


def require_lava() -> None:
    """Raise ImportError unless this is Python 3.10 with an importable ``lava`` (lava-nc)."""
    if sys.version_info[:2] != (3, 10):
        raise ImportError(f"the Lava processes need Python 3.10, this is "
                          f"{sys.version_info.major}.{sys.version_info.minor}. {SETUP_HINT}")
    if importlib.util.find_spec("lava") is None or importlib.util.find_spec("lava.magma") is None:
        raise ImportError(f"lava-nc is not installed in this environment. {SETUP_HINT}")
