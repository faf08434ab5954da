"""The parallel shard writer: a DatasetIndex turned into WebDataset shards, labels, a manifest.

The on-disk format (docs/design.md, "Shards"): per split, tar shards of `shard_size`
samples (`<split>_<row:09d>.{cls,idx,jpg}`, written by `irnoise.data.ustar`),
`<split>_labels.npy` aligned with the rows, `classes.json`, `pairs.npy` for verification
sets and `manifest.json` (`irnoise.data.manifest`). Worker processes prepare the images
(`irnoise.data.images`); this process writes them in record order. The output directory
appears only once complete (atomic_directory), and the same index gives byte-identical
files whatever the number of worker processes.
"""

from __future__ import annotations

import contextlib
import gc
import os
import sys
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from irnoise.atomic import atomic_directory, save_npy, write_json
from irnoise.data import images
from irnoise.data.datasets.base import DatasetIndex, Pair, Record
from irnoise.data.manifest import MANIFEST, build_manifest, rows_digest, split_entry
from irnoise.data.ustar import ShardWriter
from irnoise.errors import UserError

# Records per worker task: enough to amortize inter-process messaging, few enough that
# both workers get work on a small split.
BATCH_SIZE = 32
# Tasks in flight per worker: keeps workers busy without queueing a whole dataset in memory.
TASKS_PER_WORKER = 4
ERRORS_SHOWN = 20

# What a worker reports for one record: (jpeg bytes, None) to write; (None, error) for a
# corrupt or unreadable image; (None, None) to write the source bytes unchanged, which the
# writer reads again itself: re-reading a file from the page cache is cheaper than sending
# its bytes between processes through a pipe.
Outcome = tuple[bytes | None, str | None]


# --- preparing images, in worker processes -----------------------------------------------


