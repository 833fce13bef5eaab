"""``export``: a trained run's inference path in another toolchain's format (``netx``: lava-dl's
HDF5 network description, sigma-delta ReLU layers; :mod:`lava_diffpc.export.netx`)."""

from __future__ import annotations

import argparse
import math
from typing import Any

import numpy as np

from lava_diffpc.commands.common import add_common
from lava_diffpc.commands.options import describe
from lava_diffpc.commands.runs import DIFFPC_NAMES, load_run, load_run_data
from lava_diffpc.export.netx import DEFAULT_HEADROOM, MESSAGE_BITS, export_network

FORMATS = ("netx",)


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    ex = sub.add_parser("export", help="write a trained run's inference path as a netx file")
    ex.add_argument("run", help="run folder or checkpoint file")
    ex.add_argument("--format", default="netx", choices=FORMATS,
                    help="netx: lava-dl's HDF5 network (sigma-delta ReLU layers, 8-bit "
                         "weights, 24-bit states, 16-bit messages) that lava-loihi maps onto "
                         "Loihi 2; default: netx")
    ex.add_argument("-o", "--output", required=True, metavar="FILE",
                    help="the file to write, e.g. network.net; default: none, required")
    ex.add_argument("--model", default=None, choices=DIFFPC_NAMES,
                    help="which DiffPC checkpoint of the run to export when it holds both "
                         "(diffpc: the local rule's, onchip: the on-chip rule's); default: "
                         "the run's only one")
    ex.add_argument("--netx-headroom", type=int, default=DEFAULT_HEADROOM,
                    metavar="BITS",
                    help=describe("netx_headroom", "bits every state and message keeps free "
                                                   "above its peak on the training set",
                                  DEFAULT_HEADROOM))
    add_common(ex)
    return ex


def run(args: argparse.Namespace) -> dict[str, Any]:
    trained = load_run(args.run, args.model)
    ds = load_run_data(trained, args)
    net = export_network(trained.config, trained.params, ds.x_train, headroom=args.netx_headroom,
                         meta={"source": {"name": trained.name, "arch": trained.opts["arch"],
                                          "dataset": ds.name, "epoch": trained.state["epoch"]},
                               "input_mean": _floats(ds.mean), "input_std": _floats(ds.std)})
    path = net.write(args.output)
    model = net.simulate(net.encode(ds.x_test))
    acc = float(np.mean(model.outputs.argmax(1) == ds.y_test))
    print(net.table())
    print(f"input: message round(x * 2**{net.input_exp}) of the standardised sample, "
          f"{'relu first, ' if net.input_relu else ''}saturated to {MESSAGE_BITS} bits, "
          f"sent once per sample; constant channel {net.input_const}")
    print(f"output: the last layer's messages summed over the sample's {net.steps} steps; "
          f"offset {net.meta['output_offset']} (x 2**12 in the state); argmax = class")
    print(f"smallest significant bits (weights, messages, readout): {net.meta['min_bits']:g}; "
          f"largest state on the test set 2**{max(model.state_bits()):.2f} of 2**23, "
          f"message 2**{math.log2(max(max(model.peak_message), 1)):.2f} of "
          f"2**{MESSAGE_BITS - 1}")
    print(f"{trained.name}: the file's NumPy model (netx fixed point) classifies "
          f"{100 * acc:.2f}% of {len(ds.y_test)} {ds.name} test samples")
    print(f"wrote {path}")
    return {"file": str(path), "test_acc": acc, "min_bits": net.meta["min_bits"]}


def _floats(a: Any) -> list[float] | None:
    return None if a is None else [float(v) for v in np.ravel(a)]
