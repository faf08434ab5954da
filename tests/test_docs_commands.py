"""The commands README.md and docs/*.md print work as printed.

Every `snakemake ...` command is dry-run (`-n` appended) in one fresh copy of the workflow
that holds what the docs tell a user to write (detect's `mine.yaml` and its image folder);
every `irnoise ...` command names a subcommand and options that exist, and a complete one
parses. Which commands: tests/printed_commands.py.
"""

from __future__ import annotations

import argparse
import re
import shlex
from pathlib import Path

import pytest
from snakemake.cli import get_argument_parser

from irnoise.cli import build_parser

from detect_fixtures import misfiled_folder
from helpers import REPO, copy_workflow, run_snakemake
from printed_commands import PrintedCommand, printed_commands

# The only printed Snakemake commands not run here, each with the reason.
NOT_RUN = {
    "snakemake --profile profiles/slurm --configfile presets/paper.yaml "
    "--software-deployment-method conda": "needs conda, which the test environment lacks",
    "snakemake --cores all --resources gpu=N": "N stands for the machine's number of GPUs",
}
# Options left out of a dry-run, with how many values each takes: how many cores, or a
# dry-run already, change how jobs run, not which. `--report FILE` renders results that a
# dry-run never makes: the dry-run plans the outputs the report shows instead (the smoke
# run's report is rendered in test_report.py).
PLAN_NEUTRAL_OPTIONS = {"--report": 1, "--cores": 1, "-c": 1, "-n": 0, "--dry-run": 0}
CONFIG_FILE_SUFFIXES = (".yaml", ".yml", ".json")
# The placeholder for the user's image folder in docs/detect.md's example config.
USER_FOLDER_PLACEHOLDER = "/path/to/mine"


def unique(commands: list[PrintedCommand]) -> list[PrintedCommand]:
    """The first place each command is printed."""
    first: dict[tuple[str, ...], PrintedCommand] = {}
    for command in commands:
        first.setdefault(command.argv, command)
    return list(first.values())


SNAKEMAKE_COMMANDS = unique(printed_commands("snakemake"))
IRNOISE_COMMANDS = printed_commands("irnoise")


def skipped_if_not_run(command: PrintedCommand):
    reason = NOT_RUN.get(command.text)
    return pytest.param(
        command, id=command.text, marks=[pytest.mark.skip(reason=reason)] if reason else []
    )


def dry_run_arguments(command: PrintedCommand) -> tuple[str, ...]:
    """The command's Snakemake arguments as a dry-run: `-n` appended, `--report FILE` and
    what changes how jobs run but not which (`--cores N`, `-n`) left out."""
    arguments = list(command.argv[1:])
    for option, values in PLAN_NEUTRAL_OPTIONS.items():
        while option in arguments:
            at = arguments.index(option)
            del arguments[at : at + 1 + values]
    return (*arguments, "-n")


def dry_runs() -> list:
    """One dry-run per plan the docs print, with the commands that print it."""
    plans: dict[tuple[str, ...], list[PrintedCommand]] = {}
    for command in SNAKEMAKE_COMMANDS:
        if command.text not in NOT_RUN:
            plans.setdefault(dry_run_arguments(command), []).append(command)
    not_run = [
        pytest.param((), [command], id=command.text, marks=pytest.mark.skip(reason=reason))
        for command in SNAKEMAKE_COMMANDS
        if (reason := NOT_RUN.get(command.text))
    ]
    return [
        pytest.param(arguments, commands, id=shlex.join(arguments))
        for arguments, commands in plans.items()
    ] + not_run


def example_config(doc: Path, images: Path) -> str:
    """The YAML block of `doc` that declares datasets, pointed at `images`."""
    blocks = re.findall(r"^```yaml\n(.*?)^```", doc.read_text(encoding="utf-8"), re.S | re.M)
    config = next(block for block in blocks if block.startswith("datasets:"))
    assert USER_FOLDER_PLACEHOLDER in config, f"{doc}'s example config no longer has a root"
    return config.replace(USER_FOLDER_PLACEHOLDER, str(images))


