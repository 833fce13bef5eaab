"""``figures``: PNG accuracy curves, per-layer spike histograms and threshold schedules."""

from __future__ import annotations

import argparse

from lava_diffpc.commands.common import add_common
from lava_diffpc.commands.options import describe

FIGURE_KINDS = ("accuracy", "spikes", "schedule", "augment")


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    fig = sub.add_parser(
        "figures", help="PNG figures: accuracy curves, per-layer spike histograms, "
                        "threshold schedules, augmented training images",
        description="Draw PNG figures of trained runs and of presets' schedules. Exit codes: "
                    "0 done, 2 bad input (nothing to draw, a missing or corrupt results.json "
                    "or checkpoint), 130 interrupted.")
    fig.add_argument("runs", nargs="*",
                     help="run folders written by train (results.json; checkpoint-diffpc.pt "
                          "for the spike histograms)")
    fig.add_argument("--schedules", nargs="*", default=None, metavar="PRESET",
                     help="presets whose threshold schedule T(k) and gamma(k) to draw; "
                          "default: the runs' presets, or all presets when no run is given")
    fig.add_argument("--samples", type=int, default=1000, metavar="N",
                     help=describe("samples", "test samples the spike histograms run", 1000))
    fig.add_argument("--what", nargs="+", default=list(FIGURE_KINDS), choices=FIGURE_KINDS,
                     help="which figures to draw: accuracy (test accuracy per epoch), spikes "
                          "(spikes per neuron per sample, per layer), schedule, augment (a "
                          "run's training images and augmented draws of them, for runs "
                          "trained with --augment); default: all")
    fig.add_argument("--out", default="docs/figures", metavar="DIR",
                     help="folder for the PNG files; default: docs/figures")
    add_common(fig)

    return fig


def run(args: argparse.Namespace) -> None:
    from lava_diffpc import figures

    for path in figures.draw_all(args):
        print(path)
