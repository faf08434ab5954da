"""The reference class-size histograms: package data, equal to the real annotation files."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from irnoise.data import reference_class_sizes
from irnoise.data.reference_class_sizes import (
    REFERENCE_HISTOGRAMS,
    class_sizes,
    labels_from_histogram,
)

from helpers import REPO


def histogram(labels: list[str]) -> dict[int, int]:
    """{class size: number of classes of that size}, counted naively."""
    return dict(Counter(Counter(labels).values()))


def test_sop_cub_and_cars_train_equal_their_annotation_files(shared_data: Path) -> None:
    sop = (shared_data / "sop/Ebay_train.txt").read_text().split("\n")[1:]
    sop_labels = [line.split()[1] for line in sop if line.strip()]
    assert REFERENCE_HISTOGRAMS["sop_train"] == histogram(sop_labels)
    cub = (shared_data / "cub/image_class_labels.txt").read_text().split()
    cub_labels = [label for label in cub[1::2] if int(label) <= 100]
    assert REFERENCE_HISTOGRAMS["cub_train"] == histogram(cub_labels)
    cars = (shared_data / "cars/anno_train.csv").read_text().splitlines()[1:]
    cars_labels = [line.rsplit(",", 1)[1] for line in cars if int(line.rsplit(",", 1)[1]) <= 98]
    cars_labels += [
        line.rsplit(",", 1)[1]
        for line in (shared_data / "cars/anno_test.csv").read_text().splitlines()[1:]
        if int(line.rsplit(",", 1)[1]) <= 98
    ]
    assert REFERENCE_HISTOGRAMS["cars_train"] == histogram(cars_labels)


def test_labels_have_the_histogram_class_sizes() -> None:
    labels = labels_from_histogram("cub_train")
    sizes = np.bincount(labels)
    assert sorted(sizes.tolist(), reverse=True) == class_sizes("cub_train").tolist()
    assert histogram(labels.tolist()) == REFERENCE_HISTOGRAMS["cub_train"]


@pytest.mark.workflow
def test_the_data_file_ships_in_the_wheel(tmp_path: Path) -> None:
    # Built from a copy: setuptools leaves build/ and egg-info beside the sources.
    source = tmp_path / "source"
    shutil.copytree(REPO / "workflow/irnoise", source / "workflow/irnoise")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, source / name)
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation"]
    subprocess.run([*command, "-w", str(tmp_path), str(source)], check=True, capture_output=True)
    (wheel,) = tmp_path.glob("irnoise-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert f"irnoise/data/{reference_class_sizes.DATA_FILE}" in names
