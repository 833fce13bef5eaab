"""Convolutional DiffPC as Lava processes; oracles: the float reference (float graph) and the
fast fixed-point simulator (fixed graph, bit for bit).

The network, ``1x8x8-c3k3s1p1-c4k3s2-10`` on scikit-learn digits as 8x8 images, has two
convolutions, so the transposed convolution carries error spikes from the second conv layer
down to the first; the second one's stride leaves an output padding of 1. Every test starts
Lava's runtime (7 processes), so runs are short.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

pytest.importorskip("lava.magma", reason="lava-nc 0.10 (Python 3.10) is not installed")

from lava_diffpc.cli import main  # noqa: E402
from lava_diffpc.config import DiffPCConfig  # noqa: E402
from lava_diffpc.data import load_dataset  # noqa: E402
from lava_diffpc.fixed_point import (  # noqa: E402
    FixedFormat,
    format_for,
    quantize_input,
    quantize_params,
)
from lava_diffpc.fixedsim import FixedPointNetwork  # noqa: E402
from lava_diffpc.lava_graph import DiffPCGraph, run_dataset  # noqa: E402
from lava_diffpc.presets import parse_layers, preset  # noqa: E402
from lava_diffpc.proc.conv_synapse.process import DiffPCConvSynapse  # noqa: E402
from lava_diffpc.reference.network import DiffPCNetwork  # noqa: E402
from lava_diffpc.rules.dynamics import LayerState  # noqa: E402
from lava_diffpc.rules.fixed_learning import OnChipRule  # noqa: E402
from lava_diffpc.rules.schedule import Schedule  # noqa: E402
from lava_diffpc.train import build_model  # noqa: E402

FMT = FixedFormat()
SCHED = Schedule(m=-1, n=3, c1=2, c2=2, gamma2=0.5)  # 12 steps per sample
ARCH = "1x8x8-c3k3s1p1-c4k3s2-10"
SAMPLES = 2
FLOAT_TOL = 1e-9  # float64 states: the dense synapse's NumPy product vs torch's, same terms


def _network(seed: int = 0) -> tuple[DiffPCConfig, list, np.ndarray, np.ndarray]:
    """The conv net with its initial weights doubled (every layer spikes), digits images."""
    a = parse_layers(ARCH)
    cfg = DiffPCConfig(sizes=a.sizes, input_shape=a.input_shape, convs=a.convs,
                       schedule=SCHED)
    net = DiffPCNetwork(cfg, seed=seed, dtype=torch.float64)
    params = [(2 * w.numpy(), b.numpy()) for w, b in zip(net.weights, net.biases)]
    ds = load_dataset("digits", flatten=False)
    return cfg, params, ds.x_test[:SAMPLES], ds.y_test[:SAMPLES]


def _run_steps(graph: DiffPCGraph) -> list[list[LayerState]]:
    """Run step by step; per step every layer's six states (flat)."""
    out = []
    for _ in range(graph.num_samples * graph.steps_per_sample):
        graph.run(1)
        out.append([graph.layer_state(l) for l in range(1, graph.n_layers + 1)])
    return out


def _assert_same_counts(a, b) -> None:
    for phase in ("ff", "learn"):
        assert a.activity[phase].tolist() == b.activity[phase].tolist(), phase
        assert a.error[phase].tolist() == b.error[phase].tolist(), phase
        assert a.samples[phase] == b.samples[phase]


