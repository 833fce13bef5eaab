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
    the cost-follows-spikes sweep (same files);
``runs``
    every training run stored in the folder (a run's ``results.json``, or the runs a
    presets-by-seeds summary or a multi-preset file holds): DiffPC's and its twins' final
    accuracies (backprop with DiffPC's squared error, and with cross-entropy), epochs,
    communication;
``seeds``
    the presets-by-seeds summaries: mean and sample standard deviation over seeds;
``onchip``
    on-chip learning accuracy per rounding variant of the rule (``onchip-*.json``);
``onchip-epochs``
    test accuracy after every epoch of the on-chip rule's runs and of the float runs stored
    beside them (the training runs of ``*onchip*.json`` files), with each run's update:
    the rule's learning rate ``2**-lr_shift`` and weight headroom, or the float optimiser;
``onchip-gaps``
    per on-chip run of those files, its test accuracy minus that of the float reference of
    the same file (the same training images and seed) epoch by epoch, in points: against the
    per-sample SGD run at the rule's learning rate (``sgd``, batch 1, constant
    ``2**-lr_shift``) and against the AdamW run; where a file holds several, the one with
    the most epochs;
``onchip-seeds``
    per update of those files trained with several seeds: test accuracy per epoch as mean
    +- sample std over the seeds, and for the on-chip rule its difference to per-sample SGD
    with the same seed;
``onchip-diagnosis``
    the on-chip rule with one part of its update replaced at a time (the ``*diagnosis*.json``
    files written by ``benchmarks/onchip_mnist_diagnosis.py``): what changed, whether Lava's
    learning engine can express it, test accuracy and clipped updates per matrix;
``align``
    the stored outputs of ``python -m lava_diffpc align`` (an ``align`` entry of a results
    file): per weight matrix, the cosine of DiffPC's local update with backprop's gradient,
    the learning-phase error spikes per neuron of the output layer, and per hidden layer
    the relaxation gain (below 2 the learning phase settles; ``lava_diffpc.alignment``),
    where the entry stores it;
``precision``
    a trained run's weights in fixed point (fast simulator) against the float reference on
    the same test samples, with a Lava ``fixed_pt`` check (the ``fixed_vs_float`` entry
    written by ``benchmarks/fixed_vs_float.py``);
