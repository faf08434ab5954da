"""Fixture trees for the dataset adapters: real annotation files, tiny images at their paths.

The annotation-driven builders copy the real files of `shared/data/<dataset>/` into a
temporary root (whole, or every `every`-th image to keep a subset quick) and write one
small JPEG at every path they list, or at every `images_every`-th: creating 120,000 files
takes seconds on an idle disk but a minute on a busy shared one, and adapters of
annotation-driven layouts never open the images anyway (the shard step does). The same
bytes go everywhere, since nothing here decodes them. The folder builders
generate small trees from a {class: image count} mapping. `write_recordio` packs records
the way mxnet does, so the RecordIO reader is tested without mxnet.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import struct
from collections.abc import Iterable, Mapping
from pathlib import Path

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"

MAGIC = 0xCED7230A
MAGIC_BYTES = struct.pack("<I", MAGIC)
IR_HEADER = struct.Struct("<IfQQ")


def tiny_jpeg(size: int = 8, color: tuple[int, int, int] = (200, 80, 40)) -> bytes:
    """A valid JPEG of `size` x `size` pixels."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (size, size), color).save(buffer, format="JPEG")
    return buffer.getvalue()


def write_images(root: Path, keys: Iterable[str], data: bytes | None = None) -> int:
    """Write `data` (a tiny JPEG by default) at `root/key` for every key; return the count."""
    data = tiny_jpeg() if data is None else data
    made: set[str] = set()
    count = 0
    for key in keys:
        path = os.path.join(root, key)
        folder = os.path.dirname(path)
        if folder not in made:
            os.makedirs(folder, exist_ok=True)
            made.add(folder)
        # Raw os calls: Path.write_bytes costs twice as much over 100,000 files.
        handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.write(handle, data)
        os.close(handle)
        count += 1
    return count


def subset_lines(source: Path, target: Path, header_lines: int, every: int) -> list[str]:
    """Copy `source` keeping its header lines and every `every`-th line after them."""
    lines = source.read_text().splitlines()
    body = [line for line in lines[header_lines:] if line.strip()][::every]
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("\n".join(lines[:header_lines] + body) + "\n")
    return body


def build_sop(root: Path, every: int = 1, images_every: int = 1) -> Path:
    """SOP: Ebay_train.txt, Ebay_test.txt and an image at each listed path."""
    for name in ("Ebay_train.txt", "Ebay_test.txt"):
        body = subset_lines(SHARED_DATA / "sop" / name, root / name, 1, every)
        write_images(root, (line.split()[3] for line in body[::images_every]))
    return root


def build_inshop(root: Path, every: int = 1, images_every: int = 1) -> Path:
    """In-Shop: list_eval_partition.txt (count line kept right) and the listed images."""
    name = "list_eval_partition.txt"
    body = subset_lines(SHARED_DATA / "inshop" / name, root / name, 2, every)
    lines = (root / name).read_text().splitlines()
    (root / name).write_text("\n".join([str(len(body)), *lines[1:]]) + "\n")
    write_images(root, (line.split()[0] for line in body[::images_every]))
    return root


def build_lfw(root: Path, folds: int = 10) -> Path:
    """LFW: the official pairs.txt and an image at each of the 13,233 paths of images.txt.

    With fewer `folds`, pairs.txt keeps only the first folds (its first line says so) and
    only the people they name get their images.
    """
    root.mkdir(parents=True, exist_ok=True)
    images = (SHARED_DATA / "lfw" / "images.txt").read_text().split()
    if folds == 10:
        shutil.copyfile(SHARED_DATA / "lfw" / "pairs.txt", root / "pairs.txt")
        write_images(root, images)
        return root
    lines = (SHARED_DATA / "lfw" / "pairs.txt").read_text().splitlines()
    pairs = lines[1 : 1 + folds * 600]
    (root / "pairs.txt").write_text("\n".join([f"{folds}\t300", *pairs]) + "\n")
    people = {name for line in pairs for name in line.split("\t")[::2] if not name.isdigit()}
    write_images(root, (path for path in images if path.split("/")[0] in people))
    return root


def build_cub(root: Path, every: int = 1, images_every: int = 1) -> Path:
    """CUB: images.txt, image_class_labels.txt (same ids kept) and images/<path>."""
    body = subset_lines(SHARED_DATA / "cub" / "images.txt", root / "images.txt", 0, every)
    kept = {line.split()[0] for line in body}
    labels = (SHARED_DATA / "cub" / "image_class_labels.txt").read_text().splitlines()
    lines = [line for line in labels if line.split() and line.split()[0] in kept]
    (root / "image_class_labels.txt").write_text("\n".join(lines) + "\n")
    write_images(root / "images", (line.split()[1] for line in body[::images_every]))
    return root


