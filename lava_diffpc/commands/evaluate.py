"""``evaluate``: test (and held-out) accuracy and communication of a trained run, on any
backend: the float reference, the fast fixed-point simulator, the Lava graph or Loihi 2."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lava_diffpc.backends import BACKENDS, infer
from lava_diffpc.commands.common import (
    add_common,
    heldout_record,
    load_data,
    show_progress,
    split_heldout,
)
from lava_diffpc.onchip import ONCHIP_NAME, load_qparams
from lava_diffpc.presets import parse_layers
from lava_diffpc.runfolder import CONFIG_NAME, check_file, read_config
from lava_diffpc.train import (
    TrainConfig,
    build_model,
    comm_stats_for,
    evaluate,
    read_checkpoint,
    write_json,
)


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    ev = sub.add_parser(
        "evaluate", help="test accuracy and communication of a trained run",
        description="Test (and held-out) accuracy of a trained run's checkpoints on one "
                    "backend, with the spikes it sends. The held-out split is the run's own "
                    "(from its config.json, checked). Exit codes: 0 done, 2 bad input (no or "
                    "a corrupt checkpoint, diverged weights, other data than the run's), 130 "
                    "interrupted.")
    ev.add_argument("run", help="run folder (every checkpoint-*.pt in it) or one checkpoint "
                                "file; the run's config.json gives its data: --limit-train, "
                                "held-out split and, unless --limit-test is given, test split")
    ev.add_argument("--json", default=None, metavar="FILE",
                    help="also write the results to this JSON file; default: none")
    ev.add_argument("--backend", default="reference", choices=BACKENDS,
                    help="DiffPC driver: float reference, fast fixed-point simulator, Lava "
                         "graph (float or fixed, CPU simulator), Loihi 2 (refused until "
                         "neuro-core models exist), or netx: the inference path exported as "
                         "'export --format netx' does, run on lava-dl's netx (fixed_pt); "
                         "baselines run on the reference only; default: reference")
    ev.add_argument("--as-diffpc", action="store_true",
                    help="run the baselines' weights (backprop, standard PC) through "
                         "DiffPC's feed-forward phase with the run's schedule, on --backend, "
                         "reported as NAME-as-diffpc: the accuracy and spikes of DiffPC "
                         "inference with weights it did not learn; DiffPC checkpoints run "
                         "as always; default: off")
    add_common(ev, limit_test_default="the run's (from its config.json), else all")

    return ev


def _load_checkpoints(path: Path) -> list[tuple[Path, dict[str, Any]]]:
    if not path.exists():
        raise ValueError(f"{path} does not exist; pass a run folder written by 'python -m "
                         "lava_diffpc train' or one of its checkpoint-*.pt files")
    files = [path] if path.is_file() else sorted(path.glob("checkpoint-*.pt"))
    if not files:
        raise ValueError(f"no checkpoint-*.pt in {path}; train first, or pass the run folder")
    return [(f, read_checkpoint(f)) for f in files]


def _check_finite(path: Path, state: dict[str, Any]) -> None:
    if "params" in state and not all(torch.isfinite(p).all() for p in state["params"]):
        raise ValueError(f"{path}: the {state['name']} weights hold NaN or inf (the run "
                         "diverged); train again with a lower --lr or with --clip")


def _run_data(run_dir: Path, opts: dict[str, Any], args: argparse.Namespace):
    """The run's data (config.json): its --limit-train, its --limit-test unless given
    here, and its held-out split, checked against the split the run recorded."""
    config = read_config(run_dir) or {}
    stored = config.get("run") or {}
    args.limit_train = stored.get("limit_train")
    if args.limit_test is None:
        args.limit_test = stored.get("limit_test")
    arch = parse_layers(opts["arch"])
    ds = load_data(opts["dataset"], args, flatten=not arch.convs)
    n_held, n_train = int(opts.get("heldout", 0)), len(ds.y_train)
    ds, held = split_heldout(ds, n_held)
    if n_held > 0:
        if "heldout" not in config:
            raise ValueError(f"{run_dir / CONFIG_NAME} does not record the run's held-out "
                             "split, so it cannot be reproduced; restore the file or retrain")
        now = heldout_record(n_train, n_held)
        if config["heldout"] != now:
            raise ValueError(f"the held-out split of the data loaded now ({now}) is not the "
                             f"run's ({config['heldout']} in {run_dir / CONFIG_NAME}); pass "
                             "the run's data (--data-dir)")
    return ds, held


def run(args: argparse.Namespace) -> dict[str, Any]:
    if args.json:
        check_file(Path(args.json))
    path = Path(args.run)
    run_dir = path if path.is_dir() else path.parent
    results: dict[str, Any] = {}
    for file, state in _load_checkpoints(path):
        _check_finite(file, state)
        opts, name = state["model_opts"], state["name"]
        as_diffpc = args.as_diffpc and name not in ("diffpc", ONCHIP_NAME)
        if args.backend != "reference" and not (name in ("diffpc", ONCHIP_NAME) or as_diffpc):
            print(f"{name}: skipped (--backend {args.backend} runs DiffPC only; "
                  "--as-diffpc runs its weights as DiffPC)")
            continue
        ds, held = _run_data(run_dir, opts, args)
        qparams = load_qparams(state) if name == ONCHIP_NAME else None
        if qparams is not None:  # the integer network; its float twin for float backends
            params = [(torch.from_numpy(w), torch.from_numpy(b))
                      for w, b in qparams.dequantize()]
            kind = "diffpc"
        else:
            params, kind = list(zip(state["params"][0::2], state["params"][1::2])), name
        if as_diffpc:
            kind, name = "diffpc", f"{name}-as-diffpc"
        samples = len(ds.x_test) + (len(held.x_test) if held else 0)
        batches = -(-samples // TrainConfig.eval_batch_size)  # evaluate()'s batches
        model = build_model(kind, opts, params=params, device=args.device, engine=args.engine,
                            batches=batches)
        acc, stats = _accuracy(model, qparams, ds.x_test, ds.y_test, args, ds.x_train)
        print(f"{name}: test accuracy {100 * acc:.2f}% on {len(ds.x_test)} {ds.name} "
              f"test samples with the {args.backend} backend (epochs trained: "
              f"{state['epoch']})")
        results[name] = {"backend": args.backend, "test_acc": acc, "epochs": state["epoch"]}
        if held is not None:
            results[name]["heldout_acc"], _ = _accuracy(model, qparams, held.x_test,
                                                        held.y_test, args, ds.x_train)
            print(f"{name}: held-out accuracy {100 * results[name]['heldout_acc']:.2f}% on "
                  f"the run's {len(held.x_test)} held-out training samples with the "
                  f"{args.backend} backend")
        if stats is not None:
            print(stats.table())
            results[name]["comm"] = stats.to_dict()
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        write_json(results, Path(args.json))
    return results


def _accuracy(model, qparams, x: np.ndarray, y: np.ndarray, args: argparse.Namespace,
              calibration: np.ndarray | None = None) -> tuple[float, Any]:
    """Test accuracy and spike counts of a checkpoint's model with ``args.backend``
    (``qparams``: the integers of an on-chip run, used as they are by the fixed backends;
    ``calibration``: the training samples that set the netx scales)."""
    if args.backend == "reference":
        stats = comm_stats_for(model)
        acc = evaluate(model, torch.from_numpy(x), torch.from_numpy(y), stats=stats,
                       progress=show_progress(args))
        return acc, stats
    run = infer(model, x, args.backend, engine=args.engine, qparams=qparams,
                calibration=calibration)
    for note in run.notes:
        print(note)
    return float(np.mean(run.predictions == y)), run.stats


