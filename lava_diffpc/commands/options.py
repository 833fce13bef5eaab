"""Every option's meaning, unit and allowed range, and the one check that enforces them.

:data:`OPTION_TYPES` lists the training options (``train`` flags that override a preset,
and ``align --variant`` keys); :data:`RANGES` gives the closed or open interval of every
numeric option of every command (training options and command options alike);
:data:`CHOICES` the allowed words of the word options. :func:`check_namespace` checks a
parsed command line, :func:`check_options` a resolved option dict (preset plus overrides);
both raise a one-line ``ValueError`` that names the option, the value and the range.
:func:`describe` writes an option's ``--help`` text from the same tables, so the help and
the check cannot disagree.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass
from typing import Any

from lava_diffpc.augment import ELASTIC_SIGMA, PADS
from lava_diffpc.config import PRESYN_FACTORS
from lava_diffpc.presets import COMMON, PRESETS
from lava_diffpc.reference.backprop import BP_LOSSES
from lava_diffpc.rules.schedule import GAMMA_MODES, MAX_STEPS, SCHEDULE_KINDS
from lava_diffpc.train import LR_SCHEDULES, OPTIMIZERS

RULES = ("local", "onchip")

OPTION_TYPES: dict[str, Any] = {
    "dataset": str, "arch": str, "m": int, "n": int, "c1": int, "c2": int, "schedule": str,
    "a": float, "gamma": float, "gamma_mode": str, "presyn": str, "target_scale": float,
    "dropout": float, "optimizer": str, "lr": float, "weight_decay": float, "clip": float,
    "max_gain": float,
    "lr_schedule": str, "batch_size": int, "epochs": int, "bp_loss": str, "heldout": int,
    "rule": str, "lr_shift": int, "err_shift": int, "headroom": int, "lr_shift_decay": int,
    "shift": int, "rotate": float, "elastic": float, "elastic_sigma": float,
}

CHOICES: dict[str, tuple[str, ...]] = {
    "schedule": SCHEDULE_KINDS, "gamma_mode": GAMMA_MODES, "presyn": PRESYN_FACTORS,
    "optimizer": OPTIMIZERS, "lr_schedule": LR_SCHEDULES, "bp_loss": BP_LOSSES, "rule": RULES,
}


@dataclass(frozen=True)
class Range:
    """The values a numeric option takes: ``lo .. hi``, each end closed unless ``*_open``."""

    lo: float
    hi: float
    lo_open: bool = False
    hi_open: bool = False

    def __contains__(self, value: float) -> bool:
        above = value > self.lo if self.lo_open else value >= self.lo
        below = value < self.hi if self.hi_open else value <= self.hi
        return above and below

    def __str__(self) -> str:
        return (f"{'(' if self.lo_open else '['}{_num(self.lo)}, {_num(self.hi)}"
                f"{')' if self.hi_open else ']'}")


def _num(v: float) -> str:
    return str(int(v)) if float(v).is_integer() and abs(v) < 1e15 else f"{v:g}"


BIG = 10**9
RANGES: dict[str, Range] = {
    # the network and its schedule
    "m": Range(-24, 24), "n": Range(1, 24), "c1": Range(1, 1000), "c2": Range(1, 1000),
    "a": Range(0, 1, lo_open=True), "gamma": Range(0, 1, lo_open=True),
    "target_scale": Range(0, 2048, lo_open=True), "dropout": Range(0, 1, hi_open=True),
    # the optimiser and the loop
    "lr": Range(0, 10, lo_open=True), "weight_decay": Range(0, 10), "clip": Range(0, 1e6),
    "max_gain": Range(0, 1e6),
    "batch_size": Range(1, 1_000_000), "epochs": Range(1, 1_000_000), "heldout": Range(0, BIG),
    "seed": Range(0, 2**32 - 1), "checkpoint_every": Range(1, BIG),
    "max_minutes": Range(0, 1e7, lo_open=True),
    # the on-chip rule
    "lr_shift": Range(0, 24), "err_shift": Range(0, 23), "headroom": Range(0, 7),
    "lr_shift_decay": Range(0, 1_000_000),
    # data and machine
    "shift": Range(0, 1024), "rotate": Range(0, 180), "elastic": Range(0, 1024),
    "elastic_sigma": Range(0, 1024, lo_open=True),
    "limit_train": Range(1, BIG), "limit_test": Range(1, BIG), "threads": Range(1, 4096),
    # other commands
    "warmup_batches": Range(0, 1_000_000), "warm_batches": Range(0, 1_000_000),
    "rounds": Range(1, 1_000_000), "samples": Range(1, BIG), "lava_samples": Range(1, BIG),
    "netx_headroom": Range(0, 8),
}

# What each training option means, in words, with its unit (the help text's first part).
MEANING: dict[str, str] = {
    "dataset": "data set: digits (scikit-learn's 8x8 digits, no download), mnist, "
               "fashion-mnist or cifar10",
    "arch": "layers, input first: fully connected widths like 784-400-10, or an input CxHxW, "
            "convolutions c<channels>k<kernel>[s<stride>][p<padding>] and widths like "
            "3x32x32-c32k5s2-c64k5s2-512-128-10; the first size must match the data, the "
            "last its classes",
    "m": "threshold exponent (integer): the largest threshold of a cycle is 2**m activation "
         "units; a cycle's thresholds are 2**m, 2**(m-1), ..., 2**(m-n+1)",
    "n": "time steps per cycle: the threshold halves n-1 times per cycle",
    "c1": "cycles of the feed-forward phase (input clamped, output free): c1*n time steps",
    "c2": "cycles of the learning phase (output clamped to the target, error spikes on): "
          f"c2*n time steps; (c1+c2)*n is at most {MAX_STEPS} steps per sample",
    "schedule": "threshold schedule: cyclic (2**m halving every step of a cycle), "
                "cyclic-decay (the same, scaled by a factor falling from 1 to --a over each "
                "phase) or constant (2**m at every step)",
    "a": "cyclic-decay only: the decay factor at a phase's last cycle (1: no decay)",
    "gamma": "target-update rate of the learning phase (fraction of the error a state moves "
             "by; fixed-point backends need a power of 2)",
    "gamma_mode": "when gamma acts in the learning phase: cycle-start (first step of each "
                  "cycle, 0 at the others) or every-step",
    "presyn": "presynaptic factor of the local learning rule: x_T (the target state) or x_A "
              "(the announced state, the one a synapse sees on chip)",
    "target_scale": "height of the clamped output target: target_scale * one_hot(label), in "
                    "activation units",
    "dropout": "dropout rate of the hidden fully connected layers while training (0: none)",
    "optimizer": "optimizer of the local rule's and backprop's gradients: sgd or adamw",
    "lr": "learning rate of the optimizer (the peak rate under --lr-schedule cosine)",
    "weight_decay": "weight decay: decoupled for adamw, L2 for sgd (0: none)",
    "clip": "largest global gradient norm before a step (0: no clipping)",
    "max_gain": "DiffPC only: after every step scale W_2..W_L down so that the learning "
                "phase's relaxation gain gamma*(1+sigma(W)^2) stays at or below this bound "
                "(below 2 the learning phase settles; nearer gamma, the settled errors "
                "stay closer to backprop's; see align); must exceed --gamma; 0: no bound",
    "lr_schedule": "learning-rate schedule: constant, or cosine (from --lr down to 0 over "
                   "all batches of all epochs)",
    "batch_size": "samples per optimizer step (the global batch under torchrun; --rule "
                  "onchip: samples per progress and checkpoint chunk)",
    "epochs": "passes over the training samples (may change on --resume)",
    "bp_loss": "loss of the backprop baseline: mse (0.5 ||target - y||^2, DiffPC's energy) "
               "or ce (softmax cross-entropy)",
    "heldout": "hold out N random training samples (seed 0), train on the rest and report "
               "accuracy on them (heldout_acc) as well as on the test split (test_acc); "
               "0: off",
    "rule": "how DiffPC learns: local (the float reference's local gradients with the "
            "optimizer, on batches) or onchip (the integer on-chip rule in the fast "
            "fixed-point simulator: per-sample updates, 8-bit weights, bit-exact with the "
            "Lava fixed_pt graph; presyn x_A, no dropout)",
    "lr_shift": "on-chip rule: learning rate 2**-lr_shift",
    "err_shift": "on-chip rule: the 8-bit error factor is e_T in units of "
                 "2**(err_shift - 12)",
    "headroom": "on-chip rule: bits the initial weights leave free to grow before the "
                "8-bit mantissas saturate",
    "shift": "with --augment: the largest random shift of a training image, in pixels",
    "rotate": "with --augment: the largest random rotation of a training image about its "
              "centre, in degrees (bilinear; 0: none)",
    "elastic": "with --augment: the strength of a random elastic distortion of a training "
               "image, in pixels (a smoothed uniform displacement field times this; Simard "
               "et al. used 34 on MNIST; 0: none)",
    "elastic_sigma": "with --elastic: the smoothing of the displacement field, the Gaussian's "
                     "standard deviation in pixels",
    "lr_shift_decay": "on-chip rule: epochs after which the learning rate halves (lr_shift "
                      "grows by 1, a shift as the learning engine needs); 0: constant",
}


def flag(name: str) -> str:
    """``batch_size`` -> ``--batch-size``."""
    return "--" + name.replace("_", "-")


# options no preset sets (None in COMMON): what a run takes for them
UNSET_DEFAULTS = {
    "shift": f"the data set's own ({', '.join(f'{k}: {v}' for k, v in PADS.items())})",
    "elastic_sigma": f"{ELASTIC_SIGMA:g} pixels, Simard et al.'s",
}


def preset_default(name: str) -> str:
    """The default of a training option: COMMON's, and the presets that set their own."""
    if name in UNSET_DEFAULTS:
        return f"default: {UNSET_DEFAULTS[name]}"
    own = [f"{p}: {v[name]}" for p, v in PRESETS.items() if name in v]
    base = f"default: the preset's value, {COMMON[name]}" if name in COMMON else \
        "default: the preset's value"
    return base + (f" ({', '.join(own)})" if own else "")


