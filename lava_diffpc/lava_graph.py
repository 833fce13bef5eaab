"""Builder and runner of DiffPC process graphs on Lava (simulator, or Loihi 2 with lava-loihi).

Graph of an L-layer network (``2L + 1`` processes)::

    DiffPCInput --s_out--> Synapse_1 --a_out_fwd--> Layer_1 --s_out_act--> Synapse_2 --> ...
                                     <--a_out_bwd--         <--s_out_err--

``Synapse_l`` holds ``W_l`` once: ``s_in_act`` (activity spikes of layer l-1) ->
``a_out_fwd`` (to ``Layer_l.a_in_fwd``), ``s_in_err`` (error spikes of layer l) ->
``a_out_bwd`` (to ``Layer_{l-1}.a_in_fb``). For l = 1 the backward path is not wired: error
spikes of layer 1 would go to the clamped input, and :func:`lava_diffpc.metrics.transmitted`
does not count them. The top layer clamps the
label in the learning phase and records its predictions. All of a dataset streams through
one ``run()``: every process derives the sample and its step from its own ``time_step``.

Convolutions (``config.convs``): ``Synapse_l`` is a
:class:`~lava_diffpc.proc.conv_synapse.process.DiffPCConvSynapse` (the kernel once,
``conv`` up and ``conv_transpose`` down) and ``Layer_l`` a flat :class:`DiffPCLayer` of
``C * H * W`` neurons in CHW order, the channel's bias at each of its positions; inputs
may be given as images ``(N, C, H, W)``. Inference and the learning phase run (weights
fixed); on-chip learning of kernels is refused.

On-chip learning (``learn=OnChipRule(...)``, :func:`train_dataset`): every layer also sends
its third factor (``s_out_eT`` -> the incoming synapse's ``a_in_post``) and updates its bias,
every synapse rebuilds its presynaptic activity from the spikes it receives and updates ``W_l``
at each sample's last step (:mod:`lava_diffpc.rules.learning`,
:mod:`lava_diffpc.rules.fixed_learning`); the next sample runs on the new weights, forward
and backward alike. The ``fixed_pt`` graph equals :meth:`lava_diffpc.fixedsim.
FixedPointNetwork.train` bit for bit, random numbers included.

Modes: ``"float"`` (models tagged ``floating_pt``, float64 parameters) or ``"fixed"``
(``fixed_pt``). Either way the builder hands every process real units and the arithmetic
(``fixed=None`` or the :class:`FixedFormat`); each fixed-point process quantises its own
values with :mod:`lava_diffpc.fixed_point` (:mod:`lava_diffpc.proc.common`).
Backends: ``"sim"`` (``Loihi2SimCfg``, CPU) or ``"loihi2"`` (``Loihi2HwCfg``; refused until
the DiffPC processes have Loihi 2 neuro-core models and Intel's proprietary lava-loihi is
installed, see :func:`run_config`; the chip path today is :mod:`lava_diffpc.export.netx`).

Lava rules the runner follows (docs: lava-notes section 4.2): Vars are read before
``stop()``; a stopped graph is never run again (Lava segfaults); a model that raises stops
the run with :class:`~lava_diffpc.proc.common.ModelError` (its own message), and ``stop()``
is skipped after it (it would block forever). Use the graph as a context manager.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from lava_diffpc._lava import require_lava

require_lava()

from lava.magma.core.run_configs import Loihi2SimCfg  # noqa: E402
from lava.proc.io.sink import RingBuffer  # noqa: E402

from lava_diffpc.config import DiffPCConfig, neurons  # noqa: E402
from lava_diffpc.fixed_point import (  # noqa: E402
    DEFAULT_FORMAT,
    FixedFormat,
    QuantizedParams,
    quantize_params,
    to_numpy,
)
from lava_diffpc.metrics import CommStats, transmitted  # noqa: E402
from lava_diffpc.proc.common import run_steps  # noqa: E402
from lava_diffpc.proc.conv_synapse.process import LEARN_REFUSED, DiffPCConvSynapse  # noqa: E402
from lava_diffpc.proc.io.process import DiffPCInput  # noqa: E402
from lava_diffpc.proc.layer.process import DiffPCLayer  # noqa: E402
from lava_diffpc.proc.synapse.process import DiffPCSynapse  # noqa: E402
from lava_diffpc.reference.conv import ConvConnection  # noqa: E402
from lava_diffpc.reference.network import connections  # noqa: E402
from lava_diffpc.rules.dynamics import LayerState  # noqa: E402
from lava_diffpc.rules.fixed_learning import OnChipRule  # noqa: E402

MODES = {"float": "floating_pt", "fixed": "fixed_pt"}
BACKENDS = ("sim", "loihi2")
STATES = LayerState._fields
PROCESSES = (DiffPCInput, DiffPCLayer, DiffPCSynapse, DiffPCConvSynapse)
LOIHI2_REFUSED = (
    "backend='loihi2' refuses to run the DiffPC processes on Loihi2HwCfg: {why}. Without "
    "neuro-core models Loihi2HwCfg would run their Python models on the host CPU (or, without "
    "lava-loihi, fail at compile time), not on the chip. What runs on Loihi 2 today is the "
    "inference path exported to lava-dl netx (`python -m lava_diffpc export RUN --format netx "
    "-o FILE`; sigma-delta ReLU layers that lava-loihi maps onto the chip; check the file here "
    "with `evaluate RUN --backend netx`). The fixed_pt models (mode='fixed', backend='sim') are "
    "the bit-level specification a microcode port of the DiffPC neuron and synapse must meet; "
    "lava_diffpc.fixedsim reproduces them bit-exactly at NumPy speed.")
LOIHI2_NOT_INSTALLED = ("Intel's proprietary lava-loihi package (Intel Neuromorphic Research "
                        "Community (INRC) members) is not installed: "
                        "lava.utils.loihi.is_installed() is False")


def neurocore_models() -> dict[str, list[type]]:
    """The ProcessModels of the DiffPC processes that run on a Loihi 2 neuro-core
    (``@requires`` a ``NeuroCore``), by process name; none exist yet.

    A microcode port adds them next to the Python models (``proc/<name>/models.py``), where
    Lava's discovery finds them; :func:`run_config` lets ``loihi2`` through once every process
    of :data:`PROCESSES` has one (and lava-loihi is installed).
    """
    from lava.magma.core.resources import NeuroCore

    from lava_diffpc.proc.conv_synapse import models as conv_models
    from lava_diffpc.proc.io import models as io_models
    from lava_diffpc.proc.layer import models as layer_models
    from lava_diffpc.proc.synapse import models as synapse_models

    found: dict[str, list[type]] = {}
    for module in (io_models, layer_models, synapse_models, conv_models):
        for obj in vars(module).values():
            proc = getattr(obj, "implements_process", None)
            resources = getattr(obj, "required_resources", [])
            if isinstance(obj, type) and proc in PROCESSES and any(
                    isinstance(r, type) and issubclass(r, NeuroCore) for r in resources):
                found.setdefault(proc.__name__, []).append(obj)
    return found


def loihi2_refusal() -> str | None:
    """Why ``loihi2`` cannot run the DiffPC processes on the chip now (None: it can)."""
    from lava.utils import loihi

    chip = neurocore_models()
    missing = [p.__name__ for p in PROCESSES if p.__name__ not in chip]
    reasons = []
    if not loihi.is_installed():
        reasons.append(LOIHI2_NOT_INSTALLED)
    if missing:
        reasons.append("no Loihi 2 neuro-core (microcode) ProcessModel exists for "
                       + ", ".join(missing))
    return LOIHI2_REFUSED.format(why="; and ".join(reasons)) if reasons else None


def run_config(mode: str, backend: str = "sim") -> Any:
    """The Lava run configuration for ``mode`` on ``backend``.

    ``loihi2`` returns ``Loihi2HwCfg`` only when lava-loihi is installed and every DiffPC
    process has a neuro-core model (:func:`neurocore_models`); otherwise it raises
    RuntimeError at once, saying what runs on the chip today (:func:`loihi2_refusal`).
    Without that guard Lava would fail only at compile time, with a ``NameError``, or
    silently run the Python models on the host CPU.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {tuple(MODES)}, got {mode!r}")
    if backend == "sim":
        return Loihi2SimCfg(select_tag=MODES[mode])
    if backend == "loihi2":
        refusal = loihi2_refusal()
        if refusal:
            raise RuntimeError(refusal)
        from lava.magma.core.run_configs import Loihi2HwCfg

        return Loihi2HwCfg(select_tag=MODES[mode])
    raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")


