"""Backprop baseline on the same architecture, trained by the same harness.

``y = W_L relu(... relu(W_1 x + b_1) ...) + b_L``, each ``W_l`` the same connection as in
:class:`~lava_diffpc.reference.network.DiffPCNetwork` (fully connected, or a convolution;
the first fully connected layer after a convolution sees the flattened feature map), with
the same initialisation, the same dropout (inverted, hidden fully connected layers) and,
by default, the same objective as DiffPC's energy at a clamped output:
``0.5 * ||target - y||^2`` per sample, averaged over the batch (``loss="ce"`` gives
softmax cross-entropy instead). Gradients come from autograd.
"""

from __future__ import annotations

import torch

from lava_diffpc.config import DiffPCConfig
from lava_diffpc.reference.network import ConnectedNetwork, shape_input

BP_LOSSES = ("mse", "ce")


class BackpropNetwork(ConnectedNetwork):
    """Dense ReLU network (MLP or conv net) with the trainer's interface of
    :class:`~lava_diffpc.reference.network.DiffPCNetwork`."""

    def __init__(self, config: DiffPCConfig, params=None, *, seed: int = 0,
                 dtype: torch.dtype = torch.float32, device: str | torch.device = "cpu",
                 loss: str = "mse"):
        if loss not in BP_LOSSES:
            raise ValueError(f"backprop loss must be one of {BP_LOSSES}, got {loss!r}")
        super().__init__(config, params, seed=seed, dtype=dtype, device=device)
        self.loss = loss

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None):
        """Output scores (B, n_L); dropout masks from ``generator`` (training only).
        NaN or infinite inputs raise ValueError."""
        cfg, p = self.config, self.config.dropout
        h = shape_input(x.to(device=self.device, dtype=self.weights[0].dtype), cfg)
        if not torch.isfinite(h).all():
            raise ValueError("input holds NaN or infinite values; clean or normalise the data")
        if cfg.input_gate:
            h = torch.relu(h)
        dropout = set(cfg.dropout_layers) if generator is not None and p > 0 else set()
        last = len(self.weights)
        for l, (conn, w, b) in enumerate(zip(self.connections, self.weights, self.biases),
                                         start=1):
            h = conn.affine(h, w, b)
            if l < last:
                h = torch.relu(h)
                if l in dropout:
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
