"""In-Shop Clothes Retrieval (DeepFashion): `list_eval_partition.txt` with query/gallery.

Line 1 holds the number of images, line 2 the header
`image_name item_id evaluation_status`, then one image per line (whitespace separated).
The status puts each image in the train, query or gallery split; the label is the item
id. Rows keep file order within each split.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from irnoise.data.datasets import annotation_files
from irnoise.data.datasets.base import DatasetIndex, Record
from irnoise.errors import UserError

FILE = "list_eval_partition.txt"
HEADER = "image_name item_id evaluation_status"
SPLITS = ("train", "query", "gallery")

LAYOUT = """\
<root>/list_eval_partition.txt   line 1: the image count;
                                 line 2: the header `image_name item_id evaluation_status`;
                                 then one image per line, status train, query or gallery
<root>/img/...                   the images, at <root>/<image_name>"""


def required_files(root: Path, options: dict[str, Any]) -> list[Path]:
    return [root / FILE]


def declared_count(path: Path, lines: Iterator[tuple[int, str]]) -> int:
    """The image count on the first line."""
    number, line = next(lines, (1, ""))
    return annotation_files.integer(path, number, line, line, "the number of images")


def load(root: Path, options: dict[str, Any]) -> DatasetIndex:
    path = root / FILE
    expected = f"3 fields `{HEADER}` with status one of {', '.join(SPLITS)}"
    lines = annotation_files.numbered_lines(path)
    count = declared_count(path, lines)
    annotation_files.expect_header(path, lines, HEADER)
    splits: dict[str, list[Record]] = {split: [] for split in SPLITS}
    for number, line in lines:
        image, item, status = annotation_files.fields(path, number, line, 3, expected)
        if status not in splits:
            raise annotation_files.malformed(path, number, line, expected)
        splits[status].append(Record(key=image, path=root / image, label=item))
    found = sum(len(records) for records in splits.values())
    if found != count:
        # A count that disagrees with the rows means a truncated or hand-edited file.
        raise UserError(
            f"{path} declares {count} images on line 1 but lists {found}; "
            "restore the original file or correct the count"
        )
    for split, records in splits.items():
        annotation_files.check_unique_keys(split, (r.key for r in records), path)
    return DatasetIndex(source="inshop", root=root, splits=splits)
