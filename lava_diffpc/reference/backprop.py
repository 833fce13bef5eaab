"""Backprop baseline on the same architecture, trained by the same harness.

``y = W_L relu(... relu(W_1 x + b_1) ...) + b_L`` with the same initialisation, the same
dropout (inverted, hidden layers) and, by default, the same objective as DiffPC's energy
at a clamped output: ``0.5 * ||target - y||^2`` per sample, averaged over the batch
(``loss="ce"`` gives softmax cross-entropy instead). Gradients come from autograd.
"""

from __future__ import annotations

import torch

from lava_diffpc.reference.network import DiffPCConfig, init_parameters

BP_LOSSES = ("mse", "ce")


class BackpropNetwork:
    """Dense ReLU MLP with the interface of :class:`DiffPCNetwork` used by the trainer."""

    def __init__(self, config: DiffPCConfig, params=None, *, seed: int = 0,
                 dtype: torch.dtype = torch.float32, device: str | torch.device = "cpu",
                 loss: str = "mse"):
        if loss not in BP_LOSSES:
            raise ValueError(f"backprop loss must be one of {BP_LOSSES}, got {loss!r}")
        self.config = config
        self.loss = loss
        if params is None:
            params = init_parameters(config.sizes, seed, dtype, device)
        self.weights = [w.to(device=device, dtype=dtype) for w, _ in params]
        self.biases = [b.to(device=device, dtype=dtype) for _, b in params]

    @property
    def parameters(self) -> list[torch.Tensor]:
        return [p for pair in zip(self.weights, self.biases) for p in pair]

    @property
    def device(self) -> torch.device:
        return self.weights[0].device

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None):
        p = self.config.dropout
        h = x.to(device=self.device, dtype=self.weights[0].dtype)
        if self.config.input_gate:
            h = torch.relu(h)
        last = len(self.weights) - 1
        for l, (w, b) in enumerate(zip(self.weights, self.biases)):
            h = h @ w.T + b
            if l < last:
                h = torch.relu(h)
                if generator is not None and p > 0:
                    keep = (torch.rand(h.shape, generator=generator) >= p).to(h)
                    h = h * keep / (1.0 - p)
        return h

    def gradients(self, x: torch.Tensor, labels: torch.Tensor,
                  generator: torch.Generator | None = None, stats=None):
        """Loss gradients for every parameter (order of :attr:`parameters`) + predictions."""
        params = self.parameters
        for p in params:
            p.requires_grad_(True)
        out = self.forward(x, generator)
        labels = labels.to(self.device).long()
        if self.loss == "ce":
            loss = torch.nn.functional.cross_entropy(out, labels)
        else:
            target = self.config.target_scale * torch.nn.functional.one_hot(
                labels, out.shape[1]).to(out)
            loss = 0.5 * ((target - out) ** 2).sum(1).mean()
        grads = torch.autograd.grad(loss, params)
        for p in params:
            p.requires_grad_(False)
        return list(grads), out.detach().argmax(1)

    @torch.no_grad()
    def predict(self, x: torch.Tensor, stats=None) -> torch.Tensor:
        return self.forward(x).argmax(1)
