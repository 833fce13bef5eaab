"""Models of DiffPCSynapse: send the buffered sums, receive spikes, compute the next sums,
and (learning) apply the shared rule once per sample."""

from __future__ import annotations

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.ports import PyInPort, PyOutPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol

from lava_diffpc.proc.common import GuardedModel
from lava_diffpc.proc.synapse.process import DiffPCSynapse
from lava_diffpc.rules import fixed_learning, learning
from lava_diffpc.rules.arithmetic import FIXED, REAL


class _DiffPCSynapseModel(GuardedModel):
    """Send first, then receive (see the Process docstring); no spikes, no product."""

    arith = REAL
    out_ports = ("a_out_fwd", "a_out_bwd")

    def step(self) -> None:
        self.send("a_out_fwd", self.a_fwd)
        self.send("a_out_bwd", self.a_bwd)
        s_act, s_err = self.s_in_act.recv(), self.s_in_err.recv()
        post = self.a_in_post.recv()
        self.a_fwd[:] = self.arith.synaptic_sum(s_act, self.weights) if s_act.any() else 0
        self.a_bwd[:] = self.arith.synaptic_sum(s_err, self.weights.T) if s_err.any() else 0
        t = self.time_step - 1 - self.proc_params["phase_offset"]
        if self.proc_params["learn"] and t >= 0:
            steps = int(self.steps[0])
            k = t % steps
            if k == 0:
                self.trace[:] = 0
            self.trace[:] = self._accumulate(self.trace, s_act, self.impulses[k])
            if k == steps - 1:
                self._learn(post)


@implements(proc=DiffPCSynapse, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PyDiffPCSynapseFloat(_DiffPCSynapseModel):
    """Float64 sums ``W s`` and ``W^T s``; learning: :mod:`lava_diffpc.rules.learning`."""

    s_in_act: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)
    s_in_err: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)
    a_in_post: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)
    a_out_fwd: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, float)
    a_out_bwd: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, float)
    weights: np.ndarray = LavaPyType(np.ndarray, float)
    weight_exp: np.ndarray = LavaPyType(np.ndarray, int)
    a_fwd: np.ndarray = LavaPyType(np.ndarray, float)
    a_bwd: np.ndarray = LavaPyType(np.ndarray, float)
    trace: np.ndarray = LavaPyType(np.ndarray, float)
    impulses: np.ndarray = LavaPyType(np.ndarray, float)
    steps: np.ndarray = LavaPyType(np.ndarray, int)
    saturated: np.ndarray = LavaPyType(np.ndarray, int)

    @staticmethod
    def _accumulate(trace: np.ndarray, spikes: np.ndarray, impulse: float) -> np.ndarray:
        return learning.accumulate_activity(trace, spikes, float(impulse))

    def _learn(self, e_T: np.ndarray) -> None:
        """``W += alpha e_T x_A^T`` (batch of one)."""
        self.weights[:] = learning.sgd_update(self.weights, e_T[None, :], self.trace[None, :],
                                              self.proc_params["alpha"])


@implements(proc=DiffPCSynapse, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyDiffPCSynapseFixed(_DiffPCSynapseModel):
    """Exact integer dendritic sums of 8-bit mantissas (``FIXED.synaptic_sum``);
    learning: :mod:`lava_diffpc.rules.fixed_learning` (learning-engine form)."""

    arith = FIXED

    s_in_act: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=2)
    s_in_err: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=2)
    a_in_post: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=8)
    a_out_fwd: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)
    a_out_bwd: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)
    weights: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=8)
    weight_exp: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=5)
    a_fwd: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    a_bwd: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    trace: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    impulses: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=8)
    steps: np.ndarray = LavaPyType(np.ndarray, np.int32)
    saturated: np.ndarray = LavaPyType(np.ndarray, np.int64)

    @staticmethod
    def _accumulate(trace: np.ndarray, spikes: np.ndarray, impulse: int) -> np.ndarray:
        return fixed_learning.trace_step(trace, spikes, int(impulse))

    def _learn(self, y: np.ndarray) -> None:
        """Learning-engine update of the mantissas with the seeded generator of the matrix."""
        params = self.proc_params
        if not hasattr(self, "_rng"):
            self._rng = fixed_learning.synapse_rng(params["seed"], params["layer"])
        w, n_sat = fixed_learning.weight_update(self.weights, fixed_learning.pre_trace(
            self.trace), y, params["shift"], self._rng)
        self.weights[:] = w
        self.saturated[0] += n_sat
