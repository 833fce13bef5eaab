"""Models of DiffPCInput: the one ``track`` rule on the clamped sample, in either arithmetic."""

from __future__ import annotations

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.ports import PyOutPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol

from lava_diffpc.proc.common import GuardedModel
from lava_diffpc.proc.io.process import DiffPCInput
from lava_diffpc.rules.arithmetic import FIXED, REAL, as_int
from lava_diffpc.rules.dynamics import track
from lava_diffpc.rules.schedule import Schedule


class _DiffPCInputModel(GuardedModel):
    """Idle for ``phase_offset`` steps; reset at each sample's first step, then track the
    clamped sample."""

    arith = REAL
    out_ports = ("s_out",)

    def step(self) -> None:
        if not hasattr(self, "_schedule"):
            self._schedule = Schedule(**self.proc_params["schedule"])
        t = self.time_step - 1 - self.proc_params["phase_offset"]
        if t < 0:
            return
        steps = int(self.steps[0])
        k = t % steps
        sample = t // steps % self.data.shape[0]
        if k == 0:
            self.x_A[:] = 0
        number = as_int if self.arith.fixed else (lambda v: np.asarray(v, dtype=np.float64))
        x_A, s = track(number(self.data[sample]), number(self.x_A),
                       self.thresholds[k].item(), self.proc_params["gate"], self.arith)
        self.x_A[:] = x_A
        self.act_count[int(self._schedule.is_learning(k))] += int(np.count_nonzero(s))
        self.send("s_out", s)


@implements(proc=DiffPCInput, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PyDiffPCInputFloat(_DiffPCInputModel):
    """Float64 model: :func:`~lava_diffpc.rules.dynamics.track` in real arithmetic."""

    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, float)
    data: np.ndarray = LavaPyType(np.ndarray, float)
    x_A: np.ndarray = LavaPyType(np.ndarray, float)
    thresholds: np.ndarray = LavaPyType(np.ndarray, float)
    steps: np.ndarray = LavaPyType(np.ndarray, int)
    act_count: np.ndarray = LavaPyType(np.ndarray, int)


@implements(proc=DiffPCInput, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyDiffPCInputFixed(_DiffPCInputModel):
    """Integer model: :func:`~lava_diffpc.rules.dynamics.track`, 24-bit saturating."""

    arith = FIXED

    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=2)
    data: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    x_A: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    thresholds: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    steps: np.ndarray = LavaPyType(np.ndarray, np.int32)
    act_count: np.ndarray = LavaPyType(np.ndarray, np.int64)
