"""Standard PC baseline trained by inference learning; oracles: the dense network (zero
iterations), the energy, autograd, backprop (one layer per iteration at unit step size,
and the converged linear response), training on digits, and clear errors for bad input."""

import math

import pytest
import torch

from lava_diffpc.config import DiffPCConfig
from lava_diffpc.data import load_dataset
from lava_diffpc.presets import preset
from lava_diffpc.reference.backprop import BackpropNetwork
from lava_diffpc.reference.pc import PC_ETA, PC_ITERATIONS, PCNetwork
from lava_diffpc.train import TrainConfig, Trainer, build_model

F64 = torch.float64
SIZES = (6, 8, 7, 4)


def _pc(iterations=20, eta=0.1, *, sizes=SIZES, input_gate=False, dropout=0.0,
        target_scale=1.0, seed=3) -> PCNetwork:
    cfg = DiffPCConfig(sizes=sizes, input_gate=input_gate, dropout=dropout,
                       target_scale=target_scale)
    return PCNetwork(cfg, seed=seed, dtype=F64, iterations=iterations, eta=eta)


def _twin(net: PCNetwork) -> BackpropNetwork:
    """Backprop on the same weights (MSE loss 0.5 ||target - y||^2)."""
    params = [(w.clone(), b.clone()) for w, b in zip(net.weights, net.biases)]
    return BackpropNetwork(net.config, params, dtype=F64)


def _batch(batch=6, seed=0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, SIZES[0], generator=gen, dtype=F64)
    labels = torch.randint(0, SIZES[-1], (batch,), generator=gen)
    return x, labels


def _cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a * b).sum() / (a.norm() * b.norm()))


def _energy_sum(net: PCNetwork, values, scale=None) -> torch.Tensor:
    """F summed over the batch, written from the equation (independent of the model)."""
    total = values[0].new_zeros(())
    for l, (w, b) in enumerate(zip(net.weights, net.biases), start=1):
        a = values[l - 1]
        if l > 1 or net.config.input_gate:
            a = torch.relu(a)
        if scale is not None and scale[l - 1] is not None:
            a = a * scale[l - 1]
        total = total + 0.5 * ((values[l] - a @ w.T - b) ** 2).sum()
    return total


