"""A shard directory's manifest.json: written once with the shards, read by every later stage.

The manifest records the dataset (source, root), the settings (image size, shard size),
per split the number of samples and classes, the shard files in order and the label
array, the number of verification pairs, the images skipped as corrupt (with the reason)
and the versions of the software that decided the bytes. Readers find a split's shards
here, in order, and are told what to run when the directory is not what they expect.
"""

from __future__ import annotations

import hashlib
import json
import platform
from collections.abc import Iterable, Iterator
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from irnoise.errors import UserError

if TYPE_CHECKING:
    from irnoise.data.datasets.base import DatasetIndex, Record

MANIFEST = "manifest.json"
STALE = "delete the shard directory and rerun `irnoise shard` (the workflow's shard rule)"


def versions() -> dict[str, str | None]:
    """Versions of what decides the shards' bytes and which images count as corrupt."""
    found: dict[str, str | None] = {"python": platform.python_version()}
    for name in ("numpy", "pillow", "simplejpeg", "webdataset", "irnoise"):
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def rows_digest(records: Iterable[Record]) -> str:
    """A digest of the records written as rows, in row order: their native keys and classes.

    Readers that name rows by their files (detect) compare it with the dataset as it is
    now, so that a dataset changed since it was sharded is refused, not misnamed.
    """
    digest = hashlib.sha256()
    for record in records:
        digest.update(json.dumps([record.key, record.label]).encode() + b"\n")
    return digest.hexdigest()


def split_entry(
    split: str, shards: list[str], labels: np.ndarray, rows_sha256: str
) -> dict[str, Any]:
    """What the manifest says of one written split."""
    return {
        "count": len(labels),
        "classes": len(np.unique(labels)),
        "shards": shards,
        "labels": f"{split}_labels.npy",
        "rows_sha256": rows_sha256,
    }


def build_manifest(
    index: DatasetIndex,
    image_size: int,
    shard_size: int,
    splits: dict[str, dict[str, Any]],
    failures: list[dict[str, str]],
    n_pairs: int,
) -> dict[str, Any]:
    """The manifest of a shard directory: what was written from which dataset, and how."""
    return {
        "source": index.source,
        "root": str(index.root),
        "image_size": image_size,
        "shard_size": shard_size,
        "splits": splits,
        "pairs": n_pairs,
        "skipped": failures,
        "versions": versions(),
        "created_by": "irnoise",
    }


def read_manifest(shard_dir: str | Path) -> dict[str, Any]:
    path = Path(shard_dir) / MANIFEST
    if not path.is_file():
        raise UserError(
            f"no shard manifest at {path}: {shard_dir} is not a shard directory; "
            "write it with `irnoise shard` (the workflow's shard rule)"
        )
    return json.loads(path.read_text())


def split_shards(shard_dir: str | Path, split: str) -> list[Path]:
    """The shard files of `split`, in manifest order, checked to exist."""
    manifest = read_manifest(shard_dir)
    if split not in manifest["splits"]:
        raise UserError(
            f"{shard_dir} has no {split!r} split (it has {', '.join(manifest['splits'])}): "
            "check the experiment's train/eval dataset"
        )
    shards = [Path(shard_dir) / name for name in manifest["splits"][split]["shards"]]
    missing = [str(path) for path in shards if not path.is_file()]
    if missing:
        raise UserError(
            f"shards listed in {shard_dir}/manifest.json are missing: {missing[:5]}; "
            "delete the directory and rerun `irnoise shard`"
        )
    return shards


def split_count(shard_dir: str | Path, split: str) -> int:
    return int(read_manifest(shard_dir)["splits"][split]["count"])


def shard_rows(shard_dir: Path) -> dict[str, range]:
    """The rows each shard file (by name) of every split holds: `shard_size` consecutive rows.

    Read once per shard file opened: a small file beside thousands of samples.
    """
    manifest = read_manifest(shard_dir)
    size = int(manifest["shard_size"])
    return {
        name: range(number * size, min((number + 1) * size, int(entry["count"])))
        for entry in manifest["splits"].values()
        for number, name in enumerate(entry["shards"])
    }


def checked_rows(path: Path, samples: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """The samples of one shard file, checked to be the rows its manifest lists, in order.

    A shard cut at a sample boundary is a valid tar of fewer samples, and a stale one holds
    other rows: either would silently train on, or score, rows that are not the split.
    """
    expected = shard_rows(path.parent).get(path.name)
    if expected is None:
        raise UserError(f"shard {path} is not listed in {path.parent / MANIFEST}: {STALE}")
    count = 0
    for sample in samples:
        row = int(sample["idx"])
        if count >= len(expected) or row != expected[count]:
            raise UserError(
                f"shard {path} holds row {row} where {path.parent / MANIFEST} lists "
                f"rows {expected.start}-{expected.stop - 1}: {STALE}"
            )
        count += 1
        yield sample
    if count != len(expected):
        raise UserError(
            f"shard {path} holds {count} rows where {path.parent / MANIFEST} lists "
            f"{len(expected)}: it is truncated or stale; {STALE}"
        )
