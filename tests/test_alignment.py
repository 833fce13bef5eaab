"""Gradient alignment (oracle: backprop by autograd on the same weights) and the ``align``
command."""

import pytest
import torch

from lava_diffpc.alignment import backprop_warmup, format_table, gradient_alignment
from lava_diffpc.cli import main
from lava_diffpc.commands.align import parse_variant
from lava_diffpc.data import load_dataset
from lava_diffpc.presets import preset


def _deep_case(m: int):
    """64-32-32-10 on digits after 20 backprop batches: the small errors of mid-training."""
    ds = load_dataset("digits")
    x, y = torch.from_numpy(ds.x_train), torch.from_numpy(ds.y_train)
    opts = {**preset("digits"), "arch": "64-32-32-10", "m": m, "c1": 10, "c2": 10, "seed": 0}
    params = backprop_warmup(opts, x[:1200], y[:1200], batches=20, batch_size=32, lr=2e-3)
    return opts, params, x[1200:1328], y[1200:1328]


def test_fine_thresholds_follow_backprop_in_every_layer():
    opts, params, x, y = _deep_case(m=-3)
    a = gradient_alignment(opts, params, x, y)
    assert min(a.cosine) > 0.9, a  # measured 0.969, 0.914, 0.942
    assert all(0.5 < r < 2.0 for r in a.norm_ratio), a
    assert a.error_spikes[2] > 0 and a.ff_deviation < 0.1


def test_coarse_thresholds_starve_the_first_layer():
    """Errors below the finest threshold never spike: no feedback, no first-layer update."""
    opts, params, x, y = _deep_case(m=1)
    a = gradient_alignment(opts, params, x, y)
    assert a.error_spikes[2] == 0
    assert a.cosine[0] == 0.0 and a.norm_ratio[0] == 0.0
    fine = gradient_alignment({**opts, "m": -3}, params, x, y)
    assert fine.ff_activity_spikes > a.ff_activity_spikes  # finer thresholds cost spikes
    table = format_table([("m=1", a), ("m=-3", fine)])
    assert "cos W3" in table and table.count("\n") == 2


def test_parse_variant_types_and_errors():
    assert parse_variant("m=-3, target_scale=2") == {"m": -3, "target_scale": 2.0}
    assert parse_variant("schedule=cyclic-decay,a=0.25") == {"schedule": "cyclic-decay",
                                                              "a": 0.25}
    with pytest.raises(ValueError, match="bad --variant item 'q=1'"):
        parse_variant("q=1")
    with pytest.raises(ValueError, match="name=value"):
        parse_variant("m")


def test_align_command_prints_one_row_per_variant(capsys):
    code = main(["align", "--preset", "digits", "--variant", "m=-2", "--warmup-batches", "2",
                 "--batch-size", "64"])
    out = capsys.readouterr().out
    assert code == 0
    rows = [line for line in out.splitlines() if line.startswith(("preset", "m=-2"))]
    assert len(rows) == 2


def test_align_compares_at_a_trained_checkpoint(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--preset", "digits", "--epochs", "1", "--models", "diffpc",
                 "--limit-train", "256", "--out", str(run), "--no-progress"]) == 0
    capsys.readouterr()
    ckpt = run / "checkpoint-diffpc.pt"
    assert main(["align", "--checkpoint", str(ckpt), "--variant", "gamma=0.25",
                 "--batch-size", "64"]) == 0
    out = capsys.readouterr().out
    assert f"weights of {ckpt} after 1 epochs" in out
    assert len([line for line in out.splitlines()
                if line.startswith(("preset", "gamma=0.25"))]) == 2
    assert main(["align", "--checkpoint", str(ckpt), "--preset", "digits"]) == 2
    assert "exclude each other" in capsys.readouterr().err
    assert main(["align", "--checkpoint", str(ckpt), "--variant", "arch=64-32-10"]) == 2
    assert "cannot apply to a checkpoint" in capsys.readouterr().err
    assert main(["align", "--checkpoint", str(tmp_path / "none.pt")]) == 2
