"""MXNet indexed RecordIO (insightface's `train.rec` + `train.idx`), read without mxnet.

Format (dmlc-core `recordio.h`, mxnet `recordio.py`), little-endian:

- `train.idx`: one line `index<TAB>offset` per record, offset in bytes into `train.rec`.
- A record is one or more parts, each `magic (uint32 0xced7230a)`, `lrecord (uint32)`, data,
  zero padding to a multiple of 4 bytes. `lrecord` holds the part's length in its lower 29
  bits and `cflag` in its upper 3: 0 whole record, 1 first, 2 middle, 3 last part. The
  writer splits a record wherever its data holds the magic number at a 4-byte aligned
  position and drops that copy, so the reader puts the magic back between parts.
- A record's data starts with an IRHeader, struct `IfQQ` (flag, label, id, id2). When
  flag > 0 the label is instead the `flag` float32 values that follow the header. The
  rest is the encoded image.
- insightface convention: record 0 is a header record whose label (a, b) says that the
  images are records 1 .. a-1 and that records a .. b-1 describe the identities (each
  one's label is its image range). The class of an image is its own header's label
  (the first value when it has several). A file whose record 0 has flag 0 has no header
  record: every record is an image (arcface_torch does the same).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from irnoise.data.datasets import annotation_files
from irnoise.errors import UserError

MAGIC = 0xCED7230A
MAGIC_BYTES = struct.pack("<I", MAGIC)
PART_HEADER = struct.Struct("<II")
IR_HEADER = struct.Struct("<IfQQ")
LENGTH_MASK = (1 << 29) - 1


class RecordIOError(ValueError):
    """Bytes at an offset that are not a well-formed record (corrupt or mismatched files)."""


@dataclass(frozen=True)
class IRHeader:
    flag: int
    label: tuple[float, ...]
    id: int
    id2: int


def read_index(path: Path) -> dict[int, int]:
    """{record index: byte offset} from a `.idx` file, in file order."""
    expected = "`index<TAB>offset`, two non-negative integers"
    offsets: dict[int, int] = {}
    for number, line in annotation_files.numbered_lines(path):
        parts = annotation_files.fields(path, number, line, 2, expected)
        index, offset = (annotation_files.integer(path, number, line, n, expected) for n in parts)
        if index < 0 or offset < 0:
            raise annotation_files.malformed(path, number, line, expected)
        if index in offsets:
            raise UserError(f"{path} line {number}: record index {index} is listed twice")
        offsets[index] = offset
    return offsets


def padded(length: int) -> int:
    return (length + 3) & ~3


def read_record(stream: BinaryIO, offset: int, limit: int | None = None) -> bytes:
    """The data of the record at `offset`; with `limit`, stop once that many bytes are read."""
    stream.seek(offset)
    parts: list[bytes] = []
    size = 0
    while True:
        head = stream.read(PART_HEADER.size)
        if len(head) < PART_HEADER.size:
            raise RecordIOError(f"record at offset {offset} is truncated")
        magic, lrecord = PART_HEADER.unpack(head)
        if magic != MAGIC:
            raise RecordIOError(f"no RecordIO record at offset {offset} (bad magic {magic:#x})")
        cflag, length = lrecord >> 29, lrecord & LENGTH_MASK
        wanted = length if limit is None else min(length, limit - size)
        data = stream.read(wanted)
        if len(data) < wanted:
            raise RecordIOError(f"record at offset {offset} is truncated")
        parts.append(data)
        size += len(data)
        if cflag in (0, 3) or (limit is not None and size >= limit):
            return b"".join(parts)
        parts.append(MAGIC_BYTES)
        size += len(MAGIC_BYTES)
        stream.seek(padded(length) - length, 1)


def unpack(record: bytes) -> tuple[IRHeader, bytes]:
    """A record's IRHeader and the payload (the image bytes) that follows it."""
    if len(record) < IR_HEADER.size:
        raise RecordIOError(f"record of {len(record)} bytes is shorter than its header")
    flag, label, id_, id2 = IR_HEADER.unpack_from(record)
    payload = record[IR_HEADER.size :]
    labels: tuple[float, ...] = (label,)
    if flag > 0:
        if len(payload) < 4 * flag:
            raise RecordIOError(f"record header announces {flag} labels, the record is shorter")
        labels = struct.unpack_from(f"<{flag}f", payload)
        payload = payload[4 * flag :]
    return IRHeader(flag, labels, id_, id2), payload


def read_header(stream: BinaryIO, offset: int) -> IRHeader:
    """The IRHeader of the record at `offset`, reading little more than the header."""
    head = read_record(stream, offset, limit=IR_HEADER.size)
    flag = IR_HEADER.unpack_from(head)[0] if len(head) >= IR_HEADER.size else 0
    if flag > 0:
        head = read_record(stream, offset, limit=IR_HEADER.size + 4 * flag)
    return unpack(head)[0]


def read_image_record(path: Path, offset: int) -> bytes:
    """The encoded image stored in the record at `offset` of a `.rec` file."""
    with open(path, "rb") as stream:
        return unpack(read_record(stream, offset))[1]


def image_indices(header0: IRHeader | None, offsets: dict[int, int]) -> list[int]:
    """The record indices holding images, by the insightface header-record convention."""
    if header0 is None or header0.flag == 0:
        return list(offsets)
    return list(range(1, int(header0.label[0])))


def image_labels(rec_path: Path, idx_path: Path) -> list[tuple[int, int, int]]:
    """(record index, byte offset, class label) of every image record, in index order."""
    offsets = read_index(idx_path)
    try:
        with open(rec_path, "rb") as stream:
            header0 = read_header(stream, offsets[0]) if 0 in offsets else None
            indices = image_indices(header0, offsets)
            absent = [index for index in indices if index not in offsets]
            if absent:
                raise UserError(
                    f"{idx_path} lacks image records {annotation_files.listing(absent)} announced "
                    f"by the header record of {rec_path}; the .idx does not belong to the .rec"
                )
            return [(i, offsets[i], int(read_header(stream, offsets[i]).label[0])) for i in indices]
    except RecordIOError as error:
        raise UserError(
            f"{rec_path} is not readable with {idx_path}: {error}; "
            "re-download both files (they must come from the same dataset)"
        ) from None
