"""The step rule in fixed-point arithmetic, and the quantisers (hand traces, dyadic oracle)."""

import numpy as np
import pytest

from lava_diffpc.fixed_point import (
    FixedFormat,
    quantize_input,
    quantize_params,
    quantize_weights,
    schedule_tables,
    target_int,
    weight_exponent,
)
from lava_diffpc.rules import dynamics
from lava_diffpc.rules.arithmetic import (
    FIXED,
    GAMMA_OFF,
    REAL,
    STATE_MAX,
    STATE_MIN,
    saturate,
    shift_round,
)
from lava_diffpc.rules.dynamics import StepValues
from lava_diffpc.rules.schedule import Schedule

FMT = FixedFormat()


def test_shift_round_is_round_half_up_and_exact_left():
    v = np.array([-3, -2, -1, 0, 1, 2, 3, 5])
    assert shift_round(v, 1).tolist() == [-1, -1, 0, 0, 1, 1, 2, 3]
    assert shift_round(v, 0).tolist() == v.tolist()
    assert shift_round(v, -2).tolist() == (v * 4).tolist()


def test_saturate_clips_to_24_bits():
    v = np.array([-(1 << 30), STATE_MIN, 0, STATE_MAX, 1 << 30])
    assert saturate(v).tolist() == [STATE_MIN, STATE_MIN, 0,
                                          STATE_MAX, STATE_MAX]


def test_track_matches_float_rule():
    target = np.array([10, -10, 3, 4, 0])
    announced = np.array([0, 0, 0, 8, 4])
    x_A, s = dynamics.track(target, announced, 4, True, FIXED)
    fx_A, fs = dynamics.track(target * 1.0, announced * 1.0, 4.0, True, REAL)
    assert s.tolist() == fs.tolist() and x_A.tolist() == fx_A.tolist()


def test_layer_step_saturates_errors_and_inputs():
    big = np.array([STATE_MAX])
    state = dynamics.LayerState(-big, big, big, big * 0, big * 0, big * 0)
    st, _, _ = dynamics.layer_step(state, big, big * 0, StepValues(1 << 12, 8, GAMMA_OFF, False),
                                   FIXED)
    assert st.x_F.tolist() == [STATE_MAX]  # -MAX + 2**12 * MAX clips, does not wrap
    state = dynamics.LayerState(-big, big, big, big * 0, big * 0, big * 0)
    st, _, _ = dynamics.layer_step(state, big * 0, big * 0, StepValues(0, 8, GAMMA_OFF, False),
                                   FIXED)
    assert st.e_T.tolist() == [STATE_MAX]  # MAX - (-MAX) clips


def test_layer_step_equals_float_rule_on_dyadic_values():
    """With gamma = 1 and T a multiple of 2**E the integer step is the float step exactly."""
    rng = np.random.default_rng(0)
    for _ in range(50):
        n, e, f = 7, 3, FMT.frac_bits
        state = dynamics.LayerState(*(rng.integers(-5000, 5000, n) for _ in range(6)))
        fwd, fb = rng.integers(-300, 300, n), rng.integers(-300, 300, n)
        t_prev, t_now = 1 << f, 1 << (f - 2)
        for err in (False, True):
            st_i, sa_i, se_i = dynamics.layer_step(state, fwd, fb,
                                                   StepValues(t_prev, t_now, 0, err), FIXED,
                                                   fwd_exp=e, fb_exp=e)
            st_f, sa_f, se_f = dynamics.layer_step(
                dynamics.LayerState(*(v * 2.0**-f for v in state)), fwd * 2.0**-e, fb * 2.0**-e,
                StepValues(1.0, 0.25, 1.0, err), REAL)
            for a, b in zip(st_i, st_f):
                assert np.array_equal(a * 2.0**-f, b)
            assert np.array_equal(sa_i, sa_f) and np.array_equal(se_i, se_f)


