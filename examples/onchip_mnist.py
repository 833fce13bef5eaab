"""On-chip learning on MNIST in the fast fixed-point simulator (issue 4, item 6).

Trains a preset's network (default DiffPC-S, 784-400-10, 75 steps) from scratch with the
integer on-chip rule (:mod:`lava_diffpc.rules.fixed_learning`: per-sample SGD,
``alpha = 2**-lr_shift``, 8-bit weights with stochastic rounding, fixed exponents) in
:class:`lava_diffpc.fixedsim.FixedPointNetwork`, which is bit-exact with the Lava
``fixed_pt`` graph. No dropout (the chip rule has none), presynaptic factor ``x_A``.
Writes ``<out>/history.json`` after every evaluation (test accuracy every
``--eval-every`` samples and at each epoch's end) and the integer weights per epoch.

    .venv/bin/python examples/onchip_mnist.py --data-dir /work/shared/datasets \\
        --out runs/onchip-mnist-s --max-minutes 60

Single-threaded by design (batch 1): 784-400-10 trains at about 40 samples/s on a free
core of a 2-core x86 machine (25 minutes per MNIST epoch), 11-17 samples/s when other jobs
share the cores.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import torch

from lava_diffpc.data import load_dataset
from lava_diffpc.fixed_point import quantize_for_learning, quantize_input
from lava_diffpc.fixedsim import FixedPointNetwork
from lava_diffpc.presets import preset
from lava_diffpc.reference.network import init_parameters
from lava_diffpc.rules.fixed_learning import OnChipRule
from lava_diffpc.train import network_config


def write_json(obj: object, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2))
    os.replace(tmp, path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="mnist-s")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--lr-shift", type=int, default=7, help="alpha = 2**-lr_shift")
    ap.add_argument("--err-shift", type=int, default=5)
    ap.add_argument("--headroom", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--epochs", type=int, default=100)
    ap.add_argument("--max-minutes", type=float, default=60.0,
                    help="stop training once this wall-clock budget is spent")
    ap.add_argument("--eval-every", type=int, default=10000, help="samples between test evals")
    ap.add_argument("--limit-train", type=int, default=None)
    ap.add_argument("--limit-test", type=int, default=None)
    ap.add_argument("--out", default="runs/onchip-mnist-s")
    args = ap.parse_args()
    torch.set_num_threads(1)

    opts = {**preset(args.preset), "presyn": "x_A", "dropout": 0.0}
    cfg = network_config(opts)
    ds = load_dataset(opts["dataset"], args.data_dir, limit_train=args.limit_train,
                      limit_test=args.limit_test)
    rule = OnChipRule(lr_shift=args.lr_shift, err_shift=args.err_shift, seed=args.seed,
                      headroom=args.headroom)
    q = quantize_for_learning(init_parameters(cfg.sizes, args.seed, torch.float64),
                              rule.headroom)
    net = FixedPointNetwork(cfg, q)
    x_train, x_test = quantize_input(ds.x_train, q.fmt), quantize_input(ds.x_test, q.fmt)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    history: list[dict] = []
    meta = {"preset": args.preset, "sizes": cfg.sizes, "schedule": cfg.schedule.to_dict(),
            "rule": vars(args), "weight_exps": q.weight_exps, "n_train": len(x_train),
            "n_test": len(x_test)}
    print(f"{args.preset}: {cfg.sizes}, {cfg.schedule.steps} steps/sample, rule {rule}, "
          f"weight exponents {q.weight_exps}", flush=True)

    started = time.monotonic()
    seen = 0
    for epoch in range(args.epochs):
        order = np.random.default_rng([args.seed, epoch]).permutation(len(x_train))
        correct = saturated = 0
        for start in range(0, len(order), args.eval_every):
            idx = order[start:start + args.eval_every]
            stats = cfg.comm_stats()
            res = net.train(x_train[idx], ds.y_train[idx], rule, stats=stats)
            correct += int((res.predictions == ds.y_train[idx]).sum())
            saturated += sum(res.saturated)
            seen += len(idx)
            eval_start = time.perf_counter()
            acc = float((net.predict(x_test) == ds.y_test).mean())
            rec = {"epoch": epoch + (start + len(idx)) / len(order), "samples": seen,
                   "test_acc": acc, "train_acc_running": correct / (start + len(idx)),
                   "saturated": saturated, "train_samples_per_s": len(idx) / res.seconds,
                   "eval_seconds": time.perf_counter() - eval_start,
                   "elapsed_minutes": (time.monotonic() - started) / 60,
                   "train_comm": stats.to_dict()}
            history.append(rec)
            write_json({**meta, "history": history}, out / "history.json")
            print(f"epoch {rec['epoch']:.2f} samples {seen} test {100 * acc:.2f}% train(run) "
                  f"{100 * rec['train_acc_running']:.2f}% sat {saturated} "
                  f"{rec['train_samples_per_s']:.1f} samples/s "
                  f"{rec['elapsed_minutes']:.1f} min", flush=True)
            if rec["elapsed_minutes"] > args.max_minutes:
                break
        np.savez(out / f"weights-epoch{epoch + 1}.npz", *q.weights, *q.biases,
                 exps=np.array(q.weight_exps))
        if (time.monotonic() - started) / 60 > args.max_minutes:
            print(f"stopping: --max-minutes {args.max_minutes} spent")
            break


if __name__ == "__main__":
    main()
