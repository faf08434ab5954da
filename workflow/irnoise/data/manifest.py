"""A shard directory's manifest.json: written once with the shards, read by every later stage.

The manifest records the dataset (source, root), the settings (image size, shard size),
per split the number of samples and classes, the shard files in order and the label
array, the number of verification pairs, the images skipped as corrupt (with the reason)
and the versions of the software that decided the bytes. Readers find a split's shards
here, in order, and are told what to run when the directory is not what they expect.
"""

from __future__ import annotations

import json
import platform
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from irnoise.errors import UserError

if TYPE_CHECKING:
    from irnoise.data.datasets.base import DatasetIndex

MANIFEST = "manifest.json"


def versions() -> dict[str, str | None]:
    """Versions of what decides the shards' bytes and which images count as corrupt."""
    found: dict[str, str | None] = {"python": platform.python_version()}
    for name in ("numpy", "pillow", "simplejpeg", "webdataset", "irnoise"):
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def split_entry(split: str, shards: list[str], labels: np.ndarray) -> dict[str, Any]:
    """What the manifest says of one written split."""
    return {
        "count": len(labels),
        "classes": len(np.unique(labels)),
        "shards": shards,
        "labels": f"{split}_labels.npy",
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
