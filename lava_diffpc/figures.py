"""PNG figures of trained runs and schedules (``python -m lava_diffpc figures``).

* ``accuracy-<preset>[_<changed options>].png``: test accuracy per epoch of DiffPC (solid)
  and its backprop twin (dashed), one thin line per seed and their mean in bold, from each
  run folder's ``results.json`` (held-out accuracy too, when the run held samples out).
* ``spikes-<run>.png``: per-layer histograms of the spikes one neuron sends for one sample:
  activity spikes of layers 0..L-1 in the feed-forward phase (inference) and error spikes
  of layers 2..L in the learning phase, on the first ``--samples`` test samples, from the
  run's ``checkpoint-diffpc.pt``. Only transmitted spikes count (as in
  :mod:`lava_diffpc.metrics`): the output's activity and layer 1's errors go nowhere.
  The test images are standardised with the whole training split's statistics; a run
  that held samples out (``--heldout``) trained on slightly different ones.
* ``schedule-<presets>.png``: threshold ``T(k)`` (log scale) and target-update rate
  ``gamma(k)`` over one training sample's steps, per preset.
* ``augment-<run>.png``: for a run trained with ``--augment``, its first training images as
  they are (top row) and three draws of the run's augmentation of them (shifts, flips,
  rotations, elastic distortions; :mod:`lava_diffpc.augment`), shown on the [0, 1] pixel
  scale (standardisation undone, clipped for display only).
"""

from __future__ import annotations

import argparse
import json
import re
import textwrap
from collections import defaultdict
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the headless backend)
import numpy as np  # noqa: E402
import torch  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from lava_diffpc.augment import Augmentation  # noqa: E402
from lava_diffpc.data import load_dataset  # noqa: E402
from lava_diffpc.presets import PRESETS, parse_layers, preset  # noqa: E402
from lava_diffpc.runfolder import check_folder  # noqa: E402
from lava_diffpc.train import build_model, network_config, read_checkpoint  # noqa: E402

MODEL_STYLE = {"diffpc": ("DiffPC", "-"), "bp": ("backprop", "--")}
AUGMENT_IMAGES = 8  # training images per augmentation figure


def run_label(opts: dict[str, Any]) -> str:
    """The preset plus every option a run changed (the seed aside): ``mnist-l m=-3``.

    Runs with equal labels are seeds of one configuration and share an accuracy figure.
    """
    base = preset(opts["preset"])
    changed = [f"{k}={v}" for k, v in opts.items()
               if k not in ("seed", "preset") and k in base and base[k] != v]
    return " ".join([opts["preset"], *changed])


