"""The per-step DiffPC neuron rules (spec section 3), written once for both arithmetics.

Pure functions over explicit state: arrays in, arrays out, no hidden state. The arithmetic
(:data:`~lava_diffpc.rules.arithmetic.REAL` or :data:`~lava_diffpc.rules.arithmetic.FIXED`)
is a parameter: it decides saturation, how a spike sum is scaled by the senders' threshold
and how gamma applies, and nothing else. The same code runs on NumPy arrays (the Lava
process models, shapes ``(neurons,)``) and on PyTorch tensors (the batched drivers, shapes
``(batch, *neurons)``, eager or under ``torch.compile``).

One time step of a layer l >= 1 (``fwd = W_l s_A^{l-1}(k-1)`` and
``fb = W_{l+1}^T s_e^{l+1}(k-1)`` are the raw spike sums the synapses deliver, ``T_prev``
the senders' threshold of the previous step, ``sat``, ``dendrite`` and ``gain`` the
arithmetic's)::

    x_F  = sat(x_F  + dendrite(fwd, T_prev, E_l))            real: x_F + T_prev * fwd
    e_in = sat(e_in + dendrite(fb, T_prev, E_{l+1}))
    e_T  = sat(x_T - x_F)                                     (clamped: x_T = clamp first)
    x_T  = sat(x_T + gain(sat(-e_T + 1[x_T > 0] * e_in), gamma))   real: gamma * (...)
    s_A  = sign(x_T - x_A) * 1[|x_T - x_A| > T],  s_A *= 1[x_A + T * s_A > 0]  (ReLU gate)
    x_A  = sat(x_A + T * s_A)
    s_e  = sign(e_T - e_A) * 1[|e_T - e_A| > T]               (0 when error spikes are off)
    e_A  = sat(e_A + T * s_e)

Units: real states, thresholds and the data are in activation units; fixed-point states are
integers in units of ``2**-F`` (:mod:`lava_diffpc.fixed_point`). Spikes are ternary
(-1, 0, +1) in the states' dtype.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from lava_diffpc.rules.arithmetic import (
    REAL,
    Arithmetic,
    add_spikes,
    compare_directly,
    dead_zone,
    positive,
)

Array = Any  # numpy.ndarray or torch.Tensor


class StepValues(NamedTuple):
    """What the schedule says about one step k, in one arithmetic's units.

    ``t_prev`` is ``T(k-1)`` (0 at a sample's first step, where nothing arrives), ``t_now``
    is ``T(k)``, ``gamma`` the target-update rate (real) or its shift ``g`` (fixed point),
    ``learning`` whether k lies in the learning phase (error spikes on, output clamped).
    Built by :meth:`lava_diffpc.rules.schedule.ScheduleTable.step`.
    """

    t_prev: Any
    t_now: Any
    gamma: Any
    learning: bool


class LayerState(NamedTuple):
    """The six state variables of the neurons of one layer l >= 1 (spec section 1)."""

    x_F: Array  # prediction built from the spikes of layer l-1 (plus the bias)
    x_T: Array  # target activity (value node)
    x_A: Array  # activity announced so far with activity spikes
    e_T: Array  # target error x_T - x_F
    e_A: Array  # error announced so far with error spikes
    e_in: Array  # feedback: accumulated W_{l+1}^T times error spikes of layer l+1


def ternary_spike(diff: Array, threshold: Array) -> Array:
    """``sign(diff) * 1[|diff| > threshold]`` as -1/0/+1 in ``diff``'s dtype.

    Made by comparisons, ``1[diff - T > 0] - 1[-T - diff > 0]``, where those are cheap
    (:func:`~lava_diffpc.rules.arithmetic.compare_directly`), else as the sign of the
    dead zone ``diff - clip(diff, -T, T)`` (:func:`~lava_diffpc.rules.arithmetic.dead_zone`,
    one pass in eager PyTorch). Both are exact in both arithmetics: a difference of two
    distinct floats is never 0 and has the sign of their order, and inside the band the
    dead zone is exactly 0."""
    if compare_directly(diff):
        return positive(diff - threshold) - positive(-threshold - diff)
    return dead_zone(diff, threshold).sign()  # eager PyTorch only


def track(target: Array, announced: Array, threshold: Array, gate: bool,
          arith: Arithmetic = REAL) -> tuple[Array, Array]:
    """One difference-encoding step: the spike that moves ``announced`` toward ``target``.

    Returns ``(sat(announced + T * s), s)`` with ``s`` ternary; with ``gate`` (spiking
    ReLU) a spike that would take ``announced`` to zero or below is dropped.
    """
    s = ternary_spike(target - announced, threshold)
    if gate:
        s = s * positive(add_spikes(announced, threshold, s))
    return arith.sat(add_spikes(announced, threshold, s)), s


def reset_layer(bias: Array, like: Array) -> LayerState:
    """State at a sample's first step: all zero except ``x_F = bias``.

    The bias arrives once per sample, as the single spike of an always-on unit with
    threshold 1; ``like`` gives the shape, dtype and device (``bias`` broadcasts to it).
    """
    zero = like * 0
    return LayerState(zero + bias, zero, zero, zero, zero, zero)


def layer_step(state: LayerState, fwd: Array | None, fb: Array | None, step: StepValues,
               arith: Arithmetic = REAL, *, fwd_exp: int = 0, fb_exp: int = 0,
               clamp: Array | None = None,
               gate: bool = True) -> tuple[LayerState, Array, Array]:
    """One synchronous time step of a layer (module docstring); returns (state, s_A, s_e).

    Args:
        state: the layer's state after the previous step (or :func:`reset_layer`).
        fwd: ``W_l s_A^{l-1}(k-1)``, the raw forward spike sum (integer dendritic sum in
            fixed point); None when no spike arrived, which skips the addition.
        fb: ``W_{l+1}^T s_e^{l+1}(k-1)``, the raw feedback spike sum; None likewise
            (always at the top layer).
        step: the schedule's values at this step (:class:`StepValues`); error spikes are
            emitted in the learning phase only.
        arith: :data:`~lava_diffpc.rules.arithmetic.REAL` or ``FIXED``.
        fwd_exp, fb_exp: fixed point: weight exponents ``E`` of the incoming and of the
            feedback synapse (ignored by real arithmetic).
        clamp: when given, ``x_T`` is set to it instead of updated (output in learning).
        gate: apply the spiking-ReLU gate to activity spikes.
    """
    sat = arith.sat
    x_F = state.x_F if fwd is None else sat(state.x_F + arith.dendrite(fwd, step.t_prev,
                                                                       fwd_exp))
    e_in = state.e_in if fb is None else sat(state.e_in + arith.dendrite(fb, step.t_prev,
                                                                         fb_exp))
    if clamp is not None:
        x_T = clamp + 0 * state.x_T
        e_T = sat(x_T - x_F)
    else:
        e_T = sat(state.x_T - x_F)
        x_T = state.x_T
        if not arith.gamma_off(step.gamma):  # gamma known to be 0: no target update
            update = sat(positive(x_T) * e_in - e_T)
            x_T = sat(x_T + arith.gain(update, step.gamma))
    x_A, s_A = track(x_T, state.x_A, step.t_now, gate, arith)
    if step.learning:
        e_A, s_e = track(e_T, state.e_A, step.t_now, False, arith)
    else:
        e_A, s_e = state.e_A, e_T * 0
    return LayerState(x_F, x_T, x_A, e_T, e_A, e_in), s_A, s_e
