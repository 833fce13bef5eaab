"""DiffPCSynapse: one weight matrix serving the forward (W) and backward (W^T) paths."""

from __future__ import annotations

import numpy as np
from lava.magma.core.process.ports.ports import InPort, OutPort
from lava.magma.core.process.process import AbstractProcess
from lava.magma.core.process.variable import Var


class DiffPCSynapse(AbstractProcess):
    """The connection from layer l-1 to layer l, holding ``W_l`` once, optionally learning.

    Per time step it first sends what it computed at the previous step, then receives
    (one step of delay, like Lava's ``Dense``; sending first keeps the W / W^T cycle free of
    deadlock)::

        a_out_fwd(t) = a_fwd = W s_in_act(t-1)       (to layer l's a_in_fwd)
        a_out_bwd(t) = a_bwd = W^T s_in_err(t-1)     (to layer l-1's a_in_fb)

    ``s_in_act`` carries the ternary activity spikes of layer l-1, ``s_in_err`` the ternary
    error spikes of layer l. ``floating_pt``: float64 ``W`` and sums. ``fixed_pt``: ``W`` is
    the 8-bit signed mantissa ``W_mant`` and the outputs are exact integer dendritic sums
    (:meth:`~lava_diffpc.rules.arithmetic.FixedArithmetic.synaptic_sum`); the real weight is
    ``W_mant * 2**-weight_exp``, and the receiving layer applies the exponent with the
    threshold (:meth:`~lava_diffpc.rules.arithmetic.FixedArithmetic.dendrite`). Both outputs
    are zero at the first
    step.

    On-chip learning (``learn=True``; the local rule of spec section 4.4, batch 1). With
    ``k = (time_step - 1) mod steps`` the synapse also keeps the presynaptic trace::

        k == 0:  trace = 0
        trace += impulses[k] * s_in_act(t)           (rebuilds x_A^{l-1} from the spikes)
        k == steps - 1, after the sums:  W += update(trace, a_in_post(t))

    ``a_in_post`` carries the post layer's third factor, sent every step; the value of the
    sample's last step is used: ``e_T^l`` itself (float) or its 8-bit form ``y``
    (:func:`lava_diffpc.rules.fixed_learning.error_factor`). ``floating_pt``: ``impulses``
    are the thresholds ``T(k)``, so ``trace = x_A^{l-1}``
    (:func:`lava_diffpc.rules.learning.accumulate_activity`), and the update is
    ``W += alpha e_T trace^T`` (:func:`lava_diffpc.rules.learning.sgd_update`). ``fixed_pt``:
    ``impulses = T_int(k) >> p`` (trace units ``2**(p - F)``) and the update is the
    learning-engine form of :func:`lava_diffpc.rules.fixed_learning.weight_update` with the
    engine shift ``r`` and the seeded generator of the matrix (one number per sample)
    (:func:`lava_diffpc.rules.fixed_learning.synapse_rng`). The update lands in the last
    step of a sample, so the next sample's first sums (k = 0) use the new ``W`` on both
    paths: the forward and backward directions are one matrix and cannot diverge.

    Args:
        weights: ``(n_out, n_in)`` float weights, or integer mantissas for fixed point.
        weight_exp: fixed point: the exponent ``E`` of the mantissas (0 for float).
        learn: apply the on-chip rule at the end of every sample.
        steps: time steps per sample (learning only).
        impulses: ``(steps,)`` trace impulse per step (learning only, see above).
        alpha: float learning rate (``floating_pt``).
        shift: engine shift ``r`` (``fixed_pt``, :func:`~lava_diffpc.rules.fixed_learning.
            update_shift`).
        seed, layer: seed and index ``l`` of the stochastic-rounding generator.
    """

    def __init__(self, *, weights: np.ndarray, weight_exp: int = 0, learn: bool = False,
                 steps: int = 1, impulses: np.ndarray | None = None, alpha: float = 0.0,
                 shift: int = 0, seed: int = 0, layer: int = 1,
                 name: str | None = None) -> None:
        weights = np.asarray(weights)
        if weights.ndim != 2:
            raise ValueError(f"weights must be (n_out, n_in), got shape {weights.shape}")
        impulses = np.zeros(steps) if impulses is None else np.asarray(impulses)
        if learn and len(impulses) != steps:
            raise ValueError(f"need {steps} trace impulses for learning, got {len(impulses)}")
        n_out, n_in = weights.shape
        super().__init__(shape=weights.shape, learn=bool(learn), alpha=float(alpha),
                         shift=int(shift), seed=int(seed), layer=int(layer), name=name)
        self.s_in_act = InPort(shape=(n_in,))
        self.a_out_fwd = OutPort(shape=(n_out,))
        self.s_in_err = InPort(shape=(n_out,))
        self.a_out_bwd = OutPort(shape=(n_in,))
        self.a_in_post = InPort(shape=(n_out,))
        self.weights = Var(shape=weights.shape, init=weights)
        self.weight_exp = Var(shape=(1,), init=int(weight_exp))
        self.a_fwd = Var(shape=(n_out,), init=0)
        self.a_bwd = Var(shape=(n_in,), init=0)
        self.trace = Var(shape=(n_in,), init=0)
        self.impulses = Var(shape=(len(impulses),), init=impulses)
        self.steps = Var(shape=(1,), init=int(steps))
        self.saturated = Var(shape=(1,), init=0)
