"""Training with the on-chip rule at dataset scale: the integer rule in the fast simulator.

:class:`OnChipTrainer` runs :meth:`lava_diffpc.fixedsim.FixedPointNetwork.train` (per-sample
updates in Loihi 2's learning-engine form, bit-exact with the Lava ``fixed_pt`` graph)
epoch by epoch with the float trainer's interface (:class:`lava_diffpc.train.Trainer`):
progress bar, a history record per epoch (``train_samples_per_s``, test accuracy in fixed
point, spikes), atomic checkpoints every ``checkpoint_every`` chunks of ``batch_size``
samples and at each epoch's end, and exact resume (weights, biases, the rounding
generators' states and the position in the epoch). Sample order: a permutation seeded by
``(seed, epoch)``. The network: the preset's, with presynaptic factor ``x_A`` and no dropout
(the chip rule has none); initial weights are the float reference's initialisation
quantised with ``headroom`` bits to grow (:func:`~lava_diffpc.fixed_point.quantize_for_learning`).
"""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from lava_diffpc.engine.step import choose_engine
from lava_diffpc.fixed_point import QuantizedParams, quantize_for_learning, quantize_input
from lava_diffpc.fixedsim import FixedPointNetwork
from lava_diffpc.metrics import CommStats
from lava_diffpc.reference.network import init_parameters
from lava_diffpc.rules.fixed_learning import OnChipRule
from lava_diffpc.train import (
    TrainConfig,
    epoch_record,
    network_config,
    read_checkpoint,
    save_atomic,
)

ONCHIP_NAME = "onchip"


