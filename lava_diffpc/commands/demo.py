"""``demo``: the embedded-default story on scikit-learn digits (``make demo``)."""

from __future__ import annotations

import argparse

from lava_diffpc.commands.options import describe


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    demo = sub.add_parser(
        "demo", help="the embedded-default story on scikit-learn digits",
        description="Train DiffPC with the float reference and the on-chip rule (fast "
                    "simulator and Lava graph) on scikit-learn digits and compare accuracy, "
                    "spikes and time. Exit codes: 0 done, 1 the run failed, 2 bad input, 130 "
                    "interrupted.")
    demo.add_argument("--out", default="runs/demo", metavar="DIR",
                      help="run folder of the float reference's training; default: runs/demo")
    demo.add_argument("--epochs", type=int, default=None, metavar="N",
                      help=describe("epochs", "epochs of the float reference and backprop", 5))
    demo.add_argument("--lava-samples", type=int, default=None, metavar="N",
                      help=describe("lava_samples", "train the Lava graph on the first N "
                                                    "samples only", "all"))
    demo.set_defaults(threads=1)  # one torch thread: set at start-up by the command line

    return demo


def run(args: argparse.Namespace) -> None:
    from lava_diffpc import demo

    demo.main(args)
