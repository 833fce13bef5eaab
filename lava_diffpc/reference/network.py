"""Batched float reference of DiffPC (spec sections 3-4) in PyTorch, CPU or CUDA.

A thin driver around :mod:`lava_diffpc.rules`: it holds the weights, runs
:func:`~lava_diffpc.rules.dynamics.layer_step` for every layer at every step with the
one-step delay between layers, counts the spikes, and turns the final errors into local
gradients with :func:`~lava_diffpc.rules.learning.local_gradients`. No Lava import.

Weight initialisation (``nn.Linear``'s): ``W_l`` and ``b_l`` uniform in
``[-1/sqrt(n_{l-1}), 1/sqrt(n_{l-1})]`` from a seeded generator.

Dropout on hidden layers (rate p, training only): a dropped neuron's spikes never leave
it (neither activity up nor error down), a kept neuron's activity reaches the next layer
scaled by ``1/(1-p)`` (so is its presynaptic factor and the feedback it receives), and a
dropped neuron's incoming weights get no update: inverted dropout, written per synapse.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from lava_diffpc.metrics import CommStats, count_spikes
from lava_diffpc.rules.dynamics import LayerState, layer_step, reset_layer, track
from lava_diffpc.rules.learning import local_gradients, presynaptic_factor
from lava_diffpc.rules.schedule import Schedule

SPARSE_DENSITY = 0.05  # below this spike density a sparse product is used on the CPU


@dataclass
class DiffPCConfig:
    """Everything that defines a DiffPC network apart from its weights.

    Attributes:
        sizes: layer widths ``(n_0, ..., n_L)``, input first.
        schedule: threshold/gamma schedule and phase lengths.
        input_gate: pass the input layer's spikes through the spiking-ReLU gate (off:
            the input carries signed values, spec section 8).
        presyn: presynaptic factor of the learning rule, ``x_T`` or ``x_A``.
        target_scale: the clamped output target is ``target_scale * one_hot(label)``.
        dropout: dropout rate of hidden layers during training.
    """

    sizes: tuple[int, ...]
    schedule: Schedule = field(default_factory=Schedule)
    input_gate: bool = False
    presyn: str = "x_T"
    target_scale: float = 1.0
    dropout: float = 0.0

    def __post_init__(self) -> None:
        self.sizes = tuple(int(s) for s in self.sizes)
        if len(self.sizes) < 2 or min(self.sizes) < 1:
            raise ValueError(f"architecture needs >= 2 layers of >= 1 neuron, got {self.sizes}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must lie in [0, 1), got {self.dropout}")
        if self.presyn not in ("x_T", "x_A"):
            raise ValueError(f"presyn must be 'x_T' or 'x_A', got {self.presyn!r}")


@dataclass
class RunResult:
    """What one batch run returns."""

    prediction: torch.Tensor  # (B,) argmax of the output x_T after the feed-forward phase
    output: torch.Tensor  # (B, n_L) output x_T after the feed-forward phase
    states: list[LayerState]  # final state of layers 1..L
    grads: list[tuple[torch.Tensor, torch.Tensor]] | None = None  # per layer (gW, gb)


def init_parameters(sizes: tuple[int, ...], seed: int, dtype: torch.dtype = torch.float32,
                    device: str | torch.device = "cpu") -> list[tuple[torch.Tensor, torch.Tensor]]:
    """``nn.Linear``-style uniform initialisation, reproducible from ``seed``."""
    gen = torch.Generator().manual_seed(seed)
    params = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        bound = 1.0 / n_in**0.5
        w = (torch.rand(n_out, n_in, generator=gen, dtype=torch.float64) * 2 - 1) * bound
        b = (torch.rand(n_out, generator=gen, dtype=torch.float64) * 2 - 1) * bound
        params.append((w.to(device=device, dtype=dtype), b.to(device=device, dtype=dtype)))
    return params


def spike_matmul(spikes: torch.Tensor, weight: torch.Tensor) -> torch.Tensor | None:
    """``spikes @ weight`` exploiting sparsity on the CPU; None when no spike is present.

    ``spikes``: (B, n) ternary (possibly scaled by dropout), ``weight``: (n, m). The
    sparse product sums the same nonzero terms (equal up to float summation order).
    """
    if spikes.device.type != "cpu":  # on a GPU a dense product beats a host sync per step
        return spikes @ weight
    nnz = int(torch.count_nonzero(spikes))
    if nnz == 0:
        return None
    if nnz < SPARSE_DENSITY * spikes.numel():
        return torch.sparse.mm(spikes.to_sparse(), weight)
    return spikes @ weight


class DiffPCNetwork:
    """A DiffPC MLP: weights plus the batched driver of the step rules.

    Args:
        config: architecture, schedule and options.
        params: list of ``(W_l, b_l)``; W of shape (n_l, n_{l-1}). Defaults to
            :func:`init_parameters` with ``seed``.
    """

    def __init__(self, config: DiffPCConfig, params=None, *, seed: int = 0,
                 dtype: torch.dtype = torch.float32, device: str | torch.device = "cpu"):
        self.config = config
        if params is None:
            params = init_parameters(config.sizes, seed, dtype, device)
        self.weights = [w.to(device=device, dtype=dtype) for w, _ in params]
        self.biases = [b.to(device=device, dtype=dtype) for _, b in params]
        for w in self.weights + self.biases:
            w.requires_grad_(False)
        self._check_shapes()

    def _check_shapes(self) -> None:
        sizes = self.config.sizes
        if len(self.weights) != len(sizes) - 1:
            raise ValueError(f"{len(self.weights)} weight matrices for {len(sizes)} layers")
        for l, (w, b) in enumerate(zip(self.weights, self.biases), start=1):
            if tuple(w.shape) != (sizes[l], sizes[l - 1]) or tuple(b.shape) != (sizes[l],):
                raise ValueError(f"layer {l}: W {tuple(w.shape)}, b {tuple(b.shape)}; "
                                 f"expected ({sizes[l]}, {sizes[l - 1]}) and ({sizes[l]},)")

    @property
    def parameters(self) -> list[torch.Tensor]:
        return [p for pair in zip(self.weights, self.biases) for p in pair]

    @property
    def device(self) -> torch.device:
        return self.weights[0].device

    @property
    def dtype(self) -> torch.dtype:
        return self.weights[0].dtype

    # ------------------------------------------------------------------ run
    def run(self, x: torch.Tensor, labels: torch.Tensor | None = None, *,
            stats: CommStats | None = None, generator: torch.Generator | None = None,
            record: list | None = None) -> RunResult:
        """Run one batch through the schedule.

        Without ``labels`` only the feed-forward phase runs (inference). With labels the
        learning phase follows with the output clamped to ``target_scale * one_hot``,
        and the result carries the local gradients. ``generator`` draws the dropout
        masks (training only). ``record``, when a list, receives per step a dict of
        every state and spike (for the step-by-step tests).
        """
        cfg, sched = self.config, self.config.schedule
        sizes, n_layers = cfg.sizes, len(cfg.sizes) - 1
        x = x.to(device=self.device, dtype=self.dtype)
        if x.ndim != 2 or x.shape[1] != sizes[0]:
            raise ValueError(f"input of shape {tuple(x.shape)}; expected (batch, {sizes[0]}) "
                             "(flatten images first)")
        if not torch.isfinite(x).all():
            raise ValueError("input holds NaN or infinite values; clean or normalise the data")
        learn = labels is not None
        steps = sched.steps if learn else sched.k1
        target = None
        if learn:
            if labels.shape != (x.shape[0],) or labels.min() < 0 or labels.max() >= sizes[-1]:
                raise ValueError(f"labels must be {x.shape[0]} integers in [0, {sizes[-1]}), "
                                 f"got shape {tuple(labels.shape)}, range "
                                 f"[{int(labels.min())}, {int(labels.max())}]")
            target = cfg.target_scale * torch.nn.functional.one_hot(
                labels.to(self.device).long(), sizes[-1]).to(self.dtype)
        keep, scale = self._dropout_masks(x.shape[0], generator if learn else None)

        thresholds = sched.thresholds()
        gammas = sched.gammas()
        like = [x.new_zeros(x.shape[0], n) for n in sizes]
        x_A0 = like[0]
        states = [None] + [reset_layer(b, like[l]) for l, b in enumerate(self.biases, start=1)]
        s_act = [like[l] for l in range(n_layers + 1)]  # spikes sent at the previous step
        s_err = [like[l] for l in range(n_layers + 1)]
        out_ff = None
        counts = {}
        for k in range(steps):
            t_prev = thresholds[k - 1] if k > 0 else 0.0
            t_now, gamma = thresholds[k], gammas[k]
            learning = sched.is_learning(k)
            fwd = [None] + [spike_matmul(s_act[l - 1] * scale[l - 1], self.weights[l - 1].T)
                            for l in range(1, n_layers + 1)]
            fb = [None] + [spike_matmul(s_err[l + 1] * keep[l + 1], self.weights[l])
                           if l < n_layers else None for l in range(1, n_layers + 1)]
            x_A0, s0 = track(x, x_A0, t_now, cfg.input_gate)
            new_act, new_err = [s0], [like[0]]
            for l in range(1, n_layers + 1):
                b = fb[l] * scale[l] if fb[l] is not None else None
                clamp = target if (learning and l == n_layers) else None
                states[l], sa, se = layer_step(states[l], fwd[l], b, t_prev, t_now, gamma,
                                               error_spikes=learning, clamp=clamp)
                new_act.append(sa)
                new_err.append(se)
            s_act, s_err = new_act, new_err
            if stats is not None:
                self._count(counts, "learn" if learning else "ff", s_act, s_err, keep)
            if record is not None:
                record.append({"k": k, "x_A0": x_A0.clone(), "s_act": [s.clone() for s in s_act],
                               "s_err": [s.clone() for s in s_err],
                               "states": [None] + [LayerState(*(v.clone() for v in st))
                                                   for st in states[1:]]})
            if k == sched.k1 - 1:
                out_ff = states[n_layers].x_T.clone()
        if stats is not None:
            for (phase, l), (a, e) in counts.items():
                stats.add(phase, l, activity=a, error=e)
            stats.add_samples("ff", x.shape[0])
            if learn:
                stats.add_samples("learn", x.shape[0])
        result = RunResult(out_ff.argmax(1), out_ff, states[1:])
        if learn:
            result.grads = self._gradients(x, x_A0, states, keep, scale)
        return result

    def gradients(self, x: torch.Tensor, labels: torch.Tensor,
                  generator: torch.Generator | None = None,
                  stats: CommStats | None = None):
        """Local gradients in the order of :attr:`parameters`, plus the feed-forward
        predictions (the trainer's interface, shared with the backprop baseline)."""
        result = self.run(x, labels, stats=stats, generator=generator)
        return [g for pair in result.grads for g in pair], result.prediction

    def predict(self, x: torch.Tensor, stats: CommStats | None = None) -> torch.Tensor:
        """Inference: the feed-forward phase only; argmax of the output layer."""
        return self.run(x, stats=stats).prediction

    # ------------------------------------------------------------- helpers
    def _dropout_masks(self, batch: int, generator: torch.Generator | None):
        """Per-layer keep masks (0/1) and forward scales (keep / (1 - p))."""
        sizes, p = self.config.sizes, self.config.dropout
        ones = [torch.ones(batch, n, device=self.device, dtype=self.dtype) for n in sizes]
        if generator is None or p == 0.0:
            return ones, ones
        keep, scale = list(ones), list(ones)
        for l in range(1, len(sizes) - 1):
            mask = (torch.rand(batch, sizes[l], generator=generator) >= p)
            keep[l] = mask.to(device=self.device, dtype=self.dtype)
            scale[l] = keep[l] / (1.0 - p)
        return keep, scale

    @staticmethod
    def _count(counts: dict, phase: str, s_act, s_err, keep) -> None:
        """Add this step's transmitted spikes (see :mod:`lava_diffpc.metrics`)."""
        top = len(s_act) - 1
        for l in range(top + 1):
            a = count_spikes(s_act[l] * keep[l]) if l < top else 0
            e = count_spikes(s_err[l] * keep[l]) if l >= 2 else 0
            prev = counts.get((phase, l), (0, 0))
            counts[(phase, l)] = (prev[0] + a, prev[1] + e)

    def _gradients(self, x, x_A0, states, keep, scale):
        """Local gradients of every layer from the final errors and activities."""
        cfg = self.config
        grads = []
        for l in range(1, len(cfg.sizes)):
            if l == 1:
                pre = presynaptic_factor(x, x_A0, kind=cfg.presyn, gated=cfg.input_gate)
            else:
                st = states[l - 1]
                pre = presynaptic_factor(st.x_T, st.x_A, kind=cfg.presyn, gated=True)
            grads.append(local_gradients(states[l].e_T * keep[l], pre * scale[l - 1]))
        return grads
