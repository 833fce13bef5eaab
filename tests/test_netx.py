"""netx export: file layout as lava-dl reads it, the exponent choice, and the Lava runs.

Oracles: lava-dl's own ``netx.hdf5.Network`` on ``Loihi2SimCfg(select_tag="fixed_pt")``
against the file's NumPy model (bit for bit), the fast fixed-point simulator's accuracy, the
float ReLU network, and a brute-force search of the exponents.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from lava_diffpc.config import ConvSpec, DiffPCConfig
from lava_diffpc.export.netx import (
    ACT_MAX,
    EXACT_FLOAT32,
    MESSAGE_MAX,
    MESSAGE_SHIFT,
    STATE_MAX,
    NetxNetwork,
    Ranges,
    choose_exponents,
    export_network,
    integer_params,
)
from lava_diffpc.reference.network import connections, init_connection_parameters, init_parameters


def _dense_net(sizes=(6, 5, 3), seed=0):
    cfg = DiffPCConfig(sizes=sizes)
    params = [(w.numpy(), b.numpy()) for w, b in init_parameters(sizes, seed, torch.float64)]
    x = np.random.default_rng(seed).normal(size=(40, sizes[0]))
    return cfg, params, x


def _float_outputs(cfg, params, x):
    h = torch.as_tensor(x, dtype=torch.float64).reshape(len(x), *cfg.input_shape)
    for conn, (w, b) in zip(connections(cfg), params):
        z = conn.affine(h, torch.as_tensor(w), torch.as_tensor(b))
        h = z.clamp(min=0)
    return z.numpy()


def test_numpy_model_follows_the_float_relu_network():
    """The integers compute the ReLU network of the 8-bit weights: the readout is
    (z_L + C) 2**a_L up to the message floors, and the argmax agrees."""
    cfg, params, x = _dense_net()
    net = export_network(cfg, params, x)
    q = integer_params(params)
    z = _float_outputs(cfg, q.dequantize(), x)
    run = net.simulate(net.encode(x))
    a_L = net.state_exps[-1] - MESSAGE_SHIFT
    offset = net.meta["output_offset"] * 2.0 ** (12 - net.state_exps[-1])
    readout = run.outputs * 2.0**-a_L - offset
    assert np.abs(readout - z).max() < 0.05 * np.abs(z).max()
    assert (run.outputs.argmax(1) == z.argmax(1)).mean() >= 0.95
    assert max(run.state_bits()) < 23 and max(run.peak_message) <= MESSAGE_MAX


def test_file_round_trip_and_foreign_files(tmp_path):
    import h5py

    cfg, params, x = _dense_net()
    net = export_network(cfg, params, x)
    back = NetxNetwork.read(net.write(tmp_path / "net.net"))
    assert back.input_exp == net.input_exp and back.state_exps == net.state_exps
    for a, b in zip(back.layers, net.layers):
        assert np.array_equal(a.weight, b.weight) and np.array_equal(a.bias, b.bias)
    assert np.array_equal(back.simulate(back.encode(x)).outputs,
                          net.simulate(net.encode(x)).outputs)
    with h5py.File(tmp_path / "other.net", "w") as f:
        f.create_group("layer")
    with pytest.raises(ValueError, match="not written by lava_diffpc"):
        NetxNetwork.read(tmp_path / "other.net")


def test_exponents_maximise_the_smallest_bit_count():
    """Brute force over a_0 and every e_l: no choice that fits the limits has more
    significant bits in its weakest weight, message or readout."""
    full = [9, 10, 8]
    w_max = [0.2, 0.1, 0.45]
    ranges = Ranges(z=[3.0, 6.0, 2.0], pos=[2.5, 5.0, 1.5], x=2.2)
    margin = 2.0
    a0, exps, states, tau = choose_exponents(full, w_max, ranges, margin)

    def bits(a0, exps):
        s, a, out = [], a0, []
        for e in exps:
            s.append(a + e)
            a = s[-1] - MESSAGE_SHIFT
        limits = [min(STATE_MAX / (margin * z), ACT_MAX / (margin * p))
                  for z, p in zip(ranges.z[:-1], ranges.pos[:-1])]
        limits.append(min(STATE_MAX, ACT_MAX) / (2 * margin * ranges.z[-1]))
        if any(2.0**sl > lim for sl, lim in zip(s, limits)):
            return None
        if margin * ranges.x * 2.0**a0 > MESSAGE_MAX:
            return None
        out += [math.log2(w) + e for w, e in zip(w_max, exps)]
        out += [math.log2(v) + sl - MESSAGE_SHIFT
                for v, sl in zip([ranges.x] + ranges.pos[:-1] + [ranges.z[-1]],
                                 [a0 + MESSAGE_SHIFT] + s)]
        return min(out), s

    got = bits(a0, exps)
    assert got is not None and got[1] == states and got[0] >= tau
    best = max(b[0] for a in range(-5, 20)
               for es in itertools.product(*[range(e - 6, e + 1) for e in full])
               if (b := bits(a, list(es))) is not None)
    assert best < tau + 0.25  # tau is searched in quarter bits


def test_conv_bias_needs_a_tap_inside_every_window():
    cfg = DiffPCConfig(sizes=(64, 4 * 10 * 10, 10), input_shape=(1, 8, 8),
                       convs=(ConvSpec(4, 3, 1, 2),))
    params = [(w.numpy(), b.numpy()) for w, b in
              init_connection_parameters(connections(cfg), 0, torch.float64)]
    with pytest.raises(ValueError, match="padding 2 leaves no kernel tap"):
        export_network(cfg, params, np.random.default_rng(0).normal(size=(8, 1, 8, 8)))


# --------------------------------------------------------------------- Lava runs
def _need_netx() -> None:
    """Skip without lava-nc and lava-dl; else let Lava set its start method first."""
    pytest.importorskip("lava.magma", reason="lava-nc 0.10 (Python 3.10) is not installed")
    from lava_diffpc._lava import require_lava

    require_lava()
    pytest.importorskip("lava.lib.dl.netx", reason="lava-dl 0.6 is not installed")


def test_layer_types_and_shapes_as_netx_reads_them(tmp_path):
    """lava-dl builds Dense blocks of SigmaDelta neurons with 16-bit messages, the shapes
    of the file, and netx's weight transform keeps our 8-bit integers exactly."""
    _need_netx()
    from lava.lib.dl.netx.blocks.process import Dense
    from lava.lib.dl.netx.hdf5 import Network
    from lava.proc.sdn.process import SigmaDelta

    cfg, params, x = _dense_net((6, 5, 3))
    net = export_network(cfg, params, x)
    lava_net = Network(net_config=str(net.write(tmp_path / "net.net")), input_message_bits=16)
    assert lava_net.inp.shape == (7,)  # 6 inputs + the constant channel
    assert lava_net.out.shape == (3,)
    assert [type(b) for b in lava_net.layers] == [Dense, Dense]
    assert [b.shape for b in lava_net.layers] == [(6,), (3,)]  # 5 hidden + 1 unit
    for block, layer in zip(lava_net.layers, net.layers):
        assert isinstance(block.neuron, SigmaDelta)
        assert block.output_message_bits == 16
        w = np.asarray(block.synapse.weights.init, dtype=np.float64)
        assert np.array_equal(w * 2.0 ** block.synapse.proc_params["weight_exp"], layer.weight)
        assert np.array_equal(np.asarray(block.neuron.bias.init), layer.bias << 12)
        assert np.all(np.asarray(block.neuron.vth.init) == 0)