class DiffPCGraph:
    """A connected DiffPC process graph for a dataset ``x`` (and ``labels`` for learning).

    Args:
        config: architecture and schedule (:class:`DiffPCConfig`; dropout is not used).
        params: ``[(W_l, b_l), ...]`` in float (NumPy or torch, e.g. a reference
            checkpoint; a convolution's ``W_l`` is its ``(C_out, C_in, k, k)`` kernel and
            ``b_l`` is per channel), or :class:`QuantizedParams` (its own format wins over
            ``fmt``; in float mode it runs dequantised).
        x: ``(num_samples, n_0)`` or ``(num_samples, *config.input_shape)`` inputs in
            activation units; in fixed mode an integer array is taken as already quantised
            (LSBs of ``2**-F``).
        labels: class per sample; given, every sample runs ``schedule.steps`` steps with
            the learning phase (output clamped), else ``schedule.k1`` steps (inference).
        mode: ``"float"`` or ``"fixed"``.
        fmt: fixed-point format (fixed mode).
        backend: ``"sim"`` or ``"loihi2"`` (checked here, at once).
        probe: attach ``RingBuffer`` sinks of this many steps to every spike port
            (``spikes()``); 0 for none (each sink is one more process).
        learn: on-chip learning with this rule (needs ``labels``): every synapse learns
            ``W_l`` and every layer its bias at the end of each sample, inside the graph
            (:class:`~lava_diffpc.proc.synapse.process.DiffPCSynapse`); float mode uses
            ``alpha = rule.alpha``. Read the result with :meth:`params`. For training from
            scratch in fixed mode pass
            :func:`~lava_diffpc.fixed_point.quantize_for_learning` parameters (headroom).
    """

    def __init__(self, config: DiffPCConfig, params: Any, x: Any, labels: Any = None, *,
                 mode: str = "fixed", fmt: FixedFormat = DEFAULT_FORMAT, backend: str = "sim",
                 probe: int = 0, learn: OnChipRule | None = None) -> None:
        self.config, self.mode = config, mode
        sched, sizes = config.schedule, config.sizes
        x = np.asarray(x.detach().cpu() if hasattr(x, "detach") else x)
        if x.ndim > 2 and tuple(x.shape[1:]) == config.input_shape:
            x = x.reshape(len(x), -1)  # images flat in CHW order, as the reference's
        if x.ndim != 2 or x.shape[1] != sizes[0] or len(x) < 1:
            raise ValueError(f"x of shape {x.shape}; expected (num_samples, {sizes[0]}) or "
                             f"(num_samples, {', '.join(map(str, config.input_shape))})")
        if x.dtype.kind not in "biuf" or not np.isfinite(x).all():
            raise ValueError("x must hold finite numbers (no NaN or inf); clean or normalise "
                             "the data")
        self.run_cfg = run_config(mode, backend)
        self.n_layers = len(sizes) - 1
        self.num_samples = len(x)
        self.learning = labels is not None
        self.steps_per_sample = sched.steps if self.learning else sched.k1
        if self.learning:
            labels = np.asarray(labels, dtype=np.int64)
            if labels.shape != (len(x),) or labels.min() < 0 or labels.max() >= sizes[-1]:
                raise ValueError(f"labels must be {len(x)} class indices in [0, {sizes[-1]})")
        if learn is not None and not self.learning:
            raise ValueError("on-chip learning needs labels")
        if learn is not None and config.convs:
            raise ValueError(LEARN_REFUSED)
        steps = self.steps_per_sample
        if mode == "fixed":
            q = params if isinstance(params, QuantizedParams) else quantize_params(params, fmt)
            self.fmt = fixed = q.fmt
            params = q.dequantize()  # exact real values; each process quantises them back
            exps: list[int | None] = list(q.weight_exps)
            if np.issubdtype(x.dtype, np.integer):
                x = x * fixed.lsb
        else:
            if isinstance(params, QuantizedParams):
                params = params.dequantize()
            self.fmt, fixed = fmt, None
            exps = [None] * len(params)
        weights = [to_numpy(w) for w, _ in params]
        biases = [to_numpy(b) for _, b in params]
        if len(weights) != self.n_layers:
            raise ValueError(f"{len(weights)} weight matrices for {len(sizes)} layers")
        self.connections = connections(config)
        for l, (conn, w, b) in enumerate(zip(self.connections, weights, biases), start=1):
            if w.shape != conn.weight_shape or b.shape != conn.bias_shape:
                raise ValueError(f"layer {l}: W {w.shape}, b {b.shape}; expected "
                                 f"{conn.weight_shape} and {conn.bias_shape}")
        self.input = DiffPCInput(data=x, schedule=sched, steps=steps, fixed=fixed,
                                 gate=config.input_gate, name="input")
        self.rule = learn
        self.synapses = [
            _conv_synapse(conn, w, fixed, e, f"synapse{l}") if isinstance(conn, ConvConnection)
            else DiffPCSynapse(weights=w, fixed=fixed, weight_exp=e, learn=learn,
                               schedule=sched, steps=steps, layer=l, name=f"synapse{l}")
            for l, (conn, w, e) in enumerate(zip(self.connections, weights, exps), start=1)]
        exps_in = [syn.weight_exponent for syn in self.synapses] + [None]
        self.layers = [DiffPCLayer(
            shape=(sizes[l],), bias=_neuron_bias(self.connections[l - 1], biases[l - 1]),
            schedule=sched, steps=steps, fixed=fixed,
            output=l == self.n_layers, labels=labels if l == self.n_layers else None,
            target=config.target_scale, num_samples=self.num_samples,
            fwd_exp=exps_in[l - 1], fb_exp=exps_in[l], learn=learn, name=f"layer{l}")
            for l in range(1, self.n_layers + 1)]
        senders = [self.input.s_out] + [layer.s_out_act for layer in self.layers[:-1]]
        for l, syn in enumerate(self.synapses, start=1):
            senders[l - 1].connect(syn.s_in_act)
            syn.a_out_fwd.connect(self.layers[l - 1].a_in_fwd)
            if l > 1:  # layer 1's error spikes would reach the clamped input: not wired
                self.layers[l - 1].s_out_err.connect(syn.s_in_err)
                syn.a_out_bwd.connect(self.layers[l - 2].a_in_fb)
            if learn is not None:
                self.layers[l - 1].s_out_eT.connect(syn.a_in_post)
        self.probes: dict[str, RingBuffer] = {}
        if probe:
            ports = {"act0": self.input.s_out}
            for l, layer in enumerate(self.layers, start=1):
                ports[f"act{l}"], ports[f"err{l}"] = layer.s_out_act, layer.s_out_err
            for key, port in ports.items():
                self.probes[key] = RingBuffer(shape=port.shape, buffer=int(probe))
                port.connect(self.probes[key].a_in)
        self.time_steps = 0
        self.run_seconds = 0.0
        self._failed = self._stopped = False

    # ------------------------------------------------------------------- running
    def run(self, num_steps: int | None = None) -> None:
        """Run ``num_steps`` more steps (default: every sample once)."""
        if self._stopped or self._failed:
            raise RuntimeError("this graph was stopped or failed; build a new DiffPCGraph "
                               "(Lava cannot run a network again after stop())")
        n = self.num_samples * self.steps_per_sample if num_steps is None else int(num_steps)
        start = time.perf_counter()
        try:
            run_steps(self.input, n, self.run_cfg)
        except BaseException:
            self._failed = True
            raise
        self.run_seconds += time.perf_counter() - start
        self.time_steps += n

    def stop(self) -> None:
        """Stop Lava's runtime once; skipped when nothing ran or a model raised."""
        if self.time_steps > 0 and not self._failed and not self._stopped:
            self.input.stop()
        self._stopped = True

    def __enter__(self) -> DiffPCGraph:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # ------------------------------------------------------------------- readout
    def _get(self, var: Any) -> np.ndarray:
        if self._stopped:
            raise RuntimeError("read Vars before stop(): Lava's runtime is gone")
        return np.asarray(var.get())

    def predictions(self) -> np.ndarray:
        """Predicted class per sample (-1 for samples whose feed-forward phase has not ended)."""
        return self._get(self.layers[-1].predictions).astype(np.int64)

    def layer_state(self, l: int) -> LayerState:
        """The six states of layer ``l`` (1..L) now (float64; LSB integers in fixed mode)."""
        return LayerState(*(self._get(getattr(self.layers[l - 1], n)) for n in STATES))

    def input_state(self) -> np.ndarray:
        """The input layer's ``x_A`` now."""
        return self._get(self.input.x_A)

    def spikes(self, key: str) -> np.ndarray:
        """Probed spikes ``(n, probe)`` of ``act<l>`` / ``err<l>``; column t-1 is step t."""
        return self._get(self.probes[key].data)

    def weights(self) -> list[np.ndarray]:
        """Each synapse's real-valued ``W_l`` or kernel (fixed: ``W_mant * 2**-weight_exp``).

        Slow for large layers: Lava moves Vars one element per message (~20 us each).
        """
        return [self._get(syn.weights) * 2.0 ** -float(self._get(syn.weight_exp)[0])
                for syn in self.synapses]

    def params(self) -> Any:
        """The graph's current parameters: :class:`QuantizedParams` (fixed mode, mantissas
        and biases as integers) or float64 ``[(W_l, b_l), ...]``. Slow for large layers."""
        weights = [self._get(syn.weights) for syn in self.synapses]
        biases = [_channel_bias(conn, self._get(layer.bias))
                  for conn, layer in zip(self.connections, self.layers)]
        if self.mode == "fixed":
            exps = [int(self._get(syn.weight_exp)[0]) for syn in self.synapses]
            return QuantizedParams([np.rint(w).astype(np.int64) for w in weights], exps,
                                   [np.rint(b).astype(np.int64) for b in biases], self.fmt)
        return list(zip(weights, biases))

    def saturated(self) -> list[int]:
        """Per synapse: weight updates clipped at the 8-bit mantissa range so far."""
        return [int(self._get(syn.saturated)[0]) for syn in self.synapses]

    def comm_stats(self) -> CommStats:
        """Spike counts from the processes' own counters, as :mod:`lava_diffpc.metrics`
        defines them (activity of layers 0..L-1, error of layers 2..L), per finished sample."""
        stats = self.config.comm_stats()
        act = [self._get(self.input.act_count)] + [self._get(p.act_count) for p in self.layers]
        err = [np.zeros(2)] + [self._get(p.err_count) for p in self.layers]
        for p, phase in enumerate(("ff", "learn")):
            for l in range(self.n_layers + 1):
                stats.add(phase, l,
                          activity=act[l][p] if transmitted("activity", l, self.n_layers) else 0,
                          error=err[l][p] if transmitted("error", l, self.n_layers) else 0)
        done = self.time_steps // self.steps_per_sample
        stats.add_samples("ff", done)
        if self.learning:
            stats.add_samples("learn", done)
        return stats

    @property
    def steps_per_second(self) -> float:
        """Simulated time steps per wall-clock second of ``run()`` so far."""
        return self.time_steps / self.run_seconds if self.run_seconds else 0.0


