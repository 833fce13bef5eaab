"""The local DiffPC learning rule (spec section 4.4), in floating point.

At the end of a sample's learning phase each synapse W_l[i, j] sees its post neuron's
target error ``e_T^l[i]`` and its pre neuron's activity ``p^{l-1}[j]``::

    W_l += alpha * e_T^l  p^{l-1}^T          b_l += alpha * e_T^l

averaged over the batch. The presynaptic factor is ``phi(x_T^{l-1})`` (the paper), or
``x_A^{l-1}`` (what a synapse on chip can reconstruct from the spikes it received; it
tracks ``phi(x_T)`` within one threshold). For the input layer without the spiking-ReLU
gate, ``p^0`` is the signed ``x_T^0`` (or ``x_A^0``) itself.

As a gradient for an optimiser (``W -= lr * grad``) the rule reads
``grad_W = -mean_b(e_T p^T)`` and ``grad_b = -mean_b(e_T)``. Works on NumPy and PyTorch.
"""

from __future__ import annotations

from typing import Any

Array = Any

PRESYN_FACTORS = ("x_T", "x_A")


def presynaptic_factor(x_T: Array, x_A: Array, *, kind: str, gated: bool) -> Array:
    """The activity a synapse multiplies by its post error: ``phi(x_T)``, ``x_T`` or ``x_A``.

    ``gated`` says whether the presynaptic layer passes the spiking-ReLU gate (then its
    ``x_T`` enters through ``phi = ReLU``; ``x_A`` is non-negative by construction).
    """
    if kind == "x_A":
        return x_A
    if kind != "x_T":
        raise ValueError(f"presynaptic factor must be one of {PRESYN_FACTORS}, got {kind!r}")
    return x_T * (x_T > 0) if gated else x_T


def local_gradients(e_T: Array, pre: Array) -> tuple[Array, Array]:
    """Batch-mean descent directions ``(-e_T^T pre / B, -mean(e_T))`` for ``(W, b)``.

    ``e_T``: (B, n_out) post target errors; ``pre``: (B, n_in) presynaptic factors.
    Returns arrays of shape (n_out, n_in) and (n_out,).
    """
    return -(e_T.T @ pre) / e_T.shape[0], bias_gradient(e_T)


def bias_gradient(e_T: Array) -> Array:
    """``-mean_b(e_T)``: the bias is a synapse from an always-on unit (activity 1)."""
    return -e_T.sum(0) / e_T.shape[0]


def sgd_update(w: Array, e_T: Array, pre: Array, alpha: float) -> Array:
    """Plain local SGD (the on-chip-feasible form): ``w + alpha * e_T^T pre / B``."""
    grad_w, _ = local_gradients(e_T, pre)
    return w - alpha * grad_w


def sgd_bias_update(b: Array, e_T: Array, alpha: float) -> Array:
    """Plain local SGD of the bias: ``b + alpha * mean_b(e_T)`` (``e_T``: (B, n_out))."""
    return b - alpha * bias_gradient(e_T)


def accumulate_activity(x_A: Array, spikes: Array, threshold: Array | float) -> Array:
    """``x_A + T * s``: the presynaptic activity a synapse rebuilds from the ternary spikes
    ``s`` it receives and the shared threshold ``T`` of the step they were sent at.

    Summed from a sample's first step this equals the sender's own ``x_A`` (the same
    operation in the same order as :func:`lava_diffpc.rules.dynamics.track`), so a synapse
    knows its presynaptic factor ``x_A^{l-1}`` without any extra message.
    """
    return x_A + threshold * spikes
