"""``make demo``: the whole story on the embedded digits data set, in a few minutes on 2 cores.

1. float reference DiffPC, trained with AdamW on batches (the paper's recipe), and its
   backprop twin (:func:`lava_diffpc.commands.train.run`, ``digits`` preset);
2. the on-chip rule in the fast fixed-point simulator, from scratch, one epoch of
   per-sample SGD (8-bit weights, stochastic rounding;
   :meth:`lava_diffpc.fixedsim.FixedPointNetwork.train`);
3. on-chip learning inside the Lava ``fixed_pt`` process graph, from scratch, the same
   epoch (:func:`lava_diffpc.lava_graph.train_dataset`), checked bit for bit against 2,
   then the test set run on Lava;

and a side-by-side table: test accuracy, spikes and bits per neuron per sample, time.
Models 2 and 3 use a short schedule (``n = 4``, ``c1 = c2 = 6``: 48 steps per training
sample, 24 per test sample) so that the Lava run fits the budget (~600 simulated steps/s).
Their float twin (:func:`train_reference_sgd`, per-sample SGD with the same ``alpha``) is
compared in ``tests/test_onchip_learning.py`` (batch-1 PyTorch is too slow for the demo).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lava_diffpc.config import DiffPCConfig
from lava_diffpc.data import load_dataset
from lava_diffpc.fixed_point import QuantizedParams, quantize_for_learning, quantize_input
from lava_diffpc.fixedsim import FixedPointNetwork
from lava_diffpc.metrics import CommStats
from lava_diffpc.reference.network import DiffPCNetwork, init_parameters
from lava_diffpc.rules.fixed_learning import OnChipRule
from lava_diffpc.rules.schedule import Schedule
from lava_diffpc.runfolder import RunLock, check_folder

ONCHIP_SIZES = (64, 128, 10)
ONCHIP_SCHEDULE = Schedule(m=0, n=4, c1=6, c2=6)
ONCHIP_RULE = OnChipRule(lr_shift=5, err_shift=5, seed=0, headroom=2)


def onchip_config(sizes: tuple[int, ...] = ONCHIP_SIZES,
                  schedule: Schedule = ONCHIP_SCHEDULE) -> DiffPCConfig:
    """The network the on-chip rule trains: signed input, ``presyn = x_A``, no dropout."""
    return DiffPCConfig(sizes=sizes, schedule=schedule, presyn="x_A")


def train_reference_sgd(net: DiffPCNetwork, x: torch.Tensor, y: torch.Tensor,
                        alpha: float) -> np.ndarray:
    """Per-sample SGD of the float reference, the on-chip rule's float twin.

    For each sample in order: ``run`` on a batch of one, then ``W -= alpha * grad_W`` and
    ``b -= alpha * grad_b`` with the reference's local gradients, i.e. ``W += alpha e_T
    x_A^T`` and ``b += alpha e_T`` (:func:`~lava_diffpc.rules.learning.sgd_update`). Returns
    the feed-forward predictions made before each update.
    """
    if net.config.presyn != "x_A":
        raise ValueError("the on-chip rule's twin needs presyn='x_A' (the synapse sees x_A)")
    predictions = np.empty(len(x), dtype=np.int64)
    for i in range(len(x)):
        res = net.run(x[i:i + 1], y[i:i + 1])
        predictions[i] = int(res.prediction[0])
        for l, (gw, gb) in enumerate(res.grads):
            net.weights[l] = net.weights[l] - alpha * gw
            net.biases[l] = net.biases[l] - alpha * gb
    return predictions


def _comm(stats: CommStats | dict | None) -> tuple[float, float]:
    """(activity spikes, error spikes) per neuron per training sample, both phases."""
    if stats is None:
        return float("nan"), float("nan")
    d = stats.to_dict() if isinstance(stats, CommStats) else stats
    act = sum(d[p]["activity_spikes_all"] for p in d)
    err = d.get("learn", {}).get("error_spikes_all", 0.0)
    return act, err


def _row(name: str, acc: float, comm: tuple[float, float], seconds: float) -> str:
    act, err = comm
    if np.isnan(act):  # backprop: one 32-bit float per neuron and direction, no spikes
        return f"{name:<44}{100 * acc:>8.2f}{'-':>10}{'-':>9}{'-':>10}{'-':>9}{seconds:>9.1f}"
    return (f"{name:<44}{100 * acc:>8.2f}{act:>10.3f}{2 * act:>9.3f}{err:>10.4f}"
            f"{2 * err:>9.4f}{seconds:>9.1f}")


def run_demo(out: Path, epochs: int | None = None, lava_samples: int | None = None) -> dict:
    """Run the trainings of the module docstring, print the table; returns the numbers."""
    # Lava before any training: it sets multiprocessing's start method, which fails once
    # something else (the reference's training) has set it.
    from lava_diffpc.commands import train as train_command
    from lava_diffpc.lava_graph import run_dataset, train_dataset

    start_all = time.perf_counter()
    results: dict[str, Any] = {}
    rows = []

    # 1. float reference (AdamW, batches) and backprop, digits preset
    for old in out.glob("checkpoint-*.pt") if out.is_dir() else ():
        old.unlink()
    t0 = time.perf_counter()
    targs = train_command.parse_args(
        ["--preset", "digits", "--out", str(out), "--no-progress", "--threads", "1",
         "--epochs", str(epochs or 5)])
    ref = train_command.run(targs)
    ref_seconds = time.perf_counter() - t0
    d_hist = ref["diffpc"]["history"][-1]
    rows.append(_row("float reference DiffPC, AdamW (120 steps)", ref["diffpc"]["final_test_acc"],
                     _comm(d_hist["train_comm"]), sum(h["train_seconds"]
                                                       for h in ref["diffpc"]["history"])))
    rows.append(_row("backprop (same MLP), AdamW", ref["bp"]["final_test_acc"],
                     (float("nan"), float("nan")), sum(h["train_seconds"]
                                                       for h in ref["bp"]["history"])))
    results["reference_seconds"] = ref_seconds

    ds = load_dataset("digits")
    cfg, rule = onchip_config(), ONCHIP_RULE
    init = init_parameters(cfg.sizes, rule.seed, torch.float64)
    order = np.random.default_rng(rule.seed).permutation(len(ds.x_train))
    x_tr, y_tr = ds.x_train[order], ds.y_train[order]
    print(f"\non-chip rule: {cfg.sizes}, {cfg.schedule.steps} steps per training sample, "
          f"per-sample SGD alpha = 2**-{rule.lr_shift}, one epoch ({len(x_tr)} samples)")

    # 2. on-chip rule in the fast fixed-point simulator
    q_init = quantize_for_learning(init, rule.headroom)
    q_sim = QuantizedParams([w.copy() for w in q_init.weights], list(q_init.weight_exps),
                            [b.copy() for b in q_init.biases], q_init.fmt)
    sim = FixedPointNetwork(cfg, q_sim)
    x_int, xt_int = quantize_input(x_tr), quantize_input(ds.x_test)
    train_stats = cfg.comm_stats()
    tr = sim.train(x_int, y_tr, rule, stats=train_stats)
    pred_sim = sim.predict(xt_int)
    acc_sim = float((pred_sim == ds.y_test).mean())
    rows.append(_row("on-chip rule, fast fixed-point simulator", acc_sim,
                     _comm(train_stats), tr.seconds))
    results["fixedsim_acc"] = acc_sim

    # 3. on-chip learning inside the Lava fixed_pt graph
    n = len(x_int) if lava_samples is None else int(lava_samples)
    print(f"Lava fixed_pt graph: training on {n} samples x {cfg.schedule.steps} steps ...",
          flush=True)
    lava = train_dataset(cfg, q_init, x_int[:n], y_tr[:n], rule, mode="fixed")
    test = run_dataset(cfg, lava.params, xt_int, mode="fixed")
    acc_lava = float((test.predictions == ds.y_test).mean())
    if n == len(x_int):
        same = all(np.array_equal(a, b) for a, b in zip(lava.params.weights, q_sim.weights))
        same &= bool(np.array_equal(test.predictions, pred_sim))
        print(f"Lava-trained weights and test predictions bit-identical to the fast "
              f"simulator's: {same}")
        results["lava_equals_fixedsim"] = same
    rows.append(_row(f"on-chip learning, Lava fixed_pt graph ({n})", acc_lava,
                     _comm(lava.stats), lava.seconds))
    results.update(lava_acc=acc_lava, lava_steps_per_s=lava.steps / lava.seconds,
                   lava_saturated=lava.saturated)

    print(f"\ndigits test accuracy ({len(ds.y_test)} samples); spikes and bits per neuron per "
          "training sample (feed-forward + learning phase); time = training seconds")
    print(f"{'model':<44}{'test %':>8}{'act sp/n':>10}{'act b/n':>9}{'err sp/n':>10}"
          f"{'err b/n':>9}{'time s':>9}")
    for row in rows:
        print(row)
    print(f"\nLava: {lava.steps / lava.seconds:,.0f} simulated steps/s; weight updates clipped "
          f"at +-127: {lava.saturated}; backprop sends one 32-bit float per neuron and "
          f"direction; total {time.perf_counter() - start_all:.0f} s")
    return results


def main(args: argparse.Namespace) -> dict:
    """Entry point of ``python -m lava_diffpc demo`` (the command line has set torch to one
    thread: the demo's timings assume it)."""
    out = Path(args.out)
    check_folder(out)
    RunLock(out).check()  # the demo starts its run over: never in a folder in use
    return run_demo(out, epochs=args.epochs, lava_samples=args.lava_samples)
