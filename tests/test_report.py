"""``report``: tables generated from result JSON into marked Markdown blocks (oracle: a
hand-made fixture and its expected table)."""

from __future__ import annotations

import json

import pytest

from lava_diffpc.cli import main
from lava_diffpc.report import render

BENCH = {
    "machine": {"cpu": "Test CPU", "cores": 2, "torch": "2.3.1+cpu", "python": "3.10",
                "threads": 1, "cuda": None},
    "quick": True, "engine": "auto",
    "presets": [{"preset": "mnist-s", "arch": "784-400-10", "batch_size": 256,
                 "steps_per_sample": 75, "engine": "compiled",
                 "train_samples_per_s": {"diffpc": 4000.0, "bp": 36000.0, "pc": 5000.0},
                 "infer_samples_per_s": {"diffpc": 8000.0, "bp": 144000.0},
                 "train_ratio_bp_over_diffpc": 9.0, "infer_ratio_bp_over_diffpc": 18.0,
                 "comm": {}},
                {"preset": "fmnist-m", "arch": "784-1000-10", "batch_size": 256,
                 "steps_per_sample": 120, "engine": "compiled",
                 "train_samples_per_s": {"diffpc": 2000.0, "bp": 16000.0,
                                         "diffpc-eager": 500.0},
                 "infer_samples_per_s": {"diffpc": 4000.0, "bp": 40000.0},
                 "train_ratio_bp_over_diffpc": 8.0, "train_ratio_bp_over_diffpc_eager": 32.0,
                 "infer_ratio_bp_over_diffpc": 10.0, "comm": {}}],
    "fixed_point": {"preset": "mnist-s", "infer_batch": 1000,
                    "fixed_infer_samples_per_s": 6800.0, "onchip_train_samples_per_s": 40.0,
                    "onchip_samples": 20, "engine": "compiled"},
    "sweep": [{"width": 256, "m": 0, "neurons": 1050, "seconds_per_sample": 8e-5,
               "spikes_per_sample": 2178.2, "layer_steps_computed": 0.25}],
}


@pytest.fixture
def results(tmp_path):
    folder = tmp_path / "results"
    folder.mkdir()
    (folder / "bench-test.json").write_text(json.dumps(BENCH))
    return folder


def test_blocks_are_generated_from_the_json(results):
    text = ("intro\n<!-- report:speed -->\nold\n<!-- /report:speed -->\nmiddle\n"
            "<!-- report:fixed -->\n<!-- /report:fixed -->\n"
            "<!-- report:sweep -->\n<!-- /report:sweep -->\nend\n")
    out = render(text, results)
    assert out.startswith("intro\n<!-- report:speed -->\n| preset |") and "old" not in out
    assert ("| mnist-s | 75 | 4,000 | 36,000 | 5,000 | 9.0 | - | - | 8,000 | 144,000 | 18.0 | "
            "Test CPU, 1 thread, torch 2.3.1 | `docs/results/bench-test.json` |") in out
    assert ("| fmnist-m | 120 | 2,000 | 16,000 | - | 8.0 | 500 | 32.0 | 4,000 | 40,000 | "
            "10.0 | Test CPU, 1 thread, torch 2.3.1 | `docs/results/bench-test.json` |") in out
    assert "| mnist-s | 6,800 samples/s (1000) | 40 samples/s |" in out
    assert "| 256 | 0 | 1,050 | 2,178 | 80.0 us | 25% |" in out
    assert out.endswith("end\n") and render(out, results) == out  # idempotent


def test_command_rewrites_files_and_refuses_bad_input(results, tmp_path, capsys):
    md = tmp_path / "doc.md"
    md.write_text("<!-- report:speed -->\n<!-- /report:speed -->\n")
    assert main(["report", str(md), "--results", str(results)]) == 0
    assert "| mnist-s | 75 |" in md.read_text() and "updated" in capsys.readouterr().out
    assert main(["report", str(md), "--results", str(results)]) == 0
    assert "unchanged" in capsys.readouterr().out
    bad = tmp_path / "bad.md"
    bad.write_text("<!-- report:nope -->\n<!-- /report:nope -->\n")
    assert main(["report", str(bad), "--results", str(results)]) == 2
    assert "unknown report block 'nope'" in capsys.readouterr().err
    assert main(["report", str(md), "--results", str(tmp_path / "none")]) == 2
    (results / "bench-broken.json").write_text("{")
    assert main(["report", str(md), "--results", str(results)]) == 2
    assert "bench-broken.json" in capsys.readouterr().err


