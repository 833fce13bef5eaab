"""Trainer, checkpoints and command line; oracles: accuracy floors and an uninterrupted run."""

import json
import math

import pytest
import torch

from lava_diffpc import augment as augment_module
from lava_diffpc.augment import Augmentation
from lava_diffpc.cli import main
from lava_diffpc.data import load_dataset
from lava_diffpc.presets import preset
from lava_diffpc.train import TrainConfig, Trainer, build_model


def _digits(limit_train=None):
    ds = load_dataset("digits", limit_train=limit_train)
    return (torch.from_numpy(ds.x_train), torch.from_numpy(ds.y_train),
            torch.from_numpy(ds.x_test), torch.from_numpy(ds.y_test))


@pytest.mark.slow
def test_diffpc_reaches_90_percent_on_digits():
    opts = {**preset("digits"), "seed": 0}
    data = _digits()
    cfg = TrainConfig(epochs=5, batch_size=32, lr=2e-3, lr_schedule="cosine")
    trainer = Trainer(build_model("diffpc", opts), "diffpc", data, cfg, None, opts)
    for _ in range(cfg.epochs):
        record = trainer.train_epoch(progress=False)
    assert record["test_acc"] >= 0.90
    comm = record["test_comm"]["ff"]
    assert 0 < comm["activity_spikes_all"] < 5  # sparse, but the network does talk


@pytest.mark.parametrize("augment", [False, True], ids=["plain", "augmented"])
def test_resume_mid_epoch_continues_exactly(augment, tmp_path, monkeypatch):
    opts = {**preset("digits"), "arch": "64-16-10", "c1": 3, "c2": 3, "dropout": 0.2,
            "seed": 1, "augment": augment}
    data = _digits(limit_train=160)
    cfg = TrainConfig(epochs=2, batch_size=16, lr=1e-3, checkpoint_every=3)

    def trainer(folder):
        return Trainer(build_model("diffpc", opts), "diffpc", data, cfg, folder, opts,
                       image_shape=(1, 8, 8))

    straight = trainer(tmp_path / "a")
    assert straight.augmentation == (Augmentation((1, 8, 8), 1, False) if augment else None)
    (tmp_path / "a").mkdir()
    for _ in range(2):
        straight.train_epoch(progress=False)

    (tmp_path / "b").mkdir()
    first = trainer(tmp_path / "b")
    calls = {"n": 0}
    original = Trainer._train_batch

    def crash_after_seven(self, x, y):
        if calls["n"] == 7:  # in epoch 1 (10 batches/epoch): last checkpoint at batch 6
            raise KeyboardInterrupt
        calls["n"] += 1
        original(self, x, y)

    monkeypatch.setattr(Trainer, "_train_batch", crash_after_seven)
    with pytest.raises(KeyboardInterrupt):
        first.train_epoch(progress=False)
    monkeypatch.setattr(Trainer, "_train_batch", original)

    resumed = trainer(tmp_path / "b")
    resumed.load(resumed.checkpoint_path)
    assert (resumed.epoch, resumed.batch) == (0, 6)
    while not resumed.finished:
        resumed.train_epoch(progress=False)
    for p, q in zip(straight.model.parameters, resumed.model.parameters):
        assert torch.equal(p, q)
    assert [h["test_acc"] for h in straight.history] == [h["test_acc"] for h in resumed.history]


@pytest.mark.slow
def test_cli_train_resume_and_evaluate(tmp_path, capsys):
    out = tmp_path / "run"
    args = ["train", "--preset", "digits", "--arch", "64-32-10", "--epochs", "1", "--c1", "4",
            "--c2", "4", "--out", str(out), "--no-progress"]
    assert main(args) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["diffpc"]["epochs_done"] == 1 and results["bp"]["epochs_done"] == 1
    assert results["diffpc"]["final_test_acc"] > 0.5
    # a second start without --resume refuses to overwrite
    capsys.readouterr()
    assert main(args) == 2
    assert "checkpoint-bp.pt exists; pass --resume" in capsys.readouterr().err
    # resuming a finished run trains nothing more; asking for 2 epochs trains one more
    assert main(args[:6] + ["2"] + args[7:] + ["--resume"]) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["diffpc"]["epochs_done"] == 2
    capsys.readouterr()
    assert main(["evaluate", str(out), "--no-progress", "--json", str(tmp_path / "e.json")]) == 0
    evaluated = json.loads((tmp_path / "e.json").read_text())
    assert evaluated["diffpc"]["test_acc"] == results["diffpc"]["history"][-1]["test_acc"]
    assert "activity_spikes_all" in evaluated["diffpc"]["comm"]["ff"]


