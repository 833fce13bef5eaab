"""Dataset loading, normalisation and batch validation (NumPy only, no Lava).

Supported datasets (:func:`load_dataset`):

``digits``
    scikit-learn's ``load_digits`` (1797 grayscale 8x8 images, values 0..16; ships with
    scikit-learn). Fixed stratified split: 1437 train / 360 test
    (``train_test_split(test_size=0.2, random_state=0, stratify=y)``).
``mnist``, ``fashion-mnist`` (aliases ``fashion_mnist``, ``fmnist``)
    gzip IDX files in torchvision's raw layout::

        <data_dir>/MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz
        <data_dir>/FashionMNIST/raw/...   (same file names)

    The uncompressed files (same names without ``.gz``) are used when the ``.gz`` are absent.
    60000 train / 10000 test images, 1x28x28.
``cifar10``
    Either ``<data_dir>/cifar10/cifar10_train_full_test_first1000.npz`` (arrays ``x_train``
    (50000, 32, 32, 3) uint8 HWC, ``y_train``, ``x_test`` (1000, 32, 32, 3), ``y_test``:
    the test split holds only the FIRST 1000 official test images, see ``Dataset.notes``),
    or the official python batches ``<data_dir>/cifar-10-batches-py/data_batch_1..5`` and
    ``test_batch``. Images are returned in CHW order, 3x32x32.

Data directory: the ``data_dir`` argument, else the environment variable ``LAVA_DIFFPC_DATA``
(:data:`DATA_ENV`), else ``./data`` (see :func:`resolve_data_dir`).

Every problem with a file (corrupt, truncated, of the wrong shape or type, a folder where a
file should be) raises a one-line ``ValueError`` that names the file.

Normalisation: pixels are scaled to [0, 1] (divided by 255; digits by 16), then standardised
to zero mean and unit variance with statistics of the full TRAINING split only (one scalar
for grayscale data, one value per channel for CIFAR-10). ``Dataset.mean``/``Dataset.std``
record these statistics on the [0, 1] scale, shape ``(C,)``, so
``x_normalised = (x_01 - mean[c]) / std[c]``.
"""

from __future__ import annotations

import gzip
import os
import pickle
import struct
import zipfile
import zlib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

DATA_ENV = "LAVA_DIFFPC_DATA"
DEFAULT_DATA_DIR = "data"
DATASET_NAMES = ("digits", "mnist", "fashion-mnist", "cifar10")
_ALIASES = {
    "fashion_mnist": "fashion-mnist",
    "fashionmnist": "fashion-mnist",
    "fmnist": "fashion-mnist",
    "cifar-10": "cifar10",
    "cifar_10": "cifar10",
}

IDX_IMAGES_MAGIC = 0x803  # 2051: unsigned byte, 3 dimensions
IDX_LABELS_MAGIC = 0x801  # 2049: unsigned byte, 1 dimension
_IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
_IDX_FOLDERS = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST"}

CIFAR10_NPZ = Path("cifar10") / "cifar10_train_full_test_first1000.npz"
CIFAR10_BATCHES = Path("cifar-10-batches-py")
_CIFAR10_BATCH_FILES = tuple(f"data_batch_{i}" for i in range(1, 6)) + ("test_batch",)

DIGIT_NAMES = [str(i) for i in range(10)]
FASHION_MNIST_NAMES = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
]
CIFAR10_NAMES = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
]


@dataclass
class Dataset:
    """A normalised image classification dataset.

    ``x_train``/``x_test`` are float32, shape ``(N, C*H*W)`` (flattened, CHW order) or
    ``(N, C, H, W)``; ``y_train``/``y_test`` are int64 class indices in ``[0, n_classes)``.
    ``mean``/``std`` (float64, shape ``(C,)``) are the training statistics used for
    standardisation, on the [0, 1] pixel scale.
    """

    name: str
    x_train: np.ndarray = field(repr=False)
    y_train: np.ndarray = field(repr=False)
    x_test: np.ndarray = field(repr=False)
    y_test: np.ndarray = field(repr=False)
    image_shape: tuple[int, ...]
    n_classes: int
    class_names: list[str] = field(repr=False)
    notes: str = ""
    mean: np.ndarray | None = None
    std: np.ndarray | None = None

    @property
    def n_features(self) -> int:
        """Number of input features per sample, ``C*H*W``."""
        return int(np.prod(self.image_shape))


# --------------------------------------------------------------------------- data directory


