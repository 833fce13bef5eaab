"""Standard predictive coding (PC) trained by inference learning: the dense float baseline.

This is the "standard PC" that the DiffPC paper compares with: the same MLP, initialisation,
target and dropout as :class:`~lava_diffpc.reference.network.DiffPCNetwork` and its backprop
twin, but every neuron sends a dense float message at every inference iteration instead of
sparse ternary spikes. Its message cost per sample is ``iterations`` x one float per neuron
(activities up and errors down), against DiffPC's spike counts.

Energy of a sample (values and errors in the units of the neurons' states, the energy in
their squares)::

    F = sum_{l=1..L} 0.5 * ||x_l - mu_l||^2,    mu_l = W_l a_{l-1} + b_l,
    a_l = phi(x_l) = ReLU(x_l) on hidden layers,
    a_0 = ReLU(x_0) if config.input_gate else x_0   (x_0 clamped to the input).

Inference learning, per batch:

1. feed-forward pass: ``x_l = mu_l`` for l = 1..L (every error is zero);
2. clamp the output ``x_L`` to the target ``config.target_scale * one_hot(label)``;
3. ``iterations`` synchronous gradient-descent steps on the hidden value nodes,
   ``x_l <- x_l - eta * dF/dx_l`` with
   ``dF/dx_l = e_l - phi'(x_l) * W_{l+1}^T e_{l+1}`` and ``e_l = x_l - mu_l`` recomputed
   after every step (``phi'`` is the ReLU's 0/1 derivative);
4. local weight gradients from the final errors (descent directions, batch mean):
   ``grad_W_l = -mean_b(e_l a_{l-1}^T)``, ``grad_b_l = -mean_b(e_l)``, the rule of
   :func:`~lava_diffpc.rules.learning.local_gradients`.

Relation to backprop (loss ``0.5 ||target - y||^2``): with zero iterations only the output
error ``target - y`` is non-zero and the gradients are backprop's for the last connection
only. With ``eta = 1``, after k iterations layer L-k holds exactly backprop's error and its
connection backprop's gradient (the layers below still hold zero errors): the error wave
moves down one layer per iteration (Song et al. 2020, zero-divergence inference learning).
At convergence the gradients point close to backprop's but are not equal to them: the
relaxed hidden layers absorb part of the output error (one hidden layer, no gate change:
``e_L = (I + W_L D W_L^T)^{-1} (target - y)`` at the fixed point, D the hidden ReLU gates),
a linear map, so moving the target closer to the output does not remove the difference.

The energy is piecewise quadratic (ReLU gates): within one gate pattern a small ``eta``
lowers it at every iteration; a unit whose value crosses zero can make it rise slightly
(the descent chatters around the kink, by less the smaller ``eta``).

Dropout (rate p, training only, hidden layers): the same inverted dropout as backprop, with
masks drawn in the same order from the same generator and fixed during the iterations. A
kept neuron's activity enters the energy as ``a_l * keep_l / (1 - p)``, so the feedback it
receives is scaled alike; a dropped neuron gets no feedback, so its error stays exactly zero
(it starts at ``x_l = mu_l``) and its incoming weights get no update.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import torch

from lava_diffpc.config import DiffPCConfig
from lava_diffpc.reference.network import ConnectedNetwork, shape_input
from lava_diffpc.rules.learning import local_gradients

PC_ITERATIONS = 20  # inference iterations T per batch
PC_ETA = 0.1  # inference step size eta (dimensionless: a fraction of dF/dx per iteration)


@dataclass
class Relaxation:
    """The state of one batch after inference.

    Attributes:
        values: value nodes ``x_0 .. x_L``, each ``(B, n_l)``: the input, the relaxed hidden
            layers, the clamped target.
        errors: prediction errors ``e_1 .. e_L`` (``errors[l - 1]`` is layer l's).
        output: feed-forward output ``mu_L`` before clamping, ``(B, n_L)``.
        scale: per-layer dropout scales ``keep / (1 - p)``, None where a layer has none.
    """

    values: list[torch.Tensor]
    errors: list[torch.Tensor]
    output: torch.Tensor
    scale: list[torch.Tensor | None]


class PCNetwork(ConnectedNetwork):
    """Standard predictive-coding MLP with the trainer's interface of
    :class:`~lava_diffpc.reference.network.DiffPCNetwork`.

    Args:
        config: architecture and options (``input_gate``, ``target_scale``, ``dropout``);
            fully connected only. The spike schedule is not used.
        params: list of ``(W_l, b_l)``; defaults to the shared seeded initialisation.
        iterations: inference iterations T per batch (an integer >= 0).
        eta: inference step size (> 0); small values (well below 1) lower the energy at
            every iteration that changes no ReLU gate.
    """

    def __init__(self, config: DiffPCConfig, params=None, *, seed: int = 0,
                 dtype: torch.dtype = torch.float32, device: str | torch.device = "cpu",
                 iterations: int = PC_ITERATIONS, eta: float = PC_ETA):
        if config.convs:
            raise ValueError(f"the PC baseline supports fully connected networks only, got "
                             f"{len(config.convs)} convolutions; use a model kind 'diffpc' or "
                             f"'bp' for conv nets")
        if (not isinstance(iterations, numbers.Integral) or isinstance(iterations, bool)
                or iterations < 0):
            raise ValueError(f"PC iterations must be an integer >= 0, got {iterations!r}")
        if not isinstance(eta, numbers.Real) or not (math.isfinite(eta) and eta > 0):
            raise ValueError(f"PC step size eta must be a finite number > 0, got {eta!r}")
        super().__init__(config, params, seed=seed, dtype=dtype, device=device)
        self.iterations = int(iterations)
        self.eta = float(eta)

    # ------------------------------------------------------------- dynamics
    def _activity(self, l: int, x_l: torch.Tensor,
                  scale: list[torch.Tensor | None]) -> torch.Tensor:
        """``a_l`` as the next layer sees it: ``phi(x_l)`` (``x_0`` ungated), dropout-scaled."""
        a = x_l if l == 0 and not self.config.input_gate else torch.relu(x_l)
        return a if scale[l] is None else a * scale[l]

    def _no_dropout(self) -> list[torch.Tensor | None]:
        return [None] * len(self.config.sizes)

    def errors(self, values: list[torch.Tensor],
               scale: list[torch.Tensor | None] | None = None) -> list[torch.Tensor]:
        """``e_l = x_l - (W_l a_{l-1} + b_l)`` for l = 1..L, each ``(B, n_l)``."""
        scale = scale or self._no_dropout()
        return [values[l] - (self._activity(l - 1, values[l - 1], scale) @ w.T + b)
                for l, (w, b) in enumerate(zip(self.weights, self.biases), start=1)]

    def energy(self, values: list[torch.Tensor],
               scale: list[torch.Tensor | None] | None = None) -> float:
        """Batch mean of ``F = sum_l 0.5 ||e_l||^2`` (squared units of the states)."""
        return float(sum(0.5 * (e ** 2).sum() for e in self.errors(values, scale))
                     / len(values[0]))

    def step(self, values: list[torch.Tensor],
             scale: list[torch.Tensor | None] | None = None) -> list[torch.Tensor]:
        """One synchronous descent step on the hidden value nodes.

        Returns new values with ``x_l - eta * (e_l - phi'(x_l) * W_{l+1}^T e_{l+1})`` for
        the hidden layers (times the dropout scale on the feedback) and the input and
        output unchanged.
        """
        scale = scale or self._no_dropout()
        errs = self.errors(values, scale)
        new = [values[0]]
        for l in range(1, len(values) - 1):
            feedback = (errs[l] @ self.weights[l]) * (values[l] > 0)
            if scale[l] is not None:
                feedback = feedback * scale[l]
            new.append(values[l] - self.eta * (errs[l - 1] - feedback))
        return new + [values[-1]]

    def feed_forward(self, x: torch.Tensor,
                     scale: list[torch.Tensor | None] | None = None) -> list[torch.Tensor]:
        """Value nodes ``x_0 .. x_L`` of the feed-forward pass (``x_l = mu_l``).

        ``x``: (B, n_0) or (B, *input_shape); NaN or infinite entries raise ValueError.
        """
        x = shape_input(x.to(device=self.device, dtype=self.dtype), self.config)
        if not torch.isfinite(x).all():
            raise ValueError("input holds NaN or infinite values; clean or normalise the data")
        scale = scale or self._no_dropout()
        values = [x.reshape(len(x), -1)]
        for l, (w, b) in enumerate(zip(self.weights, self.biases), start=1):
            values.append(self._activity(l - 1, values[-1], scale) @ w.T + b)
        return values

    def relax(self, x: torch.Tensor, target: torch.Tensor, *,
              generator: torch.Generator | None = None,
              energies: list[float] | None = None) -> Relaxation:
        """Inference on one batch: feed forward, clamp the output to ``target`` (B, n_L),
        then :attr:`iterations` descent steps (:meth:`step`).

        ``generator`` draws the dropout masks (training only). ``energies``, when a list,
        receives the batch-mean energy after clamping and after every step
        (``iterations + 1`` values).
        """
        _, scale = self._dropout_masks(len(x), generator)
        values = self.feed_forward(x, scale)
        n_out = self.config.sizes[-1]
        if tuple(target.shape) != (len(x), n_out):
            raise ValueError(f"target of shape {tuple(target.shape)}; expected "
                             f"({len(x)}, {n_out})")
        output = values[-1]
        values[-1] = target.to(device=self.device, dtype=self.dtype)
        for k in range(self.iterations + 1):
            if energies is not None:
                energies.append(self.energy(values, scale))
            if k < self.iterations:
                values = self.step(values, scale)
        return Relaxation(values, self.errors(values, scale), output, scale)

    def weight_gradients(self, state: Relaxation) -> list[torch.Tensor]:
        """``[grad_W_1, grad_b_1, ...]`` (order of :attr:`parameters`) from the final
        errors and presynaptic activities: ``(-mean_b(e_l a_{l-1}^T), -mean_b(e_l))``."""
        grads = []
        for l in range(1, len(state.values)):
            pre = self._activity(l - 1, state.values[l - 1], state.scale)
            grads.extend(local_gradients(state.errors[l - 1], pre))
        return grads

    # --------------------------------------------------------- trainer's API
    def label_target(self, labels: torch.Tensor, batch: int) -> torch.Tensor:
        """``target_scale * one_hot(labels)``, (B, n_L); labels out of range raise ValueError."""
        n_out = self.config.sizes[-1]
        if labels.shape != (batch,) or labels.min() < 0 or labels.max() >= n_out:
            raise ValueError(f"labels must be {batch} integers in [0, {n_out}), "
                             f"got shape {tuple(labels.shape)}, range "
                             f"[{int(labels.min())}, {int(labels.max())}]")
        return self.config.target_scale * torch.nn.functional.one_hot(
            labels.to(self.device).long(), n_out).to(self.dtype)

    @torch.no_grad()
    def gradients(self, x: torch.Tensor, labels: torch.Tensor,
                  generator: torch.Generator | None = None,
                  stats=None) -> tuple[list[torch.Tensor], torch.Tensor]:
        """Inference-learning gradients (order of :attr:`parameters`) and the feed-forward
        predictions (argmax before clamping). ``stats`` is accepted for the trainer's
        interface and unused: PC sends no spikes to count."""
        state = self.relax(x, self.label_target(labels, len(x)), generator=generator)
        return self.weight_gradients(state), state.output.argmax(1)

    @torch.no_grad()
    def predict(self, x: torch.Tensor, stats=None) -> torch.Tensor:
        """Inference: argmax of the feed-forward output (no relaxation, no dropout)."""
        return self.feed_forward(x)[-1].argmax(1)
