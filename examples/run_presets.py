"""Train several presets side by side (one process each) and collect their results.

Example, on a GPU machine with the data sets in ./data::

    python examples/run_presets.py --presets fmnist-m mnist-s mnist-l --device cuda \
        --data-dir data --max-minutes 8 --out runs/gpu

Each preset runs ``python -m lava_diffpc train`` (DiffPC and the backprop baseline) in its
own process, logging to ``<out>/<preset>.log``; ``<out>/summary.json`` gathers every
``results.json``. Re-running with the same ``--out`` resumes the unfinished runs.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--presets", nargs="+", required=True)
    p.add_argument("--device", default="cpu")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--epochs", type=int, default=None, help="override the presets' epochs")
    p.add_argument("--max-minutes", type=float, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads per process")
    p.add_argument("--out", default="runs/presets")
    args = p.parse_args()

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    procs = {}
    for name in args.presets:
        cmd = [sys.executable, "-m", "lava_diffpc", "train", "--preset", name, "--device",
               args.device, "--out", str(out / name), "--seed", str(args.seed), "--no-progress",
               "--threads", str(args.threads)]
        if (out / name / "checkpoint-diffpc.pt").exists():
            cmd.append("--resume")
        for flag, value in (("--data-dir", args.data_dir), ("--epochs", args.epochs),
                            ("--max-minutes", args.max_minutes)):
            if value is not None:
                cmd += [flag, str(value)]
        log = open(out / f"{name}.log", "a")  # noqa: SIM115 (closed below)
        print(" ".join(cmd), flush=True)
        procs[name] = (subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT), log)
    start = time.monotonic()
    summary, failed = {}, []
    for name, (proc, log) in procs.items():
        code = proc.wait()
        log.close()
        results = out / name / "results.json"
        if code != 0 or not results.exists():
            failed.append(name)
            print(f"{name}: exit code {code}; see {out / name}.log", flush=True)
            continue
        summary[name] = json.loads(results.read_text())
        for model in ("diffpc", "bp"):
            if model in summary[name]:
                r = summary[name][model]
                print(f"{name} {model}: final {r['final_test_acc']:.4f}, best "
                      f"{r['best_test_acc']:.4f} after {r['epochs_done']} epochs", flush=True)
    summary["_meta"] = {"device": args.device, "wall_seconds": time.monotonic() - start}
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
