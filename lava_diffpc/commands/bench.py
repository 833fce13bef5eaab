"""``bench``: throughput of DiffPC against its backprop twin and standard PC on this machine
(:mod:`lava_diffpc.bench`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from lava_diffpc.commands.options import describe
from lava_diffpc.data import DATA_ENV
from lava_diffpc.engine.step import ENGINE_CHOICES
from lava_diffpc.presets import PRESETS
from lava_diffpc.runfolder import check_file


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    be = sub.add_parser(
        "bench", help="throughput of DiffPC, its backprop twin and standard PC on this "
                      "machine (table + JSON)",
        description="Time training and inference (samples per second of wall-clock time) of "
                    "DiffPC against backprop and standard PC, the fixed-point simulator, and "
                    "DiffPC's cost against its spikes. Exit codes: 0 done, 1 the results "
                    "could not be written, 2 bad input, 130 interrupted.")
    be.add_argument("--quick", action="store_true",
                    help="one preset, two timed batches, a small sweep: under two minutes; "
                         "default: off")
    be.add_argument("--presets", nargs="+", default=None, choices=sorted(PRESETS),
                    help="presets to time; default: mnist-s fmnist-m mnist-l cifar-efficient "
                         "(--quick: mnist-s)")
    be.add_argument("--warm-batches", type=int, default=20, metavar="N",
                    help=describe("warm_batches", "untimed training batches per model before "
                                                  "timing", 20))
    be.add_argument("--rounds", type=int, default=5, metavar="N",
                    help=describe("rounds", "timed batches per model; the fastest counts", 5))
    be.add_argument("--no-fixed", action="store_true",
                    help="skip the fixed-point rows; default: off")
    be.add_argument("--no-sweep", action="store_true",
                    help="skip the cost-follows-spikes sweep; default: off")
    be.add_argument("--json", default="bench.json", metavar="FILE",
                    help="where to write the results; default: bench.json")
    be.add_argument("--figure", default=None, metavar="PNG",
                    help="PNG of the sweep (time per sample against spikes per sample); "
                         "default: none")
    be.add_argument("--data-dir", default=None, metavar="DIR",
                    help=f"folder with MNIST/, FashionMNIST/, cifar10/; default: ${DATA_ENV}, "
                         "else ./data")
    be.add_argument("--threads", type=int, default=1, metavar="N",
                    help=describe("threads", "torch CPU threads", 1))
    be.add_argument("--device", default="cpu",
                    help="torch device of the preset rows: cpu, cuda or cuda:N; default: cpu")
    be.add_argument("--engine", default="auto", choices=ENGINE_CHOICES,
                    help="DiffPC's engine (auto: compiled for large batches); default: auto")

    return be


def run(args: argparse.Namespace) -> None:
    from lava_diffpc import bench
    from lava_diffpc.train import write_json

    check_file(Path(args.json))
    if args.figure:
        check_file(Path(args.figure), "--figure")
    doc = bench.run(args)
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    write_json(doc, Path(args.json))
    print(f"results: {args.json}")
    if args.figure and doc["sweep"]:
        print(f"figure: {bench.plot_sweep(doc['sweep'], Path(args.figure))}")
