"""The fast engines against the plain network step (oracle: ``run_network``, every layer at
every step). Fixed point: bit for bit. Float: the same spikes, predictions and spike counts,
states within 1e-6 (in practice equal: the same operations in the same order, and the same
sparse-or-dense choice for every spike sum).

Also: the fast engine does skip work when a layer is still (cost follows spikes), and the
compiled kernels (``torch.compile``) equal the eager ones.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lava_diffpc.config import ConvSpec, DiffPCConfig
from lava_diffpc.engine.fast import Work, rest_windows
from lava_diffpc.fixed_point import FixedFormat, quantize_input, quantize_params
from lava_diffpc.fixedsim import FixedPointNetwork
from lava_diffpc.metrics import CommStats
from lava_diffpc.reference.network import DiffPCNetwork, init_parameters
from lava_diffpc.rules.schedule import Schedule

FMT = FixedFormat()
SCHEDULES = [
    Schedule(m=0, n=4, c1=4, c2=4, gamma2=0.5),
    Schedule(m=-1, n=3, c1=5, c2=3, kind="cyclic-decay", a=0.5, gamma2=0.25),
    Schedule(m=0, n=4, c1=3, c2=3, gamma2=0.5, gamma_mode="every-step"),
]


def _stats_equal(a: CommStats, b: CommStats) -> bool:
    return all(np.array_equal(a.activity[p], b.activity[p])
               and np.array_equal(a.error[p], b.error[p]) and a.samples[p] == b.samples[p]
               for p in ("ff", "learn"))


# ------------------------------------------------------------------ fixed point: bit for bit
@pytest.mark.parametrize("sched", SCHEDULES)
@pytest.mark.parametrize("input_gate", [False, True])
def test_fixed_fast_equals_plain_bit_for_bit(sched, input_gate):
    rng = np.random.default_rng(3)
    for seed in range(3):
        cfg = DiffPCConfig(sizes=(7, 12, 9, 4), schedule=sched, target_scale=1.5,
                           input_gate=input_gate)
        params = [(2 * w, b) for w, b in init_parameters(cfg.sizes, seed, torch.float64)]
        q = quantize_params(params, FMT)
        x = quantize_input(rng.normal(size=(20, 7)), FMT)
        labels = rng.integers(0, 4, 20)
        for lab in (None, labels):
            out, stats = {}, {}
            for engine in ("plain", "fast"):
                stats[engine] = cfg.comm_stats()
                out[engine] = FixedPointNetwork(cfg, q, engine=engine).run(
                    x, lab, stats=stats[engine])
            assert np.array_equal(out["plain"].prediction, out["fast"].prediction)
            assert np.array_equal(out["plain"].output, out["fast"].output)
            assert np.array_equal(out["plain"].x_A0, out["fast"].x_A0)
            for a, b in zip(out["plain"].states, out["fast"].states):
                for va, vb in zip(a, b):
                    assert np.array_equal(va, vb)
            assert _stats_equal(stats["plain"], stats["fast"])


def test_fixed_fast_equals_plain_on_trained_digits():
    """A trained network on real data (most layers come to rest early)."""
    from test_fixedsim import trained_digits

    cfg, params, ds = trained_digits()
    q = quantize_params(params, FMT)
    x = quantize_input(ds.x_test, FMT)
    plain, fast = (FixedPointNetwork(cfg, q, engine=e) for e in ("plain", "fast"))
    work = Work()
    a, b = plain.run(x, ds.y_test), fast.run(x, ds.y_test, work=work)
    assert np.array_equal(a.prediction, b.prediction)
    for sa, sb in zip(a.states, b.states):
        assert all(np.array_equal(u, v) for u, v in zip(sa, sb))
    assert work.fraction < 0.6  # most layer steps of a trained network are still


# ------------------------------------------------------------------------ float reference
def test_float_fast_equals_plain_with_dropout_and_conv():
    sched = Schedule(m=0, n=4, c1=3, c2=3, gamma2=0.5)
    cfg = DiffPCConfig(sizes=(36, 32, 12, 3), schedule=sched, input_shape=(1, 6, 6),
                       convs=(ConvSpec(2, 3, 1),), dropout=0.3)
    x = torch.randn(16, 36, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    y = torch.arange(16) % 3
    res, stats = {}, {}
    for engine in ("plain", "fast"):
        net = DiffPCNetwork(cfg, seed=4, dtype=torch.float64, engine=engine)
        stats[engine] = cfg.comm_stats()
        res[engine] = net.run(x, y, stats=stats[engine],
                              generator=torch.Generator().manual_seed(1))
    assert torch.equal(res["plain"].prediction, res["fast"].prediction)
    assert _stats_equal(stats["plain"], stats["fast"])
    for (gw, gb), (hw, hb) in zip(res["plain"].grads, res["fast"].grads):
        assert (gw - hw).abs().max() <= 1e-6 and (gb - hb).abs().max() <= 1e-6


def test_float_fast_equals_plain_on_trained_digits():
    from test_fixedsim import trained_digits

    cfg, params, ds = trained_digits()
    x, y = torch.tensor(ds.x_test), torch.tensor(ds.y_test)
    res, stats = {}, {}
    for engine in ("plain", "fast"):
        net = DiffPCNetwork(cfg, [(torch.tensor(w), torch.tensor(b)) for w, b in params],
                            engine=engine)
        stats[engine] = cfg.comm_stats()
        res[engine] = net.run(x, y, stats=stats[engine])
    assert torch.equal(res["plain"].prediction, res["fast"].prediction)
    assert _stats_equal(stats["plain"], stats["fast"])
    for sa, sb in zip(res["plain"].states, res["fast"].states):
        for u, v in zip(sa, sb):
            assert (u - v).abs().max() <= 1e-6


# ------------------------------------------------------------------ rests that expire
def test_rest_windows_by_hand():
    """One cycle ahead: the finest threshold of the next ``n`` steps of the phase (same
    gamma), valid until a finer threshold comes (cyclic: to the phase's end)."""
    th = np.array([8, 4, 2, 8, 4, 2, 6, 3, 1, 6, 3, 1])
    gam = np.array([0] * 6 + [2, -1, -1, 2, -1, -1])
    floor, until = rest_windows(th, gam, 6, 3)
    assert floor == [2, 2, 2, 2, 2, 2, 6, 1, 1, 6, 1, 1]
    assert until == [6, 6, 6, 6, 6, 6, 7, 12, 12, 10, 12, 12]
    floor, until = rest_windows(th, None, None, 3)  # the input layer: no phases, no gamma
    assert floor[:6] == [2, 2, 2, 2, 2, 2] and floor[6:9] == [1, 1, 1]
    assert until[:6] == [8] * 6 and until[6:] == [12] * 6
    dec = np.array([8, 4, 2, 7, 3, 2, 6, 3, 1])
    floor, until = rest_windows(dec, None, None, 3)
    assert floor == [2] * 6 + [1] * 3 and until == [8] * 6 + [9] * 3


@pytest.mark.parametrize("scale", [0.0, 0.05, 0.2])
def test_fast_equals_plain_across_expiring_rests(scale):
    """cyclic-decay with a deep decay and inputs on the coarse grid: the input and the
    hidden layers rest, their rests expire as the thresholds shrink and are tested again
    (confirmed for some layers, refuted for others; checked while writing this test by
    counting both outcomes). Fixed point bit for bit, float within 1e-6."""
    sched = Schedule(m=0, n=3, c1=8, c2=6, kind="cyclic-decay", a=0.25, gamma2=0.5)
    cfg = DiffPCConfig(sizes=(7, 12, 9, 4), schedule=sched, target_scale=1.5)
    rng = np.random.default_rng(3)
    params = [(scale * w, b) for w, b in init_parameters(cfg.sizes, 0, torch.float64)]
    x = np.round(rng.normal(size=(4, 7)))
    labels = rng.integers(0, 4, 4)
    q = quantize_params(params, FMT)
    for lab in (None, labels):
        out = {e: FixedPointNetwork(cfg, q, engine=e).run(quantize_input(x, FMT), lab)
               for e in ("plain", "fast")}
        for a, b in zip(out["plain"].states, out["fast"].states):
            assert all(np.array_equal(va, vb) for va, vb in zip(a, b))
    res = {e: DiffPCNetwork(cfg, params, dtype=torch.float64, engine=e).run(
        torch.tensor(x), torch.tensor(labels)) for e in ("plain", "fast")}
    assert torch.equal(res["plain"].prediction, res["fast"].prediction)
    for sa, sb in zip(res["plain"].states, res["fast"].states):
        assert all((u - v).abs().max() <= 1e-6 for u, v in zip(sa, sb))


# ---------------------------------------------------------------------- work follows spikes
def test_work_follows_spikes():
    """A silent input (x = 0, no bias) leaves every layer still from the first steps on: the
    fast engine computes a few layer steps; a spiking input makes it compute many more."""
    cfg = DiffPCConfig(sizes=(8, 16, 4), schedule=Schedule(c1=6, c2=6))
    params = [(w, b * 0) for w, b in init_parameters(cfg.sizes, 0, torch.float64)]
    net = DiffPCNetwork(cfg, params, dtype=torch.float64, engine="fast")
    quiet, busy = Work(), Work()
    net.run(torch.zeros(4, 8, dtype=torch.float64), work=quiet)
    net.run(torch.randn(4, 8, generator=torch.Generator().manual_seed(0),
                        dtype=torch.float64), work=busy)
    assert quiet.total == busy.total == 3 * cfg.schedule.k1
    assert quiet.executed <= 3 * 2 and busy.executed > 3 * quiet.executed


def test_auto_compiles_only_large_batches_of_long_runs():
    """``auto``: compiled when a batch of the widest layer is big and the run long enough to
    earn the compilation back; the named engines are taken as they are."""
    from lava_diffpc.engine.step import COMPILE_WORTH_BATCHES, choose_engine
    from lava_diffpc.presets import preset
    from lava_diffpc.train import build_model

    cfg = DiffPCConfig(sizes=(784, 1000, 10))
    assert choose_engine("auto", cfg, 256) == "compiled"
    assert choose_engine("auto", cfg, 256, COMPILE_WORTH_BATCHES) == "compiled"
    assert choose_engine("auto", cfg, 256, COMPILE_WORTH_BATCHES - 1) == "fast"
    assert choose_engine("auto", cfg, 16) == "fast"
    assert choose_engine("compiled", cfg, 1, 1) == "compiled"
    opts = preset("fmnist-m")
    assert build_model("diffpc", opts, batches=10).engine == "fast"
    assert build_model("diffpc", opts, batches=2350).engine == "compiled"


def test_bad_engine_is_refused():
    cfg = DiffPCConfig(sizes=(3, 2))
    with pytest.raises(ValueError, match="engine must be one of"):
        DiffPCNetwork(cfg, engine="turbo")
    with pytest.raises(ValueError, match="engine must be one of"):
        FixedPointNetwork(cfg, quantize_params(init_parameters(cfg.sizes, 0), FMT),
                          engine="turbo")


# ------------------------------------------------------------------ compiled == eager
@pytest.mark.slow
def test_compiled_kernels_equal_eager_ones():
    """torch.compile'd kernels (one small net per arithmetic) give the plain results."""
    sched = Schedule(m=0, n=4, c1=3, c2=3, gamma2=0.5)
    cfg = DiffPCConfig(sizes=(6, 10, 3), schedule=sched)
    params = init_parameters(cfg.sizes, 2, torch.float32)
    x = torch.randn(8, 6, generator=torch.Generator().manual_seed(2))
    y = torch.arange(8) % 3
    ref = DiffPCNetwork(cfg, params, engine="plain").run(x, y)
    got = DiffPCNetwork(cfg, params, engine="compiled").run(x, y)
    assert torch.equal(ref.prediction, got.prediction)
    for (gw, gb), (hw, hb) in zip(ref.grads, got.grads):
        assert torch.equal(gw, hw) and torch.equal(gb, hb)
    q = quantize_params(params, FMT)
    xi = quantize_input(x.numpy(), FMT)
    a = FixedPointNetwork(cfg, q, engine="plain").run(xi, y.numpy())
    b = FixedPointNetwork(cfg, q, engine="compiled").run(xi, y.numpy())
    for sa, sb in zip(a.states, b.states):
        assert all(np.array_equal(u, v) for u, v in zip(sa, sb))


@pytest.mark.slow
def test_compiled_dropout_masks_equal_plain_ones():
    """With dropout, the compiled kernels give the plain step's results (the feedback a
    neuron receives, the activity and error spikes it sends, their counts): two hidden
    layers, so that errors pass a keep mask on their way down."""
    sched = Schedule(m=-1, n=4, c1=3, c2=4, gamma2=0.5)
    cfg = DiffPCConfig(sizes=(6, 12, 10, 3), schedule=sched, dropout=0.3)
    params = init_parameters(cfg.sizes, 3, torch.float32)
    x = torch.randn(16, 6, generator=torch.Generator().manual_seed(5))
    y = torch.arange(16) % 3
    res, stats = {}, {}
    for engine in ("plain", "fast", "compiled"):
        stats[engine] = cfg.comm_stats()
        res[engine] = DiffPCNetwork(cfg, params, engine=engine).run(
            x, y, stats=stats[engine], generator=torch.Generator().manual_seed(1))
    assert stats["plain"].error["learn"][2] > 0  # layer 2 sent errors through its mask
    for engine in ("fast", "compiled"):
        assert torch.equal(res["plain"].prediction, res[engine].prediction)
        assert _stats_equal(stats["plain"], stats[engine])
        for (gw, gb), (hw, hb) in zip(res["plain"].grads, res[engine].grads):
            assert torch.equal(gw, hw) and torch.equal(gb, hb)
