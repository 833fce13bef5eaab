"""Models of DiffPCLayer: thin drivers of the shared step rules.

``floating_pt`` calls :mod:`lava_diffpc.rules.dynamics` (float64 NumPy), ``fixed_pt`` calls
:mod:`lava_diffpc.rules.fixed` (int32 Vars holding 24-bit values). Both receive every input
first and send last, so the W / W^T cycle through the synapses cannot deadlock.
"""

from __future__ import annotations

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.model import PyLoihiProcessModel
from lava.magma.core.model.py.ports import PyInPort, PyOutPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol

from lava_diffpc.proc.layer.process import DiffPCLayer
from lava_diffpc.rules import dynamics, fixed, fixed_learning, learning
from lava_diffpc.rules.dynamics import LayerState

STATES = ("x_F", "x_T", "x_A", "e_T", "e_A", "e_in")


class _DiffPCLayerModel(PyLoihiProcessModel):
    """Step logic shared by both precisions; subclasses supply the rule calls."""

    def run_spk(self) -> None:
        fwd, fb = self.a_in_fwd.recv(), self.a_in_fb.recv()
        steps, k1 = int(self.steps[0]), int(self.k1[0])
        k = (self.time_step - 1) % steps
        sample = (self.time_step - 1) // steps % self.labels.shape[0]
        learning = k >= k1
        if k == 0:
            state = self._reset()
            fwd, fb, t_prev = 0 * fwd, 0 * fb, 0
        else:
            state = LayerState(*(getattr(self, name) for name in STATES))
            t_prev = self.thresholds[k - 1]
        clamp = None
        if learning and self.proc_params["output"]:
            clamp = np.zeros_like(self.x_T)
            clamp[int(self.labels[sample])] = self.target[0]
        state, s_act, s_err = self._step(state, fwd, fb, t_prev, self.thresholds[k],
                                         self.gammas[k], learning, clamp)
        for name, value in zip(STATES, state):
            getattr(self, name)[:] = value
        if self.proc_params["output"] and k == k1 - 1:
            self.predictions[sample] = int(np.argmax(self.x_T))
        self.act_count[int(learning)] += int(np.count_nonzero(s_act))
        self.err_count[int(learning)] += int(np.count_nonzero(s_err))
        self.s_out_act.send(s_act)
        self.s_out_err.send(s_err)
        if self.proc_params["learn"]:
            self.s_out_eT.send(self._third_factor(self.e_T))
            if k == steps - 1:
                self.bias[:] = self._bias_update(self.bias, self.e_T)


@implements(proc=DiffPCLayer, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PyDiffPCLayerFloat(_DiffPCLayerModel):
    """Float64 model: :func:`lava_diffpc.rules.dynamics.layer_step`."""

    a_in_fwd: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)
    a_in_fb: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)
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
    k1: np.ndarray = LavaPyType(np.ndarray, int)
    steps: np.ndarray = LavaPyType(np.ndarray, int)
    labels: np.ndarray = LavaPyType(np.ndarray, int)
    target: np.ndarray = LavaPyType(np.ndarray, float)
    predictions: np.ndarray = LavaPyType(np.ndarray, int)
    act_count: np.ndarray = LavaPyType(np.ndarray, int)
    err_count: np.ndarray = LavaPyType(np.ndarray, int)

    def _reset(self) -> LayerState:
        return dynamics.reset_layer(self.bias, self.x_F)

    def _step(self, state, fwd, fb, t_prev, t_now, gamma, learning, clamp):
        return dynamics.layer_step(state, fwd, fb, float(t_prev), float(t_now), float(gamma),
                                   error_spikes=learning, clamp=clamp,
                                   gate=self.proc_params["gate"])

    @staticmethod
    def _third_factor(e_T: np.ndarray) -> np.ndarray:
        return e_T

    def _bias_update(self, bias: np.ndarray, e_T: np.ndarray) -> np.ndarray:
        return learning.sgd_bias_update(bias, e_T[None, :], self.proc_params["alpha"])


@implements(proc=DiffPCLayer, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyDiffPCLayerFixed(_DiffPCLayerModel):
    """Integer model: :func:`lava_diffpc.rules.fixed.layer_step` (24-bit saturating)."""

    a_in_fwd: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)
    a_in_fb: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)
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
    k1: np.ndarray = LavaPyType(np.ndarray, np.int32)
    steps: np.ndarray = LavaPyType(np.ndarray, np.int32)
    labels: np.ndarray = LavaPyType(np.ndarray, np.int32)
    target: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    predictions: np.ndarray = LavaPyType(np.ndarray, np.int32)
    act_count: np.ndarray = LavaPyType(np.ndarray, np.int64)
    err_count: np.ndarray = LavaPyType(np.ndarray, np.int64)

    def _reset(self) -> LayerState:
        return fixed.reset_layer(self.bias, self.x_F)

    def _step(self, state, fwd, fb, t_prev, t_now, gamma, learning, clamp):
        params = self.proc_params
        return fixed.layer_step(state, fwd, fb, int(t_prev), int(t_now), int(gamma),
                                fwd_exp=params["fwd_exp"], fb_exp=params["fb_exp"],
                                error_spikes=learning, clamp=clamp, gate=params["gate"])

    def _third_factor(self, e_T: np.ndarray) -> np.ndarray:
        return fixed_learning.error_factor(e_T, self.proc_params["err_shift"])

    def _bias_update(self, bias: np.ndarray, e_T: np.ndarray) -> np.ndarray:
        return fixed_learning.bias_update(bias, e_T, self.proc_params["lr_shift"])