def resolve_data_dir(data_dir: str | Path | None = None) -> tuple[Path, str]:
    """``(data folder, where it came from)``: ``data_dir`` if given, else
    ``$LAVA_DIFFPC_DATA``, else ``./data``."""
    if data_dir is not None and str(data_dir) != "":
        return Path(data_dir).expanduser().absolute(), "data_dir argument"
    env = os.environ.get(DATA_ENV, "")
    if env:
        return Path(env).expanduser().absolute(), f"${DATA_ENV}"
    return Path(DEFAULT_DATA_DIR).absolute(), f"default ./{DEFAULT_DATA_DIR} (${DATA_ENV} unset)"


def _missing_files_error(
    dataset: str, root: Path, source: str, expected: list[Path], hint: str = ""
) -> FileNotFoundError:
    """One line: which files are missing where, and how to provide them."""
    missing = [str(p) for p in expected if not p.exists()]
    return FileNotFoundError(
        f"{dataset} data not found in {root} (data folder from {source}): missing "
        f"{', '.join(missing)}{' ' + hint if hint else ''}; pass --data-dir DIR "
        f"(data_dir=DIR) or set {DATA_ENV}=DIR to a folder holding these files, or pass "
        "--download (download=True) on a machine with internet access"
    )


def _torchvision_download(dataset: str, root: Path) -> None:
    """Fetch ``dataset`` into ``root`` with torchvision (optional dependency)."""
    try:
        import torchvision  # noqa: PLC0415 - optional, only for downloads
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            f"download=True needs torchvision to fetch {dataset}; install it or place the "
            f"files in the data folder yourself (see ${DATA_ENV})."
        ) from exc
    classes = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST", "cifar10": "CIFAR10"}
    root.mkdir(parents=True, exist_ok=True)
    getattr(torchvision.datasets, classes[dataset])(root=str(root), train=True, download=True)


# --------------------------------------------------------------------------- IDX (MNIST)


def _read_bytes(path: Path) -> bytes:
    """File content, gunzipped when the name ends in ``.gz``."""
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as fh:
                return fh.read()
        return path.read_bytes()
    except (OSError, EOFError, zlib.error) as exc:
        raise ValueError(f"cannot read {path}: corrupt or truncated file ({exc})") from exc


