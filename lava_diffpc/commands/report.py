"""``report``: regenerate the README's and docs' result tables from the JSON files in
``docs/results`` (:mod:`lava_diffpc.report`)."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    rp = sub.add_parser(
        "report", help="regenerate the result tables of the README and docs from the JSON "
                       "files in docs/results",
        description="Rewrite the <!-- report:NAME --> blocks of Markdown files from the JSON "
                    "results. Exit codes: 0 done, 2 bad input, 130 interrupted.")
    rp.add_argument("files", nargs="*", default=["README.md", "docs/results.md"],
                    help="Markdown files whose <!-- report:NAME --> blocks to rewrite; "
                         "default: README.md docs/results.md")
    rp.add_argument("--results", default="docs/results", metavar="DIR",
                    help="folder of the JSON results; default: docs/results")

    return rp


def run(args: argparse.Namespace) -> None:
    from lava_diffpc import report

    changed = report.update([Path(f) for f in args.files], Path(args.results))
    for path in args.files:
        print(f"{path}: {'updated' if Path(path) in changed else 'unchanged'}")
