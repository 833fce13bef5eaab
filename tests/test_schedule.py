"""Threshold schedule rules; oracle: Theorem 4.1 of the paper and the spec's formulas."""

import numpy as np
import pytest

from lava_diffpc.rules.dynamics import track
from lava_diffpc.rules.schedule import Schedule


@pytest.mark.parametrize("m,n", [(0, 1), (0, 4), (2, 4), (-1, 6), (3, 8)])
def test_theorem_4_1_one_cycle_binary_search(m, n):
    """|x_T - x_A| < 2^(m+1) and x_T > 0 -> after one n-step cycle |x_T - x_A| < 2^(m+1-n).

    Random continuous draws make exact ties |x_T - x_A| = T (where the bound holds with
    equality) a probability-zero event; the gate never blocks a spike when x_T > 0.
    """
    rng = np.random.default_rng([m + 10, n])
    draws = 200_000
    x_A = np.abs(rng.normal(0.0, 2.0**m, draws))  # announced values are >= 0 (gated)
    x_T = x_A + rng.uniform(-1.0, 1.0, draws) * 2.0 ** (m + 1)
    keep = x_T > 0
    x_T, x_A = x_T[keep], x_A[keep]
    sched = Schedule(m=m, n=n, c1=1, c2=0)
    for k in range(n):
        x_A, _ = track(x_T, x_A, sched.threshold(k), gate=True)
    assert np.abs(x_T - x_A).max() < 2.0 ** (m + 1 - n)


def test_cyclic_thresholds_halve_within_a_cycle():
    s = Schedule(m=1, n=3, c1=2, c2=1)
    assert s.thresholds().tolist() == [2, 1, 0.5, 2, 1, 0.5, 2, 1, 0.5]
    assert s.steps == 9 and s.k1 == 6 and s.k2 == 3


def test_cyclic_decay_falls_linearly_per_cycle_and_restarts_each_phase():
    s = Schedule(m=0, n=2, c1=3, c2=2, kind="cyclic-decay", a=0.5)
    assert s.thresholds().tolist() == [1, 0.5, 0.75, 0.375, 0.5, 0.25,  # ff: d = 1, .75, .5
                                       1, 0.5, 0.5, 0.25]                # learn: d = 1, .5


def test_constant_schedule():
    assert Schedule(m=-2, n=4, c1=1, c2=1, kind="constant").thresholds().tolist() == [0.25] * 8


def test_gamma_is_one_in_feed_forward_and_gamma2_at_cycle_starts():
    s = Schedule(n=2, c1=1, c2=2, gamma2=0.25)
    assert s.gammas().tolist() == [1, 1, 0.25, 0, 0.25, 0]
    e = Schedule(n=2, c1=1, c2=1, gamma2=0.25, gamma_mode="every-step")
    assert e.gammas().tolist() == [1, 1, 0.25, 0.25]


def test_fixed_point_thresholds_are_exact_shifts_of_the_float_ones():
    s = Schedule(m=0, n=4, c1=3, c2=3, kind="cyclic-decay", a=0.5)
    # d = 1, 0.75, 0.5 are exact in 3 bits, so fixed and float agree exactly
    assert np.array_equal(s.thresholds_fixed(12, decay_bits=3) / 2.0**12, s.thresholds())
    # a = 0.3 over 3 cycles gives d = 1, 0.65, 0.3: rounded to 1/8 steps
    r = Schedule(m=0, n=4, c1=3, c2=0, kind="cyclic-decay", a=0.3)
    d_q = r.thresholds_fixed(12, decay_bits=3)[::4] / 2.0**12
    assert d_q.tolist() == [1.0, 5 / 8, 2 / 8]


def test_fixed_point_threshold_below_lsb_is_refused():
    with pytest.raises(ValueError, match="finer than the state's LSB"):
        Schedule(m=0, n=8, c1=1, c2=0).thresholds_fixed(frac_bits=4, decay_bits=0)


@pytest.mark.parametrize("kwargs,match", [
    ({"n": 0}, "n must be an integer >= 1"),
    ({"n": -3}, "n must be an integer >= 1"),
    ({"a": 0.0}, r"a must lie in \(0, 1\]"),
    ({"a": 1.5}, r"a must lie in \(0, 1\]"),
    ({"a": float("nan")}, r"a must lie in \(0, 1\]"),
    ({"kind": "linear"}, "kind must be one of"),
    ({"gamma2": 0.0}, r"gamma2 must lie in \(0, 1\]"),
    ({"c1": 0}, "c1 must be >= 1"),
    ({"m": 0.5}, "m must be an integer"),
    ({"gamma_mode": "sometimes"}, "gamma_mode must be one of"),
])
def test_invalid_schedule_parameters_raise_clear_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Schedule(**kwargs)


def test_gamma_shift_needs_a_power_of_two():
    assert Schedule(gamma2=0.25).gamma_shift() == 2
    with pytest.raises(ValueError, match="2\\*\\*-g"):
        Schedule(gamma2=0.3).gamma_shift()


def test_fixed_point_threshold_may_use_the_decay_bits_it_does_not_need():
    """The cyclic schedule's d_q = 2**D has D zero bits: its thresholds reach one LSB
    (CIFAR-Efficient: m = 0, n = 12 at F = 12), exactly the real ones; a decay with a
    fraction needs its bits."""
    s = Schedule(m=0, n=12, c1=1, c2=0)
    t = s.thresholds_fixed(12, decay_bits=3)
    assert np.array_equal(t / 2.0**12, s.thresholds()) and t.min() == 2
    with pytest.raises(ValueError, match="finer than the state's LSB"):
        Schedule(m=0, n=14, c1=1, c2=0).thresholds_fixed(12, decay_bits=3)
    r = Schedule(m=0, n=12, c1=2, c2=0, kind="cyclic-decay", a=0.5)  # d_q = 8, then 4
    assert r.thresholds_fixed(12, decay_bits=3)[-1] == 1
    with pytest.raises(ValueError, match="finer than the state's LSB"):
        Schedule(m=0, n=12, c1=3, c2=0, kind="cyclic-decay", a=0.3).thresholds_fixed(12, 3)