def test_cli_reports_bad_options_clearly(tmp_path, capsys):
    assert main(["train", "--preset", "digits", "--n", "0", "--out", str(tmp_path)]) == 2
    assert "--n 0 is out of range; it must lie in [1, 24]" in capsys.readouterr().err
    assert main(["train", "--preset", "digits", "--a", "1.5", "--out", str(tmp_path)]) == 2
    assert "--a 1.5 is out of range; it must lie in (0, 1]" in capsys.readouterr().err
    assert main(["train", "--preset", "digits", "--arch", "784-10", "--out",
                 str(tmp_path)]) == 2
    assert "needs 64 inputs and 10 outputs" in capsys.readouterr().err
    assert main(["train", "--preset", "mnist-s", "--data-dir", str(tmp_path / "none"),
                 "--out", str(tmp_path)]) == 2
    assert "LAVA_DIFFPC_DATA" in capsys.readouterr().err


@pytest.mark.parametrize("shift", [None, 2], ids=["own shift", "--shift 2"])
def test_augmented_training_feeds_shifted_images_to_every_model(shift, monkeypatch, tmp_path):
    """Oracle: every row a model trains on is a shift of up to ``pad`` pixels (a crop of the
    zero-padded 8x8 image; digits' own pad is 1) of some training image, not all of them
    unshifted, some (with --shift 2) beyond one pixel, and every model of a run sees the
    same rows; the command line passes the images' shape for flat rows."""
    from lava_diffpc.reference.backprop import BackpropNetwork
    from lava_diffpc.reference.network import DiffPCNetwork

    seen: dict[str, list[torch.Tensor]] = {"diffpc": [], "bp": []}
    for cls, name in ((DiffPCNetwork, "diffpc"), (BackpropNetwork, "bp")):
        original = cls.gradients

        def capture(self, x, y, *args, _original=original, _name=name, **kwargs):
            seen[_name].append(x.clone())
            return _original(self, x, y, *args, **kwargs)

        monkeypatch.setattr(cls, "gradients", capture)
    out = tmp_path / "run"
    pad = 1 if shift is None else shift
    assert main(["train", "--preset", "digits", "--arch", "64-16-10", "--c1", "2", "--c2",
                 "2", "--epochs", "1", "--limit-train", "48", "--batch-size", "16",
                 "--augment", "--out", str(out), "--no-progress"]
                + ([] if shift is None else ["--shift", str(shift)])) == 0
    options = json.loads((out / "config.json").read_text())["options"]
    assert options["augment"] is True and options["shift"] == shift
    rows = torch.cat(seen["diffpc"])
    assert torch.equal(rows, torch.cat(seen["bp"])) and rows.shape == (48, 64)
    images = torch.from_numpy(load_dataset("digits", limit_train=48).x_train).view(-1, 8, 8)
    padded = torch.nn.functional.pad(images, (pad, pad, pad, pad))
    offsets = [(i, j) for i in range(2 * pad + 1) for j in range(2 * pad + 1)]
    shifts = torch.stack([padded[:, i:i + 8, j:j + 8].reshape(len(images), 64)
                          for i, j in offsets], dim=1)  # (N, offsets, 64)
    matches = (shifts[None] == rows[:, None, None]).all(-1)  # (rows, N, offsets)
    assert matches.flatten(1).any(1).all()  # each row is a shift of a training image
    assert not matches[:, :, offsets.index((pad, pad))].any(1).all()  # not all unshifted
    if pad > 1:  # some rows only a shift by more than one pixel explains
        near = [k for k, (i, j) in enumerate(offsets) if abs(i - pad) <= 1 and abs(j - pad) <= 1]
        assert not matches[:, :, near].flatten(1).any(1).all()


