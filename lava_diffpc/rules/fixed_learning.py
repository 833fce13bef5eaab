"""The on-chip DiffPC learning rule in integer arithmetic, in Loihi 2 learning-engine form.

The integer twin of :mod:`lava_diffpc.rules.learning` (``W += alpha e_T x_A^T``,
``b += alpha e_T``, once per sample, batch 1). Pure functions on NumPy integer arrays,
shared by the Lava ``fixed_pt`` synapse and layer models (:mod:`lava_diffpc.proc`) and the
fast simulator's on-chip trainer (:meth:`lava_diffpc.fixedsim.FixedPointNetwork.train`), so
both run literally the same arithmetic and consume the same random numbers.

Scales (``F`` state fractional bits, a state ``v`` is the integer ``v 2**F``; weights are
8-bit mantissas ``W = W_mant 2**-E``; see :mod:`lava_diffpc.fixed_point`):

* **learning rate** ``alpha = 2**-a`` (``a = lr_shift``), a power of two;
* **presynaptic trace** ``x`` (the engine's ``x1``/``x2``): the presynaptic activity
  ``x_A^{l-1}`` in units of ``2**(p - F)``, where ``p`` (:func:`trace_shift`) is the
  largest shift that divides every threshold ``T_int(k)`` of the schedule. The synapse
  rebuilds it from the ternary spikes it receives: ``x += s(k) * (T_int(k) >> p)``
  (:func:`trace_step`, one graded impulse per spike, e.g. 8, 4, 2, 1 for ``n = 4``), so
  ``x = x_A_int >> p`` exactly (no rounding: every impulse is an integer). At the end of
  the sample it is split and clipped to the engine's unsigned 7-bit traces
  (:func:`pre_trace`): ``x1 = min(max(x, 0), 127)``, ``x2 = min(max(-x, 0), 127)``. Hidden
  layers pass the spiking-ReLU gate, so ``x_A >= 0`` and ``x2 = 0``; only the input layer
  with ``input_gate`` off carries signed activity and needs the second trace (on chip: the
  input neuron drives two axons, one per sign). Saturation at 127 caps ``x_A`` at
  ``127 * 2**(p - F)`` activation units (15.9 for ``m = 0, n = 4``).
* **third factor** ``y`` (post neuron's target error, the engine's ``y1``/``y2``): the post
  layer sends ``y = sign(e_T) * min((|e_T_int| + 2**(s-1)) >> s, 127)``
  (:func:`error_factor`, ``s = err_shift``, round half away from zero, 8-bit signed, units
  of ``2**(s - F)``; ``s = 5`` at ``F = 12``: steps of 1/128, range +-0.99). Sign-split:
  ``y1 = max(y, 0)``, ``y2 = max(-y, 0)``, both unsigned 7-bit.

Weight update at the end of the sample's learning phase (:func:`weight_update`), per synapse
``(i, j)`` with ``R = 2F + a - E - s - p`` so that ``P 2**-R`` is ``alpha e_T x_A`` in
mantissa units::

    P  = y_i x_j                               (sum of the four sign-split products below)
    Q  = sign(P) * floor(|P| / 8)              (two-trace products lose 3 bits in the engine)
    dw = floor((Q * 2**(7 - r) + u_ij) / 2**7) r = R - 3, u_ij uniform in [0, 127]
    W  = clip(W + dw, -127, 127)               (8-bit mantissa, E fixed during training)

Mapping onto Lava's learning-engine rule string (``Loihi3FLearningRule``, lava-notes §3.4)::

    dw = 2^-r * u0 * x1 * y1  -  2^-r * u0 * x1 * y2  -  2^-r * u0 * x2 * y1  +  2^-r * u0 * x2 * y2

with ``u0`` the once-per-epoch dependency and the epoch = one sample (``t_epoch = K``): each
product of two 7-bit traces is shifted right by 3 (``floor``, so ``sign(P) floor(|P|/8)``,
since at most one of ``x1, x2`` and one of ``y1, y2`` is nonzero, each term is a magnitude),
scaled by the constant ``2**-r`` (the engine takes exponents in ``[-7, 8]``, so
``r in [-8, 7]``; ValueError otherwise) into an accumulator with 7 fractional bits, and
stochastically rounded into the weight. Stochastic rounding makes ``E[dw] = Q 2**-r``
(unbiased below one LSB: per-sample updates are mostly fractions of an LSB).

Random numbers: every synapse matrix ``l`` owns ``numpy.random.Generator(PCG64(
SeedSequence([seed, l])))`` (:func:`synapse_rng`); per sample it draws
``integers(0, 128, size=(rows, cols))`` over the block of rows with ``y != 0`` and columns
with ``x != 0`` (row-major, ascending indices) and nothing when the block is empty. Lava's
own ``LearningDense`` draws one number per epoch for all synapses; one per synapse keeps the
rounding noise uncorrelated. The drivers share these functions, so their weights are
bit-identical for a given seed.

Bias (:func:`bias_update`): the bias is the neuron's own 24-bit state parameter (it resets
``x_F``), not a synapse, so the neuron program updates it itself:
``b = sat(b + sign(e_T) * ((|e_T_int| + 2**(a-1)) >> a))`` (round half away from zero,
``F`` fractional bits; no random number needed at this resolution). Loihi 2's learning
engine changes only synaptic variables (8-bit weights), and the DiffPC neuron is a
programmable (microcode) neuron that already adds and shifts its 24-bit state; learning the
bias as an always-on synapse instead would quantise it to the layer's 8-bit weight grid and
change inference.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lava_diffpc.rules.arithmetic import as_int, saturate

TRACE_MAX = 127  # unsigned 7-bit learning-engine trace
FACTOR_MAX = 127  # magnitude of the 8-bit signed third factor (symmetric)
WEIGHT_MAX = 127  # 8-bit signed weight mantissa (symmetric, as fixed_point's quantiser)
PRODUCT_DROP_BITS = 3  # a product of two 7-bit traces loses 3 bits in the engine
ROUND_BITS = 7  # fractional bits of the engine's accumulator before stochastic rounding
SHIFT_MIN, SHIFT_MAX = -8, 7  # r = -exp, engine constant exponents exp in [-7, 8]


@dataclass(frozen=True)
class OnChipRule:
    """Settings of the on-chip rule (module docstring).

    Attributes:
        lr_shift: ``a`` with learning rate ``alpha = 2**-a`` (float models use the same
            alpha).
        err_shift: ``s``: the third factor is ``e_T`` in units of ``2**(s - F)``.
        seed: seed of the per-synapse stochastic-rounding generators.
        headroom: bits of weight headroom at initialisation: each ``E_l`` is chosen
            ``headroom`` below the largest exponent that fits the initial weights, so they
            can grow ``2**headroom``-fold before they saturate (``E`` stays fixed).
    """

    lr_shift: int = 6
    err_shift: int = 5
    seed: int = 0
    headroom: int = 2

    def __post_init__(self) -> None:
        if not 0 <= self.lr_shift <= 24:
            raise ValueError(f"lr_shift must lie in [0, 24] (alpha = 2**-lr_shift), got "
                             f"{self.lr_shift}")
        if not 0 <= self.err_shift <= 23:
            raise ValueError(f"err_shift must lie in [0, 23], got {self.err_shift}")
        if self.headroom < 0:
            raise ValueError(f"headroom must be >= 0 bits, got {self.headroom}")

    @property
    def alpha(self) -> float:
        """The learning rate ``2**-lr_shift``."""
        return 2.0**-self.lr_shift


def trace_shift(thresholds: np.ndarray) -> int:
    """``p``: the largest shift with every ``T_int(k)`` a multiple of ``2**p``."""
    t = as_int(thresholds)
    if t.size == 0 or np.any(t <= 0):
        raise ValueError("thresholds must be positive integers")
    p = 0
    while np.all(t % (1 << (p + 1)) == 0):
        p += 1
    return p


def trace_impulses(thresholds: np.ndarray, p: int) -> np.ndarray:
    """Per-step trace impulse ``T_int(k) >> p`` (exact integers by choice of ``p``)."""
    return as_int(thresholds) >> p


def trace_step(trace: np.ndarray, spikes: np.ndarray, impulse: int) -> np.ndarray:
    """``x + s * impulse``: one step of the presynaptic trace (running sum, trace units)."""
    return as_int(trace) + int(impulse) * as_int(spikes)


def split(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sign-split ``(max(v, 0), max(-v, 0))``: two unsigned factors with ``v = pos - neg``."""
    v = as_int(v)
    return np.maximum(v, 0), np.maximum(-v, 0)


