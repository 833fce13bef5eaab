"""Fixed-point format of DiffPC on Loihi 2 (spec section 7): scales, quantisers, tables.

Everything an integer driver (:mod:`lava_diffpc.fixedsim`, the Lava ``fixed_pt`` models)
needs, built once from float parameters. The step arithmetic itself lives in
:mod:`lava_diffpc.rules.dynamics` with :data:`~lava_diffpc.rules.arithmetic.FIXED`.
No Lava and no torch import.

Scales and rounding (``F = frac_bits``, ``D = decay_bits``, ``B = weight_bits``):

================  =========================================  ==============================
quantity          integer                                    rounding / range
================  =========================================  ==============================
state, input      ``v_int = v * 2**F``                       ``round`` half to even, then
                                                             saturate to 24 bits (input) or
                                                             ValueError (bias, target)
threshold         ``T_int = d_q << (m + F - j - D)``          exact power-of-two shift of
                  (``Schedule.thresholds_fixed``)            ``d_q = round(d * 2**D)``
gamma             shift ``g``, gamma = ``2**-g``              ``g = 0`` in the feed-forward
                                                             phase, ``GAMMA_OFF`` for 0
weight            ``W = W_mant * 2**-E``, ``|W_mant| <=``     ``round`` half to even;
                  ``2**(B-1) - 1`` (8 bits: 127)             ``E`` per connection
================  =========================================  ==============================

The weight exponent ``E`` of a connection is the largest integer with
``round(max|W| * 2**E) <= 2**(B-1) - 1`` (``E = 0`` for an all-zero matrix), so the
mantissa uses the full symmetric 8-bit range and ``|W - W_mant 2**-E| <= 2**-(E+1)``.
Passing explicit exponents that make a mantissa overflow raises ValueError.

Exactness condition (see :mod:`lava_diffpc.fixedsim` for the error bound): the forward and
feedback increments ``(T_int * a) >>r E`` are exact when every ``T_int(k)`` is a multiple
of ``2**E``; :meth:`QuantizedParams.exact_shifts` checks it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from lava_diffpc.rules.arithmetic import GAMMA_OFF, STATE_BITS, STATE_MAX, STATE_MIN
from lava_diffpc.rules.schedule import Schedule, ScheduleTable


@dataclass(frozen=True)
class FixedFormat:
    """Bit widths of the fixed-point format.

    Attributes:
        frac_bits: fractional bits ``F`` of every state (LSB = ``2**-F`` activation units;
            24-bit states then span ``[-2**(23-F), 2**(23-F))``, +-2048 at ``F = 12``).
        decay_bits: bits ``D`` of the threshold decay multiplier ``d_q``.
        weight_bits: bits ``B`` of a weight mantissa, sign included (Loihi: 8).
    """

    frac_bits: int = 12
    decay_bits: int = 3
    weight_bits: int = 8

    def __post_init__(self) -> None:
        if not 0 <= self.frac_bits < STATE_BITS - 1:
            raise ValueError(f"frac_bits must lie in [0, {STATE_BITS - 2}], got {self.frac_bits}")
        if self.decay_bits < 0:
            raise ValueError(f"decay_bits must be >= 0, got {self.decay_bits}")
        if not 2 <= self.weight_bits <= 16:
            raise ValueError(f"weight_bits must lie in [2, 16], got {self.weight_bits}")

    @property
    def weight_max(self) -> int:
        """Largest weight mantissa magnitude, ``2**(B-1) - 1``."""
        return (1 << (self.weight_bits - 1)) - 1

    @property
    def lsb(self) -> float:
        """One state LSB in activation units, ``2**-F``."""
        return 2.0**-self.frac_bits


DEFAULT_FORMAT = FixedFormat()


def to_numpy(a: Any) -> np.ndarray:
    """A NumPy float64 copy of an array or (detached, CPU) torch tensor."""
    if hasattr(a, "detach"):
        a = a.detach().cpu().numpy()
    return np.array(a, dtype=np.float64)


def format_for(schedule: Schedule, fmt: FixedFormat = DEFAULT_FORMAT) -> FixedFormat:
    """``fmt`` with ``F`` raised, if needed, to the smallest value at which every threshold
    of ``schedule`` is a whole number of LSBs (:meth:`Schedule.thresholds_fixed` decides;
    the finest threshold ``2**(m - n + 1)`` needs about ``F >= n - 1 - m``). A larger ``F``
    halves the state range per bit (``+-2**(23 - F)``). ValueError when no ``F`` below the
    24-bit state's fits."""
    for frac_bits in range(fmt.frac_bits, STATE_BITS - 1):
        try:
            schedule.thresholds_fixed(frac_bits, fmt.decay_bits)
        except ValueError:
            continue
        return replace(fmt, frac_bits=frac_bits)
    raise ValueError(f"no fixed-point format of {STATE_BITS}-bit states holds the thresholds "
                     f"of {schedule}; raise m or lower n")


