"""Batched float reference of DiffPC (spec sections 3-4) in PyTorch, CPU or CUDA.

A thin driver around the batched network step (:mod:`lava_diffpc.engine.step`, real
arithmetic): it holds the weights, runs a batch through the schedule, and turns the final
errors into local gradients (:mod:`lava_diffpc.rules.learning`). No Lava import.

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

from dataclasses import dataclass
from typing import Any

import torch

from lava_diffpc.config import DiffPCConfig, neurons
from lava_diffpc.engine.step import ENGINES, Dropout, SpikeCounts, Wiring, masked, run_engine
from lava_diffpc.metrics import CommStats
from lava_diffpc.reference.conv import ConvConnection
from lava_diffpc.rules.arithmetic import REAL
from lava_diffpc.rules.dynamics import LayerState
from lava_diffpc.rules.learning import local_gradients, presynaptic_factor


@dataclass(frozen=True)
class SparseCost:
    """What an event-driven product costs, in units of one dense multiply-accumulate (MAC):
    ``scan`` per input entry (finding the spikes), ``per_spike`` per spike (its index
    bookkeeping) and ``per_output`` per spike and output (adding one weight row)."""

    scan: float
    per_spike: float
    per_output: float

    def cheaper_than_dense(self, batch_inputs: int, nnz: int, outputs: int) -> bool:
        """``B n scan + nnz (per_spike + m per_output) < B n m``."""
        return (batch_inputs * self.scan + nnz * (self.per_spike + outputs * self.per_output)
                < batch_inputs * outputs)


# Measured with torch 2.3 on one x86 core (minimum of repeated products, B = 256, n and m
# from 10 to 1024, densities 0.5-35 %). float32: a gathered sum of weight rows
# (``embedding_bag``), dense up to about 20-30 % spikes; other types: a COO sparse product,
# dense from a few percent on.
GATHER_COST = SparseCost(scan=40, per_spike=900, per_output=2.5)
COO_COST = SparseCost(scan=200, per_spike=0, per_output=12)


def spike_matmul(spikes: torch.Tensor, weight: torch.Tensor,
                 nnz: int | None = None) -> torch.Tensor | None:
    """``spikes @ weight``, event-driven: None when no spike is present; otherwise the sum of
    the weight rows the spikes select where that is estimated cheaper than the dense
    product (:class:`SparseCost`), a dense product elsewhere (narrow outputs, dense spikes).

    ``spikes``: (B, n) ternary (possibly scaled by dropout), ``weight``: (n, m); ``nnz``:
    the number of spikes when the caller knows it (else counted here, on the CPU only: on
    a GPU a dense product beats a host sync per step). The event-driven product sums the
    same nonzero terms (equal up to float summation order; exact on integers, which the
    fixed-point carrier holds exactly). The gathered sum (measured on the CPU only) needs
    float32 and ``weight``'s rows contiguous in memory (a transposed view is not: pass a
    contiguous copy); elsewhere sparse spikes take the COO product.
    """
    if nnz is None:
        if spikes.device.type != "cpu":
            return spikes @ weight
        nnz = int(torch.count_nonzero(spikes))
    if nnz == 0:
        return None
    gather = (spikes.device.type == "cpu" and spikes.dtype == weight.dtype == torch.float32
              and weight.stride(1) == 1)
    cost = GATHER_COST if gather else COO_COST
    if not cost.cheaper_than_dense(spikes.numel(), nnz, weight.shape[1]):
        return spikes @ weight
    if gather:
        return gathered_rows_sum(spikes, weight)
    return torch.sparse.mm(spikes.to_sparse(), weight)


def gathered_rows_sum(spikes: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """``spikes @ weight`` as, for each batch row b, ``sum_j spikes[b, j] weight[j]`` over
    its spikes j only (one ``embedding_bag``: each spike adds its weight row, scaled by its
    value)."""
    rows, cols = spikes.nonzero().unbind(1)  # row-major: each batch row's spikes together
    starts = torch.searchsorted(rows, torch.arange(len(spikes), device=spikes.device))
    return torch.nn.functional.embedding_bag(cols, weight, starts, mode="sum",
                                             per_sample_weights=spikes[rows, cols])


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

    def forward(self, spikes: torch.Tensor, w: torch.Tensor, nnz: int | None = None,
                w_rows: torch.Tensor | None = None) -> torch.Tensor | None:
        """``W s``: (B, *in_shape) -> (B, n_out); None when no spike arrives (``nnz``: the
        spike count if known, see :func:`spike_matmul`). ``w_rows``: ``W^T`` stored
        contiguously (:attr:`~lava_diffpc.engine.step.Wiring.dense_rows`), whose rows an
        event-driven sum adds, one per input spike; without it sparse spikes take the
        slower COO product."""
        return spike_matmul(spikes.reshape(len(spikes), -1), w.T if w_rows is None else w_rows,
                            nnz)

    def transpose(self, errors: torch.Tensor, w: torch.Tensor,
                  nnz: int | None = None) -> torch.Tensor | None:
        """``W^T e``: (B, n_out) -> (B, *in_shape); None when no spike arrives."""
        out = spike_matmul(errors, w, nnz)
        return None if out is None else out.reshape(len(errors), *self.in_shape)

    def local_gradients(self, e_T: torch.Tensor,
                        pre: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """:func:`~lava_diffpc.rules.learning.local_gradients` on the flattened input."""
        return local_gradients(e_T, pre.reshape(len(pre), -1))


Connection = DenseConnection | ConvConnection


def connections(config: DiffPCConfig) -> list[Connection]:
    """Connection l-1 -> l for l = 1..L: the convolutions first, then fully connected."""
    shapes = config.shapes
    conns: list[Connection] = [ConvConnection(spec, shapes[i])
                               for i, spec in enumerate(config.convs)]
    return conns + [DenseConnection(shapes[l - 1], config.sizes[l])
                    for l in range(len(config.convs) + 1, len(config.sizes))]


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
        self.connections = connections(config)
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
        params: list of ``(W_l, b_l)`` in the shapes of :func:`connections`.
            Defaults to :func:`init_connection_parameters` with ``seed``.
        engine: how the network step runs (:data:`~lava_diffpc.engine.step.ENGINES`):
            ``fast`` (default: event-driven, still layers skipped), ``compiled`` (the same
            with ``torch.compile``d kernels: for large batches and layers) or ``plain``
            (every layer at every step; per-step records always use it).
    """

    def __init__(self, config: DiffPCConfig, params=None, *, seed: int = 0,
                 dtype: torch.dtype = torch.float32, device: str | torch.device = "cpu",
                 engine: str = "fast"):
        if engine not in ENGINES:
            raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")
        super().__init__(config, params, seed=seed, dtype=dtype, device=device)
        self.engine = engine

    # ------------------------------------------------------------------ run
    def run(self, x: torch.Tensor, labels: torch.Tensor | None = None, *,
            stats: CommStats | None = None, generator: torch.Generator | None = None,
            record: list | None = None, per_neuron: dict | None = None,
            work: Any = None) -> RunResult:
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
        ``work`` (:class:`lava_diffpc.engine.fast.Work`) counts the layer steps the fast
        engines compute. ``record`` and ``per_neuron`` run the ``plain`` engine.
        """
        cfg, sched = self.config, self.config.schedule
        n_out = cfg.sizes[-1]
        x = shape_input(x.to(device=self.device, dtype=self.dtype), cfg)
        if not torch.isfinite(x).all():
            raise ValueError("input holds NaN or infinite values; clean or normalise the data")
        learn = labels is not None
        target = None
        if learn:
            if labels.shape != (x.shape[0],) or labels.min() < 0 or labels.max() >= n_out:
                raise ValueError(f"labels must be {x.shape[0]} integers in [0, {n_out}), "
                                 f"got shape {tuple(labels.shape)}, range "
                                 f"[{int(labels.min())}, {int(labels.max())}]")
            target = cfg.target_scale * torch.nn.functional.one_hot(
                labels.to(self.device).long(), n_out).to(self.dtype)
        keep, scale = self._dropout_masks(x.shape[0], generator if learn else None)
        drop = Dropout(keep, scale)
        counts = (SpikeCounts(cfg.n_layers, per_neuron=per_neuron is not None)
                  if stats is not None or per_neuron is not None else None)
        engine = "plain" if per_neuron is not None else self.engine
        out = run_engine(engine, self.wiring(), x, target, sched.steps if learn else sched.k1,
                         drop, counts=counts, record=record, work=work)
        if stats is not None:
            counts.into(stats, x.shape[0], ("ff", "learn") if learn else ("ff",))
        if per_neuron is not None:
            for key, tally in counts.neurons.items():
                per_neuron[key] = per_neuron.get(key, 0) + tally
        states = out.state.layers
        result = RunResult(out.out_ff.argmax(1), out.out_ff, states)
        if learn:
            result.grads = self._gradients(x, out.state.x_A0, [None] + states, drop)
        return result

    def wiring(self) -> Wiring:
        """This network as the batched step sees it (real arithmetic)."""
        return Wiring(self.config, REAL, self.config.schedule.real_table(), self.connections,
                      self.weights, [0] * len(self.weights),
                      [conn.bias_view(b) for conn, b in zip(self.connections, self.biases)])

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
    def _gradients(self, x, x_A0, states, drop: Dropout):
        """Local gradients of every connection from the final errors and activities."""
        cfg = self.config
        grads = []
        for l, conn in enumerate(self.connections, start=1):
            if l == 1:
                pre = presynaptic_factor(x, x_A0, kind=cfg.presyn, gated=cfg.input_gate)
            else:
                st = states[l - 1]
                pre = presynaptic_factor(st.x_T, st.x_A, kind=cfg.presyn, gated=True)
            grads.append(conn.local_gradients(masked(states[l].e_T, drop.keep[l]),
                                              masked(pre, drop.scale[l - 1])))
        return grads
