"""Command line: ``python -m lava_diffpc COMMAND``; parses the arguments and dispatches.

Commands (one module each in :mod:`lava_diffpc.commands`): ``train`` (DiffPC with the local
or the on-chip rule, and its baselines), ``evaluate`` (a trained run on any backend),
``align`` (DiffPC's local updates against backprop's), ``figures``, ``demo``, ``bench``
(throughput), ``report`` (result tables from JSON), ``presets``, ``export`` (the inference
path as a lava-dl netx file for Loihi 2), ``cost`` (spikes, synaptic operations and estimated
Loihi 2 energy per sample).

Every numeric option is range-checked in one place
(:mod:`lava_diffpc.commands.options`, ranges in each command's ``--help``) before any work.

Exit codes, one convention for every command (each failure is one line on stderr):

* 0: success;
* 1: the run failed while running: training diverged (non-finite weights or loss; the
  last good checkpoint is kept) or the machine failed it (a file could not be written);
* 2: usage error or bad input (an unknown or out-of-range option, missing or corrupt data,
  a corrupt checkpoint, an unusable output path, a run folder in use, Lava unavailable);
* 130: interrupted (Ctrl-C); ``train`` names the command that continues the run.

Process-wide settings are made here, once, at start-up: torch's CPU threads (``--threads``)
and, for a CUDA ``--device``, full float32 convolutions in cuDNN.
"""

from __future__ import annotations

import argparse
import importlib
import sys

import torch

from lava_diffpc.commands.options import Parser, check_namespace
from lava_diffpc.errors import RunFailed

COMMANDS = ("train", "evaluate", "align", "figures", "demo", "bench", "report", "presets",
            "export", "cost")
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
DESCRIPTION = ("DiffPC spiking networks: train them (float reference or the on-chip rule), "
               "evaluate them on the float reference, the fixed-point simulator or Lava, and "
               "measure them. 'python -m lava_diffpc COMMAND --help' explains each command "
               "and every option, with its unit, range and default. Exit codes: 0 success; "
               "1 the run failed while running (training diverged, or a file could not be "
               "written; the last good checkpoint is kept); 2 usage error or bad input; 130 "
               "interrupted (Ctrl-C). Every failure is one 'error:' line on stderr.")


def _module(name: str):
    return importlib.import_module(f"lava_diffpc.commands.{name}")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="python -m lava_diffpc", description=DESCRIPTION)
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMANDS:
        _module(name).add_parser(sub)
    return parser


def full_fp32_convolutions() -> None:
    """Switch cuDNN's TF32 convolutions off (torch >= 2.9's API, else the legacy flag):
    their 10-bit mantissa adds errors of ~1e-3 to the spike sums, far above the finest
    thresholds (2^-14 for the CIFAR presets), which would emit spurious spikes."""
    cudnn = torch.backends.cudnn
    if hasattr(cudnn, "conv") and hasattr(cudnn.conv, "fp32_precision"):
        cudnn.fp32_precision = cudnn.conv.fp32_precision = cudnn.rnn.fp32_precision = "ieee"
    else:
        cudnn.allow_tf32 = False


def configure_process(args: argparse.Namespace) -> None:
    """The process-wide switches the options ask for, set once before any work."""
    if getattr(args, "threads", None):
        torch.set_num_threads(args.threads)
    device = getattr(args, "device", None)
    if device:
        try:
            kind = torch.device(device).type
        except RuntimeError as exc:
            raise ValueError(f"--device {device!r}: {exc}; pass cpu or cuda[:N]") from None
        if kind == "cuda":
            full_fp32_convolutions()


def _run(args: argparse.Namespace) -> None:
    if args.command == "train":  # data-parallel when started by torchrun
        from lava_diffpc import distributed

        with distributed.session(args.device) as args.device:
            _module("train").run(args)
    else:
        _module(args.command).run(args)


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns the exit code (module docstring), never raises for a
    failure it can name."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        try:
            args = build_parser().parse_args(argv)
        except SystemExit as exc:  # --help
            return exc.code if isinstance(exc.code, int) else EXIT_OK
        args.argv = argv
        check_namespace(args)
        configure_process(args)
        _run(args)
    except KeyboardInterrupt as exc:
        print(str(exc) or "interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except RunFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except (ValueError, FileNotFoundError, ImportError, RuntimeError) as exc:
        # bad input, missing data, wrong Python for Lava, missing Loihi 2 backend
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:  # the machine failed a running command (disk full, permissions)
        print(f"error: {exc.strerror or exc}: {exc.filename or ''} (an operating-system "
              "fault; check the path, its permissions and the free space)", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
