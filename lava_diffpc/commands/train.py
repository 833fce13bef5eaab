"""``train``: DiffPC (local rule or on-chip rule) and its baselines, epoch by epoch.

Starts from a named preset (default ``digits``, the embedded data set) and lets every option
override it; prints a table row per epoch, writes ``config.json``, ``results.json`` and
atomic checkpoints into the run folder; ``--resume`` continues an interrupted run exactly
where it stopped. Data-parallel when started by ``torchrun`` (:mod:`lava_diffpc.distributed`).

Everything is checked before the run folder is touched (options, data, the folder itself,
its lock, and on ``--resume`` the stored options): a refused start leaves no folder behind.
``--resume`` takes the run's stored options: ``train --out DIR --resume`` continues the run
in ``DIR`` as it was started (options left out are read from its ``config.json``; options
given must equal the stored ones). Only the budget (``--epochs``, ``--max-minutes``) and
how the run executes (``--device``, ``--engine``, ``--threads``, ``--data-dir``,
``--no-progress``) may change.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shlex
import time
from pathlib import Path
from typing import Any

import torch

from lava_diffpc import distributed
from lava_diffpc.commands.common import (
    OPTION_TYPES,
    TRAIN_FIELDS,
    add_common,
    check_arch,
    heldout_record,
    load_data,
    resolve_options,
    show_progress,
    split_heldout,
)
from lava_diffpc.commands.options import Parser, check_options, describe, flag
from lava_diffpc.data import Dataset
from lava_diffpc.fixed_point import quantize_input
from lava_diffpc.onchip import ONCHIP_NAME, OnChipTrainer
from lava_diffpc.presets import PRESETS, parse_layers
from lava_diffpc.reference.stability import stable_sigma
from lava_diffpc.runfolder import (
    CONFIG_NAME,
    RunLock,
    check_folder,
    open_run_folder,
    read_config,
)
from lava_diffpc.train import (
    MODEL_KINDS,
    TrainConfig,
    Trainer,
    build_model,
    evaluate,
    network_config,
    write_json,
)

# options added after runs were stored: the value those runs had
PREDATED = {"rotate": 0.0, "elastic": 0.0, "elastic_sigma": None, "bound_twin": False}
BUDGET = ("epochs",)  # stored options a resumed run may change (--max-minutes is not stored)
# what a fresh run takes for the options left out (None in the parsed arguments, so that a
# resumed run can take its stored values instead)
DEFAULTS = {"preset": "digits", "models": "diffpc,bp", "seed": 0, "checkpoint_every": 50}


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    tr = sub.add_parser(
        "train", help="train DiffPC (and the backprop baseline)",
        description="Train DiffPC and its baselines from a preset; every option below "
                    "overrides the preset's value. Time is counted in steps: a sample runs "
                    "(c1 + c2) * n steps, the threshold halving from 2**m over each n-step "
                    "cycle. Exit codes: 0 done, 1 the run failed (diverged, or a file could "
                    "not be written; the last good checkpoint is kept), 2 bad input, 130 "
                    "interrupted (continue with --resume).")
    tr.add_argument("--preset", default=None, choices=sorted(PRESETS),
                    help="named configuration the options start from ('python -m "
                         "lava_diffpc presets' lists them); default: digits")
    for name, typ in OPTION_TYPES.items():
        tr.add_argument(flag(name), type=typ, default=None, help=describe(name))
    tr.add_argument("--input-gate", action="store_true", default=None,
                    help="pass the input layer through the spiking-ReLU gate (negative inputs "
                         "send nothing); default: off, the input carries signed values")
    tr.add_argument("--augment", action=argparse.BooleanOptionalAction, default=None,
                    help="random shifts of the training images (crops of the zero-padded "
                         "image: 4 pixels on CIFAR-10, with horizontal flips; 2 on MNIST and "
                         "Fashion-MNIST, 1 on digits, no flips; --shift sets another "
                         "largest shift, --rotate adds rotations, --elastic elastic "
                         "distortions), the same for every model; "
                         "default: on for the CIFAR presets, off otherwise")
    tr.add_argument("--bound-twin", action="store_true", default=None,
                    help="a control: hold the backprop twins' W_2..W_L to DiffPC's "
                         "relaxation-gain bound (--max-gain) after every step as well, so "
                         "that they train under DiffPC's weight constraint; default: off, "
                         "the bound applies to DiffPC alone")
    tr.add_argument("--models", default=None,
                    help=f"comma list of the models to train: {', '.join(MODEL_KINDS)} "
                         "(DiffPC, its backprop twin with DiffPC's squared error, the twin "
                         "with cross-entropy, standard predictive coding); default: diffpc,bp")
    tr.add_argument("--seed", type=int, default=None,
                    help=describe("seed", "seed of the initial weights, the sample order and "
                                          "the dropout masks", 0))
    tr.add_argument("--out", default=None, metavar="DIR",
                    help="run folder for config.json, results.json and checkpoints; default: "
                         "runs/<preset>-s<seed>")
    tr.add_argument("--resume", action="store_true",
                    help="continue the run in --out from its checkpoints with its stored "
                         "options (those left out are read from the run folder; only --epochs "
                         "and --max-minutes may change); default: off")
    tr.add_argument("--checkpoint-every", type=int, default=None, metavar="N",
                    help=describe("checkpoint_every", "batches between checkpoints (one is "
                                                      "also written at each epoch's end)", 50))
    tr.add_argument("--limit-train", type=int, default=None, metavar="N",
                    help=describe("limit_train", "use only the first N training samples",
                                  "all"))
    tr.add_argument("--max-minutes", type=float, default=None, metavar="MIN",
                    help=describe("max_minutes", "wall-clock budget in minutes: stop before "
                                                 "an epoch that would end past it",
                                  "no limit"))
    add_common(tr)

    return tr


def parse_args(argv: list[str]) -> argparse.Namespace:
    """The ``train`` command's arguments alone (for programs that train, e.g. the demo)."""
    parser = Parser(prog="train")
    sub = parser.add_subparsers(dest="command", required=True)
    add_parser(sub)
    args = parser.parse_args(["train", *argv])
    args.argv = ["train", *argv]
    return args


