"""Augmentation: every output pixel is a padding zero or the input pixel the shift and flip
put there (oracle: the same crop and flip by hand), reproducible from the seed; flattened
rows of a fully connected network get exactly what their images would; the policy per data
set (flips only where the classes are mirror-symmetric)."""

from __future__ import annotations

import pytest
import torch

from lava_diffpc.augment import Augmentation, augment


def _by_hand(x: torch.Tensor, seed: int, pad: int, flip: bool) -> torch.Tensor:
    b, _, h, w = x.shape
    gen = torch.Generator().manual_seed(seed)  # the same draws, in the same order
    oy = torch.randint(0, 2 * pad + 1, (b,), generator=gen)
    ox = torch.randint(0, 2 * pad + 1, (b,), generator=gen)
    flipped = torch.rand(b, generator=gen) < 0.5 if flip else torch.zeros(b, dtype=torch.bool)
    padded = torch.nn.functional.pad(x, (pad, pad, pad, pad))
    crops = [padded[i, :, oy[i]:oy[i] + h, ox[i]:ox[i] + w] for i in range(b)]
    assert len(set(zip(oy.tolist(), ox.tolist()))) > 3
    return torch.stack([c.flip(-1) if f else c for c, f in zip(crops, flipped)])


def test_crop_and_flip_by_hand():
    x = torch.randn(16, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    out = augment(x, torch.Generator().manual_seed(5), pad=2)
    assert out.shape == x.shape
    assert torch.equal(out, _by_hand(x, 5, pad=2, flip=True))
    assert not torch.equal(out, _by_hand(x, 5, pad=2, flip=False))  # some were flipped


def test_shift_without_flip_by_hand():
    x = torch.randn(16, 1, 6, 6, generator=torch.Generator().manual_seed(1))
    out = augment(x, torch.Generator().manual_seed(3), pad=1, flip=False)
    assert torch.equal(out, _by_hand(x, 3, pad=1, flip=False))


def test_flat_rows_are_augmented_as_their_images():
    images = torch.randn(8, 1, 28, 28, generator=torch.Generator().manual_seed(2))
    aug = Augmentation.for_dataset("mnist", (1, 28, 28))
    rows = aug(images.reshape(8, -1), torch.Generator().manual_seed(4))
    assert rows.shape == (8, 784)
    assert torch.equal(rows.reshape(8, 1, 28, 28), aug(images, torch.Generator().manual_seed(4)))
    assert not torch.equal(rows.reshape(8, 1, 28, 28), images)


def test_policy_per_data_set():
    assert Augmentation.for_dataset("cifar10", (3, 32, 32)) == Augmentation((3, 32, 32), 4, True)
    assert Augmentation.for_dataset("fmnist", (1, 28, 28)) == Augmentation((1, 28, 28), 2, False)
    assert Augmentation.for_dataset("digits", (1, 8, 8)) == Augmentation((1, 8, 8), 1, False)
    with pytest.raises(ValueError, match="unknown dataset 'svhn'"):
        Augmentation.for_dataset("svhn", (3, 32, 32))


def test_a_chosen_shift_replaces_the_data_sets_own():
    assert Augmentation.for_dataset("mnist", (1, 28, 28), 1) == Augmentation((1, 28, 28), 1, False)
    assert Augmentation.for_dataset("cifar10", (3, 32, 32), 0) == Augmentation((3, 32, 32), 0, True)
    with pytest.raises(ValueError, match="--shift 28 does not fit 28x28 images"):
        Augmentation.for_dataset("mnist", (1, 28, 28), 28)


def test_reproducible_and_refuses_flat_input():
    x = torch.randn(4, 3, 8, 8)
    a = augment(x, torch.Generator().manual_seed(1))
    assert torch.equal(a, augment(x, torch.Generator().manual_seed(1)))
    assert not torch.equal(a, augment(x, torch.Generator().manual_seed(2)))
    with pytest.raises(ValueError, match="flat rows go through Augmentation"):
        augment(torch.randn(4, 192), torch.Generator())
