"""The run layout: noise schemes, tasks, how levels are named, and where every output lives.

The workflow's rules (through common.smk) and the Python side import these names, so that
a path is spelled in one place. The layout (docs/design.md, "Run layout"):

    data/raw/<dataset>/                                   a dataset in its native layout
    data/shards/<dataset>/                                WebDataset shards + manifest.json
    data/labels/<dataset>/<scheme>/<level>/seed<seed>.npy noisy train labels (+ .json stats)
    results/runs/<experiment>/<scheme>/<level>/seed<seed>/ model.pt, history.csv, metrics.json

The clean run of an experiment is scheme `clean` at level `0`, shared by every scheme.
Outputs that can carry their identity do (the label stats name their dataset, scheme,
level and seed; metrics.json its run): readers use that, not the path. Only history.csv,
a plain table, is identified by its path, through `parse_run_path`.

Standard library only: common.smk imports this module while Snakemake parses the workflow.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from irnoise.errors import UserError

NOISE_SCHEMES = ("uniform", "large", "small")
CLEAN_SCHEME = "clean"
CLEAN_LEVEL = "0"  # the clean run's level, as it appears in paths
RUN_SCHEMES = (CLEAN_SCHEME, *NOISE_SCHEMES)
TASKS = ("retrieval", "classification", "verification")

RAW = "data/raw/{dataset}"
SHARDS = "data/shards/{dataset}"
LABEL_SET = "{dataset}/{scheme}/{level}/seed{seed}"  # one noisy copy of a dataset's labels
LABELS = f"data/labels/{LABEL_SET}"  # + .npy (labels), .json (stats)
RUN = "{experiment}/{scheme}/{level}/seed{seed}"
RUN_DIR = f"results/runs/{RUN}"
# A noise-robust training method's run (Table 3); method none's runs are RUN_DIR's.
ROBUST_METHODS = ("oracle", "subcenter", "prism", "prism_guess", "knn")
METHOD_RUN = f"{{method}}/{RUN}"
METHOD_DIR = f"results/methods/{METHOD_RUN}"
SUBCENTER_RUN = f"subcenter/{RUN}"  # sub-center ArcFace's first stage and its keep-mask
SUBCENTER_DIR = f"results/methods/{SUBCENTER_RUN}/stage1"

# Snakemake wildcard constraints for the schemes.
NOISE_SCHEME_PATTERN = "|".join(NOISE_SCHEMES)
RUN_SCHEME_PATTERN = "|".join(RUN_SCHEMES)
ROBUST_METHOD_PATTERN = "|".join(ROBUST_METHODS)


def level_name(level: float | str) -> str:
    """A noise level as it appears in paths and column names: 0.1 -> "0.1", 0.05 -> "0.05"."""
    return f"{float(level):g}"


def labels_path(dataset: str, scheme: str, level: float | str, seed: int | str) -> str:
    """The noisy label file's path without its extension (.npy labels, .json stats)."""
    return LABELS.format(dataset=dataset, scheme=scheme, level=level_name(level), seed=seed)


def run_dir(experiment: str, scheme: str, level: float | str, seed: int | str) -> str:
    return RUN_DIR.format(experiment=experiment, scheme=scheme, level=level_name(level), seed=seed)


@dataclass(frozen=True)
class RunPath:
    """Who a file under results/runs/<experiment>/<scheme>/<level>/seed<seed>/ belongs to."""

    experiment: str
    scheme: str
    level: float
    seed: int


_RUN_FILE = re.compile(
    r"(?:^|/)runs/(?P<experiment>[^/]+)/(?P<scheme>[^/]+)/(?P<level>[^/]+)/seed(?P<seed>\d+)/[^/]+$"
)


def parse_run_path(path: str | os.PathLike) -> RunPath:
    """The run identity of a file in a run directory (history.csv carries none of its own)."""
    match = _RUN_FILE.search(Path(path).as_posix())
    if match is None:
        raise UserError(
            f"cannot tell which run {path} belongs to: expected a path like {RUN_DIR}/history.csv"
        )
    try:
        level = float(match["level"])
    except ValueError:
        raise UserError(f"{path}: noise level {match['level']!r} is not a number") from None
    return RunPath(match["experiment"], match["scheme"], level, int(match["seed"]))
