"""``align``: per-layer cosine of DiffPC's local weight updates with backprop's, for a
preset and variants of it (the tool for choosing the threshold exponent m)."""

from __future__ import annotations

import argparse
from typing import Any

import torch

from lava_diffpc.commands.common import OPTION_TYPES, add_common, check_arch, load_data
from lava_diffpc.presets import PRESETS, parse_layers, preset


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
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
    add_common(al)

    return al


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


def run(args: argparse.Namespace) -> None:
    from lava_diffpc.alignment import backprop_warmup, format_table, gradient_alignment

    base = {**preset(args.preset), "seed": args.seed}
    variants = [("preset", {})] + [(v, parse_variant(v)) for v in args.variant]
    arch = parse_layers(base["arch"])
    ds = load_data(base["dataset"], args, flatten=not arch.convs)
    check_arch(arch, ds)
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


