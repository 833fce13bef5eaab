"""Command line: ``python -m lava_diffpc COMMAND``; parses the arguments and dispatches.

Commands (one module each in :mod:`lava_diffpc.commands`): ``train`` (DiffPC with the local
or the on-chip rule, and its baselines), ``evaluate`` (a trained run on any backend),
``align`` (DiffPC's local updates against backprop's), ``figures``, ``demo``, ``bench``
(throughput), ``report`` (result tables from JSON), ``presets``, ``export`` (the inference
path as a lava-dl netx file for Loihi 2), ``cost`` (spikes, synaptic operations and estimated
Loihi 2 energy per sample).

Exit codes: 0 success; 2 for a usage error or bad input (a one-line ``error: ...`` on
stderr).
"""

from __future__ import annotations

import argparse
import importlib
import sys

import torch

COMMANDS = ("train", "evaluate", "align", "figures", "demo", "bench", "report", "presets",
            "export", "cost")
DESCRIPTION = ("DiffPC spiking networks: train them (float reference or the on-chip rule), "
               "evaluate them on the float reference, the fixed-point simulator or Lava, and "
               "measure them. 'python -m lava_diffpc COMMAND --help' explains each command. "
               "Exit codes: 0 success, 2 bad input or usage (one 'error:' line on stderr).")


def _module(name: str):
    return importlib.import_module(f"lava_diffpc.commands.{name}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m lava_diffpc", description=DESCRIPTION)
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMANDS:
        _module(name).add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "threads", None):
        torch.set_num_threads(args.threads)
    try:
        if args.command == "train":  # data-parallel when started by torchrun
            from lava_diffpc import distributed

            with distributed.session(args.device) as args.device:
                _module("train").run(args)
        else:
            _module(args.command).run(args)
    except (ValueError, FileNotFoundError, ImportError, RuntimeError) as exc:
        # bad input, missing data, wrong Python for Lava, missing Loihi 2 backend
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
