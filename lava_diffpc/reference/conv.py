"""Connections between DiffPC layers: dense (``W``) and 2-D convolution (``W`` a convolution).

A connection maps the spikes of layer l-1 (shape ``(B, *in_shape)``) to the raw spike sums
of layer l (shape ``(B, *out_shape)``), and the error spikes of layer l back to layer l-1
through its transpose. The neuron rules of :mod:`lava_diffpc.rules.dynamics` act
elementwise, so a convolutional layer is a layer of ``C * H * W`` neurons (one per channel
and position) whose synapses are shared; nothing else changes (spec section 5).

Convolution, ``W`` of shape ``(C_out, C_in, k, k)``, stride ``s``, zero padding ``p``::

    forward    (W s)[b, o, i, j]   = sum_{c, u, v} W[o, c, u, v] s[b, c, s*i + u - p, s*j + v - p]
    transpose  (W^T e)             = conv_transpose2d(e, W, stride=s, padding=p,
                                                      output_padding=r)
    bias       b[o], the same for every position of channel o

``r = H_in + 2p - k - s*(H_out - 1)`` (in ``[0, s)``) makes ``W^T e`` exactly as large as the
input, so the transpose is the vector-Jacobian product of the forward map. The local update
is the correlation of the post errors with the presynaptic factor (batch mean, as a descent
direction for an optimiser, like :func:`lava_diffpc.rules.learning.local_gradients`)::

    grad_W[o, c, u, v] = -1/B sum_{b, i, j} e_T[b, o, i, j] pre[b, c, s*i + u - p, s*j + v - p]
    grad_b[o]          = -1/B sum_{b, i, j} e_T[b, o, i, j]

which is ``d/dW`` of ``0.5/B ||x_T - conv(pre, W) - b||^2`` holding ``x_T`` and ``pre`` fixed.

Output size per spatial axis: ``H_out = floor((H_in + 2p - k) / s) + 1``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from lava_diffpc.config import ConvSpec


def silent(spikes: torch.Tensor, nnz: int | None = None) -> bool:
    """True when ``spikes`` holds no spike: ``nnz == 0`` when the caller counted them, else
    checked here on the CPU only (on a GPU the check would cost a device synchronisation per
    step, so it answers False and the caller computes the all-zero product)."""
    if nnz is not None:
        return nnz == 0
    return spikes.device.type == "cpu" and not bool(spikes.any())


class ConvConnection:
    """Layer l-1 -> l through a convolution; ``W``: (C_out, C_in, k, k), ``b``: (C_out,).

    Args:
        spec: the convolution.
        in_shape: ``(C_in, H_in, W_in)`` of layer l-1.
    """

    def __init__(self, spec: ConvSpec, in_shape: tuple[int, ...]):
        self.spec = spec
        self.in_shape = tuple(in_shape)
        self.out_shape = spec.output_shape(self.in_shape)
        c_in, h_in, w_in = self.in_shape
        k, s, p = spec.kernel, spec.stride, spec.padding
        self.weight_shape = (spec.channels, c_in, k, k)
        self.bias_shape = (spec.channels,)
        self.fan_in = c_in * k * k
        _, h_out, w_out = self.out_shape
        self.output_padding = (h_in + 2 * p - k - s * (h_out - 1),
                               w_in + 2 * p - k - s * (w_out - 1))

    def __repr__(self) -> str:
        return f"ConvConnection({self.spec}, {self.in_shape} -> {self.out_shape})"

    def bias_view(self, b: torch.Tensor) -> torch.Tensor:
        """The bias shaped ``(C_out, 1, 1)`` to broadcast over positions."""
        return b.view(-1, 1, 1)

    def affine(self, h: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """Dense (non-spiking, differentiable) ``conv(h, W) + b``: (B, *in) -> (B, *out)."""
        return F.conv2d(h, w, b, stride=self.spec.stride, padding=self.spec.padding)

    def forward(self, spikes: torch.Tensor, w: torch.Tensor,
                nnz: int | None = None) -> torch.Tensor | None:
        """``W s``: (B, *in_shape) -> (B, *out_shape); None when no spike arrives."""
        if silent(spikes, nnz):
            return None
        return F.conv2d(spikes, w, stride=self.spec.stride, padding=self.spec.padding)

    def transpose(self, errors: torch.Tensor, w: torch.Tensor,
                  nnz: int | None = None) -> torch.Tensor | None:
        """``W^T e``: (B, *out_shape) -> (B, *in_shape); None when no spike arrives."""
        if silent(errors, nnz):
            return None
        return F.conv_transpose2d(errors, w, stride=self.spec.stride,
                                  padding=self.spec.padding,
                                  output_padding=self.output_padding)

    def local_gradients(self, e_T: torch.Tensor,
                        pre: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Batch-mean descent directions ``(grad_W, grad_b)`` (module docstring).

        ``e_T``: (B, C_out, H_out, W_out); ``pre``: (B, C_in, H_in, W_in). An explicit
        unfold: ``patches`` (B, C_in*k*k, H_out*W_out) holds every receptive field.
        """
        batch = e_T.shape[0]
        k, s, p = self.spec.kernel, self.spec.stride, self.spec.padding
        patches = F.unfold(pre, k, padding=p, stride=s)
        errors = e_T.reshape(batch, self.spec.channels, -1)
        grad_w = -torch.einsum("bop,bqp->oq", errors, patches) / batch
        return grad_w.reshape(self.weight_shape), -errors.sum((0, 2)) / batch
