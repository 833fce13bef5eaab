"""DiffPCInput: the input layer 0, clamping one sample after another."""

from __future__ import annotations

import numpy as np
from lava.magma.core.process.ports.ports import OutPort
from lava.magma.core.process.process import AbstractProcess
from lava.magma.core.process.variable import Var


class DiffPCInput(AbstractProcess):
    """Input neurons: ``x_T^0`` clamped to sample i, activity spikes announce it.

    Per time step (``K = steps``)::

        k = (time_step - 1) mod K,   i = (time_step - 1) div K  (mod num_samples)
        k == 0:  x_A = 0
        s = sign(data[i] - x_A) * 1[|data[i] - x_A| > T(k)]   (ReLU-gated iff gate)
        x_A += T(k) s;  send s on s_out (ternary)

    ``floating_pt`` calls :func:`lava_diffpc.rules.dynamics.track`, ``fixed_pt``
    :func:`lava_diffpc.rules.fixed.track` (``data`` and ``x_A`` in LSBs of ``2**-F``,
    quantised by :func:`lava_diffpc.fixed_point.quantize_input`). The output side of the
    network (label clamp, predictions) lives in the top :class:`DiffPCLayer`.

    Vars: ``data`` (num_samples, n), ``x_A``, ``thresholds`` (K,), ``steps``, ``k1``,
    ``act_count`` (``[feed-forward, learning]`` spike totals).

    Args:
        data: ``(num_samples, n)`` samples (float, or integer LSBs for fixed point).
        thresholds: ``T(k)`` for k = 0..steps-1.
        k1: steps of the feed-forward phase; steps: steps per sample.
        gate: spiking-ReLU gate on the input spikes (off: signed input, spec section 8).
    """

    def __init__(self, *, data: np.ndarray, thresholds: np.ndarray, k1: int, steps: int,
                 gate: bool = False, name: str | None = None) -> None:
        data = np.asarray(data)
        if data.ndim != 2 or data.shape[0] < 1:
            raise ValueError(f"data must be (num_samples, n), got shape {data.shape}")
        if len(thresholds) != steps or not 1 <= k1 <= steps:
            raise ValueError(f"need {steps} thresholds and 1 <= k1 <= steps, got "
                             f"{len(thresholds)} and k1={k1}")
        n = data.shape[1]
        super().__init__(shape=(n,), gate=gate, name=name)
        self.s_out = OutPort(shape=(n,))
        self.data = Var(shape=data.shape, init=data)
        self.x_A = Var(shape=(n,), init=0)
        self.thresholds = Var(shape=(steps,), init=np.asarray(thresholds))
        self.k1 = Var(shape=(1,), init=int(k1))
        self.steps = Var(shape=(1,), init=int(steps))
        self.act_count = Var(shape=(2,), init=0)