def read_idx_images(path: str | Path) -> np.ndarray:
    """Read an IDX image file (gzip or plain): 16-byte big-endian header
    (magic 0x803 = 2051, count, rows, cols) then uint8 pixels. Returns ``(N, rows, cols)`` uint8.
    """
    path = Path(path)
    raw = _read_bytes(path)
    if len(raw) < 16:
        raise ValueError(f"{path}: too short for an IDX image header ({len(raw)} bytes)")
    magic, n, rows, cols = struct.unpack(">IIII", raw[:16])
    if magic != IDX_IMAGES_MAGIC:
        raise ValueError(
            f"{path}: bad magic number {magic:#x} for an IDX image file "
            f"(expected {IDX_IMAGES_MAGIC:#x} = {IDX_IMAGES_MAGIC}); the file is corrupt or "
            "not an images file"
        )
    expected = 16 + n * rows * cols
    if len(raw) != expected:
        raise ValueError(
            f"{path}: header announces {n} images of {rows}x{cols} ({expected} bytes) but the "
            f"file holds {len(raw)} bytes; the file is corrupt or truncated"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(n, rows, cols)


def read_idx_labels(path: str | Path) -> np.ndarray:
    """Read an IDX label file (gzip or plain): 8-byte big-endian header
    (magic 0x801 = 2049, count) then uint8 labels. Returns ``(N,)`` int64.
    """
    path = Path(path)
    raw = _read_bytes(path)
    if len(raw) < 8:
        raise ValueError(f"{path}: too short for an IDX label header ({len(raw)} bytes)")
    magic, n = struct.unpack(">II", raw[:8])
    if magic != IDX_LABELS_MAGIC:
        raise ValueError(
            f"{path}: bad magic number {magic:#x} for an IDX label file "
            f"(expected {IDX_LABELS_MAGIC:#x} = {IDX_LABELS_MAGIC}); the file is corrupt or "
            "not a labels file"
        )
    if len(raw) != 8 + n:
        raise ValueError(
            f"{path}: header announces {n} labels but the file holds {len(raw) - 8}; "
            "the file is corrupt or truncated"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=8).astype(np.int64)


def _not_a_file(path: Path) -> None:
    """ValueError when something other than a file sits where a data file belongs."""
    if path.exists() and not path.is_file():
        raise ValueError(f"{path} is a folder (or another non-file), not a data file; "
                         "remove or rename it and put the file there")


def _find_idx(raw_dir: Path, stem: str) -> Path | None:
    for candidate in (raw_dir / f"{stem}.gz", raw_dir / stem):
        _not_a_file(candidate)
        if candidate.is_file():
            return candidate
    return None


def _load_idx_dataset(
    dataset: str, root: Path, source: str, download: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    raw_dir = root / _IDX_FOLDERS[dataset] / "raw"
    paths = {k: _find_idx(raw_dir, stem) for k, stem in _IDX_FILES.items()}
    if any(p is None for p in paths.values()) and download:
        _torchvision_download(dataset, root)
        paths = {k: _find_idx(raw_dir, stem) for k, stem in _IDX_FILES.items()}
    if any(p is None for p in paths.values()):
        expected = [raw_dir / f"{stem}.gz" for stem in _IDX_FILES.values()]
        raise _missing_files_error(
            dataset, root, source, expected, "(the uncompressed files without .gz also work)"
        )
    out = []
    for split in ("train", "test"):
        images = read_idx_images(paths[f"{split}_images"])
        labels = read_idx_labels(paths[f"{split}_labels"])
        if len(images) != len(labels):
            raise ValueError(
                f"{dataset} {split}: {len(images)} images in {paths[f'{split}_images']} but "
                f"{len(labels)} labels in {paths[f'{split}_labels']}"
            )
        out += [images[:, None], labels]  # add the channel axis: (N, 1, H, W)
    if out[0].shape[1:] != out[2].shape[1:]:
        raise ValueError(
            f"{dataset}: train images {out[0].shape[1:]} and test images {out[2].shape[1:]} differ"
        )
    return out[0], out[1], out[2], out[3]


# --------------------------------------------------------------------------- CIFAR-10


def _load_cifar10(
    root: Path, source: str, download: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[str], str]:
    npz = root / CIFAR10_NPZ
    batches = root / CIFAR10_BATCHES
    for path in [npz] + [batches / f for f in _CIFAR10_BATCH_FILES]:
        _not_a_file(path)
    have_batches = all((batches / f).is_file() for f in _CIFAR10_BATCH_FILES)
    if not npz.is_file() and not have_batches and download:
        _torchvision_download("cifar10", root)
        have_batches = all((batches / f).is_file() for f in _CIFAR10_BATCH_FILES)
    if npz.is_file():
        return _read_cifar10_npz(npz)
    if have_batches:
        return _read_cifar10_batches(batches)
    expected = [npz] + [batches / f for f in _CIFAR10_BATCH_FILES]
    raise _missing_files_error(
        "cifar10",
        root,
        source,
        expected,
        f"(either the single .npz file or all six python batches in {batches})",
    )


def _hwc_to_chw(x: np.ndarray, path: Path, key: str) -> np.ndarray:
    if x.shape[1:] != (32, 32, 3) or x.dtype != np.uint8:
        raise ValueError(
            f"{path}: array {key!r} should be (N, 32, 32, 3) uint8 HWC, got {x.shape} {x.dtype}"
        )
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))


def _labels(y: Any, n: int, path: Path, key: str) -> np.ndarray:
    """Class indices from a label array: integers, shape ``(n,)`` or ``(n, 1)``."""
    y = np.asarray(y)
    if y.dtype.kind not in "iu":
        raise ValueError(f"{path}: labels {key!r} must be integers, got dtype {y.dtype}; "
                         "the file is corrupt or not a CIFAR-10 file")
    if y.shape not in ((n,), (n, 1)):
        raise ValueError(f"{path}: labels {key!r} should have shape ({n},) for {n} images, "
                         f"got {y.shape}")
    return y.astype(np.int64).reshape(-1)


