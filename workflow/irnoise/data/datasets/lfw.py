"""Labeled Faces in the Wild: a folder per person and the official `pairs.txt`.

The test split is every image, sorted by path (`Name/Name_0001.jpg`), labelled by person.
`pairs.txt` starts with `<folds>\\t<pairs per fold>` (officially `10\\t300`); each fold then
lists that many matched pairs `name\\tn1\\tn2` and as many mismatched pairs
`name1\\tn1\\tname2\\tn2`, image n of a person being `<Name>/<Name>_<nnnn>.jpg`. The fold of
a pair is its position divided by the fold's size (600 officially).

Option `face_crop` (a share of the side, in (0, 1]): keep only the central part of each
image before it is resized to the dataset's image_size, e.g. {face_crop: 0.5} keeps the
central 125x125 of LFW's 250x250 and, with image_size 112, approximates the 112x112
aligned crops that face models (MS1M's insightface crops) are trained on. It is a fixed
center crop, not an alignment: LFW's images are centered on the face its detector found,
at roughly one scale, but no landmarks are detected, nothing is rotated or warped, and
faces off center or of unusual size stay so. For evaluation comparable to published face
results, use insightface's lfw.bin (source verification_bin).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from irnoise.data.datasets import annotation_files
from irnoise.data.datasets.base import DatasetIndex, Pair
from irnoise.data.datasets.folder import class_folder_records
from irnoise.errors import UserError

PAIRS = "pairs.txt"
MATCHED = "`name<TAB>n1<TAB>n2`"
MISMATCHED = "`name1<TAB>n1<TAB>name2<TAB>n2`"

LAYOUT = """\
<root>/pairs.txt                  the official verification pairs (first line `10<TAB>300`)
<root>/<Name>/<Name>_<nnnn>.jpg   the images, one folder per person,
                                  e.g. <root>/Abel_Pacheco/Abel_Pacheco_0001.jpg"""


def required_files(root: Path, options: dict[str, Any]) -> list[Path]:
    return [root / PAIRS]


def image_key(name: str, number: int) -> str:
    return f"{name}/{name}_{number:04d}.jpg"


def pair_keys(path: Path, number: int, line: str) -> tuple[str, str, bool]:
    """The two image keys of one pairs.txt line and whether they show the same person."""
    parts = line.split()
    expected = f"a matched pair {MATCHED} or a mismatched pair {MISMATCHED}"
    if len(parts) not in (3, 4):
        raise annotation_files.malformed(path, number, line, expected)
    names = [parts[0], parts[0]] if len(parts) == 3 else [parts[0], parts[2]]
    digits = parts[1:] if len(parts) == 3 else [parts[1], parts[3]]
    first, second = (annotation_files.integer(path, number, line, n, expected) for n in digits)
    return image_key(names[0], first), image_key(names[1], second), len(parts) == 3


def fold_sizes(path: Path, lines: Iterator[tuple[int, str]]) -> tuple[int, int]:
    """(folds, matched pairs per fold) from the first line of pairs.txt."""
    number, line = next(lines, (1, ""))
    expected = "`<folds><TAB><pairs per fold>`, two positive integers"
    header = annotation_files.fields(path, number, line, 2, expected)
    folds, per_fold = (annotation_files.integer(path, number, line, n, expected) for n in header)
    if folds < 1 or per_fold < 1:
        raise annotation_files.malformed(path, number, line, expected)
    return folds, per_fold


def read_pairs(path: Path, rows: dict[str, int]) -> list[Pair]:
    """The pairs of pairs.txt as rows into the test split, with their folds."""
    lines = annotation_files.numbered_lines(path)
    folds, per_fold = fold_sizes(path, lines)
    pairs, missing = [], []
    for position, (number, line) in enumerate(lines):
        key_a, key_b, same = pair_keys(path, number, line)
        missing.extend(f"{key} (line {number})" for key in (key_a, key_b) if key not in rows)
        fold = position // (2 * per_fold)
        pairs.append(Pair(rows.get(key_a, -1), rows.get(key_b, -1), same, fold))
    if len(pairs) != folds * 2 * per_fold:
        raise UserError(
            f"{path} lists {len(pairs)} pairs but its first line promises {folds} folds of "
            f"2 x {per_fold}; restore the original pairs.txt"
        )
    if missing:
        raise UserError(
            f"{path} names images that are not in {path.parent}: "
            f"{annotation_files.listing(missing)}; add the missing images (Name/Name_nnnn.jpg) "
            "or use the pairs.txt that came with these images"
        )
    return pairs


def face_crop(options: dict[str, Any]) -> float | None:
    share = options.get("face_crop")
    if share is None:
        return None
    if isinstance(share, bool) or not isinstance(share, int | float) or not 0 < share <= 1:
        raise UserError(
            f"lfw's option face_crop is the share of each side kept around the center, in "
            f"(0, 1], e.g. {{face_crop: 0.5}}; got {share!r}"
        )
    return float(share)


def load(root: Path, options: dict[str, Any]) -> DatasetIndex:
    records = class_folder_records(root, root, what="person")
    if (share := face_crop(options)) is not None:
        records = [dataclasses.replace(record, face_crop=share) for record in records]
    rows = {record.key: row for row, record in enumerate(records)}
    pairs = read_pairs(root / PAIRS, rows)
    return DatasetIndex(source="lfw", root=root, splits={"test": records}, pairs=pairs)
