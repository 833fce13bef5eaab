"""Lava process graphs against the float reference and the fast fixed-point simulator.

Every test here starts Lava's runtime (one OS process per Lava process), so networks are
tiny and runs short; the digits test streams the whole test set (360 samples x 60 steps).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("lava.magma", reason="lava-nc 0.10 (Python 3.10) is not installed")

from lava_diffpc.config import DiffPCConfig  # noqa: E402
from lava_diffpc.fixed_point import FixedFormat, quantize_input, quantize_params  # noqa: E402
from lava_diffpc.fixedsim import FixedPointNetwork  # noqa: E402
from lava_diffpc.lava_graph import DiffPCGraph, run_config, run_dataset  # noqa: E402
from lava_diffpc.metrics import CommStats  # noqa: E402
from lava_diffpc.reference.network import DiffPCNetwork, init_parameters  # noqa: E402
from lava_diffpc.rules.arithmetic import STATE_MAX, STATE_MIN  # noqa: E402
from lava_diffpc.rules.dynamics import LayerState  # noqa: E402
from lava_diffpc.rules.schedule import Schedule  # noqa: E402

FMT = FixedFormat()
SCHED = Schedule(m=-1, n=3, c1=2, c2=2, gamma2=0.5)  # 12 steps per sample
SAMPLES = 2


def _network(seed: int) -> tuple[DiffPCConfig, list, np.ndarray, np.ndarray]:
    """A random 4-6-5-3 network with scaled-up weights (so every layer spikes)."""
    cfg = DiffPCConfig(sizes=(4, 6, 5, 3), schedule=SCHED, target_scale=1.0)
    params = [(2 * w, b) for w, b in init_parameters(cfg.sizes, seed, torch.float64)]
    rng = np.random.default_rng(seed)
    return cfg, params, rng.normal(size=(SAMPLES, 4)), rng.integers(0, 3, SAMPLES)


def _run_steps(graph: DiffPCGraph) -> list[dict]:
    """Run step by step; per step the input x_A and every layer's states."""
    out = []
    for _ in range(graph.num_samples * graph.steps_per_sample):
        graph.run(1)
        out.append({"x_A0": graph.input_state(),
                    "states": [None] + [graph.layer_state(l)
                                        for l in range(1, graph.n_layers + 1)]})
    return out


def _probe_spikes(graph: DiffPCGraph, t: int) -> list[np.ndarray]:
    """Spikes sent at global step t (0-based): act0..act(L), then err1..err(L)."""
    keys = [f"act{l}" for l in range(graph.n_layers + 1)]
    keys += [f"err{l}" for l in range(1, graph.n_layers + 1)]
    return [graph.spikes(key)[:, t] for key in keys]


def _assert_ternary(graph: DiffPCGraph) -> None:
    for key in graph.probes:
        assert set(np.unique(graph.spikes(key))) <= {-1.0, 0.0, 1.0}, key


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1])
def test_float_graph_follows_reference_step_by_step(seed):
    """Every state of every layer at every step of 2 streamed samples within 1e-5; same spikes
    and predictions; every message on every DiffPC spike port is in {-1, 0, +1}."""
    cfg, params, x, labels = _network(seed)
    net = DiffPCNetwork(cfg, params, dtype=torch.float64)
    steps = SCHED.steps
    with DiffPCGraph(cfg, params, x, labels, mode="float", probe=SAMPLES * steps) as graph:
        lava = _run_steps(graph)
        spikes = [_probe_spikes(graph, t) for t in range(SAMPLES * steps)]
        _assert_ternary(graph)
        predictions = graph.predictions()
    ref_pred = []
    for i in range(SAMPLES):
        rec = []
        ref_pred.append(int(net.run(torch.tensor(x[i:i + 1]), torch.tensor(labels[i:i + 1]),
                                    record=rec).prediction[0]))
        for k, r in enumerate(rec):
            got = lava[i * steps + k]
            assert np.abs(got["x_A0"] - r["x_A0"].numpy()[0]).max() <= 1e-5
            for l in range(1, 4):
                for name, a, b in zip(LayerState._fields, got["states"][l], r["states"][l]):
                    assert np.abs(a - b.numpy()[0]).max() <= 1e-5, (i, k, l, name)
            ref_spikes = [s.numpy()[0] for s in r["s_act"]] + [s.numpy()[0] for s in r["s_err"][1:]]
            for a, b in zip(spikes[i * steps + k], ref_spikes):
                assert np.array_equal(a, b), (i, k)
    assert predictions.tolist() == ref_pred
    assert sum(np.abs(s).sum() for step in spikes for s in step[4:]) > 0  # error spikes ran


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1])
def test_fixed_graph_is_bit_exact_with_fast_simulator(seed):
    """Every integer state and every spike at every step equals lava_diffpc.fixedsim's."""
    cfg, params, x, labels = _network(seed)
    q = quantize_params(params, FMT)
    x_int = quantize_input(x, FMT)
    steps = SCHED.steps
    with DiffPCGraph(cfg, q, x_int, labels, mode="fixed", probe=SAMPLES * steps) as graph:
        lava = _run_steps(graph)
        spikes = [_probe_spikes(graph, t) for t in range(SAMPLES * steps)]
        _assert_ternary(graph)
        predictions = graph.predictions()
        lava_stats = graph.comm_stats()
        for w_lava, (w_q, _) in zip(graph.weights(), q.dequantize()):
            assert np.array_equal(w_lava, w_q)
    sim = FixedPointNetwork(cfg, q)
    sim_stats = CommStats(cfg.sizes, {"ff": SCHED.k1, "learn": SCHED.k2})
    rec = []
    result = sim.run(x_int, labels, record=rec, stats=sim_stats)
    for i in range(SAMPLES):
        for k, r in enumerate(rec):
            got = lava[i * steps + k]
            assert np.array_equal(got["x_A0"], r["x_A0"][i])
            for l in range(1, 4):
                for name, a, b in zip(LayerState._fields, got["states"][l], r["states"][l]):
                    assert np.array_equal(a, b[i]), (i, k, l, name)
            sim_spikes = [s[i] for s in r["s_act"]] + [s[i] for s in r["s_err"][1:]]
            for a, b in zip(spikes[i * steps + k], sim_spikes):
                assert np.array_equal(a, b), (i, k)
    assert predictions.tolist() == result.prediction.tolist()
    for phase in ("ff", "learn"):
        assert lava_stats.activity[phase].tolist() == sim_stats.activity[phase].tolist()
        assert lava_stats.error[phase].tolist() == sim_stats.error[phase].tolist()
        assert lava_stats.samples[phase] == sim_stats.samples[phase]


