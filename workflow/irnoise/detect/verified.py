"""A user's verified images (CSV: path, correct) as CleanNet's verification labels.

`path` is an image's file path or native key as `irnoise detect` lists them in
suspicious.csv; `correct` is 1 (its label is right) or 0 (it is wrong). The classes of
the verified images are CleanNet's verified classes; every other class is scored by
transfer.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from irnoise.detect.cleannet import Verification
from irnoise.errors import UserError

COLUMNS = ("path", "correct")
TRUE, FALSE = {"1", "true", "yes"}, {"0", "false", "no"}


def read_verified(csv_path: str | Path, files: list[tuple[str, str]]) -> Verification:
    """The verified rows and their labels; `files` is (key, path) per train row."""
    where = {}
    for row, (key, path) in enumerate(files):
        where.setdefault(path, row)
        where.setdefault(key, row)
    where.pop("", None)
    if not where:
        raise UserError(
            f"{csv_path} names images by path, but the dataset's files are unknown: pass "
            "--dataset (the rule detect_dataset does)"
        )
    rows, correct = [], []
    with open(csv_path, newline="") as handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames is None or not set(COLUMNS) <= set(reader.fieldnames):
            raise UserError(f"{csv_path} needs the columns {', '.join(COLUMNS)} in its header")
        for line, record in enumerate(reader, start=2):
            rows.append(_row(csv_path, line, record["path"], where))
            correct.append(_verdict(csv_path, line, record["correct"]))
    if not rows:
        raise UserError(f"{csv_path} verifies no image: add rows of path,correct")
    return Verification(np.array(rows, dtype=np.int64), np.array(correct, dtype=bool))


def _row(csv_path, line: int, path: str, where: dict[str, int]) -> int:
    if path not in where:
        raise UserError(
            f"{csv_path}, line {line}: {path!r} is no train image of the dataset: use the "
            "path (or key) column of suspicious.csv"
        )
    return where[path]


def _verdict(csv_path, line: int, value: str) -> bool:
    text = (value or "").strip().lower()
    if text not in TRUE | FALSE:
        raise UserError(f"{csv_path}, line {line}: correct is {value!r}; write 1 (right) or 0")
    return text in TRUE