RUN = {"options": {"preset": "mnist-s", "schedule": "cyclic", "epochs": 3},
       "diffpc": {"history": [{"train_comm": {"ff": {"activity_spikes_all": 1.5},
                                              "learn": {"error_bits_all": 0.01}}}],
                  "final_test_acc": 0.9712, "epochs_done": 3},
       "bp": {"history": [], "final_test_acc": 0.975, "epochs_done": 3}}
SUMMARY = {"runs": {"mnist-s-s0": RUN, "mnist-s-s1": RUN},
           "presets": {"mnist-s": {"diffpc": {"final_test_acc": [0.97, 0.98], "mean": 0.975,
                                              "std": 0.00707, "epochs": [3, 3]},
                                   "bp": {"final_test_acc": [0.9], "mean": 0.9, "std": 0.0,
                                          "epochs": [3]}}}}


def test_run_tables_read_runs_summaries_and_the_paper_index(results):
    (results / "one.json").write_text(json.dumps(RUN))
    backprop_only = {"options": RUN["options"], "bp": RUN["bp"]}
    (results / "twin.json").write_text(json.dumps(backprop_only))
    (results / "seeds.json").write_text(json.dumps(SUMMARY))
    (results / "paper.json").write_text(json.dumps({"rows": [
        {"row": "MNIST S", "paper": 0.983, "file": "one.json", "conditions": "3 epochs"},
        {"row": "MNIST S seeds", "paper": 0.983, "file": "seeds.json", "entry": "mnist-s"}]}))
    out = render("<!-- report:runs -->\n<!-- /report:runs -->\n<!-- report:seeds -->\n"
                 "<!-- /report:seeds -->\n<!-- report:paper -->\n<!-- /report:paper -->\n",
                 results)
    assert ("| one | mnist-s | cyclic | 3 of 3 | 97.12% | - | 97.50% | - | 1.500 | 0.0100 |"
            in out)
    assert out.count("| mnist-s-s0 | mnist-s |") == 1  # a summary's runs count as runs
    # a run without DiffPC names no threshold schedule: backprop has none
    assert "| twin | mnist-s | - | 3 of 3 | - | - | 97.50% | - | - | - |" in out
    assert "| mnist-s | 3 | 97.50 +- 0.71% (2 seeds) | 90.00% (1 seed) |" in out
    assert "| MNIST S | 98.30% | 97.12% | 97.50% | - | 3 | 3 epochs |" in out
    assert ("| MNIST S seeds | 98.30% | 97.50 +- 0.71% (2 seeds) | 90.00% (1 seed) | - | 3 |"
            in out)
    (results / "paper.json").write_text(json.dumps({"rows": [
        {"row": "x", "paper": 0.9, "file": "seeds.json", "entry": "nothing"}]}))
    with pytest.raises(ValueError, match="holds no run 'nothing'"):
        render("<!-- report:paper -->\n<!-- /report:paper -->\n", results)


