"""Training-image augmentation, the same for DiffPC and its backprop networks.

Per image and training batch: a random crop of the image padded by ``pad`` pixels on each
side (zero padding in standardised units, i.e. the training set's mean colour), that is a
random shift of up to ``pad`` pixels in each direction, then, where the classes are
mirror-symmetric, a horizontal flip with probability 1/2. Seeded per batch by the trainer,
so a resumed run sees the same augmented images as an uninterrupted one.

Per data set (:data:`PADS`, :data:`FLIPPED`): CIFAR-10 takes the standard 4-pixel crop and
the flip; MNIST and Fashion-MNIST shifts of up to 2 pixels and no flip (a mirrored digit is
another symbol or none), the 8x8 digits shifts of 1 pixel. ``train --shift N`` sets another
largest shift (``pad``) for any data set. Fully connected networks see
their flattened images augmented the same way (:class:`Augmentation` reshapes them).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from lava_diffpc.data import dataset_key

PADS = {"cifar10": 4, "mnist": 2, "fashion-mnist": 2, "digits": 1}
FLIPPED = frozenset({"cifar10"})


def augment(x: torch.Tensor, generator: torch.Generator, pad: int = PADS["cifar10"],
            flip: bool = True) -> torch.Tensor:
    """Random crop (``pad`` pixels of zero padding) and, with ``flip``, random horizontal
    flip of a batch ``x`` of images ``(B, C, H, W)``; the random numbers come from
    ``generator`` (offsets first, then the flips)."""
    if x.dim() != 4:
        raise ValueError(f"augmentation needs images (batch, C, H, W), got shape "
                         f"{tuple(x.shape)}; flat rows go through Augmentation")
    b, _, h, w = x.shape
    padded = F.pad(x, (pad, pad, pad, pad))
    oy = torch.randint(0, 2 * pad + 1, (b,), generator=generator)
    ox = torch.randint(0, 2 * pad + 1, (b,), generator=generator)
    rows = (oy[:, None] + torch.arange(h)).to(x.device)  # (B, H)
    cols = ox[:, None] + torch.arange(w)  # (B, W)
    if flip:
        flipped = torch.rand(b, generator=generator) < 0.5
        cols = torch.where(flipped[:, None], cols.flip(1), cols)
    cols = cols.to(x.device)
    batch = torch.arange(b, device=x.device)[:, None, None]
    out = padded.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]]  # (B,H,W,C)
    return out.permute(0, 3, 1, 2).contiguous()


@dataclass(frozen=True)
class Augmentation:
    """The augmentation of one data set: images ``image_shape = (C, H, W)``, shifts of up
    to ``pad`` pixels, flips or not. Takes batches of images or of flattened (CHW) rows."""

    image_shape: tuple[int, int, int]
    pad: int
    flip: bool

    @classmethod
    def for_dataset(cls, dataset: str, image_shape: tuple[int, ...],
                    pad: int | None = None) -> Augmentation:
        """The data set's augmentation; ``pad``: the largest shift in pixels (None: the
        data set's own, :data:`PADS`), below the images' height and width."""
        key = dataset_key(dataset)
        if len(image_shape) != 3:
            raise ValueError(f"augmentation needs images (C, H, W), got {image_shape}")
        c, h, w = (int(n) for n in image_shape)
        pad = PADS[key] if pad is None else int(pad)
        if not 0 <= pad < min(h, w):
            raise ValueError(f"--shift {pad} does not fit {h}x{w} images; pass a shift "
                             f"from 0 to {min(h, w) - 1} pixels")
        return cls((c, h, w), pad, key in FLIPPED)

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        if x.dim() == 2:  # flattened rows of a fully connected network
            images = x.reshape(len(x), *self.image_shape)
            return augment(images, generator, self.pad, self.flip).reshape(len(x), -1)
        return augment(x, generator, self.pad, self.flip)
