"""``align``: per-layer cosine of DiffPC's local weight updates with backprop's, for a
preset and variants of it (the tool for choosing the threshold exponent m), at weights
warmed up with backprop or at a trained run's checkpoint."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import torch

from lava_diffpc.commands.common import OPTION_TYPES, add_common, check_arch, load_data
from lava_diffpc.commands.options import check_value, describe
from lava_diffpc.presets import PRESETS, parse_layers, preset
from lava_diffpc.train import network_config, read_checkpoint, write_json


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    al = sub.add_parser(
        "align", help="per-layer cosine of DiffPC's local gradients with backprop's, for "
                      "the preset and variants of it",
        description="Warm a network up with backprop (or take a trained run's checkpoint), "
                    "then compare DiffPC's local weight updates with backprop's gradients on "
                    "held-back samples, layer by layer (cosine and norm ratio, with each "
                    "matrix's largest singular value and each hidden layer's relaxation gain, "
                    "stable below 2), for the preset and each --variant. Exit codes: 0 done, "
                    "2 bad input, 130 interrupted.")
    al.add_argument("--preset", default=None, choices=sorted(PRESETS),
                    help="the configuration to start from; default: digits, or the "
                         "checkpoint's options with --checkpoint")
    al.add_argument("--checkpoint", type=Path, default=None, metavar="FILE",
                    help="compare at the weights of this float checkpoint "
                         "(RUN/checkpoint-diffpc.pt or checkpoint-bp.pt written by train) "
                         "instead of a backprop warm-up; default: none")
    al.add_argument("--variant", action="append", default=[], metavar="NAME=VALUE,...",
                    help="training options to change for one more row, e.g. 'm=-2' or "
                         "'m=-3,target_scale=2' (names as in 'train --help', which gives "
                         "their ranges; only the options of the network, its schedule and its "
                         f"target apply: {', '.join(VARIANT_KEYS)}); repeatable; the preset "
                         "(or, with --checkpoint, the run's options: row 'as trained') is "
                         "always the first row; default: that row alone")
    al.add_argument("--warmup-batches", type=int, default=100, metavar="N",
                    help=describe("warmup_batches", "backprop AdamW steps before comparing "
                                                    "(0: compare at initialisation)", 100))
    al.add_argument("--batch-size", type=int, default=256, metavar="N",
                    help=describe("batch_size", "samples per warm-up step and in the compared "
                                                "batch", 256))
    al.add_argument("--seed", type=int, default=0,
                    help=describe("seed", "seed of the initial weights", 0))
    al.add_argument("--json", type=Path, default=None, metavar="FILE",
                    help="also store the table as entry --entry of FILE's 'align' object (a "
                         "results file under docs/results; created if missing, other keys "
                         "kept, an entry of the same name replaced); default: print only")
    al.add_argument("--entry", default=None, metavar="NAME",
                    help="name of the stored comparison in --json; default: the checkpoint's "
                         "run folder, or 'backprop-warmup'")
    add_common(al)

    return al


# Options that change the network, its schedule or its target: the ones a
# gradient comparison depends on (the optimizer, the loop and dropout do not apply here).
VARIANT_KEYS = ("arch", "m", "n", "c1", "c2", "schedule", "a", "gamma", "gamma_mode",
                "presyn", "target_scale", "bp_loss", "input_gate")


def _bool(text: str) -> bool:
    return {"true": True, "false": False}[text.strip().lower()]


_bool.__name__ = "true or false"
VARIANT_TYPES = {**OPTION_TYPES, "input_gate": _bool}


def parse_variant(text: str) -> dict[str, Any]:
    """``"m=-3,target_scale=2"`` -> ``{"m": -3, "target_scale": 2.0}`` (train option types,
    checked against the options' ranges); ValueError naming the item that does not apply
    or cannot be parsed."""
    out: dict[str, Any] = {}
    items = [t.strip() for t in text.split(",") if t.strip()]
    if not items:
        raise ValueError(f"bad --variant {text!r}: empty; expected name=value items")
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not value.strip():
            raise ValueError(f"bad --variant item {item!r}: expected name=value with a name "
                             f"from {sorted(VARIANT_KEYS)}")
        if key not in VARIANT_KEYS:
            why = ("does not apply to a gradient comparison" if key in OPTION_TYPES
                   else "is no training option")
            raise ValueError(f"bad --variant item {item!r}: {key!r} {why}; expected name=value "
                             f"with a name from {sorted(VARIANT_KEYS)}")
        if key in out:
            raise ValueError(f"bad --variant {text!r}: {key!r} given twice")
        try:
            out[key] = VARIANT_TYPES[key](value.strip())
        except (ValueError, KeyError):
            kind = VARIANT_TYPES[key].__name__
            raise ValueError(f"bad --variant item {item!r}: {value.strip()!r} is not "
                             f"{'an' if kind == 'int' else 'a'} {kind}") from None
        check_value(key, out[key], f"--variant {key}")
    return out


def _checkpoint(path: Path) -> tuple[dict[str, Any], list[tuple[Any, Any]], int]:
    """(options, float parameters, epochs done) of a float training checkpoint."""
    state = read_checkpoint(path)
    if "params" not in state:
        raise ValueError(f"{path} holds {state['name']} integer weights; align needs a float "
                         "checkpoint (checkpoint-diffpc.pt or checkpoint-bp.pt)")
    params = list(zip(state["params"][0::2], state["params"][1::2]))
    return dict(state["model_opts"]), params, int(state["epoch"])


def _results_doc(path: Path) -> dict[str, Any]:
    """The results file ``path`` as a dict (empty when it does not exist yet)."""
    if not path.parent.is_dir():
        raise ValueError(f"--json {path}: folder {path.parent} does not exist; create it or "
                         "pass another file")
    if not path.exists():
        return {}
    try:
        doc = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"--json {path}: cannot read it as JSON ({exc}); pass another "
                         "file") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("align", {}), dict):
        raise ValueError(f"--json {path}: not a results object with an 'align' object; "
                         "pass another file")
    return doc


def _command(args: argparse.Namespace) -> str:
    """The command line as stored in a results file: data and run folders by their names
    DATA and RUNS (the paths of one machine mean nothing on another)."""
    words = ["python -m lava_diffpc align"]
    if args.checkpoint is not None:
        words.append(f"--checkpoint RUNS/{args.checkpoint.parent.name}/{args.checkpoint.name}")
    else:
        words.append(f"--preset {args.preset or 'digits'} --seed {args.seed} "
                     f"--warmup-batches {args.warmup_batches}")
    words += [f"--variant {v}" for v in args.variant]
    words.append(f"--batch-size {args.batch_size}")
    if args.data_dir is not None:
        words.append("--data-dir DATA")
    return " ".join(words)


def run(args: argparse.Namespace) -> None:
    from lava_diffpc.alignment import backprop_warmup, format_table, gradient_alignment

    if args.entry is not None and args.json is None:
        raise ValueError("--entry names a stored comparison: it needs --json FILE")
    doc = _results_doc(args.json) if args.json is not None else None
    trained = None
    if args.checkpoint is not None:
        if args.preset is not None:
            raise ValueError("--preset and --checkpoint exclude each other: the checkpoint "
                             "holds its run's options")
        trained = _checkpoint(args.checkpoint)
        base = trained[0]
    else:
        base = {**preset(args.preset or "digits"), "seed": args.seed}
    base_row = "preset" if trained is None else "as trained"
    variants = [(base_row, {})] + [(v, parse_variant(v)) for v in args.variant]
    if trained is not None and any("arch" in v for _, v in variants):
        raise ValueError("--variant arch=... cannot apply to a checkpoint's weights; drop it")
    for _, variant in variants:  # every variant's network and schedule, before any work
        network_config({**base, **variant})
    arch = parse_layers(base["arch"])
    ds = load_data(base["dataset"], args, flatten=not arch.convs)
    check_arch(arch, ds)
    for _, variant in variants[1:]:
        if "arch" in variant:
            check_arch(parse_layers(variant["arch"]), ds)
    x, y = torch.from_numpy(ds.x_train), torch.from_numpy(ds.y_train)
    if len(x) < 2 * args.batch_size:
        raise ValueError(f"--batch-size {args.batch_size} needs >= {2 * args.batch_size} "
                         f"training samples, {ds.name} has {len(x)}")
    probe = slice(len(x) - args.batch_size, len(x))  # never seen by the warm-up
    rows = []
    for name, variant in variants:  # the warm-up trains towards the variant's own target
        opts = {**base, **variant}
        params = trained[1] if trained is not None else backprop_warmup(
            opts, x[:probe.start], y[:probe.start], args.warmup_batches, args.batch_size,
            device=args.device)
        rows.append((name, gradient_alignment(opts, params, x[probe], y[probe], args.device)))
    weights = (f"weights of {args.checkpoint.parent.name}/{args.checkpoint.name} after "
               f"{trained[2]} epochs" if trained is not None else
               f"weights after {args.warmup_batches} backprop batches (seed {args.seed})")
    header = (f"{base.get('preset', 'run')}: {ds.name} {base['arch']}, {args.batch_size} "
              f"training samples, {weights}")
    print(header)
    print(format_table(rows))
    if doc is not None:
        name = args.entry or (args.checkpoint.parent.name if trained is not None
                              else "backprop-warmup")
        doc.setdefault("align", {})[name] = {
            "command": _command(args), "header": header,
            "rows": {variant: a.record() for variant, a in rows}}
        write_json(doc, args.json)
        print(f"stored as align entry {name!r} of {args.json}")