def test_cross_entropy_backprop_is_a_column_of_the_run_and_paper_tables(results):
    ce = {"history": [{"test_acc": 0.656}], "final_test_acc": 0.656, "epochs_done": 16}
    (results / "cifar.json").write_text(json.dumps({"runs": {
        "cifar-s0": {**RUN, "bp-ce": ce}, "ce-only": {"options": RUN["options"], "bp-ce": ce}}}))
    (results / "paper.json").write_text(json.dumps({"rows": [
        {"row": "CIFAR", "paper": 0.633, "file": "cifar.json", "entry": "cifar-s0"}]}))
    out = render("<!-- report:runs -->\n<!-- /report:runs -->\n<!-- report:paper -->\n"
                 "<!-- /report:paper -->\n", results)
    assert "| cifar-s0 | mnist-s | cyclic | 3 of 3 | 97.12% | - | 97.50% | 65.60% |" in out
    assert "| ce-only | mnist-s | - | 16 of 3 | - | - | - | 65.60% | - | - |" in out
    assert "| CIFAR | 63.30% | 97.12% | 97.50% | 65.60% | 3 |" in out
    (results / "cifar.json").write_text(json.dumps({"runs": {  # CE trained on its own
        "cifar-s0": RUN, "ce-only": {"options": RUN["options"], "bp-ce": ce}}}))
    (results / "paper.json").write_text(json.dumps({"rows": [
        {"row": "CIFAR", "paper": 0.633, "file": "cifar.json", "entry": "cifar-s0",
         "ce_entry": "ce-only"}]}))
    assert "| CIFAR | 63.30% | 97.12% | 97.50% | 65.60% | 3 |" in render(
        "<!-- report:paper -->\n<!-- /report:paper -->\n", results)
    (results / "paper.json").write_text(json.dumps({"rows": [
        {"row": "CIFAR", "paper": 0.633, "file": "cifar.json", "entry": "cifar-s0",
         "ce_entry": "nothing"}]}))
    with pytest.raises(ValueError, match="holds no cross-entropy run 'nothing'"):
        render("<!-- report:paper -->\n<!-- /report:paper -->\n", results)
    (results / "paper.json").write_text(json.dumps({"rows": [
        {"row": "CIFAR", "paper": 0.633, "file": "one.json", "ce_file": "cifar.json",
         "ce_entry": "ce-only"}]}))
    (results / "one.json").write_text(json.dumps(RUN))
    assert "| CIFAR | 63.30% | 97.12% | 97.50% | 65.60% | 3 |" in render(
        "<!-- report:paper -->\n<!-- /report:paper -->\n", results)
    (results / "seeds.json").write_text(json.dumps(SUMMARY))  # seeds, CE on its own
    (results / "paper.json").write_text(json.dumps({"rows": [
        {"row": "CIFAR", "paper": 0.633, "file": "seeds.json", "entry": "mnist-s",
         "ce_file": "cifar.json", "ce_entry": "ce-only"}]}))
    assert ("| CIFAR | 63.30% | 97.50 +- 0.71% (2 seeds) | 90.00% (1 seed) | 65.60% | 3 |"
            in render("<!-- report:paper -->\n<!-- /report:paper -->\n", results))


def test_twin_runs_give_the_paper_row_its_backprop_column(results):
    twin = {"options": RUN["options"],
            "bp": {"history": [{}], "final_test_acc": 0.99, "epochs_done": 3}}
    doc = {**SUMMARY, "runs": {**SUMMARY["runs"], "bp-s0": twin,
                               "bp-s1": {**twin, "bp": {**twin["bp"], "final_test_acc": 0.98}}}}
    (results / "seeds.json").write_text(json.dumps(doc))
    (results / "paper.json").write_text(json.dumps({"rows": [
        {"row": "S", "paper": 0.983, "file": "seeds.json", "entry": "mnist-s",
         "twin_runs": ["bp-s0", "bp-s1"]},
        {"row": "S one", "paper": 0.983, "file": "seeds.json", "entry": "mnist-s-s0",
         "twin_runs": ["bp-s1"]}]}))
    out = render("<!-- report:paper -->\n<!-- /report:paper -->\n", results)
    assert "| S | 98.30% | 97.50 +- 0.71% (2 seeds) | 98.50 +- 0.71% (2 seeds) | - | 3 |" in out
    assert "| S one | 98.30% | 97.12% | 98.00% (1 seed) | - | 3 |" in out
    (results / "paper.json").write_text(json.dumps({"rows": [
        {"row": "S", "paper": 0.983, "file": "seeds.json", "entry": "mnist-s",
         "twin_runs": ["bp-s0", "mnist-s-s9"]}]}))
    with pytest.raises(ValueError, match="holds no backprop run 'mnist-s-s9'"):
        render("<!-- report:paper -->\n<!-- /report:paper -->\n", results)
    (results / "paper.json").write_text(json.dumps({"rows": [
        {"row": "S", "paper": 0.983, "file": "seeds.json", "entry": "mnist-s",
         "twin_runs": "bp-s0"}]}))
    with pytest.raises(ValueError, match="twin_runs must be a list of run names"):
        render("<!-- report:paper -->\n<!-- /report:paper -->\n", results)


