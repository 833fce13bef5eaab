"""The batched DiffPC network step, written once for the float reference and the fixed-point
simulator (PyTorch tensors, CPU or CUDA).

One time step ``k`` of the whole network (spec section 3), every layer at once::

    fwd_l = W_l (s_A^{l-1}(k-1) * scale_{l-1})          l = 1..L   (dropout scale)
    fb_l  = W_{l+1}^T (s_e^{l+1}(k-1) * keep_{l+1}) * scale_l      l = 1..L-1
    x_A^0, s_A^0 = track(x, x_A^0, T(k))                  input layer, clamped to the data
    layer l: layer_step(state_l, fwd_l, fb_l, step k)     top layer clamped in learning

Spikes sent at step k-1 arrive at step k (the one-step delay of every synapse), scaled by
the senders' threshold ``T(k-1)``; at ``k = 0`` nothing arrives. The arithmetic
(:mod:`lava_diffpc.rules.arithmetic`) decides the rest: real states and weights for the
reference, integer states with 8-bit weight mantissas for the simulator (their spike sums
come out of the same connection as exact integers in floating point, and are rounded back to
``int64``).

:func:`run_network` drives a batch through a schedule with this step and reports what the
drivers need (final states, the output after the feed-forward phase, spike counts by the
one counting rule of :func:`lava_diffpc.metrics.transmitted`, optional per-step records).
:mod:`lava_diffpc.engine.fast` runs the same step with compiled kernels and event-driven
spike sums.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, NamedTuple

import torch

from lava_diffpc.config import DiffPCConfig
from lava_diffpc.metrics import count_spikes, transmitted
from lava_diffpc.rules.arithmetic import Arithmetic
from lava_diffpc.rules.dynamics import LayerState, StepValues, layer_step, reset_layer, track
from lava_diffpc.rules.schedule import ScheduleTable

PHASE_NAMES = ("ff", "learn")
ENGINES = ("plain", "fast", "compiled")  # run_network; run_network_fast eager or compiled
ENGINE_CHOICES = ("auto",) + ENGINES
COMPILE_WORTH_NUMEL = 1 << 16  # "auto" compiles when a batch of the widest layer is this big
# ... and the run is this many batches long: about where compiling DiffPC-M (784-1000-10,
# batch 256) on one x86 core without the on-disk cache pays for itself
COMPILE_WORTH_BATCHES = 100


@dataclass
class Wiring:
    """A network as the batched step sees it.

    Attributes:
        config: architecture and options.
        arith: the arithmetic of states and thresholds.
        table: the schedule's per-step values in that arithmetic.
        connections: connection l-1 -> l for l = 1..L (``forward``, ``transpose``,
            ``bias_view``; :mod:`lava_diffpc.reference.network`).
        weights: per connection the matrix (or kernel) the spike sums use: real weights,
            or fixed-point mantissas stored as floats (exact integer sums).
        exps: per connection the fixed-point weight exponent ``E_l`` (0 for real).
        biases: per layer 1..L the bias in state units, shaped to broadcast over the
            layer (``bias_view``).
    """

    config: DiffPCConfig
    arith: Arithmetic
    table: ScheduleTable
    connections: list[Any]
    weights: list[torch.Tensor]
    exps: list[int]
    biases: list[torch.Tensor]

    @property
    def n_layers(self) -> int:
        return len(self.connections)

    @cached_property
    def dense_rows(self) -> list[torch.Tensor | None]:
        """Per connection ``W_l^T`` stored contiguously where ``W_l`` is a matrix (the rows
        an event-driven forward sum adds, one per input neuron), None for a convolution.
        Made once per wiring: its weights do not change while it is in use."""
        return [weight.T.contiguous() if weight.ndim == 2 else None for weight in self.weights]


class NetState(NamedTuple):
    """The state of a batch between two steps."""

    x_A0: torch.Tensor  # (B, *input_shape) input layer's announced activity
    layers: list[LayerState]  # layers 1..L (index l - 1)
    s_act: list[torch.Tensor]  # activity spikes of layers 0..L sent at the last step
    s_err: list[torch.Tensor]  # error spikes of layers 0..L sent at the last step


@dataclass
class Dropout:
    """Per-layer dropout masks (None where a layer has none): ``keep`` (0/1) stops a dropped
    neuron's spikes in both directions, ``scale = keep / (1 - p)`` scales a kept neuron's
    activity on its way up and the feedback it receives."""

    keep: list[torch.Tensor | None]
    scale: list[torch.Tensor | None]

    @classmethod
    def none(cls, n_layers: int) -> Dropout:
        return cls([None] * (n_layers + 1), [None] * (n_layers + 1))


def masked(t: torch.Tensor | None, mask: torch.Tensor | None) -> torch.Tensor | None:
    """``t * mask``, or ``t`` itself where there is no mask or no tensor."""
    return t if (mask is None or t is None) else t * mask


def initial_state(w: Wiring, x: torch.Tensor) -> NetState:
    """A sample's first state: every layer reset (``x_F = b``), nothing sent yet."""
    like = [x.new_zeros(x.shape[0], *shape) for shape in w.config.shapes]
    layers = [reset_layer(b, like[l]) for l, b in enumerate(w.biases, start=1)]
    return NetState(like[0], layers, list(like), list(like))


