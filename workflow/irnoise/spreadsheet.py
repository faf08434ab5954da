"""CSV cells that a spreadsheet shows as text instead of running them as formulas.

Excel, LibreOffice and Google Sheets read a cell starting with `=`, `+`, `-` or `@` (or a
tab or carriage return before one) as a formula, which can fetch URLs or run commands
(`=HYPERLINK(...)`, DDE). Text that comes from a user's files (class folder names, file
names, CSV cells) is written with a leading apostrophe when it starts so, the escape the
spreadsheets themselves use; numbers such as `-0.25` are left alone.
"""

from __future__ import annotations

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def text_cell(value: str) -> str:
    """`value`, with a leading apostrophe where a spreadsheet would run it as a formula."""
    if value.startswith(FORMULA_STARTS) and not is_number(value):
        return "'" + value
    return value
