"""Fast fixed-point simulator against the float reference (error bound of lava_diffpc.fixedsim).

``trained_digits`` (also used by tests/test_lava_graph.py) trains a 64-64-10 network with
the reference on scikit-learn digits, 3 epochs of AdamW (about a minute on 2 cores).
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch

from lava_diffpc.config import DiffPCConfig
from lava_diffpc.fixed_point import FixedFormat, quantize_input, quantize_params
from lava_diffpc.fixedsim import FixedPointNetwork
from lava_diffpc.metrics import CommStats
from lava_diffpc.reference.network import DiffPCNetwork, init_parameters
from lava_diffpc.rules.arithmetic import STATE_MAX, STATE_MIN
from lava_diffpc.rules.schedule import Schedule

FMT = FixedFormat()
STATE_NAMES = ("x_F", "x_T", "x_A", "e_T", "e_A", "e_in")


@functools.lru_cache(maxsize=1)
def trained_digits(epochs: int = 3):
    """(config, float64 params, dataset) of a reference DiffPC trained on digits."""
    from lava_diffpc.data import load_dataset

    ds = load_dataset("digits")
    cfg = DiffPCConfig(sizes=(64, 64, 10), schedule=Schedule())
    net = DiffPCNetwork(cfg, seed=0)
    opt = torch.optim.AdamW(net.parameters, lr=2e-3, weight_decay=1e-4)
    x, y = torch.tensor(ds.x_train), torch.tensor(ds.y_train)
    gen = torch.Generator().manual_seed(0)
    for _ in range(epochs):
        perm = torch.randperm(len(x), generator=gen)
        for i in range(0, len(x), 32):
            grads = net.run(x[perm[i:i + 32]], y[perm[i:i + 32]]).grads
            for p, g in zip(net.parameters, [t for pair in grads for t in pair]):
                p.grad = g
            opt.step()
    params = [(w.double().numpy(), b.double().numpy()) for w, b in zip(net.weights, net.biases)]
    return cfg, params, ds


def _reference_q(cfg, q, x_int, labels, record):
    """The float64 reference on the dequantised parameters, input and target."""
    params = [(torch.tensor(w), torch.tensor(b)) for w, b in q.dequantize()]
    net = DiffPCNetwork(cfg, params, dtype=torch.float64)
    lab = None if labels is None else torch.tensor(labels)
    return net.run(torch.tensor(x_int * FMT.lsb), lab, record=record)


@pytest.mark.parametrize("gamma2,gamma_mode", [(0.5, "cycle-start"), (0.25, "every-step")])
def test_error_bound_against_reference(gamma2, gamma_mode):
    """fixedsim docstring bound: feed-forward 0 LSB; learning < 2**(g-1) LSB until a flip."""
    rng = np.random.default_rng(1)
    flipped = total = 0
    for seed in range(6):
        sched = Schedule(m=0, n=4, c1=3, c2=4, gamma2=gamma2, gamma_mode=gamma_mode)
        cfg = DiffPCConfig(sizes=(6, 9, 7, 4), schedule=sched, target_scale=1.5)
        q = quantize_params(init_parameters(cfg.sizes, seed, torch.float64), FMT)
        assert q.exact_shifts(sched)
        x_int = quantize_input(rng.normal(size=(16, 6)), FMT)
        labels = rng.integers(0, 4, 16)
        rec_i, rec_f = [], []
        FixedPointNetwork(cfg, q).run(x_int, labels, record=rec_i)
        _reference_q(cfg, q, x_int, labels, rec_f)
        bound = 2.0 ** (sched.gamma_shift() - 1)
        alive = np.ones(16, dtype=bool)  # samples whose spike trains still agree
        for k, (ri, rf) in enumerate(zip(rec_i, rec_f)):
            spikes_i = ri["s_act"] + ri["s_err"]
            spikes_f = [s.numpy() for s in rf["s_act"] + rf["s_err"]]
            same = np.all([np.all(a == b, axis=1) for a, b in zip(spikes_i, spikes_f)], axis=0)
            if k > 0:  # the gate 1[x_T > 0] of this step's update must agree, too
                prev_i, prev_f = rec_i[k - 1]["states"], rec_f[k - 1]["states"]
                same &= np.all([np.all((prev_i[l].x_T > 0) == (prev_f[l].x_T > 0).numpy(),
                                       axis=1) for l in range(1, 4)], axis=0)
            if k < sched.k1:
                assert same.all()
            alive &= same
            for l in range(1, 4):
                si, sf = ri["states"][l], rf["states"][l]
                for name in STATE_NAMES:
                    diff = np.abs(getattr(si, name) - getattr(sf, name).numpy() / FMT.lsb)
                    diff = diff[alive]
                    if k < sched.k1 or name not in ("x_T", "e_T") or l == 3:
                        assert diff.max(initial=0) == 0, (k, l, name)
                    else:
                        assert diff.max(initial=0) < bound, (k, l, name, diff.max())
        flipped += int((~alive).sum())
        total += alive.size
    assert flipped <= 0.1 * total  # spike flips (near-ties) are rare


def test_saturation_of_inputs_and_states():
    """Inputs beyond 24 bits saturate at quantisation; states clip instead of wrapping."""
    sched = Schedule(m=10, n=2, c1=2, c2=0)
    cfg = DiffPCConfig(sizes=(2, 2), schedule=sched)
    q = quantize_params([(np.full((2, 2), 0.99), np.zeros(2))], FMT)
    x_int = quantize_input(np.array([[1e9, -1e9]]), FMT)
    assert x_int.tolist() == [[STATE_MAX, STATE_MIN]]
    rec = []
    FixedPointNetwork(cfg, q).run(x_int, record=rec)
    for r in rec:
        for v in r["states"][1]:
            assert v.min() >= STATE_MIN and v.max() <= STATE_MAX
    big = FixedPointNetwork(cfg, quantize_params([(np.full((2, 2), 100.0), np.zeros(2))], FMT))
    rec = []
    big.run(quantize_input(np.array([[1000.0, 1000.0]]), FMT), record=rec)
    assert rec[-1]["states"][1].x_F.tolist() == [[STATE_MAX, STATE_MAX]]


def test_bad_input_is_rejected():
    cfg = DiffPCConfig(sizes=(3, 2), schedule=Schedule(c1=1, c2=1))
    sim = FixedPointNetwork(cfg, quantize_params(init_parameters(cfg.sizes, 0), FMT))
    with pytest.raises(ValueError, match="expected"):
        sim.run(np.zeros((2, 4), dtype=np.int64))
    with pytest.raises(ValueError, match="integers"):
        sim.run(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="class indices"):
        sim.run(np.zeros((2, 3), dtype=np.int64), labels=[0, 5])
    with pytest.raises(ValueError, match="layer 1"):
        FixedPointNetwork(DiffPCConfig(sizes=(4, 2)), sim.qparams)


def test_spike_counts_match_reference():
    cfg = DiffPCConfig(sizes=(5, 6, 3), schedule=Schedule(c1=2, c2=2))
    q = quantize_params(init_parameters(cfg.sizes, 3, torch.float64), FMT)
    x_int = quantize_input(np.random.default_rng(0).normal(size=(8, 5)), FMT)
    labels = np.arange(8) % 3
    steps = {"ff": cfg.schedule.k1, "learn": cfg.schedule.k2}
    s_i, s_f = CommStats(cfg.sizes, steps), CommStats(cfg.sizes, steps)
    FixedPointNetwork(cfg, q).run(x_int, labels, stats=s_i)
    params = [(torch.tensor(w), torch.tensor(b)) for w, b in q.dequantize()]
    DiffPCNetwork(cfg, params, dtype=torch.float64).run(
        torch.tensor(x_int * FMT.lsb), torch.tensor(labels), stats=s_f)
    for p in ("ff", "learn"):
        assert s_i.activity[p].tolist() == s_f.activity[p].tolist()
        assert s_i.error[p].tolist() == s_f.error[p].tolist()
        assert s_i.samples[p] == s_f.samples[p] == 8
    assert s_i.error["learn"].sum() > 0 and s_i.error["ff"].sum() == 0  # errors flow


@pytest.mark.slow
def test_digits_fixed_point_accuracy():
    """Whole digits test set (360): 8-bit weights keep >= 97% prediction agreement with the
    float reference on the original weights and the accuracy within 1 point."""
    cfg, params, ds = trained_digits()
    ref = DiffPCNetwork(cfg, [(torch.tensor(w), torch.tensor(b)) for w, b in params],
                        dtype=torch.float64)
    pred_ref = ref.predict(torch.tensor(ds.x_test, dtype=torch.float64)).numpy()
    q = quantize_params(params, FMT)
    pred_fix = FixedPointNetwork(cfg, q).predict(quantize_input(ds.x_test, FMT))
    acc_ref, acc_fix = (pred_ref == ds.y_test).mean(), (pred_fix == ds.y_test).mean()
    assert acc_ref > 0.9
    assert abs(acc_fix - acc_ref) <= 0.01
    assert (pred_ref == pred_fix).mean() >= 0.97


def test_require_lava_explains_the_python_version(monkeypatch):
    """The fast simulator needs no Lava; the Lava modules' guard says how to get it."""
    import collections
    import types

    from lava_diffpc import _lava

    version = collections.namedtuple("version", "major minor micro")
    monkeypatch.setattr(_lava, "sys", types.SimpleNamespace(version_info=version(3, 12, 0)))
    with pytest.raises(ImportError, match="Python 3.10.*make test"):
        _lava.require_lava()


