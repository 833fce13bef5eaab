"""Train several presets and seeds side by side (one process each) and summarise them.

Example, on a GPU machine with the data sets in ./data::

    python examples/run_presets.py --presets fmnist-m mnist-s mnist-l --seeds 0 1 2 \
        --device cuda --data-dir data --epochs mnist-l=6 mnist-s=10 fmnist-m=8 --out runs/gpu

A preset may carry changed options, ``mnist-l:m=-2,target_scale=2`` (the ``train`` options
without their dashes), and switches, ``mnist-s:augment``; its runs are labelled
``mnist-l_m-2_target_scale2`` and ``mnist-s_augment``.
Each (preset, seed) runs ``python -m lava_diffpc train`` (DiffPC and the backprop baseline)
in its own process, in ``<out>/<preset>-s<seed>/`` with its log beside it. ``--epochs``
takes one number for every preset or ``preset=N`` items (N for every variant of it).
``<out>/summary.json`` gathers every ``results.json`` plus, per preset, the mean, sample
standard deviation, min and max over seeds of the final test accuracy (DiffPC and
backprop) and the mean of the last epoch's communication; ``<out>/summary.txt`` prints it
as a table. Re-running with the same ``--out`` resumes the unfinished runs from their
checkpoints; ``--collect`` trains nothing and only summarises the run folders already
there.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from lava_diffpc.presets import PRESETS

SWITCHES = ("augment", "no_augment", "input_gate")  # train's on/off flags


def parse_spec(spec: str) -> tuple[str, list[str], str]:
    """``"mnist-l:m=-2,target_scale=2"`` -> (preset, train flags, run label); a switch
    (``"mnist-s:augment"``) is a flag without a value."""
    name, _, changes = spec.partition(":")
    flags, label = [], name
    for item in filter(None, changes.split(",")):
        key, sep, value = item.partition("=")
        if not sep and key.strip() in SWITCHES:
            flags.append(f"--{key.strip().replace('_', '-')}")
            label += f"_{key.strip()}"
            continue
        if not sep:
            raise SystemExit(f"error: {spec!r}: {item!r} is no name=value nor a switch "
                             f"({', '.join(SWITCHES)})")
        flags.append(f"--{key.strip().replace('_', '-')}={value.strip()}")
        label += f"_{key.strip()}{value.strip()}"
    return name, flags, label


def epochs_per_preset(items: list[str] | None, presets: list[str]) -> dict[str, int | None]:
    """``["6"]`` -> every preset 6; ``["mnist-l=6", "mnist-s=10"]`` -> per preset."""
    out: dict[str, int | None] = dict.fromkeys(presets)
    for item in items or []:
        name, sep, value = item.rpartition("=")
        if not sep:
            out = dict.fromkeys(presets, int(value))
        elif name in out:
            out[name] = int(value)
        elif name not in PRESETS:  # items for presets not run this time are fine
            raise SystemExit(f"error: --epochs {item!r}: no preset {name!r}")
    return out


def aggregate(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean, spread and communication of one preset's (or variant's) seeds."""
    agg: dict[str, Any] = {"seeds": [r["options"]["seed"] for r in runs],
                           "options": {k: v for k, v in runs[0]["options"].items()
                                       if k != "seed"}}
    for model in ("diffpc", "bp"):
        trained = [r for r in runs if r.get(model, {}).get("history")]  # a run may skip one
        if not trained:
            continue
        finals = [r[model]["final_test_acc"] for r in trained]
        agg[model] = {
            "seeds": [r["options"]["seed"] for r in trained],
            "final_test_acc": finals, "mean": statistics.fmean(finals),
            "std": statistics.stdev(finals) if len(finals) > 1 else 0.0,
            "min": min(finals), "max": max(finals),
            "epochs": [r[model]["epochs_done"] for r in trained],
        }
        held = [r[model].get("final_heldout_acc") for r in trained]
        if all(h is not None for h in held):
            agg[model]["heldout_mean"] = statistics.fmean(held)
    comms = [r["diffpc"]["history"][-1]["train_comm"] for r in runs
             if r.get("diffpc", {}).get("history")]
    if comms:
        agg["diffpc_train_comm_mean"] = {
            phase: {key: statistics.fmean(c[phase][key] for c in comms)
                    for key in ("activity_spikes_all", "error_spikes_all",
                                "activity_bits_all", "error_bits_all")}
            for phase in comms[0]}
    return agg


