"""Models of DiffPCLayer: thin drivers of the one step rule.

Both models call :func:`lava_diffpc.rules.dynamics.layer_step`; they differ only in the
arithmetic they pass (``floating_pt``: :data:`~lava_diffpc.rules.arithmetic.REAL` on float64
Vars; ``fixed_pt``: :data:`~lava_diffpc.rules.arithmetic.FIXED` on int32 Vars holding
24-bit values, computed in int64) and in the on-chip learning twin they apply to the bias.
The phase of a step comes from the schedule's own predicate
(:meth:`~lava_diffpc.rules.schedule.Schedule.is_learning`). Both receive every input first
and send last, so the W / W^T cycle through the synapses cannot deadlock.
"""

from __future__ import annotations

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.ports import PyInPort, PyOutPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol

from lava_diffpc.proc.common import GuardedModel
from lava_diffpc.proc.layer.process import DiffPCLayer
from lava_diffpc.rules import fixed_learning, learning
from lava_diffpc.rules.arithmetic import FIXED, REAL, as_int
from lava_diffpc.rules.dynamics import LayerState, StepValues, layer_step, reset_layer
from lava_diffpc.rules.schedule import Schedule

STATES = LayerState._fields


class _DiffPCLayerModel(GuardedModel):
    """Step logic shared by both precisions; subclasses set ``arith`` and the Var types."""

    arith = REAL
    out_ports = ("s_out_act", "s_out_err", "s_out_eT")

    def _schedule(self) -> Schedule:
        if not hasattr(self, "_schedule_cache"):
            self._schedule_cache = Schedule(**self.proc_params["schedule"])
        return self._schedule_cache

    def _number(self, v):
        """A Var element as the arithmetic's number (int64 for fixed point)."""
        return as_int(v) if self.arith.fixed else np.asarray(v, dtype=np.float64)

    def _label_message(self) -> np.ndarray | None:
        """This step's message on ``a_in_label`` (received every step, idle ones included,
        so the channel stays in step with its sender); None when the labels are stored, or
        for a hidden or inference-only layer."""
        params = self.proc_params
        connected = bool(self.a_in_label.csp_ports)
        if connected and not params["output"]:
            raise ValueError("a_in_label of a hidden layer is connected; labels clamp the "
                             "output layer: connect them to the layer built with output=True")
        if params["stored_labels"] and connected:
            raise ValueError("a_in_label is connected but the layer has stored labels; "
                             "build it with labels=None to take them from the port")
        if connected:
            return self.a_in_label.recv()
        if params["output"] and not params["stored_labels"] and \
                int(self.steps[0]) > self._schedule().k1:
            raise ValueError("the training output layer has no labels: pass labels=... or "
                             "connect a_in_label")
        return None

    def _label(self, sample: int, message: np.ndarray | None) -> int | None:
        """The class of ``sample`` (output layer): stored, or the received one."""
        if not self.proc_params["output"]:
            return None
        if self.proc_params["stored_labels"]:
            return int(self.labels[sample])
        return None if message is None else received_label(message, self.x_T.shape[0])

    def step(self) -> None:
        fwd, fb = self.a_in_fwd.recv(), self.a_in_fb.recv()
        message = self._label_message()
        params = self.proc_params
        t = self.time_step - 1 - params["phase_offset"]
        if t < 0:
            return
        schedule = self._schedule()
        steps = int(self.steps[0])
        k = t % steps
        sample = t // steps % self.predictions.shape[0]
        label = self._label(sample, message)
        step = StepValues(self.thresholds[k - 1].item() if k > 0 else 0,
                          self.thresholds[k].item(), self.gammas[k].item(),
                          schedule.is_learning(k))
        if k == 0:  # what arrives now was sent during the previous sample's last step
            state = reset_layer(self._number(self.bias), self._number(self.x_F))
            fwd = fb = None
        else:
            state = LayerState(*(self._number(getattr(self, name)) for name in STATES))
            fwd, fb = self._number(fwd), self._number(fb)
        clamp = None
        if step.learning and label is not None:
            clamp = self._number(np.zeros(self.x_T.shape))
            clamp[label] = self.target[0]
        state, s_act, s_err = layer_step(state, fwd, fb, step, self.arith,
                                         fwd_exp=params["fwd_exp"], fb_exp=params["fb_exp"],
                                         clamp=clamp, gate=params["gate"])
        for name, value in zip(STATES, state):
            getattr(self, name)[:] = value
        if params["output"] and k == schedule.k1 - 1:
            self.predictions[sample] = int(np.argmax(self.x_T))
        self.act_count[int(step.learning)] += int(np.count_nonzero(s_act))
        self.err_count[int(step.learning)] += int(np.count_nonzero(s_err))
        self.send("s_out_act", s_act)
        self.send("s_out_err", s_err)
        if params["learn"]:
            self.send("s_out_eT", self._third_factor(self.e_T))
            if k == steps - 1:
                self.bias[:] = self._bias_update(self.bias, self.e_T)