def _read_cifar10_npz(
    path: Path,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[str], str]:
    try:
        loaded = np.load(path, allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):  # a single .npy array
            raise ValueError("a single array, not an npz archive")
        with loaded as d:
            arrays = {k: d[k] for k in d.files}
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise ValueError(f"cannot read {path}: corrupt or truncated npz file ({exc})") from exc
    except ValueError as exc:  # e.g. object arrays, which NumPy will not unpickle
        raise ValueError(f"cannot read {path}: {exc}; it must hold plain arrays: uint8 images "
                         "and integer labels") from exc
    missing = [k for k in ("x_train", "y_train", "x_test", "y_test") if k not in arrays]
    if missing:
        raise ValueError(f"{path}: missing arrays {missing} (has {sorted(arrays)})")
    x_train = _hwc_to_chw(arrays["x_train"], path, "x_train")
    x_test = _hwc_to_chw(arrays["x_test"], path, "x_test")
    y_train = _labels(arrays["y_train"], len(x_train), path, "y_train")
    y_test = _labels(arrays["y_test"], len(x_test), path, "y_test")
    names = [str(s) for s in arrays["label_names"]] if "label_names" in arrays else None
    notes = (
        f"CIFAR-10 from {path.name}: the test split holds only the FIRST {len(y_test)} of the "
        "10,000 official test images; test accuracy is not comparable to full-test-set figures "
        "(use held_out_split() for a larger held-out set)."
    )
    return x_train, y_train, x_test, y_test, names or list(CIFAR10_NAMES), notes


def _unpickle(path: Path) -> dict[bytes, Any]:
    # The official batches are pickles: only load files from a trusted source.
    try:
        with open(path, "rb") as fh:
            return pickle.load(fh, encoding="bytes")
    except Exception as exc:  # a corrupt pickle can fail in almost any way
        raise ValueError(f"cannot read {path}: corrupt CIFAR-10 batch ({exc})") from exc


def _read_cifar10_batches(
    folder: Path,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[str], str]:
    xs, ys = [], []
    for fname in _CIFAR10_BATCH_FILES:
        batch = _unpickle(folder / fname)
        if not isinstance(batch, dict):
            raise ValueError(f"{folder / fname}: not a CIFAR-10 batch (a {type(batch).__name__}, "
                             "not a dict)")
        try:
            data = np.asarray(batch[b"data"])
            labels = np.asarray(batch[b"labels"])
        except KeyError as exc:
            raise ValueError(f"{folder / fname}: missing key {exc} in CIFAR-10 batch") from exc
        if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
            raise ValueError(
                f"{folder / fname}: expected data (N, 3072) uint8, got {data.shape} {data.dtype}"
            )
        labels = _labels(labels, len(data), folder / fname, "labels")
        xs.append(data.reshape(-1, 3, 32, 32))  # rows are CHW-flattened already
        ys.append(labels)
    names = list(CIFAR10_NAMES)
    meta = folder / "batches.meta"
    if meta.is_file():
        names = [n.decode() for n in _unpickle(meta).get(b"label_names", [])] or names
    x_train, y_train = np.concatenate(xs[:5]), np.concatenate(ys[:5])
    return x_train, y_train, xs[5], ys[5], names, ""


# --------------------------------------------------------------------------- digits


def _load_digits() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits  # noqa: PLC0415
    from sklearn.model_selection import train_test_split  # noqa: PLC0415

    digits = load_digits()
    x = digits.images.astype(np.uint8)[:, None]  # (1797, 1, 8, 8), values 0..16
    y = digits.target.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=0.2, random_state=0, stratify=y
    )
    return x_train, y_train, x_test, y_test


# --------------------------------------------------------------------------- normalisation


