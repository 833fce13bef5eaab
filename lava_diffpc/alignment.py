"""Gradient alignment: how closely DiffPC's local updates follow backprop's, per connection.

For one batch ``(x, y)`` and one set of weights, DiffPC's local gradient of connection l
(what the trainer feeds the optimizer, from the final ``e_T^l`` and the presynaptic factor)
is compared with backprop's gradient of ``0.5 * ||target - y_dense||^2`` on the dense ReLU
network with the same weights (:class:`~lava_diffpc.reference.backprop.BackpropNetwork`).
Reported per connection l = 1..L:

* ``cosine``: ``<g_l, h_l> / (|g_l| |h_l|)`` of the weight gradients (DiffPC g, backprop h);
* ``norm_ratio``: ``|g_l| / |h_l|``;
* ``op_norm``: ``sigma_l``, the largest singular value of ``W_l`` (for a convolution, of
  the linear map it applies to a feature map), by power iteration;

per hidden layer l = 1..L-1 the ``relaxation_gain``, the batch median of
``gamma * (1 + sigma(W_{l+1} D_l)^2)`` with ``D_l`` the sample's ReLU gate after the
learning phase (``x_T^l > 0``); and per layer the learning phase's error spikes per neuron
per sample, plus the feed-forward phase's activity spikes per neuron per sample (all
neurons: the price of finer thresholds) and its output deviation from the dense network,
``mean|y_spk - y_dense| / mean|y_dense|``.
Dropout is off (its masks would differ between the two networks).

What it diagnoses. Coarse thresholds: an error smaller than the finest threshold
``2^(m - n + 1)`` never becomes a spike, so the layer below gets no feedback and its
incoming weights no update (cosine near 0). A lower ``m`` (finer thresholds) lets those
errors through, as long as one phase can still reach the largest state: ``c1`` cycles move
a state by at most ``c1 * (2^(m+1) - 2^(m-n+1))``.

An unstable relaxation: the relaxation gain is the stability margin of the learning phase
(:mod:`lava_diffpc.reference.stability`): below 2 the target updates settle; above it they
overshoot along W's leading direction and the states oscillate instead of settling (by as
much as the spikes of one cycle can carry), so the final errors, and the updates built
from them, are no longer backprop's. ``gamma (1 + sigma_{l+1}^2)`` bounds every sample's
gain from above (``train --max-gain`` keeps it there).
The test assumes what ``gamma_mode="cycle-start"`` provides: the spikes of one update have
crossed to the neighbours before the next update. With ``"every-step"`` the feedback lags
the updates by a step or more, and a gain below 2 no longer guarantees anything (on
CIFAR-10, gamma 1/8 at every step, gains below 1, fell to chance within an epoch).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from lava_diffpc.reference.network import Connection
from lava_diffpc.reference.stability import operator_norm, power_iteration
from lava_diffpc.train import build_model

Params = list[tuple[torch.Tensor, torch.Tensor]]


@dataclass
class Alignment:
    """One comparison; lists are per connection (cosine, ratio) or per layer 0..L (spikes)."""

    cosine: list[float]
    norm_ratio: list[float]
    error_spikes: list[float]
    ff_activity_spikes: float
    ff_deviation: float
    op_norm: list[float]
    relaxation_gain: list[float]

    def record(self) -> dict[str, Any]:
        """The stored numbers (rounded as printed; error spikes of the layers that learn)."""
        return {"cosine": [round(c, 3) for c in self.cosine],
                "norm_ratio": [round(r, 3) for r in self.norm_ratio],
                "learning_error_spikes_per_neuron": [round(e, 4) for e in self.error_spikes[2:]],
                "ff_activity_spikes": round(self.ff_activity_spikes, 3),
                "ff_deviation": round(self.ff_deviation, 3),
                "op_norm": [round(v, 3) for v in self.op_norm],
                "relaxation_gain": [round(v, 3) for v in self.relaxation_gain]}


def _cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    na, nb = a.norm(), b.norm()
    if na == 0 or nb == 0:
        return 0.0
    return float((a.flatten() @ b.flatten()) / (na * nb))


def relaxation_gains(gamma: float, conns: list[Connection], weights: list[torch.Tensor],
                     hidden_x_T: list[torch.Tensor], iters: int = 100) -> list[float]:
    """Median over the batch of ``gamma * (1 + sigma(W_{l+1} D_l)^2)`` for hidden layers
    l = 1..L-1, ``D_l`` the sample's ReLU gate ``x_T^l > 0`` (see module doc).

    ``conns``/``weights``: connections 1..L; ``hidden_x_T``: ``x_T`` of layers 1..L-1, each
    (B, *shape).
    """
    gen = torch.Generator().manual_seed(0)
    gains = []
    for conn, w, x_T in zip(conns[1:], weights[1:], hidden_x_T):
        v = torch.randn(x_T.shape, generator=gen, dtype=w.dtype).to(w.device)
        sigma = power_iteration(conn, w, v, (x_T > 0).to(w.dtype), iters)
        gains.append(float((gamma * (1.0 + sigma ** 2)).median()))
    return gains


def gradient_alignment(opts: dict[str, Any], params: Params, x: torch.Tensor,
                       y: torch.Tensor, device: str = "cpu") -> Alignment:
    """Compare DiffPC's local gradients with backprop's on ``(x, y)`` (see module doc).

    ``opts``: a preset's option dict (dropout is ignored); ``params``: ``(W_l, b_l)`` per
    connection, shared by both networks.
    """
    opts = {**opts, "dropout": 0.0}
    bp = build_model("bp", opts, params=params, device=device)
    bp_grads, _ = bp.gradients(x, y)
    net = build_model("diffpc", opts, params=params, device=device)
    stats = net.config.comm_stats()
    result = net.run(x, y, stats=stats)
    dense = bp.forward(x).detach()
    pairs = list(zip((g for g, _ in result.grads), bp_grads[0::2]))
    deviation = (result.output - dense).abs().mean() / dense.abs().mean().clamp_min(1e-12)
    weights = [w for w, _ in params]
    return Alignment(
        cosine=[_cosine(g, h) for g, h in pairs],
        norm_ratio=[float(g.norm() / h.norm()) if h.norm() > 0 else float("nan")
                    for g, h in pairs],
        error_spikes=[float(e) for e in stats.per_neuron("learn")["error_spikes"]],
        ff_activity_spikes=float(stats.per_neuron("ff")["activity_spikes_all"]),
        ff_deviation=float(deviation),
        op_norm=[operator_norm(conn, w) for conn, w in zip(net.connections, weights)],
        relaxation_gain=relaxation_gains(net.config.schedule.gamma2, net.connections, weights,
                                         [st.x_T for st in result.states[:-1]]),
    )


def backprop_warmup(opts: dict[str, Any], x: torch.Tensor, y: torch.Tensor, batches: int,
                    batch_size: int = 256, lr: float = 5e-4, device: str = "cpu") -> Params:
    """Weights after ``batches`` AdamW steps of backprop from the preset's initialisation.

    A network partly trained this way has the small output errors of mid-training, where
    a too coarse threshold shows (at initialisation the errors are large).
    """
    bp = build_model("bp", {**opts, "dropout": 0.0}, device=device)
    optimizer = torch.optim.AdamW(bp.parameters, lr=lr, weight_decay=1e-4)
    for i in range(batches):
        start = (i * batch_size) % max(len(x) - batch_size + 1, 1)
        grads, _ = bp.gradients(x[start:start + batch_size], y[start:start + batch_size])
        for p, g in zip(bp.parameters, grads):
            p.grad = g
        optimizer.step()
    return [(w.detach().clone(), b.detach().clone()) for w, b in zip(bp.weights, bp.biases)]


def format_table(rows: list[tuple[str, Alignment]]) -> str:
    """A text table: one row per variant."""
    n_conn = len(rows[0][1].cosine)
    head = (f"{'variant':<24}" + "".join(f"{'cos W' + str(l):>9}" for l in range(1, n_conn + 1))
            + "".join(f"{'|g|/|h| ' + str(l):>11}" for l in range(1, n_conn + 1))
            + "".join(f"{'err sp L' + str(l):>11}" for l in range(2, n_conn + 1))
            + f"{'ff act sp':>11}{'ff dev':>9}"
            + "".join(f"{'sigma W' + str(l):>10}" for l in range(1, n_conn + 1))
            + "".join(f"{'gain L' + str(l):>9}" for l in range(1, n_conn)))
    lines = [head]
    for name, a in rows:
        lines.append(f"{name:<24}" + "".join(f"{c:>9.3f}" for c in a.cosine)
                     + "".join(f"{r:>11.3f}" for r in a.norm_ratio)
                     + "".join(f"{e:>11.4f}" for e in a.error_spikes[2:])
                     + f"{a.ff_activity_spikes:>11.3f}{a.ff_deviation:>9.3f}"
                     + "".join(f"{v:>10.2f}" for v in a.op_norm)
                     + "".join(f"{v:>9.2f}" for v in a.relaxation_gain))
    return "\n".join(lines)
