"""The batched network step run fast: compiled in-place kernels, event-driven spike sums, and
no work for layers that provably stay still. Same results as
:func:`lava_diffpc.engine.step.run_network`, bit for bit in fixed point and value for value
in float (tests/test_fast_engine.py).

Three savings, none of which changes a state:

1. **Fused in place.** :func:`~lava_diffpc.rules.dynamics.layer_step` and
   :func:`~lava_diffpc.rules.dynamics.track` (the one definition of the step) are compiled
   with ``torch.compile`` into one kernel per layer and step that reads every state once
   and writes it back in place, instead of some thirty tensor operations. Without a working
   compiler (or with ``compiled=False``) the same functions run eagerly, and their new
   tensors replace the old ones instead of being copied back.
2. **Event-driven sums.** Each spike tensor is counted once; a layer that sent nothing
   costs no product at all, a sparse one a sparse product, a dense one a dense product
   (:func:`lava_diffpc.reference.network.spike_matmul`). The counts are also the
   communication statistics.
3. **Still layers are skipped.** After a step in which a layer received and sent nothing,
   it is tested once: is its state a fixed point of the step with no input, the coming
   steps' gamma and the smallest threshold of the coming cycle (:func:`layer_step` itself,
   run on the state and compared)? If so, every following step with no input, the same
   gamma and the same phase would leave it unchanged and silent (a spike needs
   ``|d| > T``), for as long as no threshold is smaller than the tested one
   (:func:`rest_windows`): to the end of the phase on the cyclic schedule, about one
   cycle on cyclic-decay, whose thresholds shrink; there the rest is tested again. Those
   steps are not computed. The input layer, whose target never changes, is tested the same
   way with ``track``. After the first few cycles of each phase most layers are still
   (spec section 8: a few hundredths of a spike per neuron per step), so most of a
   sample's steps cost nothing.

Float and fixed point differ only in the arithmetic, as everywhere: the kernels are the
same functions traced with :data:`~lava_diffpc.rules.arithmetic.REAL` or ``FIXED``.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from lava_diffpc.engine.step import (
    PHASE_NAMES,
    Dropout,
    NetState,
    RunOutput,
    SpikeCounts,
    Wiring,
    initial_state,
    masked,
    spike_sum,
)
from lava_diffpc.metrics import transmitted
from lava_diffpc.rules.arithmetic import Arithmetic
from lava_diffpc.rules.dynamics import LayerState, StepValues, layer_step, track
from lava_diffpc.rules.schedule import ScheduleTable

COMPILE_ENV = "LAVA_DIFFPC_COMPILE"  # "0" runs the kernels eagerly (no compiler needed)


# ------------------------------------------------------------------------ kernels
def _layer_next(x_F, x_T, x_A, e_T, e_A, e_in, fwd, fb, clamp, t_prev, t_now, gamma, fwd_exp,
                fb_exp, *, arith: Arithmetic,
                learning: bool) -> tuple[LayerState, torch.Tensor, torch.Tensor]:
    """:func:`layer_step` on a hidden or top layer: its new state and spikes."""
    return layer_step(LayerState(x_F, x_T, x_A, e_T, e_A, e_in), fwd, fb,
                      StepValues(t_prev, t_now, gamma, learning), arith, fwd_exp=fwd_exp,
                      fb_exp=fb_exp, clamp=clamp, gate=True)


def _layer_into(x_F, x_T, x_A, e_T, e_A, e_in, s_A, s_e, fwd, fb, clamp, t_prev, t_now,
                gamma, fwd_exp, fb_exp, *, arith: Arithmetic, learning: bool) -> None:
    """:func:`_layer_next` written back into the layer's buffers (compiled, one kernel that
    reads and writes every state once)."""
    state = (x_F, x_T, x_A, e_T, e_A, e_in)
    new, sa, se = _layer_next(*state, fwd, fb, clamp, t_prev, t_now, gamma, fwd_exp, fb_exp,
                              arith=arith, learning=learning)
    for buf, value in zip(state, new):
        buf.copy_(value)
    s_A.copy_(sa)
    s_e.copy_(se)


def _layer_still(x_F, x_T, x_A, e_T, e_A, e_in, clamp, t_min, gamma, *, arith: Arithmetic,
                 learning: bool) -> torch.Tensor:
    """True when a step with no input, this gamma and threshold ``t_min`` changes nothing
    and sends nothing (then neither does any such step with a larger threshold)."""
    state = LayerState(x_F, x_T, x_A, e_T, e_A, e_in)
    new, sa, se = layer_step(state, None, None, StepValues(t_min * 0, t_min, gamma, learning),
                             arith, clamp=clamp, gate=True)
    moved = ((new.x_T - x_T).abs().amax() + (new.e_T - e_T).abs().amax()
             + sa.abs().amax() + se.abs().amax())
    return moved == 0


def _track_into(x_A, s, x, t_now, *, arith: Arithmetic, gate: bool) -> None:
    """The input layer's :func:`track` toward the clamped data, written back."""
    new, spikes = track(x, x_A, t_now, gate, arith)
    x_A.copy_(new)
    s.copy_(spikes)