def received_label(message: np.ndarray, n_classes: int) -> int:
    """The class index carried by one ``a_in_label`` message; ValueError unless it is an
    integer in ``[0, n_classes)``."""
    value = float(np.asarray(message).reshape(-1)[0])
    if value != int(value) or not 0 <= value < n_classes:
        raise ValueError(f"a_in_label received {value}, not a class index in "
                         f"[0, {n_classes}): send integer labels 0..{n_classes - 1}")
    return int(value)


@implements(proc=DiffPCLayer, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PyDiffPCLayerFloat(_DiffPCLayerModel):
    """Float64 model: :func:`~lava_diffpc.rules.dynamics.layer_step` in real arithmetic."""

    a_in_fwd: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)
    a_in_fb: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)
    a_in_label: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)
    s_out_act: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, float)
    s_out_err: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, float)
    s_out_eT: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, float)
    x_F: np.ndarray = LavaPyType(np.ndarray, float)
    x_T: np.ndarray = LavaPyType(np.ndarray, float)
    x_A: np.ndarray = LavaPyType(np.ndarray, float)
    e_T: np.ndarray = LavaPyType(np.ndarray, float)
    e_A: np.ndarray = LavaPyType(np.ndarray, float)
    e_in: np.ndarray = LavaPyType(np.ndarray, float)
    bias: np.ndarray = LavaPyType(np.ndarray, float)
    thresholds: np.ndarray = LavaPyType(np.ndarray, float)
    gammas: np.ndarray = LavaPyType(np.ndarray, float)
    steps: np.ndarray = LavaPyType(np.ndarray, int)
    labels: np.ndarray = LavaPyType(np.ndarray, int)
    target: np.ndarray = LavaPyType(np.ndarray, float)
    predictions: np.ndarray = LavaPyType(np.ndarray, int)
    act_count: np.ndarray = LavaPyType(np.ndarray, int)
    err_count: np.ndarray = LavaPyType(np.ndarray, int)

    @staticmethod
    def _third_factor(e_T: np.ndarray) -> np.ndarray:
        return e_T

    def _bias_update(self, bias: np.ndarray, e_T: np.ndarray) -> np.ndarray:
        return learning.sgd_bias_update(bias, e_T[None, :], self.proc_params["alpha"])


@implements(proc=DiffPCLayer, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyDiffPCLayerFixed(_DiffPCLayerModel):
    """Integer model: :func:`~lava_diffpc.rules.dynamics.layer_step` in 24-bit saturating
    fixed point."""

    arith = FIXED

    a_in_fwd: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)
    a_in_fb: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)
    a_in_label: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32)
    s_out_act: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=2)
    s_out_err: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=2)
    s_out_eT: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=8)
    x_F: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    x_T: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    x_A: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    e_T: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    e_A: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    e_in: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    bias: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    thresholds: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    gammas: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=8)
    steps: np.ndarray = LavaPyType(np.ndarray, np.int32)
    labels: np.ndarray = LavaPyType(np.ndarray, np.int32)
    target: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    predictions: np.ndarray = LavaPyType(np.ndarray, np.int32)
    act_count: np.ndarray = LavaPyType(np.ndarray, np.int64)
    err_count: np.ndarray = LavaPyType(np.ndarray, np.int64)

    def _third_factor(self, e_T: np.ndarray) -> np.ndarray:
        return fixed_learning.error_factor(e_T, self.proc_params["err_shift"])

    def _bias_update(self, bias: np.ndarray, e_T: np.ndarray) -> np.ndarray:
        return fixed_learning.bias_update(bias, e_T, self.proc_params["lr_shift"])
