"""``figures``: PNG accuracy curves, per-layer spike histograms and threshold schedules."""

from __future__ import annotations

import argparse

from lava_diffpc.commands.common import add_common

FIGURE_KINDS = ("accuracy", "spikes", "schedule")


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    fig = sub.add_parser("figures", help="PNG figures: accuracy curves, per-layer spike "
                                         "histograms, threshold schedules")
    fig.add_argument("runs", nargs="*", help="run folders (results.json, checkpoint-diffpc.pt)")
    fig.add_argument("--schedules", nargs="*", default=None, metavar="PRESET",
                     help="presets whose threshold schedule to draw (default: the runs' "
                          "presets, or all presets when no run is given)")
    fig.add_argument("--samples", type=int, default=1000,
                     help="test samples for the spike histograms")
    fig.add_argument("--what", nargs="+", default=list(FIGURE_KINDS), choices=FIGURE_KINDS,
                     help="which figures to draw (default all)")
    fig.add_argument("--out", default="docs/figures")
    add_common(fig)

    return fig


def run(args: argparse.Namespace) -> None:
    from lava_diffpc import figures

    for path in figures.draw_all(args):
        print(path)
