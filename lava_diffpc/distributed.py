"""Data-parallel training over ``torch.distributed``: process-group setup and the few
collectives the trainer needs.

``torchrun --nproc-per-node N -m lava_diffpc train ...`` starts N processes (ranks) with
``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT`` in their
environment; :func:`session` joins them into one process group (``gloo`` on the CPU,
``nccl`` on CUDA with rank r on ``cuda:LOCAL_RANK``). Without that environment, or with a
world size of 1, nothing is initialised and every helper here is a no-op that costs
nothing: the single-process path is the plain one.

Semantics (see :class:`lava_diffpc.train.Trainer`): ``--batch-size`` is the global batch,
split evenly over the ranks (:func:`shard`); each rank computes the gradients of its rows,
:func:`average` all-reduces them into the global batch mean, and every rank takes the same
optimiser step, so all ranks hold the same weights. Counters (correct predictions, samples,
spike counts) are summed with :func:`all_reduce_counts`; rank 0 alone prints and writes.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from lava_diffpc.metrics import PHASES, CommStats

LAUNCH_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


@dataclass(frozen=True)
class Launch:
    """This process's place in a multi-process launch (from torchrun's environment)."""

    rank: int
    world_size: int
    local_rank: int


def launch_from_env(env: Mapping[str, str] | None = None) -> Launch | None:
    """The launch described by torchrun's variables; None for a plain single process
    (none of them set, or ``WORLD_SIZE=1``). A partial or inconsistent set raises."""
    env = os.environ if env is None else env
    present = [v for v in LAUNCH_VARS if v in env]
    if not present:
        return None
    missing = [v for v in LAUNCH_VARS if v not in env]
    if missing:
        raise ValueError(f"incomplete torch.distributed environment: {', '.join(present)} set "
                         f"but {', '.join(missing)} missing; start the run with torchrun")
    try:
        rank, world, local = (int(env[v]) for v in ("RANK", "WORLD_SIZE", "LOCAL_RANK"))
    except ValueError:
        raise ValueError("RANK, WORLD_SIZE and LOCAL_RANK must be integers, got "
                         f"{env['RANK']!r}, {env['WORLD_SIZE']!r}, {env['LOCAL_RANK']!r}"
                         ) from None
    if world < 1 or not 0 <= rank < world or local < 0:
        raise ValueError(f"bad torch.distributed environment: RANK={rank}, "
                         f"WORLD_SIZE={world}, LOCAL_RANK={local}")
    return None if world == 1 else Launch(rank, world, local)


def active() -> bool:
    """Whether a process group is initialised (a run over several processes)."""
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    return dist.get_rank() if active() else 0


def world_size() -> int:
    return dist.get_world_size() if active() else 1


def is_main() -> bool:
    """Rank 0: the process that prints, writes results and checkpoints."""
    return rank() == 0


def rank_device(device: str, launch: Launch) -> str:
    """This rank's device: ``cpu``, or ``cuda:LOCAL_RANK`` for any CUDA device name."""
    kind = torch.device(device).type
    if kind == "cpu":
        return "cpu"
    if kind != "cuda":
        raise ValueError(f"distributed training runs on cpu (gloo) or cuda (nccl), "
                         f"not {device!r}")
    count = torch.cuda.device_count()
    if count == 0:
        raise ValueError(f"--device {device}: no GPU visible to this process; pass --device "
                         "cpu to train on the CPUs (gloo)")
    if launch.local_rank >= count:
        raise ValueError(f"local rank {launch.local_rank} needs cuda:{launch.local_rank}, but "
                         f"this node has {count} GPU(s); start at most {count} processes per "
                         "node (torchrun --nproc-per-node)")
    return f"cuda:{launch.local_rank}"


def init(launch: Launch, device: str) -> str:
    """Join the process group of ``launch`` (``env://``); return this rank's device."""
    device = rank_device(device, launch)
    backend = "gloo"
    if device.startswith("cuda"):
        torch.cuda.set_device(device)
        backend = "nccl"
    dist.init_process_group(backend, init_method="env://", rank=launch.rank,
                            world_size=launch.world_size)
    return device


SHUTDOWN_PAUSE_S = 0.2


def shutdown() -> None:
    """Leave the process group (if any).

    First a short pause that releases the GIL: a gloo worker thread may still be dropping
    the last reference to the tensor of the collective that just finished, which needs the
    GIL, while destroying the group joins that thread holding the GIL (a deadlock seen with
    torch 2.3 when a rank leaves right after a collective, e.g. on an interrupt)."""
    if active():
        time.sleep(SHUTDOWN_PAUSE_S)
        dist.destroy_process_group()


