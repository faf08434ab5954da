"""A generic CSV list, for bringing your own data: `path,label,split[,is_query,is_gallery]`.

options.file names the CSV (default `<root>/labels.csv`, relative paths from the root).
Paths in it are relative to the root and must stay under it (no absolute paths, no `..`
above the root; symbolic links inside the root are followed as usual) unless
options.allow_outside_root is true. Labels are class names, splits are train, test,
query, gallery or val. A `test` row also joins the query and/or gallery split when its
is_query / is_gallery flag is set (1, true or yes), so one test set can serve as both.
Rows keep file order within each split. A path's key is its normal form (`./a.jpg` and
`a//b/../a.jpg` are both `a.jpg`), so that one image listed twice is found as a duplicate.
"""

from __future__ import annotations

import os
import posixpath
from pathlib import Path
from typing import Any

from irnoise.data.datasets import annotation_files
from irnoise.data.datasets.base import DatasetIndex, Record
from irnoise.errors import UserError
from irnoise.plan import SPLITS

REQUIRED = ["path", "label", "split"]
FLAGS = ["is_query", "is_gallery"]
TRUE, FALSE = ("1", "true", "yes"), ("", "0", "false", "no")

LAYOUT = """\
<root>/labels.csv (or options.file)   header `path,label,split[,is_query,is_gallery]`, e.g.
                                      `images/0001.jpg,dog,train` or `images/0042.jpg,cat,test,1,1`
<root>/<path>                         the images; split is train, test, query, gallery or val"""


def csv_path(root: Path, options: dict[str, Any]) -> Path:
    return root / options.get("file", "labels.csv")


def required_files(root: Path, options: dict[str, Any]) -> list[Path]:
    return [csv_path(root, options)]


def read_rows(path: Path) -> list[tuple[int, dict[str, str]]]:
    """(line number, {column: cell}) of every row after the header."""
    rows = annotation_files.csv_rows(path)
    number, header = rows[0] if rows else (1, [])
    header = [cell.strip() for cell in header]
    unknown = [name for name in header if name not in REQUIRED + FLAGS]
    if header[:3] != REQUIRED or unknown:
        raise annotation_files.malformed(
            path, number, ",".join(header), "the header `path,label,split[,is_query,is_gallery]`"
        )
    body = []
    for number, row in rows[1:]:
        if len(row) != len(header):
            raise annotation_files.malformed(path, number, ",".join(row), f"{len(header)} fields")
        body.append((number, {name: cell.strip() for name, cell in zip(header, row, strict=True)}))
    return body


def flag(path: Path, number: int, row: dict[str, str], name: str) -> bool:
    value = row.get(name, "").lower()
    if value not in TRUE + FALSE:
        raise annotation_files.malformed(
            path, number, ",".join(row.values()), f"{name} 1/0, true/false"
        )
    return value in TRUE


def row_splits(path: Path, number: int, row: dict[str, str]) -> list[str]:
    """The splits a row belongs to: its own, plus query/gallery for flagged test rows."""
    if row["split"] not in SPLITS or not row["path"] or not row["label"]:
        raise annotation_files.malformed(
            path, number, ",".join(row.values()), f"a path, a label and a split in {SPLITS}"
        )
    flagged = [
        split
        for split, name in zip(("query", "gallery"), FLAGS, strict=True)
        if flag(path, number, row, name)
    ]
    if flagged and row["split"] != "test":
        raise UserError(f"{path} line {number}: is_query/is_gallery apply to test rows only")
    return [row["split"], *flagged]


def image_path(root: Path, path: Path, number: int, cell: str, outside_allowed: bool) -> Path:
    """`root / cell`, refused if it names a file outside the root (absolute, or `..` above it)."""
    normal = os.path.normpath(cell)
    if not outside_allowed and (os.path.isabs(normal) or normal.split(os.sep)[0] == ".."):
        raise UserError(
            f"{path} line {number}: image path {cell!r} lies outside the dataset root {root}: "
            "paths are relative to the root and stay under it; move the images under the "
            "root, or set the dataset's options: {allow_outside_root: true}"
        )
    return root / cell


def load(root: Path, options: dict[str, Any]) -> DatasetIndex:
    path = csv_path(root, options)
    rows = read_rows(path)
    outside_allowed = options.get("allow_outside_root") is True
    splits: dict[str, list[Record]] = {}
    for number, row in rows:
        image = image_path(root, path, number, row["path"], outside_allowed)
        record = Record(key=posixpath.normpath(row["path"]), path=image, label=row["label"])
        for split in row_splits(path, number, row):
            splits.setdefault(split, []).append(record)
    if not splits:
        raise UserError(f"{path} lists no images.\nExpected layout:\n{LAYOUT}")
    for split, records in splits.items():
        annotation_files.check_unique_keys(split, (r.key for r in records), path)
    ordered = {split: splits[split] for split in SPLITS if split in splits}
    return DatasetIndex(source="csv", root=root, splits=ordered)
