"""Cross-check of the on-chip rule against Lava's own learning engine (``LearningDense``).

A ``LearningDense`` runs :func:`lava_diffpc.rules.fixed_learning.rule_string` as a
``Loihi3FLearningRule`` with ``t_epoch = K`` (one epoch per sample), fed with exactly what
our synapse sees while :meth:`~lava_diffpc.fixedsim.FixedPointNetwork.train` trains a small
network on three samples:

* presynaptic activity: the ternary spikes ``s(k)`` of layer l-1, sent as graded payloads
  ``2 s(k) (T_int(k) >> p)`` (``GradedSpikeCfg.ADD_WITH_SATURATION`` adds ``payload / 2``
  to ``x1``, so ``x1`` is our trace). The first payload of the next sample also carries
  ``-2 x`` (the trace's reset to 0; Lava never resets traces). The signed input layer
  uses ``x1 = 64 + x``: its first payload carries ``+128`` once;
* third factor: a post neuron sends ``y1 = max(y, 0)``, ``y2 = max(-y, 0)`` every step,
  ``y = error_factor(e_T)`` of that step.

``fixed_pt`` (``PyLearningDenseModelBitApproximate``): the weights after every epoch equal
the rule bit for bit: with Lava's own weight-rounding generator (``default_rng(2)``,
:data:`~lava_diffpc.rules.fixed_learning.LAVA_ROUNDING_SEED`) against
:func:`~lava_diffpc.rules.fixed_learning.weight_update` driven by
:func:`~lava_diffpc.rules.fixed_learning.epoch_rng`, and with that generator seeded as
:func:`~lava_diffpc.rules.fixed_learning.synapse_rng` (the only change to Lava's model)
against the weights that ``FixedPointNetwork.train`` itself produced. A synthetic run
shows what our rule adds: the engine keeps weights in ``[-256, 255]`` (equal to
:func:`~lava_diffpc.rules.fixed_learning.engine_update`), ours are that clipped to +-127.

``floating_pt`` (``PyLearningDenseModelFloat``), same graph and string: no shift by 3, no
rounding, so each epoch adds ``m 2**e x y = 2**-r x y``, 8 times the fixed-point update
``x y 2**-(r + 3)`` before its floor and rounding (lava-notes pitfall 11), up to the engine's
trace decay ``exp(-K / 65535)`` per epoch. The float synapse's own rule (``W += alpha e_T
x_A^T``) is checked against the same float engine as well.

Conditions of the bit-exact match (all asserted below): no trace decay loss (tau = 65535:
one shared random number per epoch removes 1 LSB from a trace with probability
<= 127/65535; these seeds draw none), running traces inside ``[0, 127]`` at every step
(the engine saturates each addition, our rule clips the final value), the signed input
inside ``[-64, 63]``.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

pytest.importorskip("lava.magma", reason="lava-nc 0.10 (Python 3.10) is not installed")

from lava.magma.core.decorator import implements, requires, tag  # noqa: E402
from lava.magma.core.learning.constants import GradedSpikeCfg  # noqa: E402
from lava.magma.core.learning.learning_rule import Loihi3FLearningRule  # noqa: E402
from lava.magma.core.learning.random import ConnVarRandom  # noqa: E402
from lava.magma.core.model.py.neuron import (  # noqa: E402
    LearningNeuronModelFixed,
    LearningNeuronModelFloat,
)
from lava.magma.core.model.py.type import LavaPyType  # noqa: E402
from lava.magma.core.process.neuron import LearningNeuronProcess  # noqa: E402
from lava.magma.core.process.process import AbstractProcess  # noqa: E402
from lava.magma.core.process.variable import Var  # noqa: E402
from lava.magma.core.resources import CPU  # noqa: E402
from lava.magma.core.run_conditions import RunSteps  # noqa: E402
from lava.magma.core.run_configs import Loihi2SimCfg  # noqa: E402
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol  # noqa: E402
from lava.proc.dense.models import PyLearningDenseModelBitApproximate  # noqa: E402
from lava.proc.dense.process import LearningDense  # noqa: E402
from lava.proc.io.source import RingBuffer  # noqa: E402

from lava_diffpc.config import DiffPCConfig  # noqa: E402
from lava_diffpc.fixed_point import quantize_for_learning, quantize_input  # noqa: E402
from lava_diffpc.fixedsim import FixedPointNetwork  # noqa: E402
from lava_diffpc.reference.network import init_parameters  # noqa: E402
from lava_diffpc.rules import dynamics, learning  # noqa: E402
from lava_diffpc.rules import fixed_learning as fl  # noqa: E402
from lava_diffpc.rules.fixed_learning import OnChipRule  # noqa: E402
from lava_diffpc.rules.schedule import Schedule  # noqa: E402

SCHED = Schedule(m=-1, n=3, c1=2, c2=2, gamma2=0.5)  # 12 steps per sample
RULE = OnChipRule(lr_shift=2, err_shift=3, seed=7, headroom=1)
SAMPLES = 3
TRACE_TAU = 65535  # "no decay" (tau = 0 zeroes fixed-point traces every epoch)
TRACE_SEED = 1  # rng_seed of the rule: the engine's trace-decay generators only


class ThirdFactor(LearningNeuronProcess, AbstractProcess):
    """Post neuron replaying a third factor: sends ``y1 = max(y, 0)`` and ``y2 =
    max(-y, 0)`` of column ``(t - 1) mod T`` of ``y`` at step ``t``."""

    def __init__(self, *, y: np.ndarray, learning_rule: Loihi3FLearningRule) -> None:
        y = np.asarray(y)
        super().__init__(shape=(y.shape[0],), learning_rule=learning_rule)
        self.y_pos = Var(shape=y.shape, init=np.maximum(y, 0))
        self.y_neg = Var(shape=y.shape, init=np.maximum(-y, 0))


class _ThirdFactorModel:
    def run_spk(self) -> None:
        t = (self.time_step - 1) % self.y_pos.shape[1]
        self.y1 = self.y_pos[:, t].copy()
        self.y2 = self.y_neg[:, t].copy()
        self.s_out_y1.send(self.y1)
        self.s_out_y2.send(self.y2)


@implements(proc=ThirdFactor, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PyThirdFactorFloat(_ThirdFactorModel, LearningNeuronModelFloat):
    y_pos: np.ndarray = LavaPyType(np.ndarray, float)
    y_neg: np.ndarray = LavaPyType(np.ndarray, float)


@implements(proc=ThirdFactor, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyThirdFactorFixed(_ThirdFactorModel, LearningNeuronModelFixed):
    y_pos: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=7)
    y_neg: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=7)


@implements(proc=LearningDense, protocol=LoihiProtocol)
@requires(CPU)
@tag("bit_approximate_loihi", "fixed_pt")
class SeededLearningDense(PyLearningDenseModelBitApproximate):
    """Lava's fixed-point engine with its weight-rounding generator seeded like
    :func:`~lava_diffpc.rules.fixed_learning.synapse_rng` (Lava hard-codes seed 2)."""

    def _init_randoms(self) -> None:
        super()._init_randoms()
        self._conn_var_random = ConnVarRandom(np.random.SeedSequence(
            self.proc_params["rounding_entropy"]))


def _training_run():
    """Train a random 4-6-5-3 network on three samples with the fast simulator; return the
    network, its initial and per-sample weights, and per sample the records of the run."""
    cfg = DiffPCConfig(sizes=(4, 6, 5, 3), schedule=SCHED, presyn="x_A")
    params = [(2 * w, b) for w, b in init_parameters(cfg.sizes, 2, torch.float64)]
    rng = np.random.default_rng(2)
    x_int = quantize_input(rng.normal(size=(SAMPLES, 4)))
    labels = rng.integers(0, 3, SAMPLES)
    q = quantize_for_learning(params, RULE.headroom)
    sim = FixedPointNetwork(cfg, copy.deepcopy(q))
    records, weights = [], []
    for i in range(SAMPLES):
        rec = []
        sim.run(x_int[i:i + 1], labels[i:i + 1], record=rec)
        records.append(rec)
        sim.train(x_int[i:i + 1], labels[i:i + 1], RULE)
        weights.append([w.copy() for w in sim.qparams.weights])
    return sim, q, records, weights


def _engine_inputs(sim, records, layer: int, signed: bool):
    """Payloads ``(n_in, SAMPLES K)``, third factors ``(n_out, SAMPLES K)`` and per sample
    the final ``(x, y)`` of synapse ``layer``, plus the running traces for the checks."""
    p = fl.trace_shift(sim.thresholds)
    impulses = fl.trace_impulses(sim.thresholds, p)
    payloads, ys, finals, running = [], [], [], []
    x_prev = None
    for rec in records:
        trace = np.zeros(sim.config.sizes[layer - 1], dtype=np.int64)
        for k, r in enumerate(rec):
            s = r["s_act"][layer - 1][0]
            inc = fl.trace_step(np.zeros_like(trace), s, impulses[k])
            trace = trace + inc
            if k == 0:
                inc = inc - (x_prev if x_prev is not None else -fl.SIGNED_OFFSET * signed)
            payloads.append(2 * inc)
            ys.append(fl.error_factor(r["states"][layer].e_T[0], RULE.err_shift))
            running.append(trace.copy())
        x_prev = trace
        last = rec[-1]
        pre = last["x_A0"][0] if layer == 1 else last["states"][layer - 1].x_A[0]
        x = fl.pre_trace_from_state(pre, p)
        assert np.array_equal(x, fl.pre_trace(trace))
        finals.append((x, fl.error_factor(last["states"][layer].e_T[0], RULE.err_shift)))
    running = np.array(running) + fl.SIGNED_OFFSET * signed
    assert running.min() >= 0 and running.max() <= fl.TRACE_MAX  # no engine saturation
    return np.array(payloads).T, np.array(ys).T, finals


def _run_learning_dense(weights, payloads, ys, dw, tag_name, *, entropy=None):
    """Run a LearningDense with the rule string ``dw`` for ``SAMPLES`` epochs; returns
    its weights after every epoch and its final ``x1``."""
    steps = SCHED.steps
    rule = Loihi3FLearningRule(dw=dw, x1_impulse=0, x1_tau=TRACE_TAU, x2_impulse=0,
                               x2_tau=TRACE_TAU, t_epoch=steps, rng_seed=TRACE_SEED)
    src = RingBuffer(data=payloads)
    extra = {} if entropy is None else {"rounding_entropy": entropy}
    syn = LearningDense(weights=weights, learning_rule=rule, num_message_bits=8,
                        num_weight_bits=9, graded_spike_cfg=GradedSpikeCfg.ADD_WITH_SATURATION,
                        **extra)
    post = ThirdFactor(y=ys, learning_rule=rule)
    src.s_out.connect(syn.s_in)
    post.s_out_y1.connect(syn.s_in_y1)
    post.s_out_y2.connect(syn.s_in_y2)
    models = {post: PyThirdFactorFixed if tag_name == "fixed_pt" else PyThirdFactorFloat}
    if entropy is not None:
        models[syn] = SeededLearningDense
    cfg = Loihi2SimCfg(select_tag=tag_name, exception_proc_model_map=models)
    per_epoch = []
    try:
        for _ in range(SAMPLES):
            src.run(condition=RunSteps(num_steps=steps), run_cfg=cfg)
            per_epoch.append(syn.weights.get())
        x1 = syn.x1.get()
    finally:
        src.stop()
    return per_epoch, x1


def test_epoch_rng_is_lavas_weight_rounding_generator():
    """Lava's ``ConnVarRandom`` (seed 2 in every ``LearningDense``; the rule's ``rng_seed``
    seeds only the trace generators) draws once when built and once per epoch before the
    update: :func:`~lava_diffpc.rules.fixed_learning.epoch_rng` continues identically."""
    engine, ours = ConnVarRandom(), fl.epoch_rng(fl.LAVA_ROUNDING_SEED)
    for _ in range(5):
        engine.advance()
        assert engine.random_stochastic_round == ours.random(1)[0]
    seeded = ConnVarRandom(np.random.SeedSequence([RULE.seed, 3]))
    seeded.advance()
    assert seeded.random_stochastic_round == fl.synapse_rng(RULE.seed, 3).random(1)[0]


def test_rule_string_compiles_to_the_engine_products():
    """Two products of two 7-bit traces (shift 3), mantissas ``+-2**(3 - d)`` and
    ``s_exp = 7 + exponent`` of :func:`~lava_diffpc.rules.fixed_learning.constant_scale`;
    the signed form adds -64 to ``x1``."""
    for r, signed, m, d in ((5, False, 4, 1), (-10, True, 4, 1), (6, False, 2, 2),
                            (7, False, 1, 3)):
        rule = Loihi3FLearningRule(dw=fl.rule_string(r, signed), x1_tau=TRACE_TAU, t_epoch=12)
        products = rule.active_product_series["dw"].products
        s_exp = 7 + d - r - 3
        assert 0 <= s_exp <= 15 and fl.constant_scale(r) == (m, s_exp - 7, d)
        assert [(p.dependency, p.s_mantissa, p.s_exp) for p in products] == [
            ("u", m, s_exp), ("u", -m, s_exp)]
        assert [[(f.state_var, f.const) for f in p.factors] for p in products] == [
            [("x1", -64 if signed else None), (y, None)] for y in ("y1", "y2")]
    with pytest.raises(ValueError, match="outside"):
        fl.rule_string(8)


@pytest.fixture(scope="module")
def training():
    return _training_run()


@pytest.mark.slow
def test_engine_equals_the_rule_with_lavas_generator(training):
    """Hidden synapse (x >= 0, ``dw = m*2^e*u0*x1*y1 - m*2^e*u0*x1*y2``), stock fixed-point
    engine and its seed-2 generator: bit for bit with ``weight_update`` over 3 epochs."""
    sim, q, records, _ = training
    layer = 2
    payloads, ys, finals = _engine_inputs(sim, records, layer, signed=False)
    p = fl.trace_shift(sim.thresholds)
    r = fl.update_shift(RULE, q.weight_exps[layer - 1], p, sim.qparams.fmt.frac_bits)
    w0 = q.weights[layer - 1]
    got, x1 = _run_learning_dense(w0, payloads, ys, fl.rule_string(r), "fixed_pt")
    w, rng, changed = w0, fl.epoch_rng(fl.LAVA_ROUNDING_SEED), 0
    for (x, y), lava_w in zip(finals, got):
        w, saturated = fl.weight_update(w, x, y, r, rng)
        assert saturated == 0
        assert np.array_equal(lava_w, w)
        changed += int(np.count_nonzero(lava_w != w0))
    assert np.array_equal(x1, finals[-1][0])  # no trace decay loss
    assert changed > 10 and any(np.any(fy < 0) for _, fy in finals)


@pytest.mark.slow
def test_engine_seeded_like_the_rule_reproduces_onchip_training(training):
    """Signed input synapse (``x1 = 64 + x``, ``dw = m*2^e*u0*(x1 - 64)*y1 - ...``), the
    engine's generator seeded as ``synapse_rng(seed, 1)``: its weights after each epoch are
    the weights ``FixedPointNetwork.train`` produced, bit for bit."""
    sim, q, records, weights = training
    layer = 1
    payloads, ys, finals = _engine_inputs(sim, records, layer, signed=True)
    assert any(np.any(x < 0) for x, _ in finals)
    p = fl.trace_shift(sim.thresholds)
    r = fl.update_shift(RULE, q.weight_exps[0], p, sim.qparams.fmt.frac_bits)
    got, x1 = _run_learning_dense(q.weights[0], payloads, ys, fl.rule_string(r, signed=True),
                                  "fixed_pt", entropy=[RULE.seed, layer])
    for lava_w, sim_w in zip(got, weights):
        assert np.array_equal(lava_w, sim_w[0])
    assert np.array_equal(x1, finals[-1][0] + fl.SIGNED_OFFSET)
    assert np.count_nonzero(got[-1] != q.weights[0]) > 5


@pytest.mark.slow
def test_float_engine_adds_the_unrounded_product_times_8(training):
    """The same graph and string in ``floating_pt``: each epoch adds ``2**-r x y``, 8 times
    the fixed-point update before its floor and rounding, times the trace decay."""
    sim, q, records, _ = training
    layer = 2
    payloads, ys, finals = _engine_inputs(sim, records, layer, signed=False)
    p = fl.trace_shift(sim.thresholds)
    r = fl.update_shift(RULE, q.weight_exps[layer - 1], p, sim.qparams.fmt.frac_bits)
    w0 = q.weights[layer - 1].astype(float)
    got, _ = _run_learning_dense(w0, payloads.astype(float), ys.astype(float),
                                 fl.rule_string(r), "floating_pt")
    w = w0
    for (x, y), lava_w in zip(finals, got):
        w = w + 2.0**-r * np.outer(y, x)
        tol = 1e-3 * (np.abs(w - w0).max() + 1)
        assert np.abs(lava_w - w).max() <= tol
    assert np.abs(got[-1] - w0).max() > 1


@pytest.mark.slow
def test_engine_floors_negative_products_and_saturates_beyond_our_clip():
    """Synthetic 2x4 matrix near the edges, constant factors, ``r = -2`` (mantissa 4, one
    dropped bit, whole LSBs: no random effect below saturation). Lava's weights equal
    ``engine_update`` after every epoch: negative products are floored (``-127 >> 1 = -64``,
    not -63), the product and the 16-bit accumulator saturate and weights leave +-127 for
    ``[-256, 255]``; ours are the engine's clipped to +-127."""
    steps, r = SCHED.steps, -2
    w0 = np.array([[120, -120, 3, 0], [-127, 127, 50, -7]])
    x = np.array([127, 1, 3, 0])
    y = np.array([-127, 2])
    payloads = np.zeros((4, SAMPLES * steps), dtype=np.int64)
    payloads[:, 0] = 2 * x  # x1 = x, kept over the epochs (traces are never reset)
    ys = np.repeat(y[:, None], SAMPLES * steps, axis=1)
    got, x1 = _run_learning_dense(w0, payloads, ys, fl.rule_string(r), "fixed_pt")
    assert np.array_equal(x1, x)
    # epoch 1: 120*128 + max(-8065*128, -2**15 - 1) = -17409 -> -136 (the product saturates
    # before the weight is added); -120 - 64, 3 - 191; -127 + 127, 127 + 1, 50 + 3
    assert got[0].tolist() == [[-136, -184, -188, 0], [0, 128, 53, -7]]
    eng, rng = w0, fl.epoch_rng(fl.LAVA_ROUNDING_SEED)
    for lava_w in got:
        eng = fl.engine_update(eng, x, y, r, rng.random(1)[0])
        assert np.array_equal(lava_w, eng)
    assert eng.min() == fl.ENGINE_WEIGHT_MIN and eng.max() > fl.WEIGHT_MAX
    ours, saturated = fl.weight_update(w0, x, y, r, fl.epoch_rng(fl.LAVA_ROUNDING_SEED))
    assert np.array_equal(ours, np.clip(got[0], -fl.WEIGHT_MAX, fl.WEIGHT_MAX))
    assert saturated == np.count_nonzero(np.abs(got[0]) > fl.WEIGHT_MAX) == 4


