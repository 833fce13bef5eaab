"""``python -m lava_diffpc bench``: throughput of DiffPC against its backprop twin and a dense
predictive-coding baseline, all on this machine in one run; results as a table and JSON.

What is measured (samples per second of wall-clock time, one process; ``--threads`` sets
torch's threads, default 1):

* **training**, per preset: one optimiser step per batch of the preset's batch size (the
  trainer's work: DiffPC's whole schedule and local gradients, backprop's forward and
  backward pass, the standard-PC twin's ``iterations`` dense relaxation steps; AdamW on
  every one). Each model first trains ``warm_batches`` batches (not timed: compilation,
  and weights past initialisation so that spike activity is typical), then the models
  alternate batch by batch and the fastest of ``repeats`` rounds counts. Where DiffPC's
  step is compiled, the same network with the step run eagerly (``diffpc-eager``, what
  ``--engine auto`` gives a run of fewer than 100 batches) trains beside it;
* **inference**: DiffPC's feed-forward phase against backprop's forward pass;
* **fixed point** (first MLP preset, CPU): batched fixed-point inference in the fast
  simulator and per-sample on-chip training (integer rule, batch 1);
* with ``--device cuda`` the preset rows run on the GPU, and ``epoch_seconds_estimate`` is
  60,000 samples divided by the measured training rate (an estimate, not a timed epoch);
* **cost follows spikes**: a 784-W-10 MLP swept over hidden widths and threshold exponents
  m; DiffPC inference time per sample against the spikes it sends per sample.

Ratios within one run are the meaningful numbers (machines are shared and noisy). The
measurements are written to JSON (``--json``, default ``bench.json``) and the sweep drawn
(``--figure``); ``python -m lava_diffpc report`` builds the README's tables from the JSON.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lava_diffpc.data import load_dataset
from lava_diffpc.engine.fast import Work
from lava_diffpc.presets import parse_layers, preset
from lava_diffpc.train import TrainConfig, build_model, make_optimizer, network_config

FULL_PRESETS = ("mnist-s", "fmnist-m", "mnist-l", "cifar-efficient")
QUICK_PRESETS = ("mnist-s",)
SWEEP_WIDTHS = (256, 512, 1024, 2048, 4096)
SWEEP_MS = (1, 0, -1, -2)
QUICK_WIDTHS = (256, 1024)
QUICK_MS = (0, -2)
EAGER = "diffpc-eager"  # DiffPC's step run eagerly beside the compiled one


def _batches(x: torch.Tensor, y: torch.Tensor, batch: int, count: int, start: int = 0):
    n = len(x)
    for i in range(count):
        lo = (start + i * batch) % max(n - batch, 1)
        yield x[lo:lo + batch], y[lo:lo + batch]


def _train_step(model, optimizer, x, y, generator) -> None:
    grads, _ = model.gradients(x, y, generator=generator)
    for p, g in zip(model.parameters, grads):
        p.grad = g
    optimizer.step()
    for p in model.parameters:
        p.grad = None


def _sync(x: torch.Tensor) -> None:
    if x.device.type == "cuda":
        torch.cuda.synchronize(x.device)


def time_training(models: dict[str, Any], x: torch.Tensor, y: torch.Tensor, batch: int,
                  warm: int, rounds: int) -> dict[str, float]:
    """Training samples/s of each model: ``warm`` untimed batches each, then ``rounds``
    rounds in which every model trains one batch in turn; the fastest round counts."""
    opts = {name: make_optimizer(m.parameters, TrainConfig(lr=5e-4)) for name, m in models.items()}
    gen = torch.Generator().manual_seed(0)  # dropout masks are drawn on the CPU
    for name, m in models.items():
        for xb, yb in _batches(x, y, batch, warm):
            _train_step(m, opts[name], xb, yb, gen)
    best = dict.fromkeys(models, float("inf"))
    for r, (xb, yb) in enumerate(_batches(x, y, batch, rounds, start=warm * batch)):
        for name, m in models.items():
            _sync(xb)
            start = time.perf_counter()
            _train_step(m, opts[name], xb, yb, gen)
            _sync(xb)
            best[name] = min(best[name], time.perf_counter() - start)
        del r
    return {name: len(y[:batch]) / t for name, t in best.items()}


@torch.no_grad()
def time_inference(models: dict[str, Any], x: torch.Tensor, batch: int,
                   rounds: int) -> dict[str, float]:
    """Inference samples/s (DiffPC: feed-forward phase; backprop: forward pass)."""
    for m in models.values():
        m.predict(x[:batch])
    best = dict.fromkeys(models, float("inf"))
    for i in range(rounds):
        xb = x[(i * batch) % max(len(x) - batch, 1):][:batch]
        for name, m in models.items():
            _sync(xb)
            start = time.perf_counter()
            m.predict(xb)
            _sync(xb)
            best[name] = min(best[name], time.perf_counter() - start)
    return {name: batch / t for name, t in best.items()}


def bench_preset(name: str, data_dir: str | None, engine: str, warm: int, rounds: int,
                 limit: int, device: str = "cpu") -> dict[str, Any]:
    """Training and inference throughput of DiffPC, backprop and (MLPs) standard PC."""
    opts = {**preset(name), "seed": 0}
    arch = parse_layers(opts["arch"])
    ds = load_dataset(opts["dataset"], data_dir, flatten=not arch.convs, limit_train=limit,
                      limit_test=10)
    x = torch.from_numpy(ds.x_train).to(device)
    y = torch.from_numpy(ds.y_train).to(device)
    batch = int(opts["batch_size"])
    kinds = ["diffpc", "bp"] + ([] if arch.convs else ["pc"])
    models = {k: build_model(k, opts, engine=engine, device=device) for k in kinds}
    if models["diffpc"].engine == "compiled":  # what a short run gets under "auto"
        models[EAGER] = build_model("diffpc", opts, engine="fast", device=device)
    train = time_training(models, x, y, batch, warm, rounds)
    models.pop(EAGER, None)
    infer = time_inference({k: models[k] for k in ("diffpc", "bp")}, x, batch, rounds)
    stats = models["diffpc"].config.comm_stats()
    models["diffpc"].run(x[:batch], y[:batch], stats=stats)
    return {
        "preset": name, "arch": opts["arch"], "batch_size": batch, "device": device,
        "epoch_seconds_estimate": {k: 60000 / v for k, v in train.items()},
        "steps_per_sample": models["diffpc"].config.schedule.steps,
        "engine": models["diffpc"].engine,
        "train_samples_per_s": train, "infer_samples_per_s": infer,
        "train_ratio_bp_over_diffpc": train["bp"] / train["diffpc"],
        **({"train_ratio_bp_over_diffpc_eager": train["bp"] / train[EAGER]}
           if EAGER in train else {}),
        "infer_ratio_bp_over_diffpc": infer["bp"] / infer["diffpc"],
        "comm": stats.to_dict(),
    }


def bench_fixed_point(name: str, data_dir: str | None, engine: str, onchip_samples: int,
                      infer_batch: int) -> dict[str, Any]:
    """Batched fixed-point inference and per-sample on-chip training in the fast simulator
    (weights: the float reference's initialisation, quantised; on-chip: from scratch with the
    presets' rule, ``OnChipRule()``)."""
    from lava_diffpc.engine.step import choose_engine
    from lava_diffpc.fixed_point import quantize_for_learning, quantize_input, quantize_params
    from lava_diffpc.fixedsim import FixedPointNetwork
    from lava_diffpc.reference.network import init_parameters
    from lava_diffpc.rules.fixed_learning import OnChipRule

    opts = {**preset(name), "presyn": "x_A", "dropout": 0.0}
    cfg = network_config(opts)
    ds = load_dataset(opts["dataset"], data_dir, limit_train=onchip_samples + 5,
                      limit_test=2 * infer_batch)
    params = init_parameters(cfg.sizes, 0, torch.float64)
    sim = FixedPointNetwork(cfg, quantize_params(params),
                            engine=choose_engine(engine, cfg, infer_batch))
    x_test = quantize_input(ds.x_test)
    sim.predict(x_test[:infer_batch], batch_size=infer_batch)
    start = time.perf_counter()
    sim.predict(x_test, batch_size=infer_batch)
    infer = len(x_test) / (time.perf_counter() - start)
    rule = OnChipRule()
    learner = FixedPointNetwork(cfg, quantize_for_learning(params, rule.headroom),
                                engine=choose_engine(engine, cfg, 256))
    x_train = quantize_input(ds.x_train)
    learner.train(x_train[:5], ds.y_train[:5], rule)
    res = learner.train(x_train[5:], ds.y_train[5:], rule)
    return {"preset": name, "infer_batch": infer_batch, "fixed_infer_samples_per_s": infer,
            "onchip_train_samples_per_s": onchip_samples / res.seconds,
            "onchip_samples": onchip_samples, "onchip_rule": asdict(rule), "engine": sim.engine,
            "onchip_engine": learner.engine}


def sweep_cost(data_dir: str | None, widths: tuple[int, ...], ms: tuple[int, ...],
               engine: str, batch: int, rounds: int) -> list[dict[str, Any]]:
    """784-W-10 MLPs on MNIST: inference time per sample against spikes sent per sample."""
    ds = load_dataset("mnist", data_dir, limit_train=10, limit_test=batch * (rounds + 1))
    x = torch.from_numpy(ds.x_test)
    rows = []
    for width in widths:
        for m in ms:
            opts = {**preset("mnist-s"), "arch": f"784-{width}-10", "m": m, "n": 4, "c1": 15,
                    "seed": 0, "batch_size": batch}
            net = build_model("diffpc", opts, engine=engine)
            net.predict(x[:batch])
            best, work = float("inf"), Work()
            stats = net.config.comm_stats()
            for i in range(rounds):
                xb = x[(i + 1) * batch:(i + 2) * batch]
                start = time.perf_counter()
                net.run(xb, stats=stats, work=work)
                best = min(best, time.perf_counter() - start)
            ff = stats.to_dict()["ff"]
            spikes = float(np.sum(np.array(ff["activity_spikes"]) * np.array(net.config.sizes)))
            rows.append({"width": width, "m": m, "neurons": int(sum(net.config.sizes)),
                         "seconds_per_sample": best / batch,
                         "spikes_per_sample": spikes,
                         "layer_steps_computed": work.fraction})
    return rows


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(),
            "torch": torch.__version__, "python": platform.python_version(),
            "threads": torch.get_num_threads(),
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}


