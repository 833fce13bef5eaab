"""``bench``: throughput of DiffPC against its backprop twin and standard PC on this machine
(:mod:`lava_diffpc.bench`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from lava_diffpc.data import DATA_ENV
from lava_diffpc.engine.step import ENGINE_CHOICES
from lava_diffpc.presets import PRESETS


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
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

    return be


def run(args: argparse.Namespace) -> None:
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
