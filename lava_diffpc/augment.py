"""Training-image augmentation, the same for DiffPC and its backprop networks.

Per image and training batch: a random crop of the image padded by ``pad`` pixels on each
side (zero padding in standardised units, i.e. the training set's mean colour), that is a
random shift of up to ``pad`` pixels in each direction, then, where the classes are
mirror-symmetric, a horizontal flip with probability 1/2, and, where asked for, a rotation
about the image centre by an angle drawn uniformly from ``[-degrees, degrees]`` (bilinear,
zero outside the image). Seeded per batch by the trainer, so a resumed run sees the same
augmented images as an uninterrupted one.

Per data set (:data:`PADS`, :data:`FLIPPED`): CIFAR-10 takes the standard 4-pixel crop and
the flip; MNIST and Fashion-MNIST shifts of up to 2 pixels and no flip (a mirrored digit is
another symbol or none), the 8x8 digits shifts of 1 pixel. ``train --shift N`` sets another
largest shift (``pad``) for any data set, ``train --rotate D`` adds rotations of up to
D degrees (none by default). Fully connected networks see
their flattened images augmented the same way (:class:`Augmentation` reshapes them).
"""

from __future__ import annotations

import math
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


def rotate(x: torch.Tensor, angles: torch.Tensor) -> torch.Tensor:
    """Images ``x (B, C, H, W)`` rotated about their centres by ``angles (B,)`` radians,
    clockwise as displayed with rows running down (at 90 degrees ``torch.rot90(x, -1, (2,
    3))`` up to rounding); bilinear, zero where a rotated pixel falls outside the image.

    The sampling grid maps each output pixel centre ``p = (u, v)`` (pixels right of and
    below the image centre) to the input point ``R(-angle) p``, ``R(a) = [[c, -s], [s, c]]``
    with ``c = cos(a)``, ``s = sin(a)``. In ``affine_grid``'s coordinates, which run from -1
    to 1 across each side, that matrix is ``[[c, s H/W], [-s W/H, c]]``, so non-square
    images rotate without shearing."""
    h, w = x.shape[-2:]
    c, s = torch.cos(angles), torch.sin(angles)
    zero = torch.zeros_like(c)
    theta = torch.stack([torch.stack([c, s * h / w, zero], 1),
                         torch.stack([-s * w / h, c, zero], 1)], 1).to(x)  # (B, 2, 3)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


@dataclass(frozen=True)
class Augmentation:
    """The augmentation of one data set: images ``image_shape = (C, H, W)``, shifts of up
    to ``pad`` pixels, flips or not, rotations of up to ``degrees`` (0: none). Takes
    batches of images or of flattened (CHW) rows; the random numbers come from the
    generator in the order offsets, flips, angles (the angles only where ``degrees > 0``,
    so runs without rotations see the same images as before the option existed)."""

    image_shape: tuple[int, int, int]
    pad: int
    flip: bool
    degrees: float = 0.0

    @classmethod
    def for_dataset(cls, dataset: str, image_shape: tuple[int, ...],
                    pad: int | None = None, degrees: float = 0.0) -> Augmentation:
        """The data set's augmentation; ``pad``: the largest shift in pixels (None: the
        data set's own, :data:`PADS`), below the images' height and width; ``degrees``:
        the largest rotation, from 0 (none) to 180."""
        key = dataset_key(dataset)
        if len(image_shape) != 3:
            raise ValueError(f"augmentation needs images (C, H, W), got {image_shape}")
        c, h, w = (int(n) for n in image_shape)
        pad = PADS[key] if pad is None else int(pad)
        if not 0 <= pad < min(h, w):
            raise ValueError(f"--shift {pad} does not fit {h}x{w} images; pass a shift "
                             f"from 0 to {min(h, w) - 1} pixels")
        if not 0 <= degrees <= 180:
            raise ValueError(f"--rotate {degrees} is not an angle from 0 to 180 degrees; "
                             "pass the largest rotation in that range")
        return cls((c, h, w), pad, key in FLIPPED, float(degrees))

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        if x.dim() == 2:  # flattened rows of a fully connected network
            images = x.reshape(len(x), *self.image_shape)
            return self._images(images, generator).reshape(len(x), -1)
        return self._images(x, generator)

    def _images(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        out = augment(x, generator, self.pad, self.flip)
        if self.degrees > 0:
            limit = math.radians(self.degrees)
            angles = (2 * torch.rand(len(x), generator=generator, dtype=torch.float64) - 1)
            out = rotate(out, angles * limit)
        return out