def onchip_rule(opts: dict[str, Any], epoch: int = 0) -> OnChipRule:
    """The :class:`OnChipRule` an option dict describes for ``epoch`` (``lr_shift``,
    ``err_shift``, ``headroom``, ``seed``; with ``lr_shift_decay = N > 0`` the learning rate
    halves every N epochs: ``lr_shift + epoch // N``, a shift, as the engine needs)."""
    decay = int(opts.get("lr_shift_decay", 0))
    if decay < 0:
        raise ValueError(f"lr_shift_decay must be >= 0 epochs, got {decay}")
    shift = int(opts["lr_shift"]) + (epoch // decay if decay else 0)
    return OnChipRule(lr_shift=shift, err_shift=int(opts["err_shift"]),
                      seed=int(opts.get("seed", 0)), headroom=int(opts["headroom"]))


def onchip_opts(opts: dict[str, Any]) -> dict[str, Any]:
    """The options of the network the on-chip rule trains: presyn ``x_A``, no dropout."""
    return {**opts, "presyn": "x_A", "dropout": 0.0}


class OnChipTrainer:
    """Trains a network with the on-chip rule (module docstring); the float trainer's API.

    Args:
        opts: the run's options (preset plus overrides, with ``lr_shift``, ``err_shift``,
            ``headroom``); presyn and dropout are overridden by :func:`onchip_opts`.
        data: (x_train, y_train, x_test, y_test) float tensors (standardised) and labels.
        cfg: loop settings (``epochs``, ``batch_size`` = samples per progress/checkpoint
            chunk, ``seed``, ``checkpoint_every``, ``eval_batch_size``).
        run_dir: folder for ``checkpoint-onchip.pt``; None disables checkpoints.
        engine: how the simulator runs: for training (batch 1) ``auto`` compiles the
            kernels when a 256-sample batch of the widest layer would (compiled calls then
            cost less than eager tensor operations), for evaluation by the batch size.
    """

    name = ONCHIP_NAME

    def __init__(self, opts: dict[str, Any], data, cfg: TrainConfig, run_dir: Path | None,
                 engine: str = "auto"):
        self.model_opts = onchip_opts(opts)
        self.config = network_config(self.model_opts)
        if self.config.convs:
            raise ValueError("the on-chip rule trains fully connected networks; "
                             f"{opts['arch']} has convolutions")
        if cfg.max_gain > 0:
            raise ValueError("--max-gain bounds the float local rule's weights; the on-chip "
                             "rule has no such step: pass --max-gain 0 (the CIFAR presets "
                             "set a bound)")
        self.rule = onchip_rule(self.model_opts)
        self.cfg, self.run_dir = cfg, run_dir
        init = init_parameters(self.config.sizes, int(opts.get("seed", 0)), torch.float64)
        self.qparams = quantize_for_learning(init, self.rule.headroom)
        self.net = FixedPointNetwork(self.config, self.qparams,
                                     engine=choose_engine(engine, self.config, 256))
        self.eval_engine = choose_engine(engine, self.config, cfg.eval_batch_size)
        x_train, self.y_train, x_test, self.y_test = (np.asarray(d) for d in data)
        fmt = self.qparams.fmt
        self.x_train, self.x_test = quantize_input(x_train, fmt), quantize_input(x_test, fmt)
        self.chunks_per_epoch = -(-len(self.x_train) // cfg.batch_size)
        self.epoch, self.batch = 0, 0  # position of the next chunk
        self.saved_at: tuple[int, int] | None = None  # (epoch, chunk) of the last checkpoint
        self.history: list[dict[str, Any]] = []
        self._epoch_acc = {"correct": 0, "seen": 0, "seconds": 0.0, "saturated": 0}
        self._epoch_stats = self.config.comm_stats()
        self.last_stats: dict[str, CommStats] = {}

    @property
    def model(self) -> FixedPointNetwork:
        return self.net

    @property
    def checkpoint_path(self) -> Path | None:
        return None if self.run_dir is None else self.run_dir / f"checkpoint-{self.name}.pt"

    @property
    def finished(self) -> bool:
        return self.epoch >= self.cfg.epochs

    # ----------------------------------------------------------- checkpoints
    def state_dict(self) -> dict[str, Any]:
        q = self.qparams
        return {
            "name": self.name, "model_opts": self.model_opts, "train_cfg": asdict(self.cfg),
            "qparams": {"weights": q.weights, "weight_exps": q.weight_exps,
                        "biases": q.biases, "fmt": asdict(q.fmt)},
            "rngs": [g.bit_generator.state for g in self.net.rngs(self.rule)],
            "epoch": self.epoch, "batch": self.batch, "history": self.history,
            "epoch_acc": dict(self._epoch_acc), "epoch_stats": self._epoch_stats,
        }

    def save(self) -> None:
        if self.checkpoint_path is not None:
            save_atomic(self.state_dict(), self.checkpoint_path)
            self.saved_at = (self.epoch, self.batch)

    def load(self, path: Path) -> None:
        state = read_checkpoint(path)
        if state["name"] != self.name or "qparams" not in state:
            raise ValueError(f"{path} holds a {state.get('name')} run, not {self.name}")
        saved = state["qparams"]
        for l, (w, b) in enumerate(zip(saved["weights"], saved["biases"])):
            if w.shape != self.qparams.weights[l].shape:
                raise ValueError(f"{path}: weights of shape {w.shape} do not match the "
                                 f"network's {self.qparams.weights[l].shape}; trained with "
                                 "another --arch?")
            self.qparams.weights[l] = np.asarray(w, dtype=np.int64)
            self.qparams.biases[l] = np.asarray(b, dtype=np.int64)
        self.qparams.weight_exps[:] = saved["weight_exps"]
        self.net.load_weights()
        for g, st in zip(self.net.rngs(self.rule), state["rngs"]):
            g.bit_generator.state = st
        self.epoch, self.batch = state["epoch"], state["batch"]
        self.saved_at = (self.epoch, self.batch)
        self.history = state["history"]
        self._epoch_acc = state["epoch_acc"]
        self._epoch_stats = state["epoch_stats"]

    # ------------------------------------------------------------- training
    def train_epoch(self, progress: bool = True) -> dict[str, Any]:
        """Train (the rest of) the current epoch, evaluate, checkpoint; return its record."""
        cfg = self.cfg
        order = np.random.default_rng([cfg.seed, self.epoch]).permutation(len(self.x_train))
        bar = tqdm(total=self.chunks_per_epoch, initial=self.batch, leave=False,
                   desc=f"{self.name} epoch {self.epoch + 1}/{cfg.epochs}", disable=not progress)
        while self.batch < self.chunks_per_epoch:
            idx = order[self.batch * cfg.batch_size:(self.batch + 1) * cfg.batch_size]
            res = self.net.train(self.x_train[idx], self.y_train[idx],
                                 onchip_rule(self.model_opts, self.epoch),
                                 stats=self._epoch_stats)
            acc = self._epoch_acc
            acc["correct"] += int((res.predictions == self.y_train[idx]).sum())
            acc["seen"] += len(idx)
            acc["seconds"] += res.seconds
            acc["saturated"] += sum(res.saturated)
            self.batch += 1
            bar.update(1)
            bar.set_postfix(acc=f"{acc['correct'] / acc['seen']:.3f}",
                            sps=f"{acc['seen'] / acc['seconds']:.0f}")
            if self.batch % cfg.checkpoint_every == 0 and self.batch < self.chunks_per_epoch:
                self.save()
        bar.close()
        record = self._finish_epoch()
        self.save()
        return record

    def evaluate(self, x_int: np.ndarray, y: np.ndarray,
                 stats: CommStats | None = None) -> float:
        """Fixed-point test accuracy of the current weights (batched fast simulator)."""
        sim = FixedPointNetwork(self.config, self.qparams, engine=self.eval_engine)
        pred = sim.predict(x_int, batch_size=self.cfg.eval_batch_size, stats=stats)
        return float(np.mean(pred == y))

    def _finish_epoch(self) -> dict[str, Any]:
        test_stats = self.config.comm_stats()
        start = time.perf_counter()
        acc = self.evaluate(self.x_test, self.y_test, test_stats)
        record = epoch_record(self.name, self.epoch, self._epoch_acc, acc,
                              time.perf_counter() - start, "fixedsim")
        record.update(saturated=self._epoch_acc["saturated"],
                      lr_shift=onchip_rule(self.model_opts, self.epoch).lr_shift,
                      train_comm=self._epoch_stats.to_dict(), test_comm=test_stats.to_dict())
        self.history.append(record)
        self.epoch, self.batch = self.epoch + 1, 0
        self._epoch_acc = {"correct": 0, "seen": 0, "seconds": 0.0, "saturated": 0}
        self.last_stats = {"train": self._epoch_stats, "test": test_stats}
        self._epoch_stats = self.config.comm_stats()
        return record


def load_qparams(state: dict[str, Any]) -> QuantizedParams:
    """The integer parameters stored in an on-chip checkpoint."""
    from lava_diffpc.fixed_point import FixedFormat

    q = state["qparams"]
    return QuantizedParams([np.asarray(w, dtype=np.int64) for w in q["weights"]],
                           list(q["weight_exps"]),
                           [np.asarray(b, dtype=np.int64) for b in q["biases"]],
                           FixedFormat(**q["fmt"]))
