"""Communication counters (spec section 6): spikes and bits per neuron per sample.

A spike is a nonzero ternary value that crosses to another layer, so only spikes with
a receiver count: activity spikes of layers 0..L-1 (layer L's go nowhere) and error
spikes of layers 2..L (layer 1's would go to the clamped input). A ternary spike costs
``BITS_PER_SPIKE = 2`` bits.

Per-layer figures are per neuron of that layer; the ``all`` row divides the network's
total by all its neurons, input and output included, per sample.
"""

from __future__ import annotations

from typing import Any

import numpy as np

BITS_PER_SPIKE = 2
PHASES = ("ff", "learn")


def count_spikes(spikes: Any) -> Any:
    """Number of nonzero entries of a ternary spike array (NumPy or PyTorch)."""
    return (spikes != 0).sum()


def transmitted(kind: str, layer: int, top: int) -> bool:
    """Whether spikes of ``kind`` (``"activity"`` or ``"error"``) sent by ``layer`` have a
    receiver, in a network whose top layer is ``top`` (= L): the one counting rule.

    Activity spikes of layers 0..L-1 reach the layer above; error spikes of layers 2..L
    reach the layer below. Layer L's activity spikes and layer 1's error spikes (towards
    the clamped input) go nowhere and are not counted.
    """
    if kind == "activity":
        return layer < top
    if kind == "error":
        return layer >= 2
    raise ValueError(f"spike kind must be 'activity' or 'error', got {kind!r}")


class CommStats:
    """Accumulates activity and error spike counts per phase and layer.

    Counts are kept as plain integers; :meth:`add` accepts numbers or 0-d tensors.
    """

    def __init__(self, sizes: tuple[int, ...], steps: dict[str, int]):
        self.sizes = tuple(int(s) for s in sizes)
        self.steps = dict(steps)
        n_layers = len(self.sizes)
        self.activity = {p: np.zeros(n_layers, dtype=np.int64) for p in PHASES}
        self.error = {p: np.zeros(n_layers, dtype=np.int64) for p in PHASES}
        self.samples = {p: 0 for p in PHASES}

    def add(self, phase: str, layer: int, *, activity: Any = 0, error: Any = 0) -> None:
        """Add spike counts of one layer in one phase."""
        self.activity[phase][layer] += int(activity)
        self.error[phase][layer] += int(error)

    def add_samples(self, phase: str, count: int) -> None:
        self.samples[phase] += int(count)

    def per_neuron(self, phase: str) -> dict[str, Any]:
        """Spikes and bits per neuron per sample of one phase, per layer and overall."""
        samples = max(self.samples[phase], 1)
        sizes = np.array(self.sizes, dtype=np.float64)
        act = self.activity[phase] / (sizes * samples)
        err = self.error[phase] / (sizes * samples)
        total_neurons = sizes.sum() * samples
        act_all = float(self.activity[phase].sum() / total_neurons)
        err_all = float(self.error[phase].sum() / total_neurons)
        return {
            "samples": self.samples[phase],
            "steps": self.steps.get(phase, 0),
            "activity_spikes": act.tolist(),
            "error_spikes": err.tolist(),
            "activity_spikes_all": act_all,
            "error_spikes_all": err_all,
            "activity_bits_all": BITS_PER_SPIKE * act_all,
            "error_bits_all": BITS_PER_SPIKE * err_all,
        }

    def to_dict(self) -> dict[str, Any]:
        return {p: self.per_neuron(p) for p in PHASES if self.samples[p] > 0}

    def table(self) -> str:
        """A plain-text table: one row per phase and layer, plus the ``all`` rows."""
        lines = [f"{'phase':<6}{'layer':>6}{'neurons':>9}{'act sp/n':>10}{'err sp/n':>10}"
                 f"{'act bit/n':>11}{'err bit/n':>11}{'steps':>7}"]
        for phase in PHASES:
            if self.samples[phase] == 0:
                continue
            d = self.per_neuron(phase)
            rows = [(str(i), n, a, e) for i, (n, a, e) in enumerate(
                zip(self.sizes, d["activity_spikes"], d["error_spikes"]))]
            rows.append(("all", sum(self.sizes), d["activity_spikes_all"], d["error_spikes_all"]))
            for name, n, a, e in rows:
                lines.append(f"{phase:<6}{name:>6}{n:>9}{a:>10.4f}{e:>10.4f}"
                             f"{BITS_PER_SPIKE * a:>11.4f}{BITS_PER_SPIKE * e:>11.4f}"
                             f"{d['steps']:>7}")
        return "\n".join(lines)
