"""The on-chip DiffPC learning rule in integer arithmetic, in Loihi 2 learning-engine form.

The integer twin of :mod:`lava_diffpc.rules.learning` (``W += alpha e_T x_A^T``,
``b += alpha e_T``, once per sample, batch 1). Pure functions on NumPy integer arrays,
shared by the Lava ``fixed_pt`` synapse and layer models (:mod:`lava_diffpc.proc`) and the
fast simulator's on-chip trainer (:meth:`lava_diffpc.fixedsim.FixedPointNetwork.train`), so
both run literally the same arithmetic and consume the same random numbers. The weight
update is, bit for bit, what Lava 0.10's fixed-point learning engine
(``LearningDense``, ``PyLearningDenseModelBitApproximate``) computes for the rule string
:func:`rule_string`, clipped to our 8-bit mantissa (``tests/test_learning_dense_crosscheck.py``;
conditions and the parts the engine cannot do are listed at the end).

Scales (``F`` state fractional bits, a state ``v`` is the integer ``v 2**F``; weights are
8-bit mantissas ``W = W_mant 2**-E``; see :mod:`lava_diffpc.fixed_point`):

* **learning rate** ``alpha = 2**-a`` (``a = lr_shift``), a power of two;
* **presynaptic trace** ``x`` (the engine's ``x1``): the presynaptic activity
  ``x_A^{l-1}`` in units of ``2**(p - F)``, where ``p`` (:func:`trace_shift`) is the
  largest shift that divides every threshold ``T_int(k)`` of the schedule. The synapse
  rebuilds it from the ternary spikes it receives: ``x += s(k) * (T_int(k) >> p)``
  (:func:`trace_step`, one graded impulse per spike, e.g. 8, 4, 2, 1 for ``n = 4``), so
  ``x = x_A_int >> p`` exactly (no rounding: every impulse is an integer). At the end of
  the sample it is clipped to 7 bits (:func:`pre_trace`): ``x = clip(x, -127, 127)``.
  Hidden layers pass the spiking-ReLU gate, so ``x_A >= 0`` (the engine's ``x1 = x``);
  only the input layer with ``input_gate`` off carries signed activity (engine:
  ``x1 = 64 + x``, see below). Saturation at 127 caps ``x_A`` at ``127 * 2**(p - F)``
  activation units (15.9 for ``m = 0, n = 4``).
* **third factor** ``y`` (post neuron's target error): the post layer sends
  ``y = sign(e_T) * min((|e_T_int| + 2**(s-1)) >> s, 127)`` (:func:`error_factor`,
  ``s = err_shift``, round half away from zero, 8-bit signed, units of ``2**(s - F)``;
  ``s = 5`` at ``F = 12``: steps of 1/128, range +-0.99), to the engine sign-split as
  ``y1 = max(y, 0)``, ``y2 = max(-y, 0)`` (:func:`split`), both unsigned 7-bit.

Weight update at the end of the sample (:func:`weight_update`, :func:`engine_update`), per
synapse ``(i, j)``, with ``R = 2F + a - E - s - p`` so that ``y x 2**-R`` is
``alpha e_T x_A`` in mantissa units, ``r = R - 3`` (:func:`update_shift`, in ``[-10, 7]``)
and the rule constant ``m 2**e`` of :func:`constant_scale` (``m = 2**(3 - d)``,
``e = d - R``, ``d = max(1, R - 7)``: ``d = 1``, ``m = 4`` whenever ``r <= 5``)::

    Q  = (y_i x_j m) >> 3 = (y_i x_j) >> d     the engine's shift of a product of two 7-bit
                                               traces, a floor (-127 >> 1 = -64, not -63)
    T  = clip(Q 2**(e + 7), -2**15 - 1, 2**15 - 1)       the product term, saturated
    A  = clip(W 2**7 + T,   -2**15 - 1, 2**15 - 1)       16-bit accumulator, 7 fraction bits
    W' = floor(A / 2**7) + [u < frac(A / 2**7)]          stochastic rounding
    engine: W' clipped to [-256, 255]; ours: W = clip(W', -127, 127)

``u`` is ONE uniform number in ``[0, 1)`` per sample (epoch) shared by every synapse of
the matrix. Stochastic rounding makes ``E[W' - W] = Q 2**(d - R)`` below saturation; because
all synapses share ``u``, their rounding errors within a sample are correlated (all round
up when ``u`` is small). The floor biases each nonzero product by ``-(1 - 2**-d)/2`` LSB of
``Q`` on average; the mantissa ``m = 4`` (one dropped bit instead of the three of
``m = 1``) keeps that drift small. Rule string (``Loihi3FLearningRule``, ``t_epoch = K``,
``u0``: every epoch; :func:`rule_string`), e.g. ``r = 5``::

    dw = 4 * 2^-7 * u0 * x1 * y1 - 4 * 2^-7 * u0 * x1 * y2                   (x >= 0)
    dw = 4 * 2^-7 * u0 * (x1 - 64) * y1 - 4 * 2^-7 * u0 * (x1 - 64) * y2     (x1 = 64 + x)

The engine takes mantissas in ``[-8, 7]`` and exponents in ``[-7, 8]``, hence ``r`` in
``[-10, 7]`` (ValueError otherwise). At most one product per synapse is nonzero and the
engine's right shift floors the negative one, hence ``Q = (y x) >> d`` in both forms.

Random numbers (:func:`epoch_rng`, :func:`synapse_rng`): Lava's engine keeps
``numpy.random.default_rng(2)`` per ``LearningDense`` (``ConnVarRandom``; the rule's
``rng_seed`` seeds only the trace generators), draws ``random(1)`` once when built and once
at the start of every epoch, and rounds every synapse with that number. Our matrix ``l``
does the same with ``default_rng(SeedSequence([seed, l]))``; :func:`weight_update` makes
exactly one draw per call (per sample), also when nothing changes. ``epoch_rng(2)``
(:data:`LAVA_ROUNDING_SEED`) reproduces a stock ``LearningDense``.

Conditions of the bit-exact match with Lava's engine (each checked in the cross-check):

* **weight range**: the engine's weight variable is 9-bit signed, ``[-256, 255]``; ours is
  the 8-bit mantissa ``[-127, 127]`` that the forward and backward sums and
  :mod:`lava_diffpc.fixed_point` assume, so we clip the engine's result. Identical as
  long as no update leaves +-127 (the trainers count those as ``saturated``). Mapping our
  mantissa 1:1 onto the engine's weight needs ``num_weight_bits = 9``: at 8 bits
  ``LearningDense`` truncates mixed-sign initial weights to even values.
* **trace accumulation**: graded pre-spikes (payload ``2 s(k) (T_int(k) >> p)``,
  ``GradedSpikeCfg.ADD_WITH_SATURATION``) saturate ``x1`` at every addition (and wrap below
  0); we clip the final value. Identical while the running trace stays in ``[0, 127]``; the
  input layer's trace is monotone (``x_A`` never overshoots its target), a hidden layer's
  ``x_A`` can rise above 127 units and fall back.
* **signed input**: ``x1 = 64 + x`` holds ``x in [-64, 63]`` (the pre neuron adds a
  payload of 128 once); ours holds ``[-127, 127]``. Identical inside ``[-64, 63]`` (the
  standardised digits at ``p = 9`` span ``[-7, 15]``). Lava 0.10 adds graded payloads to
  ``x1`` only, so the sign-split ``x1 - x2`` form cannot be built from spikes.
* **trace decay**: the engine decays ``x1, y1, y2`` once per epoch by ``exp(-1/tau)`` per
  step with floor plus stochastic rounding (one shared number per generator and epoch);
  at ``tau = 65535`` a trace of magnitude ``v`` loses 1 LSB with probability about
  ``v/65535`` per epoch (<= 0.2%). Our rule has no decay; ``tau = 0`` zeroes the traces.
* **trace reset**: Lava never resets traces; the cross-check resets ``x1`` with a payload
  ``-2x`` at the next sample's first step, which a ``LearningDense`` would also deliver as
  forward input. Our synapse zeroes its trace at ``k = 0``.

What the engine cannot express (needs custom neuron or learning microcode on Loihi 2):

* **the backward copy** ``W^T``: a learning connection is one direction; our synapse
  holds one matrix for ``W s`` and ``W^T s_e``. A second learning connection for ``W^T``
  would need the post layer's signed ``y`` as its presynaptic trace (``[-64, 63]`` with
  the offset, not ``[-127, 127]``) and the same random number per epoch to stay equal to
  ``W^T``; this is not tested.
* **the bias** (:func:`bias_update`): the bias is the neuron's own 24-bit state parameter
  (it resets ``x_F``), not a synapse, so the neuron program updates it itself:
  ``b = sat(b + sign(e_T) * ((|e_T_int| + 2**(a-1)) >> a))`` (round half away from zero,
  ``F`` fractional bits; no random number needed at this resolution). Loihi 2's learning
  engine changes only synaptic variables (8-bit weights), and learning the bias as an
  always-on synapse instead would quantise it to the layer's 8-bit weight grid and change
  inference.
* **the clip at +-127** and **the per-sample trace reset** above.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lava_diffpc.rules.arithmetic import as_int, saturate

TRACE_MAX = 127  # unsigned 7-bit learning-engine trace
FACTOR_MAX = 127  # magnitude of the 8-bit signed third factor (symmetric)
WEIGHT_MAX = 127  # 8-bit signed weight mantissa (symmetric, as fixed_point's quantiser)
ENGINE_WEIGHT_MIN, ENGINE_WEIGHT_MAX = -256, 255  # the engine's 9-bit signed weight variable
PRODUCT_DROP_BITS = 3  # a product of two 7-bit traces loses 3 bits in the engine
ROUND_BITS = 7  # fractional bits of the engine's accumulator before stochastic rounding
ACC_MIN, ACC_MAX = -(1 << 15) - 1, (1 << 15) - 1  # the engine's accumulator saturation
SHIFT_MIN, SHIFT_MAX = -10, 7  # r range the engine can scale (constant_scale)
SIGNED_OFFSET = 64  # x1 = 64 + x holds a signed presynaptic factor x in [-64, 63]
LAVA_ROUNDING_SEED = 2  # Lava 0.10 seeds every LearningDense's weight rounding with 2


@dataclass(frozen=True)
class OnChipRule:
    """Settings of the on-chip rule (module docstring). The defaults are also the presets'
    (:mod:`lava_diffpc.presets` reads them; DiffPC-S came closest to float with them).

    Attributes:
        lr_shift: ``a`` with learning rate ``alpha = 2**-a`` (float models use the same
            alpha).
        err_shift: ``s``: the third factor is ``e_T`` in units of ``2**(s - F)``.
        seed: seed of the stochastic-rounding generators (one per matrix, :func:`synapse_rng`).
        headroom: bits of weight headroom at initialisation: each ``E_l`` is chosen
            ``headroom`` below the largest exponent that fits the initial weights, so they
            can grow ``2**headroom``-fold before they saturate (``E`` stays fixed).
    """

    lr_shift: int = 7
    err_shift: int = 5
    seed: int = 0
    headroom: int = 0

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
    """Presynaptic factor ``clip(x, -127, 127)`` (the engine's ``x1``, or ``x1 - 64`` for a
    signed layer; module docstring)."""
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
    """``r = 2F + a - E - s - p - 3``; ValueError unless the engine can scale the product by
    ``2**-r`` (``r`` in ``[-10, 7]``, :func:`constant_scale`)."""
    r = (2 * frac_bits + rule.lr_shift - int(weight_exp) - rule.err_shift - p
         - PRODUCT_DROP_BITS)
    if not SHIFT_MIN <= r <= SHIFT_MAX:
        fix = SHIFT_MAX - r if r > SHIFT_MAX else SHIFT_MIN - r
        raise ValueError(
            f"learning rate 2**-{rule.lr_shift} at weight exponent {weight_exp}, trace shift "
            f"{p} and err_shift {rule.err_shift} needs the engine scale 2**{-r}, outside "
            f"2**[{-SHIFT_MAX}, {-SHIFT_MIN}]: change lr_shift by {fix:+d}, or err_shift or "
            "the weight headroom")
    return r


def constant_scale(r: int) -> tuple[int, int, int]:
    """``(mantissa, exponent, d)`` of the rule constant for the scale ``2**-r``.

    The engine multiplies a product of two 7-bit traces by the constant's mantissa ``m``
    (4 bits, at most 7) and shifts it right by 3 bits before the exponent applies, so
    ``m = 2**(3 - d)`` keeps all but ``d`` bits of ``y x``: ``(y x m) >> 3 = (y x) >> d``.
    The smallest ``d >= 1`` whose exponent ``d - r - 3`` is at least -7 is taken:
    ``d = 1`` (``m = 4``) for ``r <= 5``, ``d = 2`` for ``r = 6``, ``d = 3`` for ``r = 7``.
    """
    if not SHIFT_MIN <= r <= SHIFT_MAX:
        raise ValueError(f"r = {r} outside the engine's [{SHIFT_MIN}, {SHIFT_MAX}]")
    big_r = r + PRODUCT_DROP_BITS
    d = max(1, big_r - 7)
    return 1 << (PRODUCT_DROP_BITS - d), d - big_r, d


def epoch_rng(seed: int | np.random.SeedSequence) -> np.random.Generator:
    """The engine's weight-rounding generator: ``default_rng(seed)`` after its first draw.

    Lava's ``ConnVarRandom`` draws ``random(1)`` once when it is built and once more at the
    start of every learning epoch, before the update; :func:`weight_update` makes that
    epoch draw, so the first update uses the generator's second number, as in Lava.
    """
    rng = np.random.default_rng(seed)
    rng.random(1)
    return rng


def synapse_rng(seed: int, layer: int) -> np.random.Generator:
    """The stochastic-rounding generator of synapse matrix ``layer`` (1..L):
    :func:`epoch_rng` seeded with ``SeedSequence([seed, layer])``."""
    return epoch_rng(np.random.SeedSequence([int(seed), int(layer)]))


def rule_string(r: int, signed: bool = False) -> str:
    """The ``dw`` string of ``Loihi3FLearningRule`` that computes :func:`engine_update`.

    ``y`` is sent sign-split as ``y1 = max(y, 0)``, ``y2 = max(-y, 0)``. The presynaptic
    factor is ``x1`` itself (``x >= 0``), or ``x1 - 64`` with ``x1 = 64 + x`` when
    ``signed`` (``x`` in ``[-64, 63]``).
    """
    mantissa, exponent, _ = constant_scale(r)
    pre = f"(x1 - {SIGNED_OFFSET})" if signed else "x1"
    c = f"{mantissa} * 2^{exponent}"
    return f"{c} * u0 * {pre} * y1 - {c} * u0 * {pre} * y2"


def engine_update(weights: np.ndarray, x: np.ndarray, y: np.ndarray, r: int,
                  u: float) -> np.ndarray:
    """What the engine writes into its weight variable for one epoch (module docstring).

    ``x``, ``y`` signed factors (``|x|, |y| <= 127``), ``u`` the epoch's random number in
    ``[0, 1)``; returns the weights in the engine's range ``[-256, 255]``.
    """
    w = as_int(weights)
    x, y = as_int(x), as_int(y)
    if np.abs(x).max(initial=0) > TRACE_MAX or np.abs(y).max(initial=0) > FACTOR_MAX:
        raise ValueError(f"factors must lie in [-{TRACE_MAX}, {TRACE_MAX}]")
    mantissa, exponent, _ = constant_scale(r)
    q = (y[:, None] * x[None, :] * mantissa) >> PRODUCT_DROP_BITS
    term = np.clip(q << (exponent + ROUND_BITS), ACC_MIN, ACC_MAX)
    acc = np.clip((w << ROUND_BITS) + term, ACC_MIN, ACC_MAX)
    frac = (acc & ((1 << ROUND_BITS) - 1)) / float(1 << ROUND_BITS)
    new = (acc >> ROUND_BITS) + (float(u) < frac)
    return np.clip(new, ENGINE_WEIGHT_MIN, ENGINE_WEIGHT_MAX)


def weight_update(weights: np.ndarray, x: np.ndarray, y: np.ndarray, r: int,
                  rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """One sample's update of the mantissas (module docstring); returns (W, saturated).

    Args:
        weights: ``(n_out, n_in)`` 8-bit mantissas.
        x: ``(n_in,)`` presynaptic factor (:func:`pre_trace`).
        y: ``(n_out,)`` signed third factor ``y1 - y2`` (:func:`error_factor`).
        r: :func:`update_shift`.
        rng: :func:`synapse_rng` of this matrix; exactly one ``rng.random(1)`` per call
            (one number per epoch shared by every synapse of the matrix, as the engine).

    Returns :func:`engine_update` clipped to ``[-127, 127]``; ``saturated`` counts the
    synapses where that clip changed the engine's value (a sign that the weight headroom is
    too small for this learning rate).
    """
    w = as_int(weights).copy()
    u = rng.random(1)[0]
    rows, cols = np.flatnonzero(y), np.flatnonzero(x)
    if rows.size == 0 or cols.size == 0:
        return w, 0
    block = engine_update(w[np.ix_(rows, cols)], as_int(x)[cols], as_int(y)[rows], r, u)
    clipped = np.clip(block, -WEIGHT_MAX, WEIGHT_MAX)
    w[np.ix_(rows, cols)] = clipped
    return w, int(np.count_nonzero(clipped != block))


def bias_update(bias: np.ndarray, e_T: np.ndarray, lr_shift: int) -> np.ndarray:
    """``sat(b + round(e_T_int * 2**-a))``, round half away from zero (module docstring)."""
    return saturate(as_int(bias) + _round_magnitude(e_T, lr_shift))
