"""Cross-check of the float on-chip rule against Lava's own learning engine (``LearningDense``).

Forward direction, floating point: the presynaptic neuron sends the graded payload
``2 T(k) s(k)`` (``ADD_WITH_SATURATION`` adds ``payload / 2`` to ``x1``, so ``x1`` becomes
``x_A``), a third-factor neuron sends ``y1 = e_T`` every step, and the rule
``dw = 2^-2 * u0 * x1 * y1`` with ``t_epoch = K`` fires once at the sample's end. The
result must equal :func:`lava_diffpc.rules.learning.sgd_update` with ``x_A`` rebuilt by
:func:`~lava_diffpc.rules.learning.accumulate_activity` (what ``DiffPCSynapse`` runs), up
to the engine's trace decay ``exp(-K / 65535)`` (lava-notes section 3.4).
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("lava.magma", reason="lava-nc 0.10 (Python 3.10) is not installed")

from lava.magma.core.decorator import implements, requires, tag  # noqa: E402
from lava.magma.core.learning.constants import GradedSpikeCfg  # noqa: E402
from lava.magma.core.learning.learning_rule import Loihi3FLearningRule  # noqa: E402
from lava.magma.core.model.py.neuron import LearningNeuronModelFloat  # noqa: E402
from lava.magma.core.model.py.ports import PyInPort  # noqa: E402
from lava.magma.core.model.py.type import LavaPyType  # noqa: E402
from lava.magma.core.process.neuron import LearningNeuronProcess  # noqa: E402
from lava.magma.core.process.ports.ports import InPort  # noqa: E402
from lava.magma.core.process.process import AbstractProcess  # noqa: E402
from lava.magma.core.process.variable import Var  # noqa: E402
from lava.magma.core.resources import CPU  # noqa: E402
from lava.magma.core.run_conditions import RunSteps  # noqa: E402
from lava.magma.core.run_configs import Loihi2SimCfg  # noqa: E402
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol  # noqa: E402
from lava.proc.dense.process import LearningDense  # noqa: E402
from lava.proc.io.source import RingBuffer  # noqa: E402

from lava_diffpc.rules import dynamics, learning  # noqa: E402


class ThirdFactor(LearningNeuronProcess, AbstractProcess):
    """A post neuron that sends a constant third factor ``y1`` every step."""

    def __init__(self, *, y1: np.ndarray, learning_rule: Loihi3FLearningRule) -> None:
        y1 = np.asarray(y1, dtype=float)
        super().__init__(shape=y1.shape, learning_rule=learning_rule)
        self.a_in = InPort(shape=y1.shape)
        self.value = Var(shape=y1.shape, init=y1)


@implements(proc=ThirdFactor, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PyThirdFactor(LearningNeuronModelFloat):
    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)
    value: np.ndarray = LavaPyType(np.ndarray, float)

    def run_spk(self) -> None:
        super().run_spk()
        self.a_in.recv()
        self.y1 = self.value.copy()
        self.s_out_y1.send(self.y1)


@pytest.mark.slow
def test_learning_dense_forward_update_matches_the_float_rule():
    steps, lr_shift = 8, 2
    thresholds = np.array([2.0 ** -(k % 4) for k in range(steps)])
    x_A, trace, spikes = np.zeros(3), np.zeros(3), []
    for k in range(steps):  # a gated presynaptic layer announcing [1.3, 0.4, 2.2]
        x_A, s = dynamics.track(np.array([1.3, 0.4, 2.2]), x_A, thresholds[k], gate=True)
        trace = learning.accumulate_activity(trace, s, thresholds[k])
        spikes.append(s)
    assert np.array_equal(trace, x_A)
    e_T = np.array([0.7, -0.3])
    w0 = np.random.default_rng(0).normal(size=(2, 3))
    rule = Loihi3FLearningRule(dw=f"2^-{lr_shift} * u0 * x1 * y1", x1_impulse=0,
                               x1_tau=65535, t_epoch=steps)
    src = RingBuffer(data=2 * np.array(spikes).T * thresholds[None, :])
    syn = LearningDense(weights=w0, learning_rule=rule, num_message_bits=8,
                        graded_spike_cfg=GradedSpikeCfg.ADD_WITH_SATURATION)
    post = ThirdFactor(y1=e_T, learning_rule=rule)
    src.s_out.connect(syn.s_in)
    syn.a_out.connect(post.a_in)
    post.s_out_y1.connect(syn.s_in_y1)
    cfg = Loihi2SimCfg(select_tag="floating_pt", exception_proc_model_map={post: PyThirdFactor})
    src.run(condition=RunSteps(num_steps=steps), run_cfg=cfg)
    try:
        w, x1 = syn.weights.get(), syn.x1.get()
    finally:
        src.stop()
    expected = learning.sgd_update(w0, e_T[None], trace[None], 2.0**-lr_shift)
    decay = 1 - np.exp(-steps / 65535)
    assert np.abs(x1 - trace).max() <= 2 * decay * np.abs(trace).max()
    assert np.abs((w - w0) - (expected - w0)).max() <= 2 * decay * np.abs(expected - w0).max()
    assert np.abs(expected - w0).min() > 0.01
