"""Figures and per-neuron spike tallies; oracles: the network's own CommStats counters, the
run's own Augmentation replayed, and the PNG signature of every file the command reports."""

import json
import shutil

import torch

from lava_diffpc.augment import Augmentation
from lava_diffpc.cli import main
from lava_diffpc.data import load_dataset
from lava_diffpc.figures import augmentation_draws, run_label
from lava_diffpc.presets import preset
from lava_diffpc.train import build_model

PNG = b"\x89PNG\r\n\x1a\n"


def test_per_neuron_tally_sums_to_the_comm_stats():
    ds = load_dataset("digits", limit_train=48)
    opts = {**preset("digits"), "arch": "64-24-16-10", "c1": 4, "c2": 4, "seed": 2}
    net = build_model("diffpc", opts)
    stats, tally = net.config.comm_stats(), {}
    net.run(torch.from_numpy(ds.x_train), torch.from_numpy(ds.y_train), stats=stats,
            per_neuron=tally)
    top = len(net.config.sizes) - 1
    for phase in ("ff", "learn"):
        for l in range(top + 1):
            act = tally.get((phase, "activity", l))
            err = tally.get((phase, "error", l))
            assert (act is not None) == (l < top) and (err is not None) == (l >= 2)
            if act is not None:
                assert act.shape == (48, net.config.sizes[l])
            assert stats.activity[phase][l] == (0 if act is None else int(act.sum()))
            assert stats.error[phase][l] == (0 if err is None else int(err.sum()))
    assert stats.activity["ff"].sum() > 0 and stats.error["learn"].sum() > 0


def test_run_label_names_the_changed_options():
    opts = {**preset("mnist-l"), "m": 0, "epochs": 5, "seed": 3}
    assert run_label(opts) == "mnist-l m=0 epochs=5"
    assert run_label({**preset("digits"), "seed": 1}) == "digits"


def test_augmentation_draws_replay_the_runs_augmentation():
    opts = {**preset("digits"), "augment": True, "shift": 2, "rotate": 20.0, "elastic": 2.0,
            "elastic_sigma": 1.0}
    images = torch.randn(5, 1, 8, 8, generator=torch.Generator().manual_seed(3))
    panels = augmentation_draws(opts, images, draws=2, seed=4)
    aug = Augmentation((1, 8, 8), 2, False, 20.0, 2.0, 1.0)
    gen = torch.Generator().manual_seed(4)
    assert panels.shape == (3, 5, 1, 8, 8) and torch.equal(panels[0], images)
    assert torch.equal(panels[1], aug(images, gen)) and torch.equal(panels[2], aug(images, gen))
    assert not torch.equal(panels[1], panels[2])


def test_figures_command_draws_every_kind(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--preset", "digits", "--arch", "64-16-10", "--epochs", "2",
                 "--c1", "3", "--c2", "3", "--limit-train", "96", "--out", str(run),
                 "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["figures", str(run), "--samples", "40", "--out", str(tmp_path / "f")]) == 0
    written = capsys.readouterr().out.split()
    names = sorted(p.rsplit("/", 1)[1] for p in written)
    assert names == ["accuracy-digits_c1_3_c2_3_epochs_2_arch_64-16-10.png",
                     "schedule-digits.png", "spikes-run.png"]
    for path in written:
        with open(path, "rb") as f:
            assert f.read(8) == PNG
    assert len(json.loads((run / "results.json").read_text())["diffpc"]["history"]) == 2
    # one kind only, schedules of named presets, and a clear error for a folder without runs
    assert main(["figures", "--what", "schedule", "--schedules", "digits", "mnist-l",
                 "--out", str(tmp_path / "g")]) == 0
    assert capsys.readouterr().out.split()[-1].endswith("schedule-digits-mnist-l.png")
    assert main(["figures", str(tmp_path), "--out", str(tmp_path / "h")]) == 2
    assert "results.json not found" in capsys.readouterr().err
    # augmented draws only for a run trained with --augment
    assert main(["figures", str(run), "--what", "augment", "--out", str(tmp_path / "i")]) == 2
    assert "augment: trained with --augment" in capsys.readouterr().err
    turned = tmp_path / "turned"
    shutil.copytree(run, turned)
    results = json.loads((turned / "results.json").read_text())
    results["options"].update(augment=True, rotate=15.0)
    (turned / "results.json").write_text(json.dumps(results))
    assert main(["figures", str(turned), "--what", "augment", "--out", str(tmp_path / "i")]) == 0
    written = capsys.readouterr().out.split()
    assert [p.rsplit("/", 1)[1] for p in written] == ["augment-turned.png"]
    with open(written[0], "rb") as f:
        assert f.read(8) == PNG
