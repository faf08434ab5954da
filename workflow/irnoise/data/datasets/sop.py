"""Stanford Online Products: `Ebay_train.txt` and `Ebay_test.txt`, classes disjoint.

Each file starts with the header `image_id class_id super_class_id path` and lists one
image per line, space separated; `path` is relative to the root. The label is the
class id; the train and test files become the train and test splits, in file order.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from irnoise.data.datasets import annotation_files
from irnoise.data.datasets.base import DatasetIndex, Record

HEADER = "image_id class_id super_class_id path"
FILES = {"train": "Ebay_train.txt", "test": "Ebay_test.txt"}

LAYOUT = """\
<root>/Ebay_train.txt   header `image_id class_id super_class_id path`, one image per line
<root>/Ebay_test.txt    same format (test classes are disjoint from train classes)
<root>/<path>           the images, e.g. <root>/bicycle_final/111085122871_0.JPG"""


def required_files(root: Path, options: dict[str, Any]) -> list[Path]:
    return [root / name for name in FILES.values()]


def read_split(root: Path, path: Path) -> list[Record]:
    """The records of one Ebay_*.txt file, in file order."""
    expected = f"4 space-separated fields `{HEADER}`"
    lines = annotation_files.numbered_lines(path)
    annotation_files.expect_header(path, lines, HEADER)
    records = []
    for number, line in lines:
        _, class_id, _, image = annotation_files.fields(path, number, line, 4, expected)
        label = annotation_files.integer(
            path, number, line, class_id, f"an integer class_id in {expected}"
        )
        records.append(Record(key=image, path=root / image, label=str(label)))
    return records


def load(root: Path, options: dict[str, Any]) -> DatasetIndex:
    splits = {}
    for split, name in FILES.items():
        splits[split] = read_split(root, root / name)
        annotation_files.check_unique_keys(split, (r.key for r in splits[split]), root / name)
    return DatasetIndex(source="sop", root=root, splits=splits)
