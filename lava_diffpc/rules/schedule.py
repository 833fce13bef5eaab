"""Threshold and gamma schedules: the one place every driver reads them from.

A sample runs ``K = K1 + K2`` time steps, indexed ``k = 0 .. K-1``:

* feed-forward initialisation: ``k < K1 = c1 * n`` (input clamped, output free,
  ``gamma = 1``, no error spikes);
* learning phase: ``K1 <= k < K`` with ``K2 = c2 * n`` (output clamped to the target,
  error spikes on).

Threshold (shared by every neuron, known to every receiver)::

    T(k) = d(c) * 2**m / 2**(k mod n)

``c`` is the cycle index inside the current phase, ``d`` the decay factor:

* ``cyclic``: ``d = 1``;
* ``cyclic-decay``: ``d`` falls linearly from 1 at a phase's first cycle to ``a`` at its
  last and restarts at each phase;
* ``constant``: ``T(k) = 2**m`` at every step (no halving, no decay).

Gamma (the target-update rate): 1 at every feed-forward step; in the learning phase
``gamma2`` at the first step of each n-step cycle and 0 otherwise (``gamma_mode=
"cycle-start"``, the default) or ``gamma2`` at every step (``"every-step"``).

Fixed point (spec section 7): a state value ``v`` is the integer ``round(v * 2**F)``
(``F`` fractional bits). ``d`` is quantised to ``D`` bits, ``d_q = round(d * 2**D)``, and
``T_int(k) = d_q << (m + F - (k mod n) - D)``: a shift of a small multiplier, exact as
long as the shift is non-negative (checked). Gamma is ``2**-g`` with an integer ``g``
(a right shift) in fixed point.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from lava_diffpc.rules.arithmetic import STATE_BITS
from lava_diffpc.rules.dynamics import StepValues

SCHEDULE_KINDS = ("cyclic", "cyclic-decay", "constant")
GAMMA_MODES = ("cycle-start", "every-step")
MAX_STEPS = 4096  # time steps per sample, (c1 + c2) * n: the most a schedule may ask for
# Thresholds are powers of two in [2**THRESHOLD_EXP_MIN, 2**THRESHOLD_EXP_MAX]: float32
# states hold 24 significant bits, so a finer threshold is lost against a state of order 1
# (x_A + T == x_A) and a coarser one is never reached by standardised data.
THRESHOLD_EXP_MIN, THRESHOLD_EXP_MAX = -24, 24


@dataclass(frozen=True)
class Schedule:
    """Threshold, decay and gamma schedule of one sample (see module docstring).

    Attributes:
        m: exponent of the largest threshold ``2**m`` (state units).
        n: steps per cycle (the threshold halves ``n - 1`` times per cycle).
        c1: cycles of the feed-forward initialisation phase.
        c2: cycles of the learning phase (0 for inference only).
        kind: ``cyclic``, ``cyclic-decay`` or ``constant``.
        a: final decay factor of ``cyclic-decay``, in (0, 1].
        gamma2: target-update rate of the learning phase, in (0, 1].
        gamma_mode: ``cycle-start`` or ``every-step``.
    """

    m: int = 0
    n: int = 4
    c1: int = 15
    c2: int = 15
    kind: str = "cyclic"
    a: float = 0.5
    gamma2: float = 0.5
    gamma_mode: str = "cycle-start"

    def __post_init__(self) -> None:
        if not isinstance(self.n, (int, np.integer)) or self.n < 1:
            raise ValueError(
                f"schedule n must be an integer >= 1 (steps per cycle), got {self.n!r}")
        if not isinstance(self.m, (int, np.integer)):
            raise ValueError(f"schedule m must be an integer (threshold exponent), got {self.m!r}")
        if self.c1 < 1:
            raise ValueError(f"schedule c1 must be >= 1 feed-forward cycle, got {self.c1!r}")
        if self.c2 < 0:
            raise ValueError(f"schedule c2 must be >= 0 learning cycles, got {self.c2!r}")
        if self.kind not in SCHEDULE_KINDS:
            raise ValueError(f"schedule kind must be one of {SCHEDULE_KINDS}, got {self.kind!r}")
        if not (0.0 < self.a <= 1.0) or math.isnan(self.a):
            raise ValueError(f"schedule decay end a must lie in (0, 1], got {self.a!r}")
        if not (0.0 < self.gamma2 <= 1.0):
            raise ValueError(f"gamma2 must lie in (0, 1], got {self.gamma2!r}")
        if self.gamma_mode not in GAMMA_MODES:
            raise ValueError(f"gamma_mode must be one of {GAMMA_MODES}, got {self.gamma_mode!r}")
        if self.steps > MAX_STEPS:
            raise ValueError(
                f"schedule of {self.steps} steps per sample ((c1 + c2) * n = ({self.c1} + "
                f"{self.c2}) * {self.n}) exceeds the maximum of {MAX_STEPS}; lower n, c1 or c2")
        finest = self.m if self.kind == "constant" else self.m - self.n + 1
        if finest < THRESHOLD_EXP_MIN or self.m > THRESHOLD_EXP_MAX:
            raise ValueError(
                f"thresholds 2**{finest} .. 2**{self.m} (m={self.m}, n={self.n}) leave the "
                f"range 2**{THRESHOLD_EXP_MIN} .. 2**{THRESHOLD_EXP_MAX} that float32 states "
                "resolve; choose m and n with m - n + 1 >= "
                f"{THRESHOLD_EXP_MIN} and m <= {THRESHOLD_EXP_MAX}")

    # ----------------------------------------------------------------- sizes
    @property
    def k1(self) -> int:
        """Steps of the feed-forward initialisation phase."""
        return self.c1 * self.n

    @property
    def k2(self) -> int:
        """Steps of the learning phase."""
        return self.c2 * self.n

    @property
    def steps(self) -> int:
        """Time steps per training sample, ``K1 + K2``."""
        return self.k1 + self.k2

    def to_dict(self) -> dict:
        return asdict(self)

    # ------------------------------------------------------------- per step
    def cycle_in_phase(self, k: int) -> tuple[int, int]:
        """(cycle index inside its phase, number of cycles of that phase) of step k."""
        if k < self.k1:
            return k // self.n, self.c1
        return (k - self.k1) // self.n, self.c2

    def decay(self, k: int) -> float:
        """Decay factor ``d`` at step k (1 unless ``kind == 'cyclic-decay'``)."""
        if self.kind != "cyclic-decay":
            return 1.0
        c, cycles = self.cycle_in_phase(k)
        if cycles <= 1:
            return 1.0
        return 1.0 - (1.0 - self.a) * c / (cycles - 1)

    def threshold(self, k: int) -> float:
        """Float threshold ``T(k)`` in state units."""
        if self.kind == "constant":
            return 2.0**self.m
        return self.decay(k) * 2.0 ** (self.m - (k % self.n))

    def gamma(self, k: int) -> float:
        """Target-update rate at step k."""
        if k < self.k1:
            return 1.0
        if self.gamma_mode == "every-step" or (k - self.k1) % self.n == 0:
            return self.gamma2
        return 0.0

    def is_learning(self, k: int) -> bool:
        """True in the learning phase (output clamped, error spikes on)."""
        return k >= self.k1

    def thresholds(self) -> np.ndarray:
        """``T(k)`` for k = 0..K-1 (float64)."""
        return np.array([self.threshold(k) for k in range(self.steps)], dtype=np.float64)

    def gammas(self) -> np.ndarray:
        """``gamma(k)`` for k = 0..K-1 (float64)."""
        return np.array([self.gamma(k) for k in range(self.steps)], dtype=np.float64)

    def real_table(self) -> ScheduleTable:
        """The per-step values in real arithmetic: ``T(k)`` and ``gamma(k)`` (float64)."""
        return ScheduleTable(self, self.thresholds(), self.gammas())

    # ----------------------------------------------------------- fixed point
    def decay_fixed(self, k: int, decay_bits: int) -> int:
        """``d_q = round(d(k) * 2**decay_bits)``: the small decay multiplier."""
        return int(round(self.decay(k) * 2**decay_bits))

    def threshold_fixed(self, k: int, frac_bits: int, decay_bits: int = 3) -> int:
        """Integer threshold ``T_int(k) = d_q << (m + F - (k mod n) - D)`` (exact; a negative
        shift is a right shift, taken where it drops only zero bits of ``d_q``: the cyclic
        schedule's ``d_q = 2**D`` reaches thresholds down to one LSB).

        Raises ValueError when the threshold is not an integer number of LSBs, i.e. when the
        finest threshold of a cycle is below the state's least significant bit.
        """
        j = 0 if self.kind == "constant" else k % self.n
        shift = self.m + frac_bits - j - decay_bits
        if self.m + frac_bits > STATE_BITS - 2:
            raise ValueError(
                f"threshold 2**{self.m} does not fit the {STATE_BITS}-bit state at frac_bits "
                f"{frac_bits} (largest 2**{STATE_BITS - 2 - frac_bits}): lower m")
        d_q = self.decay_fixed(k, decay_bits)
        if shift < 0 and d_q % (1 << -shift):
            raise ValueError(
                f"threshold 2**({self.m}-{j}) with decay bits {decay_bits} is finer than the "
                f"state's LSB 2**-{frac_bits}: raise frac_bits or m, or lower n or decay_bits"
            )
        return d_q << shift if shift >= 0 else d_q >> -shift

    def thresholds_fixed(self, frac_bits: int, decay_bits: int = 3) -> np.ndarray:
        """``T_int(k)`` for k = 0..K-1 (int64)."""
        return np.array(
            [self.threshold_fixed(k, frac_bits, decay_bits) for k in range(self.steps)],
            dtype=np.int64,
        )

    def gamma_shift(self) -> int:
        """``g`` with ``gamma2 == 2**-g``; ValueError when gamma2 is no power of two."""
        g = -math.log2(self.gamma2)
        if abs(g - round(g)) > 1e-12:
            raise ValueError(f"fixed point needs gamma2 = 2**-g, got {self.gamma2}")
        return int(round(g))


@dataclass(frozen=True)
class ScheduleTable:
    """A schedule's per-step values in one arithmetic: the one place drivers read them from.

    Attributes:
        schedule: the schedule (phases: :meth:`Schedule.is_learning`).
        thresholds: ``T(k)`` for k = 0..K-1, float64 (real) or int64 ``T_int(k)`` (fixed
            point, :func:`lava_diffpc.fixed_point.fixed_table`).
        gammas: ``gamma(k)`` (real) or the gamma shift ``g(k)`` (fixed point).
    """

    schedule: Schedule
    thresholds: np.ndarray
    gammas: np.ndarray

    @property
    def steps(self) -> int:
        return len(self.thresholds)

    def step(self, k: int) -> StepValues:
        """The values of step ``k`` as Python numbers: ``T(k-1)`` (0 at k = 0), ``T(k)``,
        gamma, phase."""
        t = self.thresholds
        return StepValues((t[k - 1] if k > 0 else t[0] * 0).item(), t[k].item(),
                          self.gammas[k].item(), self.schedule.is_learning(k))