def test_precision_table_reads_fixed_vs_float_entries(results):
    entry = {"arch": "3x32x32-c32k5s2-c64k5s2-512-128-10", "epochs": 1, "test_samples": 1000,
             "reference": {"test_acc": 0.5}, "fixedsim": {"test_acc": 0.495},
             "fixed_minus_float_points": -0.5, "agreement": 0.97, "machine": "2-core CPU",
             "lava": {"samples": 3, "equal_to_fixedsim": True}}
    (results / "prec.json").write_text(json.dumps({"fixed_vs_float": entry, "runs": {}}))
    out = render("<!-- report:precision -->\n<!-- /report:precision -->\n", results)
    assert ("| 3x32x32-c32k5s2-c64k5s2-512-128-10 | 1 | 1,000 | 50.00% | 49.50% | -0.50 points "
            "| 97.00% | yes (3 samples) | - | 2-core CPU | `docs/results/prec.json` |") in out
    entry["netx"] = {"test_acc": 0.49, "lava_equals_model": 999, "samples": 1000}
    (results / "prec.json").write_text(json.dumps({"fixed_vs_float": entry, "runs": {}}))
    out = render("<!-- report:precision -->\n<!-- /report:precision -->\n", results)
    assert ("| yes (3 samples) | 49.00% (outputs equal its NumPy model on 999 of 1,000) | "
            "2-core CPU |") in out


def test_onchip_epochs_table_lists_every_epoch_and_the_update(results):
    onchip = {"options": {"rule": "onchip", "lr_shift": 7, "headroom": 1, "err_shift": 5,
                          "lr_shift_decay": 1, "epochs": 2},
              "onchip": {"history": [{"test_acc": 0.9}, {"test_acc": 0.925}],
                         "final_test_acc": 0.925, "epochs_done": 2}}
    sgd = {"options": {"rule": "local", "optimizer": "sgd", "lr": 0.0078125,
                       "lr_schedule": "constant", "batch_size": 1, "epochs": 1},
           "diffpc": {"history": [{"test_acc": 0.94}], "final_test_acc": 0.94,
                      "epochs_done": 1}}
    (results / "cpu-onchip-study.json").write_text(json.dumps({"runs": {"a": onchip, "b": sgd}}))
    (results / "other.json").write_text(json.dumps(RUN))  # not an on-chip study: left out
    out = render("<!-- report:onchip-epochs -->\n<!-- /report:onchip-epochs -->\n", results)
    assert "| run | update | epoch 1 | epoch 2 | source |" in out
    assert ("| a | on-chip rule, lr 2^-7, halved every epoch, headroom 1, error shift 5 | "
            "90.00% | 92.50% | `docs/results/cpu-onchip-study.json` |") in out
    assert ("| b | float sgd, lr 0.0078125 constant, batch 1 | 94.00% | - | "
            "`docs/results/cpu-onchip-study.json` |") in out
    assert "| other |" not in out


