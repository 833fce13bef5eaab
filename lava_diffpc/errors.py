"""The failures a started run can end with, apart from bad input (``ValueError``).

The command line maps them to its exit codes (:mod:`lava_diffpc.cli`): bad input or usage
2, :class:`RunFailed` 1, an interrupt 130.
"""

from __future__ import annotations


class RunFailed(Exception):
    """A run that started could not go on: its weights diverged, or the machine failed it
    (a checkpoint that cannot be written). The message says what was kept and what to do."""


class Diverged(RunFailed):
    """Non-finite gradients, loss or weights: training stops before they reach a checkpoint."""
