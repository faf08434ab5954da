"""What a command may write: one rule for every command's outputs.

Every command declares which of its arguments are outputs (`OUTPUTS`, argument dests);
`irnoise.cli` calls `check_outputs` before the command runs, so that no command can
overwrite its own input or write two outputs to one path. Every other argument that
names an existing file or folder counts as an input. Folders are replaced only where
the command recognizes them as its own (`refuse_foreign_folder`, called by
`irnoise.atomic.atomic_directory`), and a failed write is one line naming the path and
the reason (`write_error`).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterator
from pathlib import Path

from irnoise.errors import UserError

# Namespace entries that are no command argument.
NOT_ARGUMENTS = {"run", "draw", "outputs", "command", "figure"}


def path_values(value: object) -> list[str]:
    """The paths an argument holds: one, several (nargs), or none (numbers, flags)."""
    if isinstance(value, (str, os.PathLike)):
        return [os.fspath(value)] if os.fspath(value) else []
    if isinstance(value, (list, tuple)):
        return [path for item in value for path in path_values(item)]
    return []


def same_path(a: str, b: str) -> bool:
    if os.path.exists(a) and os.path.exists(b):
        return os.path.samefile(a, b)
    return Path(a).resolve() == Path(b).resolve()


def inside(path: str, folder: str) -> bool:
    return Path(folder).resolve() in Path(path).resolve().parents


def arguments(args: argparse.Namespace) -> Iterator[tuple[str, str]]:
    """(dest, path) of every argument value that could name a path."""
    for dest, value in vars(args).items():
        if dest not in NOT_ARGUMENTS:
            for path in path_values(value):
                yield dest, path


def check_outputs(args: argparse.Namespace, option_of: dict[str, str]) -> None:
    """Refuse an output that is an input, lies inside an input folder, or repeats an output."""

    def name(dest: str) -> str:
        return option_of.get(dest, "--" + dest.replace("_", "-"))

    outputs = set(getattr(args, "outputs", ()))
    written: list[tuple[str, str]] = []
    for dest, path in arguments(args):
        if dest not in outputs:
            continue
        for other_dest, other in written:
            if same_path(path, other):
                raise UserError(
                    f"{name(dest)} and {name(other_dest)} both name {path}: "
                    "give each output its own path"
                )
        written.append((dest, path))
    read = [(dest, path) for dest, path in arguments(args) if dest not in outputs]
    for dest, path in written:
        for input_dest, input_path in read:
            if not os.path.exists(input_path):
                continue
            if same_path(path, input_path):
                raise UserError(
                    f"{name(dest)} {path} is also an input of this command "
                    f"({name(input_dest)}): writing it would destroy the input; "
                    "choose another output path"
                )
            if os.path.isdir(input_path) and inside(path, input_path):
                raise UserError(
                    f"{name(dest)} {path} lies inside the input folder {input_path} "
                    f"({name(input_dest)}): writing there would change the input; "
                    "choose an output path outside it"
                )


def refuse_foreign_folder(target: Path, marker: str) -> None:
    """Refuse to replace `target` unless it is absent, empty, or holds the command's `marker`.

    A command recognizes a folder it wrote by the file it always writes last (a shard
    folder's manifest.json, a synthetic set's synth.json): anything else may be the
    user's, and replacing it would delete it.
    """
    if not target.exists() and not target.is_symlink():
        return
    if not target.is_dir() or target.is_symlink():
        raise UserError(
            f"{target} exists and is not a folder: give the output folder a new path, "
            "or remove it yourself"
        )
    if (target / marker).is_file() or not any(target.iterdir()):
        return
    raise UserError(
        f"refusing to replace {target}: it holds files this command did not write "
        f"(no {marker}); give the output folder a new or empty path, "
        "or remove it yourself"
    )


def write_error(target: str | os.PathLike, error: OSError) -> UserError:
    """A failed write (read-only or full folder, a file where a folder should be), in one line."""
    reason = error.strerror or str(error)
    return UserError(f"cannot write {os.fspath(target)}: {reason}")