def test_onchip_gaps_pair_each_onchip_run_with_the_float_runs_of_its_file(results):
    def run(opts, model, accs, n_train=60000):
        return {"options": opts, "n_train": n_train,
                model: {"history": [{"test_acc": a} for a in accs],
                        "final_test_acc": accs[-1], "epochs_done": len(accs)}}
    chip = {"rule": "onchip", "lr_shift": 7, "headroom": 0, "err_shift": 4, "seed": 0}
    onchip = run(chip, "onchip", [0.95, 0.965, 0.97])
    sgd = {"rule": "local", "optimizer": "sgd", "lr": 0.0078125, "lr_schedule": "constant",
           "batch_size": 1, "seed": 0}
    adamw = {"rule": "local", "optimizer": "adamw", "lr": 0.001, "lr_schedule": "cosine",
             "batch_size": 256, "seed": 0}
    runs = {"chip": onchip,
            "chip-s1": run({**chip, "seed": 1}, "onchip", [0.94, 0.96]),
            "sgd-s1": run({**sgd, "seed": 1}, "diffpc", [0.95, 0.97]),  # chip-s1 only
            "sgd-short": run(sgd, "diffpc", [0.96]),
            "sgd-long": run(sgd, "diffpc", [0.961, 0.9755]),  # the most epochs: chosen
            "sgd-other-rate": run({**sgd, "lr": 0.015625}, "diffpc", [0.99, 0.99, 0.99]),
            "sgd-fewer-images": run(sgd, "diffpc", [0.9, 0.9, 0.9], n_train=10000),
            "adam": run(adamw, "diffpc", [0.955, 0.96, 0.972])}
    (results / "cpu-onchip-study.json").write_text(json.dumps({"runs": runs}))
    out = render("<!-- report:onchip-gaps -->\n<!-- /report:onchip-gaps -->\n", results)
    assert "| on-chip run | float reference | epoch 1 | epoch 2 | epoch 3 | source |" in out
    assert ("| chip | sgd-long | -1.10 | -1.05 | - | `docs/results/cpu-onchip-study.json` |"
            in out)
    assert ("| chip | adam | -0.50 | +0.50 | -0.20 | `docs/results/cpu-onchip-study.json` |"
            in out)
    assert out.count("| chip |") == 2
    assert ("| chip-s1 | sgd-s1 | -1.00 | -1.00 | - | `docs/results/cpu-onchip-study.json` |"
            in out)
    assert out.count("| chip-s1 |") == 1  # no AdamW run with seed 1


def test_onchip_seeds_average_each_update_over_its_seeds_and_pair_the_gaps_by_seed(results):
    def run(opts, model, accs):
        return {"options": opts, "n_train": 60000,
                model: {"history": [{"test_acc": a} for a in accs]}}
    chip = {"rule": "onchip", "lr_shift": 7, "headroom": 0, "err_shift": 4}
    sgd = {"rule": "local", "optimizer": "sgd", "lr": 0.0078125, "lr_schedule": "constant",
           "batch_size": 1}
    runs = {"chip-s0": run({**chip, "seed": 0}, "onchip", [0.95, 0.96]),
            "chip-s1": run({**chip, "seed": 1}, "onchip", [0.97]),
            "chip-one-seed": run({**chip, "headroom": 1, "seed": 0}, "onchip", [0.9]),
            "sgd-s0-short": run({**sgd, "seed": 0}, "diffpc", [0.5]),
            "sgd-s0": run({**sgd, "seed": 0}, "diffpc", [0.96, 0.98]),  # longest of seed 0
            "sgd-s1": run({**sgd, "seed": 1}, "diffpc", [0.98, 0.99]),
            "bp-only": run({**sgd, "seed": 2}, "bp", [0.99])}  # no DiffPC network: left out
    (results / "cpu-onchip-seeds.json").write_text(json.dumps({"runs": runs}))
    out = render("<!-- report:onchip-seeds -->\n<!-- /report:onchip-seeds -->\n", results)
    src = "`docs/results/cpu-onchip-seeds.json` |"
    chip_label = "on-chip rule, lr 2^-7, headroom 0, error shift 4, seeds 0, 1"
    assert f"| {chip_label} | 60,000 | 96.00 +- 1.41 (2) | 96.00 (1) | {src}" in out
    assert (f"| {chip_label}: minus float SGD of the same seed | 60,000 | -1.00 +- 0.00 (2) "
            f"| -2.00 (1) | {src}") in out
    assert (f"| float sgd, lr 0.0078125 constant, batch 1, seeds 0, 1 | 60,000 | "
            f"97.00 +- 1.41 (2) | 98.50 +- 0.71 (2) | {src}") in out
    assert "headroom 1" not in out  # one seed only: no row
    assert out.count("minus float SGD") == 1  # float runs have no gap row


