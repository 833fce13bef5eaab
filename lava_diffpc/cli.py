"""Command line: ``python -m lava_diffpc {train,evaluate,align,figures,demo,presets}``.

``train`` starts from a named preset (default ``digits``, the embedded data set) and lets
every option override it; it trains DiffPC and/or the backprop baseline epoch by epoch,
prints a table row per epoch, writes ``results.json`` and atomic checkpoints into the run
folder, and ``--resume`` continues an interrupted run exactly where it stopped.
``align`` compares DiffPC's local gradients with backprop's layer by layer (the tool for
choosing the threshold exponent m); ``figures`` draws accuracy curves, spike histograms and
the threshold schedule as PNG files.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lava_diffpc import distributed
from lava_diffpc.backends import BACKENDS, infer
from lava_diffpc.data import DATA_ENV, Dataset, held_out_split, load_dataset, validate_batch
from lava_diffpc.engine.step import ENGINE_CHOICES
from lava_diffpc.fixed_point import quantize_input
from lava_diffpc.onchip import ONCHIP_NAME, OnChipTrainer, load_qparams
from lava_diffpc.presets import COMMON, PRESETS, NetArch, parse_layers, preset
from lava_diffpc.train import (
    MODEL_KINDS,
    TrainConfig,
    Trainer,
    build_model,
    comm_stats_for,
    evaluate,
    write_json,
)

FIGURE_KINDS = ("accuracy", "spikes", "schedule")
OPTION_TYPES: dict[str, Any] = {
    "dataset": str, "arch": str, "m": int, "n": int, "c1": int, "c2": int, "schedule": str,
    "a": float, "gamma": float, "gamma_mode": str, "presyn": str, "target_scale": float,
    "dropout": float, "optimizer": str, "lr": float, "weight_decay": float, "clip": float,
    "lr_schedule": str, "batch_size": int, "epochs": int, "bp_loss": str, "heldout": int,
    "rule": str, "lr_shift": int, "err_shift": int, "headroom": int,
}
OPTION_HELP = {
    "rule": "how DiffPC learns: 'local' (the float reference's local gradients with the "
            "optimizer, on batches) or 'onchip' (the integer on-chip rule in the fast "
            "fixed-point simulator: per-sample updates, 8-bit weights, bit-exact with the Lava "
            "fixed_pt graph; presyn x_A, no dropout; --batch-size then only sets the progress "
            "and checkpoint chunk) (default local)",
    "lr_shift": "on-chip rule: learning rate 2**-lr_shift (default 7)",
    "err_shift": "on-chip rule: the 8-bit error factor is e_T in units of 2**(err_shift - 12) "
                 "(default 5)",
    "headroom": "on-chip rule: bits the initial weights leave free to grow before the 8-bit "
                "mantissas saturate (default 2)",
    "heldout": "hold out N random training samples (seed 0), train on the rest and report "
               "accuracy on them (heldout_acc) as well as on the test split (test_acc); "
               "0: off (CIFAR presets: 5000)",
}
RULES = ("local", "onchip")
HELDOUT_SEED = 0  # the held-out slice is part of the data set, the same for every --seed
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
    p.add_argument("--engine", default="auto", choices=ENGINE_CHOICES,
                   help="how DiffPC's network step runs: fast (event-driven, still layers "
                        "skipped), compiled (the same with torch.compile'd kernels; tens of "
                        "seconds to compile once per process), plain (every layer every step); "
                        "auto picks compiled for large batches x layers (default: auto). "
                        "All give the same results.")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m lava_diffpc", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    tr = sub.add_parser("train", help="train DiffPC (and the backprop baseline)")
    tr.add_argument("--preset", default="digits", choices=sorted(PRESETS))
    for name, typ in OPTION_TYPES.items():
        flag = "--" + name.replace("_", "-")
        tr.add_argument(flag, type=typ, default=None, help=OPTION_HELP.get(
            name, f"override the preset (common default: {COMMON.get(name, '-')})"))
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
    ev.add_argument("--backend", default="reference", choices=BACKENDS,
                    help="DiffPC driver: float reference, fast fixed-point simulator, Lava "
                         "graph (float or fixed, CPU simulator) or Loihi 2 (needs lava-loihi)")
    _add_common(ev)

    al = sub.add_parser("align", help="per-layer cosine of DiffPC's local gradients with "
                                      "backprop's, for the preset and variants of it")
    al.add_argument("--preset", default="digits", choices=sorted(PRESETS))
    al.add_argument("--variant", action="append", default=[],
                    help="options to change, e.g. 'm=-2' or 'm=-3,target_scale=2' "
                         "(repeatable; the preset itself is always the first row)")
    al.add_argument("--warmup-batches", type=int, default=100,
                    help="backprop AdamW steps before comparing (0: at initialisation)")
    al.add_argument("--batch-size", type=int, default=256)
    al.add_argument("--seed", type=int, default=0)
    _add_common(al)

    fig = sub.add_parser("figures", help="PNG figures: accuracy curves, per-layer spike "
                                         "histograms, threshold schedules")
    fig.add_argument("runs", nargs="*", help="run folders (results.json, checkpoint-diffpc.pt)")
    fig.add_argument("--schedules", nargs="*", default=None, metavar="PRESET",
                     help="presets whose threshold schedule to draw (default: the runs' "
                          "presets, or all presets when no run is given)")
    fig.add_argument("--samples", type=int, default=1000,
                     help="test samples for the spike histograms")
    fig.add_argument("--what", nargs="+", default=list(FIGURE_KINDS), choices=FIGURE_KINDS,
                     help="which figures to draw (default all)")
    fig.add_argument("--out", default="docs/figures")
    _add_common(fig)

    demo = sub.add_parser("demo", help="the embedded-default story on scikit-learn digits")
    demo.add_argument("--out", default="runs/demo")
    demo.add_argument("--epochs", type=int, default=None,
                      help="epochs of the float reference and backprop (default 5)")
    demo.add_argument("--lava-samples", type=int, default=None,
                      help="train the Lava graph on the first N samples only (default all)")

    be = sub.add_parser("bench", help="throughput of DiffPC, its backprop twin and standard PC "
                                      "on this machine (table + JSON)")
    be.add_argument("--quick", action="store_true",
                    help="one preset, two timed batches, a small sweep: under two minutes")
    be.add_argument("--presets", nargs="+", default=None, choices=sorted(PRESETS),
                    help="presets to time (default: mnist-s fmnist-m mnist-l cifar-efficient; "
                         "--quick: mnist-s)")
    be.add_argument("--warm-batches", type=int, default=20,
                    help="untimed training batches per model before timing (default 20)")
    be.add_argument("--rounds", type=int, default=5,
                    help="timed batches per model; the fastest counts (default 5)")
    be.add_argument("--no-fixed", action="store_true", help="skip the fixed-point rows")
    be.add_argument("--no-sweep", action="store_true", help="skip the cost-follows-spikes sweep")
    be.add_argument("--json", default="bench.json", help="where to write the results")
    be.add_argument("--figure", default=None,
                    help="PNG of the sweep (time per sample against spikes per sample)")
    be.add_argument("--data-dir", default=None,
                    help=f"folder with MNIST/, FashionMNIST/, cifar10/ (default: ${DATA_ENV} "
                         "or ./data)")
    be.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    be.add_argument("--device", default="cpu", help="cpu or cuda for the preset rows")
    be.add_argument("--engine", default="auto", choices=ENGINE_CHOICES,
                    help="DiffPC's engine (default auto: compiled for large batches)")

    rp = sub.add_parser("report", help="regenerate the result tables of the README and docs "
                                       "from the JSON files in docs/results")
    rp.add_argument("files", nargs="*", default=["README.md", "docs/results.md"],
                    help="Markdown files whose <!-- report:NAME --> blocks to rewrite "
                         "(default: README.md docs/results.md)")
    rp.add_argument("--results", default="docs/results", help="folder of the JSON results")

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


def load_data(name: str, args: argparse.Namespace, flatten: bool = True) -> Dataset:
    """The data set, flattened to (N, C*H*W) for an MLP or (N, C, H, W) for a conv net."""
    ds = load_dataset(name, args.data_dir, flatten=flatten, download=args.download,
                      limit_train=getattr(args, "limit_train", None), limit_test=args.limit_test)
    for x, y in ((ds.x_train, ds.y_train), (ds.x_test, ds.y_test)):
        validate_batch(x.reshape(len(x), -1), y, ds.n_features, ds.n_classes)
    return ds


def split_heldout(ds: Dataset, n: int) -> tuple[Dataset, Dataset | None]:
    """``(train + official test, held-out)`` with ``n`` training samples held out.

    :func:`~lava_diffpc.data.held_out_split` moves ``n`` random training samples
    (seed :data:`HELDOUT_SEED`) into a held-out split and re-standardises with the rest's
    statistics; the official test split gets the same standardisation,
    ``x' = (x - mean_z) / std_z`` per channel with ``mean_z = (mean' - mean) / std`` and
    ``std_z = std' / std``. ``n = 0``: ``(ds, None)``.
    """
    if n <= 0:
        return ds, None
    held = held_out_split(ds, n, seed=HELDOUT_SEED)
    mean_z = (held.mean - ds.mean) / ds.std
    std_z = held.std / ds.std
    x_test = ds.x_test.reshape(len(ds.x_test), len(mean_z), -1)
    x_test = ((x_test - mean_z[None, :, None]) / std_z[None, :, None]).astype(ds.x_test.dtype)
    notes = (f"{held.notes} Accuracies: test_acc on the {len(ds.x_test)} samples of {ds.name}'s "
             f"test split, heldout_acc on the {n} held-out training samples; both "
             "standardised with the statistics of the remaining training samples. "
             f"{ds.notes}").strip()
    main = replace(held, name=ds.name, x_test=x_test.reshape(ds.x_test.shape),
                   y_test=ds.y_test, notes=notes)
    return main, held


def _check_arch(arch: NetArch, ds: Dataset) -> None:
    sizes = arch.sizes
    if sizes[0] != ds.n_features or sizes[-1] != ds.n_classes:
        raise SystemExit(f"error: --arch {'-'.join(map(str, sizes))} does not fit {ds.name}: "
                         f"it needs {ds.n_features} inputs and {ds.n_classes} outputs")
    if arch.convs and arch.input_shape != ds.image_shape:
        raise SystemExit(f"error: --arch input {'x'.join(map(str, arch.input_shape))} does not "
                         f"fit {ds.name}'s {'x'.join(map(str, ds.image_shape))} images")


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


def cmd_train(args: argparse.Namespace, opts: dict[str, Any] | None = None,
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
    ds = load_data(opts["dataset"], args, flatten=not arch.convs)
    _check_arch(arch, ds)
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


def _load_checkpoints(path: Path) -> list[dict[str, Any]]:
    files = [path] if path.is_file() else sorted(path.glob("checkpoint-*.pt"))
    if not files:
        raise SystemExit(f"error: no checkpoint-*.pt in {path}; train first")
    return [torch.load(f, map_location="cpu", weights_only=False) for f in files]


def cmd_evaluate(args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for state in _load_checkpoints(Path(args.run)):
        opts, name = state["model_opts"], state["name"]
        arch = parse_layers(opts["arch"])
        ds, held = split_heldout(load_data(opts["dataset"], args, flatten=not arch.convs),
                                 int(opts.get("heldout", 0)))
        qparams = load_qparams(state) if name == ONCHIP_NAME else None
        if qparams is not None:  # the integer network; its float twin for float backends
            params = [(torch.from_numpy(w), torch.from_numpy(b))
                      for w, b in qparams.dequantize()]
            kind = "diffpc"
        else:
            params, kind = list(zip(state["params"][0::2], state["params"][1::2])), name
        model = build_model(kind, opts, params=params, device=args.device, engine=args.engine)
        if args.backend != "reference" and kind != "diffpc":
            print(f"{name}: skipped (--backend {args.backend} runs DiffPC only)")
            continue
        if args.backend != "reference" and arch.convs:
            raise ValueError(f"--backend {args.backend} supports MLPs only; "
                             f"{opts['arch']} has convolutions")
        acc, stats = _accuracy(model, qparams, ds.x_test, ds.y_test, args)
        print(f"{name}: test accuracy {100 * acc:.2f}% on {len(ds.x_test)} {ds.name} "
              f"test samples with {args.backend} (epochs trained: {state['epoch']})")
        results[name] = {"test_acc": acc, "epochs": state["epoch"], "backend": args.backend}
        if held is not None:
            results[name]["heldout_acc"], _ = _accuracy(model, qparams, held.x_test,
                                                        held.y_test, args)
            print(f"{name}: held-out accuracy {100 * results[name]['heldout_acc']:.2f}% on "
                  f"{len(held.x_test)} training samples held out, with {args.backend}")
        if stats is not None:
            print(stats.table())
            results[name]["comm"] = stats.to_dict()
    if args.json:
        write_json(results, Path(args.json))
    return results


def _accuracy(model, qparams, x: np.ndarray, y: np.ndarray,
              args: argparse.Namespace) -> tuple[float, Any]:
    """Test accuracy and spike counts of a checkpoint's model with ``args.backend``
    (``qparams``: the integers of an on-chip run, used as they are by the fixed backends)."""
    if args.backend == "reference":
        stats = comm_stats_for(model)
        acc = evaluate(model, torch.from_numpy(x), torch.from_numpy(y), stats=stats,
                       progress=not args.no_progress)
        return acc, stats
    run = infer(model, x, args.backend, engine=args.engine, qparams=qparams)
    return float(np.mean(run.predictions == y)), run.stats


def parse_variant(text: str) -> dict[str, Any]:
    """``"m=-3,target_scale=2"`` -> ``{"m": -3, "target_scale": 2.0}`` (train option types)."""
    out: dict[str, Any] = {}
    for item in filter(None, (t.strip() for t in text.split(","))):
        key, sep, value = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or key not in OPTION_TYPES:
            raise ValueError(f"bad --variant item {item!r}: expected name=value with a name "
                             f"from {sorted(OPTION_TYPES)}")
        out[key] = OPTION_TYPES[key](value.strip())
    return out


def cmd_align(args: argparse.Namespace) -> None:
    from lava_diffpc.alignment import backprop_warmup, format_table, gradient_alignment

    base = {**preset(args.preset), "seed": args.seed}
    variants = [("preset", {})] + [(v, parse_variant(v)) for v in args.variant]
    arch = parse_layers(base["arch"])
    ds = load_data(base["dataset"], args, flatten=not arch.convs)
    _check_arch(arch, ds)
    x, y = torch.from_numpy(ds.x_train), torch.from_numpy(ds.y_train)
    if len(x) < 2 * args.batch_size:
        raise ValueError(f"--batch-size {args.batch_size} needs >= {2 * args.batch_size} "
                         f"training samples, {ds.name} has {len(x)}")
    probe = slice(len(x) - args.batch_size, len(x))  # never seen by the warm-up
    rows = []
    for name, variant in variants:  # the warm-up trains towards the variant's own target
        opts = {**base, **variant}
        params = backprop_warmup(opts, x[:probe.start], y[:probe.start], args.warmup_batches,
                                 args.batch_size, device=args.device)
        rows.append((name, gradient_alignment(opts, params, x[probe], y[probe], args.device)))
    print(f"{args.preset}: {ds.name} {base['arch']}, {args.batch_size} training samples, "
          f"weights after {args.warmup_batches} backprop batches (seed {args.seed})")
    print(format_table(rows))


def cmd_figures(args: argparse.Namespace) -> None:
    from lava_diffpc import figures

    for path in figures.draw_all(args):
        print(path)


def cmd_demo(args: argparse.Namespace) -> None:
    from lava_diffpc import demo

    demo.main(args)


def cmd_bench(args: argparse.Namespace) -> None:
    from lava_diffpc import bench

    for name, value in (("--warm-batches", args.warm_batches), ("--rounds", args.rounds)):
        if value < (0 if name == "--warm-batches" else 1):
            raise ValueError(f"{name} must be >= {0 if name == '--warm-batches' else 1}, "
                             f"got {value}")
    doc = bench.run(args)
    bench.write_json(doc, Path(args.json))
    print(f"results: {args.json}")
    if args.figure and doc["sweep"]:
        print(f"figure: {bench.plot_sweep(doc['sweep'], Path(args.figure))}")


def cmd_report(args: argparse.Namespace) -> None:
    from lava_diffpc import report

    changed = report.update([Path(f) for f in args.files], Path(args.results))
    for path in args.files:
        print(f"{path}: {'updated' if Path(path) in changed else 'unchanged'}")


def cmd_presets() -> None:
    for name, p in PRESETS.items():
        print(f"{name:<10} {p['description']}")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "threads", None):
        torch.set_num_threads(args.threads)
    try:
        if args.command == "train":  # data-parallel when started by torchrun
            with distributed.session(args.device) as args.device:
                cmd_train(args)
        elif args.command == "evaluate":
            cmd_evaluate(args)
        elif args.command == "align":
            cmd_align(args)
        elif args.command == "figures":
            cmd_figures(args)
        elif args.command == "demo":
            cmd_demo(args)
        elif args.command == "bench":
            cmd_bench(args)
        elif args.command == "report":
            cmd_report(args)
        else:
            cmd_presets()
    except (ValueError, FileNotFoundError, ImportError, RuntimeError) as exc:
        # bad input, missing data, wrong Python for Lava, missing Loihi 2 backend
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