def code_commit() -> str:
    """The git commit (``-dirty`` when changed) of the checkout holding this package, or
    ``unknown`` outside one: which code a measurement ran."""
    try:
        return subprocess.run(["git", "describe", "--always", "--dirty", "--abbrev=12"],
                              cwd=Path(__file__).resolve().parent, capture_output=True,
                              text=True, check=True).stdout.strip() or "unknown"
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def run(args: argparse.Namespace) -> dict[str, Any]:
    """The whole benchmark (module docstring); returns the JSON document."""
    quick = args.quick
    presets = tuple(args.presets) if args.presets else (QUICK_PRESETS if quick else FULL_PRESETS)
    warm, rounds = (2, 2) if quick else (args.warm_batches, args.rounds)
    limit = 256 * (warm + rounds + 2)
    doc: dict[str, Any] = {"machine": machine(), "code_commit": code_commit(), "quick": quick,
                           "engine": args.engine, "device": args.device, "presets": [],
                           "fixed_point": None, "sweep": []}
    for name in presets:
        row = bench_preset(name, args.data_dir, args.engine, warm, rounds, limit, args.device)
        doc["presets"].append(row)
        print(format_preset_row(row), flush=True)
    mlps = [p for p in presets if not parse_layers(preset(p)["arch"]).convs]
    if mlps and not args.no_fixed:
        doc["fixed_point"] = bench_fixed_point(mlps[0], args.data_dir, args.engine,
                                               onchip_samples=20 if quick else 200,
                                               infer_batch=1000)
        print(format_fixed(doc["fixed_point"]), flush=True)
    if not args.no_sweep:
        doc["sweep"] = sweep_cost(args.data_dir, QUICK_WIDTHS if quick else SWEEP_WIDTHS,
                                  QUICK_MS if quick else SWEEP_MS, args.engine, batch=256,
                                  rounds=1 if quick else 3)
        print(format_sweep(doc["sweep"]), flush=True)
    return doc


