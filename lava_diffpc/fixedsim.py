"""Fast fixed-point DiffPC simulator: the batched network step in Loihi integer arithmetic.

A thin driver around :mod:`lava_diffpc.engine.step` with
:data:`~lava_diffpc.rules.arithmetic.FIXED` (the same step as the float reference
:class:`lava_diffpc.reference.network.DiffPCNetwork`, which runs it with ``REAL``), and
bit-exact with the Lava ``fixed_pt`` graph (:mod:`lava_diffpc.lava_graph`, tested):

* step ``k`` of a sample, ``K = schedule.steps`` with labels, ``schedule.k1`` without;
* at ``k = 0`` every layer resets (``x_F = b_int``, rest 0; input ``x_A0 = 0``) and
  nothing arrives (``T_prev = 0``);
* the input layer tracks the clamped integer sample (``track``, gated iff
  ``config.input_gate``); layer l receives ``W_mant,l s_A^{l-1}(k-1)`` and
  ``W_mant,l+1^T s_e^{l+1}(k-1)`` (exact integer sums, computed in floating point); the top
  layer is clamped to ``round(target_scale * 2**F) * one_hot(label)`` in the learning phase;
* prediction = argmax of the top layer's ``x_T`` at step ``K1 - 1``.

States are ``int64`` tensors holding 24-bit values; inputs and outputs are NumPy arrays.
Dropout does not apply (inference, step tests and on-chip training); the on-chip rule
(:meth:`FixedPointNetwork.train`, :mod:`lava_diffpc.rules.fixed_learning`) uses the
presynaptic factor ``x_A`` (``presyn="x_A"``), the only one a synapse can see.

Error bound against the float reference (F fractional bits, one LSB = ``2**-F``). Let
``ref_q`` be the float64 reference run on the dequantised parameters
(:meth:`~lava_diffpc.fixed_point.QuantizedParams.dequantize`), the dequantised input
``x_int 2**-F`` and target ``round(target_scale 2**F) 2**-F``; let no state saturate and
the schedule be ``cyclic`` or ``constant`` (``cyclic-decay`` thresholds are rounded to
``D`` bits, a different schedule). Then:

1. **Feed-forward phase: 0 LSB.** With gamma = 1 (shift 0) and every ``T_int`` a multiple
   of ``2**E_l`` (:meth:`~lava_diffpc.fixed_point.QuantizedParams.exact_shifts`), every
   integer operation is exact and every float64 value of ``ref_q`` is a multiple of
   ``2**-F`` below ``2**53`` LSB, so all six states and all spikes agree bit for bit.
2. **Learning phase: ``|dx_T|, |de_T| < 2**(g-1)`` LSB** (1 LSB at gamma2 = 1/2) on the
   free layers, 0 LSB on ``x_F``, ``x_A``, ``e_A``, ``e_in`` and on the clamped top layer,
   for as long as the spikes and the signs ``1[x_T > 0]`` of both runs agree: each gamma
   update rounds by at most 1/2 LSB, and the error recursion
   ``d' = (1 - 2**-g) d + rho``, ``|rho| <= 1/2``, stays below ``2**(g-1)``. A spike can
   differ only where ``|x_T - x_A|`` or ``|e_T - e_A|`` lies within that bound of ``T``;
   after such a flip the runs are different trajectories (spec section 8).
3. **Weight quantisation** (8-bit mantissa, ``|dW| <= 2**-(E+1)``) is the dominant error
   against the reference on the original float weights; it is measured as prediction
   agreement on the digits test set (``tests/test_fixedsim.py``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from lava_diffpc.config import DiffPCConfig
from lava_diffpc.engine.step import ENGINES, Dropout, SpikeCounts, Wiring, run_engine
from lava_diffpc.fixed_point import QuantizedParams, fixed_table, target_int
from lava_diffpc.metrics import CommStats
from lava_diffpc.reference.network import connections
from lava_diffpc.rules import fixed_learning
from lava_diffpc.rules.arithmetic import FIXED, saturate
from lava_diffpc.rules.dynamics import LayerState

EXACT_FLOAT32 = 1 << 24  # integers up to this magnitude are exact in float32


@dataclass
class FixedRunResult:
    """What one batch run returns (all int64 except the prediction indices)."""

    prediction: np.ndarray  # (B,) argmax of the output x_T at step K1 - 1
    output: np.ndarray  # (B, n_L) output x_T at step K1 - 1 (state LSBs)
    states: list[LayerState]  # final integer state of layers 1..L
    x_A0: np.ndarray | None = None  # (B, n_0) final x_A of the input layer


@dataclass
class OnChipTrainResult:
    """What :meth:`FixedPointNetwork.train` returns (counts over the samples it trained)."""

    predictions: np.ndarray  # (N,) feed-forward prediction of each sample before its update
    saturated: list[int]  # per layer: weight updates clipped at +-127
    seconds: float


class FixedPointNetwork:
    """Integer DiffPC network: quantised parameters plus the batched network step.

    Args:
        config: architecture, schedule and options of the float reference.
        qparams: integer parameters from :func:`~lava_diffpc.fixed_point.quantize_params`.
        engine: ``fast`` (default), ``compiled`` or ``plain``, as for the float reference
            (:class:`~lava_diffpc.reference.network.DiffPCNetwork`); the results are the same
            bit for bit.
    """

    def __init__(self, config: DiffPCConfig, qparams: QuantizedParams, *, engine: str = "fast"):
        if engine not in ENGINES:
            raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")
        self.engine = engine
        self.config = config
        self.qparams = qparams
        sizes = config.sizes
        if len(qparams.weights) != len(sizes) - 1:
            raise ValueError(f"{len(qparams.weights)} weight matrices for {len(sizes)} layers")
        self.connections = connections(config)
        for l, (conn, w, b) in enumerate(zip(self.connections, qparams.weights, qparams.biases),
                                         start=1):
            if w.shape != conn.weight_shape or b.shape != conn.bias_shape:
                raise ValueError(f"layer {l}: W {w.shape}, b {b.shape}; expected "
                                 f"{conn.weight_shape} and {conn.bias_shape}")
        self.table = fixed_table(config.schedule, qparams.fmt)
        self.target = target_int(config.target_scale, qparams.fmt)
        self._rule: fixed_learning.OnChipRule | None = None  # set by the first train()
        self._rngs: list[np.random.Generator] = []
        self._wiring = self._make_wiring()

    @property
    def thresholds(self) -> np.ndarray:
        """``T_int(k)`` for k = 0..K-1 (int64)."""
        return self.table.thresholds

    def _make_wiring(self) -> Wiring:
        """The quantised parameters as tensors: mantissas as floats, exact for the sums.

        float32 holds every partial sum exactly while ``max|W_mant| * fan_in < 2**24``
        (8-bit mantissas: fan-in below 132,000), float64 otherwise.
        """
        q = self.qparams
        weights = []
        for conn, w in zip(self.connections, q.weights):
            exact32 = int(np.abs(w).max(initial=0)) * max(conn.fan_in, w.size // w.shape[1]) \
            < EXACT_FLOAT32
            weights.append(torch.from_numpy(w).to(torch.float32 if exact32 else torch.float64))
        biases = [conn.bias_view(torch.from_numpy(np.asarray(b, dtype=np.int64)))
                  for conn, b in zip(self.connections, q.biases)]
        return Wiring(self.config, FIXED, self.table, self.connections, weights,
                      list(q.weight_exps), biases)

    def run(self, x_int: Any, labels: Any | None = None, *,
            stats: CommStats | None = None, record: list | None = None,
            work: Any = None) -> FixedRunResult:
        """Run one batch of integer samples ``x_int`` (B, n_0) through the schedule.

        Without ``labels`` only the feed-forward phase runs. ``record``, when a list,
        receives per step a dict like the float reference's (``k``, ``x_A0``, ``s_act``,
        ``s_err``, ``states``) as int64 NumPy arrays (it runs the ``plain`` engine).
        ``stats`` counts spikes as :mod:`lava_diffpc.metrics` defines; ``work``
        (:class:`lava_diffpc.engine.fast.Work`) the layer steps the fast engines compute.
        """
        cfg, sched = self.config, self.config.schedule
        sizes = cfg.sizes
        x_int = np.asarray(x_int)
        if x_int.ndim < 2 or int(np.prod(x_int.shape[1:])) != sizes[0]:
            raise ValueError(f"input of shape {x_int.shape}; expected (batch, {sizes[0]}) or "
                             f"(batch, {', '.join(map(str, cfg.input_shape))})")
        if not np.issubdtype(x_int.dtype, np.integer):
            raise ValueError("x_int must be integers: quantise with fixed_point.quantize_input")
        batch = x_int.shape[0]
        x = saturate(torch.from_numpy(x_int.astype(np.int64))).reshape(batch,
                                                                       *cfg.input_shape)
        clamp = None
        if labels is not None:
            labels = np.asarray(labels, dtype=np.int64)
            if labels.shape != (batch,) or labels.min() < 0 or labels.max() >= sizes[-1]:
                raise ValueError(f"labels must be {batch} class indices in [0, {sizes[-1]})")
            clamp = self.target * torch.nn.functional.one_hot(torch.from_numpy(labels),
                                                              sizes[-1])
        counts = SpikeCounts(cfg.n_layers) if stats is not None else None
        recorded = 0 if record is None else len(record)
        steps = sched.steps if clamp is not None else sched.k1
        out = run_engine(self.engine, self._wiring, x, clamp, steps, Dropout.none(cfg.n_layers),
                         counts=counts, record=record, work=work)
        if counts is not None:
            counts.into(stats, batch, ("ff", "learn") if clamp is not None else ("ff",))
        if record is not None:
            _record_to_numpy(record[recorded:])
        states = [LayerState(*(v.numpy() for v in st)) for st in out.state.layers]
        out_ff = out.out_ff.numpy()
        return FixedRunResult(out_ff.argmax(1), out_ff, states,
                              out.state.x_A0.reshape(batch, -1).numpy())

    def predict(self, x_int: Any, *, batch_size: int = 1000,
                stats: CommStats | None = None) -> np.ndarray:
        """Inference predictions of many samples, in batches of ``batch_size``."""
        x_int = np.asarray(x_int)
        return np.concatenate([self.run(x_int[i:i + batch_size], stats=stats).prediction
                               for i in range(0, len(x_int), batch_size)])

    def train(self, x_int: Any, labels: Any, rule: fixed_learning.OnChipRule, *,
              stats: CommStats | None = None) -> OnChipTrainResult:
        """On-chip learning: per-sample SGD with the integer rule, in the order given.

        Each sample runs the full schedule (batch 1), then every synapse matrix applies
        :func:`~lava_diffpc.rules.fixed_learning.weight_update` with the final
        ``x_A^{l-1}`` and ``e_T^l`` and every layer
        :func:`~lava_diffpc.rules.fixed_learning.bias_update`, exactly as the Lava
        ``fixed_pt`` graph does at the sample's last step; ``qparams`` changes in place.
        The stochastic-rounding generators are created from ``rule.seed`` at the first call
        and continue across calls (as one Lava run over the concatenated samples). The
        presynaptic trace is read as ``x_A_int >> p``
        (:func:`~lava_diffpc.rules.fixed_learning.pre_trace_from_state`), which equals the
        trace the Lava synapse sums from the spikes (tested).
        """
        q, fmt = self.qparams, self.qparams.fmt
        x_int, labels = np.asarray(x_int), np.asarray(labels, dtype=np.int64)
        if len(x_int) != len(labels):
            raise ValueError(f"{len(x_int)} samples but {len(labels)} labels")
        rngs = self.rngs(rule)
        p = fixed_learning.trace_shift(self.thresholds)
        shifts = [fixed_learning.update_shift(rule, e, p, fmt.frac_bits) for e in q.weight_exps]
        predictions = np.empty(len(labels), dtype=np.int64)
        saturated = [0] * len(q.weights)
        start = time.perf_counter()
        for i in range(len(labels)):
            res = self.run(x_int[i:i + 1], labels[i:i + 1], stats=stats)
            predictions[i] = res.prediction[0]
            pres = [res.x_A0[0]] + [st.x_A[0] for st in res.states[:-1]]
            for l, (pre, st) in enumerate(zip(pres, res.states)):
                x = fixed_learning.pre_trace_from_state(pre, p)
                y = fixed_learning.error_factor(st.e_T[0], rule.err_shift)
                q.weights[l], n_sat = fixed_learning.weight_update(
                    q.weights[l], x, y, shifts[l], rngs[l])
                q.biases[l] = fixed_learning.bias_update(q.biases[l], st.e_T[0], rule.lr_shift)
                saturated[l] += n_sat
            self.load_weights()
        return OnChipTrainResult(predictions, saturated, time.perf_counter() - start)

    def rngs(self, rule: fixed_learning.OnChipRule) -> list[np.random.Generator]:
        """The stochastic-rounding generators of the synapse matrices, created from
        ``rule.seed`` at the first call (:func:`~lava_diffpc.rules.fixed_learning.synapse_rng`)
        and continued by every later one (a rule with another learning rate continues them);
        ValueError for a rule with another seed."""
        if self._rule is None:
            self._rule = rule
            self._rngs = [fixed_learning.synapse_rng(rule.seed, l)
                          for l in range(1, len(self.qparams.weights) + 1)]
        elif rule.seed != self._rule.seed:
            raise ValueError(f"this network's generators were seeded with {self._rule.seed}, "
                             f"not {rule.seed}")
        return self._rngs

    def load_weights(self) -> None:
        """Take up ``qparams`` again after its integers changed (learning, a checkpoint)."""
        self._wiring = self._make_wiring()


def _record_to_numpy(record: list) -> None:
    """Turn a run's per-step record into int64 NumPy arrays, in place."""
    for r in record:
        r["x_A0"] = r["x_A0"].reshape(len(r["x_A0"]), -1).numpy()
        r["s_act"] = [s.reshape(len(s), -1).numpy() for s in r["s_act"]]
        r["s_err"] = [s.reshape(len(s), -1).numpy() for s in r["s_err"]]
        r["states"] = [None] + [LayerState(*(v.numpy() for v in st)) for st in r["states"][1:]]
