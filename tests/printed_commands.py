"""The shell commands that README.md and docs/*.md print, read the way a user copies them.

A command is printed in a code block (fenced, or indented by four spaces) or in an inline
code span that starts with the program's name. Code lines continued with a backslash are
joined, `#` comments dropped, and a line such as `pip install -e . && snakemake --cores all`
is cut at `&&`, `||`, `;` and `|` into its commands.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

from helpers import REPO

DOCS = (REPO / "README.md", *sorted((REPO / "docs").glob("*.md")))
FENCE = re.compile(r"^\s*(```|~~~)")
INDENTED_CODE = re.compile(r"^ {4,}\S")
INLINE_CODE = re.compile(r"`([^`\n]+)`")
COMMAND_SEPARATORS = {"&&", "||", ";", "|", "&"}


@dataclass(frozen=True)
class PrintedCommand:
    doc: str  # relative to the repository, e.g. "docs/detect.md"
    line: int  # where the command starts
    argv: tuple[str, ...]
    in_code_block: bool  # False: an inline span, possibly a fragment such as `irnoise train`

    @property
    def text(self) -> str:
        return shlex.join(self.argv)

    def where(self) -> str:
        return f"{self.doc}:{self.line}"


def printed_commands(program: str) -> list[PrintedCommand]:
    """Every command of `program` printed in the docs, in the order printed (an inline
    span with the program's name alone names the tool: no command)."""
    return [
        command
        for doc in DOCS
        for command in commands_in(doc)
        if command.argv[0] == program and (command.in_code_block or len(command.argv) > 1)
    ]


def commands_in(doc: Path) -> list[PrintedCommand]:
    name = doc.relative_to(REPO).as_posix()
    commands = []
    for line_number, text, in_code_block in shell_lines(doc.read_text(encoding="utf-8")):
        for argv in split_commands(text):
            commands.append(PrintedCommand(name, line_number, tuple(argv), in_code_block))
    return commands


def shell_lines(markdown: str) -> list[tuple[int, str, bool]]:
    """(line number, text, in a code block) of each code line and inline code span."""
    found: list[tuple[int, str, bool]] = []
    in_fence = in_indented_block = False
    continued: tuple[int, str] | None = None  # a code line ending in a backslash
    previous = ""
    for number, line in enumerate(markdown.splitlines(), start=1):
        if FENCE.match(line):
            in_fence = not in_fence
            continue
        # An indented line opens a code block after a blank line only (else it continues
        # a paragraph or a list item).
        in_indented_block = bool(INDENTED_CODE.match(line)) and (
            in_indented_block or not previous.strip()
        )
        previous = line
        if in_fence or in_indented_block:
            start, text = continued if continued else (number, "")
            text += line.strip()
            if text.endswith("\\"):
                continued = (start, text[:-1] + " ")
                continue
            continued = None
            found.append((start, text, True))
        else:
            found.extend((number, span, False) for span in INLINE_CODE.findall(line))
    return found


def split_commands(text: str) -> list[list[str]]:
    """The commands of one shell line, without comments; [] for text that is not shell."""
    lexer = shlex.shlex(text, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    try:
        tokens = list(lexer)
    except ValueError:  # unbalanced quotes: prose in a code span, not a command
        return []
    commands: list[list[str]] = [[]]
    for token in tokens:
        if token in COMMAND_SEPARATORS:
            commands.append([])
        else:
            commands[-1].append(token)
    return [command for command in commands if command]
