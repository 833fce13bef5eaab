"""What the commands share: the training options, data loading and the held-out split."""

from __future__ import annotations

import argparse
from dataclasses import replace
from typing import Any

from lava_diffpc.data import DATA_ENV, Dataset, held_out_split, load_dataset, validate_batch
from lava_diffpc.engine.step import ENGINE_CHOICES
from lava_diffpc.presets import NetArch, preset

OPTION_TYPES: dict[str, Any] = {
    "dataset": str, "arch": str, "m": int, "n": int, "c1": int, "c2": int, "schedule": str,
    "a": float, "gamma": float, "gamma_mode": str, "presyn": str, "target_scale": float,
    "dropout": float, "optimizer": str, "lr": float, "weight_decay": float, "clip": float,
    "lr_schedule": str, "batch_size": int, "epochs": int, "bp_loss": str, "heldout": int,
    "rule": str, "lr_shift": int, "err_shift": int, "headroom": int, "lr_shift_decay": int,
}
OPTION_HELP = {
    "rule": "how DiffPC learns: 'local' (the float reference's local gradients with the "
            "optimizer, on batches) or 'onchip' (the integer on-chip rule in the fast "
            "fixed-point simulator: per-sample updates, 8-bit weights, bit-exact with the Lava "
            "fixed_pt graph; presyn x_A, no dropout; --batch-size then only sets the progress "
            "and checkpoint chunk) (default local)",
    "lr_shift": "on-chip rule: learning rate 2**-lr_shift (default 7)",
    "err_shift": "on-chip rule: the 8-bit error factor is e_T in units of 2**(err_shift - 12) "
                 "(default 5)",
    "headroom": "on-chip rule: bits the initial weights leave free to grow before the 8-bit "
                "mantissas saturate (default 2)",
    "lr_shift_decay": "on-chip rule: halve the learning rate (lr_shift + 1) every N epochs; "
                      "0: constant (default 0)",
    "heldout": "hold out N random training samples (seed 0), train on the rest and report "
               "accuracy on them (heldout_acc) as well as on the test split (test_acc); "
               "0: off (CIFAR presets: 5000)",
}
RULES = ("local", "onchip")
HELDOUT_SEED = 0  # the held-out slice is part of the data set, the same for every --seed
TRAIN_FIELDS = ("epochs", "batch_size", "optimizer", "lr", "weight_decay", "clip",
                "lr_schedule", "seed")


def add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", default=None,
                   help="folder with MNIST/, FashionMNIST/, cifar10/ "
                        f"(default: ${DATA_ENV} or ./data)")
    p.add_argument("--download", action="store_true",
                   help="fetch a missing data set with torchvision (needs internet)")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--limit-test", type=int, default=None, help="use the first N test samples")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--threads", type=int, default=None,
                   help="CPU threads for torch (default: torch's choice; use 1 on a busy machine)")
    p.add_argument("--engine", default="auto", choices=ENGINE_CHOICES,
                   help="how DiffPC's network step runs: fast (event-driven, still layers "
                        "skipped), compiled (the same with torch.compile'd kernels; tens of "
                        "seconds to compile once per process), plain (every layer every step); "
                        "auto picks compiled for large batches x layers (default: auto). "
                        "All give the same results.")


def resolve_options(args: argparse.Namespace) -> dict[str, Any]:
    """Preset values overlaid with every option given on the command line."""
    opts = preset(args.preset)
    for name in OPTION_TYPES:
        value = getattr(args, name)
        if value is not None:
            opts[name] = value
    if args.input_gate:
        opts["input_gate"] = True
    if args.augment is not None:
        opts["augment"] = args.augment
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


def check_arch(arch: NetArch, ds: Dataset) -> None:
    sizes = arch.sizes
    if sizes[0] != ds.n_features or sizes[-1] != ds.n_classes:
        raise SystemExit(f"error: --arch {'-'.join(map(str, sizes))} does not fit {ds.name}: "
                         f"it needs {ds.n_features} inputs and {ds.n_classes} outputs")
    if arch.convs and arch.input_shape != ds.image_shape:
        raise SystemExit(f"error: --arch input {'x'.join(map(str, arch.input_shape))} does not "
                         f"fit {ds.name}'s {'x'.join(map(str, ds.image_shape))} images")


