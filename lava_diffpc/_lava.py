"""Guard for the Lava-dependent modules: a clear error instead of an obscure import failure.

The float reference, the rules and the fast fixed-point simulator never import this module
or Lava; :mod:`lava_diffpc.proc`, :mod:`lava_diffpc.lava_graph` and the lava-dl runner of
:mod:`lava_diffpc.export.netx` call :func:`require_lava` first.
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
    _allow_lava_fork_start_method()


def _allow_lava_fork_start_method() -> None:
    """Let Lava's import-time ``multiprocessing.set_start_method('fork')`` succeed.

    Lava 0.10 calls it, without ``force``, when its message infrastructure is first
    imported; it raises "context has already been set" if anything earlier fixed the start
    method (e.g. a library that called ``multiprocessing.get_start_method()``). When the
    method fixed so far is already 'fork', forget it so Lava's call sets the same value;
    any other method cannot run Lava's runtime and is reported.
    """
    import multiprocessing as mp

    if "lava.magma.runtime.message_infrastructure.multiprocessing" in sys.modules:
        return
    method = mp.get_start_method(allow_none=True)
    if method is None:
        return
    if method != "fork":
        raise RuntimeError(f"Lava's runtime needs the 'fork' multiprocessing start method, but "
                           f"{method!r} is already set in this process")
    mp.context._default_context._actual_context = None  # Lava sets 'fork' again
