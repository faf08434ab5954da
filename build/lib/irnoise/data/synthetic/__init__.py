"""Embedded synthetic datasets shaped like the real ones, written in their native layouts.

Each class is a random prototype (`prototypes`), each image a random perturbation of it
(`perturb`); class sizes follow the real datasets' histograms (`shapes`); the files go
where the imitated dataset keeps them (`layouts`, `pairs` for LFW's pairs.txt), so that
the real adapters read them back. `build` puts it together in parallel.

This module imports only the standard library, so that the `irnoise synth` command can
offer the shapes as choices without paying for numpy and Pillow at start-up.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

SHAPES = ("sop", "inshop", "faces", "lfw", "imagenet")


def generate(
    shape: str, scale: float, image_size: int, seed: int, out_dir: str | Path, threads: int = 1
) -> dict[str, Any]:
    """Write a synthetic set to `out_dir` atomically; return its synth.json content."""
    from irnoise.data.synthetic.build import build_dataset

    return build_dataset(shape, scale, image_size, seed, out_dir, threads)