@pytest.mark.slow
def test_fixed_conv_graph_is_bit_exact_with_fast_simulator():
    """Every integer state of every layer at every step of 2 samples with a learning phase,
    the predictions and the spike counts equal fixedsim's; error spikes reach the first
    conv layer through the transposed convolution."""
    cfg, params, x, labels = _network()
    q = quantize_params(params, FMT)
    x_int = quantize_input(x, FMT)
    with DiffPCGraph(cfg, q, x_int, labels, mode="fixed") as graph:
        lava = _run_steps(graph)
        predictions, lava_stats = graph.predictions(), graph.comm_stats()
        kernels = graph.weights()
    for w_lava, (w_q, _) in zip(kernels, q.dequantize()):
        assert np.array_equal(w_lava, w_q)
    sim = FixedPointNetwork(cfg, q)
    sim_stats = cfg.comm_stats()
    rec = []
    result = sim.run(x_int, labels, record=rec, stats=sim_stats)
    for i in range(SAMPLES):
        for k, r in enumerate(rec):
            for l in range(1, cfg.n_layers + 1):
                for name, a, b in zip(LayerState._fields, lava[i * SCHED.steps + k][l - 1],
                                      r["states"][l]):
                    assert np.array_equal(a, b[i].reshape(-1)), (i, k, l, name)
    assert predictions.tolist() == result.prediction.tolist()
    _assert_same_counts(lava_stats, sim_stats)
    assert sim_stats.error["learn"][2] > 0  # error spikes of conv layer 2 ...
    assert any(np.abs(step[0].e_in).max() > 0 for step in lava)  # ... reached conv layer 1


@pytest.mark.slow
def test_float_conv_graph_follows_reference():
    """States of 2 samples (learning phase included) within FLOAT_TOL at every step, the
    same predictions and spike counts as the float64 reference, sample by sample."""
    cfg, params, x, labels = _network(1)
    net = DiffPCNetwork(cfg, [(torch.tensor(w), torch.tensor(b)) for w, b in params],
                        dtype=torch.float64)
    with DiffPCGraph(cfg, params, x, labels, mode="float") as graph:
        lava = _run_steps(graph)
        predictions, lava_stats = graph.predictions(), graph.comm_stats()
    ref_stats, ref_pred = cfg.comm_stats(), []
    for i in range(SAMPLES):
        rec = []
        ref_pred.append(int(net.run(torch.tensor(x[i:i + 1]), torch.tensor(labels[i:i + 1]),
                                    record=rec, stats=ref_stats).prediction[0]))
        for k, r in enumerate(rec):
            for l in range(1, cfg.n_layers + 1):
                for name, a, b in zip(LayerState._fields, lava[i * SCHED.steps + k][l - 1],
                                      r["states"][l]):
                    assert np.abs(a - b.numpy()[0].reshape(-1)).max() <= FLOAT_TOL, \
                        (i, k, l, name)
    assert predictions.tolist() == ref_pred
    _assert_same_counts(lava_stats, ref_stats)
    assert ref_stats.error["learn"][2] > 0


@pytest.mark.slow
def test_conv_inference_streams_images_like_the_simulators():
    """20 test images in one run(): fixed graph == fixedsim (predictions, spike counts),
    float graph == reference (predictions, spike counts); images or flat rows alike."""
    cfg, params, _, _ = _network(2)
    x = load_dataset("digits", flatten=False).x_test[:20]
    q = quantize_params(params, FMT)
    fixed = run_dataset(cfg, q, x, mode="fixed")
    sim_stats = cfg.comm_stats()
    sim_pred = FixedPointNetwork(cfg, q).predict(quantize_input(x, FMT), stats=sim_stats)
    assert fixed.predictions.tolist() == sim_pred.tolist()
    _assert_same_counts(fixed.stats, sim_stats)
    flat = run_dataset(cfg, params, x.reshape(len(x), -1), mode="float")
    net = DiffPCNetwork(cfg, [(torch.tensor(w), torch.tensor(b)) for w, b in params],
                        dtype=torch.float64)
    ref_stats = cfg.comm_stats()
    ref_pred = [int(net.predict(torch.tensor(x[i:i + 1]), stats=ref_stats)[0])
                for i in range(len(x))]
    assert flat.predictions.tolist() == ref_pred
    _assert_same_counts(flat.stats, ref_stats)


