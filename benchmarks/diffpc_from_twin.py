"""Does DiffPC's local rule hold a solution that backprop found? Training from a twin's weights.

A finished ``train --models diffpc,bp`` run holds two checkpoints. From its backprop twin's
final weights this script trains on, for a few epochs at a small learning rate:

* ``diffpc-from-bp``: DiffPC, with every option of the run (schedule, gamma, gain bound,
  augmentation, batch size, AdamW's weight decay). Where the run bounds the relaxation
  gain (``--max-gain``), DiffPC's first step scales the twin's W_2 .. W_L down into the
  bound, which changes the function the weights compute;
* ``diffpc-from-bp-rebalanced``: the same from the twin's weights moved into the bound
  without changing their function
  (:func:`lava_diffpc.reference.stability.rebalance_into_bound`), so that the first step
  finds them inside it;
* ``bp-from-bp``: the backprop twin itself, the same way (the control: what the fresh
  optimiser and the learning rate alone do to those weights);
* ``diffpc-from-diffpc``: DiffPC from its own final weights (a low-rate continuation of
  the run).

Each model's test accuracy is recorded at its start (epoch 0; DiffPC at the twin's weights
is what ``evaluate --as-diffpc`` reports) and after every epoch, and at its start weights
``align``'s comparison of DiffPC's local updates with backprop's gradients on the last 256
training images (``start_alignment``: cosines and norm ratios per matrix, learning-phase
error spikes, the spiking feed-forward output's deviation from the dense one, singular
values and relaxation gains; ``--epochs 0`` measures only that). If ``diffpc-from-bp``
keeps the twin's accuracy, DiffPC's updates hold backprop's solution and a DiffPC run from
scratch falls short on the way there; if it falls towards DiffPC's own accuracy while
``bp-from-bp`` holds, the rule's updates lead away from that solution.

The optimiser starts afresh (AdamW, zero moments) with the learning rate held constant
(``--lr-schedule cosine`` anneals it to zero instead). Augmentation and batch order are
drawn from the run's seed, as in the run's first epochs. ``--max-gain`` replaces the run's
bound while training on (0: none), to tell the bound's first step from the updates.

Command (each DiffPC epoch costs what an epoch of the run cost, plus a test evaluation)::

    PYTHONPATH=. python benchmarks/diffpc_from_twin.py RUN --data-dir DATA --out FILE.json
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import torch

from lava_diffpc.alignment import gradient_alignment
from lava_diffpc.bench import code_commit
from lava_diffpc.commands.common import TRAIN_FIELDS
from lava_diffpc.data import load_dataset
from lava_diffpc.reference.stability import rebalance_into_bound
from lava_diffpc.runfolder import check_file
from lava_diffpc.train import (
    TrainConfig,
    Trainer,
    build_model,
    evaluate,
    read_checkpoint,
    write_json,
)

STARTS = {  # name: (model trained, weights from, rebalanced into the gain bound)
    "diffpc-from-bp": ("diffpc", "bp", False),
    "diffpc-from-bp-rebalanced": ("diffpc", "bp", True),
    "bp-from-bp": ("bp", "bp", False),
    "diffpc-from-diffpc": ("diffpc", "diffpc", False),
}
PROBE = 256  # the last training images: align's comparison at each start


def _start_params(run: Path, name: str) -> tuple[list, dict[str, Any], int]:
    state = read_checkpoint(run / f"checkpoint-{name}.pt")
    params = list(zip(state["params"][0::2], state["params"][1::2]))
    return params, state["model_opts"], state["epoch"]


def run_start(run: Path, start: str, data, image_shape, args) -> dict[str, Any]:
    """Train one model of :data:`STARTS` from its starting weights; its per-epoch record."""
    kind, source, rebalance = STARTS[start]
    params, opts, epochs_before = _start_params(run, source)
    opts = {**opts, "epochs": max(args.epochs, 1), "lr": args.lr,
            "lr_schedule": args.lr_schedule}  # TrainConfig needs an epoch; 0 trains none
    if args.max_gain is not None:
        opts["max_gain"] = args.max_gain
    cfg = TrainConfig(**{k: opts[k] for k in TRAIN_FIELDS}, eval_batch_size=1000)
    batches = args.epochs * -(-len(data[1]) // cfg.batch_size)
    model = build_model(kind, opts, params=params, batches=batches)
    scales = rebalance_into_bound(model, float(opts["gamma"]), float(opts["max_gain"])) \
        if rebalance else None
    start_params = [(w.clone(), b.clone()) for w, b in zip(model.weights, model.biases)]
    alignment = gradient_alignment(opts, start_params, data[0][-PROBE:], data[1][-PROBE:])
    print(f"{start}: at the start, cosines {alignment.record()['cosine']}, feed-forward "
          f"deviation {alignment.ff_deviation:.3f}", flush=True)
    trainer = Trainer(model, kind, data, cfg, None, opts, image_shape=image_shape)
    t0 = time.perf_counter()
    acc0 = evaluate(model, data[2], data[3], batch_size=cfg.eval_batch_size)
    print(f"{start}: epoch 0 test {100 * acc0:.2f}% ({time.perf_counter() - t0:.0f} s)",
          flush=True)
    epochs = [{"epoch": 0, "test_acc": acc0}]
    for _ in range(args.epochs):
        rec = trainer.train_epoch(progress=False)
        epochs.append({"epoch": rec["epoch"], "train_acc": rec["train_acc"],
                       "test_acc": rec["test_acc"], "lr_end": rec["lr_end"]})
        print(f"{start}: epoch {rec['epoch']} train {100 * rec['train_acc']:.2f}% test "
              f"{100 * rec['test_acc']:.2f}% ({time.perf_counter() - t0:.0f} s)", flush=True)
    return {"model": kind, "weights_from": f"checkpoint-{source}.pt",
            "weights_trained_epochs": epochs_before, "rebalanced_layer_scales": scales,
            "start_alignment": alignment.record(), "epochs": epochs}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", type=Path, help="run folder with checkpoint-bp.pt (and "
                    "checkpoint-diffpc.pt for diffpc-from-diffpc)")
    ap.add_argument("--data-dir", required=True, help="the run's data folder")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--lr", type=float, default=2e-5, help="AdamW learning rate")
    ap.add_argument("--lr-schedule", choices=("constant", "cosine"), default="constant")
    ap.add_argument("--starts", nargs="+", choices=list(STARTS), default=list(STARTS))
    ap.add_argument("--max-gain", type=float, default=None,
                    help="the relaxation-gain bound while training on (0: none); default: the "
                         "run's")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, required=True, help="JSON file to write")
    args = ap.parse_args()
    needed = sorted({f"checkpoint-{STARTS[s][1]}.pt" for s in args.starts})
    missing = [f for f in needed if not (args.run / f).is_file()]
    if missing:
        sys.exit(f"error: {args.run} lacks {', '.join(missing)}; pass the folder of a "
                 "finished train --models diffpc,bp run")
    if args.epochs < 0 or not args.lr > 0 or args.threads < 1:
        sys.exit("error: --epochs must be >= 0, --lr > 0 and --threads >= 1")
    try:  # before hours of training, not after
        check_file(args.out, option="--out")
    except ValueError as exc:
        sys.exit(f"error: {exc}")
    torch.set_num_threads(args.threads)
    run_opts = read_checkpoint(args.run / needed[0])["model_opts"]
    opts = dict(run_opts)
    if args.max_gain is not None:
        if args.max_gain < 0 or 0 < args.max_gain <= opts["gamma"]:
            sys.exit(f"error: --max-gain {args.max_gain} must be 0 (no bound) or above the "
                     f"run's gamma {opts['gamma']}")
        opts["max_gain"] = args.max_gain
    if "diffpc-from-bp-rebalanced" in args.starts and not opts["max_gain"] > 0:
        sys.exit(f"error: no gain bound to rebalance into (the run in {args.run} has none, "
                 "or --max-gain 0 was given); leave diffpc-from-bp-rebalanced out of --starts")
    ds = load_dataset(opts["dataset"], args.data_dir)
    data = tuple(torch.from_numpy(a) for a in (ds.x_train, ds.y_train, ds.x_test, ds.y_test))
    results = {start: run_start(args.run, start, data, ds.image_shape, args)
               for start in args.starts}
    doc = {"run": args.run.name, "options": run_opts, "max_gain": opts["max_gain"],
           "epochs": args.epochs, "lr": args.lr,
           "lr_schedule": args.lr_schedule, "commit": code_commit(), "starts": results}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_json(doc, args.out)  # atomic: a failed write leaves no half file
    print(f"written: {args.out}")


if __name__ == "__main__":
    main()
