"""``--help`` explains every option in words; the exit-code convention is documented.
Oracle: the option tables of lava_diffpc.commands.options and the codes main returns."""

import argparse

import pytest

from lava_diffpc import cli
from lava_diffpc.cli import build_parser, main
from lava_diffpc.commands.options import MEANING, OPTION_TYPES, RANGES


def _commands():
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices


COMMANDS = _commands()
OPTIONS = [(name, action) for name, p in COMMANDS.items() for action in p._actions
           if not isinstance(action, argparse._HelpAction)]


@pytest.mark.parametrize("command, action", OPTIONS,
                         ids=[f"{c} {a.option_strings[0] if a.option_strings else a.dest}"
                              for c, a in OPTIONS])
def test_every_option_is_explained_with_its_default(command, action):
    text = action.help or ""
    assert len(text.split()) >= 5, text
    assert "override the preset" not in text
    if action.option_strings:  # positional arguments have no default to state
        assert "default: " in text, text
        assert "None" not in text, text  # an unset default says what a run takes instead
    if action.dest in RANGES and action.type in (int, float):
        assert f"range {RANGES[action.dest]}" in text


@pytest.mark.parametrize("name, words", [
    ("m", "largest threshold of a cycle is 2**m"), ("n", "time steps per cycle"),
    ("c1", "cycles of the feed-forward phase"), ("c2", "cycles of the learning phase"),
    ("a", "decay factor"), ("gamma", "target-update rate"), ("gamma_mode", "cycle-start"),
    ("presyn", "presynaptic factor"), ("target_scale", "target_scale * one_hot(label)"),
    ("schedule", "cyclic-decay"), ("dropout", "dropout rate"), ("lr_schedule", "cosine"),
])
def test_training_options_say_what_they_mean(name, words):
    action = next(a for a in COMMANDS["train"]._actions if a.dest == name)
    assert words in action.help
    assert "default: the preset's value" in action.help


def test_every_training_option_has_a_meaning():
    assert set(OPTION_TYPES) <= set(MEANING)


def test_help_and_docstring_document_the_exit_codes(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for code in ("0 success", "1 the run failed", "2 usage error or bad input",
                 "130 interrupted"):
        assert code in " ".join(out.split())
    for code in ("0: success", "1: the run failed", "2: usage error", "130: interrupted"):
        assert code in cli.__doc__
    assert (cli.EXIT_OK, cli.EXIT_FAILED, cli.EXIT_USAGE, cli.EXIT_INTERRUPTED) == (0, 1, 2, 130)
    for command in COMMANDS:
        assert main([command, "--help"]) == 0
        assert capsys.readouterr().out.startswith("usage: python -m lava_diffpc " + command)
