"""On-chip learning: the integer rule, the fast simulator and the Lava graph.

The rule lives once (:mod:`lava_diffpc.rules.learning`, :mod:`lava_diffpc.rules.fixed_learning`);
these tests prove that its drivers agree: the float Lava synapse with the reference's
per-sample SGD (1e-6), the integer rule with the same update (rounding bound), the Lava
``fixed_pt`` graph with the fast simulator (bit for bit, seeds included), and that training
digits from scratch inside the Lava graph works.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from lava_diffpc.config import DiffPCConfig
from lava_diffpc.fixed_point import FixedFormat, quantize_for_learning, quantize_input
from lava_diffpc.fixedsim import FixedPointNetwork
from lava_diffpc.reference.network import DiffPCNetwork, init_parameters
from lava_diffpc.rules import fixed_learning as fl
from lava_diffpc.rules.arithmetic import STATE_MAX
from lava_diffpc.rules.fixed_learning import OnChipRule
from lava_diffpc.rules.schedule import Schedule

FMT = FixedFormat()
SCHED = Schedule(m=-1, n=3, c1=2, c2=2, gamma2=0.5)  # 12 steps per sample
RULE = OnChipRule(lr_shift=2, err_shift=3, seed=7, headroom=1)


def _network(seed: int, samples: int = 2):
    """A random 4-6-5-3 network with scaled-up weights (so every layer spikes)."""
    cfg = DiffPCConfig(sizes=(4, 6, 5, 3), schedule=SCHED, presyn="x_A")
    params = [(2 * w, b) for w, b in init_parameters(cfg.sizes, seed, torch.float64)]
    rng = np.random.default_rng(seed)
    return cfg, params, rng.normal(size=(samples, 4)), rng.integers(0, 3, samples)


# ------------------------------------------------------------------ integer rule units
def test_rule_settings_are_checked():
    with pytest.raises(ValueError, match="lr_shift"):
        OnChipRule(lr_shift=-1)
    with pytest.raises(ValueError, match="engine scale"):
        fl.update_shift(OnChipRule(lr_shift=20), weight_exp=0, p=0, frac_bits=12)
    with pytest.raises(ValueError, match="engine scale"):
        fl.update_shift(OnChipRule(lr_shift=0, err_shift=12), weight_exp=12, p=9, frac_bits=12)
    with pytest.raises(ValueError, match="positive"):
        fl.trace_shift(np.array([4, 0]))
    assert OnChipRule(lr_shift=5).alpha == 2.0**-5


def test_trace_rebuilds_the_presynaptic_activity_exactly():
    """Summing ``s(k) * (T_int(k) >> p)`` over a sample gives ``x_A_int >> p`` (no rounding)
    for every layer, the signed input included."""
    cfg, params, x, labels = _network(0, samples=3)
    q = quantize_for_learning(params, 1)
    sim = FixedPointNetwork(cfg, q)
    p = fl.trace_shift(sim.thresholds)
    assert np.all(sim.thresholds % (1 << p) == 0) and np.any(sim.thresholds % (2 << p))
    impulses = fl.trace_impulses(sim.thresholds, p)
    rec = []
    sim.run(quantize_input(x), labels, record=rec)
    traces = [np.zeros((3, n), dtype=np.int64) for n in cfg.sizes[:-1]]
    for k, r in enumerate(rec):
        traces = [fl.trace_step(t, r["s_act"][l], impulses[k]) for l, t in enumerate(traces)]
    final = [rec[-1]["x_A0"]] + [st.x_A for st in rec[-1]["states"][1:-1]]
    for t, x_A in zip(traces, final):
        assert np.array_equal(t, x_A >> p)
        assert np.array_equal(fl.pre_trace(t), fl.pre_trace_from_state(x_A, p))
    assert traces[0].min() < 0  # the signed input needs the second (negative) trace


def test_error_factor_rounds_symmetrically_and_clips():
    e = np.array([0, 3, 4, 5, -3, -4, -5, 10_000, -10_000])
    assert fl.error_factor(e, 3).tolist() == [0, 0, 1, 1, 0, -1, -1, 127, -127]
    pos, neg = fl.split(fl.error_factor(e, 3))
    assert pos.min() >= 0 and neg.min() >= 0 and np.array_equal(pos - neg, fl.error_factor(e, 3))


def test_weight_update_is_the_engine_form_and_unbiased():
    """Products floored by ``d`` bits (``y x >> d``, toward -inf like the engine's shift;
    ``d = 1`` for ``r <= 5``), scaled to ``2**-(r + 3 - d)``, stochastic rounding with one
    number per call shared by all synapses: the mean update over many generators equals
    that value; a fixed seed reproduces it."""
    w = np.zeros((3, 4), dtype=np.int64)
    x = np.array([0, 5, -9, 127])
    y = np.array([-100, 0, 37])
    r = 4
    assert fl.constant_scale(r) == (4, -6, 1) and fl.constant_scale(7) == (1, -7, 3)
    q = (np.outer(y, x) >> 1) / 2.0**(r + 2)
    assert q[2, 2] == -167 / 2.0**6  # -333/2 floored, not truncated
    mean = np.mean([fl.weight_update(w, x, y, r, fl.synapse_rng(s, 1))[0]
                    for s in range(2000)], axis=0)
    assert np.abs(mean - q).max() < 0.05
    a, _ = fl.weight_update(w, x, y, r, fl.synapse_rng(3, 1))
    b, _ = fl.weight_update(w, x, y, r, fl.synapse_rng(3, 1))
    assert np.array_equal(a, b)
    assert not a[1].any() and not a[:, 0].any()  # y = 0 rows and x = 0 columns never move
    assert np.all(np.abs(a - q) < 1)


def test_weight_update_draws_one_shared_number_per_call():
    """Every call consumes exactly one ``random(1)`` of the generator, also when nothing
    changes, and all synapses round with it: ``dw = floor(v) + (u < frac(v))``."""
    w = np.zeros((2, 3), dtype=np.int64)
    x, y, r = np.array([3, 7, 1]), np.array([40, -40]), 5
    rng, twin = fl.synapse_rng(0, 2), fl.synapse_rng(0, 2)
    for xs, ys in ((x, y), (0 * x, y), (x, 0 * y)):
        new, _ = fl.weight_update(w, xs, ys, r, rng)
        u = twin.random(1)[0]
        v = (np.outer(ys, xs) >> 1) / 2.0**(r + 2)
        assert np.array_equal(new, np.floor(v) + (u < v - np.floor(v)))
    assert rng.random() == twin.random()
    first = np.random.default_rng(np.random.SeedSequence([0, 2]))
    first.random(1)  # epoch_rng skips the generator's first number, as Lava's engine
    assert fl.synapse_rng(0, 2).random() == first.random()


def test_engine_update_keeps_the_engine_range():
    """``engine_update`` saturates like the engine (weights in [-256, 255]); the rule is it
    clipped to +-127; factors beyond 7 bits and shifts beyond the engine are rejected."""
    w = np.array([[127, -127]])
    eng = fl.engine_update(w, np.array([127, 127]), np.array([127]), -8, 0.5)
    assert eng.tolist() == [[255, 129]]  # -127*128 + (2**15 - 1) = 16511: 128 + 127/128
    new, saturated = fl.weight_update(w, np.array([127, 127]), np.array([127]), -8,
                                      fl.synapse_rng(0, 1))
    assert new.tolist() == [[127, 127]] and saturated == 2
    with pytest.raises(ValueError, match="factors"):
        fl.engine_update(w, np.array([128, 0]), np.array([1]), 0, 0.5)
    with pytest.raises(ValueError, match="outside"):
        fl.engine_update(w, np.array([1, 0]), np.array([1]), 8, 0.5)
    assert fl.rule_string(5) == "4 * 2^-7 * u0 * x1 * y1 - 4 * 2^-7 * u0 * x1 * y2"
    assert fl.rule_string(7) == "1 * 2^-7 * u0 * x1 * y1 - 1 * 2^-7 * u0 * x1 * y2"
    assert fl.rule_string(-2, signed=True) == ("4 * 2^0 * u0 * (x1 - 64) * y1 - "
                                               "4 * 2^0 * u0 * (x1 - 64) * y2")


def test_weight_update_saturates_and_says_so():
    w = np.full((2, 2), 120, dtype=np.int64)
    new, saturated = fl.weight_update(w, np.array([127, 127]), np.array([127, -127]), -8,
                                      fl.synapse_rng(0, 1))
    assert new.tolist() == [[127, 127], [-127, -127]] and saturated == 4
    _, saturated = fl.weight_update(w, np.array([1, 0]), np.array([8, 0]), 7,
                                    fl.synapse_rng(0, 1))
    assert saturated == 0


def test_bias_update_rounds_half_away_from_zero():
    b = np.array([0, 0, 0, STATE_MAX])
    assert fl.bias_update(b, np.array([8, -8, 7, 1 << 20]), 4).tolist() == [1, -1, 0, STATE_MAX]


def test_bad_training_input_is_rejected():
    cfg, params, x, labels = _network(0)
    sim = FixedPointNetwork(cfg, quantize_for_learning(params, 1))
    x_int = quantize_input(x)
    with pytest.raises(ValueError, match="labels"):
        sim.train(x_int, labels[:1], RULE)
    sim.train(x_int, labels, RULE)
    with pytest.raises(ValueError, match="seeded with 7, not 0"):
        sim.train(x_int, labels, OnChipRule(lr_shift=3))
    sim.train(x_int, labels, OnChipRule(lr_shift=3, seed=RULE.seed))  # a decayed rate goes on
    _need_lava()
    from lava_diffpc.lava_graph import DiffPCGraph

    with pytest.raises(ValueError, match="needs labels"):
        DiffPCGraph(cfg, params, x, mode="fixed", learn=RULE)


# -------------------------------------------------------- one sample against the reference
def test_fixed_one_sample_update_matches_reference_sgd_within_rounding():
    """Fast simulator, one sample: ``dW_mant`` against the float64 reference's SGD step
    ``alpha e_T x_A^T 2**E`` (same dequantised parameters), per synapse within
    ``1 + 2**-R (8 + |x|/2 + |x| 2**-s)``: stochastic rounding, the 3 dropped bits, the
    rounding of ``e_T`` to the 8-bit factor and the fixed/float ``e_T`` difference (<1 LSB)."""
    rule = OnChipRule(lr_shift=3, err_shift=6, seed=1, headroom=1)
    for seed in range(4):
        cfg, params, x, labels = _network(seed, samples=1)
        q = quantize_for_learning(params, rule.headroom)
        before = copy.deepcopy(q)
        sim = FixedPointNetwork(cfg, q)
        x_int = quantize_input(x)
        rec = []
        sim.run(x_int, labels, record=rec)
        sim.train(x_int, labels, rule)
        ref_params = [(torch.tensor(w), torch.tensor(b)) for w, b in before.dequantize()]
        ref = DiffPCNetwork(cfg, ref_params, dtype=torch.float64)
        grads = ref.run(torch.tensor(x_int * FMT.lsb), torch.tensor(labels)).grads
        p = fl.trace_shift(sim.thresholds)
        pres = [rec[-1]["x_A0"][0]] + [st.x_A[0] for st in rec[-1]["states"][1:-1]]
        for l, ((gw, gb), e) in enumerate(zip(grads, before.weight_exps)):
            exact = -rule.alpha * gw.numpy() * 2.0**e
            got = q.weights[l] - before.weights[l]
            xt = np.abs(fl.pre_trace_from_state(pres[l], p))
            big_r = fl.update_shift(rule, e, p, FMT.frac_bits) + fl.PRODUCT_DROP_BITS
            bound = 1 + 2.0**-big_r * (8 + xt / 2 + xt * 2.0**-rule.err_shift)
            assert np.all(np.abs(got - exact) <= bound[None, :]), (seed, l)
            db = (q.biases[l] - before.biases[l]) * FMT.lsb
            assert np.abs(db + rule.alpha * gb.numpy()).max() <= FMT.lsb


def _need_lava() -> None:
    pytest.importorskip("lava.magma", reason="lava-nc 0.10 (Python 3.10) is not installed")


@pytest.mark.slow
def test_float_graph_update_equals_reference_sgd():
    """Float Lava graph, 3 samples streamed: weights and biases after each sample equal the
    reference's per-sample SGD (``W -= alpha grad``, presyn x_A) within 1e-6."""
    _need_lava()
    from lava_diffpc.demo import train_reference_sgd
    from lava_diffpc.lava_graph import train_dataset

    cfg, params, x, labels = _network(0, samples=3)
    for n in (1, 3):
        lava_res = train_dataset(cfg, params, x[:n], labels[:n], RULE, mode="float")
        net = DiffPCNetwork(cfg, params, dtype=torch.float64)
        pred = train_reference_sgd(net, torch.tensor(x[:n]), torch.tensor(labels[:n]),
                                   RULE.alpha)
        for (w, b), w_ref, b_ref in zip(lava_res.params, net.weights, net.biases):
            assert np.abs(w - w_ref.numpy()).max() <= 1e-6
            assert np.abs(b - b_ref.numpy()).max() <= 1e-6
        assert lava_res.predictions.tolist() == pred.tolist()
        assert np.abs(lava_res.params[-1][0] - params[-1][0].numpy()).max() > 1e-3  # learned


