"""ImageNet (ILSVRC-2012) for closed-set classification: train and val splits.

Train is `<root>/train/<wnid>/<image>`. Val is either the same per-wnid layout or the
official flat folder `<root>/val/<image>` with a label list in options.val_labels:
one label per line in file-name order (the devkit's ILSVRC2012_validation_ground_truth.txt),
or `<file> <wnid>` lines. Numeric labels (ILSVRC2012_IDs) need options.val_synsets, a
file whose line i is the wnid of ILSVRC2012_ID i (the devkit's meta.mat order, which is
not the sorted order of the wnids). Paths in options are relative to the root.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from irnoise.data.datasets import annotation_files
from irnoise.data.datasets.base import DatasetIndex, Record
from irnoise.data.datasets.folder import class_folder_records, is_image
from irnoise.errors import UserError

LAYOUT = """\
<root>/train/<wnid>/<image>   e.g. <root>/train/n01440764/n01440764_10026.JPEG
<root>/val/<wnid>/<image>     validation images in per-wnid folders, or
<root>/val/<image>            flat, with options.val_labels: a file with one label per line
                              in file-name order, or `<file> <wnid>` lines (and, for numeric
                              ILSVRC2012_IDs, options.val_synsets: line i = wnid of ID i)"""


def option_path(root: Path, options: dict[str, Any], name: str) -> Path | None:
    value = options.get(name)
    return root / value if value else None


def required_files(root: Path, options: dict[str, Any]) -> list[Path]:
    extra = [option_path(root, options, name) for name in ("val_labels", "val_synsets")]
    return [root / "train", root / "val", *(path for path in extra if path)]


def read_synsets(path: Path) -> list[str]:
    """The wnid of each ILSVRC2012_ID, in ID order (line i is ID i)."""
    return [line.split()[0] for _, line in annotation_files.numbered_lines(path)]


def label_lines(path: Path) -> list[tuple[int, str, list[str]]]:
    """(line number, line, fields) of a label list whose lines all have one or two fields."""
    rows = [(number, line, line.split()) for number, line in annotation_files.numbered_lines(path)]
    width = len(rows[0][2]) if rows else 1
    expected = "one label per line, or `<file> <wnid>` on every line"
    for number, line, parts in rows:
        if len(parts) != width or width > 2:
            raise annotation_files.malformed(path, number, line, expected)
    return rows


def labels_by_file(path: Path, files: list[Path]) -> dict[str, tuple[int, str]]:
    """{file name: (line number, label)} from either form of the label list."""
    rows = label_lines(path)
    if rows and len(rows[0][2]) == 1:
        if len(rows) != len(files):
            raise UserError(
                f"{path} has {len(rows)} labels for {len(files)} images in {files[0].parent}; "
                "a one-label-per-line list has one line per image, in file-name order"
            )
        return {file.name: (n, parts[0]) for file, (n, _, parts) in zip(files, rows, strict=True)}
    # A `<file> <wnid>` line may name the file with or without its extension.
    names = {file.stem: file.name for file in files}
    named = [(names.get(parts[0], parts[0]), n, parts[1]) for n, _, parts in rows]
    repeated = annotation_files.duplicates(name for name, _, _ in named)
    if repeated:
        raise UserError(f"{path} labels files twice: {annotation_files.listing(repeated)}")
    extra = sorted({name for name, _, _ in named} - {file.name for file in files})
    if extra:
        raise UserError(
            f"{path} labels files that are not in {files[0].parent}: "
            f"{annotation_files.listing(extra)}; remove those lines or add the images"
        )
    return {name: (n, label) for name, n, label in named}


def class_of(label: str, synsets: list[str] | None, where: str, train: set[str]) -> str:
    """The wnid of a val label, which must be a train class (the task is closed-set)."""
    if synsets is not None:
        if not label.isdigit() or not 1 <= int(label) <= len(synsets):
            raise UserError(f"{where}: expected an ILSVRC2012_ID 1..{len(synsets)}, got {label!r}")
        label = synsets[int(label) - 1]
    if label not in train:
        hint = "; numeric ILSVRC2012_IDs need options.val_synsets" if label.isdigit() else ""
        raise UserError(f"{where}: label {label!r} is not a train class{hint}")
    return label


def flat_val_records(root: Path, options: dict[str, Any], train: set[str]) -> list[Record]:
    """The flat val folder, labelled by options.val_labels, in file-name order."""
    labels_path = option_path(root, options, "val_labels")
    if labels_path is None:
        raise UserError(
            f"{root / 'val'} holds images but no class folders: set options.val_labels to the "
            f"validation label list.\nExpected layout:\n{LAYOUT}"
        )
    files = sorted(p for p in (root / "val").iterdir() if p.is_file() and is_image(p.name))
    if not files:
        raise UserError(f"no images in {root / 'val'}.\nExpected layout:\n{LAYOUT}")
    labels = labels_by_file(labels_path, files)
    unlabelled = [file.name for file in files if file.name not in labels]
    if unlabelled:
        raise UserError(f"{labels_path} has no label for {annotation_files.listing(unlabelled)}")
    synsets_path = option_path(root, options, "val_synsets")
    synsets = read_synsets(synsets_path) if synsets_path else None
    records = []
    for file in files:
        number, label = labels[file.name]
        wnid = class_of(label, synsets, f"{labels_path} line {number}", train)
        records.append(Record(key=file.relative_to(root).as_posix(), path=file, label=wnid))
    return records


def has_class_folders(directory: Path) -> bool:
    return any(p.is_dir() and not p.name.startswith(".") for p in directory.iterdir())


def load(root: Path, options: dict[str, Any]) -> DatasetIndex:
    train = class_folder_records(root, root / "train", what="wnid")
    if has_class_folders(root / "val"):
        val = class_folder_records(root, root / "val", what="wnid")
    else:
        val = flat_val_records(root, options, {record.label for record in train})
    return DatasetIndex(source="imagenet", root=root, splits={"train": train, "val": val})
