"""The per-step DiffPC neuron rules in floating point (spec section 3).

Pure functions over explicit state: arrays in, arrays out, no hidden state. They run
unchanged on NumPy arrays (the Lava ``floating_pt`` models) and on PyTorch tensors (the
batched reference), because they use only arithmetic, comparisons and the two helpers
below. Shapes: any, as long as the arrays of one layer broadcast; the reference uses
``(batch, neurons)``, the Lava models ``(neurons,)``.

One time step of a layer l >= 1 (T_prev is the senders' threshold of the previous step,
``fwd = W_l s_A^{l-1}(k-1)`` and ``fb = W_{l+1}^T s_e^{l+1}(k-1)`` are the raw spike sums
the synapses deliver)::

    x_F  += T_prev * fwd
    e_T   = x_T - x_F
    e_in += T_prev * fb
    x_T  += gamma * (-e_T + 1[x_T > 0] * e_in)        (clamped: x_T = clamp first)
    s_A   = sign(x_T - x_A) * 1[|x_T - x_A| > T]
    s_A  *= 1[x_A + T * s_A > 0]                       (spiking-ReLU gate)
    x_A  += T * s_A
    s_e   = sign(e_T - e_A) * 1[|e_T - e_A| > T]       (0 when error spikes are off)
    e_A  += T * s_e

Units: every state is in activation units (the units of the data after
normalisation); thresholds are in the same units; spikes are ternary (-1, 0, +1).
"""

from __future__ import annotations

from typing import Any, NamedTuple

Array = Any  # numpy.ndarray or torch.Tensor


def _as_float(mask: Array, like: Array) -> Array:
    """A boolean mask as 0/1 in ``like``'s dtype (NumPy or PyTorch)."""
    if hasattr(mask, "to"):  # torch.Tensor
        return mask.to(like.dtype)
    return mask.astype(like.dtype)


def ternary_spike(diff: Array, threshold: Array | float) -> Array:
    """``sign(diff) * 1[|diff| > threshold]`` as -1/0/+1 in ``diff``'s dtype."""
    return _as_float(diff > threshold, diff) - _as_float(diff < -threshold, diff)


def relu_gate(spike: Array, x_A: Array, threshold: Array | float) -> Array:
    """Spiking ReLU: drop a spike that would take ``x_A`` to zero or below."""
    return spike * _as_float(x_A + threshold * spike > 0, x_A)


def track(target: Array, announced: Array, threshold: Array | float,
          gate: bool) -> tuple[Array, Array]:
    """One difference-encoding step: the spike that moves ``announced`` toward ``target``.

    Returns ``(announced + T * s, s)`` with ``s`` ternary, gated when ``gate`` is true.
    """
    s = ternary_spike(target - announced, threshold)
    if gate:
        s = relu_gate(s, announced, threshold)
    return announced + threshold * s, s


class LayerState(NamedTuple):
    """The six state variables of the neurons of one layer l >= 1 (spec section 1)."""

    x_F: Array  # prediction built from the spikes of layer l-1 (plus the bias)
    x_T: Array  # target activity (value node)
    x_A: Array  # activity announced so far with activity spikes
    e_T: Array  # target error x_T - x_F
    e_A: Array  # error announced so far with error spikes
    e_in: Array  # feedback: accumulated W_{l+1}^T times error spikes of layer l+1


def reset_layer(bias: Array, like: Array) -> LayerState:
    """State at a sample's first step: all zero except ``x_F = bias``.

    The bias arrives once per sample, as the single spike of an always-on unit with
    threshold 1; ``like`` gives the shape, dtype and device (``bias`` broadcasts to it).
    """
    zero = like * 0
    return LayerState(zero + bias, zero, zero, zero, zero, zero)


def layer_step(
    state: LayerState,
    fwd: Array | None,
    fb: Array | None,
    t_prev: float,
    t_now: float,
    gamma: float,
    *,
    error_spikes: bool,
    clamp: Array | None = None,
    gate: bool = True,
) -> tuple[LayerState, Array, Array]:
    """One synchronous time step of a layer (module docstring); returns (state, s_A, s_e).

    Args:
        state: the layer's state after the previous step (or :func:`reset_layer`).
        fwd: ``W_l s_A^{l-1}(k-1)``, the raw forward spike sum; None when no spike
            arrived (k = 0, or a silent step), which skips the addition.
        fb: ``W_{l+1}^T s_e^{l+1}(k-1)``, the raw feedback spike sum; None likewise
            (always at the top layer).
        t_prev: the senders' threshold ``T(k-1)`` that scales ``fwd`` and ``fb``.
        t_now: this step's threshold ``T(k)``.
        gamma: target-update rate at this step.
        error_spikes: whether error spikes are emitted (off in the feed-forward phase).
        clamp: when given, ``x_T`` is set to it instead of updated (output in learning).
        gate: apply the spiking-ReLU gate to activity spikes.
    """
    x_F = state.x_F if fwd is None else state.x_F + t_prev * fwd
    e_in = state.e_in if fb is None else state.e_in + t_prev * fb
    if clamp is not None:
        x_T = clamp + 0 * state.x_T
        e_T = x_T - x_F
    else:
        e_T = state.x_T - x_F
        x_T = state.x_T
        if gamma != 0:
            x_T = x_T + gamma * (-e_T + _as_float(x_T > 0, x_T) * e_in)
    x_A, s_A = track(x_T, state.x_A, t_now, gate)
    if error_spikes:
        e_A, s_e = track(e_T, state.e_A, t_now, gate=False)
    else:
        e_A, s_e = state.e_A, e_T * 0
    return LayerState(x_F, x_T, x_A, e_T, e_A, e_in), s_A, s_e
