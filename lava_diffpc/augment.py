"""Standard CIFAR-10 data augmentation, the same for DiffPC and its backprop twin.

Per image and training batch: a random crop of the image padded by ``pad`` pixels on each
side (zero padding in standardised units, i.e. the training set's mean colour), then a
horizontal flip with probability 1/2. Seeded per batch by the trainer, so a resumed run
sees the same augmented images as an uninterrupted one.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

PAD = 4


def augment(x: torch.Tensor, generator: torch.Generator, pad: int = PAD) -> torch.Tensor:
    """Random-crop (``pad`` pixels of zero padding) and random horizontal flip of a batch
    ``x`` of images ``(B, C, H, W)``; the random numbers come from ``generator``."""
    if x.dim() != 4:
        raise ValueError(f"augmentation needs images (batch, C, H, W), got shape "
                         f"{tuple(x.shape)}; it applies to convolutional networks only")
    b, _, h, w = x.shape
    padded = F.pad(x, (pad, pad, pad, pad))
    oy = torch.randint(0, 2 * pad + 1, (b,), generator=generator)
    ox = torch.randint(0, 2 * pad + 1, (b,), generator=generator)
    flip = torch.rand(b, generator=generator) < 0.5
    rows = (oy[:, None] + torch.arange(h)).to(x.device)  # (B, H)
    cols = ox[:, None] + torch.arange(w)  # (B, W)
    cols = torch.where(flip[:, None], cols.flip(1), cols).to(x.device)
    batch = torch.arange(b, device=x.device)[:, None, None]
    out = padded.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]]  # (B,H,W,C)
    return out.permute(0, 3, 1, 2).contiguous()