@dataclass
class LavaRunResult:
    """Readout of one pass over a dataset."""

    predictions: np.ndarray
    stats: CommStats
    steps: int
    seconds: float

    @property
    def steps_per_second(self) -> float:
        return self.steps / self.seconds if self.seconds else 0.0


def run_dataset(config: DiffPCConfig, params: Any, x: Any, labels: Any = None, *,
                mode: str = "fixed", fmt: FixedFormat = DEFAULT_FORMAT,
                backend: str = "sim") -> LavaRunResult:
    """Build a graph, stream every sample through one ``run()``, read out, stop safely."""
    with DiffPCGraph(config, params, x, labels, mode=mode, fmt=fmt, backend=backend) as graph:
        graph.run()
        return LavaRunResult(graph.predictions(), graph.comm_stats(), graph.time_steps,
                             graph.run_seconds)


@dataclass
class LavaTrainResult:
    """Readout of one on-chip training pass over a dataset."""

    params: Any  # QuantizedParams (fixed) or [(W, b), ...] (float) after the last sample
    predictions: np.ndarray  # feed-forward prediction of each sample before its update
    stats: CommStats
    saturated: list[int]  # per synapse: updates clipped at the 8-bit mantissa range
    steps: int
    seconds: float


def train_dataset(config: DiffPCConfig, params: Any, x: Any, labels: Any, rule: OnChipRule, *,
                  mode: str = "fixed", fmt: FixedFormat = DEFAULT_FORMAT,
                  backend: str = "sim") -> LavaTrainResult:
    """On-chip learning: stream ``(x, labels)`` once through a learning graph (one ``run()``,
    one weight update per sample inside the synapses), read the parameters, stop safely."""
    with DiffPCGraph(config, params, x, labels, mode=mode, fmt=fmt, backend=backend,
                     learn=rule) as graph:
        graph.run()
        return LavaTrainResult(graph.params(), graph.predictions(), graph.comm_stats(),
                               graph.saturated(), graph.time_steps, graph.run_seconds)


def _conv_synapse(conn: ConvConnection, weights: np.ndarray, fixed: FixedFormat | None,
                  weight_exp: int | None, name: str) -> DiffPCConvSynapse:
    """The synapse process of a convolution (the kernel once; no on-chip learning)."""
    spec = conn.spec
    return DiffPCConvSynapse(weights=weights, in_shape=conn.in_shape, stride=spec.stride,
                             padding=spec.padding, out_shape=conn.out_shape, fixed=fixed,
                             weight_exp=weight_exp, name=name)


def _neuron_bias(conn: Any, bias: np.ndarray) -> np.ndarray:
    """The bias per neuron of the flat layer: a convolution's ``b[o]`` at every position of
    channel ``o`` (CHW order), a dense layer's as it is."""
    return np.repeat(bias, neurons(conn.out_shape[1:])) if isinstance(conn, ConvConnection) \
        else bias


def _channel_bias(conn: Any, bias: np.ndarray) -> np.ndarray:
    """Inverse of :func:`_neuron_bias`: a convolution's bias per channel."""
    return bias.reshape(conn.out_shape[0], -1)[:, 0] if isinstance(conn, ConvConnection) \
        else bias
