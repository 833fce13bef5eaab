"""DiffPCLayer: the value and error neurons of one DiffPC layer l >= 1."""

from __future__ import annotations

import numpy as np
from lava.magma.core.process.ports.ports import InPort, OutPort
from lava.magma.core.process.process import AbstractProcess
from lava.magma.core.process.variable import Var

from lava_diffpc.rules.schedule import Schedule


class DiffPCLayer(AbstractProcess):
    """Value and error neurons of one layer (spec sections 1-3), streaming many samples.

    Per time step (``time_step`` counts from 1; ``K = steps``; the phase of step k is
    ``schedule.is_learning(k)``, i.e. ``k >= k1``)::

        k = (time_step - 1) mod K,   sample i = (time_step - 1) div K  (mod num_samples)
        k == 0:  state = reset(bias)  (x_F = bias, rest 0); inputs arriving now are dropped
                 (sent in the previous sample's last step), T_prev = 0
        x_F  += T_prev * fwd                  fwd = a_in_fwd = W_l s_A^{l-1}(k-1)
        e_T   = x_T - x_F
        e_in += T_prev * fb                   fb  = a_in_fb  = W_{l+1}^T s_e^{l+1}(k-1)
        x_T  += gamma(k) * (-e_T + 1[x_T > 0] e_in)   (output layer with k >= k1:
                                                        x_T = target * one_hot(labels[i]))
        s_A = ternary spike of x_T - x_A against T(k), spiking-ReLU gated; x_A += T s_A
        s_e = ternary spike of e_T - e_A against T(k) when k >= k1, else 0; e_A += T s_e
        output layer, k == k1 - 1:  predictions[i] = argmax(x_T)

    On-chip learning (``learn=True``, spec section 4.4, batch 1): every step the layer also
    sends its third factor on ``s_out_eT`` (to the incoming synapse's ``a_in_post``): ``e_T``
    (float) or its 8-bit form ``y = sign(e_T) min((|e_T| + 2**(s-1)) >> s, 127)``
    (fixed, :func:`lava_diffpc.rules.fixed_learning.error_factor`, ``s = err_shift``); and at
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

    Ports: ``a_in_fwd``, ``a_in_fb`` (dendritic sums from the synapses below and above),
    ``s_out_act``, ``s_out_err`` (ternary activity and error spikes, -1/0/+1), ``s_out_eT``
    (graded third factor, learning only).

    Vars: the six states ``x_F x_T x_A e_T e_A e_in``; ``bias``; the schedule tables
    ``thresholds`` and ``gammas`` (K entries, float gamma or fixed shift); ``steps``;
    ``labels`` and ``target`` (clamp, output layer); ``predictions`` (output layer; -1
    until written); spike counters ``act_count`` and ``err_count``
    (``[feed-forward, learning]`` phase totals over all neurons and samples).

    Args:
        shape: ``(n,)`` neurons.
        bias: ``(n,)`` bias (float, or integer state LSBs for fixed point).
        thresholds: ``T(k)`` for k = 0..steps-1.
        gammas: ``gamma(k)`` (float) or the gamma shift ``g(k)`` (fixed point).
        schedule: the :class:`~lava_diffpc.rules.schedule.Schedule` (phases; its fields
            travel in ``proc_params``).
        steps: steps per sample ``K`` (``schedule.k1`` for inference).
        output: this is the top layer (clamps in learning, records predictions).
        labels: class index per sample (output layer, needed when ``steps > k1``).
        target: clamp value of the label's neuron (float, or integer LSBs).
        num_samples: samples streamed before the sequence repeats.
        gate: spiking-ReLU gate on activity spikes.
        fwd_exp, fb_exp: fixed point only: weight exponents of the incoming synapse and of
            the synapse above (feedback).
        learn: on-chip learning (above).
        alpha: float learning rate; lr_shift, err_shift: fixed point ``a`` and ``s``.
    """

    def __init__(self, *, shape: tuple[int], bias: np.ndarray, thresholds: np.ndarray,
                 gammas: np.ndarray, schedule: Schedule, steps: int, output: bool = False,
                 labels: np.ndarray | None = None, target: float = 1.0, num_samples: int = 1,
                 gate: bool = True, fwd_exp: int = 0, fb_exp: int = 0, learn: bool = False,
                 alpha: float = 0.0, lr_shift: int = 0, err_shift: int = 0,
                 name: str | None = None) -> None:
        shape = tuple(int(s) for s in shape)
        if len(shape) != 1 or shape[0] < 1:
            raise ValueError(f"DiffPCLayer shape must be (n,), got {shape}")
        k1 = schedule.k1
        if steps not in (k1, schedule.steps) or len(thresholds) != steps or len(gammas) != steps:
            raise ValueError(f"need steps = {k1} (inference) or {schedule.steps} (training) "
                             f"and as many thresholds and gammas, got steps={steps}, "
                             f"{len(thresholds)} thresholds, {len(gammas)} gammas")
        if output and steps > k1 and (labels is None or len(labels) != num_samples):
            raise ValueError(f"the output layer needs {num_samples} labels for a learning phase")
        if np.shape(bias) != shape:
            raise ValueError(f"bias of shape {np.shape(bias)}; expected {shape}")
        if learn and steps == k1:
            raise ValueError("on-chip learning needs a learning phase (steps > k1)")
        super().__init__(shape=shape, schedule=schedule.to_dict(), output=output, gate=gate,
                         fwd_exp=int(fwd_exp),
                         fb_exp=int(fb_exp), learn=bool(learn), alpha=float(alpha),
                         lr_shift=int(lr_shift), err_shift=int(err_shift), name=name)
        self.a_in_fwd = InPort(shape=shape)
        self.a_in_fb = InPort(shape=shape)
        self.s_out_act = OutPort(shape=shape)
        self.s_out_err = OutPort(shape=shape)
        self.s_out_eT = OutPort(shape=shape)
        for state in ("x_F", "x_T", "x_A", "e_T", "e_A", "e_in"):
            setattr(self, state, Var(shape=shape, init=0))
        self.bias = Var(shape=shape, init=np.asarray(bias))
        self.thresholds = Var(shape=(steps,), init=np.asarray(thresholds))
        self.gammas = Var(shape=(steps,), init=np.asarray(gammas))
        self.steps = Var(shape=(1,), init=int(steps))
        n_lab = max(int(num_samples), 1)
        lab = np.zeros(n_lab, dtype=np.int64) if labels is None else np.asarray(labels)
        self.labels = Var(shape=(n_lab,), init=lab)
        self.target = Var(shape=(1,), init=target)
        self.predictions = Var(shape=(n_lab,), init=-1)
        self.act_count = Var(shape=(2,), init=0)
        self.err_count = Var(shape=(2,), init=0)
