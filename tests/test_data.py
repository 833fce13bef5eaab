"""Tests for lava_diffpc.data: loaders (on tiny generated files), normalisation, validation."""

from __future__ import annotations

import gzip
import os
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest

from lava_diffpc import data
from lava_diffpc.data import (
    DATA_ENV,
    Dataset,
    held_out_split,
    load_dataset,
    read_idx_images,
    resolve_data_dir,
    validate_batch,
)

IDX_STEMS = {
    ("train", "images"): "train-images-idx3-ubyte",
    ("train", "labels"): "train-labels-idx1-ubyte",
    ("test", "images"): "t10k-images-idx3-ubyte",
    ("test", "labels"): "t10k-labels-idx1-ubyte",
}


# --------------------------------------------------------------------------- helpers


def _idx_images_bytes(images: np.ndarray, magic: int = 0x803) -> bytes:
    n, rows, cols = images.shape
    return struct.pack(">IIII", magic, n, rows, cols) + images.astype(np.uint8).tobytes()


def _idx_labels_bytes(labels: np.ndarray, magic: int = 0x801) -> bytes:
    return struct.pack(">II", magic, len(labels)) + labels.astype(np.uint8).tobytes()


def _write_idx_set(
    root: Path, folder: str = "MNIST", n_train: int = 5, n_test: int = 3, gz: bool = True
) -> dict[str, np.ndarray]:
    """Write tiny random IDX files in torchvision's raw layout; return the raw arrays."""
    rng = np.random.default_rng(123)
    arrays = {
        "train_images": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train_labels": rng.integers(0, 10, n_train, dtype=np.uint8),
        "test_images": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "test_labels": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    raw = root / folder / "raw"
    raw.mkdir(parents=True)
    for (split, kind), stem in IDX_STEMS.items():
        arr = arrays[f"{split}_{kind}"]
        payload = _idx_images_bytes(arr) if kind == "images" else _idx_labels_bytes(arr)
        if gz:
            with gzip.open(raw / f"{stem}.gz", "wb") as fh:
                fh.write(payload)
        else:
            (raw / stem).write_bytes(payload)
    return arrays


def _write_cifar_npz(root: Path, n_train: int = 6, n_test: int = 2) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(7)
    arrays = {
        "x_train": rng.integers(0, 256, (n_train, 32, 32, 3), dtype=np.uint8),
        "y_train": rng.integers(0, 10, n_train).astype(np.int64),
        "x_test": rng.integers(0, 256, (n_test, 32, 32, 3), dtype=np.uint8),
        "y_test": rng.integers(0, 10, n_test).astype(np.int64),
    }
    # Make the channels clearly different so per-channel statistics matter.
    arrays["x_train"][..., 0] //= 4
    arrays["x_train"][..., 2] = 255 - arrays["x_train"][..., 2] // 2
    (root / "cifar10").mkdir(parents=True)
    np.savez(root / "cifar10" / "cifar10_train_full_test_first1000.npz", **arrays)
    return arrays


def _standardised(x: np.ndarray, train: np.ndarray, scale: float) -> np.ndarray:
    """Reference: scalar standardisation with float64 training statistics."""
    t = train.astype(np.float64) / scale
    return (x.astype(np.float64) / scale - t.mean()) / t.std()


# --------------------------------------------------------------------------- digits


def test_digits_shapes_dtypes_normalisation() -> None:
    ds = load_dataset("digits")
    assert isinstance(ds, Dataset)
    assert ds.name == "digits"
    assert ds.x_train.shape == (1437, 64) and ds.x_test.shape == (360, 64)
    assert ds.y_train.shape == (1437,) and ds.y_test.shape == (360,)
    assert ds.x_train.dtype == np.float32 and ds.x_test.dtype == np.float32
    assert ds.y_train.dtype == np.int64 and ds.y_test.dtype == np.int64
    assert ds.image_shape == (1, 8, 8) and ds.n_features == 64
    assert ds.n_classes == 10 and len(ds.class_names) == 10
    assert abs(float(ds.x_train.mean())) < 1e-5
    assert abs(float(ds.x_train.std()) - 1.0) < 1e-4
    assert set(np.unique(ds.y_train)) == set(range(10))
    assert ds.y_test.min() >= 0 and ds.y_test.max() <= 9
    # Stratified: every class appears in the test split in roughly 20 % proportion.
    counts = np.bincount(ds.y_test, minlength=10)
    assert counts.min() >= 34 and counts.max() <= 38
    # mean/std are on the [0, 1] scale (raw values 0..16 divided by 16).
    assert ds.mean.shape == (1,) and 0.0 < ds.mean[0] < 1.0
    # Undoing the normalisation gives back multiples of 1/16 in [0, 1].
    raw = (ds.x_train.astype(np.float64) * ds.std[0] + ds.mean[0]) * 16
    np.testing.assert_allclose(raw, np.round(raw), atol=1e-4)
    assert raw.min() > -1e-4 and raw.max() < 16 + 1e-4


def test_digits_split_is_deterministic_and_matches_sklearn() -> None:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    a = load_dataset("digits")
    b = load_dataset("digits", flatten=False)
    np.testing.assert_array_equal(a.y_train, b.y_train)
    np.testing.assert_array_equal(a.x_train, b.x_train.reshape(len(b.x_train), -1))
    assert b.x_train.shape == (1437, 1, 8, 8)
    d = load_digits()
    x_tr, x_te, y_tr, y_te = train_test_split(
        d.data, d.target, test_size=0.2, random_state=0, stratify=d.target
    )
    np.testing.assert_array_equal(a.y_train, y_tr)
    np.testing.assert_array_equal(a.y_test, y_te)
    np.testing.assert_allclose(a.x_test, _standardised(x_te, x_tr, 16.0), atol=1e-5)


def test_limits_take_first_samples_with_full_train_statistics() -> None:
    full = load_dataset("digits")
    small = load_dataset("digits", limit_train=10, limit_test=4)
    assert small.x_train.shape == (10, 64) and small.x_test.shape == (4, 64)
    np.testing.assert_array_equal(small.x_train, full.x_train[:10])
    np.testing.assert_array_equal(small.y_test, full.y_test[:4])
    np.testing.assert_array_equal(small.mean, full.mean)
    with pytest.raises(ValueError, match="limit_train"):
        load_dataset("digits", limit_train=-1)


def test_unknown_name_lists_valid_names() -> None:
    with pytest.raises(ValueError) as err:
        load_dataset("imagenet")
    msg = str(err.value)
    for valid in ("digits", "mnist", "fashion-mnist", "cifar10"):
        assert valid in msg


# --------------------------------------------------------------------------- MNIST (IDX)


@pytest.mark.parametrize("gz", [True, False])
def test_idx_reader_round_trip(tmp_path: Path, gz: bool) -> None:
    arrays = _write_idx_set(tmp_path, gz=gz)
    ds = load_dataset("mnist", tmp_path, flatten=False)
    assert ds.x_train.shape == (5, 1, 28, 28) and ds.x_test.shape == (3, 1, 28, 28)
    assert ds.image_shape == (1, 28, 28)
    np.testing.assert_array_equal(ds.y_train, arrays["train_labels"].astype(np.int64))
    np.testing.assert_array_equal(ds.y_test, arrays["test_labels"].astype(np.int64))
    # Undo the normalisation: exact uint8 pixel values come back.
    for x, raw in ((ds.x_train, arrays["train_images"]), (ds.x_test, arrays["test_images"])):
        back = np.rint((x[:, 0].astype(np.float64) * ds.std[0] + ds.mean[0]) * 255)
        np.testing.assert_array_equal(back.astype(np.uint8), raw)
    train01 = arrays["train_images"] / 255.0
    assert ds.mean[0] == pytest.approx(train01.mean(), rel=1e-12)
    assert ds.std[0] == pytest.approx(train01.std(), rel=1e-12)
    np.testing.assert_allclose(
        ds.x_test[:, 0],
        _standardised(arrays["test_images"], arrays["train_images"], 255.0),
        atol=1e-5,
    )
    # The raw reader itself is exact.
    suffix = ".gz" if gz else ""
    path = tmp_path / "MNIST" / "raw" / f"train-images-idx3-ubyte{suffix}"
    np.testing.assert_array_equal(read_idx_images(path), arrays["train_images"])


def test_fashion_mnist_aliases_and_folder(tmp_path: Path) -> None:
    arrays = _write_idx_set(tmp_path, folder="FashionMNIST")
    for alias in ("fashion-mnist", "fashion_mnist", "fmnist"):
        ds = load_dataset(alias, tmp_path)
        assert ds.name == "fashion-mnist"
        assert ds.x_train.shape == (5, 784)
        assert ds.class_names[9] == "Ankle boot"
        np.testing.assert_array_equal(ds.y_train, arrays["train_labels"])


def test_idx_corrupt_magic_raises(tmp_path: Path) -> None:
    _write_idx_set(tmp_path)
    bad = tmp_path / "MNIST" / "raw" / "train-images-idx3-ubyte.gz"
    images = np.zeros((5, 28, 28), dtype=np.uint8)
    with gzip.open(bad, "wb") as fh:
        fh.write(_idx_images_bytes(images, magic=0x801))  # a labels magic on an images file
    with pytest.raises(ValueError, match="magic"):
        load_dataset("mnist", tmp_path)


def test_idx_truncated_and_mismatched_counts_raise(tmp_path: Path) -> None:
    _write_idx_set(tmp_path)
    raw = tmp_path / "MNIST" / "raw"
    payload = _idx_images_bytes(np.zeros((5, 28, 28), dtype=np.uint8))
    with gzip.open(raw / "train-images-idx3-ubyte.gz", "wb") as fh:
        fh.write(payload[:-10])
    with pytest.raises(ValueError, match="truncated"):
        load_dataset("mnist", tmp_path)
    with gzip.open(raw / "train-images-idx3-ubyte.gz", "wb") as fh:
        fh.write(_idx_images_bytes(np.zeros((4, 28, 28), dtype=np.uint8)))
    with pytest.raises(ValueError, match="4 images .* 5 labels"):
        load_dataset("mnist", tmp_path)
    (raw / "train-labels-idx1-ubyte.gz").write_bytes(b"not a gzip file at all")
    with pytest.raises(ValueError, match="corrupt"):
        load_dataset("mnist", tmp_path)


def test_idx_missing_folder_raises_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError) as err:
        load_dataset("mnist", tmp_path)
    msg = str(err.value)
    expected = tmp_path / "MNIST" / "raw" / "train-images-idx3-ubyte.gz"
    assert str(expected) in msg
    assert "t10k-labels-idx1-ubyte.gz" in msg
    assert "LAVA_DIFFPC_DATA" in msg and "--download" in msg and "mnist" in msg