def to_state_int(v: Any, fmt: FixedFormat, what: str) -> np.ndarray:
    """``round(v * 2**F)`` as int64; ValueError when it does not fit 24 bits."""
    q = np.rint(to_numpy(v) * 2.0**fmt.frac_bits)
    if q.size and (q.min() < STATE_MIN or q.max() > STATE_MAX):
        raise ValueError(f"{what} does not fit the 24-bit state at frac_bits={fmt.frac_bits}: "
                         f"values must lie in [{STATE_MIN * fmt.lsb}, {STATE_MAX * fmt.lsb}]")
    return q.astype(np.int64)


def quantize_input(x: Any, fmt: FixedFormat = DEFAULT_FORMAT) -> np.ndarray:
    """Input samples as state integers ``round(x * 2**F)``, **saturated** to 24 bits.

    Saturation is the documented behaviour of the input: a value beyond
    ``+-2**(23-F)`` clamps to ``STATE_MAX`` / ``STATE_MIN`` (as the chip's 24-bit state
    would), it does not wrap. NaN or infinite values raise ValueError (they have no integer).
    """
    x = to_numpy(x)
    if not np.isfinite(x).all():
        raise ValueError(f"input holds {int(np.isnan(x).sum())} NaN and "
                         f"{int(np.isinf(x).sum())} infinite values; clean or normalise the data")
    q = np.rint(x * 2.0**fmt.frac_bits)
    return np.clip(q, STATE_MIN, STATE_MAX).astype(np.int64)


def weight_exponent(w: np.ndarray, fmt: FixedFormat) -> int:
    """Largest ``E`` with ``round(max|w| * 2**E) <= weight_max`` (0 for all-zero ``w``)."""
    peak = float(np.max(np.abs(w))) if np.size(w) else 0.0
    if peak == 0.0:
        return 0
    e = int(np.floor(np.log2(fmt.weight_max / peak)))
    while np.rint(peak * 2.0 ** (e + 1)) <= fmt.weight_max:
        e += 1
    while np.rint(peak * 2.0**e) > fmt.weight_max:
        e -= 1
    return e


def quantize_weights(w: Any, fmt: FixedFormat,
                     exponent: int | None = None) -> tuple[np.ndarray, int]:
    """``(W_mant, E)`` with ``W_mant = round(w * 2**E)``; ValueError if it exceeds B bits."""
    w = to_numpy(w)
    e = weight_exponent(w, fmt) if exponent is None else int(exponent)
    mant = np.rint(w * 2.0**e)
    if mant.size and np.abs(mant).max() > fmt.weight_max:
        raise ValueError(f"weights overflow {fmt.weight_bits} bits at exponent {e}: "
                         f"max |W| * 2**{e} = {np.abs(mant).max():.0f} > {fmt.weight_max}")
    return mant.astype(np.int64), e


