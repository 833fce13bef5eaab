"""The float reference; oracles: a hand-traced network, the dense ReLU network, hand counts."""

import numpy as np
import pytest
import torch

from lava_diffpc.config import DiffPCConfig
from lava_diffpc.metrics import BITS_PER_SPIKE, CommStats, count_spikes
from lava_diffpc.reference.network import DiffPCNetwork
from lava_diffpc.rules.dynamics import ternary_spike, track
from lava_diffpc.rules.learning import local_gradients, sgd_bias_update, sgd_update
from lava_diffpc.rules.schedule import Schedule

F64 = torch.float64


def hand_network(presyn: str = "x_T") -> DiffPCNetwork:
    """1-1-1 network: W1 = 1, W2 = 0.5, no bias; m = 0, n = 2 (T = 1, 0.5), 2 + 2 cycles."""
    sched = Schedule(m=0, n=2, c1=2, c2=2, gamma2=0.5)
    cfg = DiffPCConfig(sizes=(1, 1, 1), schedule=sched, presyn=presyn)
    params = [(torch.tensor([[1.0]]), torch.tensor([0.0])),
              (torch.tensor([[0.5]]), torch.tensor([0.0]))]
    return DiffPCNetwork(cfg, params, dtype=F64)


def test_hand_traced_network_gives_the_hand_computed_local_update():
    """Trace (input x = 1.5, target 1), every number dyadic so float64 is exact:

    k  T    input          layer 1                         layer 2
    0  1    s=+1, x_A=1    x_F=0 x_T=0                     x_F=0
    1  .5   -              x_F=1, x_T=1, s=+1, x_A=.5      -
    2  1    -              -                               x_F=.25, x_T=.25
    3  .5   -              -                               (prediction x_T = .25)
    4  1    -              e_T=0, x_T=1                    clamp x_T=1, e_T=.75
    5  .5   -              -                               s_A=+1, s_e=+1 (e_A=.5)
    6  1    -              e_in=.5*.5=.25, x_T=1.125       -
    7  .5   -              e_T=.125, s=+1, x_A=1           -
    Local update: layer 2: e_T=.75, pre=relu(x_T^1)=1.125; layer 1: e_T=.125, pre=x^0=1.5.
    """
    net = hand_network()
    stats = CommStats((1, 1, 1), {"ff": 4, "learn": 4})
    res = net.run(torch.tensor([[1.5]], dtype=F64), torch.tensor([0]), stats=stats)
    assert res.output.item() == 0.25
    (gw1, gb1), (gw2, gb2) = res.grads
    assert (gw1.item(), gb1.item()) == (-0.1875, -0.125)  # W1 += alpha * 0.125 * 1.5
    assert (gw2.item(), gb2.item()) == (-0.84375, -0.75)  # W2 += alpha * 0.75 * 1.125
    # transmitted spikes: ff: input 1, layer-1 activity 1; learn: layer-1 activity 1,
    # layer-2 error 1 (layer 2's own activity spike has no receiver and is not counted)
    assert stats.activity["ff"].tolist() == [1, 1, 0]
    assert stats.activity["learn"].tolist() == [0, 1, 0]
    assert stats.error["learn"].tolist() == [0, 0, 1]
    s1 = res.states[0]
    assert (s1.x_T.item(), s1.x_A.item(), s1.e_in.item()) == (1.125, 1.0, 0.25)


def test_hand_traced_network_with_the_on_chip_presynaptic_factor():
    """Same trace; the synapse sees x_A (accumulated spikes): x_A^0 = 1, x_A^1 = 1."""
    (gw1, _), (gw2, _) = hand_network("x_A").run(
        torch.tensor([[1.5]], dtype=F64), torch.tensor([0])).grads
    assert (gw1.item(), gw2.item()) == (-0.125, -0.75)


def test_local_gradients_are_the_batch_mean_outer_product():
    e = torch.tensor([[1.0, -2.0], [3.0, 0.5]], dtype=F64)
    pre = torch.tensor([[0.5, 1.0, 0.0], [2.0, -1.0, 1.0]], dtype=F64)
    gw, gb = local_gradients(e, pre)
    by_hand = -np.array([[1 * .5 + 3 * 2, 1 * 1 + 3 * -1, 0 + 3 * 1],
                         [-2 * .5 + .5 * 2, -2 * 1 + .5 * -1, 0 + .5 * 1]]) / 2
    assert np.array_equal(gw.numpy(), by_hand)
    assert gb.tolist() == [-2.0, 0.75]


def test_sgd_updates_by_hand():
    w = np.array([[1.0, 0.0], [0.0, 1.0]])
    e = np.array([[0.5, -1.0], [1.5, 0.0]])  # 2 samples, 2 post neurons
    pre = np.array([[2.0, 0.0], [0.0, 4.0]])
    # W + alpha * mean_b(e pre^T), alpha = 0.5: mean = [[0.5, 3], [-1, 0]]
    assert sgd_update(w, e, pre, 0.5).tolist() == [[1.25, 1.5], [-0.5, 1.0]]
    # b + alpha * mean_b(e): mean = [1, -0.5]
    assert sgd_bias_update(np.array([0.0, 1.0]), e, 0.5).tolist() == [0.5, 0.75]


