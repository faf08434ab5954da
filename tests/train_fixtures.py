"""Tiny shard directories (docs/design.md, "Shards"), written directly (no `irnoise shard`).

Each class is a color and a stripe frequency with per-image noise, so a small network
learns it within a few epochs; rows are written class by class, like real annotation
files, so that the loader's shuffling has something to undo.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
from PIL import Image


def class_image(label: int, rng: np.random.Generator, size: int) -> bytes:
    color = np.array([(label * 53) % 256, (label * 97) % 256, (label * 151) % 256], float)
    x = np.arange(size)
    stripes = 60 * np.sin(2 * np.pi * (label % 5 + 1) * x / size)
    pixels = color + stripes[None, :, None] + rng.normal(0, 20, (size, size, 3))
    buffer = io.BytesIO()
    Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def write_split(
    out: Path, split: str, labels: np.ndarray, shard_size: int, size: int, seed: int
) -> list[str]:
    import webdataset as wds

    rng = np.random.default_rng(seed)
    names = []
    for start in range(0, len(labels), shard_size):
        name = f"{split}-{start // shard_size:06d}.tar"
        with wds.TarWriter(str(out / name), encoder=False) as writer:
            for row in range(start, min(start + shard_size, len(labels))):
                writer.write(
                    {
                        "__key__": f"{split}_{row:09d}",
                        "jpg": class_image(int(labels[row]), rng, size),
                        "cls": str(int(labels[row])).encode(),
                        "idx": str(row).encode(),
                    }
                )
        names.append(name)
    np.save(out / f"{split}_labels.npy", labels.astype(np.int64))
    return names


def write_shards(
    out: Path,
    classes: int = 20,
    per_class: int = 8,
    test_classes: int = 5,
    shard_size: int = 50,
    size: int = 32,
    seed: int = 0,
) -> Path:
    """Train split (classes x per_class) and a test split of further classes."""
    out.mkdir(parents=True, exist_ok=True)
    splits = {
        "train": np.repeat(np.arange(classes), per_class),
        "test": np.repeat(np.arange(classes, classes + test_classes), per_class),
    }
    manifest = {
        "source": "fixture",
        "root": str(out),
        "image_size": size,
        "shard_size": shard_size,
        "splits": {},
        "pairs": 0,
        "skipped": [],
        "versions": {},
        "created_by": "irnoise",
    }
    for offset, (split, labels) in enumerate(splits.items()):
        manifest["splits"][split] = {
            "count": len(labels),
            "classes": len(np.unique(labels)),
            "shards": write_split(out, split, labels, shard_size, size, seed + offset),
            "labels": f"{split}_labels.npy",
        }
    names = [f"class_{i}" for i in range(classes + test_classes)]
    (out / "classes.json").write_text(json.dumps(names))
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return out
