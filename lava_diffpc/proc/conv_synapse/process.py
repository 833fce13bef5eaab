"""DiffPCConvSynapse: one convolution kernel serving the forward (W) and backward (W^T) paths."""

from __future__ import annotations

from typing import Any

from lava.magma.core.process.ports.ports import InPort, OutPort
from lava.magma.core.process.variable import Var

from lava_diffpc.config import ConvSpec, neurons
from lava_diffpc.fixed_point import FixedFormat
from lava_diffpc.proc.common import DiffPCProcess, arithmetic_name, real_array, synapse_weights

LEARN_REFUSED = ("DiffPCConvSynapse cannot learn on chip: Loihi 2's learning engine updates "
                 "each synapse on its own, while a kernel is shared by every position (its "
                 "update is a sum over positions); train conv nets with the reference "
                 "(train --rule local) and run them here with learn=False")


class DiffPCConvSynapse(DiffPCProcess):
    """The convolution from layer l-1 to layer l, holding the kernel ``W_l`` once.

    Layers are flat on the ports: a feature map ``(C, H, W)`` is the vector of its
    ``C * H * W`` neurons in CHW order (index ``c H W + i W + j``), the order in which the
    reference reshapes its input and flattens a feature map into the first fully connected
    layer (:mod:`lava_diffpc.reference.network`). With ``in_shape = (C_in, H_in, W_in)``,
    ``out_shape = (C_out, H_out, W_out)``, ``H_out = floor((H_in + 2p - k) / s) + 1`` (the
    same for widths), per time step the synapse first sends what it computed at the previous
    step, then receives (one step of delay and send-first order, as
    :class:`~lava_diffpc.proc.synapse.process.DiffPCSynapse`, so the W / W^T cycle cannot
    deadlock)::

        a_out_fwd(t) = conv(s_in_act(t-1), W)             (C_out H_out W_out,) to layer l
        a_out_bwd(t) = conv_transpose(s_in_err(t-1), W)   (C_in H_in W_in,)   to layer l-1

        conv(s, W)[o, i, j] = sum_{c, u, v} W[o, c, u, v] s[c, s i + u - p, s j + v - p]

    (zero padding ``p``, stride ``s``; the transpose is the vector-Jacobian product of
    ``conv``, with the output padding that restores ``in_shape``). Both sums are the ones
    :class:`~lava_diffpc.reference.conv.ConvConnection` computes for the float reference and
    :mod:`lava_diffpc.fixedsim` (its ``forward`` and ``transpose``, called by the models);
    both outputs are zero at the first step. ``s_in_act`` and ``s_in_err`` carry ternary
    spikes (-1, 0, +1).

    ``floating_pt``: float64 kernel and sums, in activation units per unit of threshold
    (the layer multiplies by ``T(k-1)``). ``fixed_pt``: the kernel is the signed 8-bit
    mantissa ``W_mant = round(W 2**E)`` (``|W_mant| <= 127``,
    :func:`lava_diffpc.fixed_point.quantize_connection`) and the outputs are exact integer
    dendritic sums of mantissas (``|a| <= 127 C_in k k`` forward, ``<= 127 C_out k k``
    backward, checked to fit 24 bits at quantisation); the real kernel is
    ``W_mant 2**-weight_exp`` and the receiving layer applies the exponent with the
    threshold, ``(T_prev a) >>r E``
    (:meth:`~lava_diffpc.rules.arithmetic.FixedArithmetic.dendrite`), exactly as for the
    dense synapse. The bias of channel ``o`` is not the synapse's: the layer holds it
    per neuron, ``b[o]`` at every position of channel ``o``.

    On-chip learning is refused (``learn=True`` raises ValueError): the local rule's kernel
    update sums ``e_T`` times the presynaptic factor over every output position, which Loihi
    2's learning engine, updating each synapse from its own traces, cannot express.

    Args (values in real units; fixed point quantises them):
        weights: ``(C_out, C_in, k, k)`` real kernel ``W``. Fixed point stores the mantissas;
            the exponent ``E`` is ``weight_exp``, or by default the largest that fits
            ``max|W|`` into ``fixed.weight_bits``. It is :attr:`weight_exponent` (0 in
            float), which the layers on both sides need (``fwd_exp`` / ``fb_exp``).
        in_shape: ``(C_in, H_in, W_in)`` of layer l-1.
        stride, padding: of the convolution.
        out_shape: ``(C_out, H_out, W_out)`` the caller expects; checked against the one the
            geometry gives (None: not checked).
        fixed: None for the float model, or the :class:`~lava_diffpc.fixed_point.
            FixedFormat` of the fixed-point model.
        weight_exp: fixed point: the exponent ``E`` (a mantissa that overflows raises).
        learn: must be False (see above).
    """

    def __init__(self, *, weights: Any, in_shape: tuple[int, int, int], stride: int = 1,
                 padding: int = 0, out_shape: tuple[int, int, int] | None = None,
                 fixed: FixedFormat | None = None, weight_exp: int | None = None,
                 learn: bool = False, name: str | None = None) -> None:
        if learn:
            raise ValueError(LEARN_REFUSED)
        arithmetic = arithmetic_name(fixed)
        weights = real_array(weights, "weights")
        if weights.ndim != 4 or weights.shape[2] != weights.shape[3] or 0 in weights.shape:
            raise ValueError(f"weights must be a square kernel (C_out, C_in, k, k), got shape "
                             f"{weights.shape}")
        in_shape = tuple(int(d) for d in in_shape)
        if len(in_shape) != 3 or in_shape[0] != weights.shape[1]:
            raise ValueError(f"in_shape {in_shape} must be (C_in, H, W) with C_in = "
                             f"{weights.shape[1]}, the kernel's input channels")
        spec = ConvSpec(weights.shape[0], weights.shape[2], int(stride), int(padding))
        computed = spec.output_shape(in_shape)
        if out_shape is not None and tuple(int(d) for d in out_shape) != computed:
            raise ValueError(f"out_shape {tuple(out_shape)} does not match convolution {spec} "
                             f"of a {in_shape} input, which gives {computed}; fix the stride, "
                             "padding or shapes")
        weights, exponent = synapse_weights(weights, fixed, weight_exp)
        n_in, n_out = neurons(in_shape), neurons(computed)
        super().__init__(in_shape=in_shape, out_shape=computed, channels=spec.channels,
                         kernel=spec.kernel, stride=spec.stride, padding=spec.padding,
                         arithmetic=arithmetic, name=name)
        self.weight_exponent = exponent
        self.s_in_act = InPort(shape=(n_in,))
        self.a_out_fwd = OutPort(shape=(n_out,))
        self.s_in_err = InPort(shape=(n_out,))
        self.a_out_bwd = OutPort(shape=(n_in,))
        self.weights = Var(shape=weights.shape, init=weights)
        self.weight_exp = Var(shape=(1,), init=exponent)
        self.a_fwd = Var(shape=(n_out,), init=0)
        self.a_bwd = Var(shape=(n_in,), init=0)
