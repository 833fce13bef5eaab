"""Accuracy of on-chip learning, digits from scratch, one epoch, for variants of the weight
update's rounding; writes a JSON entry per variant.

The setting of ``tests/test_onchip_learning.py::test_lava_trains_digits_from_scratch`` and of
``make demo``: ``onchip_config(sizes)`` (48 steps per training sample), ``OnChipRule(lr_shift=5,
err_shift=5, seed=s, headroom=2)``, float initialisation with seed 0, training order
``default_rng(0).permutation``, one epoch of per-sample SGD on the 1437 training digits with
the fast fixed-point simulator (:meth:`lava_diffpc.fixedsim.FixedPointNetwork.train`), test
accuracy on the 360 test digits. The rule seed ``s`` only changes the rounding draws.

Variants (``--variant``; all but ``rule`` replace ``fixed_learning.weight_update`` and
``synapse_rng`` inside this script; ``r`` from ``update_shift``, ``P = y x``):

* ``rule``: the installed :func:`lava_diffpc.rules.fixed_learning.weight_update` (Lava's
  learning engine, bit for bit: ``(P m) >> 3`` with the rule constant's mantissa ``m = 4``
  for ``r <= 5``, i.e. ``P >> 1``, one random number per sample and matrix);
* ``per-synapse-3bit``: the rule before it was matched to the engine (commit 1e3cc2b):
  ``sign(P) (|P| >> 3)``, one integer ``u`` in ``[0, 127]`` per synapse from
  ``Generator(PCG64(SeedSequence([seed, l])))``, ``dw = (Q 2**(7-r) + u) >> 7``;
* ``shared-3bit``: the engine running that earlier rule string (mantissa 1: ``P >> 3``
  floored, one shared random number per sample);
* ``shared-3bit-signmag`` and ``per-synapse-3bit-floor``: one change each, to separate the
  cost of the shared random number from the cost of flooring (neither is what the engine
  computes).

``--lava`` also trains the first network with the first rule seed inside the Lava
``fixed_pt`` graph (``rule`` only) and checks that its weights equal the simulator's::

    PYTHONPATH=. .venv/bin/python benchmarks/onchip_rounding.py --variant rule --lava
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from lava_diffpc.bench import code_commit
from lava_diffpc.data import load_dataset
from lava_diffpc.demo import onchip_config
from lava_diffpc.fixed_point import quantize_for_learning, quantize_input
from lava_diffpc.fixedsim import FixedPointNetwork
from lava_diffpc.reference.network import init_parameters
from lava_diffpc.rules import fixed_learning
from lava_diffpc.rules.arithmetic import as_int
from lava_diffpc.rules.fixed_learning import OnChipRule

DEFAULT_OUT = Path(__file__).resolve().parents[1] / "docs" / "results" / \
    "onchip-engine-rounding.json"
VARIANTS = ("rule", "per-synapse-3bit", "shared-3bit", "shared-3bit-signmag",
            "per-synapse-3bit-floor")


def _variant_update(floor: bool, shared: bool):
    """A ``weight_update`` with 3 dropped bits (``floor`` or sign-magnitude) and one shared
    float (engine arithmetic) or one integer per synapse (the earlier rule)."""
    def update(weights, x, y, r, rng):
        w = as_int(weights).copy()
        u_shared = rng.random(1)[0] if shared else None
        rows, cols = np.flatnonzero(y), np.flatnonzero(x)
        if rows.size == 0 or cols.size == 0:
            return w, 0
        p = as_int(y)[rows][:, None] * as_int(x)[cols][None, :]
        q = p >> 3 if floor else np.sign(p) * (np.abs(p) >> 3)
        old = w[np.ix_(rows, cols)]
        if shared:
            acc = np.clip((old << 7) + np.clip(q << (7 - r), fixed_learning.ACC_MIN,
                                               fixed_learning.ACC_MAX),
                          fixed_learning.ACC_MIN, fixed_learning.ACC_MAX)
            block = np.clip((acc >> 7) + (u_shared < (acc & 127) / 128.0), -256, 255)
        else:
            u = rng.integers(0, 128, size=q.shape, dtype=np.int64)
            block = old + (((q << (7 - r)) + u) >> 7)
        clipped = np.clip(block, -127, 127)
        w[np.ix_(rows, cols)] = clipped
        return w, int(np.count_nonzero(clipped != block))
    return update


def _pcg64(seed: int, layer: int) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([int(seed), int(layer)])))


def use_variant(name: str) -> None:
    """Install the variant's update (and generator) in :mod:`fixed_learning`."""
    if name == "rule":
        return
    floor, shared = {"per-synapse-3bit": (False, False), "shared-3bit": (True, True),
                     "shared-3bit-signmag": (False, True),
                     "per-synapse-3bit-floor": (True, False)}[name]
    fixed_learning.weight_update = _variant_update(floor, shared)
    if not shared:
        fixed_learning.synapse_rng = _pcg64


