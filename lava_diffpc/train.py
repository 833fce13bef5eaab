"""Training and evaluation harness shared by DiffPC and its baselines (backprop, standard PC).

All models expose ``parameters``, ``gradients(x, y, generator, stats)`` and
``predict(x, stats)``; the harness applies SGD or AdamW to whatever gradients they return
(DiffPC: the local rule's; backprop: autograd's; PC: inference learning's), with optional
gradient-norm clipping and a cosine learning-rate schedule. ``max_gain`` > 0 projects
DiffPC's feedback matrices after every step so that the learning phase's relaxation gain
stays at or below it (:func:`lava_diffpc.reference.stability.bound_relaxation_gain`); the
backprop and PC twins train unbounded, unless ``bound_twin`` holds the backprop twins' W_2..W_L
to the same bound (a control: the twins under DiffPC's weight constraint).

Reproducibility: the epoch's sample order and every batch's dropout masks come from
generators seeded by ``(seed, epoch[, batch])``, so a run resumed from a checkpoint
continues exactly where it stopped. Checkpoints are written atomically (temporary file,
then ``os.replace``; the temporary file is removed when writing fails) every
``checkpoint_every`` batches and at each epoch's end, and read back by
:func:`read_checkpoint`, which names the file when it is truncated, corrupt or foreign.

Divergence: a batch whose gradients (hence loss) are not finite stops training with
:class:`~lava_diffpc.errors.Diverged` before the optimiser step, so the weights and the
last checkpoint stay the last good ones; a checkpoint is never written with non-finite
weights.

Data-parallel (a process group of N ranks, :mod:`lava_diffpc.distributed`): the batch size
is the global batch; every rank draws the same epoch order, trains on its contiguous share
of each batch with its own dropout masks (seeded by ``(seed, epoch, batch, rank)``, so they
differ from a single process's), and the gradients are averaged over the ranks before
clipping and the optimiser step. Counters and test accuracy are summed over the ranks; rank
0 alone writes checkpoints. One process: none of this runs.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import asdict, dataclass, is_dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from lava_diffpc import distributed
from lava_diffpc.augment import Augmentation
from lava_diffpc.config import DiffPCConfig
from lava_diffpc.engine.step import choose_engine
from lava_diffpc.errors import Diverged, RunFailed
from lava_diffpc.metrics import CommStats
from lava_diffpc.presets import parse_layers
from lava_diffpc.reference.backprop import BackpropNetwork
from lava_diffpc.reference.network import DiffPCNetwork
from lava_diffpc.reference.pc import PC_ETA, PC_ITERATIONS, PCNetwork
from lava_diffpc.reference.stability import bound_relaxation_gain
from lava_diffpc.rules.schedule import Schedule

MODEL_KINDS = ("diffpc", "bp", "bp-ce", "pc")
REFERENCE_BACKEND = "reference"  # the float torch models: what the trainer's accuracies use
CHECKPOINT_KEYS = ("name", "model_opts", "epoch", "batch", "history")
OPTIMIZERS = ("sgd", "adamw")
LR_SCHEDULES = ("constant", "cosine")


def network_config(opts: dict[str, Any]) -> DiffPCConfig:
    """The :class:`DiffPCConfig` described by an option dict (preset + overrides)."""
    schedule = Schedule(m=int(opts["m"]), n=int(opts["n"]), c1=int(opts["c1"]),
                        c2=int(opts["c2"]), kind=opts["schedule"], a=float(opts["a"]),
                        gamma2=float(opts["gamma"]), gamma_mode=opts["gamma_mode"])
    arch = parse_layers(opts["arch"])
    return DiffPCConfig(sizes=arch.sizes, schedule=schedule,
                        input_gate=bool(opts["input_gate"]), presyn=opts["presyn"],
                        target_scale=float(opts["target_scale"]),
                        dropout=float(opts["dropout"]), input_shape=arch.input_shape,
                        convs=arch.convs)


def build_model(kind: str, opts: dict[str, Any], *, params=None, device: str = "cpu",
                dtype: torch.dtype = torch.float32, engine: str = "auto",
                batches: int | None = None):
    """A DiffPC reference network, its backprop twin or its standard-PC twin (``kind``
    ``diffpc``, ``bp`` or ``pc``), same architecture and init; ``bp-ce`` is the backprop
    twin trained with softmax cross-entropy instead of DiffPC's squared error.

    Model-specific options, read with defaults: ``bp_loss`` (``mse``); ``pc_iterations``
    (inference iterations per batch, default ``PC_ITERATIONS`` = 20) and ``pc_eta``
    (inference step size, default ``PC_ETA`` = 0.1). PC takes fully connected
    architectures only. ``engine`` runs DiffPC's network step
    (:func:`lava_diffpc.engine.step.choose_engine`; ``auto`` by the batch size and
    ``batches``, the number of batches the model will run; None: many).

    On CUDA, switch cuDNN's TF32 convolutions off once at start-up
    (:func:`lava_diffpc.cli.full_fp32_convolutions`, which the command line does).
    """
    config = network_config(opts)
    seed = int(opts.get("seed", 0))
    if kind == "diffpc":
        engine = choose_engine(engine, config, int(opts.get("batch_size", 256)), batches)
        return DiffPCNetwork(config, params, seed=seed, dtype=dtype, device=device,
                             engine=engine)
    if kind in ("bp", "bp-ce"):
        loss = "ce" if kind == "bp-ce" else opts.get("bp_loss", "mse")
        return BackpropNetwork(config, params, seed=seed, dtype=dtype, device=device, loss=loss)
    if kind == "pc":
        return PCNetwork(config, params, seed=seed, dtype=dtype, device=device,
                         iterations=opts.get("pc_iterations", PC_ITERATIONS),
                         eta=opts.get("pc_eta", PC_ETA))
    raise ValueError(f"model kind must be one of {MODEL_KINDS}, got {kind!r}")


@dataclass
class TrainConfig:
    """Optimiser and loop settings."""

    epochs: int = 10
    batch_size: int = 256
    optimizer: str = "adamw"
    lr: float = 5e-4
    weight_decay: float = 1e-4
    clip: float = 0.0  # max gradient norm; 0 disables clipping
    max_gain: float = 0.0  # DiffPC's relaxation-gain bound after each step; 0 disables
    bound_twin: bool = False  # the same bound on the backprop twins' W_2..W_L (a control)
    lr_schedule: str = "cosine"
    seed: int = 0
    checkpoint_every: int = 50  # batches
    eval_batch_size: int = 1000

    def __post_init__(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"lr schedule must be one of {LR_SCHEDULES}, got {self.lr_schedule!r}")
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError("epochs and batch size must be >= 1")
        if not self.lr > 0 or not math.isfinite(self.lr):
            raise ValueError(f"learning rate must be a positive number, got {self.lr}")
        if not self.max_gain >= 0 or not math.isfinite(self.max_gain):
            raise ValueError(f"max gain must be 0 (off) or a positive number, got "
                             f"{self.max_gain}")


def make_optimizer(params: list[torch.Tensor], cfg: TrainConfig) -> torch.optim.Optimizer:
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


def comm_stats_for(model) -> CommStats | None:
    """Empty spike counters for a DiffPC model; None for the baselines (no spikes)."""
    if not isinstance(model, DiffPCNetwork):
        return None
    return model.config.comm_stats()


def _seeded(*parts: int) -> torch.Generator:
    """A torch generator seeded from a tuple of integers (independent streams)."""
    lo, hi = np.random.SeedSequence(list(parts)).generate_state(2, np.uint32)
    return torch.Generator().manual_seed(int(lo) | (int(hi) & 0x7FFFFFFF) << 32)


def save_atomic(obj: Any, path: Path) -> None:
    """``torch.save`` to a temporary file beside ``path``, then rename over it; on any
    failure (an OS fault, an interrupt) the temporary file goes and ``path`` stays as it
    was. An OS fault raises :class:`~lava_diffpc.errors.RunFailed` naming the file."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    except OSError as exc:
        raise RunFailed(f"cannot write {path}: {exc.strerror or exc}; the previous checkpoint "
                        "is kept: free space or fix the folder's permissions, then continue "
                        "with --resume") from exc
    finally:
        tmp.unlink(missing_ok=True)


