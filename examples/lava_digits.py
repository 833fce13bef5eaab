"""Trained DiffPC digits network on Lava's simulator in fixed point (Loihi 2 arithmetic).

1. trains a 64-64-10 DiffPC network with the float reference on scikit-learn digits
   (or loads ``--params``, an ``.npz`` of W1, b1, W2, b2 as saved by ``--save``);
2. quantises it (8-bit weights with a per-layer exponent, 24-bit states, F = 12);
3. runs the test set through the fast fixed-point simulator and through the Lava
   ``fixed_pt`` process graph (one ``run()`` for all samples) and prints accuracy, spikes
   per neuron per sample and simulated steps per second.

    .venv/bin/python examples/lava_digits.py [--epochs 5] [--limit 360] [--backend sim]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from lava_diffpc.config import DiffPCConfig
from lava_diffpc.data import load_dataset
from lava_diffpc.fixed_point import FixedFormat, quantize_input, quantize_params
from lava_diffpc.fixedsim import FixedPointNetwork
from lava_diffpc.reference.network import DiffPCNetwork
from lava_diffpc.rules.schedule import Schedule
from lava_diffpc.train import TrainConfig, Trainer


def train(cfg: DiffPCConfig, ds, epochs: int) -> list:
    """AdamW (2e-3, batch 32) on the reference's local gradients, via the project's Trainer;
    returns float64 [(W, b), ...]."""
    net = DiffPCNetwork(cfg, seed=0)
    data = tuple(torch.from_numpy(a) for a in (ds.x_train, ds.y_train, ds.x_test, ds.y_test))
    trainer = Trainer(net, "diffpc", data, TrainConfig(epochs=epochs, batch_size=32, lr=2e-3,
                                                       lr_schedule="constant"), None, {})
    while not trainer.finished:
        record = trainer.train_epoch(progress=False)
        print(f"  epoch {record['epoch']}/{epochs}: test accuracy {record['test_acc']:.4f}")
    return [(w.double().numpy(), b.double().numpy()) for w, b in zip(net.weights, net.biases)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--limit", type=int, default=360, help="test samples run on Lava")
    ap.add_argument("--backend", default="sim", choices=("sim", "loihi2"))
    ap.add_argument("--params", help="load weights from this .npz instead of training")
    ap.add_argument("--save", help="save the trained weights to this .npz")
    args = ap.parse_args()

    ds = load_dataset("digits")
    cfg = DiffPCConfig(sizes=(64, 64, 10), schedule=Schedule())
    if args.params:
        arrays = list(np.load(args.params).values())
        params = list(zip(arrays[0::2], arrays[1::2]))
    else:
        print(f"training {cfg.sizes} with the float reference ({args.epochs} epochs)")
        params = train(cfg, ds, args.epochs)
    if args.save:
        np.savez(args.save, *[a for pair in params for a in pair])

    ref = DiffPCNetwork(cfg, [(torch.tensor(w), torch.tensor(b)) for w, b in params],
                        dtype=torch.float64)
    acc_ref = (ref.predict(torch.tensor(ds.x_test, dtype=torch.float64)).numpy()
               == ds.y_test).mean()
    fmt = FixedFormat()
    q = quantize_params(params, fmt)
    x_int = quantize_input(ds.x_test, fmt)
    start = time.perf_counter()
    pred_sim = FixedPointNetwork(cfg, q).predict(x_int)
    sim_s = time.perf_counter() - start
    print(f"float reference, {len(ds.y_test)} test samples: accuracy {acc_ref:.4f}")
    print(f"fast fixed-point simulator (weight exponents {q.weight_exps}): accuracy "
          f"{(pred_sim == ds.y_test).mean():.4f}, {len(x_int) * cfg.schedule.k1 / sim_s:,.0f} "
          "sample-steps/s")

    from lava_diffpc.lava_graph import run_dataset  # needs Python 3.10 + lava-nc

    n = min(args.limit, len(ds.y_test))
    result = run_dataset(cfg, q, x_int[:n], mode="fixed", backend=args.backend)
    acc = (result.predictions == ds.y_test[:n]).mean()
    same = (result.predictions == pred_sim[:n]).mean()
    ff = result.stats.per_neuron("ff")
    print(f"Lava fixed_pt graph ({args.backend}), {n} test samples x {cfg.schedule.k1} steps: "
          f"accuracy {acc:.4f} (agreement with the fast simulator {same:.4f})")
    print(f"  activity spikes per neuron per sample {ff['activity_spikes_all']:.3f} "
          f"(per layer {np.round(ff['activity_spikes'], 3).tolist()})")
    print(f"  simulated steps/s {result.steps_per_second:,.0f} "
          f"({result.steps} steps in {result.seconds:.1f} s)")


if __name__ == "__main__":
    main()
