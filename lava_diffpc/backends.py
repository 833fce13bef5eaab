"""Inference of a trained DiffPC network (MLP or convolutional) on any of the drivers of the
same rules.

| backend | driver | arithmetic |
|---|---|---|
| ``reference`` | :class:`~lava_diffpc.reference.network.DiffPCNetwork` (torch) | float |
| ``fixedsim`` | :class:`~lava_diffpc.fixedsim.FixedPointNetwork` (torch) | Loihi fixed point |
| ``lava-float`` | Lava graph on ``Loihi2SimCfg``, ``floating_pt`` models | float |
| ``lava-fixed`` | Lava graph on ``Loihi2SimCfg``, ``fixed_pt`` models | Loihi fixed point |
| ``loihi2`` | Lava graph on ``Loihi2HwCfg``: refused until neuro-core models exist | chip |
| ``netx`` | the netx export (:mod:`lava_diffpc.export.netx`) on lava-dl | netx fixed point |

The Lava backends import Lava lazily, so the first two work on any Python. ``netx`` runs the
ReLU network that DiffPC's feed-forward phase approximates, not DiffPC's spikes: it has no
spike counts (``stats`` is None).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from lava_diffpc.engine.step import choose_engine
from lava_diffpc.metrics import CommStats
from lava_diffpc.reference.network import DiffPCNetwork

BACKENDS = ("reference", "fixedsim", "lava-float", "lava-fixed", "loihi2", "netx")


@dataclass
class Inference:
    """Predictions of one backend over a dataset, with its spike counts (None for
    ``netx``), wall time and notes worth printing."""

    predictions: np.ndarray
    stats: CommStats | None
    seconds: float
    notes: list[str] = field(default_factory=list)


def infer(model: DiffPCNetwork, x: np.ndarray, backend: str = "reference",
          batch_size: int = 1000, engine: str = "auto", qparams: Any = None,
          calibration: Any = None) -> Inference:
    """Feed-forward predictions of ``model`` (its weights) on ``x`` with ``backend``
    (``engine``: how the fast fixed-point simulator runs its step,
    :func:`~lava_diffpc.engine.step.choose_engine`). ``qparams``: integer parameters the
    fixed-point backends use as they are (an on-chip run's), instead of quantising the
    model's float weights. ``calibration``: the samples whose ranges set the netx scales
    (the training set, as ``export`` uses; default ``x``)."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    x = np.asarray(x)
    if not np.isfinite(x).all():
        raise ValueError(f"input holds {int(np.isnan(x).sum())} NaN and "
                         f"{int(np.isinf(x).sum())} infinite values; clean or normalise the "
                         "data")
    config = model.config
    stats = config.comm_stats()
    start = time.perf_counter()
    params = [(w.detach().cpu().double().numpy(), b.detach().cpu().double().numpy())
              for w, b in zip(model.weights, model.biases)]
    if backend == "netx":  # lava-dl's netx.hdf5.Network on Loihi2SimCfg, fixed_pt
        from lava_diffpc.export.netx import check_on_lava

        check = check_on_lava(config, qparams or params, x,
                              x if calibration is None else calibration)
        return Inference(check.predictions, None, time.perf_counter() - start, check.notes())
    if backend == "reference":
        xt = torch.as_tensor(x)
        pred = np.concatenate([model.predict(xt[i:i + batch_size], stats=stats).cpu().numpy()
                               for i in range(0, len(xt), batch_size)])
        return Inference(pred, stats, time.perf_counter() - start)
    if backend == "fixedsim":
        from lava_diffpc.fixed_point import format_for, quantize_input, quantize_params
        from lava_diffpc.fixedsim import FixedPointNetwork

        q = qparams or quantize_params(params, format_for(config.schedule))
        batches = -(-len(x) // batch_size)
        sim = FixedPointNetwork(config, q, engine=choose_engine(engine, config, batch_size,
                                                                batches))
        pred = sim.predict(quantize_input(x, q.fmt), batch_size=batch_size, stats=stats)
        return Inference(pred, stats, time.perf_counter() - start)
    from lava_diffpc.fixed_point import format_for
    from lava_diffpc.lava_graph import run_dataset

    mode = "float" if backend == "lava-float" else "fixed"
    result = run_dataset(config, params if qparams is None or mode == "float" else qparams,
                         x, mode=mode, fmt=format_for(config.schedule),
                         backend="loihi2" if backend == "loihi2" else "sim")
    return Inference(result.predictions, result.stats, time.perf_counter() - start)
