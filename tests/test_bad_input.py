"""Bad input on the command line and in the drivers. Oracles: the option tables of
lava_diffpc.commands.options (every numeric option of every command has a range, its help
says it, and a value outside it is exit code 2 with one line naming it, before any work),
and the arithmetic's limits (a NaN has no place in any driver)."""

import argparse
import math

import numpy as np
import pytest
import torch

from lava_diffpc.backends import BACKENDS, infer
from lava_diffpc.cli import build_parser, main
from lava_diffpc.commands.align import parse_variant
from lava_diffpc.commands.options import RANGES, check_options
from lava_diffpc.config import DiffPCConfig
from lava_diffpc.fixed_point import quantize_input
from lava_diffpc.presets import preset
from lava_diffpc.reference.backprop import BackpropNetwork
from lava_diffpc.reference.network import DiffPCNetwork
from lava_diffpc.reference.pc import PCNetwork
from lava_diffpc.rules.schedule import MAX_STEPS, Schedule


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and "Traceback" not in err, err
    return err.strip()


# ------------------------------------------------------------------- every numeric option
def _no_data(*args, **kwargs):
    raise AssertionError("a data set was loaded before the bad setting was refused")


def _numeric_options():
    """(command, flag, dest, type) of every int or float option of every command."""
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for command, cmd_parser in sub.choices.items():
        for action in cmd_parser._actions:
            if action.type in (int, float) and action.option_strings:
                yield command, action.option_strings[0], action.dest, action.type, action.help


NUMERIC = list(_numeric_options())
POSITIONAL = {"evaluate": ["somewhere"], "export": ["somewhere", "-o", "x.net"],
              "cost": ["somewhere"]}


def test_every_command_has_numeric_options_to_check():
    assert {c for c, *_ in NUMERIC} >= {"train", "evaluate", "align", "figures", "demo", "bench"}
    assert len(NUMERIC) >= 30


@pytest.mark.parametrize("command, flag, dest, typ, help_text", NUMERIC,
                         ids=[f"{c} {f}" for c, f, *_ in NUMERIC])
def test_every_numeric_option_has_a_documented_range_that_is_enforced(
        command, flag, dest, typ, help_text, tmp_path, capsys, monkeypatch):
    assert dest in RANGES, f"{command} {flag} has no range"
    bounds = RANGES[dest]
    assert f"range {bounds}" in help_text and "default: " in help_text
    from lava_diffpc import bench, demo, figures
    from lava_diffpc.commands import common

    monkeypatch.chdir(tmp_path)  # whatever a command would write lands here (nothing)
    for module in (common, figures, demo, bench):  # refused before any data is read
        monkeypatch.setattr(module, "load_dataset", _no_data)
    below = bounds.lo if bounds.lo_open else bounds.lo - 1
    above = bounds.hi if bounds.hi_open else bounds.hi + (1 if typ is int else 1e-3)
    values = [below, above] + ([math.nan, math.inf] if typ is float else [])
    for value in values:
        text = str(int(value)) if typ is int else repr(float(value))
        argv = [command, *POSITIONAL.get(command, []), flag, text]
        assert main(argv) == 2, argv
        line = _one_error_line(capsys)
        assert line.startswith(f"error: {flag} "), line
        assert str(bounds) in line
    assert list(tmp_path.iterdir()) == []


def test_non_integer_values_of_integer_options_are_one_line(capsys):
    assert main(["train", "--n", "2.5"]) == 2
    assert "argument --n: invalid int value: '2.5'" in _one_error_line(capsys)


