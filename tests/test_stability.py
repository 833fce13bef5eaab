"""The relaxation-gain bound (oracles: the singular values of the explicit matrix, and the
linear stability of the target update, and the dense network's outputs for rebalancing into
the bound), ``train --max-gain`` and ``train --bound-twin``."""

import math

import pytest
import torch

from lava_diffpc.alignment import relaxation_gains
from lava_diffpc.cli import main
from lava_diffpc.config import ConvSpec, DiffPCConfig
from lava_diffpc.data import load_dataset
from lava_diffpc.presets import preset
from lava_diffpc.reference.conv import ConvConnection
from lava_diffpc.reference.network import DenseConnection
from lava_diffpc.reference.pc import PCNetwork
from lava_diffpc.reference.stability import (
    bound_relaxation_gain,
    operator_norm,
    rebalance_into_bound,
    stable_sigma,
)
from lava_diffpc.train import build_model, read_checkpoint


def test_stable_sigma_solves_the_gain_equation():
    assert stable_sigma(0.5, 1.9) == pytest.approx(math.sqrt(2.8))
    assert 0.25 * (1 + stable_sigma(0.25, 1.9) ** 2) == pytest.approx(1.9)
    with pytest.raises(ValueError, match="must exceed gamma"):
        stable_sigma(0.5, 0.5)


@pytest.mark.parametrize("name", ["cifar-efficient", "cifar-long"])
def test_cifar_presets_bound_the_singular_values_at_sqrt_2_2(name):
    """The CIFAR presets' bound 0.8 at gamma 1/4 (presets.py derives it)."""
    opts = preset(name)
    assert (opts["gamma"], opts["max_gain"]) == (0.25, 0.8)
    assert stable_sigma(opts["gamma"], opts["max_gain"]) == pytest.approx(math.sqrt(2.2))


