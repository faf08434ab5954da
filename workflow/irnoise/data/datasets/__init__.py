"""Dataset adapters: one module per native layout, each returning a `DatasetIndex`.

Every adapter module defines:

- `LAYOUT`: a few lines describing the expected layout under the root, shown to the
  user whenever something is missing;
- `required_files(root, options) -> list[Path]`: the annotation files it needs
  (checked before anything is read, and named by Snakemake when absent);
- `load(root, options) -> DatasetIndex`.

A synthetic dataset is written by `irnoise synth` in the native layout of the
dataset it imitates and read back by that dataset's adapter (`SYNTHETIC_LAYOUTS`).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterable
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from irnoise.data.datasets.base import DatasetIndex, Pair, Record
from irnoise.errors import UserError

if TYPE_CHECKING:
    from irnoise.config import Study
    from irnoise.data.holdout import Holdout

ADAPTERS = {
    "sop": "irnoise.data.datasets.sop",
    "inshop": "irnoise.data.datasets.inshop",
    "lfw": "irnoise.data.datasets.lfw",
    "ms1m": "irnoise.data.datasets.ms1m",
    "imagenet": "irnoise.data.datasets.imagenet",
    "cub": "irnoise.data.datasets.cub",
    "cars": "irnoise.data.datasets.cars",
    "folder": "irnoise.data.datasets.folder",
    "csv": "irnoise.data.datasets.csvlist",
    "verification_bin": "irnoise.data.datasets.verification_bin",
}

# Which native layout each synthetic shape is written in (see irnoise.data.synthetic).
SYNTHETIC_LAYOUTS = {
    "sop": "sop",
    "inshop": "inshop",
    "faces": "ms1m",
    "lfw": "lfw",
    "imagenet": "imagenet",
}

__all__ = ["ADAPTERS", "SYNTHETIC_LAYOUTS", "DatasetIndex", "Pair", "Record", "adapter", "check_data", "load"]


def adapter(source: str, options: dict[str, Any] | None = None) -> ModuleType:
    """The adapter module of a configured source (a synthetic set uses its shape's)."""
    if source == "synthetic":
        source = SYNTHETIC_LAYOUTS[(options or {})["shape"]]
    if source not in ADAPTERS:
        raise UserError(f"unknown dataset source {source!r}; expected one of {sorted(ADAPTERS)}")
    return importlib.import_module(ADAPTERS[source])


def missing_files(
    source: str, root: str | Path, options: dict[str, Any] | None = None
) -> list[Path]:
    """The required annotation files (or the root itself) that are absent."""
    root = Path(root)
    if not root.is_dir():
        return [root]
    return [
        path
        for path in adapter(source, options).required_files(root, options or {})
        if not path.exists()
    ]


def check_present(source: str, root: str | Path, options: dict[str, Any] | None = None) -> None:
    """Raise a UserError naming the missing files and the expected layout."""
    missing = missing_files(source, root, options)
    if missing:
        names = ", ".join(str(path) for path in missing)
        layout = adapter(source, options).LAYOUT
        raise UserError(
            f"dataset {source!r} at {root} is incomplete: missing {names}.\n"
            f"Expected layout:\n{layout}"
        )


def load(
    source: str,
    root: str | Path,
    options: dict[str, Any] | None = None,
    holdout: Holdout | None = None,
) -> DatasetIndex:
    """Index a dataset from its native layout, after checking its files are present; with a
    `holdout`, its validation split carved from train and its test splits dropped."""
    check_present(source, root, options)
    index = adapter(source, options).load(Path(root), options or {})
    if holdout is None:
        return index
    from irnoise.data.holdout import carve  # imports this package's base module

    return carve(index, holdout)


def check_data(study: Study, names: Iterable[str]) -> None:
    """Say which real datasets and pretrained weights are missing, before the jobs start
    (the shard job stops with the expected layout; this says it all at once)."""
    for name in names:
        dataset = study.datasets[name]
        if dataset.is_synthetic:
            continue
        missing = missing_files(dataset.source, dataset.path, dataset.adapter_options)
        if missing:
            print(
                f"irnoise: dataset {name!r} ({dataset.source}) is missing from {dataset.path}: "
                f"{', '.join(str(path) for path in missing[:3])}. Put it there, "
                f"or set datasets.{name}.root. Expected layout:\n"
                f"{adapter(dataset.source, dataset.adapter_options).LAYOUT}",
                file=sys.stderr,
            )
    for name, experiment in study.experiments.items():
        weights = experiment.training.pretrained
        # A pretraining's model file is the workflow's to write, not the user's to supply.
        if weights and experiment.pretraining is None and not Path(weights).is_file():
            print(
                f"irnoise: experiments.{name}.pretrained: no weights file at {weights}; "
                "put the backbone's state dict there (nothing is downloaded)",
                file=sys.stderr,
            )