def _row(rec: dict[str, Any]) -> str:
    comm = rec.get("train_comm", {})
    act = sum(comm[p]["activity_spikes_all"] for p in comm) if comm else float("nan")
    err = comm.get("learn", {}).get("error_spikes_all", float("nan"))
    held = f"{100 * rec['heldout_acc']:>10.2f}" if "heldout_acc" in rec else ""
    return (f"{rec['model']:<7}{rec['epoch']:>6}{100 * rec['train_acc']:>10.2f}"
            f"{100 * rec['test_acc']:>10.2f}{rec['train_samples_per_s']:>11.0f}"
            f"{act:>11.4f}{err:>11.4f}{held}  {rec.get('backend', '')}")


ROW_HEADER = (f"{'model':<7}{'epoch':>6}{'train %':>10}{'test %':>10}{'samples/s':>11}"
              f"{'act sp/n':>11}{'err sp/n':>11}")


def parse_models(text: str) -> list[str]:
    """``"diffpc,bp"`` -> ``["diffpc", "bp"]``; ValueError when empty, unknown or repeated."""
    models = [m.strip() for m in text.split(",") if m.strip()]
    if not models:
        raise ValueError(f"--models is empty; pass a comma list of {', '.join(MODEL_KINDS)}")
    for m in models:
        if m not in MODEL_KINDS:
            raise ValueError(f"--models takes {MODEL_KINDS}, got {m!r}")
    if len(set(models)) != len(models):
        raise ValueError(f"--models names a model twice: {text!r}")
    return models


def _normal(obj: Any) -> Any:
    """What ``obj`` becomes after a JSON round trip (tuples as lists, etc.)."""
    return json.loads(json.dumps(obj))


def _differences(stored: dict[str, Any], given: dict[str, Any], skip=()) -> list[str]:
    """The options that differ; an option a stored run predates counts as its default
    (:data:`PREDATED`), the value every run had before the option existed."""
    out = []
    for key in sorted(set(stored) | set(given)):
        if key in skip or key == "description":
            continue
        was = stored.get(key, PREDATED.get(key))
        if _normal(was) != _normal(given.get(key)):
            out.append(f"{flag(key)} {was} (run) vs {given.get(key)} (now)")
    return out


def _preflight(args: argparse.Namespace, run_dir: Path, opts: dict[str, Any],
               settings: dict[str, Any]) -> None:
    """What can be refused before the data load: the folder, its lock, the checkpoints'
    presence and, on --resume, the stored options."""
    check_folder(run_dir)
    RunLock(run_dir).check()
    found = sorted(run_dir.glob("checkpoint-*.pt")) if run_dir.is_dir() else []
    if not args.resume:
        if found:
            raise ValueError(f"{found[0]} exists; pass --resume to continue that run or "
                             "choose another --out")
        return
    if not found:
        raise ValueError(f"--resume: no checkpoint-*.pt in {run_dir} (the run never reached "
                         "its first checkpoint, or --out is wrong); start it without --resume")
    config = read_config(run_dir)
    if config is None:
        raise ValueError(f"--resume: {run_dir / CONFIG_NAME} is missing, so the run's options "
                         "cannot be checked; restore it or start over in another --out")
    diffs = _differences(config["options"], opts, skip=BUDGET)
    if "run" in config:
        diffs += _differences(config["run"], settings)
    if diffs:
        raise ValueError(f"--resume: options differ from the run in {run_dir}: "
                         f"{'; '.join(diffs)}; resume with the run's options (only --epochs "
                         "and --max-minutes may change) or choose another --out")