@pytest.mark.slow
def test_fixed_graph_training_is_bit_exact_and_keeps_one_matrix():
    """Fixed Lava graph, 4 samples with learning: every state (``e_in`` is fed by the
    backward path ``W^T``) at every step and the final weights, biases and saturation counts
    equal the fast simulator's on-chip training, which rebuilds ``W^T`` from the updated
    ``W`` after every sample: forward and backward stay one matrix, seeds included."""
    _need_lava()
    from lava_diffpc.lava_graph import DiffPCGraph
    from lava_diffpc.rules.dynamics import LayerState

    cfg, params, x, labels = _network(1, samples=4)
    q = quantize_for_learning(params, RULE.headroom)
    x_int = quantize_input(x)
    steps = SCHED.steps
    sim = FixedPointNetwork(cfg, copy.deepcopy(q))
    expected, sim_w, sim_saturated = [], [], np.zeros(3, dtype=np.int64)
    for i in range(4):
        rec = []
        sim.run(x_int[i:i + 1], labels[i:i + 1], record=rec)
        expected += rec
        sim_saturated += sim.train(x_int[i:i + 1], labels[i:i + 1], RULE).saturated
        sim_w.append([w.copy() for w in sim.qparams.weights])
    with DiffPCGraph(cfg, q, x_int, labels, mode="fixed", learn=RULE) as graph:
        for t in range(4 * steps):
            graph.run(1)
            for l in range(1, 4):
                got = graph.layer_state(l)
                for name, a, b in zip(LayerState._fields, got, expected[t]["states"][l]):
                    assert np.array_equal(a, b[0]), (t, l, name)
            if t % steps == steps - 1:
                lava_w = graph.params().weights
                for a, b in zip(lava_w, sim_w[t // steps]):
                    assert np.array_equal(a, b), t
        final = graph.params()
        saturated = graph.saturated()
    assert sum(int((a != b).sum()) for a, b in zip(final.weights, q.weights)) > 10
    for a, b in zip(final.biases, sim.qparams.biases):
        assert np.array_equal(a, b)
    assert list(saturated) == sim_saturated.tolist()


@pytest.mark.slow
def test_lava_trains_digits_from_scratch():
    """One epoch of on-chip learning inside the Lava fixed_pt graph (1437 digits samples,
    64-32-10, 48 steps each): >= 85% test accuracy, within 3 points of the float reference
    trained with the same per-sample SGD, and bit-identical to the fast simulator."""
    _need_lava()
    from lava_diffpc.data import load_dataset
    from lava_diffpc.demo import onchip_config, train_reference_sgd
    from lava_diffpc.lava_graph import train_dataset

    ds = load_dataset("digits")
    cfg = onchip_config(sizes=(64, 32, 10))
    rule = OnChipRule(lr_shift=5, err_shift=5, seed=0, headroom=2)
    init = init_parameters(cfg.sizes, 0, torch.float64)
    order = np.random.default_rng(0).permutation(len(ds.x_train))
    x_int, y = quantize_input(ds.x_train[order]), ds.y_train[order]
    q = quantize_for_learning(init, rule.headroom)
    lava_res = train_dataset(cfg, q, x_int, y, rule, mode="fixed")
    sim = FixedPointNetwork(cfg, copy.deepcopy(q))
    sim.train(x_int, y, rule)
    for a, b in zip(lava_res.params.weights, sim.qparams.weights):
        assert np.array_equal(a, b)
    xt = quantize_input(ds.x_test)
    acc_lava = (FixedPointNetwork(cfg, lava_res.params).predict(xt) == ds.y_test).mean()
    net = DiffPCNetwork(cfg, [(w.clone(), b.clone()) for w, b in init], dtype=torch.float64)
    train_reference_sgd(net, torch.tensor(ds.x_train[order], dtype=torch.float64),
                        torch.tensor(y), rule.alpha)
    acc_ref = (net.predict(torch.tensor(ds.x_test, dtype=torch.float64)).numpy()
               == ds.y_test).mean()
    assert acc_lava >= 0.85, acc_lava
    assert abs(acc_lava - acc_ref) <= 0.03, (acc_lava, acc_ref)
