"""What every dataset adapter returns: an ordered index of records per split.

An adapter reads a dataset's native layout (annotation files, folders) and returns a
`DatasetIndex`; it never decodes images. The row index of a record is its position
in its split's list, and it is the row index that shards, label arrays and noisy
label files are aligned with.

Split names: "train" for training; "test" for a leave-one-out retrieval set (SOP,
CUB, Cars) or the verification images (LFW); "query" and "gallery" where a dataset
has them (In-Shop); "val" for closed-set classification (ImageNet).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Record:
    """One image: its native identifier (unique in its split), where its bytes are, its class.

    `offset` is -1 for an image file at `path`; otherwise `path` is an MXNet RecordIO
    file (MS-Celeb-1M) and the image is the record starting at that byte offset, or,
    with a `length`, the image is the `length` bytes at `offset` (an insightface .bin).
    `face_crop`: the share of each side kept around the center before resizing (LFW's
    aligned-crop option); None keeps the whole image.
    """

    key: str
    path: Path
    label: str
    offset: int = -1
    length: int = -1
    face_crop: float | None = None

    def read_bytes(self) -> bytes:
        if self.offset < 0:
            return self.path.read_bytes()
        if self.length >= 0:
            with open(self.path, "rb") as handle:
                handle.seek(self.offset)
                return handle.read(self.length)
        from irnoise.data.datasets.recordio import read_image_record

        return read_image_record(self.path, self.offset)


@dataclass(frozen=True)
class Pair:
    """A verification pair: row indices into the "test" split, same person or not, fold."""

    row_a: int
    row_b: int
    is_same: bool
    fold: int


@dataclass
class DatasetIndex:
    source: str
    root: Path
    splits: dict[str, list[Record]]
    pairs: list[Pair] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {name: len(records) for name, records in self.splits.items()}

    def classes(self, split: str) -> set[str]:
        return {record.label for record in self.splits[split]}