def accuracy_curves(runs: list[dict[str, Any]], title: str, path: Path) -> Path:
    """Test (and held-out) accuracy per epoch of several seeds of one preset."""
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for model, (label, style) in MODEL_STYLE.items():
        for split, color_shift in (("test_acc", 0), ("heldout_acc", 2)):
            curves = [[100 * h[split] for h in r[model]["history"] if split in h]
                      for r in runs if model in r]
            curves = [c for c in curves if c]
            if not curves:
                continue
            color = f"C{(0 if model == 'diffpc' else 1) + color_shift}"
            for c in curves:
                ax.plot(range(1, len(c) + 1), c, style, color=color, alpha=0.3, lw=0.8)
            n = min(len(c) for c in curves)
            mean = np.mean([c[:n] for c in curves], axis=0)
            what = "test" if split == "test_acc" else "held-out"
            ax.plot(range(1, n + 1), mean, style, color=color, lw=2,
                    label=f"{label}, {what} (mean of {len(curves)})")
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("accuracy (%)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


@torch.no_grad()
def spike_counts(checkpoint: dict[str, Any], x: torch.Tensor, y: torch.Tensor,
                 batch_size: int = 250, device: str = "cpu") -> dict[tuple, np.ndarray]:
    """Spikes per neuron per sample, ``{(phase, kind, layer): (N, n_layer) int array}``.

    Runs the checkpoint's DiffPC network on ``(x, y)``: feed-forward plus learning phase
    (no dropout), counting transmitted spikes only (see the module docstring).
    """
    opts = checkpoint["model_opts"]
    params = list(zip(checkpoint["params"][0::2], checkpoint["params"][1::2]))
    net = build_model("diffpc", opts, params=params, device=device)
    parts: dict[tuple, list[np.ndarray]] = defaultdict(list)
    for start in range(0, len(x), batch_size):
        tally: dict = {}  # transmitted spikes only (lava_diffpc.metrics.transmitted)
        net.run(x[start:start + batch_size], y[start:start + batch_size], per_neuron=tally)
        for key in sorted(tally):
            if key[:2] in (("ff", "activity"), ("learn", "error")):
                parts[key].append(tally[key].reshape(len(tally[key]), -1).round().int()
                                  .cpu().numpy())
    return {key: np.concatenate(chunks) for key, chunks in parts.items()}


def spike_histograms(counts: dict[tuple, np.ndarray], title: str, path: Path) -> Path:
    """One panel per transmitting layer: how many spikes a neuron sends for one sample."""
    keys = list(counts)
    fig, axes = plt.subplots(1, len(keys), figsize=(3.2 * len(keys), 3.2), squeeze=False)
    for ax, key in zip(axes[0], keys):
        phase, kind, layer = key
        c = counts[key].ravel()
        bins = np.arange(0, max(int(c.max()), 1) + 2) - 0.5
        ax.hist(c, bins=bins, color="C0" if kind == "activity" else "C3")
        ax.set_yscale("log")
        ax.set_title(f"layer {layer} {kind} ({phase})\nmean {c.mean():.3f}, silent "
                     f"{100 * np.mean(c == 0):.0f}%", fontsize=9)
        ax.set_xlabel("spikes per neuron per sample")
    axes[0][0].set_ylabel("neuron-samples")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def schedule_plot(presets: list[str], path: Path) -> Path:
    """Threshold and gamma over one training sample's steps, one row per preset."""
    fig, axes = plt.subplots(len(presets), 1, figsize=(8, 2.2 * len(presets)), squeeze=False)
    for ax, name in zip(axes[:, 0], presets):
        sched = network_config(preset(name)).schedule
        k = np.arange(sched.steps)
        ax.step(k, sched.thresholds(), where="post", color="C0", label="threshold T(k)")
        ax.set_yscale("log", base=2)
        ax.set_ylabel("T(k)")
        ax.axvline(sched.k1 - 0.5, color="k", lw=0.8, ls=":")
        gamma_ax = ax.twinx()
        gamma_ax.plot(k, sched.gammas(), ".", color="C3", ms=3, label="gamma(k)")
        gamma_ax.set_ylim(-0.05, 1.05)
        gamma_ax.set_ylabel("gamma", color="C3")
        ax.set_title(f"{name}: m={sched.m}, n={sched.n}, {sched.kind}; feed-forward "
                     f"{sched.k1} steps | learning {sched.k2} steps", fontsize=9)
    axes[-1, 0].set_xlabel("time step k within one training sample")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def augmentation_draws(opts: dict[str, Any], images: torch.Tensor, draws: int = 3,
                       seed: int = 0) -> torch.Tensor:
    """``(1 + draws, N, C, H, W)``: the images ``(N, C, H, W)`` as they are, then ``draws``
    successive augmentations of them by the run options' :class:`Augmentation`, from one
    generator seeded with ``seed``."""
    aug = Augmentation.for_options(opts, tuple(images.shape[1:]))
    gen = torch.Generator().manual_seed(seed)
    return torch.stack([images, *(aug(images, gen) for _ in range(draws))])


def augmentation_grid(panels: torch.Tensor, mean: np.ndarray, std: np.ndarray, title: str,
                      path: Path) -> Path:
    """One row per draw of :func:`augmentation_draws`, standardisation undone with the
    training split's per-channel ``mean`` and ``std`` (pixel scale [0, 1])."""
    rows, cols = panels.shape[:2]
    pixels = panels.double() * torch.from_numpy(std).view(-1, 1, 1) + \
        torch.from_numpy(mean).view(-1, 1, 1)
    pixels = pixels.clamp(0, 1).permute(0, 1, 3, 4, 2).numpy()  # (rows, cols, H, W, C)
    fig, axes = plt.subplots(rows, cols, figsize=(1.1 * cols, 1.1 * rows + 0.6), squeeze=False)
    for r in range(rows):
        for c in range(cols):
            ax = axes[r, c]
            image = pixels[r, c]
            if image.shape[-1] == 1:
                ax.imshow(image[..., 0], cmap="gray", vmin=0, vmax=1)
            else:
                ax.imshow(image)
            ax.set_xticks([])
            ax.set_yticks([])
        axes[r, 0].set_ylabel("as is" if r == 0 else f"draw {r}", fontsize=8)
    fig.suptitle(textwrap.fill(title, 14 * cols), fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _read_results(run: Path) -> dict[str, Any]:
    path = run / "results.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: pass run folders written by "
                                "'python -m lava_diffpc train'")
    try:
        results = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path} is unreadable ({exc}); pass a run folder whose training "
                         "finished at least one epoch") from None
    if not isinstance(results, dict) or "options" not in results:
        raise ValueError(f"{path} is not a results file of 'python -m lava_diffpc train'")
    return results