def _on_main(fn, *args) -> None:
    """Run a check on rank 0 and raise its ValueError on every rank."""
    problem = None
    if distributed.is_main():
        try:
            fn(*args)
        except ValueError as exc:
            problem = str(exc)
    problem = distributed.from_main(problem)
    if problem is not None:
        raise ValueError(problem)


def _command(args: argparse.Namespace, resume: bool) -> str:
    argv = [a for a in getattr(args, "argv", None) or ["train", "..."] if a != "--resume"]
    return "python -m lava_diffpc " + shlex.join(argv + (["--resume"] if resume else []))


def _interrupted(args: argparse.Namespace, trainers: list, current) -> KeyboardInterrupt:
    where = (f"interrupted at epoch {current.epoch + 1}, batch {current.batch} of "
             f"{current.name}" if current is not None else "interrupted between epochs")
    saved = [tr for tr in trainers if tr.saved_at is not None]
    if saved:
        last = ", ".join(f"{tr.name} at epoch {tr.saved_at[0] + 1}, batch {tr.saved_at[1]}"
                         for tr in saved)
        return KeyboardInterrupt(f"{where} (last checkpoint: {last}); continue with: "
                                 f"{_command(args, resume=True)}")
    return KeyboardInterrupt(f"{where}, before the first checkpoint (nothing kept); start "
                             f"again with: {_command(args, resume=False)}")


def _default_folder(preset: str, seed: int) -> str:
    """The run folder when --out is left out."""
    return f"runs/{preset}-s{seed}"


def _complete_args(args: argparse.Namespace, run_dir: Path | None = None) -> None:
    """Fill the options left out of the command line: on ``--resume`` from the run's
    ``config.json`` (so ``train --out DIR --resume`` alone continues a run), then from
    :data:`DEFAULTS`."""
    if args.resume:
        preset = args.preset or DEFAULTS["preset"]
        seed = DEFAULTS["seed"] if args.seed is None else args.seed
        folder = run_dir or Path(args.out or _default_folder(preset, seed))
        config = read_config(folder) if folder.is_dir() else None
        if config is not None:
            stored, settings = config["options"], config.get("run", {})
            for name in ("preset", "seed", "input_gate", "augment", *OPTION_TYPES):
                if getattr(args, name, None) is None and name in stored:
                    setattr(args, name, stored[name])
            if args.models is None and "models" in settings:
                args.models = ",".join(settings["models"])
            for name in ("limit_train", "limit_test", "checkpoint_every"):
                if getattr(args, name, None) is None and settings.get(name) is not None:
                    setattr(args, name, settings[name])
    for name, value in DEFAULTS.items():
        if getattr(args, name, None) is None:
            setattr(args, name, value)