# --------------------------------------------------------------------------- CIFAR-10


def test_cifar_npz_chw_and_per_channel_normalisation(tmp_path: Path) -> None:
    arrays = _write_cifar_npz(tmp_path)
    ds = load_dataset("cifar10", tmp_path, flatten=False)
    assert ds.x_train.shape == (6, 3, 32, 32) and ds.x_test.shape == (2, 3, 32, 32)
    assert ds.image_shape == (3, 32, 32) and ds.n_features == 3072
    assert "1000" in ds.notes and "test" in ds.notes
    assert ds.class_names[0] == "airplane"
    np.testing.assert_array_equal(ds.y_train, arrays["y_train"])
    x_hwc = arrays["x_train"].astype(np.float64) / 255
    mean_c = x_hwc.mean(axis=(0, 1, 2))
    std_c = x_hwc.std(axis=(0, 1, 2))
    np.testing.assert_allclose(ds.mean, mean_c, rtol=1e-12)
    np.testing.assert_allclose(ds.std, std_c, rtol=1e-12)
    assert not np.allclose(mean_c[0], mean_c[2])  # channels really differ
    # Pixel (n=4, h=7, w=21, c=2) of HWC lands at [4, 2, 7, 21] of CHW.
    expected = (arrays["x_train"][4, 7, 21, 2] / 255 - mean_c[2]) / std_c[2]
    assert ds.x_train[4, 2, 7, 21] == pytest.approx(expected, abs=1e-5)
    expected_test = (arrays["x_test"][1, 31, 0, 0] / 255 - mean_c[0]) / std_c[0]
    assert ds.x_test[1, 0, 31, 0] == pytest.approx(expected_test, abs=1e-5)
    per_channel = ds.x_train.transpose(1, 0, 2, 3).reshape(3, -1)
    np.testing.assert_allclose(per_channel.mean(axis=1), 0.0, atol=1e-5)
    np.testing.assert_allclose(per_channel.std(axis=1), 1.0, atol=1e-5)
    flat = load_dataset("cifar10", tmp_path)
    assert flat.x_train.shape == (6, 3072)
    np.testing.assert_array_equal(flat.x_train, ds.x_train.reshape(6, -1))


