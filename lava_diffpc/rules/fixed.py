"""The per-step DiffPC neuron rules in integer arithmetic (spec sections 3 and 7).

The integer twin of :mod:`lava_diffpc.rules.dynamics`: pure functions on NumPy integer
arrays (computed in ``int64``, results saturated to 24 bits), shared by the Lava
``fixed_pt`` process models and the batched fast simulator :mod:`lava_diffpc.fixedsim`,
so both run literally the same arithmetic. Shapes as in the float rules: ``(neurons,)``
in Lava, ``(batch, neurons)`` in the simulator.

Scales (all documented in :mod:`lava_diffpc.fixed_point`, which builds the integers):

* a state ``v`` (activation units) is the integer ``v_int = v * 2**F`` (``F`` fractional
  bits, default 12); every state is a signed 24-bit integer, **saturated** (clipped) to
  ``[STATE_MIN, STATE_MAX] = [-2**23, 2**23 - 1]`` after every update;
* a threshold is ``T_int = T * 2**F`` (from ``Schedule.thresholds_fixed``), a power of two
  times a small decay multiplier;
* a weight is an 8-bit signed mantissa with a per-connection exponent ``E``:
  ``W = W_mant * 2**-E``; a synapse delivers the exact integer dendritic sum
  ``a = W_mant @ s`` of the ternary spikes ``s``;
* gamma is ``2**-g``, a right shift by ``g`` (``g = 0`` in the feed-forward phase);
  ``g = GAMMA_OFF`` means gamma = 0 (no target update at that step).

One step of a layer l >= 1 (``>>r`` is :func:`shift_round`, round half up)::

    x_F  = sat(x_F  + (T_prev * a_fwd) >>r E_l)
    e_in = sat(e_in + (T_prev * a_fb)  >>r E_{l+1})
    e_T  = sat(x_T - x_F)                                  (clamped: x_T = clamp first)
    x_T  = sat(x_T + sat(-e_T + 1[x_T > 0] * e_in) >>r g)  (skipped when g == GAMMA_OFF)
    s_A  = sign(x_T - x_A) * 1[|x_T - x_A| > T],  s_A *= 1[x_A + T s_A > 0]
    x_A  = sat(x_A + T * s_A)
    s_e  = sign(e_T - e_A) * 1[|e_T - e_A| > T]            (0 when error spikes are off)
    e_A  = sat(e_A + T * s_e)

Rounding: ``v >>r s = floor((v + 2**(s-1)) / 2**s)`` for ``s > 0`` (round to nearest,
ties toward +inf, error <= 1/2 LSB), ``v * 2**-s`` exactly for ``s <= 0``. The products
``T_prev * a`` and the sums before saturation are formed in ``int64`` (wider than the
24-bit state); only their saturated results are stored.
"""

from __future__ import annotations

import numpy as np

from lava_diffpc.rules.dynamics import LayerState

STATE_BITS = 24
STATE_MIN = -(1 << (STATE_BITS - 1))
STATE_MAX = (1 << (STATE_BITS - 1)) - 1
GAMMA_OFF = -1  # gamma shift meaning "gamma = 0": no target update at this step


def as_int(v: np.ndarray | int) -> np.ndarray:
    """``v`` as an ``int64`` array (ports deliver ``int32``; arithmetic needs headroom)."""
    return np.asarray(v, dtype=np.int64)


def saturate(v: np.ndarray) -> np.ndarray:
    """Clip to the signed 24-bit state range ``[-2**23, 2**23 - 1]``."""
    return np.clip(as_int(v), STATE_MIN, STATE_MAX)


def shift_round(v: np.ndarray, shift: int) -> np.ndarray:
    """``v * 2**-shift`` as an integer: round half up for ``shift > 0``, exact otherwise."""
    v = as_int(v)
    if shift <= 0:
        return v << -shift
    return (v + (1 << (shift - 1))) >> shift


