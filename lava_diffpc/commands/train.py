"""``train``: DiffPC (local rule or on-chip rule) and its baselines, epoch by epoch.

Starts from a named preset (default ``digits``, the embedded data set) and lets every option
override it; prints a table row per epoch, writes ``config.json``, ``results.json`` and
atomic checkpoints into the run folder; ``--resume`` continues an interrupted run exactly
where it stopped. Data-parallel when started by ``torchrun`` (:mod:`lava_diffpc.distributed`).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import torch

from lava_diffpc import distributed
from lava_diffpc.commands.common import (
    OPTION_HELP,
    OPTION_TYPES,
    RULES,
    TRAIN_FIELDS,
    add_common,
    check_arch,
    load_data,
    resolve_options,
    split_heldout,
)
from lava_diffpc.data import Dataset
from lava_diffpc.fixed_point import quantize_input
from lava_diffpc.onchip import ONCHIP_NAME, OnChipTrainer
from lava_diffpc.presets import COMMON, PRESETS, parse_layers
from lava_diffpc.train import MODEL_KINDS, TrainConfig, Trainer, build_model, evaluate, write_json


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    tr = sub.add_parser("train", help="train DiffPC (and the backprop baseline)")
    tr.add_argument("--preset", default="digits", choices=sorted(PRESETS))
    for name, typ in OPTION_TYPES.items():
        flag = "--" + name.replace("_", "-")
        tr.add_argument(flag, type=typ, default=None, help=OPTION_HELP.get(
            name, f"override the preset (common default: {COMMON.get(name, '-')})"))
    tr.add_argument("--input-gate", action="store_true", default=None,
                    help="spiking-ReLU gate on the input layer (default off: signed input)")
    tr.add_argument("--augment", action=argparse.BooleanOptionalAction, default=None,
                    help="random 4-pixel-padded crops and horizontal flips of the training "
                         "images, the same for every model (conv nets; default: on for the "
                         "CIFAR presets, off otherwise)")
    tr.add_argument("--models", default="diffpc,bp",
                    help="comma list of the models to train side by side: diffpc, bp (its "
                         "backprop twin, same objective), bp-ce (backprop with cross-entropy), "
                         "pc (standard predictive coding) (default diffpc,bp)")
    tr.add_argument("--seed", type=int, default=0)
    tr.add_argument("--out", default=None, help="run folder (default runs/<preset>-s<seed>)")
    tr.add_argument("--resume", action="store_true", help="continue the run in --out")
    tr.add_argument("--checkpoint-every", type=int, default=50, help="batches between checkpoints")
    tr.add_argument("--limit-train", type=int, default=None, help="use the first N train samples")
    tr.add_argument("--max-minutes", type=float, default=None,
                    help="stop before an epoch that would end past this wall-clock budget")
    add_common(tr)

    return tr


def parse_args(argv: list[str]) -> argparse.Namespace:
    """The ``train`` command's arguments alone (for programs that train, e.g. the demo)."""
    parser = argparse.ArgumentParser(prog="train")
    sub = parser.add_subparsers(dest="command", required=True)
    add_parser(sub)
    return parser.parse_args(["train", *argv])


def _row(rec: dict[str, Any]) -> str:
    comm = rec.get("train_comm", {})
    act = sum(comm[p]["activity_spikes_all"] for p in comm) if comm else float("nan")
    err = comm.get("learn", {}).get("error_spikes_all", float("nan"))
    held = f"{100 * rec['heldout_acc']:>10.2f}" if "heldout_acc" in rec else ""
    return (f"{rec['model']:<7}{rec['epoch']:>6}{100 * rec['train_acc']:>10.2f}"
            f"{100 * rec['test_acc']:>10.2f}{rec['train_samples_per_s']:>11.0f}"
            f"{act:>11.4f}{err:>11.4f}{held}")


ROW_HEADER = (f"{'model':<7}{'epoch':>6}{'train %':>10}{'test %':>10}{'samples/s':>11}"
              f"{'act sp/n':>11}{'err sp/n':>11}")


