"""``export``, ``evaluate --backend netx``, ``evaluate --backend loihi2`` and ``cost`` on a
briefly trained digits run."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lava_diffpc.cli import main


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    assert main(["train", "--preset", "digits", "--arch", "64-32-10", "--epochs", "2",
                 "--c1", "6", "--c2", "6", "--models", "diffpc", "--out", str(out),
                 "--no-progress"]) == 0
    return out


@pytest.mark.slow
def test_export_then_evaluate_on_netx(digits_run, tmp_path, capsys):
    """The file ``export`` writes is the network ``evaluate --backend netx`` runs on lava-dl:
    the file's NumPy model gives the accuracy evaluate reports, close to fixedsim's."""
    from test_netx import _need_netx

    _need_netx()
    from lava_diffpc.data import load_dataset
    from lava_diffpc.export.netx import NetxNetwork

    path = tmp_path / "digits.net"
    assert main(["export", str(digits_run), "--format", "netx", "-o", str(path)]) == 0
    assert f"wrote {path}" in capsys.readouterr().out
    net = NetxNetwork.read(path)
    assert net.meta["source"]["name"] == "diffpc" and net.meta["input_std"]
    results = {}
    for backend in ("netx", "fixedsim"):
        js = tmp_path / f"{backend}.json"
        assert main(["evaluate", str(digits_run), "--backend", backend, "--no-progress",
                     "--json", str(js)]) == 0
        results[backend] = json.loads(js.read_text())["diffpc"]["test_acc"]
    out = capsys.readouterr().out
    assert "Lava's outputs equal the file's NumPy model on 360 of 360 samples" in out
    ds = load_dataset("digits")
    assert results["netx"] == pytest.approx(float(np.mean(net.predict(ds.x_test) == ds.y_test)))
    assert abs(results["netx"] - results["fixedsim"]) <= 0.02


@pytest.mark.slow
def test_loihi2_backend_refuses_even_with_lava_loihi(digits_run, monkeypatch, capsys):
    pytest.importorskip("lava.magma", reason="lava-nc 0.10 (Python 3.10) is not installed")
    from lava.utils import loihi

    monkeypatch.setattr(loihi, "is_installed", lambda: True)
    assert main(["evaluate", str(digits_run), "--backend", "loihi2", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "neuro-core" in err and "--format netx" in err and "bit-level specification" in err


@pytest.mark.slow
def test_cost_command_writes_the_report(digits_run, tmp_path, capsys):
    path = tmp_path / "cost.json"
    assert main(["cost", str(digits_run), "--samples", "50", "--json", str(path)]) == 0
    out = capsys.readouterr().out
    assert "ESTIMATED Loihi 2 energy per inference" in out and "Davies et al." in out
    report = json.loads(path.read_text())
    weights = 64 * 32 + 32 * 10
    assert report["training"]["synaptic_updates"] == weights
    assert report["backprop"] == {"forward_macs": weights,
                                  "forward_backward_macs": 3 * weights - 64 * 32}
    assert report["samples"] == {"ff": 50, "learn": 50}
    inference = report["inference"]
    assert inference["synaptic_ops"] == pytest.approx(
        sum(r["synaptic_ops"] for r in report["per_layer"] if r["phase"] == "ff"))
    assert inference["neuron_updates"] == (64 + 32 + 10) * report["steps"]["ff"]
    assert inference["energy_estimate_J"] > 0