def _uint8_channel_stats(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Exact per-channel mean and (population) std of uint8 data ``(N, C, H, W)``."""
    values = np.arange(256, dtype=np.float64)
    means, stds = [], []
    for c in range(x.shape[1]):
        counts = np.bincount(x[:, c].ravel(), minlength=256).astype(np.float64)
        n = counts.sum()
        mean = float(counts @ values) / n
        var = float(counts @ (values - mean) ** 2) / n
        means.append(mean)
        stds.append(np.sqrt(var))
    return np.array(means), np.array(stds)


def _standardise(x: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """float32 ``(x - mean[c]) / std[c]`` for ``x`` of shape ``(N, C, ...)``."""
    out = x.astype(np.float32)
    view = out.reshape(len(out), len(mean), -1)
    view -= mean.astype(np.float32)[None, :, None]
    view *= (1.0 / std).astype(np.float32)[None, :, None]
    return out


def _float_channel_stats(x: np.ndarray, n_channels: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and std of float data ``(N, C*H*W)`` or ``(N, C, H, W)``."""
    view = x.reshape(len(x), n_channels, -1)
    total = np.zeros(n_channels)
    total_sq = np.zeros(n_channels)
    for start in range(0, len(view), 4096):
        block = view[start : start + 4096].astype(np.float64)
        total += block.sum(axis=(0, 2))
        total_sq += np.square(block).sum(axis=(0, 2))
    count = view.shape[0] * view.shape[2]
    mean = total / count
    std = np.sqrt(np.maximum(total_sq / count - mean**2, 0.0))
    return mean, np.where(std > 0, std, 1.0)


def _check_limit(limit: int | None, what: str) -> None:
    if limit is not None and (not isinstance(limit, (int, np.integer)) or limit < 0):
        raise ValueError(f"{what} must be None or a non-negative integer, got {limit!r}")


# --------------------------------------------------------------------------- public loader


def dataset_key(name: str) -> str:
    """The canonical name (one of :data:`DATASET_NAMES`) of a data set name or alias."""
    key = str(name).strip().lower()
    key = _ALIASES.get(key, key)
    if key not in DATASET_NAMES:
        aliases = ", ".join(sorted(_ALIASES))
        raise ValueError(
            f"unknown dataset {name!r}; valid names: {', '.join(DATASET_NAMES)} "
            f"(aliases: {aliases})"
        )
    return key


def load_dataset(
    name: str,
    data_dir: str | Path | None = None,
    *,
    flatten: bool = True,
    download: bool = False,
    limit_train: int | None = None,
    limit_test: int | None = None,
) -> Dataset:
    """Load and normalise a dataset (see the module docstring for names and file layouts).

    Returns float32 images standardised with the full training split's statistics
    (computed before ``limit_train`` is applied, so a limited run sees the same values as a
    full one), shaped ``(N, C*H*W)`` if ``flatten`` else ``(N, C, H, W)``, and int64 labels.
    ``limit_train``/``limit_test`` keep only the first N samples of each split.
    Raises ``ValueError`` for an unknown name or corrupt files and ``FileNotFoundError`` (with
    the expected paths) for missing files unless ``download=True`` (needs torchvision).
    """
    key = dataset_key(name)
    _check_limit(limit_train, "limit_train")
    _check_limit(limit_test, "limit_test")

    notes = ""
    if key == "digits":
        x_train, y_train, x_test, y_test = _load_digits()
        scale, class_names = 16.0, list(DIGIT_NAMES)
    else:
        root, source = resolve_data_dir(data_dir)
        if root.exists() and not root.is_dir():
            raise ValueError(f"data folder {root} (from {source}) is a file, not a folder; "
                             f"pass --data-dir DIR or set {DATA_ENV}=DIR to a folder")
        scale = 255.0
        if key == "cifar10":
            x_train, y_train, x_test, y_test, class_names, notes = _load_cifar10(
                root, source, download
            )
        else:
            x_train, y_train, x_test, y_test = _load_idx_dataset(key, root, source, download)
            class_names = list(DIGIT_NAMES if key == "mnist" else FASHION_MNIST_NAMES)

    n_classes = len(class_names)
    for split, labels in (("train", y_train), ("test", y_test)):
        if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
            raise ValueError(
                f"{key} {split} labels span [{labels.min()}, {labels.max()}], outside "
                f"[0, {n_classes}); the label file is corrupt"
            )
    if len(x_train) != len(y_train) or len(x_test) != len(y_test):
        raise ValueError(f"{key}: image and label counts differ")

    mean_raw, std_raw = _uint8_channel_stats(x_train)
    std_raw = np.where(std_raw > 0, std_raw, 1.0)
    x_train, y_train = x_train[:limit_train], y_train[:limit_train]
    x_test, y_test = x_test[:limit_test], y_test[:limit_test]
    x_train = _standardise(x_train, mean_raw, std_raw)
    x_test = _standardise(x_test, mean_raw, std_raw)
    image_shape = tuple(int(s) for s in x_train.shape[1:])
    if flatten:
        x_train = x_train.reshape(len(x_train), -1)
        x_test = x_test.reshape(len(x_test), -1)
    return Dataset(
        name=key,
        x_train=x_train,
        y_train=np.ascontiguousarray(y_train, dtype=np.int64),
        x_test=x_test,
        y_test=np.ascontiguousarray(y_test, dtype=np.int64),
        image_shape=image_shape,
        n_classes=n_classes,
        class_names=class_names,
        notes=notes,
        mean=mean_raw / scale,
        std=std_raw / scale,
    )


def held_out_split(ds: Dataset, n: int, seed: int = 0) -> Dataset:
    """Move ``n`` random training samples (``seed``) into a new test split.

    The original test split is dropped. Both splits keep their original order. The data are
    re-standardised with the statistics of the remaining training samples, so nothing about
    the held-out samples leaks into the preprocessing; ``mean``/``std`` are updated to match.
    Used for CIFAR-10, whose stored test split has only 1000 images. Name: ``<name>-heldout``.
    """
    n_total = len(ds.y_train)
    test_idx, train_idx = held_out_indices(n_total, n, seed)
    x_train, x_test = ds.x_train[train_idx], ds.x_train[test_idx]
    n_channels = ds.image_shape[0]
    mean_z, std_z = _float_channel_stats(x_train, n_channels)
    for x in (x_train, x_test):
        view = x.reshape(len(x), n_channels, -1)
        view -= mean_z.astype(x.dtype)[None, :, None]
        view *= (1.0 / std_z).astype(x.dtype)[None, :, None]
    mean = std = None
    if ds.mean is not None and ds.std is not None:
        mean = np.asarray(ds.mean) + np.asarray(ds.std) * mean_z
        std = np.asarray(ds.std) * std_z
    notes = (
        f"test split = {n} samples held out from the {n_total} training samples of "
        f"{ds.name} (seed={seed}); the original test split is not used."
    )
    return replace(
        ds,
        name=f"{ds.name}-heldout",
        x_train=x_train,
        y_train=ds.y_train[train_idx],
        x_test=x_test,
        y_test=ds.y_train[test_idx],
        notes=notes,
        mean=mean,
        std=std,
    )


def held_out_indices(n_total: int, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``(held-out, remaining)`` training indices of :func:`held_out_split`, each sorted."""
    if not isinstance(n, (int, np.integer)) or not 0 < n < n_total:
        raise ValueError(f"n must be an integer in [1, {n_total - 1}], got {n!r}")
    perm = np.random.default_rng(seed).permutation(n_total)
    return np.sort(perm[:n]), np.sort(perm[n:])


# --------------------------------------------------------------------------- validation


def _to_numpy(a: Any) -> np.ndarray:
    """NumPy view of an array-like; torch tensors are detached and moved to the CPU."""
    if hasattr(a, "detach") and hasattr(a, "cpu"):
        a = a.detach().cpu()
    return np.asarray(a)


def validate_batch(x: Any, y: Any | None, n_features: int, n_classes: int) -> None:
    """Check a batch ``x`` of shape ``(batch, n_features)`` and optional labels ``y``.

    Raises ``ValueError`` naming the problem: wrong rank or feature count, non-numeric or
    non-finite (NaN/inf) inputs, non-integer labels, labels outside ``[0, n_classes)``, or
    mismatched lengths. Accepts NumPy arrays or torch tensors.
    """
    x = _to_numpy(x)
    if x.ndim != 2:
        raise ValueError(
            f"x must be 2-D (batch, features) with {n_features} features, got shape "
            f"{x.shape}; flatten the images first, e.g. x.reshape(len(x), -1) or "
            "load_dataset(..., flatten=True)"
        )
    if x.shape[1] != n_features:
        raise ValueError(
            f"x has the wrong number of features: expected {n_features}, got {x.shape[1]} "
            f"(shape {x.shape}); check the dataset/network sizes and flatten images to C*H*W"
        )
    if x.dtype.kind not in "biuf":
        raise ValueError(f"x must hold real numbers, got dtype {x.dtype}")
    if x.dtype.kind == "f":
        bad = ~np.isfinite(x)
        n_bad = int(bad.sum())
        if n_bad:
            n_nan = int(np.isnan(x).sum())
            row, col = (int(i) for i in np.argwhere(bad)[0])
            raise ValueError(
                f"x contains {n_bad} non-finite values ({n_nan} NaN, {n_bad - n_nan} inf); "
                f"first at sample {row}, feature {col} (value {x[row, col]}); clean or "
                "re-normalise the data (e.g. a zero std in the normalisation)"
            )
    if y is None:
        return
    y = _to_numpy(y)
    if y.ndim != 1:
        raise ValueError(
            f"labels y must be 1-D class indices, got shape {y.shape}; "
            "for one-hot labels use y.argmax(axis=1)"
        )
    if y.dtype.kind not in "iu":
        raise ValueError(
            f"labels y must be integer class indices, got dtype {y.dtype}; "
            "convert with y.astype(np.int64)"
        )
    if len(y) != len(x):
        raise ValueError(f"x and y lengths differ: {len(x)} samples but {len(y)} labels")
    if y.size:
        bad = (y < 0) | (y >= n_classes)
        n_bad = int(bad.sum())
        if n_bad:
            first = int(np.argmax(bad))
            raise ValueError(
                f"labels out of range [0, {n_classes}): {n_bad} labels, first at index "
                f"{first} (value {y[first]}); labels span [{y.min()}, {y.max()}]"
            )