``paper``
    the paper's table: ``paper.json`` in the folder lists, per row, the paper's numbers and
    the run or summary entry that stands for it (the entry's own numbers are read from its
    file), and optionally (``ce_entry``, in ``ce_file`` or the same file) a run whose
    backprop network trained with cross-entropy stands beside it; ``twin_runs`` (runs in
    the row's file) give the backprop twin column instead of the entry's own backprop
    network, where DiffPC's runs trained alone and their twins in runs of their own.
"""

from __future__ import annotations

import json
import re
import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Any

BLOCK = re.compile(r"(<!-- report:(?P<name>[a-z-]+) -->\n)(?P<body>.*?)"
                   r"(<!-- /report:(?P=name) -->)", re.S)


def load_bench(results: Path) -> list[tuple[str, dict[str, Any]]]:
    """``(file name, document)`` of every ``bench-*.json`` in ``results``, sorted by name."""
    return [(path.name, _load(results, path.name)) for path in sorted(results.glob("bench-*.json"))]


def _machine(doc: dict[str, Any]) -> str:
    m = doc["machine"]
    threads = f"{m['threads']} thread{'s' if m['threads'] != 1 else ''}"
    where = m["cuda"] or m["cpu"]
    return f"{where}, {threads}, torch {m['torch'].split('+')[0]}"


def speed_table(results: Path) -> str:
    """Markdown: one row per preset and bench file (training and inference samples/s)."""
    lines = ["| preset | steps/sample | DiffPC train | backprop train | standard PC train | "
             "backprop / DiffPC (train) | DiffPC train, eager step (short runs) | "
             "backprop / DiffPC (train, eager) | DiffPC inference | backprop inference | "
             "backprop / DiffPC (inference) | machine | source |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, doc in load_bench(results):
        for row in doc["presets"]:
            t, i = row["train_samples_per_s"], row["infer_samples_per_s"]
            pc = f"{t['pc']:,.0f}" if "pc" in t else "-"
            eager = t.get("diffpc-eager")
            eager_cols = (f"{eager:,.0f} | {row['train_ratio_bp_over_diffpc_eager']:.1f}"
                          if eager else "- | -")
            lines.append(
                f"| {row['preset']} | {row['steps_per_sample']} | {t['diffpc']:,.0f} | "
                f"{t['bp']:,.0f} | {pc} | {row['train_ratio_bp_over_diffpc']:.1f} | "
                f"{eager_cols} | "
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


def _load(results: Path, name: str) -> dict[str, Any]:
    path = results / name
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: not a readable results JSON ({exc})") from None


def _is_run(doc: Any) -> bool:
    return isinstance(doc, dict) and "options" in doc and any(
        isinstance(doc.get(k), dict) and "history" in doc[k]
        for k in ("diffpc", "onchip", "bp", "bp-ce"))


def training_runs(results: Path) -> list[tuple[str, str, dict[str, Any]]]:
    """``(file, run name, results.json document)`` of every stored training run."""
    out = []
    for path in sorted(results.glob("*.json")):
        if path.name.startswith("bench-") or path.name == "paper.json":
            continue
        doc = _load(results, path.name)
        if _is_run(doc):
            out.append((path.name, path.stem, doc))
            continue
        inner = doc.get("runs", doc) if isinstance(doc, dict) else {}
        for name, run in sorted(inner.items()) if isinstance(inner, dict) else []:
            if _is_run(run):
                out.append((path.name, name, run))
    return out


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.2f}%"


def _last_comm(model: dict[str, Any]) -> dict[str, Any]:
    hist = model.get("history") or [{}]
    return hist[-1].get("train_comm", {})


def runs_table(results: Path) -> str:
    """Markdown: one row per stored training run; the threshold schedule only where the run
    trained a DiffPC model (backprop ignores it)."""
    lines = ["| run | preset | schedule | epochs | DiffPC test | DiffPC held-out | "
             "backprop test | backprop cross-entropy test | ff activity spikes/neuron | "
             "learning error bits/neuron | source |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for file, name, run in training_runs(results):
        opts = run["options"]
        diffpc = run.get("diffpc") or run.get("onchip") or {}
        bp, bp_ce = run.get("bp") or {}, run.get("bp-ce") or {}
        epochs = (diffpc or bp or bp_ce).get("epochs_done", "-")
        comm = _last_comm(diffpc)
        ff = comm.get("ff", {}).get("activity_spikes_all")
        err = comm.get("learn", {}).get("error_bits_all")
        schedule = opts.get("schedule", "-") if diffpc else "-"
        lines.append(
            f"| {name} | {opts.get('preset', '-')} | {schedule} | "
            f"{epochs} of {opts.get('epochs', '-')} | {_pct(diffpc.get('final_test_acc'))} | "
            f"{_pct(diffpc.get('final_heldout_acc'))} | {_pct(bp.get('final_test_acc'))} | "
            f"{_pct(bp_ce.get('final_test_acc'))} | "
            f"{'-' if ff is None else f'{ff:.3f}'} | {'-' if err is None else f'{err:.4f}'} | "
            f"`docs/results/{file}` |")
    return "\n".join(lines) + "\n"


def _mean_std(entry: dict[str, Any] | None) -> str:
    """A summary entry's final test accuracies over its seeds (:func:`_over_seeds`)."""
    return _over_seeds(entry["final_test_acc"]) if entry else "-"


def _over_seeds(accs: list[float]) -> str:
    """``mean +- sample std% (n seeds)`` of final test accuracies, one per seed."""
    if len(accs) == 1:
        return f"{100 * accs[0]:.2f}% (1 seed)"
    mean, std = 100 * statistics.fmean(accs), 100 * statistics.stdev(accs)
    return f"{mean:.2f} +- {std:.2f}% ({len(accs)} seeds)"


def seeds_table(results: Path) -> str:
    """Markdown: mean +- sample std over seeds of every presets-by-seeds summary."""
    lines = ["| preset and variant | epochs | DiffPC (seeds) | backprop (seeds) | learning error "
             "bits/neuron | source |", "|---|---|---|---|---|---|"]
    for path in sorted(results.glob("*.json")):
        doc = _load(results, path.name)
        if not (isinstance(doc, dict) and isinstance(doc.get("presets"), dict)):
            continue
        for name, entry in sorted(doc["presets"].items()):
            if not isinstance(entry, dict) or "diffpc" not in entry:
                continue
            err = entry.get("diffpc_train_comm_mean", {}).get("learn", {}).get("error_bits_all")
            epochs = sorted(set(entry["diffpc"].get("epochs", [])))
            lines.append(f"| {name} | {', '.join(map(str, epochs))} | {_mean_std(entry['diffpc'])}"
                         f" | {_mean_std(entry.get('bp'))} | "
                         f"{'-' if err is None else f'{err:.4f}'} | `docs/results/{path.name}` |")
    return "\n".join(lines) + "\n"


def _paper_entry(results: Path, row: dict[str, Any]) -> tuple[str, str, str, str]:
    """(DiffPC, backprop, backprop with cross-entropy, epochs) of the entry a paper row
    points at; a ``ce_entry`` (a run of its own) gives the cross-entropy column, and
    ``twin_runs`` the backprop column."""
    doc = _load(results, row["file"])
    key = row.get("entry")
    ce = _cross_entropy_run(results, row)
    twin = _twin_runs(doc, row)
    if key and isinstance(doc.get("presets"), dict) and key in doc["presets"]:
        entry = doc["presets"][key]
        return (_mean_std(entry["diffpc"]), twin or _mean_std(entry.get("bp")),
                _pct(ce) if ce is not None else _mean_std(entry.get("bp-ce")),
                ", ".join(map(str, sorted(set(entry["diffpc"]["epochs"])))))
    run = doc if key is None else doc.get("runs", doc).get(key)
    if not _is_run(run):
        raise ValueError(f"paper.json: {row['file']} holds no run {key!r}")
    diffpc = run.get("diffpc") or run.get("onchip")
    if diffpc is None:
        raise ValueError(f"paper.json: {row['file']} {key or ''} holds no DiffPC run")
    if ce is None:
        ce = run.get("bp-ce", {}).get("final_test_acc")
    return (_pct(diffpc["final_test_acc"]),
            twin or _pct(run.get("bp", {}).get("final_test_acc")), _pct(ce),
            str(diffpc["epochs_done"]))


def _twin_runs(doc: dict[str, Any], row: dict[str, Any]) -> str | None:
    """``mean +- sample std% (n seeds)`` of the backprop networks of the runs a paper row
    names by ``twin_runs`` (in the row's file); None where the row names none."""
    names = row.get("twin_runs")
    if names is None:
        return None
    if not (isinstance(names, list) and names and all(isinstance(n, str) for n in names)):
        raise ValueError(f"paper.json: row {row['row']!r}: twin_runs must be a list of run "
                         f"names, got {names!r}")
    accs = []
    for name in names:
        run = doc.get("runs", {}).get(name)
        if not _is_run(run) or not run.get("bp", {}).get("history"):
            raise ValueError(f"paper.json: {row['file']} holds no backprop run {name!r} "
                             "(twin_runs)")
        accs.append(run["bp"]["final_test_acc"])
    return _over_seeds(accs)


def _cross_entropy_run(results: Path, row: dict[str, Any]) -> float | None:
    """Final test accuracy of the cross-entropy network a paper row names by ``ce_entry``
    (in ``ce_file``, else the row's file); None where the row names none."""
    if not row.get("ce_entry"):
        return None
    ce_file = row.get("ce_file", row["file"])
    ce_run = _load(results, ce_file).get("runs", {}).get(row["ce_entry"])
    if not _is_run(ce_run) or "bp-ce" not in ce_run:
        raise ValueError(f"paper.json: {ce_file} holds no cross-entropy run "
                         f"{row['ce_entry']!r}")
    return ce_run["bp-ce"]["final_test_acc"]


def paper_table(results: Path) -> str:
    """Markdown: the paper's rows against the runs ``paper.json`` points at."""
    index = _load(results, "paper.json")
    lines = ["| dataset, network | paper DiffPC | ours: DiffPC | ours: backprop twin | "
             "ours: backprop, cross-entropy | epochs | conditions | source |",
             "|---|---|---|---|---|---|---|---|"]
    for row in index["rows"]:
        ours, bp, bp_ce, epochs = _paper_entry(results, row)
        lines.append(f"| {row['row']} | {_pct(row['paper'])} | {ours} | {bp} | {bp_ce} | "
                     f"{epochs} | "
                     f"{row.get('conditions', '')} | `docs/results/{row['file']}` |")
    return "\n".join(lines) + "\n"


def onchip_table(results: Path) -> str:
    """Markdown: on-chip training accuracy per rounding variant (``onchip-*.json``)."""
    lines = ["| variant | network | steps/sample | fixed-point test accuracy (rule seeds) | "
             "source |", "|---|---|---|---|---|"]
    for path in sorted(results.glob("onchip-*.json")):
        doc = _load(results, path.name)
        groups = [(name, entry) for name, entry in sorted(doc.get("runs", {}).items())]
        for preset, variants in sorted(doc.get("preset_runs", {}).items()):
            groups += [(f"{name} ({preset})", entry) for name, entry in sorted(variants.items())]
        for name, entry in groups:
            for net in entry["networks"]:
                acc = _spread([v["fixedsim_test_acc"] for v in net["seeds"].values()],
                              ".2f", unit="%")
                lines.append(f"| {name} | {'-'.join(map(str, net['sizes']))} | "
                             f"{net['steps_per_sample']} | {acc} | `docs/results/{path.name}` |")
    return "\n".join(lines) + "\n"


def _update_rule(opts: dict[str, Any]) -> str:
    """How a run updates its weights, in words (for the per-epoch table)."""
    if opts.get("rule") == "onchip":
        decay = int(opts.get("lr_shift_decay", 0))
        every = "every epoch" if decay == 1 else f"every {decay} epochs"
        halving = f", halved {every}" if decay else ""
        return (f"on-chip rule, lr 2^-{opts['lr_shift']}{halving}, headroom "
                f"{opts['headroom']}, error shift {opts['err_shift']}")
    return (f"float {opts['optimizer']}, lr {opts['lr']:g} {opts['lr_schedule']}, "
            f"batch {opts['batch_size']}")


def onchip_epochs_table(results: Path) -> str:
    """Markdown: test accuracy per epoch of the runs stored in ``*onchip*.json`` files."""
    runs = [(f, name, run) for f, name, run in training_runs(results) if "onchip" in f]
    hists = [(run.get("onchip") or run.get("diffpc"))["history"] for _, _, run in runs]
    width = max((len(h) for h in hists), default=0)
    lines = ["| run | update | " + "".join(f"epoch {e} | " for e in range(1, width + 1))
             + "source |", "|---|---|" + "---|" * width + "---|"]
    for (file, name, run), hist in zip(runs, hists):
        accs = [_pct(h["test_acc"]) for h in hist] + ["-"] * (width - len(hist))
        lines.append(f"| {name} | {_update_rule(run['options'])} | " + " | ".join(accs)
                     + f" | `docs/results/{file}` |")
    return "\n".join(lines) + "\n"


def _onchip_reference(runs: list[tuple[str, dict[str, Any]]], onchip: dict[str, Any],
                      kind: str) -> tuple[str, dict[str, Any]] | None:
    """The float run of ``runs`` (``(name, results)`` of one file) that an on-chip run is
    measured against (``onchip-gaps``): ``kind`` ``sgd`` is per-sample SGD at the rule's
    constant rate, ``adamw`` AdamW; the one with the most epochs (then the first by name)
    among those with the same training images and seed. None when the file holds none."""
    def matches(opts: dict[str, Any]) -> bool:
        if opts.get("rule") == "onchip" or opts.get("optimizer") != kind:
            return False
        if kind == "sgd":
            return (opts.get("batch_size") == 1 and opts.get("lr_schedule") == "constant"
                    and opts.get("lr") == 2.0 ** -onchip["options"]["lr_shift"])
        return True

    same = sorted((name, run) for name, run in runs if matches(run["options"])
                  and run.get("n_train") == onchip.get("n_train")
                  and run["options"].get("seed") == onchip["options"].get("seed"))
    return max(same, key=lambda nr: len(nr[1]["diffpc"]["history"]), default=None)


def _onchip_files(results: Path) -> dict[str, list[tuple[str, dict[str, Any]]]]:
    """``(name, results)`` of the DiffPC training runs (float or on-chip rule) of every
    ``*onchip*.json`` file, by file; runs of backprop networks alone are left out."""
    by_file: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for file, name, run in training_runs(results):
        if "onchip" in file and (run.get("onchip") or run.get("diffpc")):
            by_file.setdefault(file, []).append((name, run))
    return by_file


def _test_accs(run: dict[str, Any]) -> list[float]:
    return [h["test_acc"] for h in (run.get("onchip") or run["diffpc"])["history"]]


def onchip_gaps_table(results: Path) -> str:
    """Markdown: per on-chip run, test accuracy minus its float references' per epoch."""
    rows = []
    for file, runs in _onchip_files(results).items():
        for name, run in runs:
            if run["options"].get("rule") != "onchip":
                continue
            for kind in ("sgd", "adamw"):
                ref = _onchip_reference(runs, run, kind)
                if ref is not None:
                    rows.append((file, name, ref[0], _test_accs(run), _test_accs(ref[1])))
    width = max((min(len(a), len(b)) for *_, a, b in rows), default=0)
    lines = ["| on-chip run | float reference | " + "".join(f"epoch {e} | " for e in
             range(1, width + 1)) + "source |", "|---|---|" + "---|" * width + "---|"]
    for file, name, ref, onchip, floats in rows:
        gaps = [f"{100 * (a - b):+.2f}" for a, b in zip(onchip, floats)]
        lines.append(f"| {name} | {ref} | " + " | ".join(gaps + ["-"] * (width - len(gaps)))
                     + f" | `docs/results/{file}` |")
    return "\n".join(lines) + "\n"


def _spread(values: list[float], fmt: str, unit: str = "") -> str:
    """``mean +- sample std<unit> (count)`` of the fractions ``values`` in points (times
    100), ``-`` when there are none."""
    if not values:
        return "-"
    if len(values) == 1:
        return f"{100 * values[0]:{fmt}}{unit} (1)"
    mean, std = 100 * statistics.mean(values), 100 * statistics.stdev(values)
    return f"{mean:{fmt}} +- {std:.2f}{unit} ({len(values)})"


def onchip_seeds_table(results: Path) -> str:
    """Markdown: per update of an ``*onchip*.json`` file trained with two seeds or more, the
    test accuracy per epoch as mean +- sample std over its seeds (count: the seeds that
    reached the epoch; per seed the run with the most epochs), and for the on-chip rule
    also its difference to the per-sample SGD run of the same seed (``onchip-gaps``)."""
    rows, width = [], 0
    for file, runs in _onchip_files(results).items():
        groups: dict[tuple[str, Any], dict[Any, tuple[str, dict[str, Any]]]] = {}
        for name, run in sorted(runs, key=lambda nr: nr[0]):
            seeds = groups.setdefault((_update_rule(run["options"]), run.get("n_train")), {})
            seed = run["options"].get("seed")
            best = seeds.get(seed)
            if best is None or len(_test_accs(run)) > len(_test_accs(best[1])):
                seeds[seed] = (name, run)
        for (update, n_train), seeds in groups.items():
            if len(seeds) < 2:
                continue
            accs = [_test_accs(run) for _, run in seeds.values()]
            label = f"{update}, seeds {', '.join(sorted(map(str, seeds)))}"
            rows.append((file, label, n_train, accs, ".2f"))
            gaps = []
            for _, run in seeds.values():
                ref = (_onchip_reference(runs, run, "sgd")
                       if run["options"].get("rule") == "onchip" else None)
                if ref is not None:
                    gaps.append([a - b for a, b in zip(_test_accs(run), _test_accs(ref[1]))])
            if gaps:
                rows.append((file, f"{label}: minus float SGD of the same seed", n_train,
                             gaps, "+.2f"))
            width = max([width] + [len(a) for a in accs])
    lines = ["| update | training images | " + "".join(f"epoch {e} | " for e in
             range(1, width + 1)) + "source |", "|---|---|" + "---|" * width + "---|"]
    for file, label, n_train, values, fmt in rows:
        cells = [_spread([v[e] for v in values if len(v) > e], fmt) for e in range(width)]
        images = "-" if n_train is None else f"{n_train:,}"
        lines.append(f"| {label} | {images} | " + " | ".join(cells)
                     + f" | `docs/results/{file}` |")
    return "\n".join(lines) + "\n"


def onchip_diagnosis_table(results: Path) -> str:
    """Markdown: one row per variant of the ``*diagnosis*.json`` files, as stored."""
    lines = ["| variant | what changes | engine can express it | training images | "
             "test accuracy | clipped updates per matrix | source |",
             "|---|---|---|---|---|---|---|"]
    for path in sorted(results.glob("*diagnosis*.json")):
        for name, run in _load(results, path.name).get("runs", {}).items():
            clipped = " / ".join(f"{n:,}" for n in run["saturated"])
            lines.append(f"| {name} | {run['change']} | "
                         f"{'yes' if run['engine_expressible'] else 'no'} | "
                         f"{run['train_samples']:,} | {_pct(run['test_acc'])} | {clipped} | "
                         f"`docs/results/{path.name}` |")
    return "\n".join(lines) + "\n"


def align_table(results: Path) -> str:
    """Markdown: one row per variant of every stored ``align`` entry."""
    lines = ["| weights | variant | cosine with backprop, W1 / W2 / ... | output error "
             "spikes/neuron (learning) | relaxation gain, hidden layers 1 / 2 / ... | source |",
             "|---|---|---|---|---|---|"]
    for path in sorted(results.glob("*.json")):
        doc = _load(results, path.name)
        entries = doc.get("align") if isinstance(doc, dict) else None
        for state, entry in (entries or {}).items():
            for variant, row in entry["rows"].items():
                cos = " / ".join(f"{c:.2f}" for c in row["cosine"])
                gains = " / ".join(f"{g:.2f}" for g in row.get("relaxation_gain", [])) or "-"
                lines.append(f"| {state} | {variant} | {cos} | "
                             f"{row['learning_error_spikes_per_neuron'][-1]:.1f} | {gains} | "
                             f"`docs/results/{path.name}` |")
    return "\n".join(lines) + "\n"


def from_twin_table(results: Path) -> str:
    """Markdown: one row per start of every stored ``from_twin`` entry
    (``benchmarks/diffpc_from_twin.py``): test accuracy at the start and after each epoch,
    and DiffPC's updates at the start weights where they were compared."""
    lines = ["| entry | start | DiffPC's gain bound | test accuracy, start / epoch 1 / 2 / ... "
             "| train accuracy, last epoch | at the start: cosine with backprop, W1 / W2 / ... "
             "| at the start: feed-forward deviation | source |",
             "|---|---|---|---|---|---|---|---|"]
    for path in sorted(results.glob("*.json")):
        doc = _load(results, path.name)
        entries = doc.get("from_twin") if isinstance(doc, dict) else None
        for name, entry in (entries or {}).items():
            for start, rec in entry["starts"].items():
                bound = "-" if rec["model"] != "diffpc" else \
                    f"{entry['max_gain']:g}" if entry["max_gain"] > 0 else "none"
                tests = " / ".join(_pct(e["test_acc"]) for e in rec["epochs"])
                train = _pct(rec["epochs"][-1].get("train_acc"))
                align = rec.get("start_alignment")
                cos = "-" if align is None else " / ".join(f"{c:.2f}" for c in align["cosine"])
                dev = "-" if align is None else f"{align['ff_deviation']:.3f}"
                lines.append(f"| {name} | {start} | {bound} | {tests} | {train} | {cos} | "
                             f"{dev} | `docs/results/{path.name}` |")
    return "\n".join(lines) + "\n"


def precision_table(results: Path) -> str:
    """Markdown: fixed point against float per ``fixed_vs_float`` entry."""
    lines = ["| network | epochs | test samples | float reference | fixed point (fixedsim) | "
             "fixed - float | same prediction | Lava fixed_pt == fixedsim | netx on Lava | "
             "machine | source |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for path in sorted(results.glob("*.json")):
        doc = _load(results, path.name)
        entry = doc.get("fixed_vs_float") if isinstance(doc, dict) else None
        if not entry:
            continue
        lava = entry.get("lava")
        check = "-" if lava is None else \
            f"{'yes' if lava['equal_to_fixedsim'] else 'NO'} ({lava['samples']} samples)"
        netx = entry.get("netx")
        netx_cell = "-" if netx is None else (
            f"{_pct(netx['test_acc'])} (outputs equal its NumPy model on "
            f"{netx['lava_equals_model']:,} of {netx['samples']:,})")
        lines.append(f"| {entry['arch']} | {entry['epochs']} | {entry['test_samples']:,} | "
                     f"{_pct(entry['reference']['test_acc'])} | "
                     f"{_pct(entry['fixedsim']['test_acc'])} | "
                     f"{entry['fixed_minus_float_points']:+.2f} points | "
                     f"{_pct(entry['agreement'])} | {check} | {netx_cell} | "
                     f"{entry['machine']} | `docs/results/{path.name}` |")
    return "\n".join(lines) + "\n"


BLOCKS: dict[str, Callable[[Path], str]] = {
    "speed": speed_table, "fixed": fixed_table, "sweep": sweep_table, "runs": runs_table,
    "seeds": seeds_table, "paper": paper_table, "onchip": onchip_table,
    "onchip-epochs": onchip_epochs_table, "onchip-gaps": onchip_gaps_table,
    "onchip-seeds": onchip_seeds_table,
    "onchip-diagnosis": onchip_diagnosis_table,
    "align": align_table, "from-twin": from_twin_table, "precision": precision_table,
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