def test_onchip_table_gives_mean_and_sample_std_over_rule_seeds(results):
    def net(sizes, accs):
        return {"sizes": sizes, "steps_per_sample": 75,
                "seeds": {str(i): {"fixedsim_test_acc": a} for i, a in enumerate(accs)}}
    doc = {"runs": {"three": {"networks": [net([784, 400, 10], [0.90, 0.92, 0.97])]}},
           "preset_runs": {"mnist-s": {"one": {"networks": [net([64, 10], [0.8])]}}}}
    (results / "onchip-rounding.json").write_text(json.dumps(doc))
    out = render("<!-- report:onchip -->\n<!-- /report:onchip -->\n", results)
    src = "`docs/results/onchip-rounding.json` |"
    # mean 0.93, sample std sqrt(((-3)^2 + (-1)^2 + 4^2) / 2) = sqrt(13) = 3.61 points
    assert f"| three | 784-400-10 | 75 | 93.00 +- 3.61% (3) | {src}" in out
    assert f"| one (mnist-s) | 64-10 | 75 | 80.00% (1) | {src}" in out


def test_onchip_diagnosis_table_lists_every_variant_as_stored(results):
    runs = {"engine": {"change": "none", "engine_expressible": True, "test_acc": 0.9264,
                       "saturated": [2311, 7344], "train_samples": 10000},
            "exact": {"change": "no rounding", "engine_expressible": False,
                      "test_acc": 0.9338, "saturated": [0, 0], "train_samples": 10000}}
    (results / "cpu-onchip-diagnosis.json").write_text(json.dumps({"runs": runs}))
    out = render("<!-- report:onchip-diagnosis -->\n<!-- /report:onchip-diagnosis -->\n",
                 results)
    assert ("| engine | none | yes | 10,000 | 92.64% | 2,311 / 7,344 | "
            "`docs/results/cpu-onchip-diagnosis.json` |") in out
    assert "| exact | no rounding | no | 10,000 | 93.38% | 0 / 0 |" in out


def test_align_table_lists_every_stored_comparison(results):
    row = {"cosine": [0.482, 0.95], "norm_ratio": [0.5, 0.9],
           "learning_error_spikes_per_neuron": [2.38, 15.71], "ff_activity_spikes": 5.8,
           "ff_deviation": 0.15}
    gained = {**row, "op_norm": [1.5, 5.67], "relaxation_gain": [4.191]}
    (results / "cifar.json").write_text(json.dumps({"runs": {}, "align": {
        "warm": {"command": "align", "header": "h", "rows": {"preset": row}},
        "late": {"command": "align", "header": "h", "rows": {"gamma=0.125": gained}}}}))
    out = render("<!-- report:align -->\n<!-- /report:align -->\n", results)
    assert "| warm | preset | 0.48 / 0.95 | 15.7 | - | `docs/results/cifar.json` |" in out
    assert "| late | gamma=0.125 | 0.48 / 0.95 | 15.7 | 4.19 | `docs/results/cifar.json` |" in out


def test_from_twin_table_lists_every_start(results):
    epochs = [{"epoch": 0, "test_acc": 0.993}, {"epoch": 1, "train_acc": 0.9867,
                                                 "test_acc": 0.9903}]
    aligned = {"cosine": [-0.111, 0.372, 0.937], "ff_deviation": 0.035}
    (results / "twin.json").write_text(json.dumps({"from_twin": {
        "s1": {"max_gain": 0.8, "starts": {"diffpc-from-bp": {"model": "diffpc",
                                                              "epochs": epochs}}},
        "s1-start": {"max_gain": 0.0, "starts": {
            "diffpc-from-bp": {"model": "diffpc", "epochs": epochs[:1]},
            "bp-from-bp": {"model": "bp", "epochs": epochs[:1], "start_alignment": aligned}}}}}))
    out = render("<!-- report:from-twin -->\n<!-- /report:from-twin -->\n", results)
    assert ("| s1 | diffpc-from-bp | 0.8 | 99.30% / 99.03% | 98.67% | - | - | "
            "`docs/results/twin.json` |") in out
    assert "| s1-start | diffpc-from-bp | none | 99.30% | - | - | - |" in out
    assert ("| s1-start | bp-from-bp | - | 99.30% | - | -0.11 / 0.37 / 0.94 | 0.035 | "
            "`docs/results/twin.json` |") in out
