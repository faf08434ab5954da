"""CUB-200-2011 in the metric-learning split: classes 1-100 train, 101-200 test.

`images.txt` lists `image_id path` (path relative to `<root>/images/`) and
`image_class_labels.txt` lists `image_id class_id`; both are joined on the image id.
Rows follow the order of `images.txt`; the label is the class id.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from irnoise.data.datasets import annotation_files
from irnoise.data.datasets.base import DatasetIndex, Record
from irnoise.errors import UserError

IMAGES, LABELS = "images.txt", "image_class_labels.txt"
# The metric-learning split (Oh Song et al. 2016): the first half of the classes trains.
LAST_TRAIN_CLASS = 100

LAYOUT = """\
<root>/images.txt               `image_id path` per line
<root>/image_class_labels.txt   `image_id class_id` per line (classes 1-100 train, 101-200 test)
<root>/images/<path>            the images, e.g. <root>/images/001.Black_footed_Albatross/x.jpg"""


def required_files(root: Path, options: dict[str, Any]) -> list[Path]:
    return [root / IMAGES, root / LABELS]


def id_table(path: Path, what: str) -> dict[int, tuple[int, str, str]]:
    """{image_id: (line number, line, value)} of a two-column `image_id <what>` file."""
    expected = f"`image_id {what}`"
    table: dict[int, tuple[int, str, str]] = {}
    for number, line in annotation_files.numbered_lines(path):
        image_id, value = annotation_files.fields(path, number, line, 2, expected)
        key = annotation_files.integer(
            path, number, line, image_id, f"an integer image_id in {expected}"
        )
        if key in table:
            raise UserError(f"{path} line {number}: image_id {key} already on line {table[key][0]}")
        table[key] = (number, line, value)
    return table


def class_ids(path: Path) -> dict[int, int]:
    """{image_id: class_id} from image_class_labels.txt."""
    expected = "an integer class_id in `image_id class_id`"
    return {
        image_id: annotation_files.integer(path, number, line, value, expected)
        for image_id, (number, line, value) in id_table(path, "class_id").items()
    }


def load(root: Path, options: dict[str, Any]) -> DatasetIndex:
    images, labels = id_table(root / IMAGES, "path"), class_ids(root / LABELS)
    unlabelled = sorted(set(images) - set(labels))
    if unlabelled:
        raise UserError(
            f"{root / LABELS} has no class for image ids {annotation_files.listing(unlabelled)} of "
            f"{root / IMAGES}; the two files must list the same ids"
        )
    splits: dict[str, list[Record]] = {"train": [], "test": []}
    for image_id, (_, _, image) in images.items():
        label = labels[image_id]
        split = "train" if label <= LAST_TRAIN_CLASS else "test"
        key = f"images/{image}"
        splits[split].append(Record(key=key, path=root / key, label=str(label)))
    for split, records in splits.items():
        annotation_files.check_unique_keys(split, (r.key for r in records), root / IMAGES)
    return DatasetIndex(source="cub", root=root, splits=splits)
