"""Where the on-chip rule loses accuracy to float per-sample SGD: DiffPC-S on the first N
MNIST training images, one epoch, with one part of the update replaced at a time.

Setting: the on-chip trainer's (:class:`lava_diffpc.onchip.OnChipTrainer`): the preset's
network with presyn ``x_A`` and no dropout, ``OnChipRule()`` (learning rate ``2**-7``, error
shift 5, no weight headroom, rule seed 0), the float initialisation of seed 0, training order
``default_rng([0, 0]).permutation``, per-sample updates in the fast fixed-point simulator,
test accuracy on the whole MNIST test split. The float reference with the same per-sample
SGD is in ``cpu-onchip-mnist-s-10k-study.json``.

Variants (``--variants``; every one but ``engine`` changes the rule on purpose, and only
``hidden-err-shift-2``, ``output-headroom-1`` and ``nonneg-input`` stay expressible in Lava's
learning engine):

* ``engine``: :func:`~lava_diffpc.rules.fixed_learning.weight_update` as installed (Lava's
  engine bit for bit: one random number per sample shared by every synapse of a matrix);
* ``per-synapse``, ``per-synapse-layer1``, ``per-synapse-layer2``: stochastic rounding with
  one random number per synapse (in every matrix, or in one), not the engine's shared one;
* ``exact``: no rounding at all: a float copy of each matrix accumulates ``y x 2**-R``
  exactly and the mantissas are its nearest integers (the bound for any rounding scheme);
  ``exact-wide`` the same without the +-127 range, so a weight grows past its initial
  exponent's reach (what neither rounding nor headroom can give: the 8-bit range is the
  only difference from ``exact``). Its ``saturated`` counts, per sample, the synapses
  outside +-127 (the updates a clip would have cut), as for the other variants;
  ``exact-factors`` like ``exact`` with the update's factors unquantised: ``x_A`` and
  ``e_T`` as the fixed-point states hold them, not rounded to the 7-bit trace and the
  8-bit error factor nor clipped to their ranges (what is left is the fixed-point network
  itself: its states, spikes and 8-bit weights);
* ``hidden-err-shift-2``: hidden layers send their error factor in units of ``2**(2 - F)``
  (8x finer than the output layer's ``2**(5 - F)``), ``hidden-err-shift-2-per-synapse`` the
  same with per-synapse rounding;
* ``output-headroom-1``: one bit of weight headroom for the output layer only;
* ``nonneg-input``: every input shifted by the same constant so that the blank pixel is 0
  (non-negative inputs: no update reaches the synapses of blank pixels).

Command (two processes share the variants on a 2-core machine)::

    PYTHONPATH=. python benchmarks/onchip_mnist_diagnosis.py --data-dir DATA --variants engine exact
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from lava_diffpc.bench import code_commit
from lava_diffpc.data import load_dataset
from lava_diffpc.engine.step import choose_engine
from lava_diffpc.fixed_point import quantize_for_learning, quantize_input, quantize_params
from lava_diffpc.fixedsim import FixedPointNetwork
from lava_diffpc.onchip import onchip_opts
from lava_diffpc.presets import preset
from lava_diffpc.reference.network import init_parameters
from lava_diffpc.rules import fixed_learning as fl
from lava_diffpc.train import network_config

DEFAULT_OUT = Path(__file__).resolve().parents[1] / "docs" / "results" / \
    "cpu-onchip-mnist-s-10k-diagnosis.json"
VARIANTS: dict[str, tuple[str, bool]] = {  # name: (what changes, expressible in the engine)
    "engine": ("none: Lava's learning engine bit for bit", True),
    "per-synapse": ("one random number per synapse for the rounding", False),
    "per-synapse-layer1": ("one random number per synapse, first matrix only", False),
    "per-synapse-layer2": ("one random number per synapse, output matrix only", False),
    "exact": ("no rounding: exact accumulation, nearest mantissa", False),
    "exact-wide": ("no rounding and no weight range: exact accumulation, nearest integer "
                   "mantissa of any size", False),
    "exact-factors": ("no rounding and unquantised factors: exact accumulation of "
                      "e_T x_A as the states hold them", False),
    "hidden-err-shift-2": ("hidden error factor 8x finer (error shift 2)", True),
    "hidden-err-shift-2-per-synapse": ("hidden error shift 2 and per-synapse rounding", False),
    "output-headroom-1": ("one bit of weight headroom, output matrix only", True),
    "nonneg-input": ("inputs shifted so that a blank pixel is 0", True),
}


def per_synapse_update(w: np.ndarray, x: np.ndarray, y: np.ndarray, big_r: int,
                       rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """``W + y x^T 2**-R`` stochastically rounded with one number per synapse, clipped."""
    exact = w + np.outer(y, x) * 2.0**-big_r
    low = np.floor(exact)
    new = low + (rng.random(w.shape) < exact - low)
    return np.clip(new, -fl.WEIGHT_MAX, fl.WEIGHT_MAX).astype(np.int64), \
        int(np.count_nonzero(np.abs(new) > fl.WEIGHT_MAX))


def run(variant: str, data_dir: str, limit: int) -> dict:
    """One epoch of the variant; returns its test accuracy and saturation counts."""
    opts = onchip_opts({**preset("mnist-s"), "seed": 0})
    cfg = network_config(opts)
    rule = fl.OnChipRule()
    ds = load_dataset("mnist", data_dir, limit_train=limit)
    x_train, x_test = ds.x_train, ds.x_test
    if variant == "nonneg-input":
        blank = float(x_train.min())
        x_train, x_test = x_train - blank, x_test - blank
    init = init_parameters(cfg.sizes, 0, torch.float64)
    last = len(init) - 1
    q = quantize_for_learning(init, rule.headroom)
    if variant == "output-headroom-1":  # one bit more for the output matrix only
        exps = list(q.weight_exps)
        exps[last] -= 1
        q = quantize_params(init, q.fmt, exps)
    net = FixedPointNetwork(cfg, q, engine=choose_engine("auto", cfg, 256))
    x_int, xt_int = quantize_input(x_train, q.fmt), quantize_input(x_test, q.fmt)
    err_shifts = [2 if variant.startswith("hidden-err-shift-2") and l < last
                  else rule.err_shift for l in range(len(init))]
    p = fl.trace_shift(net.thresholds)
    r = [fl.update_shift(replace(rule, err_shift=s), e, p, q.fmt.frac_bits)
         for s, e in zip(err_shifts, q.weight_exps)]
    per_synapse = {"per-synapse": range(len(init)), "per-synapse-layer1": [0],
                   "per-synapse-layer2": [1],
                   "hidden-err-shift-2-per-synapse": range(len(init))}.get(variant, [])
    rngs = net.rngs(rule)
    shadow = [w.astype(np.float64) for w in q.weights]
    saturated = [0] * len(init)
    start = time.perf_counter()
    for i in np.random.default_rng([0, 0]).permutation(len(x_int)):
        res = net.run(x_int[i:i + 1], ds.y_train[i:i + 1])
        pres = [res.x_A0[0]] + [st.x_A[0] for st in res.states[:-1]]
        for l, (pre, st) in enumerate(zip(pres, res.states)):
            x = fl.pre_trace_from_state(pre, p)
            y = fl.error_factor(st.e_T[0], err_shifts[l])
            if variant == "exact-factors":  # the states themselves, in the factors' units
                x, y = pre / 2.0**p, st.e_T[0] / 2.0 ** err_shifts[l]
            big_r = r[l] + fl.PRODUCT_DROP_BITS
            if variant.startswith("exact"):
                shadow[l] = shadow[l] + np.outer(y, x) * 2.0**-big_r
                n_sat = int(np.count_nonzero(np.abs(np.rint(shadow[l])) > fl.WEIGHT_MAX))
                if variant != "exact-wide":
                    shadow[l] = np.clip(shadow[l], -fl.WEIGHT_MAX - 0.49, fl.WEIGHT_MAX + 0.49)
                q.weights[l] = np.rint(shadow[l]).astype(np.int64)
            elif l in per_synapse:
                q.weights[l], n_sat = per_synapse_update(q.weights[l], x, y, big_r, rngs[l])
            else:
                q.weights[l], n_sat = fl.weight_update(q.weights[l], x, y, r[l], rngs[l])
            q.biases[l] = fl.bias_update(q.biases[l], st.e_T[0], rule.lr_shift)
            saturated[l] += n_sat
        net.load_weights()
    seconds = time.perf_counter() - start
    test = FixedPointNetwork(cfg, q, engine=choose_engine("auto", cfg, 1000))
    acc = float(np.mean(test.predict(xt_int, batch_size=1000) == ds.y_test))
    print(f"{variant}: test accuracy {acc:.4f}, saturated {saturated}, "
          f"{len(x_int) / seconds:.0f} samples/s", flush=True)
    change, on_engine = VARIANTS[variant]
    return {"change": change, "engine_expressible": on_engine, "test_acc": acc,
            "saturated": saturated, "update_shifts": r,
            "err_shifts": err_shifts, "weight_exps": [int(e) for e in q.weight_exps],
            "train_samples": len(x_int), "train_samples_per_s": len(x_int) / seconds}


def store(out: Path, variant: str, entry: dict) -> None:
    """Merge one variant's entry into ``out`` (locked: several processes share the file)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    folder = os.open(out.parent, os.O_RDONLY)
    try:
        fcntl.flock(folder, fcntl.LOCK_EX)
        data = json.loads(out.read_text()) if out.exists() else {}
        data["about"] = __doc__[:__doc__.index("Command (")].strip()
        data.setdefault("runs", {})[variant] = entry
        out.write_text(json.dumps(data, indent=2) + "\n")
    finally:
        os.close(folder)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    ap.add_argument("--data-dir", required=True, help="folder holding MNIST/raw/")
    ap.add_argument("--limit-train", type=int, default=10000, help="first N training images")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = ap.parse_args()
    torch.set_num_threads(1)
    for variant in args.variants:
        entry = run(variant, args.data_dir, args.limit_train)
        entry.update(code_commit=code_commit(), command=(
            "PYTHONPATH=. python benchmarks/onchip_mnist_diagnosis.py --data-dir DATA "
            f"--limit-train {args.limit_train} --variants {variant}"))
        store(args.out, variant, entry)
        print(f"wrote {args.out} [{variant}]", file=sys.stderr)


if __name__ == "__main__":
    main()