def format_preset_row(row: dict[str, Any]) -> str:
    t, i = row["train_samples_per_s"], row["infer_samples_per_s"]
    pc = f"{t['pc']:>9.0f}" if "pc" in t else f"{'-':>9}"
    eager = (f" (eager {t[EAGER]:.0f}, BP/DiffPC {row['train_ratio_bp_over_diffpc_eager']:.1f})"
             if EAGER in t else "")
    return (f"{row['preset']:<16} train: DiffPC {t['diffpc']:>7.0f}  BP {t['bp']:>7.0f}  PC {pc}"
            f"  BP/DiffPC {row['train_ratio_bp_over_diffpc']:>5.1f}{eager} | inference: DiffPC "
            f"{i['diffpc']:>7.0f}  BP {i['bp']:>8.0f}  BP/DiffPC "
            f"{row['infer_ratio_bp_over_diffpc']:>5.1f}   (samples/s, {row['engine']})")


def format_fixed(row: dict[str, Any]) -> str:
    return (f"{row['preset']:<16} fixed point: inference {row['fixed_infer_samples_per_s']:.0f}"
            f" samples/s (batch {row['infer_batch']}), on-chip training "
            f"{row['onchip_train_samples_per_s']:.0f} samples/s (batch 1)")


def format_sweep(rows: list[dict[str, Any]]) -> str:
    lines = ["cost follows spikes (784-W-10 inference): "
             f"{'width':>6}{'m':>4}{'neurons':>9}{'spikes/sample':>15}{'us/sample':>11}"
             f"{'computed':>10}"]
    for r in rows:
        lines.append(f"{'':41}{r['width']:>6}{r['m']:>4}{r['neurons']:>9}"
                     f"{r['spikes_per_sample']:>15.0f}{1e6 * r['seconds_per_sample']:>11.1f}"
                     f"{100 * r['layer_steps_computed']:>9.0f}%")
    return "\n".join(lines)


def plot_sweep(rows: list[dict[str, Any]], path: Path) -> Path:
    """Time per sample against spikes per sample, one colour per hidden width."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 4))
    for i, width in enumerate(sorted({r["width"] for r in rows})):
        pts = sorted((r["spikes_per_sample"], 1e6 * r["seconds_per_sample"], r["m"])
                     for r in rows if r["width"] == width)
        ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", color=f"C{i}",
                label=f"W = {width}")
        for s, t, m in pts:
            ax.annotate(f"m={m}", (s, t), fontsize=6, xytext=(3, 2), textcoords="offset points")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("activity spikes sent per sample (feed-forward phase)")
    ax.set_ylabel("inference time per sample (us)")
    ax.set_title("DiffPC 784-W-10: cost follows spikes")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
