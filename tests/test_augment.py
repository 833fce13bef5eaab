"""CIFAR augmentation: every output pixel is a padding zero or the input pixel the crop and
flip put there (oracle: the same crop and flip by hand), reproducible from the seed."""

from __future__ import annotations

import pytest
import torch

from lava_diffpc.augment import augment


def test_crop_and_flip_by_hand():
    x = torch.randn(16, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    out = augment(x, torch.Generator().manual_seed(5), pad=2)
    assert out.shape == x.shape
    gen = torch.Generator().manual_seed(5)  # the same draws, in the same order
    oy = torch.randint(0, 5, (16,), generator=gen)
    ox = torch.randint(0, 5, (16,), generator=gen)
    flip = torch.rand(16, generator=gen) < 0.5
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2))
    for b in range(16):
        crop = padded[b, :, oy[b]:oy[b] + 8, ox[b]:ox[b] + 8]
        assert torch.equal(out[b], crop.flip(-1) if flip[b] else crop)
    assert flip.any() and (~flip).any() and len(set(zip(oy.tolist(), ox.tolist()))) > 3


def test_reproducible_and_refuses_flat_input():
    x = torch.randn(4, 3, 8, 8)
    a = augment(x, torch.Generator().manual_seed(1))
    assert torch.equal(a, augment(x, torch.Generator().manual_seed(1)))
    assert not torch.equal(a, augment(x, torch.Generator().manual_seed(2)))
    with pytest.raises(ValueError, match="convolutional networks only"):
        augment(torch.randn(4, 192), torch.Generator())
