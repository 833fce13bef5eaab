"""DiffPCSynapse: one weight matrix serving the forward (W) and backward (W^T) paths."""

from __future__ import annotations

from typing import Any

import numpy as np
from lava.magma.core.process.ports.ports import InPort, OutPort
from lava.magma.core.process.variable import Var

from lava_diffpc.fixed_point import FixedFormat
from lava_diffpc.proc.common import (
    DiffPCProcess,
    arithmetic_name,
    phase_steps,
    real_array,
    schedule_values,
    steps_per_sample,
    synapse_weights,
)
from lava_diffpc.rules import fixed_learning
from lava_diffpc.rules.fixed_learning import OnChipRule
from lava_diffpc.rules.schedule import Schedule


class DiffPCSynapse(DiffPCProcess):
    """The connection from layer l-1 to layer l, holding ``W_l`` once, optionally learning.

    Per time step it first sends what it computed at the previous step, then receives
    (one step of delay, like Lava's ``Dense``; sending first keeps the W / W^T cycle free of
    deadlock)::

        a_out_fwd(t) = a_fwd = W s_in_act(t-1)       (to layer l's a_in_fwd)
        a_out_bwd(t) = a_bwd = W^T s_in_err(t-1)     (to layer l-1's a_in_fb)

    ``s_in_act`` carries the ternary activity spikes of layer l-1, ``s_in_err`` the ternary
    error spikes of layer l. ``floating_pt``: float64 ``W`` and sums. ``fixed_pt``: ``W`` is
    the 8-bit signed mantissa ``W_mant`` and the outputs are exact integer dendritic sums
    (:meth:`~lava_diffpc.rules.arithmetic.FixedArithmetic.synaptic_sum`); the real weight is
    ``W_mant * 2**-weight_exp``, and the receiving layer applies the exponent with the
    threshold (:meth:`~lava_diffpc.rules.arithmetic.FixedArithmetic.dendrite`). Both outputs
    are zero at the first
    step.

    On-chip learning (``learn=OnChipRule(...)``; the local rule of spec section 4.4, batch 1).
    With ``k = (time_step - 1 - phase_offset) mod steps`` the synapse also keeps the
    presynaptic trace::

        k == 0:  trace = 0
        trace += impulses[k] * s_in_act(t)           (rebuilds x_A^{l-1} from the spikes)
        k == steps - 1, after the sums:  W += update(trace, a_in_post(t))

    ``a_in_post`` carries the post layer's third factor, sent every step; the value of the
    sample's last step is used: ``e_T^l`` itself (float) or its 8-bit form ``y``
    (:func:`lava_diffpc.rules.fixed_learning.error_factor`). ``floating_pt``: ``impulses``
    are the thresholds ``T(k)``, so ``trace = x_A^{l-1}``
    (:func:`lava_diffpc.rules.learning.accumulate_activity`), and the update is
    ``W += alpha e_T trace^T`` (:func:`lava_diffpc.rules.learning.sgd_update`). ``fixed_pt``:
    ``impulses = T_int(k) >> p`` (trace units ``2**(p - F)``) and the update is the
    learning-engine form of :func:`lava_diffpc.rules.fixed_learning.weight_update` with the
    engine shift ``r`` and the seeded generator of the matrix (one number per sample)
    (:func:`lava_diffpc.rules.fixed_learning.synapse_rng`). The update lands in the last
    step of a sample, so the next sample's first sums (k = 0) use the new ``W`` on both
    paths: the forward and backward directions are one matrix and cannot diverge.

    Args (values in real units; fixed point quantises them):
        weights: ``(n_out, n_in)`` real weights ``W``. Fixed point stores the mantissas
            ``W_mant = round(W 2**E)`` (:func:`lava_diffpc.fixed_point.quantize_connection`);
            the exponent ``E`` is ``weight_exp``, or by default the largest that fits
            ``max|W|`` into ``fixed.weight_bits``. It is :attr:`weight_exponent` (0 in
            float), which the layers on both sides need (``fwd_exp`` / ``fb_exp``).
        fixed: None for the float model, or the :class:`~lava_diffpc.fixed_point.
            FixedFormat` of the fixed-point model.
        weight_exp: fixed point: the exponent ``E`` (a mantissa that overflows raises).
        learn: on-chip learning with this :class:`~lava_diffpc.rules.fixed_learning.
            OnChipRule` at the end of every sample (needs ``schedule``; float uses
            ``alpha = rule.alpha``, fixed the engine shift ``r`` and ``rule.seed``).
        schedule, steps: the schedule and steps per sample (learning only; steps must be
            ``schedule.steps``, the default).
        layer: index ``l`` of the stochastic-rounding generator (learning).
        phase_offset: time steps before the first sample starts (learning only).
    """

    def __init__(self, *, weights: Any, fixed: FixedFormat | None = None,
                 weight_exp: int | None = None, learn: OnChipRule | None = None,
                 schedule: Schedule | None = None, steps: int | None = None, layer: int = 1,
                 phase_offset: int = 0, name: str | None = None) -> None:
        arithmetic = arithmetic_name(fixed)
        weights = real_array(weights, "weights")
        if weights.ndim != 2 or min(weights.shape) < 1:
            raise ValueError(f"weights must be (n_out, n_in), got shape {weights.shape}")
        weights, exponent = synapse_weights(weights, fixed, weight_exp)
        impulses, shift, steps = self._learning(learn, schedule, steps, fixed, exponent)
        n_out, n_in = weights.shape
        super().__init__(shape=weights.shape, learn=learn is not None,
                         alpha=learn.alpha if learn else 0.0, shift=shift,
                         seed=learn.seed if learn else 0, layer=int(layer),
                         arithmetic=arithmetic, phase_offset=phase_steps(phase_offset),
                         name=name)
        self.weight_exponent = exponent
        self.s_in_act = InPort(shape=(n_in,))
        self.a_out_fwd = OutPort(shape=(n_out,))
        self.s_in_err = InPort(shape=(n_out,))
        self.a_out_bwd = OutPort(shape=(n_in,))
        self.a_in_post = InPort(shape=(n_out,))
        self.weights = Var(shape=weights.shape, init=weights)
        self.weight_exp = Var(shape=(1,), init=exponent)
        self.a_fwd = Var(shape=(n_out,), init=0)
        self.a_bwd = Var(shape=(n_in,), init=0)
        self.trace = Var(shape=(n_in,), init=0)
        self.impulses = Var(shape=(len(impulses),), init=impulses)
        self.steps = Var(shape=(1,), init=steps)
        self.saturated = Var(shape=(1,), init=0)

    @staticmethod
    def _learning(learn: OnChipRule | None, schedule: Schedule | None, steps: int | None,
                  fixed: FixedFormat | None, exponent: int) -> tuple[np.ndarray, int, int]:
        """``(impulses, shift r, steps)`` of the trace and the update (zeros without
        learning): float impulses ``T(k)``; fixed ``T_int(k) >> p`` and
        :func:`~lava_diffpc.rules.fixed_learning.update_shift`."""
        if learn is None:
            return np.zeros(1), 0, 1
        if not isinstance(learn, OnChipRule):
            raise ValueError(f"learn must be an OnChipRule or None, got {learn!r}")
        if schedule is None:
            raise ValueError("a learning synapse needs the schedule (schedule=...)")
        steps = steps_per_sample(schedule, steps)
        if steps != schedule.steps:
            raise ValueError(f"on-chip learning needs a learning phase: steps = "
                             f"schedule.steps ({schedule.steps}), not k1 ({schedule.k1})")
        thresholds, _ = schedule_values(schedule, steps, fixed)
        if fixed is None:
            return thresholds, 0, steps
        p = fixed_learning.trace_shift(thresholds)
        return (fixed_learning.trace_impulses(thresholds, p),
                fixed_learning.update_shift(learn, exponent, p, fixed.frac_bits), steps)