def test_comm_stats_of_a_config_cover_both_phases():
    cfg = DiffPCConfig(sizes=(4, 3, 2), schedule=Schedule(n=2, c1=3, c2=1))
    stats = cfg.comm_stats()
    assert stats.sizes == (4, 3, 2) and stats.steps == {"ff": 6, "learn": 2}


@pytest.mark.parametrize("n", [3, 4, 6, 8])
def test_feed_forward_phase_converges_to_the_dense_relu_network(n):
    """After enough cycles every announced value is within one of the last thresholds of
    its target. Spikes of the last steps are still in flight, so the output at the last
    feed-forward step sees layer 1 within ``2 T_min`` and the input within ``4 T_min``
    (T_min = 2^(m-n+1)). With row-abs-sum norms ``|W|``:
    ``|y_ff - y_dense| <= |W2| (2 T_min + |W1| 4 T_min)``; the bound halves with every n.
    """
    sched = Schedule(m=0, n=n, c1=12, c2=0)
    cfg = DiffPCConfig(sizes=(20, 30, 5), schedule=sched)
    net = DiffPCNetwork(cfg, seed=3, dtype=F64)
    x = torch.randn(64, 20, dtype=F64, generator=torch.Generator().manual_seed(1))
    (w1, w2), (b1, b2) = net.weights, net.biases
    dense = torch.relu(x @ w1.T + b1) @ w2.T + b2
    err = (net.run(x).output - dense).abs().max().item()
    t_min = 2.0 ** (0 - n + 1)
    norm = lambda w: w.abs().sum(1).max().item()  # noqa: E731
    bound = norm(w2) * (2 * t_min + norm(w1) * 4 * t_min)
    assert err <= bound
    assert err < 2.0 ** (3 - n)  # and it does shrink with n in practice


def test_ternary_spike_and_gate_by_hand():
    d = np.array([2.0, -2.0, 0.5, -0.5, 1.0, -1.0])
    assert ternary_spike(d, 1.0).tolist() == [1, -1, 0, 0, 0, 0]  # |d| = T: no spike
    x_A = np.array([0.0, 0.5, 1.0, 2.0])
    _, s = track(x_A - 2.0, x_A, 1.0, gate=False)
    assert s.tolist() == [-1, -1, -1, -1]
    new, s = track(x_A - 2.0, x_A, 1.0, gate=True)
    assert s.tolist() == [0, 0, 0, -1] and new.tolist() == [0.0, 0.5, 1.0, 1.0]  # never <= 0


@pytest.mark.parametrize("lib", ["numpy", "torch", "torch-compiling"])
@pytest.mark.parametrize("dtype", ["float32", "float64", "int64"])
@pytest.mark.parametrize("kind", ["number", "0-d", "per-element"])
def test_spike_and_mask_helpers_equal_their_comparison_definitions(lib, dtype, kind,
                                                                    monkeypatch):
    """Each form of the spike rule, of ``1[v > 0]``, of the dead zone ``v - clip(v, -T, T)``
    and of a state moved by spikes ``v + T s`` (NumPy; eager PyTorch's ``sign``,
    ``softshrink`` and ``addcmul``; the comparisons PyTorch uses while ``torch.compile``
    traces) against the definitions, with the threshold as a number, a 0-d array (the
    engines' form) and one per element, at the band's edges, one unit of least precision
    either side of them, and at zero (signed zeros included)."""
    from lava_diffpc.rules import arithmetic
    from lava_diffpc.rules.arithmetic import add_spikes, dead_zone, positive

    monkeypatch.setattr(arithmetic, "_compiling", lambda: lib == "torch-compiling")

    T = 3 if dtype == "int64" else 0.375
    edges = [T, -T, 0.0, -0.0]
    if dtype == "int64":
        base = [T - 1, T + 1, -T - 1, -T + 1, 1, -1, 7, -7]
    else:
        ulp = [np.nextafter(np.array(e, dtype=dtype), np.array(np.inf * w, dtype=dtype))
               for e in (T, -T) for w in (1, -1)]
        base = [float(u) for u in ulp] + [1e-30, -1e-30, 2.5, -2.5]
    rng = np.random.default_rng(0)
    noise = (rng.integers(-9, 10, 64) if dtype == "int64" else rng.normal(0, 1, 64)).tolist()
    values = np.array(edges + base + noise, dtype=dtype)
    t_np = np.asarray(T, dtype=dtype)
    expected_spike = (values > T).astype(np.int64) - (values < -T).astype(np.int64)
    expected_positive = (values > 0).astype(np.int64)
    expected_dead = values - np.clip(values, -t_np, t_np)
    spikes = expected_spike.astype(dtype)
    expected_moved = values + t_np * spikes
    arr = values if lib == "numpy" else torch.from_numpy(values)
    as_lib = np.asarray if lib == "numpy" else torch.from_numpy
    threshold = {"number": T, "0-d": as_lib(t_np[()] if lib == "numpy" else t_np),
                 "per-element": as_lib(np.full_like(values, T))}[kind]
    got = {"spike": ternary_spike(arr, threshold), "positive": positive(arr),
           "dead zone": dead_zone(arr, threshold),
           "moved": add_spikes(arr, threshold, as_lib(spikes))}
    got = {name: np.asarray(v) for name, v in got.items()}
    assert all(v.dtype == values.dtype for v in got.values())
    assert got["spike"].tolist() == expected_spike.tolist()
    assert got["positive"].tolist() == expected_positive.tolist()
    assert got["dead zone"].tolist() == expected_dead.tolist()
    assert got["moved"].tolist() == expected_moved.tolist()


