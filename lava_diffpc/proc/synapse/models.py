"""Models of DiffPCSynapse: send the buffered sums, receive spikes, compute the next sums."""

from __future__ import annotations

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.model import PyLoihiProcessModel
from lava.magma.core.model.py.ports import PyInPort, PyOutPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol

from lava_diffpc.proc.synapse.process import DiffPCSynapse
from lava_diffpc.rules import fixed


class _DiffPCSynapseModel(PyLoihiProcessModel):
    """Send first, then receive (see the Process docstring); no spikes, no product."""

    def run_spk(self) -> None:
        self.a_out_fwd.send(self.a_fwd)
        self.a_out_bwd.send(self.a_bwd)
        s_act, s_err = self.s_in_act.recv(), self.s_in_err.recv()
        self.a_fwd[:] = self._sum(s_act, self.weights) if s_act.any() else 0
        self.a_bwd[:] = self._sum(s_err, self.weights.T) if s_err.any() else 0


@implements(proc=DiffPCSynapse, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PyDiffPCSynapseFloat(_DiffPCSynapseModel):
    """Float64 sums ``W s`` and ``W^T s``."""

    s_in_act: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)
    s_in_err: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)
    a_out_fwd: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, float)
    a_out_bwd: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, float)
    weights: np.ndarray = LavaPyType(np.ndarray, float)
    weight_exp: np.ndarray = LavaPyType(np.ndarray, int)
    a_fwd: np.ndarray = LavaPyType(np.ndarray, float)
    a_bwd: np.ndarray = LavaPyType(np.ndarray, float)

    @staticmethod
    def _sum(spikes: np.ndarray, weights: np.ndarray) -> np.ndarray:
        return weights @ spikes


@implements(proc=DiffPCSynapse, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyDiffPCSynapseFixed(_DiffPCSynapseModel):
    """Exact integer dendritic sums of 8-bit mantissas (:func:`rules.fixed.spike_sum`)."""

    s_in_act: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=2)
    s_in_err: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=2)
    a_out_fwd: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)
    a_out_bwd: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)
    weights: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=8)
    weight_exp: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=5)
    a_fwd: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    a_bwd: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)

    @staticmethod
    def _sum(spikes: np.ndarray, weights: np.ndarray) -> np.ndarray:
        return fixed.spike_sum(spikes, weights)