def run(args: argparse.Namespace, opts: dict[str, Any] | None = None,
        run_dir: Path | None = None) -> dict[str, Any]:
    _complete_args(args, run_dir)
    opts = opts or resolve_options(args)
    check_options(opts)
    models = parse_models(args.models)
    if opts["rule"] == "onchip" and opts.get("augment"):
        raise ValueError("--rule onchip trains on the images as they are; pass --no-augment "
                         "(or use --rule local)")
    if opts.get("shift") is not None and not opts.get("augment"):
        raise ValueError(f"--shift {opts['shift']} sets the largest shift of --augment; pass "
                         "--augment as well (or leave --shift out)")
    if opts.get("rotate") and not opts.get("augment"):
        raise ValueError(f"--rotate {opts['rotate']} adds rotations to --augment; pass "
                         "--augment as well (or leave --rotate out)")
    if opts.get("elastic") and not opts.get("augment"):
        raise ValueError(f"--elastic {opts['elastic']} adds elastic distortions to --augment; "
                         "pass --augment as well (or leave --elastic out)")
    if opts.get("elastic_sigma") is not None and not opts.get("elastic"):
        raise ValueError(f"--elastic-sigma {opts['elastic_sigma']} smooths the distortions of "
                         "--elastic; pass --elastic as well (or leave --elastic-sigma out)")
    if opts.get("bound_twin") and not opts["max_gain"] > 0:
        raise ValueError("--bound-twin holds the backprop twins to the bound of --max-gain; "
                         "pass --max-gain as well (or leave --bound-twin out)")
    if opts.get("bound_twin") and not {"bp", "bp-ce"} & set(models):
        raise ValueError(f"--bound-twin bounds a backprop twin, and --models {args.models} "
                         "trains none; add bp or bp-ce to --models (or leave --bound-twin out)")
    if opts["rule"] == "onchip" and distributed.world_size() > 1:
        raise ValueError("--rule onchip trains sample by sample in one process; run it "
                         "without torchrun")
    network_config(opts)  # the schedule and architecture, before any data is read
    if opts["max_gain"] > 0:
        stable_sigma(float(opts["gamma"]), float(opts["max_gain"]))
    run_dir = run_dir or Path(args.out or _default_folder(opts["preset"], args.seed))
    settings = {"models": models, "limit_train": getattr(args, "limit_train", None),
                "limit_test": args.limit_test, "checkpoint_every": args.checkpoint_every}
    _on_main(_preflight, args, run_dir, opts, settings)
    arch = parse_layers(opts["arch"])
    ds = load_data(opts["dataset"], args, flatten=not arch.convs)
    check_arch(arch, ds)
    n_train = len(ds.y_train)
    ds, held = split_heldout(ds, int(opts.get("heldout", 0)))
    heldout = heldout_record(n_train, int(opts.get("heldout", 0)))
    if args.resume:
        _on_main(_check_heldout, run_dir, heldout)
    tcfg = TrainConfig(**{k: opts[k] for k in TRAIN_FIELDS},
                       checkpoint_every=args.checkpoint_every)
    data = (torch.from_numpy(ds.x_train), torch.from_numpy(ds.y_train),
            torch.from_numpy(ds.x_test), torch.from_numpy(ds.y_test))
    batches = tcfg.epochs * -(-len(ds.y_train) // tcfg.batch_size)  # "auto": compile?
    trainers = []
    for kind in models:
        if kind == "diffpc" and opts["rule"] == "onchip":
            trainer = OnChipTrainer(opts, data, tcfg, run_dir, engine=args.engine)
        else:
            trainer = Trainer(build_model(kind, opts, device=args.device, engine=args.engine,
                                          batches=batches), kind, data, tcfg, run_dir, opts,
                              image_shape=ds.image_shape)
        trainers.append(trainer)
    # rank 0 creates and locks the folder; the other ranks never write
    with open_run_folder(run_dir) if distributed.is_main() else contextlib.nullcontext():
        for trainer in trainers:
            ckpt = trainer.checkpoint_path
            if distributed.from_main(ckpt.exists()):  # several processes: rank 0's file decides
                trainer.load(ckpt)
                print(f"resuming {trainer.name} at epoch {trainer.epoch + 1}, batch "
                      f"{trainer.batch}")
        if distributed.is_main():
            write_json({"options": opts, "run": settings, "dataset": ds.name,
                        "notes": ds.notes, "heldout": heldout}, run_dir / CONFIG_NAME)
        return _train(args, opts, ds, held, trainers, tcfg, run_dir)


def _check_heldout(run_dir: Path, heldout: dict[str, Any] | None) -> None:
    config = read_config(run_dir)
    if config is not None and "heldout" in config and _normal(config["heldout"]) != heldout:
        raise ValueError(f"--resume: the held-out split of the data loaded now differs from "
                         f"the run's ({config['heldout']} in {run_dir / CONFIG_NAME}); resume "
                         "with the run's data (--data-dir) and options")


def _train(args: argparse.Namespace, opts: dict[str, Any], ds: Dataset, held: Dataset | None,
           trainers: list, tcfg: TrainConfig, run_dir: Path) -> dict[str, Any]:
    print(f"{opts['preset']}: {ds.name}, arch {opts['arch']}, "
          f"{network_steps(trainers)} steps/sample, {len(ds.x_train)} train / "
          f"{len(ds.x_test)} test samples"
          + (f", {len(held.x_test)} held-out" if held else "") + f", run folder {run_dir}")
    print(ROW_HEADER + (f"{'heldout %':>10}" if held else "") + "  backend")
    for tr in trainers:
        for rec in tr.history:
            print(_row(rec))
    progress = show_progress(args)
    started, last_round, current = time.monotonic(), 0.0, None
    budget = 60 * args.max_minutes if args.max_minutes else float("inf")
    try:
        while not all(tr.finished for tr in trainers):
            if distributed.from_main(time.monotonic() - started + last_round > budget):
                print(f"stopping: the next epoch would end past --max-minutes "
                      f"{args.max_minutes}")
                break
            round_start = time.monotonic()
            for tr in trainers:
                if not tr.finished:
                    current = tr
                    record = tr.train_epoch(progress=progress)
                    if held is not None:
                        record["heldout_acc"] = _heldout_acc(tr, held, tcfg.eval_batch_size,
                                                             shard=True)
                        tr.save()
                    print(_row(record), flush=True)
            current = None
            last_round = time.monotonic() - round_start
            results = summarize(opts, ds, trainers)
            if distributed.is_main():
                write_json(results, run_dir / "results.json")
    except KeyboardInterrupt:
        raise _interrupted(args, trainers, current) from None
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
            "backend": hist[-1]["backend"] if hist else None,
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