@pytest.fixture(scope="module")
def docs_workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh copy of the workflow with the files the docs tell a user to write."""
    workdir = copy_workflow(tmp_path_factory.mktemp("docs_commands"))
    images = misfiled_folder(workdir / "my_images")
    config = example_config(REPO / "docs/detect.md", images)
    (workdir / "mine.yaml").write_text(config, encoding="utf-8")
    return workdir


def test_the_docs_print_commands_of_both_tools():
    """The extraction still finds them (a changed layout must not silence these tests)."""
    assert len(SNAKEMAKE_COMMANDS) >= 10
    assert any(command.in_code_block for command in IRNOISE_COMMANDS)


def test_every_command_left_out_is_still_printed():
    printed = {command.text for command in SNAKEMAKE_COMMANDS}
    assert not set(NOT_RUN) - printed, "remove the commands no longer printed"


@pytest.mark.parametrize("command", [skipped_if_not_run(c) for c in SNAKEMAKE_COMMANDS])
def test_printed_snakemake_command_puts_targets_before_config_options(command):
    """Snakemake reads every word after --configfile as a config file, after --config as
    a KEY=VALUE: a target printed after them is lost."""
    try:
        options = get_argument_parser().parse_args(list(command.argv[1:]))
    except SystemExit:
        pytest.fail(f"{command.where()}: Snakemake does not accept `{command.text}`")
    for path in options.configfile or []:
        assert str(path).endswith(CONFIG_FILE_SUFFIXES), (
            f"{command.where()}: `{command.text}` reads {path} as a config file; "
            "put targets before --configfile"
        )
    for item in options.config or []:
        assert "=" in item, (
            f"{command.where()}: `{command.text}` reads {item} as a config override; "
            "put targets before --config"
        )


@pytest.mark.workflow
@pytest.mark.parametrize(("arguments", "commands"), dry_runs())
def test_printed_snakemake_command_dry_runs(arguments, commands, docs_workdir):
    result = run_snakemake(docs_workdir, *arguments, check=False)
    printed = "; ".join(f"{command.where()}: `{command.text}`" for command in commands)
    assert result.returncode == 0, (
        f"{printed} fails as printed (dry-run):\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}"
    )


def irnoise_subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    # argparse keeps its subparsers in a private action; it is the only way to list them.
    (subparsers,) = (a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(subparsers.choices)


def option_words(arguments: list[str]) -> list[str]:
    """The words that name options, up to a `--` that ends them (negative numbers aside)."""
    words = arguments[: arguments.index("--")] if "--" in arguments else arguments
    return [word for word in words if re.match(r"-[^\d.]", word)]


@pytest.mark.parametrize("command", unique(IRNOISE_COMMANDS), ids=lambda command: command.text)
def test_printed_irnoise_command_names_a_subcommand_and_options_that_exist(command):
    subcommands = irnoise_subcommands()
    name, *arguments = command.argv[1:]
    assert name in subcommands, f"{command.where()}: irnoise has no subcommand `{name}`"
    known = {option for action in subcommands[name]._actions for option in action.option_strings}
    options = [argument.split("=")[0] for argument in option_words(arguments)]
    unknown = sorted(set(options) - known)
    assert not unknown, f"{command.where()}: `irnoise {name}` has no option {unknown}"


@pytest.mark.parametrize(
    "command",
    [command for command in unique(IRNOISE_COMMANDS) if command.in_code_block],
    ids=lambda command: command.text,
)
def test_printed_irnoise_command_in_a_code_block_parses(command):
    """A command printed to be copied is complete: every required option, values typed."""
    try:
        build_parser().parse_args(list(command.argv[1:]))
    except SystemExit:
        pytest.fail(f"{command.where()}: `{command.text}` does not parse")