def test_layer_step_gamma_off_and_clamp():
    state = dynamics.LayerState(*(np.array([100, -100]) for _ in range(6)))
    zero = np.zeros(2, dtype=np.int64)
    st, _, _ = dynamics.layer_step(state, zero, zero, StepValues(0, 8, GAMMA_OFF, True), FIXED)
    assert st.x_T.tolist() == [100, -100]
    st, _, _ = dynamics.layer_step(state, zero, zero, StepValues(0, 8, 1, True), FIXED,
                                   clamp=np.array([7, 9]))
    assert st.x_T.tolist() == [7, 9] and st.e_T.tolist() == [-93, 109]


def test_weight_quantisation_uses_8_bits_and_rejects_overflow():
    w = np.array([[0.5, -0.25], [0.126, 0.0]])
    assert weight_exponent(w, FMT) == 7  # 0.5 * 2**8 = 128 would exceed 127
    mant, e = quantize_weights(w, FMT)
    assert np.abs(mant).max() <= 127 and np.abs(mant * 2.0**-e - w).max() <= 2.0**-(e + 1)
    with pytest.raises(ValueError, match="overflow 8 bits"):
        quantize_weights(w, FMT, exponent=e + 1)
    assert weight_exponent(np.zeros((2, 2)), FMT) == 0


def test_quantize_params_checks_shapes_and_bias_range():
    w, b = np.ones((3, 2)), np.zeros(3)
    q = quantize_params([(w, b)], FMT)
    assert q.weights[0].dtype == np.int64 and q.dequantize()[0][0].tolist() == w.tolist()
    with pytest.raises(ValueError, match="do not match"):
        quantize_params([(w, np.zeros(2))], FMT)
    with pytest.raises(ValueError, match="24-bit"):
        quantize_params([(w, np.full(3, 5000.0))], FMT)
    with pytest.raises(ValueError, match="exponents"):
        quantize_params([(w, b)], FMT, weight_exps=[0, 1])


def test_quantize_input_saturates():
    q = quantize_input(np.array([1.0, -0.5, 1e6, -1e6]), FMT)
    assert q.tolist() == [4096, -2048, STATE_MAX, STATE_MIN]
    with pytest.raises(ValueError, match="target_scale"):
        target_int(1e6, FMT)


def test_schedule_tables():
    sched = Schedule(m=0, n=4, c1=2, c2=2, gamma2=0.5)
    t, g = schedule_tables(sched, FMT)
    assert t[:4].tolist() == [4096, 2048, 1024, 512] and t.tolist() == (t[:4].tolist() * 4)
    assert g.tolist() == [0] * 8 + [1, -1, -1, -1] * 2
    with pytest.raises(ValueError, match="2\\*\\*-g"):
        schedule_tables(Schedule(c2=1, gamma2=0.3), FMT)


def test_format_for_raises_the_fractional_bits_only_as_far_as_the_finest_threshold_needs():
    """Oracle: the finest threshold ``2**(m - n + 1)`` is a whole number of LSBs at exactly
    these ``F`` (thresholds_fixed refuses one bit fewer)."""
    from lava_diffpc.fixed_point import DEFAULT_FORMAT, format_for

    assert format_for(Schedule(m=0, n=4, c1=1, c2=1)) == DEFAULT_FORMAT
    fmt = format_for(Schedule(m=-2, n=15, c1=1, c2=1))  # finest 2**-16
    assert fmt.frac_bits == 16 and fmt.decay_bits == DEFAULT_FORMAT.decay_bits
    Schedule(m=-2, n=15, c1=1, c2=1).thresholds_fixed(16, fmt.decay_bits)
    with pytest.raises(ValueError):
        Schedule(m=-2, n=15, c1=1, c2=1).thresholds_fixed(15, fmt.decay_bits)
    with pytest.raises(ValueError, match="raise m or lower n"):
        format_for(Schedule(m=-3, n=22, c1=1, c2=1))  # finest 2**-24
