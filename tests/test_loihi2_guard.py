"""``loihi2`` refuses to run the DiffPC processes on Loihi2HwCfg until neuro-core models exist,
with or without lava-loihi (which is not installed here: its check is monkeypatched)."""

from __future__ import annotations

import pytest

pytest.importorskip("lava.magma", reason="lava-nc 0.10 (Python 3.10) is not installed")

from lava.utils import loihi  # noqa: E402

from lava_diffpc import lava_graph  # noqa: E402
from lava_diffpc.lava_graph import PROCESSES, neurocore_models, run_config  # noqa: E402


def test_no_diffpc_process_has_a_neurocore_model():
    assert neurocore_models() == {}


def test_refused_even_with_lava_loihi_installed(monkeypatch):
    monkeypatch.setattr(loihi, "is_installed", lambda: True)
    with pytest.raises(RuntimeError) as err:
        run_config("fixed", "loihi2")
    msg = str(err.value)
    assert "no Loihi 2 neuro-core (microcode) ProcessModel exists for DiffPCInput, " \
           "DiffPCLayer, DiffPCSynapse" in msg
    assert "not installed" not in msg
    assert "export RUN --format netx" in msg and "--backend netx" in msg
    assert "bit-level specification a microcode port" in msg


def test_refused_without_lava_loihi_names_both_reasons(monkeypatch):
    monkeypatch.setattr(loihi, "is_installed", lambda: False)
    with pytest.raises(RuntimeError, match="lava-loihi.*INRC.*neuro-core.*netx.*bit-level"):
        run_config("float", "loihi2")


def test_runs_on_the_chip_once_every_process_has_a_neurocore_model(monkeypatch):
    from lava.magma.core.run_configs import Loihi2HwCfg

    monkeypatch.setattr(loihi, "is_installed", lambda: True)
    monkeypatch.setattr(lava_graph, "neurocore_models",
                        lambda: {p.__name__: [object] for p in PROCESSES})
    assert isinstance(run_config("fixed", "loihi2"), Loihi2HwCfg)
    monkeypatch.setattr(lava_graph, "neurocore_models",
                        lambda: {p.__name__: [object] for p in PROCESSES[:2]})
    with pytest.raises(RuntimeError, match="exists for DiffPCSynapse"):
        run_config("fixed", "loihi2")


def test_neurocore_models_finds_a_chip_model(monkeypatch):
    """A model class that implements a DiffPC process and requires a Loihi 2 neuro-core is
    what the guard looks for (a stand-in class, added to the layer's models module)."""
    from lava.magma.core.decorator import implements, requires
    from lava.magma.core.model.model import AbstractProcessModel
    from lava.magma.core.resources import Loihi2NeuroCore
    from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol

    from lava_diffpc.proc.layer import models
    from lava_diffpc.proc.layer.process import DiffPCLayer

    @implements(proc=DiffPCLayer, protocol=LoihiProtocol)
    @requires(Loihi2NeuroCore)
    class NcDiffPCLayer(AbstractProcessModel):
        pass

    monkeypatch.setattr(models, "NcDiffPCLayer", NcDiffPCLayer, raising=False)
    assert neurocore_models() == {"DiffPCLayer": [NcDiffPCLayer]}