@pytest.mark.slow
def test_trained_digits_on_netx_match_numpy_model_and_fixedsim():
    """Reference-trained digits (64-64-10), the whole test set (360) through lava-dl's netx:
    outputs equal the NumPy model bit for bit, accuracy within 1 point of the fast
    fixed-point simulator, every state inside 24 bits and every message inside 16."""
    _need_netx()
    from test_fixedsim import trained_digits

    from lava_diffpc.export.netx import check_on_lava
    from lava_diffpc.fixed_point import quantize_input, quantize_params
    from lava_diffpc.fixedsim import FixedPointNetwork

    cfg, params, ds = trained_digits()
    check = check_on_lava(cfg, params, ds.x_test, ds.x_train)
    assert check.bit_exact
    acc_netx = float(np.mean(check.predictions == ds.y_test))
    fixed = FixedPointNetwork(cfg, quantize_params(params)).predict(quantize_input(ds.x_test))
    acc_fixed = float(np.mean(fixed == ds.y_test))
    assert len(ds.y_test) >= 300
    assert acc_fixed > 0.9 and abs(acc_netx - acc_fixed) <= 0.01
    run = check.model
    assert max(run.peak_sigma) <= STATE_MAX and max(run.peak_state) <= STATE_MAX
    assert max(run.peak_message) <= MESSAGE_MAX
    assert check.net.meta["min_bits"] >= 5


@pytest.mark.slow
def test_small_conv_net_on_netx_bit_exact():
    """Conv (padded, strided) -> conv -> flatten -> dense -> dense on digits images: lava-dl's
    conv blocks and flatten (CHW) give the NumPy model's outputs bit for bit, and Lava's
    float32 conv sums stay exact."""
    _need_netx()
    from lava_diffpc.data import load_dataset
    from lava_diffpc.export.netx import check_on_lava

    ds = load_dataset("digits", flatten=False)
    convs = (ConvSpec(4, 3, 2, 1), ConvSpec(6, 3, 1, 0))
    cfg = DiffPCConfig(sizes=(64, 4 * 4 * 4, 6 * 2 * 2, 12, 10), input_shape=(1, 8, 8),
                       convs=convs)
    params = [(2 * w.numpy(), b.numpy()) for w, b in
              init_connection_parameters(connections(cfg), 0, torch.float64)]
    x = ds.x_test[:12]
    check = check_on_lava(cfg, params, x, ds.x_train)
    assert check.bit_exact
    assert [layer.kind for layer in check.net.layers] == ["conv", "conv", "dense", "dense"]
    assert max(check.model.peak_conv_sum) < EXACT_FLOAT32
    z = _float_outputs(cfg, integer_params(params).dequantize(), x)
    assert (check.predictions == z.argmax(1)).mean() >= 0.9