def spike_sum(spikes: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """The dendritic sum ``spikes @ weights.T`` (``weights``: (n_out, n_in) mantissas).

    Exact integers: the product runs in float64 BLAS, exact because every partial sum is an
    integer below ``2**53`` (``|a| <= 128 * n_in``), then returns as ``int64``.
    """
    out = np.asarray(spikes, dtype=np.float64) @ np.asarray(weights, dtype=np.float64).T
    return np.rint(out).astype(np.int64)


def dendrite(a: np.ndarray, t_prev: int, weight_exp: int) -> np.ndarray:
    """State increment ``(T_prev * a) >>r E`` of a dendritic sum ``a`` (in state LSBs).

    Exact (no rounding) whenever ``T_prev`` is a multiple of ``2**E``.
    """
    return shift_round(int(t_prev) * as_int(a), weight_exp)


def ternary_spike(diff: np.ndarray, threshold: int) -> np.ndarray:
    """``sign(diff) * 1[|diff| > threshold]`` as -1/0/+1 (``int64``)."""
    diff = as_int(diff)
    return (diff > threshold).astype(np.int64) - (diff < -threshold).astype(np.int64)


def track(target: np.ndarray, announced: np.ndarray, threshold: int,
          gate: bool) -> tuple[np.ndarray, np.ndarray]:
    """One difference-encoding step: ``(sat(announced + T s), s)``, gated if ``gate``."""
    announced = as_int(announced)
    s = ternary_spike(as_int(target) - announced, threshold)
    if gate:
        s = s * (announced + threshold * s > 0)
    return saturate(announced + threshold * s), s


def reset_layer(bias: np.ndarray, like: np.ndarray) -> LayerState:
    """A sample's first state: ``x_F = bias`` (integer, state LSBs), everything else 0."""
    zero = np.zeros(np.shape(like), dtype=np.int64)
    return LayerState(zero + as_int(bias), zero, zero, zero, zero, zero)


def layer_step(
    state: LayerState,
    fwd: np.ndarray,
    fb: np.ndarray,
    t_prev: int,
    t_now: int,
    gamma_shift: int,
    *,
    fwd_exp: int,
    fb_exp: int,
    error_spikes: bool,
    clamp: np.ndarray | None = None,
    gate: bool = True,
) -> tuple[LayerState, np.ndarray, np.ndarray]:
    """One integer time step of a layer (module docstring); returns (state, s_A, s_e).

    Args:
        state: integer states after the previous step (or :func:`reset_layer`).
        fwd: dendritic sum ``W_mant,l @ s_A^{l-1}(k-1)`` (zeros at k = 0).
        fb: dendritic sum ``W_mant,l+1^T @ s_e^{l+1}(k-1)`` (zeros at the top).
        t_prev: ``T_int(k-1)`` (0 at k = 0); t_now: ``T_int(k)``.
        gamma_shift: ``g`` with gamma = ``2**-g``, or :data:`GAMMA_OFF`.
        fwd_exp, fb_exp: weight exponents ``E`` of the incoming and the feedback synapse.
        error_spikes: emit error spikes (off in the feed-forward phase).
        clamp: integer target to hold ``x_T`` at (output layer, learning phase).
        gate: spiking-ReLU gate on activity spikes.
    """
    x_F = saturate(state.x_F + dendrite(fwd, t_prev, fwd_exp))
    e_in = saturate(state.e_in + dendrite(fb, t_prev, fb_exp))
    if clamp is not None:
        x_T = as_int(clamp) + 0 * as_int(state.x_T)
        e_T = saturate(x_T - x_F)
    else:
        x_T = as_int(state.x_T)
        e_T = saturate(x_T - x_F)
        if gamma_shift != GAMMA_OFF:
            update = saturate(-e_T + (x_T > 0) * e_in)
            x_T = saturate(x_T + shift_round(update, gamma_shift))
    x_A, s_A = track(x_T, state.x_A, t_now, gate)
    if error_spikes:
        e_A, s_e = track(e_T, state.e_A, t_now, gate=False)
    else:
        e_A, s_e = as_int(state.e_A), np.zeros_like(e_T)
    return LayerState(x_F, x_T, x_A, e_T, e_A, e_in), s_A, s_e
