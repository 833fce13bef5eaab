"""Augmentation: every output pixel is a padding zero or the input pixel the shift and flip
put there (oracle: the same crop and flip by hand), reproducible from the seed; flattened
rows of a fully connected network get exactly what their images would; the policy per data
set (flips only where the classes are mirror-symmetric); rotations against quarter turns
and a spot moved by hand trigonometry, drawn after the shifts so runs without them are
unchanged; elastic displacement fields against scipy's Gaussian filter, a constant field
against a whole-pixel shift, drawn after the angles."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from lava_diffpc.augment import Augmentation, augment, elastic_field, warp


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


def test_quarter_turns_and_no_turn_move_pixels_exactly():
    x = torch.randn(3, 2, 7, 7, generator=torch.Generator().manual_seed(6))
    turn = torch.full((3,), math.pi / 2)
    torch.testing.assert_close(warp(x, turn), torch.rot90(x, -1, (2, 3)), atol=1e-5, rtol=0)
    torch.testing.assert_close(warp(x, -turn), torch.rot90(x, 1, (2, 3)), atol=1e-5, rtol=0)
    torch.testing.assert_close(warp(x, torch.zeros(3)), x, atol=1e-6, rtol=0)


@pytest.mark.parametrize("degrees", [30.0, -50.0])
def test_a_spot_lands_where_trigonometry_puts_it_on_a_non_square_image(degrees):
    """A smooth spot 4 pixels right of and 1 below the centre of a 15x21 image, rotated by
    ``degrees``: its centroid moves to ``R(angle) (4, 1)`` (clockwise as displayed), within
    0.05 pixels; an aspect-blind grid puts it 0.6 to 0.9 pixels away."""
    h, w = 15, 21
    v, u = torch.meshgrid(torch.arange(h) - (h - 1) / 2, torch.arange(w) - (w - 1) / 2,
                          indexing="ij")
    spot = torch.exp(-((u - 4) ** 2 + (v - 1) ** 2) / (2 * 1.5**2))[None, None]
    angle = math.radians(degrees)
    out = warp(spot, torch.tensor([angle]))[0, 0]
    centroid = (float((out * u).sum() / out.sum()), float((out * v).sum() / out.sum()))
    c, s = math.cos(angle), math.sin(angle)
    expected = (4 * c - 1 * s, 4 * s + 1 * c)
    assert math.dist(centroid, expected) < 0.05, (centroid, expected)


def test_rotations_are_drawn_after_the_shifts_and_stay_in_range():
    x = torch.randn(32, 1, 28, 28, generator=torch.Generator().manual_seed(7))
    plain = Augmentation.for_dataset("mnist", (1, 28, 28))
    turned = Augmentation.for_dataset("mnist", (1, 28, 28), degrees=12.0)
    assert plain.degrees == 0.0 and turned.degrees == 12.0
    # without rotations: exactly the shifts of before
    assert torch.equal(plain(x, torch.Generator().manual_seed(8)),
                       augment(x, torch.Generator().manual_seed(8), pad=2, flip=False))
    # with them: the same shifts, then angles from the same generator, in [-12, 12] degrees
    gen = torch.Generator().manual_seed(8)
    shifted = augment(x, gen, pad=2, flip=False)
    angles = (2 * torch.rand(32, generator=gen, dtype=torch.float64) - 1) * math.radians(12)
    assert angles.abs().max() <= math.radians(12) and angles.abs().max() > math.radians(6)
    torch.testing.assert_close(turned(x, torch.Generator().manual_seed(8)),
                               warp(shifted, angles), atol=0, rtol=0)
    rows = turned(x.reshape(32, -1), torch.Generator().manual_seed(8))
    assert torch.equal(rows, turned(x, torch.Generator().manual_seed(8)).reshape(32, -1))


def test_a_rotation_beyond_half_a_turn_is_refused():
    with pytest.raises(ValueError, match="--rotate 200 is not an angle from 0 to 180 degrees"):
        Augmentation.for_dataset("mnist", (1, 28, 28), degrees=200)


@pytest.mark.parametrize("sigma", [4.0, 1.5])
def test_elastic_fields_are_uniform_noise_through_a_gaussian_filter(sigma):
    """Oracle: scipy's Gaussian filter (zero beyond the image, cut at 3 sigma) of the same
    uniform draws, times alpha."""
    ndimage = pytest.importorskip("scipy.ndimage")
    field = elastic_field((3, 28, 20), torch.Generator().manual_seed(9), 34.0, sigma)
    noise = 2 * torch.rand(6, 1, 28, 20, generator=torch.Generator().manual_seed(9)) - 1
    expected = [ndimage.gaussian_filter(n[0].double().numpy(), sigma, mode="constant",
                                        truncate=3.0) for n in noise]
    expected = 34.0 * torch.from_numpy(np.stack(expected)).view(3, 2, 28, 20).permute(0, 2, 3, 1)
    assert field.shape == (3, 28, 20, 2)
    torch.testing.assert_close(field.double(), expected, atol=1e-5, rtol=1e-5)


def test_a_constant_displacement_moves_the_image_by_whole_pixels():
    """``d = (2, -1)``: each output pixel takes the input pixel 2 to its right and 1 above,
    zero where that lies outside the image."""
    x = torch.randn(2, 3, 9, 11, generator=torch.Generator().manual_seed(10))
    field = torch.tensor([2.0, -1.0]).expand(2, 9, 11, 2)
    expected = torch.zeros_like(x)
    expected[:, :, 1:, :-2] = x[:, :, :-1, 2:]
    torch.testing.assert_close(warp(x, torch.zeros(2), field), expected, atol=1e-5, rtol=0)


def test_elastic_distortions_are_drawn_after_the_angles():
    x = torch.randn(16, 1, 28, 28, generator=torch.Generator().manual_seed(11))
    aug = Augmentation.for_dataset("mnist", (1, 28, 28), degrees=10.0, alpha=5.0, sigma=2.0)
    assert (aug.alpha, aug.sigma) == (5.0, 2.0)
    gen = torch.Generator().manual_seed(12)
    shifted = augment(x, gen, pad=2, flip=False)
    angles = (2 * torch.rand(16, generator=gen, dtype=torch.float64) - 1) * math.radians(10)
    field = elastic_field((16, 28, 28), gen, 5.0, 2.0)
    expected = warp(shifted, angles, field)
    torch.testing.assert_close(aug(x, torch.Generator().manual_seed(12)), expected, atol=0,
                               rtol=0)
    assert not torch.equal(expected, warp(shifted, angles))
    # without rotations the field comes straight after the shifts, on unturned images
    plain = Augmentation.for_dataset("mnist", (1, 28, 28), alpha=5.0)
    assert plain.sigma == 4.0
    gen = torch.Generator().manual_seed(12)
    shifted = augment(x, gen, pad=2, flip=False)
    expected = warp(shifted, torch.zeros(16), elastic_field((16, 28, 28), gen, 5.0, 4.0))
    torch.testing.assert_close(plain(x, torch.Generator().manual_seed(12)), expected, atol=0,
                               rtol=0)


@pytest.mark.parametrize("alpha, sigma, message", [
    (-1.0, None, "--elastic -1.0 is not a distortion strength"),
    (float("nan"), None, "--elastic nan is not a distortion strength"),
    (5.0, 0.0, "--elastic-sigma 0.0 is not a smoothing width"),
])
def test_a_distortion_without_strength_or_width_is_refused(alpha, sigma, message):
    with pytest.raises(ValueError, match=message):
        Augmentation.for_dataset("mnist", (1, 28, 28), alpha=alpha, sigma=sigma)