@contextlib.contextmanager
def session(device: str) -> Iterator[str]:
    """Run the body in the process group of a torchrun launch, if there is one.

    Yields the device this rank computes on (``device`` itself for a single process).
    Ranks other than 0 run with stdout silenced (rank 0 prints the tables). The group is
    destroyed on the way out, after a barrier when the body succeeded and at once when it
    raised (the launcher ends the other ranks).
    """
    launch = launch_from_env()
    if launch is None:
        yield device
        return
    device = init(launch, device)
    try:
        barrier()  # every rank has joined before any can leave (and close rank 0's store)
        with contextlib.ExitStack() as stack:
            if launch.rank != 0:
                stack.enter_context(contextlib.redirect_stdout(
                    stack.enter_context(open(os.devnull, "w"))))
            yield device
        barrier()
    finally:
        shutdown()


def barrier() -> None:
    """Wait for every rank (nccl: on this rank's GPU)."""
    if active():
        if dist.get_backend() == "nccl":
            dist.barrier(device_ids=[torch.cuda.current_device()])
        else:
            dist.barrier()


def check_batch_split(batch_size: int, world: int | None = None) -> None:
    """Raise a one-line ValueError unless the global batch splits evenly over the ranks."""
    world = world_size() if world is None else world
    if batch_size % world:
        lower, upper = batch_size // world * world, (batch_size // world + 1) * world
        hint = f"{lower} or {upper}" if lower else str(upper)
        raise ValueError(f"--batch-size {batch_size} is the global batch, split evenly over "
                         f"{world} processes; choose a multiple of {world} (e.g. {hint}) or "
                         "another --nproc-per-node")


def shard(n: int, rank: int, world: int) -> tuple[int, int]:
    """Rows ``[lo, hi)`` of ``n`` that ``rank`` takes: contiguous, sizes differing by at
    most one (``r*n/N .. (r+1)*n/N`` exactly when N divides n)."""
    return n * rank // world, n * (rank + 1) // world


def _comm_device() -> torch.device:
    """Where collective buffers live: the current GPU with nccl, else the CPU."""
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def average(tensors: list[torch.Tensor], weight: float | None = None) -> list[torch.Tensor]:
    """All-reduce ``sum over ranks of weight_r * tensors_r`` into new tensors (same
    shapes, dtypes and devices); ``weight`` defaults to ``1 / world size``, the plain mean.

    The trainer passes ``local rows / global rows``, so the result is the mean gradient
    of the global batch even when a short last batch splits unevenly. One collective per
    dtype. Single process: the tensors themselves.
    """
    if not active():
        return list(tensors)
    weight = 1.0 / world_size() if weight is None else weight
    out: list[torch.Tensor | None] = [None] * len(tensors)
    for dtype in dict.fromkeys(t.dtype for t in tensors):
        picks = [i for i, t in enumerate(tensors) if t.dtype == dtype]
        flat = torch.cat([tensors[i].reshape(-1) for i in picks]).mul_(weight)
        dist.all_reduce(flat)
        for i, part in zip(picks, flat.split([tensors[i].numel() for i in picks])):
            out[i] = part.view_as(tensors[i])
    return out  # type: ignore[return-value]


def all_reduce_counts(counts: list[int], stats: CommStats | None = None) -> list[int]:
    """Sum integer counters over the ranks: returns the summed ``counts`` and adds the
    other ranks' spike and sample counts into ``stats`` in place (one int64 collective)."""
    if not active():
        return list(counts)
    parts = [np.asarray(counts, dtype=np.int64)]
    if stats is not None:
        for p in PHASES:
            parts += [stats.activity[p], stats.error[p], np.array([stats.samples[p]])]
    buf = torch.from_numpy(np.concatenate(parts).astype(np.int64)).to(_comm_device())
    dist.all_reduce(buf)
    total = buf.cpu().numpy()
    out, pos = [int(v) for v in total[:len(counts)]], len(counts)
    if stats is not None:
        n = len(stats.sizes)
        for p in PHASES:
            stats.activity[p] = total[pos:pos + n].copy()
            stats.error[p] = total[pos + n:pos + 2 * n].copy()
            stats.samples[p] = int(total[pos + 2 * n])
            pos += 2 * n + 1
    return out


def from_main(obj: Any) -> Any:
    """Rank 0's ``obj`` on every rank (a picklable object: a decision, a checkpoint)."""
    if not active():
        return obj
    box = [obj if is_main() else None]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def load_on_main(path: Any, loader: Callable[[Any], Any]) -> Any:
    """``loader(path)`` on rank 0, sent to every rank: all load the same checkpoint, and the
    other nodes of a multi-node run need no copy of the file. A ValueError of rank 0's
    loader (a corrupt file) is raised on every rank."""
    if not active():
        return loader(path)
    state, problem = None, None
    if is_main():
        try:
            state = loader(path)
        except ValueError as exc:
            problem = str(exc)
    state, problem = from_main((state, problem))
    if problem is not None:
        raise ValueError(problem)
    return state