def spike_sum(w: Wiring, l: int, spikes: torch.Tensor, transpose: bool,
              nnz: int | None = None, integer: bool = True) -> torch.Tensor | None:
    """``W_l s`` (or ``W_l^T s`` with ``transpose``) in the arithmetic's units; None when no
    spike arrives (``nnz``: the spike count if known; else the connection checks, on the
    CPU). Fixed point: an ``int64`` tensor, or with ``integer=False`` the exact integers
    as the floating-point product left them."""
    conn, weight = w.connections[l - 1], w.weights[l - 1]
    s = spikes.to(weight.dtype)
    rows = w.dense_rows[l - 1]
    if transpose:
        out = conn.transpose(s, weight, nnz)
    elif rows is not None:
        out = conn.forward(s, weight, nnz, w_rows=rows)
    else:
        out = conn.forward(s, weight, nnz)
    if out is None or not w.arith.fixed or not integer:
        return out
    return out.to(torch.int64)  # exact integers: the mantissa sums have no fraction


def network_step(w: Wiring, state: NetState, step: StepValues, x: torch.Tensor,
                 clamp: torch.Tensor | None, drop: Dropout) -> NetState:
    """One synchronous step of every layer (module docstring); returns the new state."""
    top, cfg = w.n_layers, w.config
    fwd = [spike_sum(w, l, masked(state.s_act[l - 1], drop.scale[l - 1]), transpose=False)
           for l in range(1, top + 1)]
    fb = [masked(spike_sum(w, l + 1, masked(state.s_err[l + 1], drop.keep[l + 1]),
                           transpose=True), drop.scale[l]) if l < top else None
          for l in range(1, top + 1)]
    x_A0, s0 = track(x, state.x_A0, step.t_now, cfg.input_gate, w.arith)
    layers, s_act, s_err = [], [s0], [x_A0 * 0]
    for l in range(1, top + 1):
        st, sa, se = layer_step(state.layers[l - 1], fwd[l - 1], fb[l - 1], step, w.arith,
                                fwd_exp=w.exps[l - 1], fb_exp=w.exps[l] if l < top else 0,
                                clamp=clamp if (step.learning and l == top) else None)
        layers.append(st)
        s_act.append(sa)
        s_err.append(se)
    return NetState(x_A0, layers, s_act, s_err)


@dataclass
class SpikeCounts:
    """Transmitted spikes (:func:`lava_diffpc.metrics.transmitted`) per phase, kind and layer,
    summed over a batch's steps; values stay tensors until read (no device sync per step).

    ``per_neuron``: also keep each neuron's count per sample (``(B, *shape)`` tensors) for
    the spike histograms of :mod:`lava_diffpc.figures`.
    """

    n_layers: int
    per_neuron: bool = False
    totals: dict[tuple[str, str, int], Any] = field(default_factory=dict)
    neurons: dict[tuple[str, str, int], torch.Tensor] = field(default_factory=dict)

    def add(self, phase: str, state: NetState, keep: list[torch.Tensor | None]) -> None:
        for kind, spikes in (("activity", state.s_act), ("error", state.s_err)):
            for l, s in enumerate(spikes):
                if not transmitted(kind, l, self.n_layers):
                    continue
                key = (phase, kind, l)
                sent = masked(s, keep[l])
                self.totals[key] = self.totals.get(key, 0) + count_spikes(sent)
                if self.per_neuron:
                    self.neurons[key] = self.neurons.get(key, 0) + sent.abs()

    def add_count(self, phase: str, kind: str, layer: int, n: int) -> None:
        """Add ``n`` transmitted spikes counted elsewhere (the fast engine counts them once)."""
        key = (phase, kind, layer)
        self.totals[key] = self.totals.get(key, 0) + n

    def into(self, stats: Any, batch: int, phases: tuple[str, ...]) -> None:
        """Add the totals to a :class:`~lava_diffpc.metrics.CommStats` (``batch`` samples
        ran ``phases``)."""
        for (phase, kind, l), n in self.totals.items():
            stats.add(phase, l, **{kind: int(n)})
        for phase in phases:
            stats.add_samples(phase, batch)


