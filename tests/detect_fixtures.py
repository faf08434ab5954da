"""A folder dataset with one deliberately misfiled image, for the detect tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

# Four classes a random network already tells apart: flat colors with a little noise.
COLORS = {"red": (220, 30, 30), "green": (30, 200, 40), "blue": (30, 40, 220), "grey": (128,) * 3}
MISFILED = "train/blue/misfiled_red.jpg"


def write_image(path: Path, color: tuple[int, ...], rng: np.random.Generator) -> None:
    pixels = np.clip(np.array(color) + rng.normal(0, 12, (32, 32, 3)), 0, 255)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels.astype(np.uint8)).save(path, quality=95)


def misfiled_folder(root: Path, per_class: int = 12) -> Path:
    """<root>/{train,test}/<color>/*.jpg, and one red image filed under train/blue."""
    rng = np.random.default_rng(0)
    for split, count in (("train", per_class), ("test", 4)):
        for name, color in COLORS.items():
            for i in range(count):
                write_image(root / split / name / f"{name}_{i:03d}.jpg", color, rng)
    write_image(root / MISFILED, COLORS["red"], rng)
    return root
