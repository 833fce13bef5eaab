"""Convolutional DiffPC; oracles: autograd, the dense conv-ReLU network, hand counts."""

import json
import os
from pathlib import Path

import pytest
import torch

from lava_diffpc.cli import main
from lava_diffpc.commands.common import split_heldout
from lava_diffpc.config import ConvSpec, DiffPCConfig
from lava_diffpc.data import CIFAR10_NPZ, DATA_ENV, load_dataset
from lava_diffpc.metrics import CommStats
from lava_diffpc.presets import parse_layers, preset
from lava_diffpc.reference.backprop import BackpropNetwork
from lava_diffpc.reference.conv import ConvConnection
from lava_diffpc.reference.network import DenseConnection, DiffPCNetwork
from lava_diffpc.rules.schedule import Schedule
from lava_diffpc.train import TrainConfig, Trainer, build_model

F64 = torch.float64
CIFAR_DIR = Path(os.environ[DATA_ENV]) if os.environ.get(DATA_ENV) else None


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def conv_config(arch: str, schedule: Schedule, **kw) -> DiffPCConfig:
    a = parse_layers(arch)
    return DiffPCConfig(sizes=a.sizes, input_shape=a.input_shape, convs=a.convs,
                        schedule=schedule, **kw)


@pytest.mark.parametrize("spec, in_shape", [(ConvSpec(4, 3, 2, 1), (2, 9, 9)),
                                            (ConvSpec(3, 3, 2), (2, 10, 10)),
                                            (ConvSpec(5, 5, 2), (3, 32, 32))])