def build_cars(root: Path, every: int = 1, images_every: int = 1) -> Path:
    """Cars196: anno_train.csv, anno_test.csv and cars_train/, cars_test/ images."""
    for name, folder in (("anno_train.csv", "cars_train"), ("anno_test.csv", "cars_test")):
        body = subset_lines(SHARED_DATA / "cars" / name, root / name, 1, every)
        write_images(root / folder, (line.split(",")[0] for line in body[::images_every]))
    return root


def build_class_folders(directory: Path, sizes: Mapping[str, int], ext: str = ".jpg") -> Path:
    """`<directory>/<class>/<nnnn><ext>` with sizes[class] images per class."""
    for name, count in sizes.items():
        (directory / name).mkdir(parents=True, exist_ok=True)
        write_images(directory / name, (f"{i:04d}{ext}" for i in range(count)))
    return directory


def build_imagenet(root: Path, sizes: Mapping[str, int], val: Mapping[str, int]) -> Path:
    """ImageNet with per-wnid train and val folders."""
    build_class_folders(root / "train", sizes, ext=".JPEG")
    build_class_folders(root / "val", val, ext=".JPEG")
    return root


def build_flat_val(root: Path, labels: list[str]) -> list[str]:
    """A flat `<root>/val/` of ILSVRC2012_val_<n>.JPEG files; return the file names."""
    names = [f"ILSVRC2012_val_{i:08d}.JPEG" for i in range(1, len(labels) + 1)]
    write_images(root / "val", names)
    return names


def build_csv(root: Path, rows: list[list[str]], header: list[str]) -> Path:
    """`<root>/labels.csv` with these rows, and an image at each row's path."""
    root.mkdir(parents=True, exist_ok=True)
    with open(root / "labels.csv", "w", newline="") as handle:
        csv.writer(handle).writerows([header, *rows])
    write_images(root, {row[0] for row in rows})
    return root


def pack_record(payload: bytes, label: float | list[float], index: int = 0) -> bytes:
    """mxnet.recordio.pack: an IRHeader (label array when several values), then the payload."""
    if isinstance(label, list):
        values = struct.pack(f"<{len(label)}f", *label)
        return IR_HEADER.pack(len(label), 0.0, index, 0) + values + payload
    return IR_HEADER.pack(0, float(label), index, 0) + payload


def frame_record(data: bytes) -> bytes:
    """dmlc-core's RecordIOWriter::WriteRecord: split at aligned magic numbers, pad to 4."""
    parts, start = [], 0
    for position in range(0, len(data) - 3, 4):
        if data[position : position + 4] == MAGIC_BYTES:
            parts.append((1 if start == 0 else 2, data[start:position]))
            start = position + 4
    parts.append((3 if start else 0, data[start:]))
    framed = b"".join(
        struct.pack("<II", MAGIC, flag << 29 | len(part)) + part for flag, part in parts
    )
    return framed + b"\0" * (-len(data) % 4)


def write_recordio(rec_path: Path, idx_path: Path, records: Iterable[tuple[int, bytes]]) -> None:
    """An indexed RecordIO pair as mxnet's MXIndexedRecordIO writes it."""
    with open(rec_path, "wb") as rec, open(idx_path, "w") as idx:
        for index, data in records:
            idx.write(f"{index}\t{rec.tell()}\n")
            rec.write(frame_record(data))


def build_ms1m_recordio(
    root: Path, images: list[tuple[int, bytes]], array_labels: bool = False
) -> Path:
    """insightface's train.rec/.idx: header record 0, images 1..n, then identity records.

    `images` is a list of (class id, payload) grouped by class, as insightface writes them.
    With `array_labels`, image labels are stored as float arrays (flag 2) like some
    insightface exports; the class id is then the first value.
    """
    root.mkdir(parents=True, exist_ok=True)
    classes = sorted({label for label, _ in images})
    first_identity = len(images) + 1
    header = [float(first_identity), float(first_identity + len(classes))]
    records = [(0, pack_record(b"", header))]
    for index, (label, payload) in enumerate(images, start=1):
        value = [float(label), 0.0] if array_labels else float(label)
        records.append((index, pack_record(payload, value, index)))
    for offset, label in enumerate(classes):
        rows = [i for i, (other, _) in enumerate(images, start=1) if other == label]
        identity = [float(rows[0]), float(rows[-1] + 1)]
        records.append((first_identity + offset, pack_record(b"", identity)))
    write_recordio(root / "train.rec", root / "train.idx", records)
    return root
