"""Training-image augmentation, the same for DiffPC and its backprop networks.

Per image and training batch: a random crop of the image padded by ``pad`` pixels on each
side (zero padding in standardised units, i.e. the training set's mean colour), that is a
random shift of up to ``pad`` pixels in each direction, then, where the classes are
mirror-symmetric, a horizontal flip with probability 1/2, and, where asked for, a rotation
about the image centre by an angle drawn uniformly from ``[-degrees, degrees]`` and an
elastic distortion (Simard et al., 2003: a random displacement field, uniform in [-1, 1]
pixels per pixel, smoothed by a Gaussian of ``sigma`` pixels and scaled by ``alpha``); the
rotation and the distortion are one bilinear resampling, zero outside the image. Seeded per
batch by the trainer, so a resumed run sees the same augmented images as an uninterrupted
one.

Per data set (:data:`PADS`, :data:`FLIPPED`): CIFAR-10 takes the standard 4-pixel crop and
the flip; MNIST and Fashion-MNIST shifts of up to 2 pixels and no flip (a mirrored digit is
another symbol or none), the 8x8 digits shifts of 1 pixel. ``train --shift N`` sets another
largest shift (``pad``) for any data set, ``train --rotate D`` adds rotations of up to
D degrees and ``train --elastic A`` elastic distortions of strength A (``--elastic-sigma``
their smoothness; neither by default). Fully connected networks see
their flattened images augmented the same way (:class:`Augmentation` reshapes them).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

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


ELASTIC_SIGMA = 4.0  # pixels: Simard et al.'s smoothing of the displacement field on MNIST


def elastic_field(shape: tuple[int, int, int], generator: torch.Generator, alpha: float,
                  sigma: float) -> torch.Tensor:
    """Random displacement fields ``(B, H, W, 2)`` in pixels (x to the right, y down) for
    ``shape = (B, H, W)``: per pixel and axis uniform in ``[-1, 1]``, convolved with a
    normalised Gaussian of standard deviation ``sigma`` pixels (cut at 3 sigma, zero beyond
    the image), times ``alpha`` pixels."""
    b, h, w = shape
    noise = 2 * torch.rand(b * 2, 1, h, w, generator=generator) - 1
    radius = max(1, math.ceil(3 * sigma))
    taps = torch.arange(-radius, radius + 1, dtype=torch.float32)
    kernel = torch.exp(-0.5 * (taps / sigma) ** 2)
    kernel = kernel / kernel.sum()
    smooth = F.conv2d(noise, kernel.view(1, 1, 1, -1), padding=(0, radius))
    smooth = F.conv2d(smooth, kernel.view(1, 1, -1, 1), padding=(radius, 0))
    return alpha * smooth.view(b, 2, h, w).permute(0, 2, 3, 1)


def warp(x: torch.Tensor, angles: torch.Tensor,
         displacement: torch.Tensor | None = None) -> torch.Tensor:
    """Images ``x (B, C, H, W)`` rotated about their centres by ``angles (B,)`` radians,
    clockwise as displayed with rows running down (at 90 degrees ``torch.rot90(x, -1, (2,
    3))`` up to rounding), and distorted by ``displacement (B, H, W, 2)``: output pixel
    ``p`` reads the input ``d(p)`` pixels (x, y) away from where the rotation alone puts it;
    one bilinear resampling, zero where a pixel comes from outside.

    The sampling grid maps each output pixel centre ``p = (u, v)`` (pixels right of and
    below the image centre) to the input point ``R(-angle) p + d(p)``, ``R(a) = [[c, -s],
    [s, c]]`` with ``c = cos(a)``, ``s = sin(a)``. In ``affine_grid``'s coordinates, which
    run from -1 to 1 across each side, that matrix is ``[[c, s H/W], [-s W/H, c]]``, so
    non-square images rotate without shearing, and a pixel of ``d`` is ``2/W`` (x) or
    ``2/H`` (y)."""
    h, w = x.shape[-2:]
    c, s = torch.cos(angles), torch.sin(angles)
    zero = torch.zeros_like(c)
    theta = torch.stack([torch.stack([c, s * h / w, zero], 1),
                         torch.stack([-s * w / h, c, zero], 1)], 1).to(x)  # (B, 2, 3)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    if displacement is not None:
        grid = grid + displacement.to(x) * torch.tensor([2 / w, 2 / h]).to(x)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


@dataclass(frozen=True)
class Augmentation:
    """The augmentation of one data set: images ``image_shape = (C, H, W)``, shifts of up
    to ``pad`` pixels, flips or not, rotations of up to ``degrees`` (0: none), elastic
    distortions of strength ``alpha`` pixels (0: none) smoothed over ``sigma`` pixels. Takes
    batches of images or of flattened (CHW) rows; the random numbers come from the
    generator in the order offsets, flips, angles, displacement fields (the angles only
    where ``degrees > 0``, the fields only where ``alpha > 0``, so runs without them see the
    same images as before those options existed)."""

    image_shape: tuple[int, int, int]
    pad: int
    flip: bool
    degrees: float = 0.0
    alpha: float = 0.0
    sigma: float = ELASTIC_SIGMA

    @classmethod
    def for_dataset(cls, dataset: str, image_shape: tuple[int, ...],
                    pad: int | None = None, degrees: float = 0.0, alpha: float = 0.0,
                    sigma: float | None = None) -> Augmentation:
        """The data set's augmentation; ``pad``: the largest shift in pixels (None: the
        data set's own, :data:`PADS`), below the images' height and width; ``degrees``:
        the largest rotation, from 0 (none) to 180; ``alpha``: the elastic distortion's
        strength in pixels, 0 (none) or more; ``sigma``: its smoothing in pixels, above 0
        (None: :data:`ELASTIC_SIGMA`)."""
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
        sigma = ELASTIC_SIGMA if sigma is None else float(sigma)
        if not alpha >= 0:
            raise ValueError(f"--elastic {alpha} is not a distortion strength; pass 0 "
                             "(none) or more pixels")
        if not sigma > 0:
            raise ValueError(f"--elastic-sigma {sigma} is not a smoothing width; pass more "
                             "than 0 pixels")
        return cls((c, h, w), pad, key in FLIPPED, float(degrees), float(alpha), sigma)

    @classmethod
    def for_options(cls, opts: dict[str, Any], image_shape: tuple[int, ...]) -> Augmentation:
        """The augmentation a run's options ask for (``dataset``, ``shift``, ``rotate``,
        ``elastic``, ``elastic_sigma``; options a stored run predates take their defaults)."""
        return cls.for_dataset(opts["dataset"], image_shape, opts.get("shift"),
                               opts.get("rotate", 0.0), opts.get("elastic", 0.0),
                               opts.get("elastic_sigma"))

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        if x.dim() == 2:  # flattened rows of a fully connected network
            images = x.reshape(len(x), *self.image_shape)
            return self._images(images, generator).reshape(len(x), -1)
        return self._images(x, generator)

    def _images(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        out = augment(x, generator, self.pad, self.flip)
        angles = torch.zeros(len(x), dtype=torch.float64)
        if self.degrees > 0:
            limit = math.radians(self.degrees)
            angles = (2 * torch.rand(len(x), generator=generator, dtype=torch.float64) - 1)
            angles = angles * limit
        field = None
        if self.alpha > 0:
            field = elastic_field((len(x), *out.shape[-2:]), generator, self.alpha, self.sigma)
        if self.degrees > 0 or field is not None:
            out = warp(out, angles, field)
        return out