def run(args: argparse.Namespace, opts: dict[str, Any] | None = None,
        run_dir: Path | None = None) -> dict[str, Any]:
    opts = opts or resolve_options(args)
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    for m in models:
        if m not in MODEL_KINDS:
            raise SystemExit(f"error: --models takes {MODEL_KINDS}, got {m!r}")
    if opts["rule"] not in RULES:
        raise ValueError(f"--rule takes {RULES}, got {opts['rule']!r}")
    if opts["rule"] == "onchip" and distributed.world_size() > 1:
        raise ValueError("--rule onchip trains sample by sample in one process; run it "
                         "without torchrun")
    arch = parse_layers(opts["arch"])
    if opts.get("augment") and not arch.convs:
        raise ValueError(f"--augment crops and flips images: it needs a convolutional --arch, "
                         f"{opts['arch']} is fully connected (use --no-augment)")
    ds = load_data(opts["dataset"], args, flatten=not arch.convs)
    check_arch(arch, ds)
    ds, held = split_heldout(ds, int(opts.get("heldout", 0)))
    run_dir = run_dir or Path(args.out or f"runs/{opts['preset']}-s{args.seed}")
    run_dir.mkdir(parents=True, exist_ok=True)
    tcfg = TrainConfig(**{k: opts[k] for k in TRAIN_FIELDS},
                       checkpoint_every=args.checkpoint_every)
    data = (torch.from_numpy(ds.x_train), torch.from_numpy(ds.y_train),
            torch.from_numpy(ds.x_test), torch.from_numpy(ds.y_test))
    trainers = []
    for kind in models:
        if kind == "diffpc" and opts["rule"] == "onchip":
            trainer = OnChipTrainer(opts, data, tcfg, run_dir, engine=args.engine)
        else:
            trainer = Trainer(build_model(kind, opts, device=args.device, engine=args.engine),
                              kind, data, tcfg, run_dir, opts)
        ckpt = trainer.checkpoint_path
        if distributed.from_main(ckpt.exists()):  # several processes: rank 0's file decides
            if not args.resume:
                raise SystemExit(f"error: {ckpt} exists; pass --resume to continue that run "
                                 "or choose another --out")
            trainer.load(ckpt)
            print(f"resuming {kind} at epoch {trainer.epoch + 1}, batch {trainer.batch}")
        trainers.append(trainer)
    if distributed.is_main():
        write_json({"options": opts, "dataset": ds.name, "notes": ds.notes},
                   run_dir / "config.json")
    print(f"{opts['preset']}: {ds.name}, arch {opts['arch']}, "
          f"{network_steps(trainers)} steps/sample, {len(ds.x_train)} train / "
          f"{len(ds.x_test)} test samples"
          + (f", {len(held.x_test)} held-out" if held else "") + f", run folder {run_dir}")
    print(ROW_HEADER + (f"{'heldout %':>10}" if held else ""))
    for tr in trainers:
        for rec in tr.history:
            print(_row(rec))
    started, last_round = time.monotonic(), 0.0
    budget = 60 * args.max_minutes if args.max_minutes else float("inf")
    while not all(tr.finished for tr in trainers):
        if distributed.from_main(time.monotonic() - started + last_round > budget):
            print(f"stopping: the next epoch would end past --max-minutes {args.max_minutes}")
            break
        round_start = time.monotonic()
        for tr in trainers:
            if not tr.finished:
                record = tr.train_epoch(progress=not args.no_progress)
                if held is not None:
                    record["heldout_acc"] = _heldout_acc(tr, held, tcfg.eval_batch_size,
                                                         shard=True)
                    tr.save()
                print(_row(record), flush=True)
        last_round = time.monotonic() - round_start
        results = summarize(opts, ds, trainers)
        if distributed.is_main():
            write_json(results, run_dir / "results.json")
    for tr in trainers:
        if tr.name in ("diffpc", ONCHIP_NAME) and tr.last_stats:
            print("\nDiffPC communication, last training epoch (per neuron per sample):")
            print(tr.last_stats["train"].table())
            print("\nDiffPC communication, inference on the test set:")
            print(tr.last_stats["test"].table())
    results = summarize(opts, ds, trainers)
    if distributed.is_main():
        write_json(results, run_dir / "results.json")
    print(f"\nresults: {run_dir / 'results.json'}")
    return results


def _heldout_acc(trainer, held: Dataset, batch_size: int, shard: bool = False) -> float:
    if isinstance(trainer, OnChipTrainer):
        return trainer.evaluate(quantize_input(held.x_test, trainer.qparams.fmt), held.y_test)
    return evaluate(trainer.model, torch.from_numpy(held.x_test),
                    torch.from_numpy(held.y_test), batch_size=batch_size, shard=shard)


def network_steps(trainers: list[Trainer]) -> int:
    for tr in trainers:
        if tr.name in ("diffpc", ONCHIP_NAME):
            return tr.model.config.schedule.steps
    return 1


def summarize(opts: dict[str, Any], ds, trainers: list[Trainer]) -> dict[str, Any]:
    out: dict[str, Any] = {"options": opts, "dataset": ds.name, "notes": ds.notes,
                           "n_train": len(ds.x_train), "n_test": len(ds.x_test),
                           "n_heldout": max(int(opts.get("heldout", 0)), 0)}
    for tr in trainers:
        hist = tr.history
        out[tr.name] = {
            "history": hist,
            "final_test_acc": hist[-1]["test_acc"] if hist else None,
            "best_test_acc": max((h["test_acc"] for h in hist), default=None),
            "epochs_done": len(hist),
        }
        if opts.get("heldout", 0) > 0:
            out[tr.name]["final_heldout_acc"] = hist[-1].get("heldout_acc") if hist else None
            out[tr.name]["best_heldout_acc"] = max(
                (h["heldout_acc"] for h in hist if "heldout_acc" in h), default=None)
    return out


