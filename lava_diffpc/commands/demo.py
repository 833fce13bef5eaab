"""``demo``: the embedded-default story on scikit-learn digits (``make demo``)."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    demo = sub.add_parser("demo", help="the embedded-default story on scikit-learn digits")
    demo.add_argument("--out", default="runs/demo")
    demo.add_argument("--epochs", type=int, default=None,
                      help="epochs of the float reference and backprop (default 5)")
    demo.add_argument("--lava-samples", type=int, default=None,
                      help="train the Lava graph on the first N samples only (default all)")

    return demo


def run(args: argparse.Namespace) -> None:
    from lava_diffpc import demo

    demo.main(args)
