"""The presets x seeds runner's helpers (examples/run_presets.py); oracle: hand arithmetic."""

import importlib.util
import statistics
from pathlib import Path

import pytest

_path = Path(__file__).resolve().parents[1] / "examples" / "run_presets.py"
_spec = importlib.util.spec_from_file_location("run_presets", _path)
run_presets = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(run_presets)


def test_parse_spec_turns_changes_into_train_flags_and_a_label():
    assert run_presets.parse_spec("mnist-s") == ("mnist-s", [], "mnist-s")
    name, flags, label = run_presets.parse_spec("mnist-l:m=-2,target_scale=2")
    assert name == "mnist-l"
    assert flags == ["--m=-2", "--target-scale=2"]
    assert label == "mnist-l_m-2_target_scale2"
    assert run_presets.parse_spec("mnist-s:augment,lr=0.001") == (
        "mnist-s", ["--augment", "--lr=0.001"], "mnist-s_augment_lr0.001")
    with pytest.raises(SystemExit, match="no name=value nor a switch"):
        run_presets.parse_spec("mnist-l:m")


def test_epochs_per_preset_global_and_per_name():
    presets = ["mnist-l", "mnist-s"]
    assert run_presets.epochs_per_preset(None, presets) == {"mnist-l": None, "mnist-s": None}
    assert run_presets.epochs_per_preset(["4"], presets) == {"mnist-l": 4, "mnist-s": 4}
    # items for presets not run this time are ignored; unknown names are an error
    assert run_presets.epochs_per_preset(["mnist-s=10", "fmnist-m=8"], presets) == {
        "mnist-l": None, "mnist-s": 10}
    with pytest.raises(SystemExit, match="no preset 'mnist-q'"):
        run_presets.epochs_per_preset(["mnist-q=3"], presets)


def _result(seed, diffpc_acc, bp_acc, err_bits):
    comm = {"ff": {"activity_spikes_all": 1.0, "error_spikes_all": 0.0,
                   "activity_bits_all": 2.0, "error_bits_all": 0.0},
            "learn": {"activity_spikes_all": 0.1, "error_spikes_all": err_bits / 2,
                      "activity_bits_all": 0.2, "error_bits_all": err_bits}}
    return {"options": {"preset": "mnist-s", "seed": seed, "m": 0},
            "diffpc": {"history": [{"train_comm": comm}], "final_test_acc": diffpc_acc,
                       "epochs_done": 3},
            "bp": {"history": [{}], "final_test_acc": bp_acc, "epochs_done": 3}}


def test_aggregate_mean_sample_std_and_mean_communication():
    runs = [_result(0, 0.97, 0.96, 0.01), _result(1, 0.98, 0.96, 0.03),
            _result(2, 0.99, 0.99, 0.02)]
    agg = run_presets.aggregate(runs)
    assert agg["seeds"] == [0, 1, 2] and "seed" not in agg["options"]
    assert agg["diffpc"]["mean"] == pytest.approx(0.98)
    assert agg["diffpc"]["std"] == pytest.approx(0.01)  # sample std of .97, .98, .99
    assert agg["bp"]["std"] == pytest.approx(statistics.stdev([0.96, 0.96, 0.99]))
    assert (agg["diffpc"]["min"], agg["diffpc"]["max"]) == (0.97, 0.99)
    assert agg["diffpc_train_comm_mean"]["learn"]["error_bits_all"] == pytest.approx(0.02)
    table = run_presets.summary_table({"mnist-s": agg})
    assert "98.00" in table and "1.00" in table and "0.0200" in table


def test_aggregate_counts_each_model_over_the_seeds_that_trained_it():
    alone = _result(1, 0.98, 0.96, 0.03)
    del alone["bp"]  # DiffPC trained alone (its twin in a run of its own)
    agg = run_presets.aggregate([_result(0, 0.97, 0.95, 0.01), alone])
    assert agg["diffpc"]["seeds"] == [0, 1] and agg["diffpc"]["mean"] == pytest.approx(0.975)
    assert agg["bp"]["seeds"] == [0] and agg["bp"]["final_test_acc"] == [0.95]
    assert len(agg["bp"]["epochs"]) == 1


def test_collect_summarises_the_run_folders_there_and_names_the_missing(tmp_path):
    import json

    for seed, acc in ((0, 0.97), (2, 0.99)):
        run = tmp_path / f"mnist-s_schedulecyclic-s{seed}"
        run.mkdir()
        (run / "results.json").write_text(json.dumps(_result(seed, acc, 0.96, 0.02)))
    specs = [run_presets.parse_spec("mnist-s:schedule=cyclic")]
    runs, per_preset, missing = run_presets.collect(specs, [0, 1, 2], tmp_path)
    assert sorted(runs) == ["mnist-s_schedulecyclic-s0", "mnist-s_schedulecyclic-s2"]
    assert missing == ["mnist-s_schedulecyclic-s1"]
    assert per_preset["mnist-s_schedulecyclic"]["diffpc"]["mean"] == pytest.approx(0.98)
    assert per_preset["mnist-s_schedulecyclic"]["seeds"] == [0, 2]