def summary_table(per_preset: dict[str, dict[str, Any]]) -> str:
    lines = [f"{'run':<30}{'seeds':>6}{'epochs':>8}{'DiffPC % mean':>15}{'+-std':>7}"
             f"{'BP % mean':>11}{'+-std':>7}{'learn err bits':>16}"]
    for name, agg in per_preset.items():
        if "diffpc" not in agg:
            continue
        d, b = agg["diffpc"], agg.get("bp")
        bits = agg["diffpc_train_comm_mean"]["learn"]["error_bits_all"]
        lines.append(f"{name:<30}{len(agg['seeds']):>6}{min(d['epochs']):>8}"
                     f"{100 * d['mean']:>15.2f}{100 * d['std']:>7.2f}"
                     + (f"{100 * b['mean']:>11.2f}{100 * b['std']:>7.2f}" if b else " " * 18)
                     + f"{bits:>16.4f}")
    return "\n".join(lines)


def launch(args: argparse.Namespace, specs: list[tuple[str, list[str], str]],
           out: Path) -> list[str]:
    """Train every (preset, seed) in its own process; returns the runs that failed."""
    epochs = epochs_per_preset(args.epochs, sorted({name for name, _, _ in specs}))
    procs = {}
    for name, flags, label in specs:
        for seed in args.seeds:
            run = f"{label}-s{seed}"
            cmd = [sys.executable, "-m", "lava_diffpc", "train", "--preset", name, *flags,
                   "--device", args.device, "--out", str(out / run), "--seed", str(seed),
                   "--no-progress", "--threads", str(args.threads)]
            if (out / run / "checkpoint-diffpc.pt").exists():
                cmd.append("--resume")
            for flag, value in (("--data-dir", args.data_dir), ("--epochs", epochs[name]),
                                ("--max-minutes", args.max_minutes),
                                ("--limit-train", args.limit_train)):
                if value is not None:
                    cmd += [flag, str(value)]
            log = open(out / f"{run}.log", "a")  # noqa: SIM115 (closed below)
            print(" ".join(cmd), flush=True)
            procs[run] = (subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT), log)
    failed = []
    for run, (proc, log) in procs.items():
        code = proc.wait()
        log.close()
        if code != 0:
            failed.append(run)
            print(f"{run}: exit code {code}; see {out / run}.log", flush=True)
    return failed


def collect(specs: list[tuple[str, list[str], str]], seeds: list[int],
            out: Path) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
    """Every ``<out>/<label>-s<seed>/results.json`` and the per-label aggregates; the runs
    without results are listed as missing."""
    runs: dict[str, Any] = {}
    per_preset: dict[str, Any] = {}
    missing = []
    for _, _, label in specs:
        members = []
        for seed in seeds:
            results = out / f"{label}-s{seed}" / "results.json"
            if not results.is_file():
                missing.append(f"{label}-s{seed}")
                continue
            runs[f"{label}-s{seed}"] = json.loads(results.read_text())
            members.append(runs[f"{label}-s{seed}"])
        if members:
            per_preset[label] = aggregate(members)
    return runs, per_preset, missing


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--presets", nargs="+", required=True)
    p.add_argument("--seeds", nargs="+", type=int, default=[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--epochs", nargs="+", default=None,
                   help="N for every preset, or preset=N items (default: the presets' own)")
    p.add_argument("--max-minutes", type=float, default=None)
    p.add_argument("--limit-train", type=int, default=None,
                   help="first N training samples only (smoke tests)")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads per process")
    p.add_argument("--out", default="runs/presets")
    p.add_argument("--collect", action="store_true",
                   help="train nothing: summarise the run folders already in --out")
    args = p.parse_args()

    out = Path(args.out)
    specs = [parse_spec(s) for s in args.presets]
    start = time.monotonic()
    failed: list[str] = []
    if not args.collect:
        out.mkdir(parents=True, exist_ok=True)
        failed = launch(args, specs, out)
    elif not out.is_dir():
        raise SystemExit(f"error: --out {out} is no folder of runs to collect")
    runs, per_preset, missing = collect(specs, args.seeds, out)
    for run in missing:
        print(f"{run}: no results.json in {out / run}", flush=True)
    summary = {"runs": runs, "presets": per_preset,
               "_meta": {"device": args.device, "wall_seconds": time.monotonic() - start,
                         "failed": sorted(set(failed) | set(missing))}}
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    table = summary_table(per_preset)
    (out / "summary.txt").write_text(table + "\n")
    print(table, flush=True)
    return 1 if failed or missing else 0


if __name__ == "__main__":
    sys.exit(main())