class RunOutput(NamedTuple):
    """What :func:`run_network` returns."""

    state: NetState  # after the last step
    out_ff: torch.Tensor  # top layer's x_T at the last feed-forward step (B, n_L)


def run_network(w: Wiring, x: torch.Tensor, clamp: torch.Tensor | None, steps: int,
                drop: Dropout, *, counts: SpikeCounts | None = None,
                record: list | None = None) -> RunOutput:
    """Run a batch through ``steps`` steps of the schedule from reset.

    ``x``: (B, *input_shape) in state units; ``clamp``: the top layer's target in the
    learning phase (None for inference, where ``steps = K1``). ``record``, when a list,
    receives per step a dict of every state and spike (``k``, ``x_A0``, ``s_act``,
    ``s_err``, ``states`` with ``states[l]`` the :class:`LayerState` of layer l >= 1).
    """
    state = initial_state(w, x)
    k1 = w.table.schedule.k1
    out_ff = None
    for k in range(steps):
        step = w.table.step(k)
        state = network_step(w, state, step, x, clamp, drop)
        if counts is not None:
            counts.add(PHASE_NAMES[int(step.learning)], state, drop.keep)
        if record is not None:
            record.append({"k": k, "x_A0": state.x_A0.clone(),
                           "s_act": [s.clone() for s in state.s_act],
                           "s_err": [s.clone() for s in state.s_err],
                           "states": [None] + [LayerState(*(v.clone() for v in st))
                                               for st in state.layers]})
        if k == k1 - 1:
            out_ff = state.layers[-1].x_T.clone()
    return RunOutput(state, out_ff)


def choose_engine(engine: str, config: DiffPCConfig, batch: int,
                  batches: int | None = None) -> str:
    """``engine``, with ``auto`` resolved: ``compiled`` when a batch of the widest layer holds
    at least :data:`COMPILE_WORTH_NUMEL` states and the process will run at least
    :data:`COMPILE_WORTH_BATCHES` such batches (``batches``; None: many), ``fast``
    otherwise. The compilation costs tens of seconds once per process (less with the
    on-disk cache of an earlier run) and then saves a large share of every batch; a short
    run does not earn it back."""
    if engine not in ENGINE_CHOICES:
        raise ValueError(f"engine must be one of {ENGINE_CHOICES}, got {engine!r}")
    if engine != "auto":
        return engine
    big = batch * max(config.sizes[1:]) >= COMPILE_WORTH_NUMEL
    long = batches is None or batches >= COMPILE_WORTH_BATCHES
    return "compiled" if big and long else "fast"


def run_engine(engine: str, w: Wiring, x: torch.Tensor, clamp: torch.Tensor | None, steps: int,
               drop: Dropout, *, counts: SpikeCounts | None = None,
               record: list | None = None, work: Any = None) -> RunOutput:
    """Run a batch with one of :data:`ENGINES`: ``plain`` (:func:`run_network`), ``fast``
    (:func:`lava_diffpc.engine.fast.run_network_fast`, eager kernels) or ``compiled`` (the
    same, kernels compiled by ``torch.compile``). A per-step ``record`` needs ``plain``;
    ``work`` (:class:`lava_diffpc.engine.fast.Work`) counts the fast engine's layer steps."""
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")
    if engine == "plain" or record is not None:
        return run_network(w, x, clamp, steps, drop, counts=counts, record=record)
    from lava_diffpc.engine.fast import run_network_fast

    return run_network_fast(w, x, clamp, steps, drop, counts=counts,
                            compiled=engine == "compiled", work=work)
