"""Command line: ``python -m lava_diffpc {train,evaluate,demo,presets}``.

``train`` starts from a named preset (default ``digits``, the embedded data set) and lets
every option override it; it trains DiffPC and/or the backprop baseline epoch by epoch,
prints a table row per epoch, writes ``results.json`` and atomic checkpoints into the run
folder, and ``--resume`` continues an interrupted run exactly where it stopped.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import torch

from lava_diffpc.data import DATA_ENV, load_dataset, validate_batch
from lava_diffpc.presets import COMMON, PRESETS, parse_arch, preset
from lava_diffpc.train import (
    MODEL_KINDS,
    TrainConfig,
    Trainer,
    build_model,
    comm_stats_for,
    evaluate,
    write_json,
)

OPTION_TYPES: dict[str, Any] = {
    "dataset": str, "arch": str, "m": int, "n": int, "c1": int, "c2": int, "schedule": str,
    "a": float, "gamma": float, "gamma_mode": str, "presyn": str, "target_scale": float,
    "dropout": float, "optimizer": str, "lr": float, "weight_decay": float, "clip": float,
    "lr_schedule": str, "batch_size": int, "epochs": int, "bp_loss": str,
}
TRAIN_FIELDS = ("epochs", "batch_size", "optimizer", "lr", "weight_decay", "clip",
                "lr_schedule", "seed")


def _add_common(p: argparse.ArgumentParser) -> None:
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m lava_diffpc", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    tr = sub.add_parser("train", help="train DiffPC (and the backprop baseline)")
    tr.add_argument("--preset", default="digits", choices=sorted(PRESETS))
    for name, typ in OPTION_TYPES.items():
        flag = "--" + name.replace("_", "-")
        tr.add_argument(flag, type=typ, default=None,
                        help=f"override the preset (common default: {COMMON.get(name, '-')})")
    tr.add_argument("--input-gate", action="store_true", default=None,
                    help="spiking-ReLU gate on the input layer (default off: signed input)")
    tr.add_argument("--models", default="diffpc,bp", help="comma list of diffpc, bp")
    tr.add_argument("--seed", type=int, default=0)
    tr.add_argument("--out", default=None, help="run folder (default runs/<preset>-s<seed>)")
    tr.add_argument("--resume", action="store_true", help="continue the run in --out")
    tr.add_argument("--checkpoint-every", type=int, default=50, help="batches between checkpoints")
    tr.add_argument("--limit-train", type=int, default=None, help="use the first N train samples")
    tr.add_argument("--max-minutes", type=float, default=None,
                    help="stop before an epoch that would end past this wall-clock budget")
    _add_common(tr)

    ev = sub.add_parser("evaluate", help="test accuracy and communication of a trained run")
    ev.add_argument("run", help="run folder or checkpoint file")
    ev.add_argument("--json", default=None, help="write the results to this JSON file")
    _add_common(ev)

    demo = sub.add_parser("demo", help="the embedded-default story on scikit-learn digits")
    demo.add_argument("--out", default="runs/demo")
    demo.add_argument("--epochs", type=int, default=None)

    sub.add_parser("presets", help="list the named presets")
    return parser


def resolve_options(args: argparse.Namespace) -> dict[str, Any]:
    """Preset values overlaid with every option given on the command line."""
    opts = preset(args.preset)
    for name in OPTION_TYPES:
        value = getattr(args, name)
        if value is not None:
            opts[name] = value
    if args.input_gate:
        opts["input_gate"] = True
    opts["seed"] = args.seed
    return opts


def load_data(name: str, args: argparse.Namespace, flatten: bool = True):
    ds = load_dataset(name, args.data_dir, flatten=flatten, download=args.download,
                      limit_train=getattr(args, "limit_train", None), limit_test=args.limit_test)
    for x, y in ((ds.x_train, ds.y_train), (ds.x_test, ds.y_test)):
        validate_batch(x, y, ds.n_features, ds.n_classes)
    return ds


def _check_arch(sizes: tuple[int, ...], ds) -> None:
    if sizes[0] != ds.n_features or sizes[-1] != ds.n_classes:
        raise SystemExit(f"error: --arch {'-'.join(map(str, sizes))} does not fit {ds.name}: "
                         f"it needs {ds.n_features} inputs and {ds.n_classes} outputs")


def _row(rec: dict[str, Any]) -> str:
    comm = rec.get("train_comm", {})
    act = sum(comm[p]["activity_spikes_all"] for p in comm) if comm else float("nan")
    err = comm.get("learn", {}).get("error_spikes_all", float("nan"))
    return (f"{rec['model']:<7}{rec['epoch']:>6}{100 * rec['train_acc']:>10.2f}"
            f"{100 * rec['test_acc']:>10.2f}{rec['train_samples_per_s']:>11.0f}"
            f"{act:>11.4f}{err:>11.4f}")


ROW_HEADER = (f"{'model':<7}{'epoch':>6}{'train %':>10}{'test %':>10}{'samples/s':>11}"
              f"{'act sp/n':>11}{'err sp/n':>11}")


def cmd_train(args: argparse.Namespace, opts: dict[str, Any] | None = None,
              run_dir: Path | None = None) -> dict[str, Any]:
    opts = opts or resolve_options(args)
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    for m in models:
        if m not in MODEL_KINDS:
            raise SystemExit(f"error: --models takes {MODEL_KINDS}, got {m!r}")
    ds = load_data(opts["dataset"], args)
    _check_arch(parse_arch(opts["arch"]), ds)
    run_dir = run_dir or Path(args.out or f"runs/{opts['preset']}-s{args.seed}")
    run_dir.mkdir(parents=True, exist_ok=True)
    tcfg = TrainConfig(**{k: opts[k] for k in TRAIN_FIELDS},
                       checkpoint_every=args.checkpoint_every)
    data = (torch.from_numpy(ds.x_train), torch.from_numpy(ds.y_train),
            torch.from_numpy(ds.x_test), torch.from_numpy(ds.y_test))
    trainers = []
    for kind in models:
        trainer = Trainer(build_model(kind, opts, device=args.device), kind, data, tcfg,
                          run_dir, opts)
        ckpt = trainer.checkpoint_path
        if ckpt.exists():
            if not args.resume:
                raise SystemExit(f"error: {ckpt} exists; pass --resume to continue that run "
                                 "or choose another --out")
            trainer.load(ckpt)
            print(f"resuming {kind} at epoch {trainer.epoch + 1}, batch {trainer.batch}")
        trainers.append(trainer)
    write_json({"options": opts, "dataset": ds.name, "notes": ds.notes}, run_dir / "config.json")
    print(f"{opts['preset']}: {ds.name}, arch {opts['arch']}, "
          f"{network_steps(trainers)} steps/sample, {len(ds.x_train)} train / "
          f"{len(ds.x_test)} test samples, run folder {run_dir}")
    print(ROW_HEADER)
    for tr in trainers:
        for rec in tr.history:
            print(_row(rec))
    started, last_round = time.monotonic(), 0.0
    budget = 60 * args.max_minutes if args.max_minutes else float("inf")
    while not all(tr.finished for tr in trainers):
        if time.monotonic() - started + last_round > budget:
            print(f"stopping: the next epoch would end past --max-minutes {args.max_minutes}")
            break
        round_start = time.monotonic()
        for tr in trainers:
            if not tr.finished:
                print(_row(tr.train_epoch(progress=not args.no_progress)), flush=True)
        last_round = time.monotonic() - round_start
        results = summarize(opts, ds, trainers)
        write_json(results, run_dir / "results.json")
    for tr in trainers:
        if tr.name == "diffpc" and tr.last_stats:
            print("\nDiffPC communication, last training epoch (per neuron per sample):")
            print(tr.last_stats["train"].table())
            print("\nDiffPC communication, inference on the test set:")
            print(tr.last_stats["test"].table())
    results = summarize(opts, ds, trainers)
    write_json(results, run_dir / "results.json")
    print(f"\nresults: {run_dir / 'results.json'}")
    return results


def network_steps(trainers: list[Trainer]) -> int:
    for tr in trainers:
        if tr.name == "diffpc":
            return tr.model.config.schedule.steps
    return 1


def summarize(opts: dict[str, Any], ds, trainers: list[Trainer]) -> dict[str, Any]:
    out: dict[str, Any] = {"options": opts, "dataset": ds.name, "notes": ds.notes,
                           "n_train": len(ds.x_train), "n_test": len(ds.x_test)}
    for tr in trainers:
        hist = tr.history
        out[tr.name] = {
            "history": hist,
            "final_test_acc": hist[-1]["test_acc"] if hist else None,
            "best_test_acc": max((h["test_acc"] for h in hist), default=None),
            "epochs_done": len(hist),
        }
    return out


def _load_checkpoints(path: Path) -> list[dict[str, Any]]:
    files = [path] if path.is_file() else sorted(path.glob("checkpoint-*.pt"))
    if not files:
        raise SystemExit(f"error: no checkpoint-*.pt in {path}; train first")
    return [torch.load(f, map_location="cpu", weights_only=False) for f in files]


def cmd_evaluate(args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for state in _load_checkpoints(Path(args.run)):
        opts = state["model_opts"]
        ds = load_data(opts["dataset"], args)
        params = list(zip(state["params"][0::2], state["params"][1::2]))
        model = build_model(state["name"], opts, params=params, device=args.device)
        stats = comm_stats_for(model)
        acc = evaluate(model, torch.from_numpy(ds.x_test), torch.from_numpy(ds.y_test),
                       stats=stats, progress=not args.no_progress)
        print(f"{state['name']}: test accuracy {100 * acc:.2f}% on {len(ds.x_test)} {ds.name} "
              f"test samples (epochs trained: {state['epoch']})")
        results[state["name"]] = {"test_acc": acc, "epochs": state["epoch"]}
        if stats is not None:
            print(stats.table())
            results[state["name"]]["comm"] = stats.to_dict()
    if args.json:
        write_json(results, Path(args.json))
    return results


def cmd_demo(args: argparse.Namespace) -> None:
    run_dir = Path(args.out)
    for old in run_dir.glob("checkpoint-*.pt"):
        old.unlink()
    parser = build_parser()
    targs = parser.parse_args(["train", "--preset", "digits", "--out", str(run_dir)]
                              + (["--epochs", str(args.epochs)] if args.epochs else []))
    results = cmd_train(targs)
    d, b = results["diffpc"], results["bp"]
    print(f"\ndigits test accuracy: DiffPC {100 * d['final_test_acc']:.2f}% "
          f"(best {100 * d['best_test_acc']:.2f}%), backprop {100 * b['final_test_acc']:.2f}% "
          f"(best {100 * b['best_test_acc']:.2f}%)")


def cmd_presets() -> None:
    for name, p in PRESETS.items():
        print(f"{name:<10} {p['description']}")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "threads", None):
        torch.set_num_threads(args.threads)
    try:
        if args.command == "train":
            cmd_train(args)
        elif args.command == "evaluate":
            cmd_evaluate(args)
        elif args.command == "demo":
            cmd_demo(args)
        else:
            cmd_presets()
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
