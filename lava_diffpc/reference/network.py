"""Batched float reference of DiffPC (spec sections 3-4) in PyTorch, CPU or CUDA.

A thin driver around :mod:`lava_diffpc.rules`: it holds the weights, runs
:func:`~lava_diffpc.rules.dynamics.layer_step` for every layer at every step with the
one-step delay between layers, counts the spikes, and turns the final errors into local
gradients. No Lava import.

Layers and connections: layer l has shape ``shapes[l]`` (``(n,)`` for a fully connected
layer, ``(C, H, W)`` for a convolution's output) and ``sizes[l] = prod(shapes[l])`` neurons.
Connection l (layer l-1 -> l) is a :class:`DenseConnection` (``W_l``: (n_l, n_{l-1}); its
input is flattened in CHW order, so the first fully connected layer after the last
convolution sees the flattened feature map) or a
:class:`~lava_diffpc.reference.conv.ConvConnection`. Every state variable of layer l is a
``(B, *shapes[l])`` tensor; the step rules act elementwise.

Weight initialisation (``nn.Linear``'s and ``nn.Conv2d``'s): ``W_l`` and ``b_l`` uniform in
``[-1/sqrt(fan_in), 1/sqrt(fan_in)]`` (fan_in = n_{l-1}, or C_in*k*k) from a seeded
generator.

Dropout on hidden fully connected layers (rate p, training only; convolution outputs have
none): a dropped neuron's spikes never leave it (neither activity up nor error down), a
kept neuron's activity reaches the next layer scaled by ``1/(1-p)`` (so is its presynaptic
factor and the feedback it receives), and a dropped neuron's incoming weights get no
update: inverted dropout, written per synapse.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from lava_diffpc.metrics import CommStats, count_spikes
from lava_diffpc.reference.conv import ConvConnection, ConvSpec, conv_shapes, neurons
from lava_diffpc.rules.dynamics import LayerState, layer_step, reset_layer, track
from lava_diffpc.rules.learning import local_gradients, presynaptic_factor
from lava_diffpc.rules.schedule import Schedule

SPARSE_DENSITY = 0.05  # below this spike density a sparse product is used on the CPU


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


class DenseConnection:
    """Layer l-1 -> l fully connected; ``W``: (n_out, n_in), ``b``: (n_out,).

    ``in_shape`` may be a feature map ``(C, H, W)``: it is flattened (CHW order) on the
    way in, and ``W^T e`` is reshaped back to it on the way down.
    """

    def __init__(self, in_shape: tuple[int, ...], n_out: int):
        self.in_shape = tuple(in_shape)
        self.out_shape = (int(n_out),)
        self.fan_in = neurons(self.in_shape)
        self.weight_shape = (int(n_out), self.fan_in)
        self.bias_shape = (int(n_out),)

    def __repr__(self) -> str:
        return f"DenseConnection({self.in_shape} -> {self.out_shape})"

    def bias_view(self, b: torch.Tensor) -> torch.Tensor:
        return b

    def affine(self, h: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """Dense (non-spiking, differentiable) ``W flatten(h) + b``: (B, *in) -> (B, n_out)."""
        return h.reshape(len(h), -1) @ w.T + b

    def forward(self, spikes: torch.Tensor, w: torch.Tensor) -> torch.Tensor | None:
        """``W s``: (B, *in_shape) -> (B, n_out); None when no spike arrives (CPU)."""
        return spike_matmul(spikes.reshape(len(spikes), -1), w.T)

    def transpose(self, errors: torch.Tensor, w: torch.Tensor) -> torch.Tensor | None:
        """``W^T e``: (B, n_out) -> (B, *in_shape); None when no spike arrives (CPU)."""
        out = spike_matmul(errors, w)
        return None if out is None else out.reshape(len(errors), *self.in_shape)

    def local_gradients(self, e_T: torch.Tensor,
                        pre: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """:func:`~lava_diffpc.rules.learning.local_gradients` on the flattened input."""
        return local_gradients(e_T, pre.reshape(len(pre), -1))


Connection = DenseConnection | ConvConnection


@dataclass
class DiffPCConfig:
    """Everything that defines a DiffPC network apart from its weights.

    Attributes:
        sizes: neurons per layer ``(n_0, ..., n_L)``, input first (a convolution's output
            layer has ``C * H * W`` neurons).
        schedule: threshold/gamma schedule and phase lengths.
        input_gate: pass the input layer's spikes through the spiking-ReLU gate (off:
            the input carries signed values, spec section 8).
        presyn: presynaptic factor of the learning rule, ``x_T`` or ``x_A``.
        target_scale: the clamped output target is ``target_scale * one_hot(label)``.
        dropout: dropout rate of hidden fully connected layers during training.
        input_shape: shape of one input sample, ``(C, H, W)`` for a conv net; default
            ``(n_0,)``.
        convs: the convolutions of connections 1..len(convs); the rest are fully connected
            (at least one: the output layer is a vector of class scores).
    """

    sizes: tuple[int, ...]
    schedule: Schedule = field(default_factory=Schedule)
    input_gate: bool = False
    presyn: str = "x_T"
    target_scale: float = 1.0
    dropout: float = 0.0
    input_shape: tuple[int, ...] | None = None
    convs: tuple[ConvSpec, ...] = ()

    def comm_stats(self) -> CommStats:
        """Empty spike counters for this network and schedule (both phases)."""
        return CommStats(self.sizes, {"ff": self.schedule.k1, "learn": self.schedule.k2})

    def __post_init__(self) -> None:
        self.sizes = tuple(int(s) for s in self.sizes)
        self.convs = tuple(self.convs)
        if len(self.sizes) < 2 or min(self.sizes) < 1:
            raise ValueError(f"architecture needs >= 2 layers of >= 1 neuron, got {self.sizes}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must lie in [0, 1), got {self.dropout}")
        if self.presyn not in ("x_T", "x_A"):
            raise ValueError(f"presyn must be 'x_T' or 'x_A', got {self.presyn!r}")
        if self.input_shape is None:
            self.input_shape = (self.sizes[0],)
        self.input_shape = tuple(int(d) for d in self.input_shape)
        if len(self.convs) > len(self.sizes) - 2:
            raise ValueError(f"{len(self.convs)} convolutions need at least "
                             f"{len(self.convs) + 2} layers (a fully connected output last), "
                             f"got {len(self.sizes)}")
        expected = [neurons(s) for s in conv_shapes(self.input_shape, self.convs)]
        if list(self.sizes[:len(expected)]) != expected:
            raise ValueError(f"sizes {self.sizes} do not match input {self.input_shape} and "
                             f"convolutions {[str(c) for c in self.convs]}: the first layers "
                             f"have {expected} neurons")

    @property
    def shapes(self) -> list[tuple[int, ...]]:
        """Per-layer neuron shapes, input first: ``(C, H, W)`` or ``(n,)``."""
        shapes = conv_shapes(self.input_shape, self.convs)
        return shapes + [(n,) for n in self.sizes[len(shapes):]]

    def connections(self) -> list[Connection]:
        """Connection l-1 -> l for l = 1..L."""
        shapes = self.shapes
        conns: list[Connection] = [ConvConnection(spec, shapes[i])
                                   for i, spec in enumerate(self.convs)]
        return conns + [DenseConnection(shapes[l - 1], self.sizes[l])
                        for l in range(len(self.convs) + 1, len(self.sizes))]

    @property
    def dropout_layers(self) -> list[int]:
        """Layers that dropout acts on: the hidden fully connected layers."""
        return list(range(len(self.convs) + 1, len(self.sizes) - 1))


@dataclass
class RunResult:
    """What one batch run returns."""

    prediction: torch.Tensor  # (B,) argmax of the output x_T after the feed-forward phase
    output: torch.Tensor  # (B, n_L) output x_T after the feed-forward phase
    states: list[LayerState]  # final state of layers 1..L, each (B, *shapes[l])
    grads: list[tuple[torch.Tensor, torch.Tensor]] | None = None  # per layer (gW, gb)


def init_connection_parameters(
        connections: list[Connection], seed: int, dtype: torch.dtype = torch.float32,
        device: str | torch.device = "cpu") -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Uniform ``[-1/sqrt(fan_in), 1/sqrt(fan_in)]`` weights and biases from ``seed``."""
    gen = torch.Generator().manual_seed(seed)
    params = []
    for conn in connections:
        bound = 1.0 / conn.fan_in**0.5
        w = (torch.rand(conn.weight_shape, generator=gen, dtype=torch.float64) * 2 - 1) * bound
        b = (torch.rand(conn.bias_shape, generator=gen, dtype=torch.float64) * 2 - 1) * bound
        params.append((w.to(device=device, dtype=dtype), b.to(device=device, dtype=dtype)))
    return params


