"""What the commands share: the training options, data loading and the held-out split."""

from __future__ import annotations

import argparse
import hashlib
import sys
from dataclasses import replace
from typing import Any

from lava_diffpc.commands.options import OPTION_TYPES, RULES, describe
from lava_diffpc.data import (
    DATA_ENV,
    Dataset,
    held_out_indices,
    held_out_split,
    load_dataset,
    validate_batch,
)
from lava_diffpc.engine.step import ENGINE_CHOICES
from lava_diffpc.presets import NetArch, preset

__all__ = ["OPTION_TYPES", "RULES", "HELDOUT_SEED", "TRAIN_FIELDS", "add_common",
           "resolve_options", "load_data", "split_heldout", "heldout_record", "check_arch",
           "show_progress"]

HELDOUT_SEED = 0  # the held-out slice is part of the data set, the same for every --seed
TRAIN_FIELDS = ("epochs", "batch_size", "optimizer", "lr", "weight_decay", "clip",
                "max_gain", "bound_twin", "lr_schedule", "seed")


def add_common(p: argparse.ArgumentParser, limit_test_default: str = "all") -> None:
    p.add_argument("--data-dir", default=None, metavar="DIR",
                   help="folder with MNIST/, FashionMNIST/, cifar10/ (digits needs none); "
                        f"default: ${DATA_ENV}, else ./data")
    p.add_argument("--download", action="store_true",
                   help="fetch a missing data set with torchvision (needs internet); "
                        "default: off")
    p.add_argument("--device", default="cpu",
                   help="torch device of the float models: cpu, cuda or cuda:N; default: cpu")
    p.add_argument("--limit-test", type=int, default=None, metavar="N",
                   help=describe("limit_test", "use only the first N test samples",
                                 limit_test_default))
    p.add_argument("--no-progress", action="store_true",
                   help="no progress bars (they show only when stdout is a terminal); "
                        "default: off")
    p.add_argument("--threads", type=int, default=None, metavar="N",
                   help=describe("threads", "CPU threads for torch (use 1 on a busy machine)",
                                 "torch's choice"))
    p.add_argument("--engine", default="auto", choices=ENGINE_CHOICES,
                   help="how DiffPC's network step runs: fast (event-driven, still layers "
                        "skipped), compiled (the same with torch.compile'd kernels; tens of "
                        "seconds to compile once per process), plain (every layer every step); "
                        "auto picks compiled for large batches x layers in runs of at least "
                        "100 batches; all give the same results; default: auto")


def show_progress(args: argparse.Namespace) -> bool:
    """Progress bars only on a terminal: redirected output gets the plain per-epoch lines
    (no carriage-return frames in a log file)."""
    return not getattr(args, "no_progress", False) and sys.stdout.isatty()


def resolve_options(args: argparse.Namespace) -> dict[str, Any]:
    """Preset values overlaid with every option given on the command line."""
    opts = preset(args.preset)
    for name in OPTION_TYPES:
        value = getattr(args, name)
        if value is not None:
            opts[name] = value
    if args.input_gate:
        opts["input_gate"] = True
    if getattr(args, "augment", None) is not None:
        opts["augment"] = args.augment
    if getattr(args, "bound_twin", None):
        opts["bound_twin"] = True
    opts["seed"] = args.seed
    return opts


def load_data(name: str, args: argparse.Namespace, flatten: bool = True) -> Dataset:
    """The data set, flattened to (N, C*H*W) for an MLP or (N, C, H, W) for a conv net."""
    ds = load_dataset(name, args.data_dir, flatten=flatten, download=args.download,
                      limit_train=getattr(args, "limit_train", None), limit_test=args.limit_test)
    for x, y in ((ds.x_train, ds.y_train), (ds.x_test, ds.y_test)):
        validate_batch(x.reshape(len(x), -1), y, ds.n_features, ds.n_classes)
    return ds


def split_heldout(ds: Dataset, n: int) -> tuple[Dataset, Dataset | None]:
    """``(train + official test, held-out)`` with ``n`` training samples held out.

    :func:`~lava_diffpc.data.held_out_split` moves ``n`` random training samples
    (seed :data:`HELDOUT_SEED`) into a held-out split and re-standardises with the rest's
    statistics; the official test split gets the same standardisation,
    ``x' = (x - mean_z) / std_z`` per channel with ``mean_z = (mean' - mean) / std`` and
    ``std_z = std' / std``. ``n = 0``: ``(ds, None)``.
    """
    if n <= 0:
        return ds, None
    if n >= len(ds.y_train):
        raise ValueError(f"--heldout {n} leaves no training samples: {ds.name} has "
                         f"{len(ds.y_train)} (after --limit-train); hold out fewer")
    held = held_out_split(ds, n, seed=HELDOUT_SEED)
    mean_z = (held.mean - ds.mean) / ds.std
    std_z = held.std / ds.std
    x_test = ds.x_test.reshape(len(ds.x_test), len(mean_z), -1)
    x_test = ((x_test - mean_z[None, :, None]) / std_z[None, :, None]).astype(ds.x_test.dtype)
    notes = (f"{held.notes} Accuracies: test_acc on the {len(ds.x_test)} samples of {ds.name}'s "
             f"test split, heldout_acc on the {n} held-out training samples; both "
             "standardised with the statistics of the remaining training samples. "
             f"{ds.notes}").strip()
    main = replace(held, name=ds.name, x_test=x_test.reshape(ds.x_test.shape),
                   y_test=ds.y_test, notes=notes)
    return main, held


def heldout_record(n_train: int, n: int) -> dict[str, Any] | None:
    """What identifies a held-out split: its size, seed, the number of training samples it
    was drawn from and a digest of the held-out indices (None when nothing is held out).
    ``evaluate`` recomputes it to check it reports on exactly the run's held-out samples."""
    if n <= 0:
        return None
    idx, _ = held_out_indices(n_train, n, HELDOUT_SEED)
    digest = hashlib.sha256(idx.astype("<i8").tobytes()).hexdigest()
    return {"n": n, "seed": HELDOUT_SEED, "from_train_samples": n_train, "sha256": digest}


def check_arch(arch: NetArch, ds: Dataset) -> None:
    sizes = arch.sizes
    if sizes[0] != ds.n_features or sizes[-1] != ds.n_classes:
        raise ValueError(f"--arch {'-'.join(map(str, sizes))} does not fit {ds.name}: "
                         f"it needs {ds.n_features} inputs and {ds.n_classes} outputs")
    if arch.convs and arch.input_shape != ds.image_shape:
        raise ValueError(f"--arch input {'x'.join(map(str, arch.input_shape))} does not "
                         f"fit {ds.name}'s {'x'.join(map(str, ds.image_shape))} images")


