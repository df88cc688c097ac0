"""One command line: --version, an example in every --help, one spelling of each option,
--host wherever an engine is reached, paired booleans, and error lines that are not wrapped."""

import click
import pytest
import typer

from orchbench import __version__
from orchbench.cli import VERB_MODULES, build_app, main

ENGINE_VERBS = ("run", "tune", "calibrate", "setup", "doctor")
FLAGS = {"--help", "--version", "--force", "--verbose", "--json"}
"""Plain flags: they ask for an action or a format, there is nothing to turn off."""


def _commands():
    group = typer.main.get_command(build_app())
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        yield name, command
        if hasattr(command, "list_commands"):  # a group: its subcommands too
            for sub in command.list_commands(ctx):
                yield f"{name} {sub}", command.get_command(ctx, sub)


def _is_option(param):
    # typer bundles its own click: compare by kind, not by class
    return param.param_type_name == "option"


def _options(command):
    return {opt for p in command.params if _is_option(p) for opt in p.opts}


def test_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"orchbench {__version__}"


@pytest.mark.parametrize("verb", VERB_MODULES)
def test_every_verb_has_an_example_in_its_help(capsys, monkeypatch, verb):
    monkeypatch.setenv("COLUMNS", "200")
    assert main([verb, "--help"]) == 0
    out = capsys.readouterr().out
    assert "Example" in out
    examples = [line for line in out.splitlines() if f"orchbench {verb}" in line]
    assert [line for line in examples if "Usage:" not in line], "only the usage line"


def test_every_verb_that_reaches_an_engine_takes_host_and_backend():
    commands = dict(_commands())
    for verb in ENGINE_VERBS:
        assert {"--host", "--backend", "--profile", "-p"} <= _options(commands[verb]), verb


def test_one_spelling_per_option():
    commands = dict(_commands())
    for name, command in commands.items():
        options = _options(command)
        assert "--repeats" not in options, name
        if "--suite" in options:
            assert "-s" in options, name
    for verb in ("run", "tune", "calibrate"):
        assert "--repeat" in _options(commands[verb]), verb


def test_booleans_that_switch_something_come_in_pairs():
    for name, command in _commands():
        for param in command.params:
            if _is_option(param) and param.is_flag and param.is_bool_flag:
                if set(param.opts) & FLAGS:
                    continue
                assert param.secondary_opts, f"{name} {param.opts}: add --no-{param.name}"


def test_out_means_a_folder_on_every_verb(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    for verb in ("run", "tune"):
        assert main([verb, "--help"]) == 0
        help_text = " ".join(capsys.readouterr().out.split())
        assert "--out" in help_text and "Folder to write" in help_text, verb


def test_an_error_line_is_not_wrapped_when_stderr_is_not_a_terminal(capsys):
    name = "a-profile-name-long-enough-to-be-wrapped-at-eighty-columns-" * 3
    assert main(["run", "--profile", name]) == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and name in lines[0]


def test_run_sends_host_to_the_engine(capsys):
    code = main(["run", "--backend", "ollama", "--host", "http://127.0.0.1:9", "--repeat", "1"])
    assert code == 2
    err = capsys.readouterr().err
    assert "127.0.0.1:9" in err and "Traceback" not in err


def test_a_misspelt_option_is_a_usage_error(capsys):
    assert main(["run", "--repeats", "2"]) == 2
    assert "No such option" in capsys.readouterr().err
