"""Benchmark: shard writing against `tar` over the same files, and resizing on 1 vs 2 workers.

    nice .venv/bin/python bench/shard.py [--count 2000] [--resize-count 400] [--repeats 11]

1. Pass-through: `--count` JPEGs already at the target size (256 px shorter side), so the
   shard writer copies their bytes. Baseline: `tar cf` over the same files, timed in the
   same process run; also webdataset's own TarWriter, to show why irnoise writes its own
   tar headers; and irnoise with its strict JPEG check switched off, to show what the
   check (a full libjpeg decode of every kept JPEG) costs. Figure: shard throughput /
   tar throughput (target >= 0.8).
2. Resizing: `--resize-count` JPEGs with a 512 px shorter side shrunk to 256, with 1 and 2
   worker processes. Figure: speed-up of 2 workers over 1.

Every timing is the median of interleaved runs (`--repeats` for pass-through, 3 for
resizing), so that load from other processes on a shared machine hits baseline and
candidate alike. Progress bars go to stderr: run with 2>/dev/null.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
from PIL import Image

from irnoise.data import images
from irnoise.data.datasets.base import DatasetIndex, Record
from irnoise.data.sharding import write_shards

SHARD_SIZE = 1000
IMAGE_SIZE = 256


def photo_like(rng: np.random.Generator, shorter: int) -> Image.Image:
    """Smooth color regions plus grain: compresses to photo-like sizes (~20-40 kB at 256 px)."""
    size = (shorter * 4 // 3, shorter)
    coarse = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
    base = np.asarray(Image.fromarray(coarse).resize(size, Image.Resampling.BICUBIC), float)
    grain = rng.normal(0, 6, base.shape)
    return Image.fromarray(np.clip(base + grain, 0, 255).astype(np.uint8))


def make_dataset(root: Path, count: int, shorter: int, seed: int = 0) -> DatasetIndex:
    rng = np.random.default_rng(seed)
    records = []
    for i in range(count):
        path = root / f"{i % 50:02d}" / f"{i:06d}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        photo_like(rng, shorter).save(path, quality=90)
        records.append(Record(f"{i:06d}", path, f"class{i % 50}"))
    os.sync()  # otherwise the kernel writes these files back while later runs are timed
    return DatasetIndex("bench", root, {"train": records})


def timed(action: Callable[[], object], cleanup: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    elapsed = time.perf_counter() - start
    cleanup()
    return elapsed


def remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def run_tar(root: Path, out: Path) -> None:
    subprocess.run(["tar", "cf", str(out), "-C", str(root), "."], check=True)


def run_wds_tarwriter(index: DatasetIndex, out: Path) -> None:
    """webdataset's TarWriter over the same bytes, without any image check."""
    import webdataset as wds

    records = index.splits["train"]
    with wds.ShardWriter(str(out / "train-%06d.tar"), maxcount=SHARD_SIZE, verbose=0) as sink:
        for row, record in enumerate(records):
            data = record.read_bytes()
            sample = {"__key__": f"train_{row:09d}", "jpg": data, "cls": b"0", "idx": b"%d" % row}
            sink.write(sample)


def without_jpeg_check(action: Callable[[], object]) -> Callable[[], object]:
    """`action` with images.check_jpeg_data a no-op (in this process: use 1 worker)."""

    def unchecked() -> object:
        saved = images.check_jpeg_data
        images.check_jpeg_data = lambda data: None
        try:
            return action()
        finally:
            images.check_jpeg_data = saved

    return unchecked


def run_python_floor(index: DatasetIndex, out: Path) -> None:
    """The least any Python writer does: read each file, write it after a 512-byte header."""
    with open(out, "wb", buffering=1 << 20) as sink:
        for record in index.splits["train"]:
            sink.write(bytes(512))
            sink.write(record.path.read_bytes())


def medians(runs: dict[str, Callable[[], float]], repeats: int) -> dict[str, float]:
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            times[name].append(run())
    return {name: statistics.median(values) for name, values in times.items()}


def pass_through(work: Path, count: int, repeats: int) -> None:
    root = work / "small"
    index = make_dataset(root, count, IMAGE_SIZE)
    megabytes = sum(r.path.stat().st_size for r in index.splits["train"]) / 1e6
    out, tar = work / "out", work / "all.tar"
    (work / "wds").mkdir()
    runs = {
        "tar cf": lambda: timed(lambda: run_tar(root, tar), lambda: remove(tar)),
        **{
            f"irnoise {threads} worker(s)": lambda threads=threads: timed(
                lambda: write_shards(index, out, IMAGE_SIZE, SHARD_SIZE, threads=threads),
                lambda: remove(out),
            )
            for threads in (1, 2)
        },
        "irnoise, no check": lambda: timed(
            without_jpeg_check(lambda: write_shards(index, out, IMAGE_SIZE, SHARD_SIZE)),
            lambda: remove(out),
        ),
        "python floor": lambda: timed(lambda: run_python_floor(index, tar), lambda: remove(tar)),
        "wds.ShardWriter": lambda: timed(
            lambda: run_wds_tarwriter(index, work / "wds"),
            lambda: [remove(p) for p in (work / "wds").iterdir()],
        ),
    }
    medians(runs, 1)  # warm-up: page cache, imports
    result = medians(runs, repeats)
    print(f"\npass-through: {count} JPEGs, {megabytes:.1f} MB, median of {repeats}")
    for name, seconds in result.items():
        print(f"  {name:20s} {seconds * 1000:8.1f} ms  {count / seconds:8.0f} img/s")
    for name in result:
        if name != "tar cf":
            print(f"  throughput {name} / tar cf: {result['tar cf'] / result[name]:.2f}x")


def cpu_seconds() -> float:
    """CPU time of this process and of its finished children (the pool's workers)."""
    own, children = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def resizing(work: Path, count: int, repeats: int) -> None:
    index = make_dataset(work / "large", count, 2 * IMAGE_SIZE, seed=1)
    out = work / "resized"
    cores_used: dict[str, list[float]] = {}

    def run(threads: int) -> float:
        cpu = cpu_seconds()
        seconds = timed(
            lambda: write_shards(index, out, IMAGE_SIZE, SHARD_SIZE, threads=threads),
            lambda: remove(out),
        )
        cores_used.setdefault(f"{threads} worker(s)", []).append((cpu_seconds() - cpu) / seconds)
        return seconds

    result = medians({f"{threads} worker(s)": partial(run, threads) for threads in (1, 2)}, repeats)
    print(f"\nresizing: {count} JPEGs 512 -> 256 px, median of {repeats}")
    for name, seconds in result.items():
        cores = statistics.median(cores_used[name])
        print(f"  {name:20s} {seconds:8.2f} s {count / seconds:6.0f} img/s  {cores:.2f} cores busy")
    print(f"  speed-up 2 vs 1 worker: {result['1 worker(s)'] / result['2 worker(s)']:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--resize-count", type=int, default=400)
    parser.add_argument("--repeats", type=int, default=11)
    args = parser.parse_args()
    print(f"cpus: {os.cpu_count()}, load average: {os.getloadavg()}")
    with tempfile.TemporaryDirectory(prefix="irnoise-bench-shard-") as tmp:
        pass_through(Path(tmp), args.count, args.repeats)
        if args.resize_count:
            resizing(Path(tmp), args.resize_count, 3)


if __name__ == "__main__":
    main()
