"""Generic folder-per-class layout, and the folder listing that other adapters reuse.

`<root>/<split>/<class>/<image>`: one folder per split, one folder per class inside it.
ImageNet, MS-Celeb-1M (folder format) and LFW keep their images the same way, so they
index their class folders with `class_folder_records`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from irnoise.data.datasets.annotation_files import listing
from irnoise.data.datasets.base import DatasetIndex, Record
from irnoise.errors import UserError
from irnoise.plan import SPLITS

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp")

LAYOUT = """\
<root>/<split>/<class>/<image>   e.g. <root>/train/dog/0001.jpg, <root>/test/cat/0042.png
  splits: the subfolders of <root> among train, test, query, gallery, val
  (or options.splits: {split: subfolder}); images: .jpg .jpeg .png .bmp .webp"""


def is_image(name: str) -> bool:
    """An image file name; hidden files are not (macOS writes `._x.jpg` resource forks)."""
    return not name.startswith(".") and name.lower().endswith(IMAGE_EXTENSIONS)


def images_under(
    directory: Path, visited: set[str] | None = None, others: frozenset[str] = frozenset()
) -> list[Path]:
    """Every image below `directory`, nested folders included, each real folder once.

    Symbolic links to folders are followed, except to a folder read already (`visited`,
    the real paths read so far, shared across a split's class folders), to one of the
    `others` (the split's other class folders and the split folder: their images belong
    to other classes) or to a folder above: a link back to a parent makes a loop, which
    os.walk would follow 40 levels deep, listing every image again at each level.
    """
    visited = set() if visited is None else visited
    top = os.path.realpath(directory)
    found = []
    for folder, subfolders, files in os.walk(directory, followlinks=True):
        real = os.path.realpath(folder)
        if real in visited or (real != top and (real in others or top.startswith(real + os.sep))):
            subfolders.clear()
            continue
        visited.add(real)
        # Hidden folders are tool debris (.ipynb_checkpoints, .thumbnails), not classes;
        # sorted, so that the route by which a linked folder is reached is always the same.
        subfolders[:] = sorted(name for name in subfolders if not name.startswith("."))
        found.extend(Path(folder, name) for name in files if is_image(name))
    return found


def class_folders(directory: Path) -> list[Path]:
    """The class folders of `directory`; loose images there would belong to no class."""
    entries = sorted(directory.iterdir())
    loose = [entry.name for entry in entries if entry.is_file() and is_image(entry.name)]
    if loose:
        raise UserError(
            f"images directly in {directory} belong to no class: {listing(loose)}; "
            "move each image into a folder named after its class"
        )
    return [entry for entry in entries if entry.is_dir() and not entry.name.startswith(".")]


def refuse_linked_twins(directory: Path, folders: list[Path], what: str) -> None:
    """Refuse two class folders that are one folder: its images would have two classes."""
    read_as: dict[str, str] = {}
    for folder in folders:
        real = os.path.realpath(folder)
        if real in read_as:
            raise UserError(
                f"{what} folders {read_as[real]!r} and {folder.name!r} in {directory} are one "
                "folder (a symbolic link): its images would count under two classes; "
                "remove the link"
            )
        read_as[real] = folder.name


def class_folder_records(root: Path, directory: Path, what: str = "class") -> list[Record]:
    """One record per image of each class folder of `directory`, sorted by key.

    The key is the image's path relative to `root` and the label its class folder's name.
    An empty class folder is an error: it would otherwise vanish from the class list.
    """
    folders = class_folders(directory)
    if not folders:
        raise UserError(f"no {what} folders in {directory}; expected <{what}>/<image> inside it")
    refuse_linked_twins(directory, folders, what)
    records, empty = [], []
    visited: set[str] = set()
    reserved = frozenset(os.path.realpath(path) for path in [directory, *folders])
    for folder in folders:
        images = images_under(folder, visited, reserved)
        if not images:
            empty.append(folder.name)
        records.extend(
            Record(key=image.relative_to(root).as_posix(), path=image, label=folder.name)
            for image in images
        )
    if empty:
        raise UserError(
            f"empty {what} folders in {directory} (no {'/'.join(IMAGE_EXTENSIONS)} images): "
            f"{listing(empty)}; add images or remove the folders"
        )
    return sorted(records, key=lambda record: record.key)


def split_folders(root: Path, options: dict[str, Any]) -> dict[str, Path]:
    """{split: folder}: options.splits (a mapping or a list of names), else the known ones."""
    chosen = options.get("splits")
    if isinstance(chosen, dict):
        return {split: root / folder for split, folder in chosen.items()}
    if chosen is not None:
        return {split: root / split for split in chosen}
    return {split: root / split for split in SPLITS if (root / split).is_dir()}


def required_files(root: Path, options: dict[str, Any]) -> list[Path]:
    # Only explicitly configured splits are required; by default any known one will do.
    return list(split_folders(root, options).values()) if options.get("splits") else []


def load(root: Path, options: dict[str, Any]) -> DatasetIndex:
    """Index `<root>/<split>/<class>/<image>`, every split sorted by path."""
    folders = split_folders(root, options)
    if not folders:
        raise UserError(
            f"no split folders ({', '.join(SPLITS)}) in {root}.\nExpected layout:\n{LAYOUT}"
        )
    splits = {split: class_folder_records(root, folder) for split, folder in folders.items()}
    return DatasetIndex(source="folder", root=root, splits=splits)