def init_parameters(sizes: tuple[int, ...], seed: int, dtype: torch.dtype = torch.float32,
                    device: str | torch.device = "cpu") -> list[tuple[torch.Tensor, torch.Tensor]]:
    """``nn.Linear``-style uniform initialisation of an MLP, reproducible from ``seed``."""
    conns = [DenseConnection((n_in,), n_out) for n_in, n_out in zip(sizes[:-1], sizes[1:])]
    return init_connection_parameters(conns, seed, dtype, device)


def shape_input(x: torch.Tensor, config: DiffPCConfig) -> torch.Tensor:
    """``x`` as ``(B, *input_shape)``; a flat ``(B, n_0)`` batch is reshaped (CHW order)."""
    shape = config.input_shape
    if tuple(x.shape[1:]) == shape:
        return x
    if x.ndim == 2 and x.shape[1] == config.sizes[0]:
        return x.reshape(len(x), *shape)
    flat = "" if len(shape) == 1 else f" or (batch, {config.sizes[0]})"
    raise ValueError(f"input of shape {tuple(x.shape)}; expected (batch, "
                     f"{', '.join(map(str, shape))}){flat}"
                     + (" (flatten images first)" if len(shape) == 1 else ""))


def _masked(t: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """``t * mask``, or ``t`` itself where the layer has no dropout mask."""
    return t if mask is None else t * mask


class ConnectedNetwork:
    """Weights and biases of a network's connections, shared by DiffPC and backprop.

    Args:
        config: architecture (and, for DiffPC, schedule and options).
        params: list of ``(W_l, b_l)`` in each connection's shapes; defaults to
            :func:`init_connection_parameters` with ``seed``.
    """

    def __init__(self, config: DiffPCConfig, params=None, *, seed: int = 0,
                 dtype: torch.dtype = torch.float32, device: str | torch.device = "cpu"):
        self.config = config
        self.connections = config.connections()
        if params is None:
            params = init_connection_parameters(self.connections, seed, dtype, device)
        self.weights = [w.to(device=device, dtype=dtype) for w, _ in params]
        self.biases = [b.to(device=device, dtype=dtype) for _, b in params]
        for w in self.weights + self.biases:
            w.requires_grad_(False)
        self._check_shapes()

    def _check_shapes(self) -> None:
        if len(self.weights) != len(self.connections):
            raise ValueError(f"{len(self.weights)} weight matrices for "
                             f"{len(self.config.sizes)} layers")
        for l, (conn, w, b) in enumerate(zip(self.connections, self.weights, self.biases),
                                         start=1):
            if tuple(w.shape) != conn.weight_shape or tuple(b.shape) != conn.bias_shape:
                raise ValueError(f"layer {l}: W {tuple(w.shape)}, b {tuple(b.shape)}; "
                                 f"expected {conn.weight_shape} and {conn.bias_shape}")

    @property
    def parameters(self) -> list[torch.Tensor]:
        """``[W_1, b_1, W_2, b_2, ...]``: the order gradients come in."""
        return [p for pair in zip(self.weights, self.biases) for p in pair]

    @property
    def device(self) -> torch.device:
        return self.weights[0].device

    @property
    def dtype(self) -> torch.dtype:
        return self.weights[0].dtype

    def _dropout_masks(self, batch: int, generator: torch.Generator | None):
        """Per-layer keep masks (0/1) and forward scales (keep / (1 - p)), each
        ``(B, *shapes[l])`` on the dropout layers and None (no mask) elsewhere."""
        cfg, p = self.config, self.config.dropout
        keep: list[torch.Tensor | None] = [None] * len(cfg.sizes)
        scale = list(keep)
        if generator is None or p == 0.0:
            return keep, scale
        shapes = cfg.shapes
        for l in cfg.dropout_layers:
            mask = (torch.rand(batch, *shapes[l], generator=generator) >= p)
            keep[l] = mask.to(device=self.device, dtype=self.dtype)
            scale[l] = keep[l] / (1.0 - p)
        return keep, scale


class DiffPCNetwork(ConnectedNetwork):
    """A DiffPC network (MLP or conv net): weights plus the batched driver of the step rules.

    Args:
        config: architecture, schedule and options.
        params: list of ``(W_l, b_l)`` in the shapes of ``config.connections()``.
            Defaults to :func:`init_connection_parameters` with ``seed``.
    """

    # ------------------------------------------------------------------ run
    def run(self, x: torch.Tensor, labels: torch.Tensor | None = None, *,
            stats: CommStats | None = None, generator: torch.Generator | None = None,
            record: list | None = None,
            per_neuron: dict | None = None) -> RunResult:
        """Run one batch through the schedule.

        ``x``: (B, *input_shape), or (B, n_0) flattened in CHW order. Without ``labels``
        only the feed-forward phase runs (inference). With labels the learning phase
        follows with the output clamped to ``target_scale * one_hot``, and the result
        carries the local gradients. ``generator`` draws the dropout masks (training
        only). ``record``, when a list, receives per step a dict of every state and spike
        (for the step-by-step tests). ``per_neuron``, when a dict, accumulates each
        neuron's transmitted spikes per sample: ``per_neuron[(phase, kind, l)]`` is a
        ``(B, *shapes[l])`` count, ``phase`` ``"ff"`` or ``"learn"``, ``kind``
        ``"activity"`` or ``"error"`` (the spike histograms of :mod:`lava_diffpc.figures`).
        """
        cfg, sched, conns = self.config, self.config.schedule, self.connections
        n_layers, n_out = len(cfg.sizes) - 1, cfg.sizes[-1]
        x = shape_input(x.to(device=self.device, dtype=self.dtype), cfg)
        if not torch.isfinite(x).all():
            raise ValueError("input holds NaN or infinite values; clean or normalise the data")
        learn = labels is not None
        steps = sched.steps if learn else sched.k1
        target = None
        if learn:
            if labels.shape != (x.shape[0],) or labels.min() < 0 or labels.max() >= n_out:
                raise ValueError(f"labels must be {x.shape[0]} integers in [0, {n_out}), "
                                 f"got shape {tuple(labels.shape)}, range "
                                 f"[{int(labels.min())}, {int(labels.max())}]")
            target = cfg.target_scale * torch.nn.functional.one_hot(
                labels.to(self.device).long(), n_out).to(self.dtype)
        keep, scale = self._dropout_masks(x.shape[0], generator if learn else None)

        thresholds = sched.thresholds()
        gammas = sched.gammas()
        like = [x.new_zeros(x.shape[0], *shape) for shape in cfg.shapes]
        x_A0 = like[0]
        states = [None] + [reset_layer(conn.bias_view(b), like[l])
                           for l, (conn, b) in enumerate(zip(conns, self.biases), start=1)]
        s_act = list(like)  # spikes sent at the previous step
        s_err = list(like)
        out_ff = None
        counts = {}
        for k in range(steps):
            t_prev = thresholds[k - 1] if k > 0 else 0.0
            t_now, gamma = thresholds[k], gammas[k]
            learning = sched.is_learning(k)
            fwd = [None] + [conns[l - 1].forward(_masked(s_act[l - 1], scale[l - 1]),
                                                 self.weights[l - 1])
                            for l in range(1, n_layers + 1)]
            fb = [None] + [conns[l].transpose(_masked(s_err[l + 1], keep[l + 1]), self.weights[l])
                           if l < n_layers else None for l in range(1, n_layers + 1)]
            x_A0, s0 = track(x, x_A0, t_now, cfg.input_gate)
            new_act, new_err = [s0], [like[0]]
            for l in range(1, n_layers + 1):
                b = _masked(fb[l], scale[l]) if fb[l] is not None else None
                clamp = target if (learning and l == n_layers) else None
                states[l], sa, se = layer_step(states[l], fwd[l], b, t_prev, t_now, gamma,
                                               error_spikes=learning, clamp=clamp)
                new_act.append(sa)
                new_err.append(se)
            s_act, s_err = new_act, new_err
            if stats is not None:
                self._count(counts, "learn" if learning else "ff", s_act, s_err, keep)
            if per_neuron is not None:
                self._tally(per_neuron, "learn" if learning else "ff", s_act, s_err, keep)
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
    @staticmethod
    def _count(counts: dict, phase: str, s_act, s_err, keep) -> None:
        """Add this step's transmitted spikes (see :mod:`lava_diffpc.metrics`); a neuron
        is one channel at one position, so a feature map counts every entry."""
        top = len(s_act) - 1
        for l in range(top + 1):
            a = count_spikes(_masked(s_act[l], keep[l])) if l < top else 0
            e = count_spikes(_masked(s_err[l], keep[l])) if l >= 2 else 0
            prev = counts.get((phase, l), (0, 0))
            counts[(phase, l)] = (prev[0] + a, prev[1] + e)

    @staticmethod
    def _tally(per_neuron: dict, phase: str, s_act, s_err, keep) -> None:
        """Add this step's spikes, per sample and neuron, to ``per_neuron`` (see :meth:`run`)."""
        for kind, spikes in (("activity", s_act), ("error", s_err)):
            for l, s in enumerate(spikes):
                key = (phase, kind, l)
                per_neuron[key] = per_neuron.get(key, 0) + _masked(s, keep[l]).abs()

    def _gradients(self, x, x_A0, states, keep, scale):
        """Local gradients of every connection from the final errors and activities."""
        cfg = self.config
        grads = []
        for l, conn in enumerate(self.connections, start=1):
            if l == 1:
                pre = presynaptic_factor(x, x_A0, kind=cfg.presyn, gated=cfg.input_gate)
            else:
                st = states[l - 1]
                pre = presynaptic_factor(st.x_T, st.x_A, kind=cfg.presyn, gated=True)
            grads.append(conn.local_gradients(_masked(states[l].e_T, keep[l]),
                                              _masked(pre, scale[l - 1])))
        return grads
