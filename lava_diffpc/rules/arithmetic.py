"""The two arithmetics of DiffPC: real numbers (float) and Loihi 2 fixed point (integers).

The DiffPC step (:mod:`lava_diffpc.rules.dynamics`) is written once; the only things that
differ between the float models and the chip's integer models are collected here, in the
manner of Lava's sigma-delta and LIF models (one dynamics, two arithmetics):

================  ===============================  =========================================
operation         :data:`REAL`                     :data:`FIXED` (24-bit signed states)
================  ===============================  =========================================
``sat(v)``        ``v``                            clip to ``[-2**23, 2**23 - 1]``
``dendrite``      ``T_prev * a``                   ``(T_prev * a) >>r E`` (``E``: the weight
                                                   exponent of the synapse that summed ``a``)
``gain(v, g)``    ``gamma * v``                    ``v >>r g`` (gamma = ``2**-g``), 0 when
                                                   ``g == GAMMA_OFF``
thresholds        ``T(k)`` in activation units     ``T_int(k) = T(k) * 2**F`` (exact shifts)
``synaptic_sum``  ``s @ W.T``                      exact integer ``s @ W_mant.T``
================  ===============================  =========================================

``>>r`` is :func:`shift_round`, round half up. Everything here works unchanged on NumPy
arrays and NumPy/Python scalars (the Lava process models, the on-chip trainer) and on
PyTorch tensors, 0-d tensors included (the batched drivers, also under ``torch.compile``):
operators, comparisons and the ``clip`` method every array type has, and for masks, the
spike rule's dead zone and spike-driven moves the small helpers :func:`positive`,
:func:`dead_zone` and :func:`add_spikes`, which pick the cheapest exact form for the array
type (:func:`compare_directly`).

Fixed-point scales (``F`` fractional bits, see :mod:`lava_diffpc.fixed_point`): a state
``v`` in activation units is the integer ``v * 2**F``; sums before saturation are formed in
``int64`` (wider than the 24-bit state) and only their saturated results are stored.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

Array = Any  # numpy.ndarray, NumPy/Python scalar or torch.Tensor
NUMPY_VALUES = (np.ndarray, np.generic, int, float)  # what the NumPy forms handle

STATE_BITS = 24
STATE_MIN = -(1 << (STATE_BITS - 1))
STATE_MAX = (1 << (STATE_BITS - 1)) - 1
GAMMA_OFF = -1  # gamma shift meaning "gamma = 0": no target update at this step


def as_int(v: Any) -> np.ndarray:
    """``v`` as an ``int64`` NumPy array (Lava ports deliver ``int32``; sums need headroom)."""
    return np.asarray(v, dtype=np.int64)


def _not_compiling() -> bool:
    return False


# True while torch.compile traces (dynamo folds it to a constant); torch >= 2.3
_compiling = getattr(torch.compiler, "is_compiling", _not_compiling)


def compare_directly(v: Array) -> bool:
    """Whether masks of ``v`` are best made by comparisons: for NumPy values, and for
    tensors traced by ``torch.compile`` (the comparison fuses into the kernel). Eager
    PyTorch on the CPU takes several times as long for a comparison plus the cast of its
    boolean result as for an arithmetic pass, so there :func:`positive` and the spike rule
    use ``sign``, ``clip`` and :func:`dead_zone` instead; both forms give the same
    values."""
    return isinstance(v, NUMPY_VALUES) or _compiling()


def positive(v: Array) -> Array:
    """``1[v > 0]`` as 0/1 in ``v``'s dtype (NumPy or PyTorch); eager PyTorch computes it
    as ``clip(sign(v), 0)`` (:func:`compare_directly`)."""
    if isinstance(v, NUMPY_VALUES):
        return np.asarray(v > 0).astype(np.asarray(v).dtype)
    if _compiling():
        return (v > 0).to(v.dtype)
    return v.sign().clip(0)


def dead_zone(v: Array, t: Array) -> Array:
    """``v - clip(v, -t, t)``: 0 where ``|v| <= t``, else ``v - t`` or ``v + t``.

    Eager PyTorch on the CPU computes it in one pass, ``softshrink(v, t)`` (the same
    formula), with ``t`` as a plain number where it is one value: there a clip to a 0-d
    tensor bound takes about ten times as long as one to a number. Elsewhere it is the
    two passes of the definition.
    """
    eager_cpu = isinstance(v, torch.Tensor) and v.device.type == "cpu" and not _compiling()
    bound = _one_number(t) if eager_cpu else None
    if bound is None:
        return v - v.clip(-t, t)
    if v.is_floating_point():
        return torch.nn.functional.softshrink(v, bound)
    return v - v.clip(-bound, bound)


def add_spikes(base: Array, t: Array, spikes: Array) -> Array:
    """``base + t * spikes`` for ternary ``spikes`` (-1, 0, +1): a state moved by ``t``.

    ``t * spikes`` is exact, so the sum is rounded once in every form; eager PyTorch forms
    it in one pass (``torch.addcmul``, or ``torch.add`` with ``alpha = t`` for a plain
    number) instead of two.
    """
    if isinstance(base, torch.Tensor) and not _compiling():
        if isinstance(t, torch.Tensor):
            return torch.addcmul(base, spikes, t)
        number = _one_number(t)
        if number is not None:
            return torch.add(base, spikes, alpha=number)
    return base + t * spikes


def _one_number(t: Array) -> int | float | None:
    """``t`` as a Python number when it holds one value on the CPU (a Python or NumPy
    scalar, a one-element CPU tensor), else None (a tensor of thresholds, a GPU value:
    reading it would wait for the device)."""
    if isinstance(t, (int, float)):
        return t
    if isinstance(t, np.generic):
        return t.item()
    if isinstance(t, torch.Tensor) and t.numel() == 1 and t.device.type == "cpu":
        return t.item()
    return None


def is_floating(v: Array) -> bool:
    """Whether an array or tensor holds floating-point numbers (NumPy or PyTorch)."""
    if isinstance(v, (np.ndarray, np.generic)):
        return bool(np.issubdtype(v.dtype, np.floating))
    return bool(v.is_floating_point())


def shift_round(v: Array, shift: Array) -> Array:
    """``v * 2**-shift`` of an integer: round half up for ``shift > 0``, exact otherwise.

    ``((v << l) + 2**(r-1)) >> r`` with ``l = max(-shift, 0)``, ``r = max(shift, 0)``: no
    branch on ``shift``, so it may be a Python/NumPy integer or a 0-d integer tensor. ``v``
    may also hold integers in a floating-point carrier (the fast engine's, see
    :class:`FixedArithmetic`): then the same value is ``floor((v 2**l + 2**(r-1)) 2**-r)``,
    exact because every factor is a power of two.
    """
    left, right = -shift * (shift < 0), shift * (shift > 0)
    if is_floating(v):
        half = (right > 0) * 2.0 ** (right - 1)
        return _floor((v * 2.0 ** left + half) * 2.0 ** -right)
    return ((v << left) + ((1 << right) >> 1)) >> right


def _floor(v: Array) -> Array:
    return np.floor(v) if isinstance(v, (np.ndarray, np.generic)) else v.floor()


def saturate(v: Array) -> Array:
    """Clip to the signed 24-bit state range ``[-2**23, 2**23 - 1]`` (no wrap-around)."""
    return v.clip(STATE_MIN, STATE_MAX)


class RealArithmetic:
    """Real numbers: no saturation, thresholds and gamma multiply (float models)."""

    fixed = False
    name = "float"

    @staticmethod
    def sat(v: Array) -> Array:
        return v

    @staticmethod
    def dendrite(a: Array, t_prev: Array, weight_exp: Array = 0) -> Array:
        """State increment ``T_prev * a`` of a raw spike sum ``a`` (``weight_exp`` unused)."""
        return t_prev * a

    @staticmethod
    def gain(v: Array, gamma: Array) -> Array:
        """``gamma * v`` (gamma = 0 leaves the target unchanged: ``x_T + 0 * v``)."""
        return gamma * v

    @staticmethod
    def gamma_off(gamma: Any) -> bool:
        """True when ``gamma`` is a plain number known to be 0 (then the update is skipped;
        a tensor is never known: it is applied, and 0 leaves the target unchanged)."""
        return isinstance(gamma, (int, float)) and gamma == 0

    @staticmethod
    def synaptic_sum(spikes: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """``spikes @ weights.T`` (``weights``: (n_out, n_in))."""
        return np.asarray(spikes, dtype=np.float64) @ np.asarray(weights, dtype=np.float64).T

    def __repr__(self) -> str:
        return "REAL"


class FixedArithmetic:
    """Loihi 2 integers: 24-bit saturating states, power-of-two shifts (fixed_pt models).

    The integers usually live in integer arrays (``int64``; the Lava models, the plain
    simulator). They may also live in a floating-point carrier, where vectorised kernels
    are faster: every operation of the step is then exact as long as each value before
    saturation is an integer below the carrier's mantissa (``2**24`` in float32: states are
    24-bit, and a product ``T_prev * a`` is a small multiplier times a power of two times a
    dendritic sum, exact while ``d_q |a| < 2**24``); a value beyond that saturates anyway.
    The fast engine checks the bound before it picks float32 (:mod:`lava_diffpc.engine.fast`).
    """

    fixed = True
    name = "fixed"

    @staticmethod
    def sat(v: Array) -> Array:
        return saturate(v)

    @staticmethod
    def dendrite(a: Array, t_prev: Array, weight_exp: Array = 0) -> Array:
        """State increment ``(T_prev * a) >>r E`` of an integer dendritic sum ``a``.

        Exact (no rounding) whenever ``T_prev`` is a multiple of ``2**E``.
        """
        return shift_round(t_prev * a, weight_exp)

    @staticmethod
    def gain(v: Array, g: Array) -> Array:
        """``v >>r g`` (gamma = ``2**-g``, ``g >= 0``), and 0 when ``g == GAMMA_OFF``.

        ``g`` may be a Python/NumPy integer or a 0-d integer tensor (no branch on it).
        """
        return (g != GAMMA_OFF) * shift_round(v, g * (g > 0))

    @staticmethod
    def gamma_off(g: Any) -> bool:
        """True when the shift ``g`` is a plain integer equal to :data:`GAMMA_OFF`."""
        return isinstance(g, (int, np.integer)) and g == GAMMA_OFF

    @staticmethod
    def synaptic_sum(spikes: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """The exact integer dendritic sum ``spikes @ weights.T`` of 8-bit mantissas.

        Runs in float64 BLAS, exact because every partial sum is an integer below ``2**53``
        (``|a| <= 128 * n_in``), and returns ``int64``.
        """
        out = np.asarray(spikes, dtype=np.float64) @ np.asarray(weights, dtype=np.float64).T
        return np.rint(out).astype(np.int64)

    def __repr__(self) -> str:
        return "FIXED"


Arithmetic = RealArithmetic | FixedArithmetic
REAL = RealArithmetic()
FIXED = FixedArithmetic()
