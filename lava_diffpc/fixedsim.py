"""Fast fixed-point DiffPC simulator: the integer rules in a batched NumPy loop.

A thin driver around :mod:`lava_diffpc.rules.fixed` with the same step semantics as the
float reference :class:`lava_diffpc.reference.network.DiffPCNetwork` and the Lava
``fixed_pt`` graph (:mod:`lava_diffpc.lava_graph`), with which it is bit-exact (tested):

* step ``k`` of a sample, ``K = schedule.steps`` with labels, ``schedule.k1`` without;
* at ``k = 0`` every layer resets (``x_F = b_int``, rest 0; input ``x_A0 = 0``) and the
  spikes of the previous step are discarded (``T_prev = 0``);
* the input layer tracks the clamped integer sample (``track``, gated iff
  ``config.input_gate``); layer l receives ``W_mant,l s_A^{l-1}(k-1)`` and
  ``W_mant,l+1^T s_e^{l+1}(k-1)``; the top layer is clamped to
  ``round(target_scale * 2**F) * one_hot(label)`` in the learning phase;
* prediction = argmax of the top layer's ``x_T`` at step ``K1 - 1``.

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

from lava_diffpc.fixed_point import QuantizedParams, schedule_tables, target_int
from lava_diffpc.metrics import CommStats, count_spikes
from lava_diffpc.reference.network import DiffPCConfig
from lava_diffpc.rules import fixed, fixed_learning
from lava_diffpc.rules.dynamics import LayerState


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
    """Integer DiffPC network: quantised parameters plus the batched step loop.

    Args:
        config: architecture, schedule and options of the float reference.
        qparams: integer parameters from :func:`~lava_diffpc.fixed_point.quantize_params`.
    """

    def __init__(self, config: DiffPCConfig, qparams: QuantizedParams):
        self.config = config
        self.qparams = qparams
        sizes = config.sizes
        if len(qparams.weights) != len(sizes) - 1:
            raise ValueError(f"{len(qparams.weights)} weight matrices for {len(sizes)} layers")
        for l, (w, b) in enumerate(zip(qparams.weights, qparams.biases), start=1):
            if w.shape != (sizes[l], sizes[l - 1]) or b.shape != (sizes[l],):
                raise ValueError(f"layer {l}: W {w.shape}, b {b.shape}; expected "
                                 f"({sizes[l]}, {sizes[l - 1]}) and ({sizes[l]},)")
        self.thresholds, self.gamma_shifts = schedule_tables(config.schedule, qparams.fmt)
        # float64 copies of the mantissas for the exact BLAS product (rules.fixed.spike_sum)
        self._w = [w.astype(np.float64) for w in qparams.weights]
        self._wt = [np.ascontiguousarray(w.T) for w in self._w]
        self.target = target_int(config.target_scale, qparams.fmt)
        self._rule: fixed_learning.OnChipRule | None = None  # set by the first train()
        self._rngs: list[np.random.Generator] = []

    def run(self, x_int: Any, labels: Any | None = None, *,
            stats: CommStats | None = None, record: list | None = None) -> FixedRunResult:
        """Run one batch of integer samples ``x_int`` (B, n_0) through the schedule.

        Without ``labels`` only the feed-forward phase runs. ``record``, when a list,
        receives per step a dict like the float reference's (``k``, ``x_A0``, ``s_act``,
        ``s_err``, ``states``), all int64. ``stats`` counts spikes as
        :mod:`lava_diffpc.metrics` defines.
        """
        cfg, sched, q = self.config, self.config.schedule, self.qparams
        sizes, n_layers = cfg.sizes, len(cfg.sizes) - 1
        x_int = np.asarray(x_int)
        if x_int.ndim != 2 or x_int.shape[1] != sizes[0]:
            raise ValueError(f"input of shape {x_int.shape}; expected (batch, {sizes[0]})")
        if not np.issubdtype(x_int.dtype, np.integer):
            raise ValueError("x_int must be integers: quantise with fixed_point.quantize_input")
        x_int = fixed.saturate(x_int)
        batch = x_int.shape[0]
        learn = labels is not None
        steps = sched.steps if learn else sched.k1
        clamp = None
        if learn:
            labels = np.asarray(labels, dtype=np.int64)
            if labels.shape != (batch,) or labels.min() < 0 or labels.max() >= sizes[-1]:
                raise ValueError(f"labels must be {batch} class indices in [0, {sizes[-1]})")
            clamp = self.target * np.eye(sizes[-1], dtype=np.int64)[labels]
        zeros = [np.zeros((batch, n), dtype=np.int64) for n in sizes]
        x_A0 = zeros[0]
        states = [None] + [fixed.reset_layer(b, zeros[l]) for l, b in enumerate(q.biases, 1)]
        s_act, s_err = list(zeros), list(zeros)
        out_ff = None
        counts = np.zeros((2, 2, n_layers + 1), dtype=np.int64)  # phase, act/err, layer
        for k in range(steps):
            t_prev = int(self.thresholds[k - 1]) if k > 0 else 0
            t_now, g = int(self.thresholds[k]), int(self.gamma_shifts[k])
            learning = sched.is_learning(k)
            fwd = [None] + [self._sum(s_act[l - 1], self._w[l - 1])
                            for l in range(1, n_layers + 1)]
            fb = [None] + [self._sum(s_err[l + 1], self._wt[l]) if l < n_layers else zeros[l]
                           for l in range(1, n_layers + 1)]
            x_A0, s0 = fixed.track(x_int, x_A0, t_now, cfg.input_gate)
            new_act, new_err = [s0], [zeros[0]]
            for l in range(1, n_layers + 1):
                fb_exp = q.weight_exps[l] if l < n_layers else 0
                states[l], sa, se = fixed.layer_step(
                    states[l], fwd[l], fb[l], t_prev, t_now, g, fwd_exp=q.weight_exps[l - 1],
                    fb_exp=fb_exp, error_spikes=learning,
                    clamp=clamp if (learning and l == n_layers) else None)
                new_act.append(sa)
                new_err.append(se)
            s_act, s_err = new_act, new_err
            if stats is not None:
                for l in range(n_layers + 1):
                    counts[int(learning), 0, l] += count_spikes(s_act[l]) if l < n_layers else 0
                    counts[int(learning), 1, l] += count_spikes(s_err[l]) if l >= 2 else 0
            if record is not None:
                record.append({"k": k, "x_A0": x_A0.copy(), "s_act": [s.copy() for s in s_act],
                               "s_err": [s.copy() for s in s_err],
                               "states": [None] + [LayerState(*(v.copy() for v in st))
                                                   for st in states[1:]]})
            if k == sched.k1 - 1:
                out_ff = states[n_layers].x_T.copy()
        if stats is not None:
            for phase, p in (("ff", 0), ("learn", 1)):
                for l in range(n_layers + 1):
                    stats.add(phase, l, activity=counts[p, 0, l], error=counts[p, 1, l])
            stats.add_samples("ff", batch)
            if learn:
                stats.add_samples("learn", batch)
        return FixedRunResult(out_ff.argmax(1), out_ff, states[1:], x_A0)

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

        Speed (batch 1, NumPy, one core of a 2-core x86 machine): about 40 samples/s for
        784-400-10 at 75 steps on a free core (11-17 with other jobs on the cores), 80-90
        for 64-32-10 at 48 steps; Python overhead per step dominates, the dendritic sums
        touch only the columns that spiked.
        """
        q, fmt = self.qparams, self.qparams.fmt
        x_int, labels = np.asarray(x_int), np.asarray(labels, dtype=np.int64)
        if len(x_int) != len(labels):
            raise ValueError(f"{len(x_int)} samples but {len(labels)} labels")
        if self._rule is None:
            self._rule = rule
            self._rngs = [fixed_learning.synapse_rng(rule.seed, l)
                          for l in range(1, len(q.weights) + 1)]
        elif rule != self._rule:
            raise ValueError("this network's generators were seeded for another OnChipRule")
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
                    q.weights[l], x, y, shifts[l], self._rngs[l])
                q.biases[l] = fixed_learning.bias_update(q.biases[l], st.e_T[0], rule.lr_shift)
                saturated[l] += n_sat
                self._w[l] = q.weights[l].astype(np.float64)
                self._wt[l] = np.ascontiguousarray(self._w[l].T)
        return OnChipTrainResult(predictions, saturated, time.perf_counter() - start)

    @staticmethod
    def _sum(spikes: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """Dendritic sums ``spikes @ weights.T``; skips the product when nothing spiked and,
        for a single sample (on-chip training), sums only the columns that spiked (exact)."""
        if spikes.shape[0] == 1:
            idx = np.flatnonzero(spikes[0])
            if idx.size == 0:
                return np.zeros((1, weights.shape[0]), dtype=np.int64)
            return fixed.spike_sum(spikes[:, idx], weights[:, idx])
        if not spikes.any():
            return np.zeros((spikes.shape[0], weights.shape[0]), dtype=np.int64)
        return fixed.spike_sum(spikes, weights)
