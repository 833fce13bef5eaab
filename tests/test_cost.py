"""Cost report arithmetic on hand-made spike counts (oracle: the numbers worked out by hand
in the comments)."""

from __future__ import annotations

import pytest

from lava_diffpc.config import ConvSpec, DiffPCConfig
from lava_diffpc.cost import LOIHI_ENERGY_PJ, connection_counts, cost_report, weight_counts
from lava_diffpc.metrics import CommStats
from lava_diffpc.rules.schedule import Schedule


def _hand_case():
    # 3-4-2, K1 = c1 n = 4 steps, K2 = c2 n = 2 steps, counts over 2 samples per phase
    cfg = DiffPCConfig(sizes=(3, 4, 2), schedule=Schedule(n=2, c1=2, c2=1))
    stats = CommStats(cfg.sizes, {"ff": 4, "learn": 2})
    stats.add("ff", 0, activity=6)
    stats.add("ff", 1, activity=8)
    stats.add("learn", 0, activity=2)
    stats.add("learn", 1, activity=4)
    stats.add("learn", 2, error=10)
    stats.add_samples("ff", 2)
    stats.add_samples("learn", 2)
    return cfg, stats


def test_counts_per_layer_and_phase_by_hand():
    cfg, stats = _hand_case()
    report = cost_report(cfg, stats)
    rows = {(c.phase, c.layer): c for c in report.layers}
    # ff, layer 0: 6/2 = 3 spikes, each to the 4 neurons of layer 1 -> 12 synaptic ops
    assert rows["ff", 0].spikes == 3 and rows["ff", 0].synaptic_ops == 12
    # ff, layer 1: 8/2 = 4 spikes x 2 = 8 ops; neuron updates 4 neurons x 4 steps = 16
    assert rows["ff", 1].synaptic_ops == 8 and rows["ff", 1].neuron_updates == 16
    # learn, layer 2: 10/2 = 5 error spikes, each down to the 4 neurons of layer 1 -> 20
    assert rows["learn", 2].error_spikes == 5 and rows["learn", 2].synaptic_ops == 20
    assert rows["learn", 2].bits == 10  # 2 bits per ternary spike
    # inference: 7 spikes, 20 ops, (3+4+2) x 4 = 36 neuron updates, 7 messages, 14 bits
    inf = report.inference
    assert (inf.spikes, inf.synaptic_ops, inf.neuron_updates, inf.messages, inf.bits,
            inf.synaptic_updates) == (7, 20, 36, 7, 14, 0)
    # training: + learn (1 + 2 + 5 = 8 spikes; 4 + 4 + 20 = 28 ops; 9 x 2 = 18 updates)
    # and one update per weight, 3*4 + 4*2 = 20
    tr = report.training
    assert (tr.spikes, tr.synaptic_ops, tr.neuron_updates, tr.messages, tr.bits,
            tr.synaptic_updates) == (15, 48, 54, 15, 30, 20)
    # backprop twin: forward 12 + 8 = 20 MACs; forward + backward 3*20 - 12 = 48
    assert (report.backprop_forward_macs, report.backprop_train_macs) == (20, 48)


def test_energy_arithmetic_by_hand():
    cfg, stats = _hand_case()
    report = cost_report(cfg, stats)
    assert LOIHI_ENERGY_PJ == {"synaptic_op": 23.6, "neuron_update": 81.0, "message": 1.7,
                               "synaptic_update": 120.0}
    # inference: 20 x 23.6 + 36 x 81 + 7 x 1.7 = 472 + 2916 + 11.9 = 3399.9 pJ
    joules, lines = report.inference.energy()
    assert joules == pytest.approx(3399.9e-12)
    assert "20.0 x   23.6 pJ = 472.0 pJ" in lines[0] and "3.400 nJ" in lines[-1]
    # training: 48 x 23.6 + 54 x 81 + 15 x 1.7 + 20 x 120 = 1132.8 + 4374 + 25.5 + 2400
    assert report.training.energy()[0] == pytest.approx(7932.3e-12)
    table = report.table()
    assert "ESTIMATED Loihi 2 energy per inference: 3.400 nJ" in table
    assert "ESTIMATED Loihi 2 energy per training sample: 7.932 nJ" in table
    assert report.to_dict()["training"]["energy_estimate_J"] == pytest.approx(7932.3e-12)


def test_convolution_connections_by_hand():
    # 1x4x4 input, 2 channels 3x3, stride 1, padding 1: the 4x4 outputs see 4 taps at the
    # corners, 6 on the edges, 9 inside: 4*4 + 8*6 + 4*9 = 100 taps per channel -> 200
    cfg = DiffPCConfig(sizes=(16, 32, 3), input_shape=(1, 4, 4),
                       convs=(ConvSpec(2, 3, 1, 1),))
    assert connection_counts(cfg) == [200, 96]
    assert weight_counts(cfg) == [18, 96]


def test_needs_both_phases():
    cfg, _ = _hand_case()
    stats = CommStats(cfg.sizes, {"ff": 4, "learn": 2})
    stats.add_samples("ff", 1)
    with pytest.raises(ValueError, match="no sample of phase 'learn'"):
        cost_report(cfg, stats)