# ---------------------------------------------------------------- oracle: the dense network
@pytest.mark.parametrize("input_gate", [False, True])
def test_zero_iterations_leave_only_the_output_error_and_give_last_layer_backprop(input_gate):
    net = _pc(iterations=0, input_gate=input_gate, target_scale=0.7)
    bp = _twin(net)
    x, labels = _batch()
    target = 0.7 * torch.nn.functional.one_hot(labels, SIZES[-1]).to(F64)
    state = net.relax(x, target)
    y = bp.forward(x).detach()
    for e in state.errors[:-1]:
        assert torch.equal(e, torch.zeros_like(e))
    torch.testing.assert_close(state.output, y, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(state.errors[-1], target - y, rtol=1e-12, atol=1e-12)

    grads, pred = net.gradients(x, labels)
    bp_grads, bp_pred = bp.gradients(x, labels)
    for g, ref in zip(grads[-2:], bp_grads[-2:]):
        torch.testing.assert_close(g, ref, rtol=1e-12, atol=1e-12)
    for g, ref in zip(grads[:-2], bp_grads[:-2]):
        assert torch.equal(g, torch.zeros_like(g))
        assert ref.abs().max() > 1e-3  # backprop does reach these layers
    assert torch.equal(pred, bp_pred) and torch.equal(net.predict(x), bp.predict(x))


# ------------------------------------------------------------------------ oracle: the energy
@pytest.mark.parametrize("input_gate, dropout", [(False, 0.0), (True, 0.0), (False, 0.3)])
def test_energy_falls_at_every_iteration_that_changes_no_relu_gate(input_gate, dropout):
    """Within one gate pattern F is a convex quadratic of the hidden values, so a small
    step lowers it; a unit crossing zero may raise it (the kink), which is not checked."""
    net = _pc(iterations=120, eta=0.05, input_gate=input_gate, dropout=dropout)
    x, labels = _batch(batch=8)
    target = net.label_target(labels, len(x))
    energies: list[float] = []
    net.relax(x, target, generator=torch.Generator().manual_seed(5), energies=energies)
    assert len(energies) == 121

    _, scale = net._dropout_masks(len(x), torch.Generator().manual_seed(5))
    values = net.feed_forward(x, scale)
    if dropout == 0.0:  # at the start only the output errs: F = 0.5 ||target - y||^2
        assert energies[0] == pytest.approx(
            float(0.5 * ((target - values[-1]) ** 2).sum(1).mean()), rel=1e-12)
    values[-1] = target

    def per_sample(vals):  # F of each sample (the batch's samples relax independently)
        return sum(0.5 * (e ** 2).sum(1) for e in net.errors(vals, scale))

    same_gates = 0
    for k in range(120):
        new = net.step(values, scale)
        assert energies[k + 1] == pytest.approx(net.energy(new, scale), rel=1e-12)
        kept = torch.stack([((a > 0) == (b > 0)).all(1)
                            for a, b in zip(values[1:-1], new[1:-1])]).all(0)
        rise = per_sample(new) - per_sample(values)
        assert (rise[kept] <= 1e-15).all(), (k, rise[kept].max())
        same_gates += int(kept.sum())
        values = new
    assert same_gates >= 400  # of 960 sample-steps: the check did run on many
    assert energies[-1] < 0.95 * energies[0]  # and inference does lower the energy


# ------------------------------------------------------------------------ oracle: autograd
@pytest.mark.parametrize("input_gate, dropout", [(False, 0.0), (True, 0.0), (True, 0.3)])
def test_value_update_is_minus_eta_times_the_energy_gradient(input_gate, dropout):
    net = _pc(eta=0.13, input_gate=input_gate, dropout=dropout)
    gen = torch.Generator().manual_seed(1)
    batch = 5
    values = [torch.randn(batch, n, generator=gen, dtype=F64) for n in SIZES]
    _, scale = net._dropout_masks(batch, torch.Generator().manual_seed(2))
    assert (dropout > 0) == any(s is not None for s in scale)
    leaves = [v.clone().requires_grad_(True) for v in values]
    energy = _energy_sum(net, leaves, scale)
    grads = torch.autograd.grad(energy, leaves[1:-1])
    new = net.step(values, scale)
    assert new[0] is values[0] and new[-1] is values[-1]  # input and target stay clamped
    for v, n, g in zip(values[1:-1], new[1:-1], grads):
        assert g.abs().max() > 1e-3
        torch.testing.assert_close(n, v - 0.13 * g, rtol=1e-12, atol=1e-12)
    assert net.energy(values, scale) == pytest.approx(float(energy) / batch, rel=1e-12)


def test_one_relaxation_step_is_one_step_from_the_feed_forward_state():
    net = _pc(iterations=1, eta=0.2)
    x, labels = _batch()
    target = net.label_target(labels, len(x))
    start = net.feed_forward(x)
    leaves = [v.clone().requires_grad_(True) for v in start[:-1]] + [target]
    grads = torch.autograd.grad(_energy_sum(net, leaves), leaves[1:-1])
    state = net.relax(x, target)
    assert grads[-1].abs().max() > 1e-3  # the output error reaches the top hidden layer
    for v, n, g in zip(start[1:-1], state.values[1:-1], grads):
        torch.testing.assert_close(n, v - 0.2 * g, rtol=1e-12, atol=1e-12)


# --------------------------------------------------------------------- oracle: backprop
@pytest.mark.parametrize("input_gate, dropout", [(False, 0.0), (True, 0.0), (False, 0.3)])
@pytest.mark.parametrize("k", [0, 1, 2])
def test_at_unit_step_size_iteration_k_gives_backprop_on_layer_L_minus_k(k, input_gate,
                                                                        dropout):
    """Zero-divergence inference learning: the output error travels down one layer per
    iteration, unchanged from backprop's; the layers below it still hold zero errors."""
    n_layers = len(SIZES) - 1
    net = _pc(iterations=k, eta=1.0, input_gate=input_gate, dropout=dropout)
    x, labels = _batch(batch=16)
    grads, _ = net.gradients(x, labels, generator=torch.Generator().manual_seed(7))
    bp_grads, _ = _twin(net).gradients(x, labels, generator=torch.Generator().manual_seed(7))
    front = n_layers - k
    for g, ref in zip(grads[2 * front - 2:2 * front], bp_grads[2 * front - 2:2 * front]):
        torch.testing.assert_close(g, ref, rtol=1e-12, atol=1e-12)
    for g, ref in zip(grads[:2 * front - 2], bp_grads[:2 * front - 2]):
        assert torch.equal(g, torch.zeros_like(g)) and ref.abs().max() > 1e-3


def test_converged_output_error_is_backprops_filtered_by_the_hidden_layer():
    """One hidden layer, a target a tiny step from the output (no gate changes): at the
    fixed point e_2 = (I + W_2 D W_2^T)^{-1} (t' - y), a linear map, so the gradients stay
    a fixed distance from backprop's however close the target is."""
    net = _pc(iterations=300, eta=0.5, sizes=(6, 9, 4))
    x, labels = _batch(batch=8)
    target = net.label_target(labels, len(x))
    values = net.feed_forward(x)
    y, gates = values[-1], (values[1] > 0).to(F64)
    w2 = net.weights[1]
    ratios = []
    for delta in (1e-5, 1e-7):
        state = net.relax(x, y + delta * (target - y))
        e2 = state.errors[-1] / delta
        for b in range(len(x)):
            expected = torch.linalg.solve(torch.eye(4, dtype=F64) + (w2 * gates[b]) @ w2.T,
                                          target[b] - y[b])
            torch.testing.assert_close(e2[b], expected, rtol=1e-6, atol=1e-9)
        ratios.append(net.weight_gradients(state)[2].norm() / delta)
    bp_grads, _ = _twin(net).gradients(x, labels)
    assert float(ratios[0] / ratios[1]) == pytest.approx(1.0, rel=1e-5)
    assert float(ratios[0] / bp_grads[2].norm()) < 0.95  # smaller than backprop's


# ------------------------------------------------------------------ training on digits
def test_pc_learns_digits():
    ds = load_dataset("digits")
    data = tuple(torch.from_numpy(a) for a in (ds.x_train, ds.y_train, ds.x_test, ds.y_test))
    opts = {**preset("digits"), "arch": "64-32-10", "seed": 0, "pc_iterations": 10,
            "pc_eta": 0.1}
    model = build_model("pc", opts)
    assert isinstance(model, PCNetwork) and (model.iterations, model.eta) == (10, 0.1)
    first = [p.clone() for p in model.parameters]
    cfg = TrainConfig(epochs=3, batch_size=32, lr=5e-3, lr_schedule="cosine")
    trainer = Trainer(model, "pc", data, cfg, None, opts)
    for _ in range(cfg.epochs):
        record = trainer.train_epoch(progress=False)
    assert record["test_acc"] >= 0.90
    assert "train_comm" not in record  # no spikes to count
    assert not torch.equal(first[0], model.parameters[0])  # the hidden layer learns too


# ------------------------------------------------------------------------- bad input
def test_build_model_defaults():
    net = build_model("pc", {**preset("digits"), "arch": "64-16-10"})
    assert (net.iterations, net.eta) == (PC_ITERATIONS, PC_ETA) == (20, 0.1)


def test_conv_architectures_are_refused():
    with pytest.raises(ValueError, match="fully connected networks only.*'diffpc' or 'bp'"):
        build_model("pc", {**preset("digits"), "arch": "1x8x8-c4k3s2-10"})


@pytest.mark.parametrize("iterations", [-1, 2.5, True, "3"])
def test_bad_iterations_are_refused(iterations):
    with pytest.raises(ValueError, match="iterations must be an integer >= 0"):
        _pc(iterations=iterations)


@pytest.mark.parametrize("eta", [0.0, -0.1, math.inf, math.nan, "0.1"])
def test_bad_step_sizes_are_refused(eta):
    with pytest.raises(ValueError, match="eta must be a finite number > 0"):
        _pc(eta=eta)


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_non_finite_input_is_refused(bad):
    net = _pc()
    x, labels = _batch()
    x[2, 3] = bad
    with pytest.raises(ValueError, match="NaN or infinite"):
        net.gradients(x, labels)
    with pytest.raises(ValueError, match="NaN or infinite"):
        net.predict(x)


@pytest.mark.parametrize("labels", [torch.tensor([0, 1, 4, 2, 3, 0]),
                                    torch.tensor([0, 1, -1, 2, 3, 0]),
                                    torch.tensor([0, 1, 2])])
def test_bad_labels_are_refused(labels):
    x, _ = _batch()
    with pytest.raises(ValueError, match=r"labels must be 6 integers in \[0, 4\)"):
        _pc().gradients(x, labels)


def test_bad_target_and_input_shapes_are_refused():
    net = _pc()
    x, _ = _batch()
    with pytest.raises(ValueError, match=r"target of shape \(6, 3\); expected \(6, 4\)"):
        net.relax(x, torch.zeros(6, 3, dtype=F64))
    with pytest.raises(ValueError, match="input of shape"):
        net.predict(x[:, :5])