def draw_all(args: argparse.Namespace) -> list[Path]:
    """The CLI's ``figures`` command: every figure the arguments ask for. Every input (run
    folders, checkpoints, presets) is read and checked before the output folder is made;
    ValueError when the arguments ask for nothing that can be drawn."""
    out = Path(args.out)
    what = set(args.what)
    for name in args.schedules or ():
        preset(name)  # an unknown preset fails before anything is drawn
    runs = [(Path(run), _read_results(Path(run))) for run in args.runs]
    states = {run: read_checkpoint(run / "checkpoint-diffpc.pt") for run, _ in runs
              if "spikes" in what and (run / "checkpoint-diffpc.pt").exists()}
    drawable = {"accuracy": bool(runs), "schedule": args.schedules != [], "spikes": bool(states),
                "augment": any(results["options"].get("augment") for _, results in runs)}
    if not any(drawable[kind] for kind in what):
        raise ValueError(f"nothing to draw: --what {' '.join(sorted(what))} needs run folders "
                         "(spike histograms: with a checkpoint-diffpc.pt; augment: trained "
                         "with --augment) or, for schedule, presets; pass run folders or "
                         "--what schedule")
    check_folder(out)
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    try:
        return _draw(args, out, what, runs, states)
    except BaseException:
        if created and not any(out.iterdir()):
            out.rmdir()
        raise


def _draw(args: argparse.Namespace, out: Path, what: set[str],
          runs: list[tuple[Path, dict[str, Any]]], states: dict[Path, dict[str, Any]]
          ) -> list[Path]:
    written, by_preset = [], defaultdict(list)
    for run, results in runs:
        by_preset[run_label(results["options"])].append(results)
        state = states.get(run)
        if state is not None:
            opts = state["model_opts"]
            ds = load_dataset(opts["dataset"], args.data_dir, download=args.download,
                              flatten=not parse_layers(opts["arch"]).convs,
                              limit_test=args.samples)
            counts = spike_counts(state, torch.from_numpy(ds.x_test), torch.from_numpy(ds.y_test),
                                  device=args.device)
            written.append(spike_histograms(
                counts, f"{run_label(opts)} (seed {opts.get('seed', 0)}, epoch {state['epoch']}), "
                        f"{len(ds.x_test)} {ds.name} test samples", out / f"spikes-{run.name}.png"))
    for run, results in runs if "augment" in what else ():
        opts = results["options"]
        if opts.get("augment"):
            ds = load_dataset(opts["dataset"], args.data_dir, download=args.download,
                              flatten=False, limit_train=AUGMENT_IMAGES, limit_test=1)
            panels = augmentation_draws(opts, torch.from_numpy(ds.x_train))
            written.append(augmentation_grid(
                panels, ds.mean, ds.std, f"{run_label(opts)}: {ds.name} training images as "
                                         "they are and three augmented draws",
                out / f"augment-{run.name}.png"))
    for label, runs_of in by_preset.items() if "accuracy" in what else ():
        stem = re.sub(r"[^A-Za-z0-9._-]+", "_", label)
        written.append(accuracy_curves(runs_of, f"{label}: {runs_of[0]['dataset']}",
                                       out / f"accuracy-{stem}.png"))
    schedules = args.schedules
    if schedules is None:
        schedules = sorted({r["options"]["preset"] for runs_of in by_preset.values()
                            for r in runs_of}) or list(PRESETS)
    if schedules and "schedule" in what:
        stem = "all" if set(schedules) == set(PRESETS) else "-".join(schedules)
        written.append(schedule_plot(schedules, out / f"schedule-{stem}.png"))
    return written
