"""``cost``: spikes, synaptic operations, neuron updates, messages and bits per sample of a
trained DiffPC run, for inference and for one training sample, next to its backprop twin's
multiply-accumulates, with an estimate of the Loihi 2 energy (:mod:`lava_diffpc.cost`)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lava_diffpc.commands.common import add_common
from lava_diffpc.commands.options import describe
from lava_diffpc.commands.runs import DIFFPC_NAMES, load_run, load_run_data
from lava_diffpc.cost import cost_report
from lava_diffpc.engine.step import choose_engine
from lava_diffpc.train import write_json

COUNTERS = ("fixedsim", "reference")
BATCH = 256


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    co = sub.add_parser("cost", help="operations per sample and estimated Loihi 2 energy")
    co.add_argument("run", help="run folder or checkpoint file")
    co.add_argument("--model", default=None, choices=DIFFPC_NAMES,
                    help="which DiffPC checkpoint of the run to report when it holds both "
                         "(diffpc: the local rule's, onchip: the on-chip rule's); default: "
                         "the run's only one")
    co.add_argument("--samples", type=int, default=1000, metavar="N",
                    help=describe("samples", "count spikes on the first N test samples, "
                                             "with their labels", 1000))
    co.add_argument("--counter", default=None, choices=COUNTERS,
                    help="who counts the spikes: the fast fixed-point simulator (an on-chip "
                         "run's integers as they are; fractional bits raised where the "
                         "schedule's finest threshold needs them) or the float reference; "
                         "default: fixedsim")
    co.add_argument("--json", default=None, metavar="FILE",
                    help="also write the report to this JSON file; default: none")
    add_common(co)
    return co


def run(args: argparse.Namespace) -> dict[str, Any]:
    trained = load_run(args.run, args.model)
    ds = load_run_data(trained, args)
    config = trained.config
    counter = args.counter or "fixedsim"
    x, y = ds.x_test[:args.samples], ds.y_test[:args.samples]
    stats = config.comm_stats()
    if counter == "fixedsim":
        from lava_diffpc.fixed_point import format_for, quantize_input, quantize_params
        from lava_diffpc.fixedsim import FixedPointNetwork

        q = trained.qparams or quantize_params(trained.params, format_for(config.schedule))
        engine = choose_engine(args.engine, config, BATCH, -(-len(x) // BATCH))
        sim = FixedPointNetwork(config, q, engine=engine)
        x_int = quantize_input(x.reshape(len(x), -1), q.fmt)
        for i in range(0, len(x), BATCH):
            sim.run(x_int[i:i + BATCH], y[i:i + BATCH], stats=stats)
    else:
        with torch.no_grad():
            for i in range(0, len(x), BATCH):
                trained.model.run(torch.from_numpy(np.asarray(x[i:i + BATCH])),
                                  torch.from_numpy(np.asarray(y[i:i + BATCH])), stats=stats)
    report = cost_report(config, stats)
    print(f"{trained.name}: {trained.opts['arch']}, {ds.name}, spikes counted by {counter} on "
          f"{len(x)} labelled test samples (no dropout); per sample:")
    print(report.table())
    result = {"name": trained.name, "arch": trained.opts["arch"], "dataset": ds.name,
              "counter": counter, **report.to_dict()}
    if args.json:
        write_json(result, Path(args.json))
    return result
