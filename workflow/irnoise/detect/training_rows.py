"""What a training row is, for people: its native key and file, its class name, its image.

Shards know rows, not files. The dataset's adapter lists the train records in row order;
images the sharder skipped as corrupt (listed in the manifest) are dropped, exactly as
the sharder dropped them, so that record i is row i again. Images come from the shards
themselves (what the model saw, resized), read by their tar member name.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from irnoise.errors import UserError

MEMBER = re.compile(r"^train_(\d+)\.jpg$")


def class_names(shard_dir: str | Path) -> list[str]:
    path = Path(shard_dir) / "classes.json"
    return json.loads(path.read_text()) if path.is_file() else []


def train_files(
    manifest: dict[str, Any], dataset: dict[str, Any] | None, count: int
) -> list[tuple[str, str]]:
    """(key, path) of every train row; ("", "") for all rows when the dataset is not given."""
    if not dataset:
        return [("", "")] * count
    from irnoise.data.datasets import load
    from irnoise.data.holdout import Holdout
    from irnoise.data.manifest import rows_digest

    # A held-out dataset's shards hold its carved train split: carve it the same way.
    share = dataset.get("holdout")
    holdout = None if share is None else Holdout(share, dataset.get("holdout_seed", 0))
    index = load(dataset["source"], dataset["root"], dataset.get("options") or {}, holdout)
    skipped = {entry["key"] for entry in manifest.get("skipped", []) if entry["split"] == "train"}
    records = [r for r in index.splits.get("train", []) if r.key not in skipped]
    if len(records) != count:
        raise UserError(
            f"the dataset at {dataset['root']} lists {len(records)} train images but its shards "
            f"hold {count}: it changed since it was sharded; rerun `irnoise shard`"
        )
    recorded = manifest["splits"]["train"].get("rows_sha256")
    if recorded is not None and rows_digest(records) != recorded:
        raise UserError(
            f"the train images of the dataset at {dataset['root']} are not the rows its shards "
            "hold (an image was moved, renamed or replaced since it was sharded): the rows "
            "would be named by the wrong files; rerun `irnoise shard` (the workflow does "
            "when its listing changes)"
        )
    return [(record.key, str(record.path)) for record in records]


def read_images(shard_dir: str | Path, rows: set[int]) -> dict[int, bytes]:
    """The JPEG bytes of the given train rows, read from the train shards."""
    from irnoise.data.loader import tar_files
    from irnoise.data.manifest import split_shards

    found: dict[int, bytes] = {}
    for entry in tar_files(split_shards(shard_dir, "train")):
        match = MEMBER.match(Path(entry.get("fname", "")).name)
        if match and int(match.group(1)) in rows:
            found[int(match.group(1))] = bytes(entry["data"])
    return found