@pytest.mark.parametrize("kwargs, problem", [
    ({"weights": np.zeros((2, 1, 3, 2))}, "square kernel"),
    ({"weights": np.zeros((2, 3))}, "square kernel"),
    ({"in_shape": (2, 8, 8)}, "C_in = 1"),
    ({"in_shape": (8, 8)}, "C_in = 1"),
    ({"in_shape": (1, 2, 2), "padding": 0, "out_shape": None}, "does not fit"),
    ({"out_shape": (2, 8, 8)}, "gives \\(2, 4, 4\\); fix the stride"),
    ({"learn": True}, "cannot learn on chip.*--rule local"),
])
def test_conv_synapse_refuses_inconsistent_construction(kwargs, problem):
    args = {"weights": np.zeros((2, 1, 3, 3)), "in_shape": (1, 8, 8), "stride": 2,
            "padding": 1, "out_shape": (2, 4, 4), **kwargs}
    with pytest.raises(ValueError, match=problem):
        DiffPCConvSynapse(**args)


def test_conv_synapse_takes_a_real_kernel_and_quantises_it_with_the_one_format():
    """Real units in, the mantissas and exponent of ``quantize_params`` stored; a float
    synapse keeps the kernel; non-finite kernels and a float exponent are refused."""
    _, params, _, _ = _network()
    kernel = params[0][0]
    args = {"in_shape": (1, 8, 8), "stride": 1, "padding": 1, "out_shape": (3, 8, 8)}
    fixed = DiffPCConvSynapse(weights=kernel, fixed=FMT, **args)
    q = quantize_params(params, FMT)
    assert fixed.weight_exponent == q.weight_exps[0]
    assert np.array_equal(fixed.weights.init, q.weights[0])
    real = DiffPCConvSynapse(weights=kernel, **args)
    assert real.weight_exponent == 0 and np.array_equal(real.weights.init, kernel)
    with pytest.raises(ValueError, match="NaN or infinite"):
        DiffPCConvSynapse(weights=np.full_like(kernel, np.nan), **args)
    with pytest.raises(ValueError, match="a float synapse"):
        DiffPCConvSynapse(weights=kernel, weight_exp=3, **args)


def test_conv_graph_refuses_bad_kernels_and_learning():
    cfg, params, x, labels = _network()
    with pytest.raises(ValueError, match="layer 1.*expected \\(3, 1, 3, 3\\)"):
        DiffPCGraph(cfg, [(params[0][0][:, :, :2, :2], params[0][1])] + params[1:], x,
                    mode="float")
    with pytest.raises(ValueError, match="layer 2.*expected .* and \\(4,\\)"):
        DiffPCGraph(cfg, [params[0], (params[1][0], np.zeros(36))] + params[2:], x,
                    mode="float")
    with pytest.raises(ValueError, match="cannot learn on chip"):
        DiffPCGraph(cfg, params, x, labels, mode="fixed", learn=OnChipRule())
    with pytest.raises(ValueError, match="expected \\(num_samples, 64\\) or"):
        DiffPCGraph(cfg, params, x[:, :, :4], mode="float")


