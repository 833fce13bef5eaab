"""Models of DiffPCConvSynapse: send the buffered sums, receive spikes, compute the next sums
with the reference's own convolution (:class:`~lava_diffpc.reference.conv.ConvConnection`)."""

from __future__ import annotations

import numpy as np
import torch
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.ports import PyInPort, PyOutPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol

from lava_diffpc.config import ConvSpec
from lava_diffpc.proc.common import GuardedModel
from lava_diffpc.proc.conv_synapse.process import DiffPCConvSynapse
from lava_diffpc.reference.conv import ConvConnection
from lava_diffpc.rules.arithmetic import FIXED, REAL


class _DiffPCConvSynapseModel(GuardedModel):
    """Send first, then receive (see the Process docstring). The sums run in float64
    through ``ConvConnection.forward`` / ``transpose``, the functions the float reference and
    fixedsim call; ``fixed_pt`` rounds the (exact) integer results to ``int64``."""

    arith = REAL
    out_ports = ("a_out_fwd", "a_out_bwd")

    def _connection(self) -> ConvConnection:
        if not hasattr(self, "_conn"):
            # one thread: this model runs in a forked child, where a thread pool inherited
            # from the parent is not safe to use
            torch.set_num_threads(1)
            p = self.proc_params
            self._conn = ConvConnection(ConvSpec(p["channels"], p["kernel"], p["stride"],
                                                 p["padding"]), p["in_shape"])
        return self._conn

    def _sum(self, spikes: np.ndarray, transpose: bool) -> np.ndarray | int:
        """``conv(s, W)`` or ``conv_transpose(s, W)`` flattened (CHW); 0 without spikes."""
        conn = self._connection()
        shape = conn.out_shape if transpose else conn.in_shape
        s = torch.from_numpy(np.asarray(spikes, dtype=np.float64).reshape(1, *shape))
        w = torch.from_numpy(np.asarray(self.weights, dtype=np.float64))
        out = conn.transpose(s, w) if transpose else conn.forward(s, w)
        if out is None:
            return 0
        out = out.reshape(-1).numpy()
        return np.rint(out).astype(np.int64) if self.arith.fixed else out

    def step(self) -> None:
        self.send("a_out_fwd", self.a_fwd)
        self.send("a_out_bwd", self.a_bwd)
        s_act, s_err = self.s_in_act.recv(), self.s_in_err.recv()
        self.a_fwd[:] = self._sum(s_act, transpose=False)
        self.a_bwd[:] = self._sum(s_err, transpose=True)


@implements(proc=DiffPCConvSynapse, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PyDiffPCConvSynapseFloat(_DiffPCConvSynapseModel):
    """Float64 kernel and sums ``conv(s, W)``, ``conv_transpose(s, W)``."""

    s_in_act: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)
    s_in_err: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)
    a_out_fwd: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, float)
    a_out_bwd: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, float)
    weights: np.ndarray = LavaPyType(np.ndarray, float)
    weight_exp: np.ndarray = LavaPyType(np.ndarray, int)
    a_fwd: np.ndarray = LavaPyType(np.ndarray, float)
    a_bwd: np.ndarray = LavaPyType(np.ndarray, float)


@implements(proc=DiffPCConvSynapse, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyDiffPCConvSynapseFixed(_DiffPCConvSynapseModel):
    """8-bit kernel mantissas, exact integer dendritic sums (the layer applies ``2**-E``)."""

    arith = FIXED

    s_in_act: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=2)
    s_in_err: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=2)
    a_out_fwd: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)
    a_out_bwd: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)
    weights: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=8)
    weight_exp: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=5)
    a_fwd: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    a_bwd: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