def test_conv_local_update_is_the_energy_gradient_holding_x_T_fixed(spec, in_shape):
    """``local_gradients(e_T, pre) == d/d(W, b) 0.5/B ||x_T - conv(pre, W) - b||^2``."""
    conn = ConvConnection(spec, in_shape)
    pre = torch.randn(3, *in_shape, dtype=F64, generator=_gen(0))
    x_T = torch.randn(3, *conn.out_shape, dtype=F64, generator=_gen(1))
    w = torch.randn(conn.weight_shape, dtype=F64, generator=_gen(2), requires_grad=True)
    b = torch.randn(conn.bias_shape, dtype=F64, generator=_gen(3), requires_grad=True)
    e_T = x_T - conn.affine(pre, w, b)
    energy = 0.5 * (e_T**2).sum() / len(pre)
    auto_w, auto_b = torch.autograd.grad(energy, (w, b))
    local_w, local_b = conn.local_gradients(e_T.detach(), pre)
    assert local_w.shape == conn.weight_shape and local_b.shape == conn.bias_shape
    assert torch.allclose(local_w, auto_w, rtol=1e-12, atol=1e-12)
    assert torch.allclose(local_b, auto_b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("spec, in_shape", [(ConvSpec(4, 3, 2, 1), (2, 9, 9)),
                                            (ConvSpec(3, 3, 2), (2, 10, 10)),
                                            (ConvSpec(3, 2, 3), (1, 8, 8))])
def test_transpose_path_is_the_vector_jacobian_product_of_the_conv(spec, in_shape):
    """``W^T e`` (conv_transpose2d with the matching output_padding) equals autograd's
    VJP of ``s -> conv(s, W)``, with the input's full shape (also when the stride does not
    divide the input)."""
    conn = ConvConnection(spec, in_shape)
    s = torch.randn(2, *in_shape, dtype=F64, generator=_gen(0), requires_grad=True)
    w = torch.randn(conn.weight_shape, dtype=F64, generator=_gen(1))
    e = torch.randn(2, *conn.out_shape, dtype=F64, generator=_gen(2))
    (vjp,) = torch.autograd.grad(conn.forward(s, w), s, e)
    assert torch.allclose(conn.transpose(e, w), vjp, rtol=1e-12, atol=1e-12)


def test_dense_connection_flattens_a_feature_map_and_reshapes_its_transpose():
    conn = DenseConnection((2, 3, 3), 4)
    s = torch.randn(5, 2, 3, 3, dtype=F64, generator=_gen(0), requires_grad=True)
    w = torch.randn(conn.weight_shape, dtype=F64, generator=_gen(1))
    e = torch.randn(5, 4, dtype=F64, generator=_gen(2))
    out = conn.forward(s, w)
    assert torch.allclose(out, s.reshape(5, -1) @ w.T)
    (vjp,) = torch.autograd.grad(out, s, e)
    assert torch.allclose(conn.transpose(e, w), vjp)


def _op_norm(conn, w: torch.Tensor) -> float:
    """Infinity norm of the connection's linear map: the largest sum of |weights| that
    reaches one neuron (row abs-sum; for a convolution, over one output channel's kernel)."""
    return w.abs().reshape(w.shape[0], -1).sum(1).max().item()


@pytest.mark.parametrize("n", [3, 4, 6, 8])
def test_conv_feed_forward_phase_converges_to_the_dense_conv_relu_network(n):
    """As for the MLP (tests/test_reference.py): after enough cycles every announced value
    is within one of the last thresholds of its target, and the output at the last
    feed-forward step sees layer ``L - j`` through spikes ``j`` steps old, i.e. within
    ``2^j T_min`` (``T_min = 2^(m-n+1)``). With the connections' infinity norms ``|W|``::

        |y_ff - y_dense| <= sum_{j=1..L} |W_L| ... |W_{L-j+1}| 2^j T_min

    which halves with every extra step per cycle.
    """
    cfg = conv_config("2x9x9-c3k3s2p1-c4k3s2-6-4", Schedule(m=0, n=n, c1=12, c2=0))
    net = DiffPCNetwork(cfg, seed=3, dtype=F64)
    x = torch.randn(16, 2, 9, 9, dtype=F64, generator=_gen(1))
    dense = BackpropNetwork(cfg, list(zip(net.weights, net.biases)), dtype=F64).forward(x)
    err = (net.run(x).output - dense).abs().max().item()
    t_min = 2.0 ** (0 - n + 1)
    norms = [_op_norm(c, w) for c, w in zip(net.connections, net.weights)]
    bound, gain = 0.0, 1.0
    for j in range(1, len(norms) + 1):
        gain *= norms[-j]
        bound += gain * 2**j * t_min
    assert err <= bound
    assert err < 2.0 ** (2 - n)  # and it does shrink with n in practice


def test_conv_network_counts_spikes_per_channel_and_position():
    """CommStats sizes are C*H*W per feature map; the counts equal the recorded spikes."""
    sched = Schedule(m=0, n=3, c1=2, c2=2)
    cfg = conv_config("1x6x6-c2k3s1-5-3", sched)
    assert cfg.sizes == (36, 32, 5, 3) and cfg.shapes == [(1, 6, 6), (2, 4, 4), (5,), (3,)]
    net = DiffPCNetwork(cfg, seed=0, dtype=F64)
    stats = CommStats(cfg.sizes, {"ff": sched.k1, "learn": sched.k2})
    record: list = []
    net.run(torch.randn(4, 36, dtype=F64, generator=_gen(0)), torch.tensor([0, 1, 2, 0]),
            stats=stats, record=record)  # a flat batch is reshaped to (4, 1, 6, 6)
    for phase, steps in (("ff", record[:sched.k1]), ("learn", record[sched.k1:])):
        act = [sum(int((r["s_act"][l] != 0).sum()) for r in steps) for l in range(3)]
        err = [sum(int((r["s_err"][l] != 0).sum()) for r in steps) for l in range(2, 4)]
        assert stats.activity[phase].tolist() == act + [0]
        assert stats.error[phase].tolist() == [0, 0] + err
    assert record[0]["states"][1].x_T.shape == (4, 2, 4, 4)


def test_conv_dropout_acts_on_hidden_fully_connected_layers_only():
    cfg = conv_config("1x6x6-c2k3s1-8-6-3", Schedule(m=0, n=3, c1=2, c2=2), dropout=0.5)
    assert cfg.dropout_layers == [2, 3]
    net = DiffPCNetwork(cfg, seed=0, dtype=F64)
    keep, _ = net._dropout_masks(4, _gen(5))
    assert keep[1] is None and keep[2].shape == (4, 8) and keep[3].shape == (4, 6)


def test_diffpc_and_backprop_share_the_conv_initialisation():
    cfg = conv_config("3x32x32-c32k5s2-c64k5s2-512-128-10", Schedule())
    d, b = DiffPCNetwork(cfg, seed=7), BackpropNetwork(cfg, seed=7)
    assert [tuple(p.shape) for p in d.parameters] == [
        (32, 3, 5, 5), (32,), (64, 32, 5, 5), (64,), (512, 1600), (512,), (128, 512), (128,),
        (10, 128), (10,)]
    assert all(torch.equal(p, q) for p, q in zip(d.parameters, b.parameters))
    bound = 1 / (3 * 5 * 5) ** 0.5  # nn.Conv2d's: 1/sqrt(fan_in)
    assert 0.9 * bound < d.weights[0].abs().max() <= bound


@pytest.mark.slow
def test_a_tiny_conv_net_learns_digits_as_8x8_images():
    ds = load_dataset("digits", flatten=False)
    data = tuple(torch.from_numpy(a) for a in (ds.x_train[:480], ds.y_train[:480],
                                               ds.x_test, ds.y_test))
    opts = {**preset("digits"), "arch": "1x8x8-c6k3s2p1-32-10", "c1": 4, "c2": 4,
            "dropout": 0.1, "seed": 0}
    cfg = TrainConfig(epochs=3, batch_size=16, lr=3e-3, lr_schedule="constant")
    accs = {}
    for kind in ("diffpc", "bp"):
        trainer = Trainer(build_model(kind, opts, dtype=F64), kind, data, cfg, None, opts)
        for _ in range(cfg.epochs):
            record = trainer.train_epoch(progress=False)
        accs[kind] = record["test_acc"]
    assert accs["diffpc"] > 0.6 and accs["bp"] > 0.6, accs  # chance: 0.1


@pytest.mark.parametrize("arch, problem", [
    ("3x32-c32k5s2-10", "must be N or CxHxW"),
    ("3x32x32-512-c32k5s2-10", "convolutions must come before"),
    ("784-c32k5-10", "need a CxHxW input"),
    ("3x32x32-c32k5s2", "at least one fully connected layer"),
    ("3x32x32-c32k40s2-10", "does not fit its 32x32 input"),
    ("3x32x32-c32kxs2-10", "'c32kxs2' is no convolution"),
    ("3x32x32-c0k5-10", "channels, kernel and stride >= 1"),
    ("784-0-10", "widths must be positive"),
    ("abc-10", "neither N nor CxHxW"),
])
def test_bad_arch_strings_raise_clear_errors(arch, problem):
    with pytest.raises(ValueError, match=f"bad --arch '{arch}': .*{problem}"):
        parse_layers(arch)


def test_arch_strings_parse_to_layers():
    a = parse_layers("3x32x32-c32k5s2-c64k5s2-512-128-10")
    assert a.input_shape == (3, 32, 32) and a.widths == (512, 128, 10)
    assert [str(c) for c in a.convs] == ["c32k5s2", "c64k5s2"]
    assert a.sizes == (3072, 32 * 14 * 14, 64 * 5 * 5, 512, 128, 10)
    assert parse_layers("784-400-10").sizes == (784, 400, 10)
    assert parse_layers("1x8x8-c4k3p1-10").convs == (ConvSpec(4, 3, 1, 1),)


def test_config_rejects_sizes_that_do_not_match_the_convolutions():
    with pytest.raises(ValueError, match=r"the first layers have \[36, 32\] neurons"):
        DiffPCConfig(sizes=(36, 30, 3), input_shape=(1, 6, 6), convs=(ConvSpec(2, 3),))
    with pytest.raises(ValueError, match="a fully connected output last"):
        DiffPCConfig(sizes=(36, 32), input_shape=(1, 6, 6), convs=(ConvSpec(2, 3),))
    net = DiffPCNetwork(conv_config("1x6x6-c2k3s1-3", Schedule()), seed=0)
    with pytest.raises(ValueError, match=r"expected \(batch, 1, 6, 6\) or \(batch, 36\)"):
        net.run(torch.zeros(2, 35))


@pytest.mark.skipif(CIFAR_DIR is None or not (CIFAR_DIR / CIFAR10_NPZ).exists(),
                    reason=f"CIFAR-10: set {DATA_ENV} to a folder with {CIFAR10_NPZ}")
@pytest.mark.slow
def test_cli_trains_a_tiny_conv_preset_override_on_cifar(tmp_path, capsys):
    """Training on CIFAR-10 with a held-out split drawn from --limit-train samples; oracle:
    ``evaluate`` on the checkpoints reproduces the run's last test and held-out accuracies
    exactly (same weights, same test split, the run's own held-out samples)."""
    out = tmp_path / "run"
    args = ["train", "--preset", "cifar-efficient", "--arch", "3x32x32-c4k5s2-c8k5s2-16-10",
            "--n", "4", "--c1", "1", "--c2", "1", "--epochs", "1", "--batch-size", "32",
            "--limit-train", "96", "--limit-test", "40", "--heldout", "32",
            "--data-dir", str(CIFAR_DIR), "--out", str(out), "--no-progress", "--threads", "1"]
    assert main(args) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["n_train"] == 64 and results["n_test"] == 40 and results["n_heldout"] == 32
    assert "held out" in results["notes"] and "heldout_acc" in results["notes"]
    assert results["diffpc"]["epochs_done"] == results["bp"]["epochs_done"] == 1
    assert results["diffpc"]["history"][0]["train_comm"]["ff"]["activity_spikes_all"] > 0
    capsys.readouterr()
    assert main(["evaluate", str(out), "--data-dir", str(CIFAR_DIR), "--limit-test", "40",
                 "--no-progress", "--json", str(tmp_path / "e.json")]) == 0
    evaluated = json.loads((tmp_path / "e.json").read_text())
    for model in ("diffpc", "bp"):
        assert evaluated[model]["backend"] == results[model]["backend"] == "reference"
        assert evaluated[model]["test_acc"] == results[model]["final_test_acc"]
        assert evaluated[model]["heldout_acc"] == results[model]["final_heldout_acc"]


def test_heldout_split_standardises_the_test_split_like_the_remaining_training_set():
    ds = load_dataset("digits", flatten=False)
    main_ds, held = split_heldout(ds, 100)
    assert len(held.x_test) == 100 and len(main_ds.x_train) == len(ds.x_train) - 100
    assert torch.equal(torch.from_numpy(main_ds.y_test), torch.from_numpy(ds.y_test))
    raw = ds.x_test * ds.std[0] + ds.mean[0]  # back to the [0, 1] pixel scale
    expected = (raw - main_ds.mean[0]) / main_ds.std[0]
    assert abs(main_ds.x_test - expected).max() < 1e-5
    assert abs(main_ds.x_train.mean()) < 1e-5 and abs(main_ds.x_train.std() - 1) < 1e-4
    same, none = split_heldout(ds, 0)
    assert same is ds and none is None
