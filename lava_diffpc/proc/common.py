"""What every DiffPC process shares: its declared arithmetic, construction checks, the guarded
model base class and a run helper that surfaces model errors.

A process declares its arithmetic when it is built: ``fixed=None`` (float, the
``floating_pt`` models) or a :class:`~lava_diffpc.fixed_point.FixedFormat` (the ``fixed_pt``
models). It takes every value in real units (activation units for data, bias, target and
thresholds; real weights) and quantises them itself with :mod:`lava_diffpc.fixed_point`
(state ``v_int = round(v 2**F)``, weight ``W_mant = round(W 2**E)``), so nothing is cast
silently by a Lava port or Var.

Processes derive from :class:`DiffPCProcess`, which refuses, in the host after Lava's
compiler selected the models and before any model process starts, a model whose arithmetic
differs from the one the process was built for (``run()`` raises that ValueError itself,
nothing is left running). Models derive from :class:`GuardedModel`, which

* runs the step inside a guard: if it raises, the model first sends zeros on every OutPort
  it has not sent on yet in this step, then re-raises as :class:`ModelError`. Lava 0.10's
  runtime service collects the models' replies one by one; a model blocked on ``recv()``
  from the failed one would never reply, so ``run()`` would wait forever. With every
  receiver served, all models finish the step, the service forwards the error, stops the
  others, and ``run()`` raises ``RuntimeError("1 Exception(s) occurred...")``; the model
  prints its one-line message to stderr (Lava 0.10 itself shows none of it).

:func:`run_steps` runs a network and turns that generic error into :class:`ModelError`
carrying the models' own messages. After a model failed, the network is dead: never call
``stop()`` on it (Lava blocks).

Construction checks raise ValueError in one line naming the problem and the fix.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np
from lava.magma.core.model.py.model import PyLoihiProcessModel
from lava.magma.core.process.process import AbstractProcess
from lava.magma.core.run_conditions import RunSteps

from lava_diffpc.fixed_point import FixedFormat, quantize_connection, schedule_tables
from lava_diffpc.rules.arithmetic import REAL
from lava_diffpc.rules.schedule import Schedule

TAGS = {"float": "floating_pt", "fixed": "fixed_pt"}


class ModelError(RuntimeError):
    """A DiffPC ProcessModel raised while it ran (message: process, time step, cause)."""


# ----------------------------------------------------------------------- construction
def arithmetic_name(fixed: FixedFormat | None) -> str:
    """``"float"`` for ``fixed=None``, ``"fixed"`` for a FixedFormat; ValueError otherwise."""
    if fixed is None:
        return "float"
    if isinstance(fixed, FixedFormat):
        return "fixed"
    raise ValueError(f"fixed must be None (float) or a lava_diffpc.fixed_point.FixedFormat, "
                     f"got {fixed!r}")


def real_array(value: Any, what: str, shape: tuple[int, ...] | None = None) -> np.ndarray:
    """``value`` as a finite float64 array (of ``shape`` if given); ValueError otherwise."""
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    a = np.asarray(value)
    if a.dtype.kind not in "biuf":
        raise ValueError(f"{what} must be real numbers, got dtype {a.dtype}")
    a = a.astype(np.float64)
    if shape is not None and a.shape != tuple(shape):
        raise ValueError(f"{what} has shape {a.shape}; expected {tuple(shape)}")
    if not np.isfinite(a).all():
        raise ValueError(f"{what} holds NaN or infinite values; pass finite numbers")
    return a


def class_labels(labels: Any, count: int, n_classes: int) -> np.ndarray:
    """``count`` integer class indices in ``[0, n_classes)`` as int64; ValueError otherwise."""
    a = np.asarray(labels)
    if a.shape != (count,):
        raise ValueError(f"labels has shape {a.shape}; expected ({count},), one per sample")
    if a.dtype.kind == "f" and np.all(np.isfinite(a)) and np.all(a == np.rint(a)):
        a = a.astype(np.int64)
    if a.dtype.kind not in "iu":
        raise ValueError(f"labels must be integer class indices, got dtype {a.dtype}")
    if a.size and (a.min() < 0 or a.max() >= n_classes):
        bad = a[(a < 0) | (a >= n_classes)][0]
        raise ValueError(f"label {bad} lies outside the classes [0, {n_classes}) of the "
                         f"output layer; pass class indices 0..{n_classes - 1}")
    return a.astype(np.int64)


def steps_per_sample(schedule: Schedule, steps: int | None) -> int:
    """``steps`` (default ``schedule.steps``), checked to be ``k1`` or ``k1 + k2``."""
    if not isinstance(schedule, Schedule):
        raise ValueError(f"schedule must be a lava_diffpc.rules.schedule.Schedule, got "
                         f"{type(schedule).__name__}")
    steps = schedule.steps if steps is None else steps
    if steps not in (schedule.k1, schedule.steps):
        raise ValueError(f"steps={steps}; a sample runs schedule.k1 = {schedule.k1} steps "
                         f"(inference) or schedule.steps = {schedule.steps} (training)")
    return int(steps)


def synapse_weights(weights: np.ndarray, fixed: FixedFormat | None,
                    weight_exp: int | None) -> tuple[np.ndarray, int]:
    """A synapse's stored weights and exponent: the real ``weights`` and 0 in float; in
    fixed point the mantissas ``round(W 2**E)`` and ``E`` of
    :func:`~lava_diffpc.fixed_point.quantize_connection` (dense matrix or kernel). A float
    synapse given an exponent raises ValueError."""
    if fixed is None:
        if weight_exp:
            raise ValueError("weight_exp is the fixed-point exponent; a float synapse "
                             "(fixed=None) takes none")
        return weights, 0
    return quantize_connection(weights, fixed, weight_exp, "weights")


def phase_steps(phase_offset: Any) -> int:
    """A checked ``phase_offset``: the whole number of steps before the first sample."""
    if not isinstance(phase_offset, (int, np.integer)) or phase_offset < 0:
        raise ValueError(f"phase_offset must be an integer >= 0 (time steps before the first "
                         f"sample starts), got {phase_offset!r}")
    return int(phase_offset)


def schedule_values(schedule: Schedule, steps: int,
                    fixed: FixedFormat | None) -> tuple[np.ndarray, np.ndarray]:
    """The per-step tables ``(T(k), gamma(k))``, k < steps, in the process's arithmetic.

    Float: thresholds in activation units, gamma as a rate. Fixed: ``T_int(k) = T(k) 2**F``
    and the gamma shift ``g(k)`` (:func:`~lava_diffpc.fixed_point.schedule_tables`); a
    threshold the 24-bit state cannot hold (finer than ``2**-F`` or beyond the state range)
    or a gamma2 that is no power of two raises ValueError.
    """
    if fixed is None:
        return schedule.thresholds()[:steps], schedule.gammas()[:steps]
    thresholds, gammas = schedule_tables(schedule, fixed)
    return thresholds[:steps], gammas[:steps]


# -------------------------------------------------------------------------- processes
class DiffPCProcess(AbstractProcess):
    """Base of every DiffPC Process: refuses a model of the other arithmetic.

    Lava assigns the runtime to every process of a network right after it compiled the
    network (model selection) and before it starts any OS process; the check sits there, so
    it applies whichever process ``run()`` was called on, and nothing is left running.
    """

    _runtime = None  # Lava's __del__ reads it, also after a constructor check raised

    @AbstractProcess.runtime.setter
    def runtime(self, value: Any) -> None:
        model = self.model_class
        built = self.proc_params["arithmetic"]
        if value is not None and isinstance(model, type) and issubclass(model, GuardedModel) \
                and model.arith.name != built:
            raise ValueError(mismatch_message(describe(type(self).__name__, self.name), built,
                                              model.arith.name))
        self._runtime = value


def describe(kind: str, name: str | None) -> str:
    """``DiffPCLayer 'layer1'`` (or the class alone without a name)."""
    return f"{kind} {name!r}" if name else kind


# ----------------------------------------------------------------------------- models
class GuardedModel(PyLoihiProcessModel):
    """Base of every DiffPC ProcessModel: every OutPort served every step, errors surfaced.

    Subclasses set ``arith`` (:data:`~lava_diffpc.rules.arithmetic.REAL` or ``FIXED``) and
    ``out_ports`` (the names of their OutPorts), implement :meth:`step` and send through
    :meth:`send`: every OutPort carries exactly one message per step, zeros when the step
    sent nothing on it (an idle step before ``phase_offset``, a port a mode does not use).
    """

    arith = REAL
    out_ports: tuple[str, ...] = ()

    def __init__(self, proc_params: Any) -> None:
        super().__init__(proc_params)
        self._unsent: list[str] = []

    @property
    def process_name(self) -> str:
        return describe(self.implements_process.__name__, self.proc_params.get("name"))

    def run_spk(self) -> None:
        """:meth:`step`, then zeros on every OutPort it did not send on (also when it raised:
        every receiver gets its message, so no model blocks on this one)."""
        self._unsent = list(self.out_ports)
        try:
            self.step()
        except Exception as exc:
            self._send_zeros()
            error = ModelError(f"{self.process_name} failed at time step {self.time_step}: "
                               f"{type(exc).__name__}: {exc}")
            print(f"lava_diffpc: {error}", file=sys.stderr, flush=True)  # Lava shows none
            raise error from exc
        self._send_zeros()

    def _send_zeros(self) -> None:
        for name in self._unsent:
            port = getattr(self, name)
            port.send(np.zeros(port._shape, port._d_type))
        self._unsent = []

    def step(self) -> None:
        raise NotImplementedError

    def send(self, name: str, value: np.ndarray) -> None:
        """Send ``value`` on the OutPort ``name`` (once per step)."""
        getattr(self, name).send(value)
        self._unsent.remove(name)


def mismatch_message(process: str, built: str, model: str) -> str:
    """The one-line refusal of a model whose arithmetic is not the process's."""
    hint = ("fixed=None" if model == "float" else "fixed=FixedFormat(...)")
    return (f"{process} was built for {built} arithmetic but Lava selected its {model} model "
            f"({TAGS[model]}): run with select_tag={TAGS[built]!r}, or build it with {hint}")


# ------------------------------------------------------------------------------ host
def run_steps(process: AbstractProcess, num_steps: int, run_cfg: Any = None) -> None:
    """``process.run(RunSteps(num_steps), run_cfg)``; a model failure raises ModelError.

    Lava reports a failed model only as ``RuntimeError("N Exception(s) occurred")``; this
    helper replaces it by the models' own messages. The network cannot run or stop after
    that (do not call ``stop()``: Lava would block).
    """
    try:
        process.run(condition=RunSteps(num_steps=int(num_steps)), run_cfg=run_cfg)
    except RuntimeError as exc:
        messages = model_errors(process)
        if not messages:
            raise
        raise ModelError("; ".join(messages)) from exc


def model_errors(process: AbstractProcess) -> list[str]:
    """The messages of the exceptions the models of ``process``'s network raised."""
    runtime = process.runtime
    infrastructure = getattr(runtime, "_messaging_infrastructure", None)
    if infrastructure is None:
        return []
    runtime._is_started = False  # its service is gone: Runtime.__del__ must not stop() it
    found = []
    for actor in infrastructure.actors:
        error = actor.exception
        if error:
            found.append(str(error[0]))
    return found