@pytest.mark.slow
def test_fixed_graph_saturates_like_the_specification():
    """Inputs beyond 24 bits saturate at quantisation; a state driven past 2**23 - 1 clips
    (it does not wrap) identically in the Lava graph and the fast simulator."""
    cfg = DiffPCConfig(sizes=(2, 2), schedule=Schedule(m=10, n=2, c1=2, c2=0))
    q = quantize_params([(np.full((2, 2), 100.0), np.zeros(2))], FMT)
    x_int = quantize_input(np.array([[1e9, -1e9], [1000.0, 1000.0]]), FMT)
    assert x_int[0].tolist() == [STATE_MAX, STATE_MIN]
    rec = []
    FixedPointNetwork(cfg, q).run(x_int, record=rec)
    with DiffPCGraph(cfg, q, x_int, mode="fixed") as graph:
        lava = _run_steps(graph)
    for i in range(2):
        for k, r in enumerate(rec):
            for a, b in zip(lava[i * 4 + k]["states"][1], r["states"][1]):
                assert np.array_equal(a, b[i])
    assert lava[-1]["states"][1].x_F.tolist() == [STATE_MAX, STATE_MAX]


def test_loihi2_backend_fails_fast_without_lava_loihi():
    from lava.utils import loihi

    if loihi.is_installed():
        pytest.skip("lava-loihi is installed here")
    with pytest.raises(RuntimeError, match="lava-loihi.*INRC.*bit-level specification"):
        run_config("fixed", "loihi2")
    cfg, params, x, _ = _network(0)
    with pytest.raises(RuntimeError, match="lava-loihi"):
        DiffPCGraph(cfg, params, x, backend="loihi2")
    with pytest.raises(ValueError, match="backend"):
        run_config("fixed", "gpu")


def test_builder_rejects_bad_input():
    cfg, params, x, _ = _network(0)
    with pytest.raises(ValueError, match="expected"):
        DiffPCGraph(cfg, params, x[:, :3])
    with pytest.raises(ValueError, match="layer 1"):
        DiffPCGraph(cfg, [(w.T, b) for w, b in params], x, mode="float")
    with pytest.raises(ValueError, match="class indices"):
        DiffPCGraph(cfg, params, x, labels=[0, 7])
    with pytest.raises(ValueError, match="mode"):
        DiffPCGraph(cfg, params, x, mode="double")


@pytest.mark.slow
def test_trained_digits_accuracy_in_fixed_point_lava():
    """Reference-trained digits weights in the fixed-point Lava graph, whole test set (360
    samples, one run() of 21,600 steps): accuracy within 1 point of the float reference,
    predictions identical to the fast simulator's."""
    from test_fixedsim import trained_digits

    cfg, params, ds = trained_digits()
    ref = DiffPCNetwork(cfg, [(torch.tensor(w), torch.tensor(b)) for w, b in params],
                        dtype=torch.float64)
    acc_ref = (ref.predict(torch.tensor(ds.x_test, dtype=torch.float64)).numpy()
               == ds.y_test).mean()
    result = run_dataset(cfg, params, ds.x_test, mode="fixed")
    acc_lava = (result.predictions == ds.y_test).mean()
    assert abs(acc_lava - acc_ref) <= 0.01
    sim = FixedPointNetwork(cfg, quantize_params(params, FMT))
    assert result.predictions.tolist() == sim.predict(quantize_input(ds.x_test, FMT)).tolist()
    assert result.stats.samples["ff"] == len(ds.y_test)
