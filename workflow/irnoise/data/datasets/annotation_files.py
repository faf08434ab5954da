"""Reading annotation files so that every mistake in them points at a file and a line.

The adapters of annotation-driven layouts (SOP, In-Shop, LFW, CUB, Cars, CSV, the
ImageNet validation list, the RecordIO index) share these helpers: numbered lines,
field splitting with the expected format in the error, integer parsing, and the
check that keys are unique within a split.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path

from irnoise.errors import UserError

# How many offending items an error message lists before it summarises the rest.
SHOWN = 10


def read_text(path: Path) -> str:
    # utf-8-sig: spreadsheet programs (Excel's "CSV UTF-8") start the file with a byte
    # order mark, which would otherwise stick to the first header name.
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as error:
        raise UserError(
            f"{path} is not a UTF-8 text file ({error}); is it the right file?"
        ) from None


def numbered_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(1-based line number, stripped text) of every non-blank line of a text file."""
    for number, line in enumerate(read_text(path).splitlines(), start=1):
        if line.strip():
            yield number, line.strip()


def csv_rows(path: Path) -> list[tuple[int, list[str]]]:
    """(line number, cells) of every non-empty row of a CSV file."""
    reader = csv.reader(io.StringIO(read_text(path), newline=""))
    # line_num counts physical lines, so a quoted newline does not shift later numbers.
    return [(reader.line_num, row) for row in reader if row]


def malformed(path: Path, number: int, line: str, expected: str) -> UserError:
    """The error for a line that does not have the expected format."""
    return UserError(
        f"{path} line {number}: expected {expected}, got {line!r}; "
        "fix the line or restore the original annotation file"
    )


def fields(path: Path, number: int, line: str, count: int, expected: str) -> list[str]:
    """The whitespace-separated fields of a line, which must number exactly `count`."""
    parts = line.split()
    if len(parts) != count:
        raise malformed(path, number, line, expected)
    return parts


def integer(path: Path, number: int, line: str, value: str, expected: str) -> int:
    """`value` as an integer, or the malformed-line error."""
    try:
        return int(value)
    except ValueError:
        raise malformed(path, number, line, expected) from None


def expect_header(path: Path, lines: Iterator[tuple[int, str]], header: str) -> None:
    """Consume the header line, which must hold exactly the fields of `header`."""
    number, line = next(lines, (1, ""))
    if line.split() != header.split():
        raise malformed(path, number, line, f"the header {header!r}")


def listing(items: Iterable[object]) -> str:
    """A short comma-separated listing: the first few items and how many more."""
    items = list(items)
    shown = ", ".join(str(item) for item in items[:SHOWN])
    return shown if len(items) <= SHOWN else f"{shown}, ... ({len(items)} in all)"


def duplicates(keys: Iterable[str]) -> list[str]:
    """The keys that occur more than once, in order of first occurrence."""
    return [key for key, count in Counter(keys).items() if count > 1]


def check_unique_keys(split: str, keys: Iterable[str], where: Path) -> None:
    """Refuse a split in which one image appears twice: its row would be counted twice.

    Takes the keys, not the records: these helpers read text files and know nothing of
    the index types (base.Record reads RecordIO, whose reader uses these helpers).
    """
    repeated = duplicates(keys)
    if repeated:
        raise UserError(
            f"duplicate keys in split {split!r} of {where}: {listing(repeated)}; "
            "each image may be listed once per split, remove the repeated entries"
        )
