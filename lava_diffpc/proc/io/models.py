"""Models of DiffPCInput: the shared ``track`` rule on the clamped sample."""

from __future__ import annotations

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.model import PyLoihiProcessModel
from lava.magma.core.model.py.ports import PyOutPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol

from lava_diffpc.proc.io.process import DiffPCInput
from lava_diffpc.rules import dynamics, fixed


class _DiffPCInputModel(PyLoihiProcessModel):
    """Reset at each sample's first step, then track the clamped sample."""

    def run_spk(self) -> None:
        steps = int(self.steps[0])
        k = (self.time_step - 1) % steps
        sample = (self.time_step - 1) // steps % self.data.shape[0]
        if k == 0:
            self.x_A[:] = 0
        x_A, s = self._track(self.data[sample], self.x_A, self.thresholds[k])
        self.x_A[:] = x_A
        self.act_count[int(k >= int(self.k1[0]))] += int(np.count_nonzero(s))
        self.s_out.send(s)


@implements(proc=DiffPCInput, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PyDiffPCInputFloat(_DiffPCInputModel):
    """Float64 model: :func:`lava_diffpc.rules.dynamics.track`."""

    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, float)
    data: np.ndarray = LavaPyType(np.ndarray, float)
    x_A: np.ndarray = LavaPyType(np.ndarray, float)
    thresholds: np.ndarray = LavaPyType(np.ndarray, float)
    k1: np.ndarray = LavaPyType(np.ndarray, int)
    steps: np.ndarray = LavaPyType(np.ndarray, int)
    act_count: np.ndarray = LavaPyType(np.ndarray, int)

    def _track(self, x, x_A, threshold):
        return dynamics.track(x, x_A, float(threshold), self.proc_params["gate"])


@implements(proc=DiffPCInput, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyDiffPCInputFixed(_DiffPCInputModel):
    """Integer model: :func:`lava_diffpc.rules.fixed.track` (24-bit saturating)."""

    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=2)
    data: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    x_A: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    thresholds: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    k1: np.ndarray = LavaPyType(np.ndarray, np.int32)
    steps: np.ndarray = LavaPyType(np.ndarray, np.int32)
    act_count: np.ndarray = LavaPyType(np.ndarray, np.int64)

    def _track(self, x, x_A, threshold):
        return fixed.track(x, x_A, int(threshold), self.proc_params["gate"])
