"""``evaluate``: test (and held-out) accuracy and communication of a trained run, on any
backend: the float reference, the fast fixed-point simulator, the Lava graph or Loihi 2."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lava_diffpc.backends import BACKENDS, infer
from lava_diffpc.commands.common import add_common, load_data, split_heldout
from lava_diffpc.onchip import ONCHIP_NAME, load_qparams
from lava_diffpc.presets import parse_layers
from lava_diffpc.train import build_model, comm_stats_for, evaluate, write_json


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    ev = sub.add_parser("evaluate", help="test accuracy and communication of a trained run")
    ev.add_argument("run", help="run folder or checkpoint file")
    ev.add_argument("--json", default=None, help="write the results to this JSON file")
    ev.add_argument("--backend", default="reference", choices=BACKENDS,
                    help="DiffPC driver: float reference, fast fixed-point simulator, Lava "
                         "graph (float or fixed, CPU simulator), Loihi 2 (refused until "
                         "neuro-core models exist), or netx: the inference path exported as "
                         "'export --format netx' does, run on lava-dl's netx (fixed_pt)")
    add_common(ev)

    return ev


def _load_checkpoints(path: Path) -> list[dict[str, Any]]:
    files = [path] if path.is_file() else sorted(path.glob("checkpoint-*.pt"))
    if not files:
        raise SystemExit(f"error: no checkpoint-*.pt in {path}; train first")
    return [torch.load(f, map_location="cpu", weights_only=False) for f in files]


def run(args: argparse.Namespace) -> dict[str, Any]:
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
        if args.backend not in ("reference", "netx") and arch.convs:
            raise ValueError(f"--backend {args.backend} supports MLPs only; "
                             f"{opts['arch']} has convolutions")
        acc, stats = _accuracy(model, qparams, ds.x_test, ds.y_test, args, ds.x_train)
        print(f"{name}: test accuracy {100 * acc:.2f}% on {len(ds.x_test)} {ds.name} "
              f"test samples with {args.backend} (epochs trained: {state['epoch']})")
        results[name] = {"test_acc": acc, "epochs": state["epoch"], "backend": args.backend}
        if held is not None:
            results[name]["heldout_acc"], _ = _accuracy(model, qparams, held.x_test,
                                                        held.y_test, args, ds.x_train)
            print(f"{name}: held-out accuracy {100 * results[name]['heldout_acc']:.2f}% on "
                  f"{len(held.x_test)} training samples held out, with {args.backend}")
        if stats is not None:
            print(stats.table())
            results[name]["comm"] = stats.to_dict()
    if args.json:
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
                       progress=not args.no_progress)
        return acc, stats
    run = infer(model, x, args.backend, engine=args.engine, qparams=qparams,
                calibration=calibration)
    for note in run.notes:
        print(note)
    return float(np.mean(run.predictions == y)), run.stats