@pytest.mark.parametrize("flags, options", [
    (["--rotate", "30"], {"rotate": 30.0, "elastic": 0.0}),
    (["--elastic", "3", "--elastic-sigma", "1"], {"rotate": 0.0, "elastic": 3.0,
                                                  "elastic_sigma": 1.0}),
])
def test_train_rotate_and_elastic_warp_every_batch(monkeypatch, tmp_path, flags, options):
    """Oracle: with ``--augment --shift 0`` and ``--rotate 30`` or ``--elastic 3`` every
    training batch of every model passes through the resampling, turned within 30 degrees
    or displaced by a field (and not both), and the rows a model trains on are those
    resampled images; the options are stored."""
    from lava_diffpc.reference.backprop import BackpropNetwork

    warped, seen = [], []
    original_warp = augment_module.warp

    def recording_warp(x, angles, displacement=None):
        out = original_warp(x, angles, displacement)
        warped.append((angles.clone(), displacement, out.reshape(len(x), -1)))
        return out

    def capture(self, x, y, *args, _original=BackpropNetwork.gradients, **kwargs):
        seen.append(x.clone())
        return _original(self, x, y, *args, **kwargs)

    monkeypatch.setattr(augment_module, "warp", recording_warp)
    monkeypatch.setattr(BackpropNetwork, "gradients", capture)
    out = tmp_path / "run"
    assert main(["train", "--preset", "digits", "--arch", "64-16-10", "--epochs", "1",
                 "--limit-train", "48", "--batch-size", "16", "--models", "bp", "--augment",
                 "--shift", "0", *flags, "--out", str(out), "--no-progress"]) == 0
    stored = json.loads((out / "config.json").read_text())["options"]
    assert {key: stored[key] for key in options} == options
    assert len(warped) == len(seen) == 3
    angles = torch.cat([a for a, _, _ in warped])
    assert angles.abs().max() <= math.radians(options["rotate"])
    assert (angles.abs().max() > 0) == (options["rotate"] > 0)
    for _, field, _ in warped:
        assert (field is not None) == (options["elastic"] > 0)
        assert field is None or field.abs().max() > 0
    assert torch.equal(torch.cat(seen), torch.cat([rows for _, _, rows in warped]))


def test_augmenting_flat_rows_without_their_image_shape_is_refused():
    opts = {**preset("digits"), "augment": True, "seed": 0}
    with pytest.raises(ValueError, match=r"pass image_shape=\(C, H, W\)"):
        Trainer(build_model("bp", opts), "bp", _digits(limit_train=32), TrainConfig(), None,
                opts)


def test_cli_evaluate_runs_backprop_weights_as_diffpc(tmp_path, capsys):
    """Threshold theorem: DiffPC's feed-forward phase tracks the float forward pass to within
    its finest threshold, so backprop's weights run as DiffPC classify about as backprop
    does; the run has no DiffPC checkpoint, so the spiking result can only come from them."""
    out = tmp_path / "run"
    assert main(["train", "--preset", "digits", "--arch", "64-32-10", "--epochs", "2",
                 "--models", "bp", "--out", str(out), "--no-progress"]) == 0
    plain, as_diffpc = tmp_path / "plain.json", tmp_path / "as.json"
    assert main(["evaluate", str(out), "--no-progress", "--json", str(plain)]) == 0
    assert main(["evaluate", str(out), "--as-diffpc", "--no-progress",
                 "--json", str(as_diffpc)]) == 0
    bp = json.loads(plain.read_text())["bp"]
    spiking = json.loads(as_diffpc.read_text())["bp-as-diffpc"]
    assert bp["test_acc"] > 0.8 and "comm" not in bp
    assert abs(spiking["test_acc"] - bp["test_acc"]) < 0.02
    assert spiking["comm"]["ff"]["activity_spikes_all"] > 0
    capsys.readouterr()
    assert main(["evaluate", str(out), "--backend", "fixedsim", "--no-progress"]) == 0
    assert "--as-diffpc runs its weights as DiffPC" in capsys.readouterr().out
    fixed = tmp_path / "fixed.json"
    assert main(["evaluate", str(out), "--backend", "fixedsim", "--as-diffpc",
                 "--no-progress", "--json", str(fixed)]) == 0
    # fixed point against float: 8-bit weights move a few of the 360 test images
    assert abs(json.loads(fixed.read_text())["bp-as-diffpc"]["test_acc"]
               - spiking["test_acc"]) < 0.03
