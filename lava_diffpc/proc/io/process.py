"""DiffPCInput: the input layer 0, clamping one sample after another."""

from __future__ import annotations

import numpy as np
from lava.magma.core.process.ports.ports import OutPort
from lava.magma.core.process.process import AbstractProcess
from lava.magma.core.process.variable import Var

from lava_diffpc.rules.schedule import Schedule


class DiffPCInput(AbstractProcess):
    """Input neurons: ``x_T^0`` clamped to sample i, activity spikes announce it.

    Per time step (``K = steps``)::

        k = (time_step - 1) mod K,   i = (time_step - 1) div K  (mod num_samples)
        k == 0:  x_A = 0
        s = sign(data[i] - x_A) * 1[|data[i] - x_A| > T(k)]   (ReLU-gated iff gate)
        x_A += T(k) s;  send s on s_out (ternary)

    Both models call :func:`lava_diffpc.rules.dynamics.track`: ``floating_pt`` in real
    arithmetic, ``fixed_pt`` in fixed point (``data`` and ``x_A`` in LSBs of ``2**-F``,
    quantised by :func:`lava_diffpc.fixed_point.quantize_input`). The output side of the
    network (label clamp, predictions) lives in the top :class:`DiffPCLayer`.

    Vars: ``data`` (num_samples, n), ``x_A``, ``thresholds`` (K,), ``steps``,
    ``act_count`` (``[feed-forward, learning]`` spike totals).

    Args:
        data: ``(num_samples, n)`` samples (float, or integer LSBs for fixed point).
        thresholds: ``T(k)`` for k = 0..steps-1.
        schedule: the :class:`~lava_diffpc.rules.schedule.Schedule` (its phases count the
            spikes per phase); steps: steps per sample (``schedule.k1`` or
            ``schedule.steps``).
        gate: spiking-ReLU gate on the input spikes (off: signed input, spec section 8).
    """

    def __init__(self, *, data: np.ndarray, thresholds: np.ndarray, schedule: Schedule,
                 steps: int,
                 gate: bool = False, name: str | None = None) -> None:
        data = np.asarray(data)
        if data.ndim != 2 or data.shape[0] < 1:
            raise ValueError(f"data must be (num_samples, n), got shape {data.shape}")
        if len(thresholds) != steps or steps not in (schedule.k1, schedule.steps):
            raise ValueError(f"need steps = {schedule.k1} or {schedule.steps} and as many "
                             f"thresholds, got steps={steps} and {len(thresholds)}")
        n = data.shape[1]
        super().__init__(shape=(n,), gate=gate, schedule=schedule.to_dict(), name=name)
        self.s_out = OutPort(shape=(n,))
        self.data = Var(shape=data.shape, init=data)
        self.x_A = Var(shape=(n,), init=0)
        self.thresholds = Var(shape=(steps,), init=np.asarray(thresholds))
        self.steps = Var(shape=(1,), init=int(steps))
        self.act_count = Var(shape=(2,), init=0)
