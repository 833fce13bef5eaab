"""Operation counts of DiffPC per sample and an estimate of their energy on Loihi 2.

From the spike counts of :class:`~lava_diffpc.metrics.CommStats` (activity spikes of layers
0..L-1 and error spikes of layers 2..L, as transmitted, per phase), per layer ``l`` and phase
``p`` (``ff``: the feed-forward phase, i.e. inference; ``learn``: the learning phase that a
training sample adds), per sample:

==================  ==========================================================================
spikes              ``a_p,l + e_p,l``: activity spikes (to layer l+1) and error spikes (to
                    layer l-1) of the layer, over all its neurons
synaptic ops        ``a_p,l * fanout_up(l) + e_p,l * fanout_down(l)``: every spike reaches
                    every neuron it is connected to. Dense: ``fanout_up = n_{l+1}``,
                    ``fanout_down = n_{l-1}``; convolution: connections / presynaptic neurons
                    (the mean; exact for dense layers)
neuron updates      ``n_l * K_p``: every neuron of every layer (input included) updates at
                    each of the phase's ``K_p`` steps (a time-stepped chip)
messages, bits      one message per spike (to the one layer it goes to), ``2`` bits each
                    (ternary payload, :data:`~lava_diffpc.metrics.BITS_PER_SPIKE`); how many
                    cores a message visits depends on the placement and is not counted
==================  ==========================================================================

Per **inference**: the ``ff`` rows. Per **training sample**: ``ff`` + ``learn`` rows, plus one
**synaptic update** per weight (the once-per-sample on-chip rule; a convolution's shared
kernel counts once per weight).

**Backprop twin** (same architecture, dense arithmetic): forward ``F = sum_l C_l``
multiply-accumulates (``C_l``: connections of layer l, ``n_l n_{l-1}`` for a dense layer);
forward + backward ``3 F - C_1`` (the backward pass computes the input gradient of every
layer but the first, ``F - C_1``, and the weight gradient of every layer, ``F``). Biases and
activations are not counted.

**Energy (an estimate).** ``E = S e_syn + U e_neuron + M e_msg (+ W e_learn)`` with the
per-operation energies of :data:`LOIHI_ENERGY_PJ`, from Davies et al., "Loihi: A
neuromorphic manycore processor with on-chip learning", IEEE Micro 38(1):82-99, 2018,
Table 2 (the first Loihi, Intel 14 nm; pre-silicon SDF and SPICE simulations that the paper
calls consistent with early post-silicon characterisation): synaptic spike op 23.6 pJ (given
as a minimum), synaptic update (pairwise STDP) 120 pJ, neuron update 81 pJ (active; 52 pJ
inactive), spike within a tile 1.7 pJ (3.0 / 4.0 pJ per tile hop). No per-operation table
has been published for Loihi 2 (Intel 4); these stand in for it. Every DiffPC neuron step
counts as one active neuron update although the DiffPC neuron updates six state variables,
and every message as a within-tile spike: with the minimum synaptic op energy, the estimate
leans low. Static (leakage) power, the host and I/O are left out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from lava_diffpc.config import DiffPCConfig
from lava_diffpc.metrics import BITS_PER_SPIKE, PHASES, CommStats
from lava_diffpc.reference.network import ConvConnection, connections

LOIHI_ENERGY_PJ = {
    "synaptic_op": 23.6,  # synaptic spike operation (minimum)
    "neuron_update": 81.0,  # neuron update, active (inactive: 52 pJ)
    "message": 1.7,  # spike within a tile (3.0 / 4.0 pJ per tile hop)
    "synaptic_update": 120.0,  # synaptic update (pairwise STDP)
}
ENERGY_SOURCE = ("Davies et al., 'Loihi: A neuromorphic manycore processor with on-chip "
                 "learning', IEEE Micro 38(1):82-99, 2018, Table 2 (first Loihi, 14 nm, "
                 "pre-silicon simulation consistent with early silicon); no per-operation "
                 "energies are published for Loihi 2")


def connection_counts(config: DiffPCConfig) -> list[int]:
    """Synapses (connections) of every layer 1..L: ``n_l n_{l-1}`` for a dense layer; for a
    convolution, every output neuron times its in-bounds kernel taps times ``C_in``."""
    counts = []
    for conn in connections(config):
        if isinstance(conn, ConvConnection):
            c_in, h, w = conn.in_shape
            spec = conn.spec
            ones = torch.ones(1, 1, h, w, dtype=torch.float64)
            kernel = torch.ones(1, 1, spec.kernel, spec.kernel, dtype=torch.float64)
            taps = torch.nn.functional.conv2d(ones, kernel, stride=spec.stride,
                                              padding=spec.padding)
            counts.append(int(round(float(taps.sum()))) * c_in * spec.channels)
        else:
            counts.append(conn.fan_in * conn.out_shape[0])
    return counts


def weight_counts(config: DiffPCConfig) -> list[int]:
    """Distinct weights of every layer 1..L (a convolution's kernel once)."""
    return [math.prod(conn.weight_shape) for conn in connections(config)]


@dataclass
class LayerCost:
    """Per-sample counts of one layer in one phase."""

    phase: str
    layer: int
    neurons: int
    activity_spikes: float
    error_spikes: float
    synaptic_ops: float
    neuron_updates: float

    @property
    def spikes(self) -> float:
        return self.activity_spikes + self.error_spikes

    @property
    def messages(self) -> float:
        return self.spikes

    @property
    def bits(self) -> float:
        return BITS_PER_SPIKE * self.messages

    def to_dict(self) -> dict[str, Any]:
        return {"phase": self.phase, "layer": self.layer, "neurons": self.neurons,
                "activity_spikes": self.activity_spikes, "error_spikes": self.error_spikes,
                "spikes": self.spikes, "synaptic_ops": self.synaptic_ops,
                "neuron_updates": self.neuron_updates, "messages": self.messages,
                "bits": self.bits}


@dataclass
class Totals:
    """Per-sample totals of one workload (inference or one training sample)."""

    spikes: float
    synaptic_ops: float
    neuron_updates: float
    messages: float
    bits: float
    synaptic_updates: int

    def energy(self, pj: dict[str, float] = LOIHI_ENERGY_PJ) -> tuple[float, list[str]]:
        """Estimated energy in joules and the arithmetic, one line per term."""
        terms = [("synaptic ops", self.synaptic_ops, pj["synaptic_op"]),
                 ("neuron updates", self.neuron_updates, pj["neuron_update"]),
                 ("messages", self.messages, pj["message"])]
        if self.synaptic_updates:
            terms.append(("synaptic updates", self.synaptic_updates, pj["synaptic_update"]))
        lines, total = [], 0.0
        for name, count, e in terms:
            joules = count * e * 1e-12
            total += joules
            lines.append(f"{name:<17}{count:>16,.1f} x {e:>6.1f} pJ = {_si(joules)}")
        lines.append(f"{'total':<17}{'':>16}   {'':>9}   {_si(total)}")
        return total, lines

    def to_dict(self) -> dict[str, Any]:
        joules, lines = self.energy()
        return {"spikes": self.spikes, "synaptic_ops": self.synaptic_ops,
                "neuron_updates": self.neuron_updates, "messages": self.messages,
                "bits": self.bits, "synaptic_updates": self.synaptic_updates,
                "energy_estimate_J": joules, "energy_arithmetic": lines}


@dataclass
class CostReport:
    """What :func:`cost_report` returns."""

    layers: list[LayerCost]
    inference: Totals
    training: Totals
    backprop_forward_macs: int
    backprop_train_macs: int
    samples: dict[str, int]
    steps: dict[str, int]

    def to_dict(self) -> dict[str, Any]:
        return {"per_layer": [c.to_dict() for c in self.layers],
                "inference": self.inference.to_dict(), "training": self.training.to_dict(),
                "backprop": {"forward_macs": self.backprop_forward_macs,
                             "forward_backward_macs": self.backprop_train_macs},
                "samples": self.samples, "steps": self.steps,
                "energy_pJ_per_op": LOIHI_ENERGY_PJ, "energy_source": ENERGY_SOURCE}

    def table(self) -> str:
        """Per-layer rows, the two workloads, backprop's MACs and the energy arithmetic."""
        out = [f"{'phase':<6}{'layer':>6}{'neurons':>9}{'spikes':>12}{'syn. ops':>14}"
               f"{'neuron upd':>12}{'messages':>12}{'bits':>12}"]
        for c in self.layers:
            out.append(f"{c.phase:<6}{c.layer:>6}{c.neurons:>9}{c.spikes:>12.1f}"
                       f"{c.synaptic_ops:>14.1f}{c.neuron_updates:>12.0f}{c.messages:>12.1f}"
                       f"{c.bits:>12.1f}")
        out.append("")
        out.append(f"{'per sample':<22}{'spikes':>12}{'syn. ops':>14}{'neuron upd':>12}"
                   f"{'messages':>12}{'bits':>12}{'syn. upd':>12}")
        for name, t in (("inference (ff)", self.inference),
                        ("training (ff+learn)", self.training)):
            out.append(f"{name:<22}{t.spikes:>12.1f}{t.synaptic_ops:>14.1f}"
                       f"{t.neuron_updates:>12.0f}{t.messages:>12.1f}{t.bits:>12.1f}"
                       f"{t.synaptic_updates:>12}")
        out.append(f"{'backprop twin (MACs)':<22}forward {self.backprop_forward_macs:,}, "
                   f"forward+backward {self.backprop_train_macs:,}")
        ratio = self.inference.synaptic_ops / max(self.backprop_forward_macs, 1)
        out.append(f"DiffPC synaptic ops per inference / backprop forward MACs: {ratio:.3f}")
        for name, t in (("inference", self.inference), ("training sample", self.training)):
            joules, lines = t.energy()
            out.append("")
            out.append(f"ESTIMATED Loihi 2 energy per {name}: {_si(joules)}")
            out.extend("  " + line for line in lines)
        out.append("")
        out.append(f"Per-operation energies: {ENERGY_SOURCE}. An estimate, not a measurement.")
        return "\n".join(out)


def cost_report(config: DiffPCConfig, stats: CommStats) -> CostReport:
    """Per-sample counts and totals (module docstring) from ``stats``; both phases must have
    run on at least one sample."""
    for phase in PHASES:
        if stats.samples[phase] < 1:
            raise ValueError(f"the spike counts hold no sample of phase {phase!r}; run "
                             "labelled samples through the network")
    sizes = config.sizes
    if tuple(stats.sizes) != tuple(sizes):
        raise ValueError(f"spike counts of a {stats.sizes} network for a {sizes} one")
    conns = connection_counts(config)
    n_layers = len(sizes) - 1
    fan_up = [conns[l] / sizes[l] if l < n_layers else 0.0 for l in range(n_layers + 1)]
    fan_down = [conns[l - 1] / sizes[l] if l > 0 else 0.0 for l in range(n_layers + 1)]
    steps = {"ff": config.schedule.k1, "learn": config.schedule.k2}
    layers = []
    for phase in PHASES:
        samples = stats.samples[phase]
        for l, n in enumerate(sizes):
            act = float(stats.activity[phase][l]) / samples
            err = float(stats.error[phase][l]) / samples
            layers.append(LayerCost(phase, l, n, act, err, act * fan_up[l] + err * fan_down[l],
                                    float(n * steps[phase])))
    inference = _totals([c for c in layers if c.phase == "ff"], 0)
    training = _totals(layers, sum(weight_counts(config)))
    forward = sum(conns)
    return CostReport(layers, inference, training, forward, 3 * forward - conns[0],
                      dict(stats.samples), steps)


def _totals(rows: list[LayerCost], synaptic_updates: int) -> Totals:
    return Totals(float(np.sum([c.spikes for c in rows])),
                  float(np.sum([c.synaptic_ops for c in rows])),
                  float(np.sum([c.neuron_updates for c in rows])),
                  float(np.sum([c.messages for c in rows])),
                  float(np.sum([c.bits for c in rows])), int(synaptic_updates))


def _si(joules: float) -> str:
    for unit, scale in (("mJ", 1e-3), ("uJ", 1e-6), ("nJ", 1e-9)):
        if joules >= scale:
            return f"{joules / scale:.3f} {unit}"
    return f"{joules * 1e12:.1f} pJ"