def pre_trace(trace: np.ndarray) -> np.ndarray:
    """Signed presynaptic factor ``x1 - x2`` with ``x1, x2`` clipped to 7 bits."""
    return np.clip(as_int(trace), -TRACE_MAX, TRACE_MAX)


def pre_trace_from_state(x_A: np.ndarray, p: int) -> np.ndarray:
    """The same factor straight from the sender's ``x_A_int`` (``x_A_int >> p``, exact)."""
    return pre_trace(as_int(x_A) >> p)


def _round_magnitude(v: np.ndarray, shift: int) -> np.ndarray:
    """``sign(v) * ((|v| + 2**(shift-1)) >> shift)``: round half away from zero."""
    v = as_int(v)
    half = (1 << (shift - 1)) if shift > 0 else 0
    return np.sign(v) * ((np.abs(v) + half) >> shift)


def error_factor(e_T: np.ndarray, err_shift: int) -> np.ndarray:
    """The post neuron's 8-bit third factor ``y`` (module docstring), in ``[-127, 127]``."""
    return np.clip(_round_magnitude(e_T, err_shift), -FACTOR_MAX, FACTOR_MAX)


def update_shift(rule: OnChipRule, weight_exp: int, p: int, frac_bits: int) -> int:
    """``r = 2F + a - E - s - p - 3``; ValueError unless the engine can scale by ``2**-r``."""
    r = (2 * frac_bits + rule.lr_shift - int(weight_exp) - rule.err_shift - p
         - PRODUCT_DROP_BITS)
    if not SHIFT_MIN <= r <= SHIFT_MAX:
        fix = SHIFT_MAX - r if r > SHIFT_MAX else SHIFT_MIN - r
        raise ValueError(
            f"learning rate 2**-{rule.lr_shift} at weight exponent {weight_exp}, trace shift "
            f"{p} and err_shift {rule.err_shift} needs the engine constant 2**{-r}, outside "
            f"2**[{-SHIFT_MAX}, {-SHIFT_MIN}]: change lr_shift by {fix:+d}, or err_shift or "
            "the weight headroom")
    return r