def test_spike_counting_and_bits_on_a_hand_made_spike_train():
    stats = CommStats((3, 2, 2), {"ff": 4, "learn": 4})
    train = np.array([[1, 0, -1], [0, 0, 0], [-1, 1, 0], [0, 0, 1]])  # 3 neurons, 4 steps
    assert count_spikes(train) == 5
    stats.add("ff", 0, activity=count_spikes(train))
    stats.add("learn", 2, error=3)
    stats.add_samples("ff", 1)
    stats.add_samples("learn", 1)
    ff, learn = stats.per_neuron("ff"), stats.per_neuron("learn")
    assert ff["activity_spikes"] == [5 / 3, 0, 0]
    assert ff["activity_spikes_all"] == 5 / 7
    assert ff["activity_bits_all"] == BITS_PER_SPIKE * 5 / 7 == 10 / 7
    assert learn["error_spikes"] == [0, 0, 1.5] and learn["error_bits_all"] == 6 / 7


def test_batched_run_equals_sample_by_sample_runs():
    cfg = DiffPCConfig(sizes=(6, 8, 3), schedule=Schedule(m=0, n=3, c1=3, c2=3))
    net = DiffPCNetwork(cfg, seed=0, dtype=F64)
    x = torch.randn(5, 6, dtype=F64)
    y = torch.tensor([0, 1, 2, 1, 0])
    batch = net.run(x, y)
    for i in range(5):
        one = net.run(x[i:i + 1], y[i:i + 1])
        assert torch.allclose(one.states[0].x_T, batch.states[0].x_T[i:i + 1], atol=1e-12)
        assert torch.allclose(one.states[1].e_T, batch.states[1].e_T[i:i + 1], atol=1e-12)


def test_bad_inputs_raise_clear_errors():
    net = DiffPCNetwork(DiffPCConfig(sizes=(4, 3, 2)), seed=0)
    with pytest.raises(ValueError, match=r"expected \(batch, 4\)"):
        net.run(torch.zeros(2, 5))
    with pytest.raises(ValueError, match="NaN or infinite"):
        net.run(torch.tensor([[0.0, float("nan"), 0.0, 0.0]]))
    with pytest.raises(ValueError, match="NaN or infinite"):
        net.run(torch.tensor([[0.0, float("inf"), 0.0, 0.0]]))
    with pytest.raises(ValueError, match=r"labels must be 1 integers in \[0, 2\)"):
        net.run(torch.zeros(1, 4), torch.tensor([2]))
    with pytest.raises(ValueError, match="dropout"):
        DiffPCConfig(sizes=(4, 2), dropout=1.0)
    with pytest.raises(ValueError, match="expected \\(3, 4\\)"):
        DiffPCNetwork(DiffPCConfig(sizes=(4, 3, 2)), [(torch.zeros(4, 3), torch.zeros(3)),
                                                      (torch.zeros(2, 3), torch.zeros(2))])


def test_dropout_silences_dropped_neurons_and_spares_their_weights():
    cfg = DiffPCConfig(sizes=(6, 40, 3), schedule=Schedule(m=0, n=3, c1=3, c2=3), dropout=0.5)
    net = DiffPCNetwork(cfg, seed=0, dtype=F64)
    x, y = torch.randn(4, 6, dtype=F64), torch.tensor([0, 1, 2, 0])
    res = net.run(x, y, generator=torch.Generator().manual_seed(5))
    keep, _ = net._dropout_masks(4, torch.Generator().manual_seed(5))
    gw1 = res.grads[0][0]
    assert 0 < keep[1].mean() < 1
    # neurons dropped in every sample of the batch get no update of their incoming weights
    dropped_everywhere = keep[1].sum(0) == 0
    assert dropped_everywhere.any()
    assert gw1[dropped_everywhere].abs().max() == 0
