"""``python -m lava_diffpc report``: the README's and docs' result tables, generated from the
JSON files under ``docs/results`` (so that no number is copied by hand).

A Markdown file marks each generated block::

    <!-- report:speed -->
    (replaced by the table)
    <!-- /report:speed -->

and ``report`` rewrites every marked block of every file it is given from the JSON files in
the results folder. Blocks:

``speed``
    training and inference throughput of DiffPC, its backprop twin and standard PC, from
    the ``bench-*.json`` files written by ``python -m lava_diffpc bench``;
``fixed``
    fixed-point inference and on-chip training throughput (same files);
``sweep``
    the cost-follows-spikes sweep (same files).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

BLOCK = re.compile(r"(<!-- report:(?P<name>[a-z-]+) -->\n)(?P<body>.*?)"
                   r"(<!-- /report:(?P=name) -->)", re.S)


def load_bench(results: Path) -> list[tuple[str, dict[str, Any]]]:
    """``(file name, document)`` of every ``bench-*.json`` in ``results``, sorted by name."""
    docs = []
    for path in sorted(results.glob("bench-*.json")):
        try:
            docs.append((path.name, json.loads(path.read_text())))
        except (OSError, json.JSONDecodeError) as exc:
            raise ValueError(f"{path}: not a readable bench JSON ({exc}); rerun "
                             "`python -m lava_diffpc bench --json` for it") from None
    return docs


def _machine(doc: dict[str, Any]) -> str:
    m = doc["machine"]
    threads = f"{m['threads']} thread{'s' if m['threads'] != 1 else ''}"
    where = m["cuda"] or m["cpu"]
    return f"{where}, {threads}, torch {m['torch'].split('+')[0]}"


def speed_table(results: Path) -> str:
    """Markdown: one row per preset and bench file (training and inference samples/s)."""
    lines = ["| preset | steps/sample | DiffPC train | backprop train | standard PC train | "
             "backprop / DiffPC (train) | DiffPC inference | backprop inference | "
             "backprop / DiffPC (inference) | machine | source |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, doc in load_bench(results):
        for row in doc["presets"]:
            t, i = row["train_samples_per_s"], row["infer_samples_per_s"]
            pc = f"{t['pc']:,.0f}" if "pc" in t else "-"
            lines.append(
                f"| {row['preset']} | {row['steps_per_sample']} | {t['diffpc']:,.0f} | "
                f"{t['bp']:,.0f} | {pc} | {row['train_ratio_bp_over_diffpc']:.1f} | "
                f"{i['diffpc']:,.0f} | {i['bp']:,.0f} | {row['infer_ratio_bp_over_diffpc']:.1f} "
                f"| {_machine(doc)} | `docs/results/{name}` |")
    return "\n".join(lines) + "\n"


def fixed_table(results: Path) -> str:
    """Markdown: fixed-point inference and on-chip training throughput per bench file."""
    lines = ["| preset | fixed-point inference (batch) | on-chip training (batch 1) | "
             "machine | source |", "|---|---|---|---|---|"]
    for name, doc in load_bench(results):
        row = doc.get("fixed_point")
        if row:
            lines.append(f"| {row['preset']} | {row['fixed_infer_samples_per_s']:,.0f} samples/s "
                         f"({row['infer_batch']}) | {row['onchip_train_samples_per_s']:,.0f} "
                         f"samples/s | {_machine(doc)} | `docs/results/{name}` |")
    return "\n".join(lines) + "\n"


def sweep_table(results: Path) -> str:
    """Markdown: the cost-follows-spikes sweep per bench file."""
    lines = ["| hidden width W | m | neurons | spikes sent per sample | inference time per "
             "sample | layer steps computed | source |", "|---|---|---|---|---|---|---|"]
    for name, doc in load_bench(results):
        for r in doc.get("sweep", []):
            lines.append(f"| {r['width']} | {r['m']} | {r['neurons']:,} | "
                         f"{r['spikes_per_sample']:,.0f} | {1e6 * r['seconds_per_sample']:,.1f} us"
                         f" | {100 * r['layer_steps_computed']:.0f}% | `docs/results/{name}` |")
    return "\n".join(lines) + "\n"


BLOCKS: dict[str, Callable[[Path], str]] = {
    "speed": speed_table, "fixed": fixed_table, "sweep": sweep_table,
}


def render(text: str, results: Path) -> str:
    """``text`` with every marked block regenerated from ``results``."""
    def replace(match: re.Match) -> str:
        name = match.group("name")
        if name not in BLOCKS:
            raise ValueError(f"unknown report block {name!r}; known: {sorted(BLOCKS)}")
        return match.group(1) + BLOCKS[name](results) + match.group(4)

    return BLOCK.sub(replace, text)


def update(files: list[Path], results: Path) -> list[Path]:
    """Rewrite the marked blocks of ``files`` in place; returns the files that changed."""
    if not results.is_dir():
        raise ValueError(f"results folder {results} does not exist; pass --results DIR")
    rendered = {}
    for path in files:
        if not path.is_file():
            raise ValueError(f"{path} is not a file; pass the Markdown files to update")
        text = path.read_text()
        rendered[path] = (text, render(text, results))  # all or nothing: render first
    changed = []
    for path, (old, new) in rendered.items():
        if new != old:
            path.write_text(new)
            changed.append(path)
    return changed