@pytest.mark.slow
def test_evaluate_runs_a_conv_checkpoint_on_the_lava_backends(tmp_path, capsys):
    """CLI: a conv run trained on digits images; ``evaluate --backend lava-fixed`` reproduces
    ``fixedsim`` (accuracy and spike counts), ``lava-float`` the reference."""
    out = tmp_path / "run"
    assert main(["train", "--preset", "digits", "--arch", "1x8x8-c4k3s2p1-10", "--n", "3",
                 "--c1", "2", "--c2", "2", "--epochs", "1", "--limit-train", "64",
                 "--models", "diffpc", "--out", str(out), "--no-progress",
                 "--threads", "1"]) == 0
    got = {}
    for backend in ("fixedsim", "lava-fixed", "reference", "lava-float"):
        assert main(["evaluate", str(out), "--backend", backend, "--limit-test", "12",
                     "--no-progress", "--threads", "1", "--json",
                     str(tmp_path / f"{backend}.json")]) == 0
        got[backend] = json.loads((tmp_path / f"{backend}.json").read_text())["diffpc"]
    capsys.readouterr()
    assert got["lava-fixed"]["test_acc"] == got["fixedsim"]["test_acc"]
    assert got["lava-fixed"]["comm"] == got["fixedsim"]["comm"]
    assert got["lava-float"]["test_acc"] == got["reference"]["test_acc"]
    # cost counts a conv net's spikes with fixedsim too: its feed-forward activity per
    # sample is evaluate's per-neuron figure times the layer's neurons
    assert main(["cost", str(out), "--samples", "12", "--json",
                 str(tmp_path / "cost.json")]) == 0
    capsys.readouterr()
    cost = json.loads((tmp_path / "cost.json").read_text())
    assert cost["counter"] == "fixedsim"
    ff = [row for row in cost["per_layer"] if row["phase"] == "ff"]
    per_neuron = got["fixedsim"]["comm"]["ff"]["activity_spikes"]
    assert [row["activity_spikes"] for row in ff] == pytest.approx(
        [p * row["neurons"] for p, row in zip(per_neuron, ff)])
    assert ff[0]["activity_spikes"] > 0


@pytest.mark.slow
@pytest.mark.parametrize("name, frac_bits", [("cifar-efficient", 12), ("cifar-long", 14)])
def test_cifar_preset_graphs_run_a_learning_phase_like_the_simulators(name, frac_bits):
    """The CIFAR presets' architecture (two 5x5 stride-2 convolutions, 11 processes) at its
    initial weights, one cycle per phase, one random image with its label: the fixed graph's
    final states, prediction and spike counts equal fixedsim's; the float graph's prediction
    and spike counts equal the float64 reference's. cifar-long's finest threshold,
    ``2**(1-15)``, needs ``F = 14`` fractional bits."""
    opts = {**preset(name), "c1": 1, "c2": 1, "dropout": 0.0}
    net = build_model("diffpc", opts, dtype=torch.float64, engine="plain")
    cfg = net.config
    fmt = format_for(cfg.schedule)  # the format evaluate and cost choose for the preset
    assert fmt.frac_bits == frac_bits
    params = [(w.numpy(), b.numpy()) for w, b in zip(net.weights, net.biases)]
    rng = np.random.default_rng(0)
    x, labels = rng.normal(size=(1, *cfg.input_shape)), np.array([3])
    q = quantize_params(params, fmt)
    x_int = quantize_input(x, fmt)
    with DiffPCGraph(cfg, q, x_int, labels, mode="fixed") as graph:
        graph.run()
        states = [graph.layer_state(l) for l in range(1, cfg.n_layers + 1)]
        fixed, fixed_stats = graph.predictions(), graph.comm_stats()
    sim_stats = cfg.comm_stats()
    sim = FixedPointNetwork(cfg, q, engine="plain").run(x_int, labels, stats=sim_stats)
    for l, (a, b) in enumerate(zip(states, sim.states), start=1):
        for name_, u, v in zip(LayerState._fields, a, b):
            assert np.array_equal(u, v[0].reshape(-1)), (l, name_)
    assert fixed.tolist() == sim.prediction.tolist()
    _assert_same_counts(fixed_stats, sim_stats)
    assert sim_stats.error["learn"][cfg.n_layers - 1] > 0
    with DiffPCGraph(cfg, params, x, labels, mode="float") as graph:
        graph.run()
        real, real_stats = graph.predictions(), graph.comm_stats()
    ref_stats = cfg.comm_stats()
    ref = net.run(torch.tensor(x), torch.tensor(labels), stats=ref_stats)
    assert real.tolist() == ref.prediction.tolist()
    _assert_same_counts(real_stats, ref_stats)