def _track_still(x_A, x, t_min, *, arith: Arithmetic, gate: bool) -> torch.Tensor:
    """True when tracking at threshold ``t_min`` sends no spike (the data never moves)."""
    _, spikes = track(x, x_A, t_min, gate, arith)
    return spikes.abs().amax() == 0


LayerKernel = Callable[..., tuple[LayerState, torch.Tensor, torch.Tensor]]
TrackKernel = Callable[..., tuple[torch.Tensor, torch.Tensor]]


def _eager_layer(state: LayerState, s_A: torch.Tensor, s_e: torch.Tensor, *args: Any,
                 **kw: Any) -> tuple[LayerState, torch.Tensor, torch.Tensor]:
    """Eager :func:`_layer_next`: its new tensors replace the old (the spike buffers
    ``s_A``, ``s_e`` are not written)."""
    return _layer_next(*state, *args, **kw)


def _eager_track(x_A: torch.Tensor, s: torch.Tensor, x: torch.Tensor, t_now: torch.Tensor, *,
                 arith: Arithmetic, gate: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Eager :func:`track` of the input layer: the new ``x_A`` and spikes (``s`` unused)."""
    return track(x, x_A, t_now, gate, arith)


def _in_place_layer(compiled: Callable[..., None]) -> LayerKernel:
    """A compiled :func:`_layer_into` that hands its (updated) buffers back."""
    def run(state: LayerState, s_A: torch.Tensor, s_e: torch.Tensor, *args: Any, **kw: Any):
        compiled(*state, s_A, s_e, *args, **kw)
        return state, s_A, s_e
    return run


def _in_place_track(compiled: Callable[..., None]) -> TrackKernel:
    """A compiled :func:`_track_into` that hands its (updated) buffers back."""
    def run(x_A: torch.Tensor, s: torch.Tensor, *args: Any, **kw: Any):
        compiled(x_A, s, *args, **kw)
        return x_A, s
    return run


EXACT_FLOAT32_COUNT = 1 << 24  # a float32 dot product counts exactly below this


@dataclass(frozen=True)
class Kernels:
    """The four kernels. ``layer(state, s_A, s_e, fwd, fb, ...)`` and
    ``track(x_A, s, x, t_now, ...)`` return the new state and spikes: eagerly as new
    tensors (copying them back cost some 15 % of an eager step), compiled as
    the same buffers written in place (the copy fuses into the kernel's single pass)."""

    layer: LayerKernel
    layer_still: Callable[..., torch.Tensor]
    track: TrackKernel
    track_still: Callable[..., torch.Tensor]


_KERNELS: dict[bool, Kernels] = {}


def kernels(compiled: bool) -> Kernels:
    """The kernels, compiled once per process with ``torch.compile`` (``compiled=True``,
    unless ``LAVA_DIFFPC_COMPILE=0``), or eager."""
    compiled = compiled and os.environ.get(COMPILE_ENV, "1") != "0"
    if compiled not in _KERNELS:
        if compiled:
            import torch._dynamo
            import torch._inductor.config

            # one graph per arithmetic, phase, clamp, input presence and layer shape family;
            # compiled graphs are cached on disk across processes
            torch._dynamo.config.cache_size_limit = max(
                torch._dynamo.config.cache_size_limit, 64)
            # shifts and gamma shifts are Python integers of a few values: constants, never
            # symbolic (a symbolic power of two is slower and trips the code generator)
            torch._dynamo.config.specialize_int = True
            torch._inductor.config.fx_graph_cache = True
            layer, layer_still, track_k, track_still = (
                torch.compile(f, fullgraph=True)
                for f in (_layer_into, _layer_still, _track_into, _track_still))
            _KERNELS[True] = Kernels(_in_place_layer(layer), layer_still,
                                     _in_place_track(track_k), track_still)
        else:
            _KERNELS[False] = Kernels(_eager_layer, _layer_still, _eager_track, _track_still)
    return _KERNELS[compiled]


def _fallback_to_eager(exc: Exception) -> Kernels:
    warnings.warn(f"torch.compile failed ({type(exc).__name__}: {str(exc)[:200]}); running "
                  f"the step kernels eagerly (set {COMPILE_ENV}=0 to skip the attempt)",
                  RuntimeWarning, stacklevel=3)
    _KERNELS[True] = kernels(False)
    return _KERNELS[True]


# ------------------------------------------------------------------- schedule views
@dataclass(frozen=True)
class _StepTensors:
    """A schedule's per-step values as 0-d tensors of the state carrier's dtype (no
    recompilation per value; fixed-point thresholds are integers, exact in it), plus what
    the rest tests need (:func:`rest_windows`)."""

    t_prev: list[torch.Tensor]
    t_now: list[torch.Tensor]
    gamma: list[Any]
    gamma_values: list[Any]
    gamma_off: Any
    floor: list[torch.Tensor]  # a layer's rest test at step k: the threshold it checks
    until: list[int]  # ... and the step at which that rest expires
    input_floor: list[torch.Tensor]  # the same for the input layer (no phases, no gamma)
    input_until: list[int]

    @classmethod
    def build(cls, table: ScheduleTable, arith: Arithmetic, dtype: torch.dtype,
              device: torch.device) -> _StepTensors:
        key = (table.schedule, table.thresholds.tobytes(), table.gammas.tobytes(), arith.fixed,
               dtype, str(device))
        if key not in _STEP_TENSORS:
            _STEP_TENSORS[key] = cls._build(table, arith, dtype, device)
        return _STEP_TENSORS[key]

    @classmethod
    def _build(cls, table: ScheduleTable, arith: Arithmetic, dtype: torch.dtype,
               device: torch.device) -> _StepTensors:
        sched = table.schedule

        def tensors(values) -> list[torch.Tensor]:
            return [torch.tensor(v, dtype=dtype, device=device) for v in values]

        floor, until = rest_windows(table.thresholds, table.gammas, sched.k1, sched.n)
        input_floor, input_until = rest_windows(table.thresholds, None, None, sched.n)
        steps = [table.step(k) for k in range(table.steps)]
        gammas = [s.gamma for s in steps]
        # fixed point: gamma is a shift; as a Python integer (a few values) it compiles into
        # constant powers of two instead of per-element arithmetic on a 0-d integer tensor
        # real gamma: a 0-d tensor, or the plain number 0 where the update is off (skipped)
        real = [0.0 if g == 0 else t for g, t in zip(gammas, tensors(gammas))]
        return cls(tensors([s.t_prev for s in steps]), tensors([s.t_now for s in steps]),
                   gammas if arith.fixed else real, gammas, -1 if arith.fixed else 0.0,
                   tensors(floor), until, tensors(input_floor), input_until)


def rest_windows(thresholds: np.ndarray, gammas: np.ndarray | None, k1: int | None,
                 window: int) -> tuple[list[Any], list[int]]:
    """Per step k: the threshold a rest test at k checks, and the step its verdict expires.

    ``floor[k]`` is the smallest threshold of the ``window`` steps from k (one cycle: the
    schedule's ``n``) among those in k's phase with k's gamma; a layer that a step with no
    input, gamma(k) and ``floor[k]`` leaves unchanged and silent stays so at every later
    step of the phase with that gamma and a threshold of at least ``floor[k]``, i.e. up
    to ``until[k]``, the first later step whose threshold is finer (else the phase's end).
    On the cyclic schedule every cycle has the same thresholds, so a rest lasts to the end
    of the phase; on cyclic-decay it expires about a cycle later and is tested again.
    ``k1``: the learning phase's first step; ``gammas``, ``k1`` None: one phase, one gamma
    (the input layer).
    """
    th = np.asarray(thresholds)
    steps = len(th)
    gammas = np.zeros(steps) if gammas is None else np.asarray(gammas)
    k1 = steps if k1 is None else k1
    floor: list[Any] = []
    until: list[int] = []
    for k in range(steps):
        end = k1 if k < k1 else steps
        near = slice(k, min(k + window, end))
        lowest = th[near][gammas[near] == gammas[k]].min()
        finer = np.flatnonzero(th[k + 1:end] < lowest)
        floor.append(lowest.item())
        until.append(k + 1 + int(finer[0]) if finer.size else end)
    return floor, until


_STEP_TENSORS: dict[tuple, _StepTensors] = {}


# ------------------------------------------------------------------------- runner
@dataclass
class Work:
    """How much of a run the fast engine computed: layer steps (layers 1..L and the input
    layer, one per step each) run against all there were."""

    executed: int = 0
    total: int = 0

    @property
    def fraction(self) -> float:
        return self.executed / self.total if self.total else 0.0


@dataclass
class _Still:
    """A layer verified still for steps with this gamma in this phase (no input), up to
    step ``until`` (exclusive; :func:`rest_windows`)."""

    gamma: Any
    learning: bool
    until: int


def run_network_fast(w: Wiring, x: torch.Tensor, clamp: torch.Tensor | None, steps: int,
                     drop: Dropout, *, counts: SpikeCounts | None = None,
                     compiled: bool = True, work: Work | None = None) -> RunOutput:
    """:func:`lava_diffpc.engine.step.run_network` (same arguments and result, no per-step
    record), fast (module docstring). ``work``, when given, adds the layer steps computed
    and the layer steps there were."""
    work = Work() if work is None else work
    mine = SpikeCounts(w.n_layers) if counts is not None else None
    try:
        out = _run(w, x, clamp, steps, drop, mine, kernels(compiled), work)
    except Exception as exc:  # noqa: BLE001 - a compiler failure must not stop training
        if not compiled or not _is_compile_error(exc):
            raise
        mine = SpikeCounts(w.n_layers) if counts is not None else None  # start afresh
        out = _run(w, x, clamp, steps, drop, mine, _fallback_to_eager(exc), work)
    if counts is not None:
        for (phase, kind, layer), n in mine.totals.items():
            counts.add_count(phase, kind, layer, n)
    return out


def _is_compile_error(exc: Exception) -> bool:
    name = type(exc).__module__ + "." + type(exc).__name__
    return "torch._dynamo" in name or "torch._inductor" in name or "CppCompileError" in name


@torch.no_grad()  # inference graphs: the kernels write their buffers in place
def _run(w: Wiring, x: torch.Tensor, clamp: torch.Tensor | None, steps: int, drop: Dropout,
         counts: SpikeCounts | None, kern: Kernels, work: Work) -> RunOutput:
    cfg, arith, sched = w.config, w.arith, w.table.schedule
    top = w.n_layers
    if arith.fixed:  # the integers in a floating-point carrier (vectorises; exact, see there)
        carrier = fixed_carrier(w)
        x = x.to(carrier)
        clamp = None if clamp is None else clamp.to(carrier)
    vals = _StepTensors.build(w.table, arith, x.dtype, x.device)
    state: NetState = initial_state(w, x)
    layers = [LayerState(*(v.clone() for v in st)) for st in state.layers]
    # spikes live in float buffers in both arithmetics (exact: -1, 0, +1): they feed the
    # floating-point spike sums directly and count with a dot product
    spike_dtype = x.dtype if x.dtype.is_floating_point else torch.float32
    s_act = [torch.zeros_like(v, dtype=spike_dtype) for v in state.s_act]
    s_err = [torch.zeros_like(v, dtype=spike_dtype) for v in state.s_err]
    x_A0 = state.x_A0.clone()
    exps = list(w.exps) + [0]  # Python integers: constant shifts in the compiled kernels
    # what each layer sent at the previous step, as its receivers see it (dropout applied)
    # and how many spikes that is (0: nothing to sum)
    sent_act: list[torch.Tensor] = list(s_act)
    sent_err: list[torch.Tensor] = list(s_err)
    nnz_act = [0] * (top + 1)
    nnz_err = [0] * (top + 1)
    # which layers' spikes have a receiver (the one counting rule): only those are summed
    sends_act = [transmitted("activity", l, top) for l in range(top + 1)]
    sends_err = [transmitted("error", l, top) for l in range(top + 1)]
    input_still, input_until = False, 0

    def rest(l: int, k: int, learning: bool) -> _Still | None:
        """Layer l at rest from step k on (its state now; :func:`rest_windows`), or None."""
        c = clamp if (learning and l == top) else None
        if bool(kern.layer_still(*layers[l - 1], c, vals.floor[k], vals.gamma[k],
                                 arith=arith, learning=learning)):
            return _Still(vals.gamma_values[k], learning, vals.until[k])
        return None

    still: list[_Still | None] = [None] * (top + 1)
    stale = [False] * (top + 1)  # spike buffers of skipped layers still hold old spikes
    retry_at = [0] * (top + 1)
    backoff = [sched.n] * (top + 1)  # steps to wait after a failed test, doubling
    out_ff = None
    for k in range(steps):
        learning = sched.is_learning(k)
        phase = PHASE_NAMES[int(learning)]
        if k == sched.k1:  # a new phase: layers may come to rest again
            retry_at, backoff = [k] * (top + 1), [sched.n] * (top + 1)
        fwd = [None] + [spike_sum(w, l, sent_act[l - 1], False, nnz_act[l - 1], False)
                        if nnz_act[l - 1] else None for l in range(1, top + 1)]
        fb = [None] + [masked(spike_sum(w, l + 1, sent_err[l + 1], True, nnz_err[l + 1], False),
                              drop.scale[l]) if l < top and nnz_err[l + 1] else None
                       for l in range(1, top + 1)]
        # input layer
        work.total += top + 1
        if input_still and k >= input_until:  # finer thresholds ahead: test again
            input_still = bool(kern.track_still(x_A0, x, vals.input_floor[k], arith=arith,
                                                gate=cfg.input_gate))
            input_until = vals.input_until[k]
        if input_still:
            nnz_act[0], stale[0] = 0, True
        else:
            work.executed += 1
            x_A0, s_act[0] = kern.track(x_A0, s_act[0], x, vals.t_now[k], arith=arith,
                                        gate=cfg.input_gate)
            sent_act[0], nnz_act[0] = _sent(s_act[0], _count(s_act[0]), drop.scale[0])
            if nnz_act[0] == 0 and k + 1 < steps:
                input_still = bool(kern.track_still(x_A0, x, vals.input_floor[k + 1],
                                                    arith=arith, gate=cfg.input_gate))
                input_until = vals.input_until[k + 1]
        if counts is not None and nnz_act[0] and sends_act[0]:
            counts.add_count(phase, "activity", 0, nnz_act[0])
        # layers 1..L
        for l in range(1, top + 1):
            st, quiet_in = layers[l - 1], fwd[l] is None and fb[l] is None
            gamma = vals.gamma_values[k]
            mark = still[l]
            if (quiet_in and mark is not None and mark.learning == learning
                    and mark.gamma == gamma):
                if k >= mark.until:  # finer thresholds ahead: test again
                    mark = still[l] = rest(l, k, learning)
                if mark is not None:
                    nnz_act[l] = nnz_err[l] = 0
                    stale[l] = True
                    continue
            still[l], stale[l] = None, False
            work.executed += 1
            layers[l - 1], s_act[l], s_err[l] = kern.layer(
                st, s_act[l], s_err[l], fwd[l], fb[l], clamp if (learning and l == top) else None,
                vals.t_prev[k], vals.t_now[k], vals.gamma[k], exps[l - 1],
                exps[l] if l < top else 0, arith=arith, learning=learning)
            # count what is transmitted (the top layer's activity only to know it is still)
            nnz_act[l] = nnz_err[l] = 0
            n_act = _count(s_act[l])
            if n_act and sends_act[l]:
                sent_act[l], nnz_act[l] = _sent(s_act[l], n_act, drop.scale[l])
            if learning and sends_err[l]:
                sent_err[l], nnz_err[l] = _sent(s_err[l], _count(s_err[l]), drop.keep[l])
            spiked = n_act != 0 or nnz_err[l] > 0
            if counts is not None:
                if nnz_act[l]:
                    counts.add_count(phase, "activity", l, nnz_act[l])
                if nnz_err[l]:
                    counts.add_count(phase, "error", l, nnz_err[l])
            nxt = k + 1
            if (quiet_in and not spiked and nxt < steps and k >= retry_at[l]
                    and sched.is_learning(nxt) == learning
                    and (not learning or vals.gamma_values[nxt] == vals.gamma_off)):
                still[l] = rest(l, nxt, learning)
                if still[l] is None:
                    retry_at[l], backoff[l] = k + backoff[l], 2 * backoff[l]
        if k == sched.k1 - 1:
            out_ff = layers[-1].x_T.clone()
    for l in range(top + 1):
        if stale[l]:  # a skipped layer sent nothing at the last step
            s_act[l].zero_()
            s_err[l].zero_()
    if arith.fixed:  # back to the integers' own type
        layers = [LayerState(*(v.to(torch.int64) for v in st)) for st in layers]
        x_A0, out_ff = x_A0.to(torch.int64), out_ff.to(torch.int64)
        s_act = [s.to(torch.int64) for s in s_act]
        s_err = [s.to(torch.int64) for s in s_err]
    final = NetState(x_A0, layers, s_act, s_err)
    return RunOutput(final, out_ff)


def fixed_carrier(w: Wiring) -> torch.dtype:
    """float32 when every fixed-point value of a step stays exact in it, else float64.

    The largest product before saturation is ``T_prev * a`` with ``a`` a dendritic sum:
    ``T_prev = d_q 2**s`` and ``|a| <= max_i sum_j |W_mant[i, j]|`` (rows forward, columns
    backward; for a convolution the sums over an output channel's or an input channel's
    whole kernel, an upper bound of any position's sum); float32 holds it exactly while
    ``d_q |a| < 2**24`` (a power of two more changes the exponent only). Every other value
    is a 24-bit state or the sum of two.
    """
    t = w.table.thresholds.astype(np.int64)
    odd = int(np.max(t // (t & -t))) if t.size else 1  # largest multiplier d_q
    bound = 0
    for weight in w.weights:  # dense (out, in) or convolution (out, in, k, k)
        mag = weight.abs()
        rows = float(mag.reshape(mag.shape[0], -1).sum(1).max())
        cols = float(mag.transpose(0, 1).reshape(mag.shape[1], -1).sum(1).max())
        bound = max(bound, rows, cols)
    return torch.float32 if odd * bound < EXACT_FLOAT32_COUNT else torch.float64


def _count(spikes: torch.Tensor) -> int:
    """The number of spikes in a ternary tensor: ``sum s**2``, a dot product, ten times
    faster than counting nonzeros and exact while the count stays below ``2**24``."""
    flat = spikes.reshape(-1)
    if flat.numel() >= EXACT_FLOAT32_COUNT:
        return int(torch.count_nonzero(flat))
    return int(torch.dot(flat, flat))


def _sent(spikes: torch.Tensor, n: int, mask: torch.Tensor | None) -> tuple[torch.Tensor, int]:
    """What a layer transmits (its ``n`` spikes times its dropout mask) and how many."""
    if mask is None or n == 0:
        return spikes, n
    sent = spikes * mask
    return sent, int(torch.count_nonzero(sent))
