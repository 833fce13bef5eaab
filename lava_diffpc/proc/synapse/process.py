"""DiffPCSynapse: one weight matrix serving the forward (W) and backward (W^T) paths."""

from __future__ import annotations

import numpy as np
from lava.magma.core.process.ports.ports import InPort, OutPort
from lava.magma.core.process.process import AbstractProcess
from lava.magma.core.process.variable import Var


class DiffPCSynapse(AbstractProcess):
    """The connection from layer l-1 to layer l, holding ``W_l`` once.

    Per time step it first sends what it computed at the previous step, then receives
    (one step of delay, like Lava's ``Dense``; sending first keeps the W / W^T cycle free of
    deadlock)::

        a_out_fwd(t) = a_fwd = W s_in_act(t-1)       (to layer l's a_in_fwd)
        a_out_bwd(t) = a_bwd = W^T s_in_err(t-1)     (to layer l-1's a_in_fb)

    ``s_in_act`` carries the ternary activity spikes of layer l-1, ``s_in_err`` the ternary
    error spikes of layer l. ``floating_pt``: float64 ``W`` and sums. ``fixed_pt``: ``W`` is
    the 8-bit signed mantissa ``W_mant`` and the outputs are exact integer dendritic sums
    (:func:`lava_diffpc.rules.fixed.spike_sum`); the real weight is
    ``W_mant * 2**-weight_exp``, and the receiving layer applies the exponent with the
    threshold (:func:`lava_diffpc.rules.fixed.dendrite`). Both outputs are zero at the first
    step. Holding ``W`` once is what lets a once-per-sample local update (the learning issue)
    change the forward and backward paths together.

    Args:
        weights: ``(n_out, n_in)`` float weights, or integer mantissas for fixed point.
        weight_exp: fixed point: the exponent ``E`` of the mantissas (0 for float).
    """

    def __init__(self, *, weights: np.ndarray, weight_exp: int = 0,
                 name: str | None = None) -> None:
        weights = np.asarray(weights)
        if weights.ndim != 2:
            raise ValueError(f"weights must be (n_out, n_in), got shape {weights.shape}")
        n_out, n_in = weights.shape
        super().__init__(shape=weights.shape, name=name)
        self.s_in_act = InPort(shape=(n_in,))
        self.a_out_fwd = OutPort(shape=(n_out,))
        self.s_in_err = InPort(shape=(n_out,))
        self.a_out_bwd = OutPort(shape=(n_in,))
        self.weights = Var(shape=weights.shape, init=weights)
        self.weight_exp = Var(shape=(1,), init=int(weight_exp))
        self.a_fwd = Var(shape=(n_out,), init=0)
        self.a_bwd = Var(shape=(n_in,), init=0)
