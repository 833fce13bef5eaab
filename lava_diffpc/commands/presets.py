"""``presets``: list the named presets."""

from __future__ import annotations

import argparse

from lava_diffpc.presets import PRESETS


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    return sub.add_parser("presets", help="list the named presets",
                          description="List the named presets with what they train; "
                                      "'train --help' gives every option's preset values.")


def run(args: argparse.Namespace) -> None:
    for name, p in PRESETS.items():
        print(f"{name:<10} {p['description']}")