def test_bound_keeps_the_settled_output_error_at_least_gamma_over_g_of_backprops():
    """Oracle: the PC fixed point. One hidden layer, a target a tiny step from the output
    (no gate changes): the settled output error is (I + W_2 D W_2^T)^{-1} (t' - y), so each
    sample keeps between gamma/g and all of its error. With W_2 at norm 4 some sample
    keeps less than gamma/g (0.31 for g = 0.8); after the bound none does."""
    gamma, g, delta = 0.25, 0.8, 1e-6
    cfg = DiffPCConfig(sizes=(6, 9, 4))
    x = torch.randn(32, 6, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    labels = torch.arange(32) % 4

    def kept_fractions(bound: bool) -> torch.Tensor:
        net = PCNetwork(cfg, seed=3, dtype=torch.float64, iterations=2000, eta=0.1)
        net.weights[1] *= 4.0 / operator_norm(net.connections[1], net.weights[1])
        if bound:
            bound_relaxation_gain(net.connections, net.weights, gamma, g)
        y = net.feed_forward(x)[-1]
        r = net.label_target(labels, len(x)) - y
        e2 = net.relax(x, y + delta * r).errors[-1] / delta
        return e2.norm(dim=1) / r.norm(dim=1)

    unbounded, bounded = kept_fractions(False), kept_fractions(True)
    assert unbounded.min() < 0.9 * gamma / g
    assert bounded.min() >= gamma / g * (1 - 1e-3) and bounded.max() <= 1 + 1e-6


def test_bound_scales_only_the_feedback_matrices_above_it():
    """W_1 never feeds a hidden layer's relaxation; W_2 (a strided convolution) and W_3
    above the bound end on it, W_4 below it is left as it was."""
    torch.manual_seed(0)
    conv1 = ConvConnection(ConvSpec(channels=2, kernel=3, stride=1), (1, 8, 8))
    conv2 = ConvConnection(ConvSpec(channels=3, kernel=3, stride=2), (2, 6, 6))
    dense3, dense4 = DenseConnection((3, 2, 2), 6), DenseConnection((6,), 4)
    conns = [conv1, conv2, dense3, dense4]
    weights = [5 * torch.randn(2, 1, 3, 3, dtype=torch.float64),
               5 * torch.randn(3, 2, 3, 3, dtype=torch.float64),
               5 * torch.randn(6, 12, dtype=torch.float64),
               0.01 * torch.randn(4, 6, dtype=torch.float64)]
    before = [w.clone() for w in weights]
    factors = bound_relaxation_gain(conns, weights, gamma=0.5, max_gain=1.9)
    limit = stable_sigma(0.5, 1.9)
    assert torch.equal(weights[0], before[0]) and torch.equal(weights[3], before[3])
    assert factors[0] < 1 and factors[1] < 1 and factors[2] == 1.0
    for conn, w, w0, f in zip(conns[1:3], weights[1:3], before[1:3], factors[:2]):
        assert torch.allclose(w, f * w0)
        assert operator_norm(conn, w, iters=300) == pytest.approx(limit, rel=1e-2)


@pytest.mark.parametrize("scale", [5.0, 0.2])
def test_rebalancing_moves_a_network_into_the_bound_with_its_outputs_unchanged(scale):
    """Oracle: the dense network's forward pass and the explicit matrices' singular values.
    Feedback matrices far above the bound (scale 5) or far below it (0.2) end just inside
    it, and every output stays what it was (ReLU is positively homogeneous)."""
    net = build_model("bp", {**preset("digits"), "arch": "12-9-7-4", "dropout": 0.0},
                      dtype=torch.float64)
    assert tuple(net.config.sizes) == (12, 9, 7, 4)
    for w, b in zip(net.weights, net.biases):
        w.mul_(scale)
        b.copy_(torch.randn(b.shape, generator=torch.Generator().manual_seed(1)))
    x = torch.randn(32, 12, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    before = net.forward(x)
    scales = rebalance_into_bound(net, gamma=0.25, max_gain=0.8)
    assert len(scales) == 2 and all(c > 0 for c in scales)
    assert torch.allclose(net.forward(x), before, rtol=1e-10, atol=1e-10)
    limit = stable_sigma(0.25, 0.8)
    for w in net.weights[1:]:
        assert torch.linalg.matrix_norm(w, 2) == pytest.approx(limit * (1 - 1e-3), rel=1e-6)


def test_bound_makes_an_unstable_learning_phase_settle():
    """Oracle: linear stability. With the output matrix at norm 3 the relaxation gain is
    above 2 (the hidden targets keep moving, see test_alignment); after the bound at 1.5
    it is at most 1.5 and the last cycle moves the targets less than a fifth of the
    largest move."""
    ds = load_dataset("digits")
    x, y = torch.from_numpy(ds.x_train[:64]), torch.from_numpy(ds.y_train[:64])
    opts = {**preset("digits"), "arch": "64-32-10", "m": -2, "n": 6, "c1": 6, "c2": 12,
            "seed": 0, "gamma": 0.5}
    net = build_model("diffpc", opts)
    weights = [w.clone() for w in net.weights]
    weights[1] *= 3.0 / operator_norm(net.connections[1], weights[1])
    bound_relaxation_gain(net.connections, weights, gamma=0.5, max_gain=1.5)
    net = build_model("diffpc", opts, params=list(zip(weights, net.biases)))
    record: list = []
    result = net.run(x, y, record=record)
    (gain,) = relaxation_gains(0.5, net.connections, weights, [result.states[0].x_T])
    assert gain <= 1.5 * 1.01
    k1, n = opts["c1"] * opts["n"], opts["n"]
    ends = [record[k]["states"][1].x_T for k in range(k1 - 1, len(record), n)]
    moves = [float((b - a).abs().mean()) for a, b in zip(ends, ends[1:])]
    assert moves[-1] < 0.2 * max(moves), moves


def test_train_keeps_diffpc_within_the_bound_and_leaves_the_twin(tmp_path):
    """A bound tight enough to bind: DiffPC's W_2 ends on it, the backprop twin's above."""
    run = tmp_path / "run"
    assert main(["train", "--preset", "digits", "--epochs", "1", "--limit-train", "512",
                 "--gamma", "0.5", "--max-gain", "0.6", "--out", str(run),
                 "--no-progress", "--threads", "1"]) == 0
    limit = stable_sigma(0.5, 0.6)
    sigmas = {}
    for kind in ("diffpc", "bp"):
        state = read_checkpoint(run / f"checkpoint-{kind}.pt")
        assert state["train_cfg"]["max_gain"] == 0.6
        w2 = state["params"][2]
        sigmas[kind] = float(torch.linalg.matrix_norm(w2, 2))
    assert sigmas["diffpc"] == pytest.approx(limit, rel=1e-2)
    assert sigmas["bp"] > 1.2 * limit


def test_bound_twin_holds_both_twins_to_diffpcs_bound(tmp_path):
    """``--bound-twin``: the backprop twins' W_2 (squared error and cross-entropy alike) end
    on the same bound as DiffPC's; W_1, which the bound leaves free, stays unbounded."""
    run = tmp_path / "run"
    assert main(["train", "--preset", "digits", "--epochs", "1", "--limit-train", "512",
                 "--gamma", "0.5", "--max-gain", "0.6", "--bound-twin",
                 "--models", "diffpc,bp,bp-ce", "--out", str(run),
                 "--no-progress", "--threads", "1"]) == 0
    limit = stable_sigma(0.5, 0.6)
    for kind in ("diffpc", "bp", "bp-ce"):
        state = read_checkpoint(run / f"checkpoint-{kind}.pt")
        assert state["train_cfg"]["bound_twin"] is True
        w1, w2 = state["params"][0], state["params"][2]
        assert float(torch.linalg.matrix_norm(w2, 2)) == pytest.approx(limit, rel=1e-2), kind
        assert float(torch.linalg.matrix_norm(w1, 2)) > 2 * limit, kind


@pytest.mark.parametrize("extra, message", [
    (["--bound-twin"], "--bound-twin holds the backprop twins to the bound of --max-gain; "
                       "pass --max-gain as well"),
    (["--bound-twin", "--gamma", "0.5", "--max-gain", "0.6", "--models", "diffpc,pc"],
     "--bound-twin bounds a backprop twin, and --models diffpc,pc trains none"),
    (["--gamma", "0.5", "--max-gain", "0.4"], "must exceed gamma"),
    (["--rule", "onchip", "--max-gain", "1.9"], "on-chip rule has no such step"),
    (["--max-gain", "-1"], "--max-gain -1.0 is out of range"),
])
def test_train_refuses_a_bound_it_cannot_keep(tmp_path, capsys, extra, message):
    run = tmp_path / "run"
    code = main(["train", "--preset", "digits", "--epochs", "1", "--limit-train", "64",
                 "--out", str(run), "--no-progress", *extra])
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not run.exists() or not any(run.iterdir())