# ------------------------------------------------------------------ settings without sense
# refused before any data is read (a data load would mean the check is missing: it fails at once)
BEFORE_DATA = [
    (["train", "--c2", "0"], "--c2 0 is out of range; it must lie in [1, 1000]"),
    (["train", "--models", ""], "--models is empty"),
    (["train", "--models", " , "], "--models is empty"),
    (["train", "--models", "diffpc,svm"], "--models takes"),
    (["train", "--models", "bp,bp"], "names a model twice"),
    (["train", "--n", "100000"], "--n 100000 is out of range; it must lie in [1, 24]"),
    (["train", "--n", "24", "--c1", "100", "--c2", "100"],
     f"4800 steps per sample ((c1 + c2) * n = (100 + 100) * 24) exceeds the maximum of "
     f"{MAX_STEPS}"),
    (["train", "--m", "-20", "--n", "8"], "thresholds 2**-27 .. 2**-20 (m=-20, n=8) leave"),
    (["train", "--m", "25"], "--m 25 is out of range"),
    (["train", "--target-scale", "nan"], "--target-scale nan is not a finite number"),
    (["train", "--target-scale", "inf"], "--target-scale inf is not a finite number"),
    (["train", "--target-scale", "-1"], "--target-scale -1.0 is out of range"),
    (["train", "--limit-train", "0"], "--limit-train 0 is out of range"),
    (["train", "--limit-test", "0"], "--limit-test 0 is out of range"),
    (["train", "--rule", "chip"], "--rule takes ('local', 'onchip'), got 'chip'"),
    (["train", "--rule", "onchip", "--augment"], "--rule onchip trains on the images as they "
                                                 "are; pass --no-augment"),
    (["train", "--shift", "1"], "--shift 1 sets the largest shift of --augment; pass "
                                "--augment as well"),
    (["train", "--rotate", "10"], "--rotate 10.0 adds rotations to --augment; pass "
                                  "--augment as well"),
    (["train", "--augment", "--rotate", "181"], "--rotate 181.0 is out of range"),
    (["train", "--elastic", "34"], "--elastic 34.0 adds elastic distortions to --augment; "
                                   "pass --augment as well"),
    (["train", "--augment", "--elastic-sigma", "6"], "--elastic-sigma 6.0 smooths the "
                                                     "distortions of --elastic; pass --elastic"),
    (["train", "--augment", "--elastic", "-1"], "--elastic -1.0 is out of range"),
    (["train", "--augment", "--elastic", "34", "--elastic-sigma", "0"],
     "--elastic-sigma 0.0 is out of range"),
    (["train", "--schedule", "zigzag"], "--schedule takes"),
    (["train", "--device", "gpu"], "--device 'gpu'"),
    (["demo", "--epochs", "0"], "--epochs 0 is out of range"),
    (["demo", "--lava-samples", "-3"], "--lava-samples -3 is out of range"),
    (["align", "--variant", "lr=0.1"], "'lr' does not apply to a gradient comparison"),
    (["align", "--variant", "zoom=2"], "'zoom' is no training option"),
    (["align", "--variant", "m=abc"], "'abc' is not an int"),
    (["align", "--variant", "target_scale=x"], "'x' is not a float"),
    (["align", "--variant", "input_gate=maybe"], "'maybe' is not a true or false"),
    (["align", "--variant", "m=-3,m=-2"], "'m' given twice"),
    (["align", "--variant", "m="], "expected name=value"),
    (["align", "--variant", ","], "empty"),
    (["align", "--variant", "n=0"], "--variant n 0 is out of range"),
    (["align", "--variant", "m=-20,n=8"], "leave the range"),
    (["figures", "--what", "accuracy"], "nothing to draw"),
    (["figures", "--what", "spikes", "accuracy"], "nothing to draw"),
    (["figures", "--what", "schedule", "--schedules"], "nothing to draw"),
    (["figures", "--schedules", "nope"], "unknown preset 'nope'"),
    (["bench", "--rounds", "0"], "--rounds 0 is out of range"),
    (["evaluate", "nowhere"], "nowhere does not exist"),
]
# refused once the data is known, before anything is written
AFTER_DATA = [
    (["train", "--rule", "onchip", "--m", "11"], "threshold 2**11 does not fit the 24-bit state"),
    (["train", "--rule", "onchip", "--m", "-10"], "finer than the state's LSB"),
    (["train", "--heldout", "1437"], "--heldout 1437 leaves no training samples"),
    (["train", "--augment", "--shift", "8"], "--shift 8 does not fit 8x8 images; pass a "
                                             "shift from 0 to 7 pixels"),
    (["align", "--variant", "arch=64-9"], "does not fit digits"),
]


@pytest.mark.parametrize("argv, problem, early",
                         [(*case, True) for case in BEFORE_DATA]
                         + [(*case, False) for case in AFTER_DATA])
def test_settings_that_make_no_sense_are_refused_before_any_work(argv, problem, early,
                                                                 tmp_path, capsys,
                                                                 monkeypatch):
    from lava_diffpc import bench, demo, figures
    from lava_diffpc.commands import common

    monkeypatch.chdir(tmp_path)
    if early:
        for module in (common, figures, demo, bench):
            monkeypatch.setattr(module, "load_dataset", _no_data)
    assert main(argv) == 2
    assert problem in _one_error_line(capsys)
    assert list(tmp_path.iterdir()) == []  # no run folder, no figure folder, no JSON


def test_option_dicts_are_checked_like_the_command_line():
    check_options({**preset("mnist-l"), "seed": 3})
    with pytest.raises(ValueError, match=r"--dropout 1.0 is out of range; it must lie in "
                                         r"\[0, 1\)"):
        check_options({**preset("digits"), "dropout": 1.0})
    assert parse_variant("m=-3, target_scale=2, input_gate=true") == {
        "m": -3, "target_scale": 2.0, "input_gate": True}


def test_schedules_beyond_the_documented_maximum_or_resolution_are_refused():
    Schedule(n=16, c1=128, c2=128)  # exactly MAX_STEPS
    with pytest.raises(ValueError, match="exceeds the maximum of 4096"):
        Schedule(n=16, c1=128, c2=129)
    Schedule(m=-21, n=4)  # finest threshold 2**-24
    with pytest.raises(ValueError, match="leave the range"):
        Schedule(m=-21, n=5)
    with pytest.raises(ValueError, match="leave the range"):
        Schedule(m=25, n=4)


# ------------------------------------------------------------------ NaN input, every driver
def _tiny(kind):
    cfg = DiffPCConfig(sizes=(4, 5, 3), schedule=Schedule(c1=2, c2=2))
    cls = {"diffpc": DiffPCNetwork, "bp": BackpropNetwork, "pc": PCNetwork}[kind]
    return cls(cfg, seed=0)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize("kind", ["diffpc", "bp", "pc"])
def test_the_float_models_reject_non_finite_input(kind, bad):
    model = _tiny(kind)
    x = torch.zeros(3, 4)
    x[1, 2] = bad
    with pytest.raises(ValueError, match="NaN or infinite"):
        model.predict(x)
    with pytest.raises(ValueError, match="NaN or infinite"):
        model.gradients(x, torch.tensor([0, 1, 2]))


@pytest.mark.parametrize("backend", BACKENDS)
def test_every_backend_rejects_non_finite_input(backend):
    if backend in ("lava-float", "lava-fixed", "loihi2"):
        pytest.importorskip("lava.magma")
    model = _tiny("diffpc")
    x = np.zeros((3, 4))
    x[2, 0] = np.nan
    with pytest.raises(ValueError, match="NaN|finite"):
        infer(model, x, backend)


def test_quantising_a_non_finite_input_is_refused():
    with pytest.raises(ValueError, match="1 NaN and 1 infinite"):
        quantize_input(np.array([[0.5, np.nan, np.inf]]))
    assert quantize_input(np.array([[0.5, -1e9]])).tolist() == [[2048, -(1 << 23)]]
