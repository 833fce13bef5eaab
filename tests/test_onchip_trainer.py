"""The on-chip rule at dataset scale (``train --rule onchip``). Oracles: the fast simulator's
own per-sample training (the trainer adds nothing to the rule), an uninterrupted run (exact
resume), and the fixed-point backends (an on-chip checkpoint evaluates to its history)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from lava_diffpc.cli import main
from lava_diffpc.data import load_dataset
from lava_diffpc.fixed_point import quantize_for_learning, quantize_input
from lava_diffpc.fixedsim import FixedPointNetwork
from lava_diffpc.onchip import OnChipTrainer, onchip_opts, onchip_rule
from lava_diffpc.presets import preset
from lava_diffpc.reference.network import init_parameters
from lava_diffpc.train import TrainConfig, network_config

OPTS = {**preset("digits"), "arch": "64-16-10", "c1": 3, "c2": 3, "rule": "onchip",
        "lr_shift": 5, "seed": 1}


def _data(limit_train: int = 96):
    ds = load_dataset("digits", limit_train=limit_train)
    return ds.x_train, ds.y_train, ds.x_test, ds.y_test


def test_trainer_equals_the_simulators_own_training():
    """One epoch of the trainer = FixedPointNetwork.train over the epoch's permutation."""
    data = _data()
    cfg = TrainConfig(epochs=1, batch_size=32, seed=1)
    trainer = OnChipTrainer(OPTS, data, cfg, None, engine="fast")
    record = trainer.train_epoch(progress=False)
    opts = onchip_opts(OPTS)
    rule = onchip_rule(opts)
    q = quantize_for_learning(init_parameters(network_config(opts).sizes, 1, torch.float64),
                              rule.headroom)
    sim = FixedPointNetwork(network_config(opts), q)
    order = np.random.default_rng([1, 0]).permutation(len(data[0]))
    res = sim.train(quantize_input(data[0][order]), data[1][order], rule)
    for a, b in zip(trainer.qparams.weights + trainer.qparams.biases, q.weights + q.biases):
        assert np.array_equal(a, b)
    assert record["train_acc"] == float(np.mean(res.predictions == data[1][order]))
    assert record["train_samples_per_s"] == len(data[0]) / record["train_seconds"]
    # test accuracy: the fast simulator's batched inference on the trained integers
    pred = FixedPointNetwork(network_config(opts), q).predict(quantize_input(data[2]))
    assert record["test_acc"] == float(np.mean(pred == data[3]))
    assert record["backend"] == "fixedsim"


def test_resume_mid_epoch_is_exact(tmp_path, monkeypatch):
    data = _data()
    cfg = TrainConfig(epochs=2, batch_size=16, seed=1, checkpoint_every=2)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    straight = OnChipTrainer(OPTS, data, cfg, tmp_path / "a", engine="fast")
    while not straight.finished:
        straight.train_epoch(progress=False)
    first = OnChipTrainer(OPTS, data, cfg, tmp_path / "b", engine="fast")
    calls = {"n": 0}
    original = FixedPointNetwork.train

    def crash_in_epoch_two(self, *args, **kwargs):
        if calls["n"] == 9:  # 6 chunks per epoch: the last checkpoint was after chunk 8
            raise KeyboardInterrupt
        calls["n"] += 1
        return original(self, *args, **kwargs)

    monkeypatch.setattr(FixedPointNetwork, "train", crash_in_epoch_two)
    with pytest.raises(KeyboardInterrupt):
        while not first.finished:
            first.train_epoch(progress=False)
    monkeypatch.setattr(FixedPointNetwork, "train", original)
    resumed = OnChipTrainer(OPTS, data, cfg, tmp_path / "b", engine="fast")
    resumed.load(resumed.checkpoint_path)
    assert (resumed.epoch, resumed.batch) == (1, 2)
    while not resumed.finished:
        resumed.train_epoch(progress=False)
    for a, b in zip(straight.qparams.weights + straight.qparams.biases,
                    resumed.qparams.weights + resumed.qparams.biases):
        assert np.array_equal(a, b)
    assert ([h["test_acc"] for h in straight.history]
            == [h["test_acc"] for h in resumed.history])


def test_trainer_refuses_conv_nets():
    opts = {**preset("cifar-efficient"), "rule": "onchip"}
    with pytest.raises(ValueError, match="fully connected"):
        OnChipTrainer(opts, (np.zeros((2, 3072)), np.zeros(2, dtype=np.int64),
                             np.zeros((2, 3072)), np.zeros(2, dtype=np.int64)),
                      TrainConfig(), None)


@pytest.mark.slow
def test_cli_onchip_run_and_evaluate(tmp_path, capsys):
    out = tmp_path / "run"
    args = ["train", "--preset", "digits", "--arch", "64-16-10", "--c1", "3", "--c2", "3",
            "--rule", "onchip", "--lr-shift", "5", "--epochs", "1", "--models", "diffpc",
            "--limit-train", "200", "--out", str(out), "--no-progress", "--engine", "fast"]
    assert main(args) == 0
    results = json.loads((out / "results.json").read_text())
    hist = results["onchip"]["history"]
    assert len(hist) == 1 and hist[0]["train_samples_per_s"] > 0
    capsys.readouterr()
    assert main(["evaluate", str(out), "--backend", "fixedsim", "--no-progress", "--engine",
                 "fast", "--json", str(tmp_path / "e.json")]) == 0
    evaluated = json.loads((tmp_path / "e.json").read_text())
    assert evaluated["onchip"]["test_acc"] == hist[0]["test_acc"]
    assert evaluated["onchip"]["backend"] == "fixedsim"
    assert main(["train", "--preset", "digits", "--rule", "chip", "--out",
                 str(tmp_path / "x")]) == 2
    assert "--rule takes" in capsys.readouterr().err
    assert json.loads((out / "config.json").read_text())["options"]["rule"] == "onchip"


def test_learning_rate_decays_by_shifts():
    """``lr_shift_decay = 1``: epoch e trains with alpha = 2**-(lr_shift + e); the second
    epoch equals the simulator trained with the larger shift and the same generators."""
    opts = {**OPTS, "lr_shift_decay": 1}
    assert [onchip_rule(opts, e).lr_shift for e in range(3)] == [5, 6, 7]
    with pytest.raises(ValueError, match="lr_shift_decay"):
        onchip_rule({**OPTS, "lr_shift_decay": -1})
    data = _data(48)
    cfg = TrainConfig(epochs=2, batch_size=48, seed=1)
    trainer = OnChipTrainer(opts, data, cfg, None, engine="fast")
    trainer.train_epoch(progress=False)
    rec = trainer.train_epoch(progress=False)
    assert rec["lr_shift"] == 6
    base = onchip_opts(OPTS)
    q = quantize_for_learning(init_parameters(network_config(base).sizes, 1, torch.float64),
                              onchip_rule(base).headroom)
    sim = FixedPointNetwork(network_config(base), q)
    x = quantize_input(data[0])
    for epoch in range(2):
        order = np.random.default_rng([1, epoch]).permutation(len(x))
        sim.train(x[order], data[1][order], onchip_rule(opts, epoch))
    for a, b in zip(trainer.qparams.weights, q.weights):
        assert np.array_equal(a, b)
