"""DiffPCInput: the input layer 0, clamping one sample after another."""

from __future__ import annotations

from typing import Any

from lava.magma.core.process.ports.ports import OutPort
from lava.magma.core.process.variable import Var

from lava_diffpc.fixed_point import FixedFormat, quantize_input
from lava_diffpc.proc.common import (
    DiffPCProcess,
    arithmetic_name,
    phase_steps,
    real_array,
    schedule_values,
    steps_per_sample,
)
from lava_diffpc.rules.schedule import Schedule


class DiffPCInput(DiffPCProcess):
    """Input neurons: ``x_T^0`` clamped to sample i, activity spikes announce it.

    Per time step (``K = steps``, ``P = phase_offset``)::

        t <= P:  idle (sends zeros)
        k = (time_step - 1 - P) mod K,   i = (time_step - 1 - P) div K  (mod num_samples)
        k == 0:  x_A = 0
        s = sign(data[i] - x_A) * 1[|data[i] - x_A| > T(k)]   (ReLU-gated iff gate)
        x_A += T(k) s;  send s on s_out (ternary)

    Both models call :func:`lava_diffpc.rules.dynamics.track`: ``floating_pt`` in real
    arithmetic, ``fixed_pt`` in fixed point. The output side of the network (label clamp,
    predictions) lives in the top :class:`~lava_diffpc.proc.layer.process.DiffPCLayer`.

    Vars: ``data`` (num_samples, n), ``x_A``, ``thresholds`` (K,), ``steps``, ``act_count``
    (``[feed-forward, learning]`` spike totals); fixed point: ``data``, ``x_A`` and
    ``thresholds`` in LSBs of ``2**-F``.

    Args:
        data: ``(num_samples, n)`` samples in activation units (real numbers); fixed point
            quantises them with :func:`lava_diffpc.fixed_point.quantize_input`
            (``round(x 2**F)``, saturated to 24 bits).
        schedule: the :class:`~lava_diffpc.rules.schedule.Schedule` (thresholds ``T(k)``
            and phases).
        steps: steps per sample, ``schedule.k1`` (inference) or ``schedule.steps``
            (training, the default).
        fixed: None for the float model, or the :class:`~lava_diffpc.fixed_point.
            FixedFormat` of the fixed-point model.
        gate: spiking-ReLU gate on the input spikes (off: signed input, spec section 8).
        phase_offset: time steps before the first sample starts.
    """

    def __init__(self, *, data: Any, schedule: Schedule, steps: int | None = None,
                 fixed: FixedFormat | None = None, gate: bool = False, phase_offset: int = 0,
                 name: str | None = None) -> None:
        arithmetic = arithmetic_name(fixed)
        data = real_array(data, "data")
        if data.ndim != 2 or data.shape[0] < 1 or data.shape[1] < 1:
            raise ValueError(f"data must be (num_samples, n) with at least one sample, got "
                             f"shape {data.shape}")
        steps = steps_per_sample(schedule, steps)
        thresholds, _ = schedule_values(schedule, steps, fixed)
        if fixed is not None:
            data = quantize_input(data, fixed)
        n = data.shape[1]
        super().__init__(shape=(n,), gate=bool(gate), schedule=schedule.to_dict(),
                         arithmetic=arithmetic, phase_offset=phase_steps(phase_offset),
                         name=name)
        self.s_out = OutPort(shape=(n,))
        self.data = Var(shape=data.shape, init=data)
        self.x_A = Var(shape=(n,), init=0)
        self.thresholds = Var(shape=(steps,), init=thresholds)
        self.steps = Var(shape=(1,), init=steps)
        self.act_count = Var(shape=(2,), init=0)