def synapse_rng(seed: int, layer: int) -> np.random.Generator:
    """The stochastic-rounding generator of synapse matrix ``layer`` (1..L)."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([int(seed), int(layer)])))


def weight_update(weights: np.ndarray, x: np.ndarray, y: np.ndarray, r: int,
                  rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """One sample's update of the mantissas (module docstring); returns (W, saturated).

    Args:
        weights: ``(n_out, n_in)`` 8-bit mantissas.
        x: ``(n_in,)`` signed presynaptic factor ``x1 - x2`` (:func:`pre_trace`).
        y: ``(n_out,)`` signed third factor ``y1 - y2`` (:func:`error_factor`).
        r: :func:`update_shift`.
        rng: :func:`synapse_rng` of this matrix (advanced by the draws).

    ``saturated`` counts the synapses whose update was clipped at +-127 (a sign that the
    weight headroom is too small for this learning rate).
    """
    w = as_int(weights).copy()
    rows, cols = np.flatnonzero(y), np.flatnonzero(x)
    if rows.size == 0 or cols.size == 0:
        return w, 0
    yr, xc = as_int(y)[rows], as_int(x)[cols]
    mag = (np.abs(yr)[:, None] * np.abs(xc)[None, :]) >> PRODUCT_DROP_BITS
    q = np.sign(yr)[:, None] * np.sign(xc)[None, :] * mag
    u = rng.integers(0, 1 << ROUND_BITS, size=q.shape, dtype=np.int64)
    dw = ((q << (ROUND_BITS - r)) + u) >> ROUND_BITS
    block = w[np.ix_(rows, cols)] + dw
    clipped = np.clip(block, -WEIGHT_MAX, WEIGHT_MAX)
    w[np.ix_(rows, cols)] = clipped
    return w, int(np.count_nonzero(clipped != block))


def bias_update(bias: np.ndarray, e_T: np.ndarray, lr_shift: int) -> np.ndarray:
    """``sat(b + round(e_T_int * 2**-a))``, round half away from zero (module docstring)."""
    return saturate(as_int(bias) + _round_magnitude(e_T, lr_shift))