def read_source(record: Record) -> bytes:
    """The record's encoded image, read with as few system calls as possible.

    Reading dominates pass-through sharding; os-level calls skip the buffered-file
    machinery of Path.read_bytes (about a third of its cost for a 25 kB file).
    """
    if record.offset >= 0:
        return record.read_bytes()
    fd = os.open(record.path, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        data = os.read(fd, size)
        while len(data) < size:  # short reads are rare, but legal
            chunk = os.read(fd, size - len(data))
            if not chunk:
                break
            data += chunk
        return data
    finally:
        os.close(fd)


def prepare_batch(records: Sequence[Record], image_size: int, ship_kept: bool) -> list[Outcome]:
    return [prepare_record(record, image_size, ship_kept) for record in records]


def prepare_record(record: Record, image_size: int, ship_kept: bool) -> Outcome:
    """The record's JPEG for the shard, or why it cannot be used (see Outcome)."""
    try:
        data = read_source(record)
        jpeg = images.prepare(data, image_size, record.face_crop)
        return (None, None) if jpeg is data and not ship_kept else (jpeg, None)
    except images.CorruptImage as error:
        return None, str(error)
    except (OSError, ValueError) as error:
        return None, describe(error)


def describe(error: Exception) -> str:
    # An OSError's text repeats the path, which the failure list already shows.
    detail = error.strerror if isinstance(error, OSError) and error.strerror else error
    return f"{type(error).__name__}: {detail}"


@contextlib.contextmanager
def frozen_objects() -> Iterator[None]:
    """Keep the garbage collector off the objects that exist now (the index's records).

    Its full collections would otherwise walk millions of records again and again on a
    large dataset; frozen objects are also not copied on write in forked workers.
    """
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


@contextlib.contextmanager
def worker_pool(threads: int) -> Iterator[Executor | None]:
    """Worker processes (decoding is CPU-bound and holds the GIL), or None to work in-process."""
    if threads <= 1:
        yield None
        return
    pool = ProcessPoolExecutor(max_workers=threads)
    # Start the workers now, while this process has a single thread (progress bars add a
    # monitor thread, and forking a multi-threaded process can copy a held lock; the
    # Snakemake watcher of irnoise.jobs holds none but its own).
    pool.submit(int).result()
    try:
        yield pool
    finally:
        pool.shutdown(cancel_futures=True)


def outcomes(
    records: Sequence[Record], image_size: int, pool: Executor | None, threads: int
) -> Iterator[list[Outcome]]:
    """The outcomes of consecutive batches of records, in record order whatever the workers."""
    batches = (records[start : start + BATCH_SIZE] for start in range(0, len(records), BATCH_SIZE))
    # Even JPEGs kept as they are go to the workers: each is decoded once to check it
    # (images.check_jpeg_data), which costs ~20-40x the writer's second read of the file.
    if pool is None:
        for batch in batches:
            yield prepare_batch(batch, image_size, ship_kept=True)
        return
    window: deque = deque()
    for batch in batches:
        window.append(pool.submit(prepare_batch, batch, image_size, False))
        if len(window) >= TASKS_PER_WORKER * threads:
            yield window.popleft().result()
    while window:
        yield window.popleft().result()


# --- one split ---------------------------------------------------------------------------


@dataclass
class SplitResult:
    shards: list[str]
    labels: np.ndarray  # int64, one per written row
    kept: np.ndarray  # index into the split's records of each written row
    failures: list[dict[str, str]] = field(default_factory=list)


def write_split(
    directory: Path,
    split: str,
    records: Sequence[Record],
    label_of: dict[str, int],
    image_size: int,
    shard_size: int,
    pool: Executor | None,
    threads: int,
) -> SplitResult:
    labels: list[int] = []
    kept: list[int] = []
    failures: list[dict[str, str]] = []
    progress = tqdm(total=len(records), desc=f"shard {split}", unit="img", mininterval=1)
    with ShardWriter(directory, split, shard_size) as writer, progress:
        position = 0
        for batch in outcomes(records, image_size, pool, threads):
            for jpeg, error in batch:
                record = records[position]
                if jpeg is None and error is None:
                    jpeg = read_source(record)  # kept as it is by a worker
                if jpeg is None:
                    failures.append(failure(split, record, str(error)))
                else:
                    # Rows stay contiguous when images are skipped: a row is the count written.
                    label = label_of[record.label]
                    writer.write(len(kept), label, jpeg)
                    labels.append(label)
                    kept.append(position)
                position += 1
            progress.update(len(batch))
    return SplitResult(
        writer.shards, np.array(labels, dtype=np.int64), np.array(kept, dtype=np.int64), failures
    )


def failure(split: str, record: Record, error: str) -> dict[str, str]:
    path = str(record.path) if record.offset < 0 else f"{record.path}@{record.offset}"
    return {"split": split, "key": record.key, "path": path, "error": error}


# --- the whole dataset -------------------------------------------------------------------


def class_names(index: DatasetIndex) -> list[str]:
    """Train classes in order of first appearance (ids 0..K_train-1), then other splits' new ones.

    Train first so that a model's class weights and the noisy train labels use the
    contiguous ids 0..K_train-1.
    """
    names = dict.fromkeys(record.label for record in index.splits.get("train", []))
    for records in index.splits.values():
        names.update(dict.fromkeys(record.label for record in records))
    return list(names)


def check_settings(index: DatasetIndex, image_size: int, shard_size: int) -> None:
    if image_size < 1:
        raise UserError(f"image size must be a positive number of pixels, got {image_size}")
    if shard_size < 1:
        raise UserError(f"shard size must be a positive number of samples, got {shard_size}")
    check_names(index)
    check_train_classes(index)
    for split, records in index.splits.items():
        duplicates = duplicate_keys(records)
        if duplicates:
            shown = ", ".join(repr(key) for key in duplicates[:ERRORS_SHOWN])
            raise UserError(
                f"dataset at {index.root}: split {split!r} lists {len(duplicates)} image(s) "
                f"more than once: {shown}. Remove the repeated lines from the annotation file."
            )


def check_names(index: DatasetIndex) -> None:
    """Refuse file names that are not UTF-8: manifests, keys and CSVs are UTF-8 text.

    Python reads such a name with surrogate escapes, which no UTF-8 writer accepts: the
    job would otherwise fail at its last step with an encoding traceback.
    """
    for split, records in index.splits.items():
        for record in records:
            if not all(is_utf8(text) for text in (record.key, str(record.path), record.label)):
                raise UserError(
                    f"dataset at {index.root}: the {split} image {os.fsencode(record.path)!r} "
                    "has a file or folder name that is not UTF-8 text; rename it (e.g. "
                    "`convmv -f latin1 -t utf8 --notest -r <root>`)"
                )


def is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def check_train_classes(index: DatasetIndex) -> None:
    """A train split of one class teaches nothing: every loss is 0 from the first step."""
    classes = index.classes("train") if "train" in index.splits else set()
    if len(classes) == 1:
        raise UserError(
            f"dataset at {index.root}: its train split holds one class ({next(iter(classes))!r}); "
            "a model learns to tell classes apart, so it needs at least two: add class folders "
            "(or rows with another label) to the train split"
        )


def duplicate_keys(records: Sequence[Record]) -> list[str]:
    seen: set[str] = set()
    repeated: dict[str, None] = {}
    for record in records:
        if record.key in seen:
            repeated[record.key] = None
        seen.add(record.key)
    return list(repeated)


def corrupt_message(index: DatasetIndex, failures: list[dict[str, str]]) -> str:
    lines = [f"  {f['path']} ({f['split']} {f['key']}): {f['error']}" for f in failures]
    more = len(failures) - ERRORS_SHOWN
    shown = lines[:ERRORS_SHOWN] + ([f"  ... and {more} more"] if more > 0 else [])
    return (
        f"{len(failures)} corrupt or unreadable image(s) in dataset {index.source!r} "
        f"at {index.root}:\n" + "\n".join(shown) + "\nReplace or remove these files, or set "
        "`skip_corrupt: true` in the dataset's config (irnoise shard --skip-corrupt) to leave "
        "them out; skipped images are listed in the shards' manifest.json."
    )


def remap_pairs(pairs: Sequence[Pair], kept: np.ndarray, n_records: int) -> np.ndarray:
    """(row_a, row_b, is_same, fold) in written rows; pairs with a skipped image are dropped."""
    table = np.array(
        [(p.row_a, p.row_b, int(p.is_same), p.fold) for p in pairs], dtype=np.int64
    ).reshape(-1, 4)
    new_row = np.full(n_records, -1, dtype=np.int64)
    new_row[kept] = np.arange(len(kept))
    table[:, :2] = new_row[table[:, :2]]
    return table[(table[:, :2] >= 0).all(axis=1)]


def write_shards(
    index: DatasetIndex,
    out_dir: str | Path,
    image_size: int,
    shard_size: int,
    skip_corrupt: bool = False,
    threads: int = 1,
) -> dict[str, Any]:
    """Write the shards of every split of `index` into `out_dir`; return the manifest.

    Corrupt or unreadable images are all collected first; then the job stops with a
    UserError listing them, unless `skip_corrupt`, in which case they are left out,
    rows renumbered contiguously, and each one listed under the manifest's "skipped".
    """
    check_settings(index, image_size, shard_size)
    classes = class_names(index)
    label_of = {name: label for label, name in enumerate(classes)}
    with atomic_directory(out_dir, MANIFEST) as tmp, frozen_objects(), worker_pool(threads) as pool:
        results = {
            split: write_split(tmp, split, records, label_of, image_size, shard_size, pool, threads)
            for split, records in index.splits.items()
        }
        failures = [entry for result in results.values() for entry in result.failures]
        if failures and not skip_corrupt:
            raise UserError(corrupt_message(index, failures))
        for split, result in results.items():
            save_npy(tmp / f"{split}_labels.npy", result.labels)
        write_json(tmp / "classes.json", classes)
        n_pairs = write_pairs(tmp, index, results)
        splits = {
            split: split_entry(
                split, r.shards, r.labels, rows_digest(index.splits[split][i] for i in r.kept)
            )
            for split, r in results.items()
        }
        manifest = build_manifest(index, image_size, shard_size, splits, failures, n_pairs)
        write_json(tmp / MANIFEST, manifest)
    warn_empty_classes(classes, results, failures)
    return manifest


def write_pairs(directory: Path, index: DatasetIndex, results: dict[str, SplitResult]) -> int:
    if not index.pairs:
        return 0
    pairs = remap_pairs(index.pairs, results["test"].kept, len(index.splits["test"]))
    save_npy(directory / "pairs.npy", pairs)
    return len(pairs)


def warn_empty_classes(
    classes: list[str], results: dict[str, SplitResult], failures: list[dict[str, str]]
) -> None:
    """Skipping can empty a class; its id stays (ids must not depend on which files broke)."""
    if not failures:
        return
    present = set().union(*(np.unique(r.labels).tolist() for r in results.values()))
    empty = [name for label, name in enumerate(classes) if label not in present]
    if empty:
        shown = ", ".join(repr(name) for name in empty[:ERRORS_SHOWN])
        print(
            f"warning: skipping corrupt images left {len(empty)} class(es) without any image: "
            f"{shown}",
            file=sys.stderr,
        )