def quantize_connection(w: Any, fmt: FixedFormat, exponent: int | None = None,
                        what: str = "weights") -> tuple[np.ndarray, int]:
    """:func:`quantize_weights` of one connection, dense ``(n_out, n_in)`` or a kernel
    ``(C_out, C_in, k, k)``, plus the dendrite check: ValueError when a dendritic sum (at
    most ``|W_mant|`` times the fan-in or the fan-out) could exceed the 24-bit state."""
    w = to_numpy(w)
    mant, e = quantize_weights(w, fmt, exponent)
    fan = max(w[0].size, w.size // w.shape[1])  # into one output / out of one input
    if fmt.weight_max * fan > STATE_MAX:
        raise ValueError(f"{what}: a dendritic sum of {fan} inputs could overflow the "
                         "24-bit state")
    return mant, e


@dataclass
class QuantizedParams:
    """Integer parameters of a DiffPC network.

    Attributes:
        weights: per layer the mantissas ``W_mant,l`` (int64, shape (n_l, n_{l-1})).
        weight_exps: per layer the exponent ``E_l`` (``W_l = W_mant,l * 2**-E_l``).
        biases: per layer ``round(b_l * 2**F)`` (int64, state LSBs).
        fmt: the fixed-point format.
    """

    weights: list[np.ndarray]
    weight_exps: list[int]
    biases: list[np.ndarray]
    fmt: FixedFormat

    def dequantize(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """The float64 parameters the integers represent exactly: ``(W_mant 2**-E, b 2**-F)``."""
        return [(w * 2.0**-e, b * self.fmt.lsb)
                for w, e, b in zip(self.weights, self.weight_exps, self.biases)]

    def exact_shifts(self, schedule: Schedule) -> bool:
        """True when every threshold is a multiple of every ``2**E_l`` (no dendrite rounding)."""
        t = schedule.thresholds_fixed(self.fmt.frac_bits, self.fmt.decay_bits)
        return all(bool(np.all(t % (1 << max(e, 0)) == 0)) for e in self.weight_exps)


def quantize_params(params: list[tuple[Any, Any]], fmt: FixedFormat = DEFAULT_FORMAT,
                    weight_exps: list[int] | None = None) -> QuantizedParams:
    """Quantise float ``[(W_l, b_l), ...]`` (NumPy or torch) into :class:`QuantizedParams`.

    ``W_l`` is a dense matrix ``(n_out, n_in)`` or a convolution kernel ``(C_out, C_in, k,
    k)`` (one exponent per connection either way); ``b_l`` has one entry per output neuron
    or channel. ``weight_exps`` fixes the exponents (ValueError when a mantissa would
    overflow); by default each is chosen from ``max|W_l|``. Biases must fit the 24-bit
    state. ValueError also when a dendritic sum (at most ``|W_mant|`` times the fan-in or
    the fan-out) could exceed 24 bits.
    """
    if weight_exps is not None and len(weight_exps) != len(params):
        raise ValueError(f"{len(weight_exps)} weight exponents for {len(params)} layers")
    weights, exps, biases = [], [], []
    for l, (w, b) in enumerate(params, start=1):
        w = to_numpy(w)
        if w.ndim not in (2, 4) or to_numpy(b).shape != (w.shape[0],):
            raise ValueError(f"layer {l}: W {w.shape} and b {to_numpy(b).shape} do not match")
        mant, e = quantize_connection(w, fmt, None if weight_exps is None
                                      else weight_exps[l - 1], f"layer {l}")
        weights.append(mant)
        exps.append(e)
        biases.append(to_state_int(b, fmt, f"bias of layer {l}"))
    return QuantizedParams(weights, exps, biases, fmt)


def schedule_tables(schedule: Schedule, fmt: FixedFormat) -> tuple[np.ndarray, np.ndarray]:
    """Per-step integer tables ``(T_int(k), g(k))`` for k = 0..steps-1 (int64).

    ``g(k)`` is the gamma right shift: 0 in the feed-forward phase (gamma = 1),
    ``Schedule.gamma_shift()`` where the learning phase updates, ``GAMMA_OFF`` where
    gamma = 0. ValueError when a threshold is finer than the LSB or gamma2 is no power of 2.
    """
    thresholds = schedule.thresholds_fixed(fmt.frac_bits, fmt.decay_bits)
    g2 = schedule.gamma_shift() if schedule.k2 > 0 else 0
    shifts = np.array([0 if k < schedule.k1 else (g2 if schedule.gamma(k) > 0 else GAMMA_OFF)
                       for k in range(schedule.steps)], dtype=np.int64)
    return thresholds, shifts


def fixed_table(schedule: Schedule, fmt: FixedFormat) -> ScheduleTable:
    """The schedule's per-step values in fixed point (:func:`schedule_tables`)."""
    return ScheduleTable(schedule, *schedule_tables(schedule, fmt))


def target_int(target_scale: float, fmt: FixedFormat) -> int:
    """The clamped output target ``round(target_scale * 2**F)`` (ValueError beyond 24 bits)."""
    return int(to_state_int(np.array([target_scale]), fmt, "target_scale")[0])


def quantize_for_learning(params: list[tuple[Any, Any]], headroom: int,
                          fmt: FixedFormat = DEFAULT_FORMAT) -> QuantizedParams:
    """Initial integer parameters for on-chip learning: each exponent ``E_l`` is the one
    :func:`weight_exponent` picks for the initial weights minus ``headroom`` bits.

    The exponents stay fixed while the mantissas learn, so the weights can grow
    ``2**headroom``-fold before they saturate at +-127; the price is ``headroom`` fewer
    bits of resolution for the initial weights.
    """
    exps = [weight_exponent(to_numpy(w), fmt) - int(headroom) for w, _ in params]
    return quantize_params(params, fmt, exps)
