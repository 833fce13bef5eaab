"""Stability of the learning phase: singular values and the relaxation-gain bound.

Each target update of the learning phase is a gradient step of rate ``gamma`` on hidden
layer l's share of the energy; with the ReLU gate ``D_l`` held fixed its Jacobian is
``I - gamma (I + D_l W_{l+1}^T W_{l+1} D_l)``, so the states settle only while the
relaxation gain ``gamma * (1 + sigma(W_{l+1} D_l)^2)`` stays below 2
(:mod:`lava_diffpc.alignment` measures it). ``sigma(W D) <= sigma(W)`` for every gate, so
``gamma * (1 + sigma(W_{l+1})^2) <= g`` bounds every sample's gain by ``g``.

:func:`bound_relaxation_gain` enforces that bound after an optimiser step: each matrix
``W_{l+1}`` feeding back into a hidden layer (``W_2 .. W_L``) whose largest singular value
exceeds ``sigma_max = sqrt(g / gamma - 1)`` is scaled down to it, ``W <- W * sigma_max /
sigma(W)`` (a projection onto the set of stable weights; biases and ``W_1`` untouched).
:func:`rebalance_into_bound` moves a network trained without the bound (a backprop twin)
inside it without changing what it computes, by shifting scale between its ReLU layers.

The same bound limits how far the settled errors stray from backprop's. Where the learning
phase settles, the hidden layer below the output absorbs part of each sample's output error:
``e_L = (I + W_L D W_L^T)^{-1} (target - y)`` (gate D held fixed;
:mod:`lava_diffpc.reference.pc`), a per-sample shrinkage whose factors lie between
``1 / (1 + sigma^2)`` and 1, i.e. between ``gamma / g`` and 1 under the bound (the same
holds one layer down for every ``W_{l+1}``). Backprop's gradient is the batch sum of the
unshrunk terms; once training has made those terms nearly cancel, an uneven shrinkage no
longer cancels and the summed update loses backprop's direction. A bound well below 2
(``g / gamma`` of a few) keeps the shrinkage nearly even.

Singular values come from power iteration through a connection's own ``forward`` and
``transpose`` (so a convolution's stride and padding count); a connection is anything with
``in_shape``, ``forward(v, w, nnz)`` and ``transpose(y, w, nnz)``, as in
:mod:`lava_diffpc.reference.network`. Power iteration approaches sigma from below, so a bound
holds to within its accuracy (relative error well under 1% after the default 30 iterations
on the preset networks).
"""

from __future__ import annotations

import math
from typing import Any

import torch

Connection = Any  # duck-typed: in_shape, forward(v, w, nnz), transpose(y, w, nnz)

POWER_ITERATIONS = 30  # per bound: the start vector is fixed, the result deterministic


def power_iteration(conn: Connection, w: torch.Tensor, v: torch.Tensor,
                    gate: torch.Tensor | None, iters: int) -> torch.Tensor:
    """Per sample b, the largest singular value of ``W D_b`` (``D_b = diag(gate[b])``, the
    identity without a gate): power iteration on ``D W^T W D``.

    ``v``: (B, *in_shape) start vectors; ``gate``: 0/1 of the same shape, or None.
    Returns a (B,) tensor.
    """
    def normed(u: torch.Tensor) -> torch.Tensor:
        n = u.flatten(1).norm(dim=1).clamp_min(1e-30)
        return u / n.view(-1, *[1] * (u.dim() - 1))

    mask = 1.0 if gate is None else gate
    v = normed(v * mask)
    for _ in range(iters):
        y = conn.forward(v, w, nnz=v.numel())
        v = normed(conn.transpose(y, w, nnz=y.numel()) * mask)
    return conn.forward(v, w, nnz=v.numel()).flatten(1).norm(dim=1)


def operator_norm(conn: Connection, w: torch.Tensor, iters: int = 100) -> float:
    """``sigma``: the largest singular value of connection ``conn``'s linear map with weights
    ``w`` (for a convolution, of the map it applies to a whole feature map)."""
    gen = torch.Generator().manual_seed(0)
    v = torch.randn((1, *conn.in_shape), generator=gen, dtype=w.dtype).to(w.device)
    return float(power_iteration(conn, w, v, None, iters)[0])


def stable_sigma(gamma: float, max_gain: float) -> float:
    """``sqrt(max_gain / gamma - 1)``: the largest singular value a feedback matrix may have
    for the gain ``gamma * (1 + sigma^2)`` to stay at or below ``max_gain``."""
    if not 0 < gamma < max_gain:
        raise ValueError(f"the gain bound {max_gain} must exceed gamma {gamma} (the gain is "
                         f"at least gamma); raise --max-gain or lower --gamma")
    return math.sqrt(max_gain / gamma - 1.0)


def bound_relaxation_gain(conns: list[Connection], weights: list[torch.Tensor],
                          gamma: float, max_gain: float,
                          iters: int = POWER_ITERATIONS) -> list[float]:
    """Scale ``W_2 .. W_L`` in place so that ``gamma * (1 + sigma(W)^2) <= max_gain``.

    ``conns``/``weights``: connections 1..L and their weights. Returns the factor each of
    ``W_2 .. W_L`` was multiplied by (1.0 where it was within the bound).
    """
    limit = stable_sigma(gamma, max_gain)
    factors = []
    for conn, w in zip(conns[1:], weights[1:]):
        sigma = operator_norm(conn, w, iters)
        factor = limit / sigma if sigma > limit else 1.0
        if factor < 1.0:
            w.mul_(factor)
        factors.append(factor)
    return factors


def rebalance_into_bound(model, gamma: float, max_gain: float) -> list[float]:
    """Rescale the hidden layers of a ReLU network in place, its function unchanged, so
    that ``W_2 .. W_L`` meet the relaxation-gain bound ``gamma (1 + sigma(W)^2) <= max_gain``.

    Layer l's activity is multiplied by ``c_l`` (``W_l`` by ``c_l / c_{l-1}``, ``b_l`` by
    ``c_l``): ``ReLU(c z) = c ReLU(z)`` for ``c > 0``, so the output is unchanged. With
    ``c_0 = c_L = 1`` and ``c_{l-1} = c_l sigma(W_l) / limit`` from the top down, every
    ``W_l`` above the first ends just inside the bound's largest singular value ``limit``
    and ``W_1``, which the bound leaves free, takes up the scale. ``model``: a network with
    ``connections``, ``weights`` and ``biases`` (DiffPC's or its backprop twin). Returns
    ``c_1 .. c_{L-1}``.
    """
    limit = stable_sigma(gamma, max_gain) * (1 - 1e-3)  # inside the power iteration's estimate
    n_layers = len(model.weights)
    c = [1.0] * (n_layers + 1)
    for l in range(n_layers, 1, -1):
        c[l - 1] = c[l] * operator_norm(model.connections[l - 1], model.weights[l - 1]) / limit
    for l in range(1, n_layers + 1):
        model.weights[l - 1].mul_(c[l] / c[l - 1])
        model.biases[l - 1].mul_(c[l])
    return c[1:-1]