def describe(name: str, text: str | None = None, default: Any = argparse.SUPPRESS) -> str:
    """Help text: what the option means (``text`` or :data:`MEANING`), its choices or
    range, and its default (``default``; training options: the presets')."""
    parts = [text or MEANING[name]]
    if name in CHOICES:
        parts.append(f"one of {', '.join(CHOICES[name])}")
    if name in RANGES:
        parts.append(f"range {RANGES[name]}")
    if default is not argparse.SUPPRESS:
        parts.append(f"default: {default}")
    elif name in OPTION_TYPES:
        parts.append(preset_default(name))
    return "; ".join(parts).replace("%", "%%")


def check_value(name: str, value: Any, label: str | None = None) -> None:
    """Raise a one-line ValueError unless ``value`` is allowed for option ``name``."""
    if value is None:
        return
    label = label or flag(name)
    if name in CHOICES and value not in CHOICES[name]:
        raise ValueError(f"{label} takes {CHOICES[name]}, got {value!r}")
    bounds = RANGES.get(name)
    if bounds is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{label} must be a number in {bounds}, got {value!r}")
    if OPTION_TYPES.get(name) is int and not float(value).is_integer():
        raise ValueError(f"{label} must be an integer in {bounds}, got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{label} {value} is not a finite number; pass a value in {bounds}")
    if value not in bounds:
        raise ValueError(f"{label} {value} is out of range; it must lie in {bounds} "
                         "(see --help)")


def check_options(opts: dict[str, Any], label: str = "") -> None:
    """Check every training option of a resolved option dict (``label`` prefixes the
    option names in the message, e.g. an ``align`` variant)."""
    for name in (*OPTION_TYPES, "seed"):
        if name in opts:
            check_value(name, opts[name], f"{label}{flag(name)}")


def check_namespace(args: argparse.Namespace) -> None:
    """Check every numeric or word option a parsed command line gives."""
    for name, value in vars(args).items():
        if name in RANGES or name in CHOICES:
            check_value(name, value)


class UsageError(ValueError):
    """A command line argparse cannot parse (exit code 2, one line)."""


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (``error: ...``) instead of a usage
    block, raised as :class:`UsageError` for the command line to report."""

    def error(self, message: str):  # noqa: D401 - argparse's hook
        raise UsageError(f"{message} (see '{self.prog} --help')")
