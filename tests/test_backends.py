"""One trained checkpoint, several drivers; oracle: the float reference's accuracy."""

import json

import pytest

from lava_diffpc.backends import BACKENDS
from lava_diffpc.cli import main


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    assert main(["train", "--preset", "digits", "--arch", "64-32-10", "--epochs", "2",
                 "--c1", "6", "--c2", "6", "--models", "diffpc", "--out", str(out),
                 "--no-progress"]) == 0
    return out


def _evaluate(run, backend, tmp_path):
    path = tmp_path / f"{backend}.json"
    assert main(["evaluate", str(run), "--backend", backend, "--no-progress",
                 "--json", str(path)]) == 0
    return json.loads(path.read_text())["diffpc"]


@pytest.mark.slow
def test_fixed_point_simulator_keeps_the_reference_accuracy(digits_run, tmp_path):
    ref = _evaluate(digits_run, "reference", tmp_path)
    fixed = _evaluate(digits_run, "fixedsim", tmp_path)
    assert ref["test_acc"] > 0.8
    assert abs(fixed["test_acc"] - ref["test_acc"]) <= 0.02  # 8-bit weights, 24-bit states
    assert fixed["comm"]["ff"]["activity_spikes_all"] > 0


@pytest.mark.slow
def test_loihi2_backend_without_lava_loihi_stops_with_a_clear_message(digits_run, capsys):
    pytest.importorskip("lava.magma")
    assert main(["evaluate", str(digits_run), "--backend", "loihi2", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "lava-loihi" in err and "bit-level specification" in err


def test_unknown_backend_is_refused_in_one_line_naming_the_backends(capsys):
    assert main(["evaluate", "somewhere", "--backend", "gpu-magic"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and "'gpu-magic'" in err
    assert all(f"'{b}'" in err for b in BACKENDS)
