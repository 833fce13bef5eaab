"""Named configurations: the paper's networks and the embedded digits default.

A preset is a flat dict of command-line defaults; any ``train`` option overrides it.
Timesteps per sample are ``(c1 + c2) * n``: DiffPC-L and DiffPC-M use 120 (n = 4,
c1 = c2 = 15), DiffPC-S 75 (n = 5, c1 = 8, c2 = 7; the paper gives only the total).
"""

from __future__ import annotations

from typing import Any

COMMON: dict[str, Any] = {
    "m": 0, "n": 4, "c1": 15, "c2": 15, "schedule": "cyclic", "a": 0.5,
    "gamma": 0.5, "gamma_mode": "cycle-start", "input_gate": False, "presyn": "x_T",
    "target_scale": 1.0, "dropout": 0.0, "optimizer": "adamw", "lr": 5e-4,
    "weight_decay": 1e-4, "clip": 0.0, "lr_schedule": "cosine", "batch_size": 256,
    "epochs": 10, "bp_loss": "mse",
}

PRESETS: dict[str, dict[str, Any]] = {
    "digits": {
        "dataset": "digits", "arch": "64-128-10", "batch_size": 32, "lr": 2e-3,
        "epochs": 20, "description": "embedded default: scikit-learn digits, no download",
    },
    "mnist-l": {
        "dataset": "mnist", "arch": "784-1024-512-10", "dropout": 0.2, "epochs": 30,
        "description": "DiffPC-L: MNIST, 784-1024-512-10, 120 steps (paper: 99.3%)",
    },
    "mnist-s": {
        "dataset": "mnist", "arch": "784-400-10", "n": 5, "c1": 8, "c2": 7,
        "dropout": 0.1, "epochs": 30,
        "description": "DiffPC-S: MNIST, 784-400-10, 75 steps (paper: 98.3%)",
    },
    "fmnist-m": {
        "dataset": "fashion-mnist", "arch": "784-1000-10", "dropout": 0.1, "epochs": 30,
        "description": "DiffPC-M: Fashion-MNIST, 784-1000-10, 120 steps (paper: 89.6%)",
    },
}


def preset(name: str) -> dict[str, Any]:
    """The full option dict of a preset (COMMON overlaid with its own values)."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}")
    return {**COMMON, **PRESETS[name], "preset": name}


def parse_arch(arch: str) -> tuple[int, ...]:
    """``"784-400-10"`` -> ``(784, 400, 10)`` with a clear error on anything else."""
    try:
        sizes = tuple(int(p) for p in arch.split("-"))
    except ValueError:
        raise ValueError(f"--arch must look like 784-400-10, got {arch!r}") from None
    if len(sizes) < 2 or min(sizes) < 1:
        raise ValueError(f"--arch needs at least two positive layer sizes, got {arch!r}")
    return sizes
