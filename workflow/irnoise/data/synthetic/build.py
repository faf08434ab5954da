"""Write a whole synthetic dataset: plan, layout, images in parallel, synth.json.

Every random draw comes from a seed sequence keyed by (seed, shape stream, purpose,
class, sample), never from a shared generator, so the bytes of an image depend on its
identity alone: not on the number of threads, the chunking or the order workers finish.
Each shape has its own prototype stream, so no class of one shape (a `faces` identity,
say) reappears in another (`lfw`), whatever seeds the config gives them.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from tqdm import tqdm

from irnoise import __version__
from irnoise.atomic import atomic_directory
from irnoise.data.datasets import SYNTHETIC_LAYOUTS
from irnoise.errors import UserError
from irnoise.data.synthetic.layouts import ImageSpec, Layout, build_layout
from irnoise.data.synthetic.pairs import verification_pairs
from irnoise.data.synthetic.perturb import sample_image
from irnoise.data.synthetic.prototypes import Prototype, random_prototype
from irnoise.data.synthetic.shapes import ClassPlan, plan_classes, split_counts

# Written last into every synthetic set: how `irnoise synth` recognizes a folder it may replace.
SYNTH_MARKER = "synth.json"

GENERATOR_VERSION = 1  # bump when the same arguments would draw different images
STREAMS = {"sop": 1, "inshop": 2, "faces": 3, "lfw": 4, "imagenet": 5}
PLAN, PROTOTYPE, SAMPLE = 0, 1, 2  # purposes of the seed sequences
JPEG_QUALITY = 90
MIN_IMAGE_SIZE, MAX_IMAGE_SIZE = 16, 1024
CHUNKS_PER_THREAD = 8  # enough chunks to balance workers, few enough to keep overhead low

Task = tuple[str, int, int, int, list[tuple[int, list[tuple[int, str]]]]]


def check_arguments(shape: str, scale: float, image_size: int, seed: int, threads: int) -> None:
    if shape not in STREAMS:
        raise UserError(f"unknown synthetic shape {shape!r}; expected one of {', '.join(STREAMS)}")
    if not (math.isfinite(scale) and scale > 0):
        raise UserError(
            f"--scale must be a positive number (a factor on the real class count), got {scale}"
        )
    if not MIN_IMAGE_SIZE <= image_size <= MAX_IMAGE_SIZE:
        raise UserError(
            f"--image-size must be between {MIN_IMAGE_SIZE} and {MAX_IMAGE_SIZE} pixels,"
            f" got {image_size}"
        )
    if seed < 0:
        raise UserError(f"--seed must be a non-negative integer, got {seed}")
    if threads < 1:
        raise UserError(f"--threads must be at least 1, got {threads}")


def plan_dataset(shape: str, scale: float, seed: int) -> tuple[list[ClassPlan], Layout, int]:
    """The classes, the layout (paths and annotation files) and the number of pairs."""
    rng = np.random.default_rng([seed, STREAMS[shape], PLAN])
    classes = plan_classes(shape, scale, rng)
    pairs = verification_pairs(np.array([c.total for c in classes]), rng) if shape == "lfw" else []
    return classes, build_layout(shape, classes, pairs), len(pairs)


def class_prototype(seed: int, stream: int, cls: int) -> Prototype:
    return random_prototype(np.random.default_rng([seed, stream, PROTOTYPE, cls]))


def class_image(
    prototype: Prototype, seed: int, stream: int, cls: int, sample: int, image_size: int
) -> Image.Image:
    return sample_image(
        prototype, image_size, np.random.default_rng([seed, stream, SAMPLE, cls, sample])
    )


def render_task(task: Task) -> int:
    """Draw and write the images of a few classes; runs in a worker process."""
    root, seed, stream, image_size, classes = task
    count = 0
    for cls, samples in classes:
        prototype = class_prototype(seed, stream, cls)
        for sample, path in samples:
            image = class_image(prototype, seed, stream, cls, sample, image_size)
            image.save(Path(root) / path, "JPEG", quality=JPEG_QUALITY)
            count += 1
    return count


def make_tasks(
    images: list[ImageSpec], root: Path, seed: int, stream: int, image_size: int, threads: int
) -> Iterator[Task]:
    """Chunks of whole classes (a prototype is drawn once per chunk that holds its class)."""
    by_class: dict[int, list[tuple[int, str]]] = {}
    for image in images:
        by_class.setdefault(image.cls, []).append((image.sample, image.path))
    target = max(32, math.ceil(len(images) / (threads * CHUNKS_PER_THREAD)))
    chunk: list[tuple[int, list[tuple[int, str]]]] = []
    size = 0
    for cls, samples in by_class.items():
        chunk.append((cls, samples))
        size += len(samples)
        if size >= target:
            yield (str(root), seed, stream, image_size, chunk)
            chunk, size = [], 0
    if chunk:
        yield (str(root), seed, stream, image_size, chunk)


def render_images(
    images: list[ImageSpec],
    root: Path,
    seed: int,
    stream: int,
    image_size: int,
    threads: int,
    label: str,
) -> None:
    for parent in sorted({str(Path(image.path).parent) for image in images}):
        (root / parent).mkdir(parents=True, exist_ok=True)
    tasks = list(make_tasks(images, root, seed, stream, image_size, threads))
    with tqdm(total=len(images), unit="img", desc=label, mininterval=1, file=sys.stderr) as bar:
        if threads == 1 or len(tasks) == 1:
            for task in tasks:
                bar.update(render_task(task))
            return
        with ProcessPoolExecutor(max_workers=min(threads, len(tasks))) as pool:
            for future in as_completed([pool.submit(render_task, task) for task in tasks]):
                bar.update(future.result())


def describe(
    shape: str, scale: float, image_size: int, seed: int, classes: list[ClassPlan], pairs: int
) -> dict[str, Any]:
    """synth.json: what was generated, how, and how much (no paths, no times: reproducible)."""
    return {
        "generator": "irnoise.data.synthetic",
        "generator_version": GENERATOR_VERSION,
        "irnoise_version": __version__,
        "shape": shape,
        "layout": SYNTHETIC_LAYOUTS[shape],
        "scale": scale,
        "image_size": image_size,
        "seed": seed,
        "jpeg_quality": JPEG_QUALITY,
        "classes": len(classes),
        "images": sum(c.total for c in classes),
        "splits": split_counts(classes),
        "pairs": pairs,
    }


def build_dataset(
    shape: str, scale: float, image_size: int, seed: int, out_dir: str | Path, threads: int = 1
) -> dict[str, Any]:
    """Generate a synthetic set into `out_dir` (replaced only once complete); return synth.json."""
    check_arguments(shape, scale, image_size, seed, threads)
    classes, layout, pairs = plan_dataset(shape, scale, seed)
    summary = describe(shape, scale, image_size, seed, classes, pairs)
    with atomic_directory(out_dir, SYNTH_MARKER) as tmp:
        for name, text in layout.files.items():
            (tmp / name).write_text(text)
        render_images(
            layout.images, tmp, seed, STREAMS[shape], image_size, threads, f"synth {shape}"
        )
        (tmp / SYNTH_MARKER).write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    return summary
