"""Accuracy of a trained run's weights in fixed point (fixedsim) against the float reference,
on the run's test split, with a few samples through the Lava ``fixed_pt`` graph.

For the DiffPC checkpoint of ``RUN`` (``python -m lava_diffpc train ... --out RUN``):

* ``reference``: the float reference on the checkpoint's weights
  (``evaluate --backend reference``);
* ``fixedsim``: the same weights quantised by :func:`lava_diffpc.fixed_point.quantize_params`
  (8-bit mantissa per connection, 24-bit states, ``F = 12``) in the fast fixed-point
  simulator (``evaluate --backend fixedsim``);
* ``agreement``: the fraction of test samples on which both predict the same class;
* ``lava``: the first ``--lava-samples`` test samples through the Lava ``fixed_pt`` graph
  (``evaluate --backend lava-fixed``), whose predictions and spike counts must equal
  fixedsim's on the same samples (``lava.equal_to_fixedsim``); ``steps_per_s`` counts the
  ``run()`` alone (compilation and start-up excluded);
* ``netx`` (``--netx``): the inference path exported to lava-dl's netx format
  (:func:`lava_diffpc.export.netx.check_on_lava`, scales calibrated on the run's training
  samples) and run by lava-dl's ``netx.hdf5.Network`` on ``Loihi2SimCfg`` over the whole
  test split (``evaluate --backend netx``): its accuracy and on how many samples Lava's
  outputs equal the file's own NumPy model.

The run's data are its own (``evaluate``'s: ``--limit-train``, held-out split, test split).
The entry is written under ``fixed_vs_float`` of ``--out``, the run's ``results.json`` under
``runs`` (the ``runs`` and ``precision`` blocks of ``python -m lava_diffpc report``)::

    PYTHONPATH=. python benchmarks/fixed_vs_float.py RUN --data-dir DATA --threads 1 \\
        --out docs/results/cpu-cifar-efficient-fixed-vs-float.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lava_diffpc.backends import infer
from lava_diffpc.bench import code_commit
from lava_diffpc.commands.evaluate import _run_data
from lava_diffpc.fixed_point import quantize_params
from lava_diffpc.train import build_model, read_checkpoint


def _summary(run: Any, y: np.ndarray) -> dict[str, Any]:
    return {"test_acc": float((run.predictions == y).mean()), "seconds": run.seconds,
            "ff_activity_spikes_per_neuron":
                run.stats.to_dict()["ff"]["activity_spikes_all"]}


def compare(run_dir: Path, data_dir: str | None, lava_samples: int,
            netx: bool = False) -> dict[str, Any]:
    """The entry of the module docstring for the DiffPC checkpoint in ``run_dir``."""
    state = read_checkpoint(run_dir / "checkpoint-diffpc.pt")
    opts = state["model_opts"]
    args = argparse.Namespace(data_dir=data_dir, download=False, limit_test=None)
    ds, _ = _run_data(run_dir, opts, args)
    params = list(zip(state["params"][0::2], state["params"][1::2]))
    model = build_model("diffpc", opts, params=params)
    q = quantize_params([(w.double().numpy(), b.double().numpy()) for w, b in params])
    x, y = ds.x_test, ds.y_test
    ref = infer(model, x, "reference")
    fixed = infer(model, x, "fixedsim", engine="fast")
    entry = {"arch": opts["arch"], "test_samples": len(y), "epochs": state["epoch"],
             "reference": _summary(ref, y), "fixedsim": _summary(fixed, y),
             "agreement": float((ref.predictions == fixed.predictions).mean()),
             "weight_exps": list(q.weight_exps),
             "exact_shifts": q.exact_shifts(model.config.schedule)}
    entry["fixed_minus_float_points"] = 100 * (entry["fixedsim"]["test_acc"]
                                               - entry["reference"]["test_acc"])
    if lava_samples > 0:
        from lava_diffpc.lava_graph import run_dataset

        xs = x[:lava_samples]
        lava = run_dataset(model.config, q, xs, mode="fixed")
        sim = infer(model, xs, "fixedsim", engine="fast")
        entry["lava"] = {
            "samples": lava_samples, "run_seconds": lava.seconds,
            "steps_per_s": lava.steps_per_second,
            "equal_to_fixedsim": bool(np.array_equal(lava.predictions, sim.predictions)
                                      and lava.stats.to_dict() == sim.stats.to_dict())}
    if netx:
        from lava_diffpc.export.netx import check_on_lava

        check = check_on_lava(model.config, params, x, ds.x_train)
        entry["netx"] = {
            "test_acc": float((check.predictions == y).mean()),
            "lava_equals_model": int(np.all(check.lava.outputs == check.model.outputs,
                                            axis=1).sum()),
            "samples": len(y), "steps_per_sample": check.net.steps}
    return entry


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", type=Path, help="run folder with checkpoint-diffpc.pt")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--lava-samples", type=int, default=3,
                    help="test samples through the Lava fixed_pt graph (0: none)")
    ap.add_argument("--netx", action="store_true",
                    help="also export to netx and run the test split on lava-dl's netx")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--machine", default="2-core CPU")
    ap.add_argument("--command", action="append", default=[],
                    help="a command that made the run (repeatable; stored as given)")
    ap.add_argument("--name", default=None,
                    help="the run's name under 'runs' of --out; default: the folder's name")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    entry = compare(args.run, args.data_dir, args.lava_samples, args.netx)
    entry.update({"machine": args.machine, "code_commit": code_commit(),
                  "commands": args.command + [
                      "PYTHONPATH=. python benchmarks/fixed_vs_float.py RUN --data-dir DATA "
                      f"--lava-samples {args.lava_samples}{' --netx' if args.netx else ''} "
                      f"--threads {args.threads} --out docs/results/{args.out.name}"]})
    data = json.loads(args.out.read_text()) if args.out.exists() else {}
    data["fixed_vs_float"] = entry
    data.setdefault("runs", {})[args.name or args.run.name] = json.loads(
        (args.run / "results.json").read_text())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(data, indent=2) + "\n")
    print(json.dumps({k: v for k, v in entry.items() if k != "commands"}, indent=2))


if __name__ == "__main__":
    main()