def run(sizes: tuple[int, ...], seeds: list[int], lava: bool) -> dict:
    """Train from scratch for one epoch per rule seed; return the accuracies."""
    ds = load_dataset("digits")
    cfg = onchip_config(sizes=sizes)
    init = init_parameters(cfg.sizes, 0, torch.float64)
    order = np.random.default_rng(0).permutation(len(ds.x_train))
    x_int, y = quantize_input(ds.x_train[order]), ds.y_train[order]
    xt = quantize_input(ds.x_test)
    out: dict = {"sizes": list(sizes), "steps_per_sample": cfg.schedule.steps, "seeds": {}}
    for seed in seeds:
        rule = OnChipRule(lr_shift=5, err_shift=5, seed=seed, headroom=2)
        q = quantize_for_learning(init, rule.headroom)
        sim = FixedPointNetwork(cfg, copy.deepcopy(q))
        res = sim.train(x_int, y, rule)
        acc = float((sim.predict(xt) == ds.y_test).mean())
        out["seeds"][str(seed)] = {"fixedsim_test_acc": acc, "saturated": res.saturated}
        print(f"{sizes} rule seed {seed}: fixedsim test accuracy {acc:.4f}, "
              f"saturated {res.saturated}, {res.seconds:.0f} s", flush=True)
        if lava and seed == seeds[0]:
            from lava_diffpc.lava_graph import train_dataset

            t0 = time.perf_counter()
            lres = train_dataset(cfg, q, x_int, y, rule, mode="fixed")
            same = all(np.array_equal(a, b)
                       for a, b in zip(lres.params.weights, sim.qparams.weights))
            lacc = float((FixedPointNetwork(cfg, lres.params).predict(xt) == ds.y_test).mean())
            out["seeds"][str(seed)].update(lava_test_acc=lacc, lava_equals_fixedsim=same)
            print(f"  Lava fixed_pt graph: test accuracy {lacc:.4f}, weights equal to "
                  f"fixedsim: {same}, {time.perf_counter() - t0:.0f} s", flush=True)
    accs = [v["fixedsim_test_acc"] for v in out["seeds"].values()]
    out["fixedsim_test_acc_mean"] = round(float(np.mean(accs)), 4)
    out["fixedsim_test_acc_std"] = round(float(np.std(accs)), 4)
    return out


def run_preset(name: str, data_dir: str, seed: int, limit: int | None) -> dict:
    """One epoch from scratch of a preset's network (the on-chip trainer's setting:
    presyn x_A, no dropout, ``OnChipRule(lr_shift=7, err_shift=5, seed, headroom=2)``,
    order ``default_rng([seed, 0]).permutation``); test accuracy on the whole test split."""
    from lava_diffpc.onchip import onchip_opts
    from lava_diffpc.presets import preset
    from lava_diffpc.train import network_config

    opts = onchip_opts({**preset(name), "seed": seed})
    cfg = network_config(opts)
    ds = load_dataset(opts["dataset"], data_dir, limit_train=limit)
    rule = OnChipRule(lr_shift=7, err_shift=5, seed=seed, headroom=2)
    q = quantize_for_learning(init_parameters(cfg.sizes, seed, torch.float64), rule.headroom)
    sim = FixedPointNetwork(cfg, q)
    order = np.random.default_rng([seed, 0]).permutation(len(ds.x_train))
    res = sim.train(quantize_input(ds.x_train[order]), ds.y_train[order], rule)
    acc = float((FixedPointNetwork(cfg, q, engine="compiled").predict(
        quantize_input(ds.x_test)) == ds.y_test).mean())
    print(f"{name} rule seed {seed}: fixedsim test accuracy {acc:.4f}, saturated "
          f"{res.saturated}, {len(order) / res.seconds:.0f} samples/s", flush=True)
    return {"preset": name, "sizes": list(cfg.sizes), "steps_per_sample": cfg.schedule.steps,
            "train_samples": len(order), "seeds": {str(seed): {
                "fixedsim_test_acc": acc, "saturated": res.saturated,
                "train_samples_per_s": len(order) / res.seconds}}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variant", choices=VARIANTS, default="rule")
    ap.add_argument("--sizes", nargs="+", default=["64-32-10", "64-128-10"])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4], help="rule seeds")
    ap.add_argument("--lava", action="store_true",
                    help="also train the first network inside the Lava graph (first seed)")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--preset", default=None,
                    help="instead of digits: one epoch of this preset's network (e.g. mnist-s), "
                         "first rule seed only")
    ap.add_argument("--data-dir", default=None, help="data folder for --preset")
    ap.add_argument("--limit-train", type=int, default=None, help="first N training samples")
    args = ap.parse_args()
    if args.lava and args.variant != "rule":
        ap.error("--lava runs the installed rule only")
    torch.set_num_threads(1)
    use_variant(args.variant)
    entry = {"code_commit": code_commit(),
             "command": "PYTHONPATH=. python benchmarks/onchip_rounding.py "
                        + " ".join(a for a in sys.argv[1:] if not a.startswith("/"))}
    data = json.loads(args.out.read_text()) if args.out.exists() else {}
    if args.preset:
        entry["networks"] = [run_preset(args.preset, args.data_dir, args.seeds[0],
                                        args.limit_train)]
        data.setdefault("preset_runs", {}).setdefault(args.preset, {})[args.variant] = entry
        args.out.write_text(json.dumps(data, indent=2) + "\n")
        print(f"wrote {args.out} [{args.preset}, {args.variant}]")
        return
    entry["networks"] = [run(tuple(int(n) for n in s.split("-")), args.seeds,
                             args.lava and i == 0) for i, s in enumerate(args.sizes)]
    data["settings"] = {
        "dataset": "digits (1437 train, 360 test), standardised, signed input",
        "schedule": "onchip_config: m=0, n=4, c1=c2=6, 48 steps per training sample",
        "rule": "OnChipRule(lr_shift=5, err_shift=5, seed=<rule seed>, headroom=2); "
                "r = 5, 5 (64-32-10) and 5, 4 (64-128-10); the rule's mantissa 4 drops one bit",
        "init": "init_parameters(sizes, 0), training order default_rng(0).permutation",
        "training": "one epoch of per-sample SGD, fixedsim FixedPointNetwork.train",
        "variants": __doc__[__doc__.index("* ``rule``"):__doc__.index("``--lava``")].strip()}
    data.setdefault("runs", {})[args.variant] = entry
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(data, indent=2) + "\n")
    print(f"wrote {args.out} [{args.variant}]")


if __name__ == "__main__":
    main()