def test_conv_network_feed_forward_is_exact():
    """A conv net in fixed point: the feed-forward phase equals the float64 reference on the
    dequantised parameters to the last bit (the docstring's 0 LSB bound), in both engines."""
    from lava_diffpc.config import ConvSpec

    sched = Schedule(m=0, n=4, c1=3, c2=2, gamma2=0.5)
    cfg = DiffPCConfig(sizes=(36, 32, 12, 3), schedule=sched, input_shape=(1, 6, 6),
                       convs=(ConvSpec(2, 3, 1),))
    net = DiffPCNetwork(cfg, seed=3, dtype=torch.float64)
    q = quantize_params([(2 * w, b) for w, b in zip(net.weights, net.biases)], FMT)
    assert q.weights[0].shape == (2, 1, 3, 3) and q.exact_shifts(sched)
    x_int = quantize_input(np.random.default_rng(0).normal(size=(6, 1, 6, 6)), FMT)
    ref = DiffPCNetwork(cfg, [(torch.tensor(w), torch.tensor(b)) for w, b in q.dequantize()],
                        dtype=torch.float64).run(torch.tensor(x_int * FMT.lsb))
    for engine in ("plain", "fast"):
        got = FixedPointNetwork(cfg, q, engine=engine).run(x_int)
        assert np.array_equal(got.output, ref.output.numpy() / FMT.lsb)
        for si, sf in zip(got.states, ref.states):
            assert np.array_equal(si.x_A, sf.x_A.numpy() / FMT.lsb)
