"""Stanford Cars (Cars196) in the metric-learning split: classes 1-98 train, 99-196 test.

`anno_train.csv` and `anno_test.csv` (`image_name,x_min,y_min,x_max,y_max,label`, a CSV
export of the devkit's annotations) describe the images in `cars_train/` and `cars_test/`.
The official train/test split is ignored: both files are pooled and split by class.
Rows follow the train file, then the test file; keys are paths relative to the root
(`cars_train/00001.jpg`), since both folders reuse the same file names.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from irnoise.data.datasets import annotation_files
from irnoise.data.datasets.base import DatasetIndex, Record

HEADER = ["image_name", "x_min", "y_min", "x_max", "y_max", "label"]
FILES = {"anno_train.csv": "cars_train", "anno_test.csv": "cars_test"}
# The metric-learning split (Oh Song et al. 2016): the first half of the classes trains.
LAST_TRAIN_CLASS = 98

LAYOUT = """\
<root>/anno_train.csv   header `image_name,x_min,y_min,x_max,y_max,label`, one image per line
<root>/anno_test.csv    same format (classes 1-98 train, 99-196 test, both files pooled)
<root>/cars_train/<image_name>, <root>/cars_test/<image_name>   the images"""


def required_files(root: Path, options: dict[str, Any]) -> list[Path]:
    return [root / name for name in FILES]


def read_annotations(path: Path, folder: str) -> list[tuple[str, int]]:
    """(key, class label) of every row of one annotation CSV, in file order."""
    expected = f"{len(HEADER)} comma-separated fields `{','.join(HEADER)}`"
    rows = annotation_files.csv_rows(path)
    if not rows or [cell.strip() for cell in rows[0][1]] != HEADER:
        number, row = rows[0] if rows else (1, [])
        raise annotation_files.malformed(
            path, number, ",".join(row), f"the header `{','.join(HEADER)}`"
        )
    entries = []
    for number, row in rows[1:]:
        line = ",".join(row)
        if len(row) != len(HEADER):
            raise annotation_files.malformed(path, number, line, expected)
        label = annotation_files.integer(
            path, number, line, row[-1], f"an integer label in {expected}"
        )
        entries.append((f"{folder}/{row[0].strip()}", label))
    return entries


def load(root: Path, options: dict[str, Any]) -> DatasetIndex:
    splits: dict[str, list[Record]] = {"train": [], "test": []}
    for name, folder in FILES.items():
        for key, label in read_annotations(root / name, folder):
            split = "train" if label <= LAST_TRAIN_CLASS else "test"
            splits[split].append(Record(key=key, path=root / key, label=str(label)))
    for split, records in splits.items():
        annotation_files.check_unique_keys(split, (r.key for r in records), root)
    return DatasetIndex(source="cars", root=root, splits=splits)
