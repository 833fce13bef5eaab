"""A trained run's DiffPC checkpoint and data, for the commands that read one (``export``,
``cost``): the same models and standardisation as ``evaluate`` uses."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from lava_diffpc.commands.common import load_data, split_heldout
from lava_diffpc.config import DiffPCConfig
from lava_diffpc.data import Dataset
from lava_diffpc.fixed_point import QuantizedParams
from lava_diffpc.onchip import ONCHIP_NAME, load_qparams
from lava_diffpc.presets import parse_layers
from lava_diffpc.train import build_model

DIFFPC_NAMES = ("diffpc", ONCHIP_NAME)


@dataclass
class TrainedRun:
    """One DiffPC checkpoint: its float model and, for an on-chip run, its integers."""

    name: str
    state: dict[str, Any]
    model: Any  # DiffPCNetwork (float reference)
    qparams: QuantizedParams | None

    @property
    def opts(self) -> dict[str, Any]:
        return self.state["model_opts"]

    @property
    def config(self) -> DiffPCConfig:
        return self.model.config

    @property
    def params(self) -> Any:
        """What the integer backends take: an on-chip run's integers, else float64 arrays."""
        if self.qparams is not None:
            return self.qparams
        return [(w.detach().cpu().double().numpy(), b.detach().cpu().double().numpy())
                for w, b in zip(self.model.weights, self.model.biases)]


def load_run(path: str | Path, name: str | None = None) -> TrainedRun:
    """The DiffPC checkpoint of a run folder (``checkpoint-diffpc.pt`` or
    ``checkpoint-onchip.pt``; ``name`` picks one when both exist) or a checkpoint file."""
    path = Path(path)
    if path.is_file():
        files = [path]
    elif path.is_dir():
        files = sorted(path.glob("checkpoint-*.pt"))
    else:
        raise FileNotFoundError(f"{path} is neither a run folder nor a checkpoint file")
    states = [torch.load(f, map_location="cpu", weights_only=False) for f in files]
    states = [s for s in states if s.get("name") in DIFFPC_NAMES]
    if name is not None:
        states = [s for s in states if s["name"] == name]
    if not states:
        raise FileNotFoundError(f"no DiffPC checkpoint{f' named {name!r}' if name else ''} "
                                f"in {path} (checkpoint-diffpc.pt or checkpoint-{ONCHIP_NAME}.pt)")
    if len(states) > 1:
        raise ValueError(f"{path} holds several DiffPC checkpoints "
                         f"({', '.join(s['name'] for s in states)}); pick one with --model")
    state = states[0]
    qparams = load_qparams(state) if state["name"] == ONCHIP_NAME else None
    if qparams is not None:
        params = [(torch.from_numpy(w), torch.from_numpy(b)) for w, b in qparams.dequantize()]
    else:
        params = list(zip(state["params"][0::2], state["params"][1::2]))
    model = build_model("diffpc", state["model_opts"], params=params, engine="auto")
    return TrainedRun(state["name"], state, model, qparams)


def load_run_data(run: TrainedRun, args: argparse.Namespace) -> Dataset:
    """The run's data set, standardised as it was trained (held-out samples removed)."""
    arch = parse_layers(run.opts["arch"])
    ds, _ = split_heldout(load_data(run.opts["dataset"], args, flatten=not arch.convs),
                          int(run.opts.get("heldout", 0)))
    return ds
