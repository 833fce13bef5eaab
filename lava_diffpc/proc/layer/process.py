"""DiffPCLayer: the value and error neurons of one DiffPC layer l >= 1."""

from __future__ import annotations

from typing import Any

import numpy as np
from lava.magma.core.process.ports.ports import InPort, OutPort
from lava.magma.core.process.variable import Var

from lava_diffpc.fixed_point import FixedFormat, target_int, to_state_int
from lava_diffpc.proc.common import (
    DiffPCProcess,
    arithmetic_name,
    class_labels,
    phase_steps,
    real_array,
    schedule_values,
    steps_per_sample,
)
from lava_diffpc.rules.fixed_learning import OnChipRule
from lava_diffpc.rules.schedule import Schedule


class DiffPCLayer(DiffPCProcess):
    """Value and error neurons of one layer (spec sections 1-3), streaming many samples.

    Per time step (``time_step`` counts from 1; ``K = steps``, ``P = phase_offset``; the
    phase of step k is ``schedule.is_learning(k)``, i.e. ``k >= k1``)::

        t <= P:  idle (inputs dropped, zeros sent)
        k = (t - 1 - P) mod K,   sample i = (t - 1 - P) div K  (mod num_samples)
        k == 0:  state = reset(bias)  (x_F = bias, rest 0); inputs arriving now are dropped
                 (sent in the previous sample's last step), T_prev = 0
        x_F  += T_prev * fwd                  fwd = a_in_fwd = W_l s_A^{l-1}(k-1)
        e_T   = x_T - x_F
        e_in += T_prev * fb                   fb  = a_in_fb  = W_{l+1}^T s_e^{l+1}(k-1)
        x_T  += gamma(k) * (-e_T + 1[x_T > 0] e_in)   (output layer with k >= k1:
                                                        x_T = target * one_hot(label of i))
        s_A = ternary spike of x_T - x_A against T(k), spiking-ReLU gated; x_A += T s_A
        s_e = ternary spike of e_T - e_A against T(k) when k >= k1, else 0; e_A += T s_e
        output layer, k == k1 - 1:  predictions[i] = argmax(x_T)

    On-chip learning (``learn=OnChipRule(...)``, spec section 4.4, batch 1): every step the
    layer also sends its third factor on ``s_out_eT`` (to the incoming synapse's
    ``a_in_post``): ``e_T`` (float) or its 8-bit form
    ``y = sign(e_T) min((|e_T| + 2**(s-1)) >> s, 127)`` (fixed,
    :func:`lava_diffpc.rules.fixed_learning.error_factor`, ``s = err_shift``); and at
    the sample's last step (k == steps - 1, after the step) it updates its own bias,
    ``bias += alpha e_T`` (float, :func:`lava_diffpc.rules.learning.sgd_bias_update`) or
    :func:`lava_diffpc.rules.fixed_learning.bias_update` with ``alpha = 2**-lr_shift``
    (fixed), which the next sample's reset loads into ``x_F``.

    Both models run :func:`lava_diffpc.rules.dynamics.layer_step`: ``floating_pt`` in real
    arithmetic (states in activation units), ``fixed_pt`` in fixed point (24-bit states in
    units of ``2**-F``, ``T`` as integers, ``fwd``/``fb`` integer dendritic sums scaled by the
    synapses' weight exponents ``fwd_exp``/``fb_exp``, gamma as the right shift ``g`` with
    ``-1`` for gamma = 0; see :mod:`lava_diffpc.rules.arithmetic` and
    :mod:`lava_diffpc.fixed_point`).

    Labels of the output layer (the clamp): either stored (``labels``, one per sample) or, with
    ``labels=None``, received every step on ``a_in_label`` (shape ``(1,)``: the class index
    of the sample running now, e.g. from Lava's ``RingBuffer`` source or the
    ``ground_truth`` port of its ``SpikeDataloader``); a received label that is no integer
    in ``[0, n)`` stops the run with :class:`~lava_diffpc.proc.common.ModelError`, and so do
    labels connected to a hidden layer or to a layer that stores its own.

    Both models run :func:`lava_diffpc.rules.dynamics.layer_step`: ``floating_pt`` in real
    arithmetic (states in activation units), ``fixed_pt`` in fixed point (24-bit states in
    units of ``2**-F``, ``T`` as integers, ``fwd``/``fb`` integer dendritic sums scaled by the
    synapses' weight exponents ``fwd_exp``/``fb_exp``, gamma as the right shift ``g`` with
    ``-1`` for gamma = 0; see :mod:`lava_diffpc.rules.arithmetic` and
    :mod:`lava_diffpc.fixed_point`).

    Ports: ``a_in_fwd``, ``a_in_fb`` (dendritic sums from the synapses below and above),
    ``a_in_label`` (output layer without stored labels), ``s_out_act``, ``s_out_err``
    (ternary activity and error spikes, -1/0/+1), ``s_out_eT`` (graded third factor,
    learning only; zeros otherwise).

    Vars: the six states ``x_F x_T x_A e_T e_A e_in``; ``bias``; the schedule tables
    ``thresholds`` and ``gammas`` (K entries, float gamma or fixed shift); ``steps``;
    ``labels`` and ``target`` (clamp, output layer); ``predictions`` (output layer; -1
    until written); spike counters ``act_count`` and ``err_count``
    (``[feed-forward, learning]`` phase totals over all neurons and samples). Fixed point:
    states, ``bias``, ``thresholds`` and ``target`` in LSBs of ``2**-F``.

    Args (values in real units; fixed point quantises them with
    :mod:`lava_diffpc.fixed_point`):
        shape: ``(n,)`` neurons.
        bias: ``(n,)`` bias in activation units (fixed: ``round(b 2**F)``, must fit 24 bits).
        schedule: the :class:`~lava_diffpc.rules.schedule.Schedule` (thresholds, gamma,
            phases).
        steps: steps per sample ``K``: ``schedule.k1`` (inference) or ``schedule.steps``
            (training, the default).
        fixed: None for the float model, or the :class:`~lava_diffpc.fixed_point.
            FixedFormat` of the fixed-point model.
        output: this is the top layer (clamps in learning, records predictions).
        labels: class index per sample (output layer; None: from ``a_in_label``).
        target: clamp value of the label's neuron in activation units.
        num_samples: samples streamed before the sequence repeats (output layer; default
            ``len(labels)``).
        gate: spiking-ReLU gate on activity spikes.
        fwd_exp, fb_exp: fixed point only: the weight exponents ``E`` of the incoming
            synapse and of the synapse above (their ``weight_exponent``); ``fb_exp`` is not
            needed by the output layer.
        learn: on-chip learning with this :class:`~lava_diffpc.rules.fixed_learning.
            OnChipRule` (float: ``alpha = rule.alpha``; fixed: ``lr_shift``, ``err_shift``).
        phase_offset: time steps before the first sample starts (1 behind Lava's
            ``SpikeDataloader``).
    """

    def __init__(self, *, shape: tuple[int], bias: Any, schedule: Schedule,
                 steps: int | None = None, fixed: FixedFormat | None = None,
                 output: bool = False, labels: Any = None, target: float = 1.0,
                 num_samples: int | None = None, gate: bool = True, fwd_exp: int | None = None,
                 fb_exp: int | None = None, learn: OnChipRule | None = None,
                 phase_offset: int = 0, name: str | None = None) -> None:
        arithmetic = arithmetic_name(fixed)
        shape = tuple(int(s) for s in shape)
        if len(shape) != 1 or shape[0] < 1:
            raise ValueError(f"DiffPCLayer shape must be (n,) with n >= 1, got {shape}")
        steps = steps_per_sample(schedule, steps)
        training = steps > schedule.k1
        bias = real_array(bias, "bias", shape)
        target = float(real_array(target, "target", ()))
        n_samples = self._samples(output, labels, num_samples)
        if labels is not None:
            if not output:
                raise ValueError("labels belong to the output layer; pass output=True")
            labels = class_labels(labels, n_samples, shape[0])
        if learn is not None and not training:
            raise ValueError(f"on-chip learning needs a learning phase: steps = "
                             f"schedule.steps ({schedule.steps}), not k1 ({schedule.k1})")
        fwd_exp, fb_exp = self._exponents(fixed, fwd_exp, fb_exp, output)
        thresholds, gammas = schedule_values(schedule, steps, fixed)
        if fixed is not None:
            bias = to_state_int(bias, fixed, "bias")
            target = target_int(target, fixed)
        learn_params = {"learn": learn is not None, "alpha": learn.alpha if learn else 0.0,
                        "lr_shift": learn.lr_shift if learn else 0,
                        "err_shift": learn.err_shift if learn else 0}
        super().__init__(shape=shape, schedule=schedule.to_dict(), output=bool(output),
                         gate=bool(gate), fwd_exp=fwd_exp, fb_exp=fb_exp,
                         arithmetic=arithmetic, stored_labels=labels is not None,
                         phase_offset=phase_steps(phase_offset), name=name, **learn_params)
        self.a_in_fwd = InPort(shape=shape)
        self.a_in_fb = InPort(shape=shape)
        self.a_in_label = InPort(shape=(1,))
        self.s_out_act = OutPort(shape=shape)
        self.s_out_err = OutPort(shape=shape)
        self.s_out_eT = OutPort(shape=shape)
        for state in ("x_F", "x_T", "x_A", "e_T", "e_A", "e_in"):
            setattr(self, state, Var(shape=shape, init=0))
        self.bias = Var(shape=shape, init=bias)
        self.thresholds = Var(shape=(steps,), init=thresholds)
        self.gammas = Var(shape=(steps,), init=gammas)
        self.steps = Var(shape=(1,), init=steps)
        lab = np.zeros(n_samples, dtype=np.int64) if labels is None else labels
        self.labels = Var(shape=(n_samples,), init=lab)
        self.target = Var(shape=(1,), init=target)
        self.predictions = Var(shape=(n_samples,), init=-1)
        self.act_count = Var(shape=(2,), init=0)
        self.err_count = Var(shape=(2,), init=0)

    @staticmethod
    def _samples(output: bool, labels: Any, num_samples: int | None) -> int:
        """Samples in the stream: ``num_samples``, else ``len(labels)``, else 1 (hidden)."""
        if num_samples is None:
            if labels is not None:
                return len(labels)
            if output:
                raise ValueError("the output layer needs num_samples (samples streamed; "
                                 "predictions keeps one entry per sample) or labels")
            return 1
        if not isinstance(num_samples, (int, np.integer)) or num_samples < 1:
            raise ValueError(f"num_samples must be an integer >= 1, got {num_samples!r}")
        return int(num_samples)

    @staticmethod
    def _exponents(fixed: FixedFormat | None, fwd_exp: int | None, fb_exp: int | None,
                   output: bool) -> tuple[int, int]:
        """Checked weight exponents: required in fixed point, absent (or 0) in float."""
        if fixed is None:
            if fwd_exp or fb_exp:
                raise ValueError("fwd_exp and fb_exp are fixed-point weight exponents; a float "
                                 "layer (fixed=None) takes none")
            return 0, 0
        for what, e, needed in (("fwd_exp", fwd_exp, True), ("fb_exp", fb_exp, not output)):
            if e is None and needed:
                where = "below" if what == "fwd_exp" else "above"
                raise ValueError(f"a fixed-point layer needs {what}: pass the weight_exponent "
                                 f"of the synapse {where} (DiffPCSynapse(...).weight_exponent)")
            if e is not None and not isinstance(e, (int, np.integer)):
                raise ValueError(f"{what} must be an integer weight exponent, got {e!r}")
        return int(fwd_exp), int(fb_exp or 0)