@pytest.mark.slow
def test_float_rule_matches_the_float_engine():
    """The float rule of ``DiffPCSynapse`` (``W += alpha e_T x_A^T``, ``x_A`` summed from the
    spikes, :func:`~lava_diffpc.rules.learning.sgd_update`) against ``LearningDense`` in
    ``floating_pt`` with graded payloads ``2 T(k) s(k)`` and ``dw = 2^-2 * u0 * x1 * y1 -
    2^-2 * u0 * x1 * y2``: equal after one epoch up to the trace decay ``exp(-K / 65535)``."""
    steps, lr_shift = SCHED.steps, 2
    thresholds = np.array([2.0 ** -(k % 4) for k in range(steps)])
    x_A, trace, spikes = np.zeros(3), np.zeros(3), []
    for k in range(steps):  # a gated presynaptic layer announcing [1.3, 0.4, 2.2]
        x_A, s = dynamics.track(np.array([1.3, 0.4, 2.2]), x_A, thresholds[k], gate=True)
        trace = learning.accumulate_activity(trace, s, thresholds[k])
        spikes.append(s)
    e_T = np.array([0.7, -0.3])
    w0 = np.random.default_rng(0).normal(size=(2, 3))
    payloads = 2 * np.array(spikes).T * thresholds[None, :]
    ys = np.repeat(e_T[:, None], steps, axis=1)
    dw = f"2^-{lr_shift} * u0 * x1 * y1 - 2^-{lr_shift} * u0 * x1 * y2"
    got, _ = _run_learning_dense(w0, payloads, ys, dw, "floating_pt")
    expected = learning.sgd_update(w0, e_T[None], trace[None], 2.0**-lr_shift)
    decay = 1 - np.exp(-steps / 65535)
    assert np.abs(got[0] - expected).max() <= 2 * decay * np.abs(expected - w0).max()
    assert np.abs(expected - w0).min() > 0.01