def test_cifar_python_batches(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    batches = {}
    for fname in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {
            b"data": rng.integers(0, 256, (2, 3072), dtype=np.uint8),
            b"labels": [int(v) for v in rng.integers(0, 10, 2)],
        }
        batches[fname] = batch
        with open(folder / fname, "wb") as fh:
            pickle.dump(batch, fh)
    ds = load_dataset("cifar10", tmp_path, flatten=False)
    assert ds.x_train.shape == (10, 3, 32, 32) and ds.x_test.shape == (2, 3, 32, 32)
    assert ds.notes == ""
    np.testing.assert_array_equal(ds.y_test, batches["test_batch"][b"labels"])
    # Row layout is already CHW-flattened: element 1024 + 32*5 + 6 is (c=1, h=5, w=6).
    raw = batches["data_batch_2"][b"data"][1]
    value = (raw[1024 + 32 * 5 + 6] / 255 - ds.mean[1]) / ds.std[1]
    assert ds.x_train[3, 1, 5, 6] == pytest.approx(value, abs=1e-5)


def _one_line_naming(exc: pytest.ExceptionInfo, path: Path) -> str:
    msg = str(exc.value)
    assert "\n" not in msg and str(path) in msg, msg
    return msg


def test_a_folder_named_like_a_data_file_is_named(tmp_path: Path) -> None:
    _write_idx_set(tmp_path)
    labels = tmp_path / "MNIST" / "raw" / "t10k-labels-idx1-ubyte.gz"
    labels.unlink()
    labels.mkdir()
    with pytest.raises(ValueError) as err:
        load_dataset("mnist", tmp_path)
    assert "is a folder (or another non-file), not a data file" in _one_line_naming(err, labels)
    npz = tmp_path / "cifar10" / "cifar10_train_full_test_first1000.npz"
    npz.mkdir(parents=True)
    with pytest.raises(ValueError) as err:
        load_dataset("cifar10", tmp_path)
    _one_line_naming(err, npz)
    data_file = tmp_path / "not-a-folder"
    data_file.write_text("")
    with pytest.raises(ValueError, match="is a file, not a folder"):
        load_dataset("mnist", data_file)


@pytest.mark.parametrize("labels, problem", [
    (np.array([0.0, 1.5, 2.0, 3.0, 4.0, 5.0]), "must be integers, got dtype float64"),
    (np.array(["a", "b", "c", "d", "e", "f"]), "must be integers, got dtype <U1"),
    (np.eye(10, dtype=np.int64)[:6], r"should have shape \(6,\) for 6 images, got \(6, 10\)"),
    (np.arange(5), r"should have shape \(6,\) for 6 images, got \(5,\)"),
])
def test_cifar_npz_labels_that_are_no_class_indices_name_the_file(tmp_path: Path, labels,
                                                                  problem) -> None:
    arrays = _write_cifar_npz(tmp_path)
    npz = tmp_path / "cifar10" / "cifar10_train_full_test_first1000.npz"
    np.savez(npz, **{**arrays, "y_train": labels})
    with pytest.raises(ValueError, match=problem) as err:
        load_dataset("cifar10", tmp_path)
    assert "'y_train'" in _one_line_naming(err, npz)


def test_cifar_npz_of_object_arrays_or_wrong_dimensions_names_the_file(tmp_path: Path) -> None:
    arrays = _write_cifar_npz(tmp_path)
    npz = tmp_path / "cifar10" / "cifar10_train_full_test_first1000.npz"
    objects = np.empty(6, dtype=object)
    objects[:] = [np.zeros(3)] * 6
    np.savez(npz, **{**arrays, "y_train": objects})
    with pytest.raises(ValueError, match="plain arrays") as err:
        load_dataset("cifar10", tmp_path)
    _one_line_naming(err, npz)
    np.savez(npz, **{**arrays, "x_train": arrays["x_train"][..., 0]})  # (N, 32, 32)
    with pytest.raises(ValueError, match=r"should be \(N, 32, 32, 3\) uint8 HWC") as err:
        load_dataset("cifar10", tmp_path)
    _one_line_naming(err, npz)
    np.save(npz.with_suffix(".npy"), arrays["x_train"])
    npz.with_suffix(".npy").rename(npz)  # one array, not an archive
    with pytest.raises(ValueError, match="not an npz archive") as err:
        load_dataset("cifar10", tmp_path)
    _one_line_naming(err, npz)


def test_cifar_batches_with_labels_that_are_no_integers_name_the_file(tmp_path: Path) -> None:
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    for fname in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        labels = [0.5, 1.0] if fname == "data_batch_3" else [1, 2]
        with open(folder / fname, "wb") as fh:
            pickle.dump({b"data": np.zeros((2, 3072), np.uint8), b"labels": labels}, fh)
    with pytest.raises(ValueError, match="must be integers") as err:
        load_dataset("cifar10", tmp_path)
    _one_line_naming(err, folder / "data_batch_3")
    with open(folder / "data_batch_3", "wb") as fh:
        pickle.dump([1, 2, 3], fh)
    with pytest.raises(ValueError, match="not a CIFAR-10 batch") as err:
        load_dataset("cifar10", tmp_path)
    _one_line_naming(err, folder / "data_batch_3")


def test_cifar_missing_names_both_layouts(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError) as err:
        load_dataset("cifar10", tmp_path)
    msg = str(err.value)
    assert str(tmp_path / "cifar10" / "cifar10_train_full_test_first1000.npz") in msg
    assert str(tmp_path / "cifar-10-batches-py" / "test_batch") in msg
    assert DATA_ENV in msg


# --------------------------------------------------------------------------- data directory


def test_resolve_data_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(DATA_ENV, str(tmp_path / "from_env"))
    assert resolve_data_dir(None) == (tmp_path / "from_env", f"${DATA_ENV}")
    assert resolve_data_dir(tmp_path / "explicit") == (tmp_path / "explicit",
                                                       "data_dir argument")
    assert resolve_data_dir(str(tmp_path))[0] == tmp_path
    monkeypatch.delenv(DATA_ENV)
    monkeypatch.chdir(tmp_path)
    assert resolve_data_dir(None)[0] == tmp_path / "data"


def test_env_var_is_used_by_loader(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    arrays = _write_idx_set(tmp_path)
    monkeypatch.setenv(DATA_ENV, str(tmp_path))
    ds = load_dataset("mnist")
    np.testing.assert_array_equal(ds.y_test, arrays["test_labels"])
    monkeypatch.setenv(DATA_ENV, str(tmp_path / "elsewhere"))
    with pytest.raises(FileNotFoundError, match="elsewhere"):
        load_dataset("mnist")


# --------------------------------------------------------------------------- validate_batch


def test_validate_batch_accepts_good_batch() -> None:
    x = np.zeros((4, 6), dtype=np.float32)
    validate_batch(x, np.array([0, 1, 2, 2]), 6, 3)
    validate_batch(x, None, 6, 3)
    validate_batch(x.astype(np.uint8), np.array([0, 1, 2, 2], dtype=np.uint8), 6, 3)


def test_validate_batch_nan_and_inf() -> None:
    x = np.zeros((4, 6), dtype=np.float32)
    x[2, 3] = np.nan
    x[3, 0] = np.nan
    with pytest.raises(ValueError, match=r"2 non-finite.*2 NaN.*sample 2, feature 3"):
        validate_batch(x, None, 6, 3)
    x = np.zeros((4, 6), dtype=np.float64)
    x[1, 5] = -np.inf
    with pytest.raises(ValueError, match=r"1 non-finite.*1 inf.*sample 1, feature 5"):
        validate_batch(x, None, 6, 3)


def test_validate_batch_shapes() -> None:
    with pytest.raises(ValueError, match=r"2-D.*flatten"):
        validate_batch(np.zeros((4, 1, 2, 3)), None, 6, 3)
    with pytest.raises(ValueError, match=r"expected 6, got 5"):
        validate_batch(np.zeros((4, 5)), None, 6, 3)
    with pytest.raises(ValueError, match="lengths differ"):
        validate_batch(np.zeros((4, 6)), np.array([0, 1, 2]), 6, 3)
    with pytest.raises(ValueError, match="1-D"):
        validate_batch(np.zeros((4, 6)), np.eye(4, 3, dtype=np.int64), 6, 3)


def test_validate_batch_labels() -> None:
    x = np.zeros((4, 6))
    with pytest.raises(ValueError, match=r"out of range \[0, 3\).*index 2 \(value 3\)"):
        validate_batch(x, np.array([0, 1, 3, 2]), 6, 3)
    with pytest.raises(ValueError, match="out of range"):
        validate_batch(x, np.array([0, -1, 1, 2]), 6, 3)
    with pytest.raises(ValueError, match="integer"):
        validate_batch(x, np.array([0.0, 1.0, 2.0, 1.0]), 6, 3)


def test_validate_batch_torch_tensors() -> None:
    torch = pytest.importorskip("torch")
    x = torch.zeros(3, 6, requires_grad=True)
    validate_batch(x * 2, torch.tensor([0, 1, 2]), 6, 3)
    bad = torch.zeros(3, 6)
    bad[0, 1] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        validate_batch(bad, torch.tensor([0, 1, 2]), 6, 3)
    with pytest.raises(ValueError, match="integer"):
        validate_batch(torch.zeros(3, 6), torch.tensor([0.0, 1.0, 2.0]), 6, 3)


# --------------------------------------------------------------------------- held_out_split


def test_held_out_split_sizes_disjoint_and_renormalised() -> None:
    ds = load_dataset("digits")
    held = held_out_split(ds, 100, seed=3)
    assert held.name == "digits-heldout"
    assert held.x_train.shape == (1337, 64) and held.x_test.shape == (100, 64)
    assert len(held.y_train) == 1337 and len(held.y_test) == 100
    # Recover each sample's original index through the recorded affine change.
    scale = held.std / ds.std
    shift = (held.mean - ds.mean) / ds.std

    def original(x: np.ndarray) -> np.ndarray:
        return x.astype(np.float64) * scale[0] + shift[0]

    train_back, test_back = original(held.x_train), original(held.x_test)
    d_cross = np.abs(test_back[:, None, :] - ds.x_train[None, :, :]).max(axis=2)
    test_idx = d_cross.argmin(axis=1)
    assert d_cross.min(axis=1).max() < 1e-4
    np.testing.assert_array_equal(held.y_test, ds.y_train[test_idx])
    assert len(set(test_idx.tolist())) == 100
    # Training samples are the remaining ones, in order, and none is in the test set.
    remaining = np.setdiff1d(np.arange(len(ds.y_train)), test_idx)
    np.testing.assert_allclose(train_back, ds.x_train[remaining], atol=1e-4)
    np.testing.assert_array_equal(held.y_train, ds.y_train[remaining])
    # Re-standardised with the remaining training samples' statistics.
    assert abs(float(held.x_train.mean())) < 1e-5
    assert abs(float(held.x_train.std()) - 1.0) < 1e-4
    # Deterministic for a seed, different for another seed.
    again = held_out_split(ds, 100, seed=3)
    np.testing.assert_array_equal(again.y_test, held.y_test)
    np.testing.assert_array_equal(again.x_test, held.x_test)
    other = held_out_split(ds, 100, seed=4)
    assert not np.array_equal(other.x_test, held.x_test)
    # The input dataset is not modified.
    np.testing.assert_array_equal(ds.x_train, load_dataset("digits").x_train)


def test_held_out_split_unflattened_and_bad_n(tmp_path: Path) -> None:
    _write_cifar_npz(tmp_path, n_train=6, n_test=2)
    ds = load_dataset("cifar10", tmp_path, flatten=False)
    held = held_out_split(ds, 2)
    assert held.x_train.shape == (4, 3, 32, 32) and held.x_test.shape == (2, 3, 32, 32)
    assert held.name == "cifar10-heldout" and "held out" in held.notes
    per_channel = held.x_train.transpose(1, 0, 2, 3).reshape(3, -1)
    np.testing.assert_allclose(per_channel.mean(axis=1), 0.0, atol=1e-5)
    np.testing.assert_allclose(per_channel.std(axis=1), 1.0, atol=1e-5)
    for bad in (0, 6, 7, -1):
        with pytest.raises(ValueError, match="n must be"):
            held_out_split(ds, bad)


def test_module_imports_no_lava_or_torch() -> None:
    src = Path(data.__file__).read_text()
    top = [ln for ln in src.splitlines() if ln.startswith(("import ", "from "))]
    assert not any("lava" in ln and "lava_diffpc" not in ln for ln in top)
    assert not any("torch" in ln for ln in top)


# --------------------------------------------------------------------------- real files


REAL = Path(os.environ.get(DATA_ENV, "")) if os.environ.get(DATA_ENV) else None


@pytest.mark.skipif(
    REAL is None or not (REAL / "MNIST" / "raw").is_dir(),
    reason=f"real MNIST files: set {DATA_ENV} to a folder with MNIST/raw/",
)
def test_real_mnist() -> None:
    ds = load_dataset("mnist", REAL)
    assert ds.x_train.shape == (60000, 784) and ds.x_test.shape == (10000, 784)
    np.testing.assert_array_equal(ds.y_train[:5], [5, 0, 4, 1, 9])
    np.testing.assert_array_equal(ds.y_test[:5], [7, 2, 1, 0, 4])
    assert ds.mean[0] == pytest.approx(0.1307, abs=1e-4)
    assert ds.std[0] == pytest.approx(0.3081, abs=1e-4)


@pytest.mark.skipif(
    REAL is None or not (REAL / "FashionMNIST" / "raw").is_dir(),
    reason=f"real Fashion-MNIST files: set {DATA_ENV} to a folder with FashionMNIST/raw/",
)
def test_real_fashion_mnist() -> None:
    ds = load_dataset("fashion-mnist", REAL, limit_test=10)
    assert ds.x_train.shape == (60000, 784) and ds.x_test.shape == (10, 784)
    np.testing.assert_array_equal(np.bincount(ds.y_train), [6000] * 10)
    assert ds.mean[0] == pytest.approx(0.2860, abs=1e-4)