def read_checkpoint(path: Path) -> dict[str, Any]:
    """A checkpoint written by :class:`Trainer` or the on-chip trainer, checked: ValueError
    naming the file when it is a folder, truncated or corrupt, or not such a checkpoint."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{path} is a folder, not a checkpoint file")
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except FileNotFoundError:
        raise
    except Exception as exc:  # a damaged file can fail to unpickle in many ways
        detail = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ValueError(f"{path} is truncated or corrupt ({detail}); delete it to start the "
                         "run over, or restore a good copy") from None
    missing = ([k for k in CHECKPOINT_KEYS if k not in state] if isinstance(state, dict)
               else list(CHECKPOINT_KEYS))
    if missing or not ("params" in state or "qparams" in state):
        raise ValueError(f"{path} is not a lava_diffpc checkpoint (it lacks "
                         f"{', '.join(missing) or 'params'}); pass a checkpoint-*.pt written "
                         "by 'python -m lava_diffpc train'")
    return state


def all_finite(tensors: list[torch.Tensor]) -> bool:
    """Whether every entry of every tensor is finite (one device sync)."""
    return bool(torch.stack([torch.isfinite(t).all() for t in tensors]).all())


@torch.no_grad()
def evaluate(model, x: torch.Tensor, y: torch.Tensor, *, batch_size: int = 1000,
             stats: CommStats | None = None, progress: bool = False,
             shard: bool = False) -> float:
    """Test accuracy (fraction) of ``model.predict`` over (x, y).

    ``shard``: in a process group, every rank (all must call) predicts its contiguous
    share of the samples, and the counts (``stats`` included) are summed over the ranks.
    """
    n, correct = len(x), 0
    if shard and distributed.active():
        lo, hi = distributed.shard(n, distributed.rank(), distributed.world_size())
        x, y = x[lo:hi], y[lo:hi]
    batches = range(0, len(x), batch_size)
    for i in tqdm(batches, desc="eval", leave=False, disable=not progress):
        pred = model.predict(x[i:i + batch_size], stats=stats).cpu()
        correct += int((pred == y[i:i + batch_size]).sum())
    if shard:
        (correct,) = distributed.all_reduce_counts([correct], stats)
    return correct / max(n, 1)


def epoch_record(name: str, epoch: int, seen: dict[str, Any], test_acc: float,
                 eval_seconds: float, backend: str) -> dict[str, Any]:
    """The history entry of a finished epoch (0-based ``epoch``) of any trainer: training
    accuracy and throughput from the epoch's counters ``seen`` (``correct``, ``seen``,
    ``seconds``), test accuracy (measured with ``backend``) and evaluation time."""
    return {
        "model": name, "epoch": epoch + 1, "backend": backend,
        "train_acc": seen["correct"] / max(seen["seen"], 1), "test_acc": test_acc,
        "train_seconds": seen["seconds"],
        "train_samples_per_s": seen["seen"] / max(seen["seconds"], 1e-9),
        "eval_seconds": eval_seconds,
    }


class Trainer:
    """Trains one model on one data set, with checkpoints and exact resume.

    Args:
        model: a DiffPCNetwork, BackpropNetwork or PCNetwork.
        name: ``diffpc``, ``bp`` or ``pc`` (names the checkpoint file).
        data: (x_train, y_train, x_test, y_test) tensors on the CPU.
        cfg: optimiser and loop settings.
        run_dir: folder for ``checkpoint-<name>.pt``; None disables checkpoints.
        model_opts: the option dict that rebuilds the model (stored in the checkpoint);
            with ``augment`` set, every training batch is augmented for the data set named
            by ``dataset`` (:mod:`lava_diffpc.augment`), shifted by up to ``shift`` pixels
            (None: the data set's own), rotated by up to ``rotate`` degrees and distorted
            elastically by ``elastic`` pixels smoothed over ``elastic_sigma``.
        image_shape: ``(C, H, W)`` of the images, needed to augment flattened rows.

    In a process group (see the module note) the trainer takes its rank's share of every
    batch; it must then be driven the same way on every rank.
    """

    def __init__(self, model, name: str, data, cfg: TrainConfig, run_dir: Path | None,
                 model_opts: dict[str, Any], image_shape: tuple[int, ...] | None = None):
        self.model, self.name, self.cfg = model, name, cfg
        self.x_train, self.y_train, self.x_test, self.y_test = data
        self.run_dir = run_dir
        self.model_opts = model_opts
        self.augmentation: Augmentation | None = None
        if model_opts.get("augment"):
            if image_shape is None and self.x_train.dim() != 4:
                raise ValueError("augmenting flattened rows needs the images' shape: pass "
                                 "image_shape=(C, H, W)")
            shape = image_shape or tuple(self.x_train.shape[1:])
            self.augmentation = Augmentation.for_options(model_opts, shape)
        self.rank, self.world = distributed.rank(), distributed.world_size()
        distributed.check_batch_split(cfg.batch_size, self.world)
        self._batch_rows = 0  # rows of the current global batch (all ranks)
        self.optimizer = make_optimizer(model.parameters, cfg)
        self.batches_per_epoch = math.ceil(len(self.x_train) / cfg.batch_size)
        self.total_batches = cfg.epochs * self.batches_per_epoch
        self.epoch, self.batch = 0, 0  # position of the next batch
        self.saved_at: tuple[int, int] | None = None  # (epoch, batch) of the last checkpoint
        self.history: list[dict[str, Any]] = []
        self._epoch_acc = {"correct": 0, "seen": 0, "seconds": 0.0}
        self._epoch_stats = self._new_stats()
        self.last_stats: dict[str, CommStats | None] = {}

    @property
    def checkpoint_path(self) -> Path | None:
        return None if self.run_dir is None else self.run_dir / f"checkpoint-{self.name}.pt"

    def _new_stats(self) -> CommStats | None:
        return comm_stats_for(self.model)

    def _lr_at(self, step: int) -> float:
        if self.cfg.lr_schedule == "constant":
            return self.cfg.lr
        return 0.5 * self.cfg.lr * (1 + math.cos(math.pi * step / self.total_batches))

    # ----------------------------------------------------------- checkpoints
    def state_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "model_opts": self.model_opts, "train_cfg": asdict(self.cfg),
            "params": [p.detach().cpu() for p in self.model.parameters],
            "optimizer": self.optimizer.state_dict(), "epoch": self.epoch, "batch": self.batch,
            "history": self.history, "epoch_acc": dict(self._epoch_acc),
            "epoch_stats": self._epoch_stats,
        }

    def save(self) -> None:
        if self.checkpoint_path is not None:
            if not all_finite(self.model.parameters):  # never overwrite a good checkpoint
                raise self._diverged("weights")
            self._fold_counters()
            if self.rank == 0:
                save_atomic(self.state_dict(), self.checkpoint_path)
            self.saved_at = (self.epoch, self.batch)

    def _diverged(self, what: str) -> Diverged:
        kept = ("nothing was saved" if self.checkpoint_path is None else
                f"the last good checkpoint {self.checkpoint_path} is kept"
                if self.saved_at else "no checkpoint was written yet")
        return Diverged(f"{self.name} diverged at epoch {self.epoch + 1}, batch "
                        f"{self.batch + 1}: non-finite {what} (NaN or inf); {kept}; train again "
                        "in another --out with a lower --lr, a --clip or another schedule")

    def load(self, path: Path) -> None:
        """Continue from a checkpoint (in a process group: rank 0's file, on every rank)."""
        state = distributed.load_on_main(path, read_checkpoint)
        if state["name"] != self.name:
            raise ValueError(f"{path} holds a {state['name']} run, not {self.name}")
        for p, saved in zip(self.model.parameters, state["params"]):
            if p.shape != saved.shape:
                raise ValueError(f"{path}: parameter shape {tuple(saved.shape)} does not match "
                                 f"the model's {tuple(p.shape)}; trained with another --arch?")
            p.copy_(saved.to(p))
        self.optimizer.load_state_dict(state["optimizer"])
        self.epoch, self.batch = state["epoch"], state["batch"]
        self.saved_at = (self.epoch, self.batch)
        self.history = state["history"]
        self._epoch_acc = state["epoch_acc"]
        self._epoch_stats = state["epoch_stats"]
        if self.rank != 0:  # the saved counts are global; rank 0 carries them
            self._zero_counters()

    # ------------------------------------------------------ ranks' counters
    def _sum_counters(self) -> None:
        """Every rank's epoch counters become the sums over the ranks."""
        if self.world > 1:
            acc = self._epoch_acc
            acc["correct"], acc["seen"] = distributed.all_reduce_counts(
                [acc["correct"], acc["seen"]], self._epoch_stats)

    def _fold_counters(self) -> None:
        """Sum the ranks' counters into rank 0's, the others restart from zero: rank 0's
        checkpoint then holds the global counts (timings are each rank's own)."""
        if self.world > 1:
            self._sum_counters()
            if self.rank != 0:
                self._zero_counters()

    def _zero_counters(self) -> None:
        self._epoch_acc.update(correct=0, seen=0)
        self._epoch_stats = self._new_stats()

    # ------------------------------------------------------------- training
    @property
    def finished(self) -> bool:
        return self.epoch >= self.cfg.epochs

    def train_epoch(self, progress: bool = True) -> dict[str, Any]:
        """Train (the rest of) the current epoch, evaluate, checkpoint; return its record."""
        cfg, n = self.cfg, len(self.x_train)
        progress = progress and self.rank == 0
        order = torch.randperm(n, generator=_seeded(cfg.seed, self.epoch))
        bar = tqdm(total=self.batches_per_epoch, initial=self.batch, leave=False,
                   desc=f"{self.name} epoch {self.epoch + 1}/{cfg.epochs}", disable=not progress)
        while self.batch < self.batches_per_epoch:
            idx = order[self.batch * cfg.batch_size:(self.batch + 1) * cfg.batch_size]
            self._batch_rows = len(idx)
            if self.world > 1:
                idx = idx[slice(*distributed.shard(len(idx), self.rank, self.world))]
            start = time.perf_counter()
            self._train_batch(self.x_train[idx], self.y_train[idx])
            self._epoch_acc["seconds"] += time.perf_counter() - start
            self.batch += 1
            bar.update(1)
            if progress:
                acc = self._epoch_acc
                bar.set_postfix(acc=f"{acc['correct'] / max(acc['seen'], 1):.3f}",
                                sps=f"{acc['seen'] / acc['seconds']:.0f}")
            if self.batch % cfg.checkpoint_every == 0 and self.batch < self.batches_per_epoch:
                self.save()
        bar.close()
        record = self._finish_epoch(progress)
        self.save()
        return record

    def _train_batch(self, x: torch.Tensor, y: torch.Tensor) -> None:
        step = self.epoch * self.batches_per_epoch + self.batch
        if self.augmentation:  # the same images for every model of a run
            x = self.augmentation(x, _seeded(self.cfg.seed, self.epoch, self.batch, 2, self.rank))
        for group in self.optimizer.param_groups:
            group["lr"] = self._lr_at(step)
        params = self.model.parameters
        if self.world == 1:
            gen = _seeded(self.cfg.seed, self.epoch, self.batch, 1)
            grads, pred = self.model.gradients(x, y, generator=gen, stats=self._epoch_stats)
        else:
            gen = _seeded(self.cfg.seed, self.epoch, self.batch, 1, self.rank)
            if len(y):
                grads, pred = self.model.gradients(x, y, generator=gen,
                                                   stats=self._epoch_stats)
            else:  # a short last batch left this rank no rows
                grads, pred = [torch.zeros_like(p) for p in params], y
            grads = distributed.average(grads, len(y) / self._batch_rows)
        if not all_finite(grads):  # before the step: the weights stay the last good ones
            raise self._diverged("gradients or loss")
        for p, g in zip(params, grads):
            p.grad = g
        if self.cfg.clip > 0:
            torch.nn.utils.clip_grad_norm_(params, self.cfg.clip)
        self.optimizer.step()
        for p in params:
            p.grad = None
        if self.cfg.max_gain > 0 and (isinstance(self.model, DiffPCNetwork) or (
                self.cfg.bound_twin and isinstance(self.model, BackpropNetwork))):
            bound_relaxation_gain(self.model.connections, self.model.weights,
                                  self.model.config.schedule.gamma2, self.cfg.max_gain)
        self._epoch_acc["correct"] += int((pred.cpu() == y).sum())
        self._epoch_acc["seen"] += len(y)

    def _finish_epoch(self, progress: bool) -> dict[str, Any]:
        self._sum_counters()
        test_stats = self._new_stats()
        start = time.perf_counter()
        acc = evaluate(self.model, self.x_test, self.y_test, batch_size=self.cfg.eval_batch_size,
                       stats=test_stats, progress=progress, shard=True)
        record = epoch_record(self.name, self.epoch, self._epoch_acc, acc,
                              time.perf_counter() - start, REFERENCE_BACKEND)
        record["lr_end"] = self._lr_at((self.epoch + 1) * self.batches_per_epoch - 1)
        if self._epoch_stats is not None:
            record["train_comm"] = self._epoch_stats.to_dict()
            record["test_comm"] = test_stats.to_dict()
        self.history.append(record)
        self.epoch, self.batch = self.epoch + 1, 0
        self._epoch_acc = {"correct": 0, "seen": 0, "seconds": 0.0}
        self.last_stats = {"train": self._epoch_stats, "test": test_stats}
        self._epoch_stats = self._new_stats()
        return record


def _dataclass_fields(obj: Any) -> dict[str, Any]:
    if is_dataclass(obj) and not isinstance(obj, type):
        return asdict(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


def write_json(obj: Any, path: Path) -> None:
    """Write JSON atomically (the temporary file goes whatever happens); dataclasses inside
    ``obj`` are written as their field dicts."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(json.dumps(obj, indent=2, default=_dataclass_fields) + "\n")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
