"""A user's dataset's listing: which images it holds, in which class, and their sizes and times.

Folder and CSV datasets are the user's own, and they change: an image moved to its right
class folder, added or deleted. The workflow keeps each one's listing in
`irnoise.plan.LISTING`, an input of its shard job, rewritten only when its content
changes: a changed dataset is sharded again, an unchanged one reruns nothing
(docs/design.md, "Inputs that change"). The listing is a digest of what the adapter
reads, so it changes exactly when the shards would.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from irnoise.atomic import write_text
from irnoise.errors import UserError

# The sources whose datasets the user edits; the others are published, fixed datasets.
LISTED_SOURCES = ("folder", "csv")


def file_stamp(path: Path) -> tuple[int, int]:
    """(size, mtime in ns) of an image; (-1, -1) for a missing one (the shard job names it)."""
    try:
        stat = os.stat(path)
    except OSError:
        return -1, -1
    return stat.st_size, stat.st_mtime_ns


def dataset_listing(source: str, root: str, options: dict[str, Any]) -> dict[str, Any]:
    """The listing of a dataset: per split, how many images and a digest of every record.

    A dataset that cannot be read yet (no folder, a bad CSV) lists the reason instead, so
    that the shard job still runs and says it, and reruns once the dataset is fixed.
    """
    from irnoise.data.datasets import load

    try:
        index = load(source, root, options)
    except UserError as error:
        return {"source": source, "root": root, "error": str(error)}
    splits = {}
    for split, records in index.splits.items():
        digest = hashlib.sha256()
        for record in records:
            size, mtime = file_stamp(record.path)
            line = [record.key, record.label, str(record.path), record.offset, size, mtime]
            digest.update(json.dumps(line).encode() + b"\n")
        splits[split] = {"images": len(records), "sha256": digest.hexdigest()}
    return {"source": source, "root": root, "splits": splits}


def refresh_listing(target: str | Path, listing: dict[str, Any]) -> bool:
    """Write `listing` to `target` only when it differs; True when it was (re)written."""
    text = json.dumps(listing, indent=2, sort_keys=True) + "\n"
    target = Path(target)
    if target.is_file() and target.read_text() == text:
        return False
    write_text(target, text)
    return True
