"""The study's plan: its vocabularies, where every file lives, and which runs a config asks for.

Every scheme, method, detector and task name, and every path template, is spelled here
and nowhere else (tests/test_plan.py greps the package, the rules and the schema's enums
against it). The layout (docs/design.md, "Run layout"):

    data/raw/<dataset>/                                   a dataset in its native layout
    data/shards/<dataset>/                                WebDataset shards + manifest.json
    data/labels/<dataset>/<scheme>/<level>/seed<seed>.npy noisy train labels (+ .json stats)
    results/pretraining/<pretraining>/                    a pretraining's model.pt, history.csv
    results/runs/<experiment>/<scheme>/<level>/seed<seed>/ model.pt, history.csv, metrics.json
    results/methods/<method>/<experiment>/<scheme>/<level>/seed<seed>/   a robust method's run
    results/detect/<dataset>/                             a user's dataset's suspicious images

The clean run of an experiment is scheme `clean` at level `0`, shared by every scheme.
`Plan` turns a checked config (`irnoise.config.Study`) into the runs and files of each
target; common.smk hands its answers to the rules, and the tests check it without Snakemake.

Standard library only: the Snakefile imports this module while Snakemake parses the workflow.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from irnoise.errors import UserError

# --- vocabularies -------------------------------------------------------------------------

UNIFORM, LARGE, SMALL = "uniform", "large", "small"
NOISE_SCHEMES = (UNIFORM, LARGE, SMALL)  # the grid's order (noise.schemes' default)
CLASS_SCHEMES = (LARGE, SMALL)  # the schemes that shuffle whole classes
SCHEMES_BY_HARM = (UNIFORM, SMALL, LARGE)  # most to least harmful in the study (C2)
TABLE1_SCHEME = UNIFORM  # Table 1, Figure 2 and C1/C4 are about uniform noise
CLEAN_SCHEME = "clean"
CLEAN_LEVEL = "0"  # the clean run's level, as it appears in paths
RUN_SCHEMES = (CLEAN_SCHEME, *NOISE_SCHEMES)

# A dataset's splits, in the order shards list them (docs/design.md, "Shards").
SPLITS = ("train", "test", "query", "gallery", "val")

RETRIEVAL, CLASSIFICATION, VERIFICATION = "retrieval", "classification", "verification"
TASKS = (RETRIEVAL, CLASSIFICATION, VERIFICATION)

# Retrieval protocols: the dataset's own (query against gallery where it has them, else
# leave-one-out over test), or every query and gallery image against all the others.
OFFICIAL, LEAVE_ONE_OUT = "official", "leave-one-out"
PROTOCOLS = (OFFICIAL, LEAVE_ONE_OUT)
# The dataset source, and the synthetic shape, whose test set is a query and a gallery split.
QUERY_GALLERY_SOURCE = "inshop"

# Training methods (Table 3): the study's plain training, then the noise-robust ones.
PLAIN, ORACLE, RANDOM_SUBSET, SUBCENTER, PRISM, PRISM_GUESS, KNN = (
    "none",
    "oracle",
    "random_subset",  # the oracle's control: as many rows, drawn at random, clean labels
    "subcenter",
    "prism",
    "prism_guess",
    "knn",
)
PROXY_ANCHOR, SMOOTH_PROXY_ANCHOR, CLEANNET = "proxy_anchor", "smooth_proxy_anchor", "cleannet"
ROBUST_METHODS = (
    ORACLE,
    RANDOM_SUBSET,
    SUBCENTER,
    PRISM,
    PRISM_GUESS,
    KNN,
    PROXY_ANCHOR,
    SMOOTH_PROXY_ANCHOR,
    CLEANNET,
)
METHODS = (PLAIN, *ROBUST_METHODS)
# A keep-mask fixed before training starts.
FIXED_MASK_METHODS = (ORACLE, RANDOM_SUBSET, SUBCENTER)
# Methods trained on a first stage's per-row file (sub-center's keep-mask, Smooth
# Proxy-Anchor's confidences, CleanNet's weights), written under the run's stage1/.
STAGED_METHODS = (SUBCENTER, SMOOTH_PROXY_ANCHOR, CLEANNET)

# Label-suspicion detectors (Table 4, `irnoise detect`).
KNN_DETECTOR, CLEANLAB, MARGIN, PRISM_DETECTOR = "knn", "cleanlab", "margin", "prism"
CLEANNET_DETECTOR = CLEANNET
DETECTORS = (KNN_DETECTOR, CLEANLAB, MARGIN, PRISM_DETECTOR, CLEANNET_DETECTOR)

# Outputs beyond the study's that `extra_targets` adds to the default target.
EXTRA_TARGETS = {
    "table3": ("results/table3.csv", "results/figures/fig_recovered_share.png"),
    "table4": ("results/table4.csv", "results/figures/fig_detection_pr.png"),
    # The In-Shop-shaped runs re-evaluated leave-one-out (docs/findings.md).
    "inshop_protocol": ("results/inshop_protocol.csv",),
}
# The config's own training recipe, beside those of its `recipes` (irnoise.recipes).
DEFAULT_RECIPE = "default"
# The findings under every recipe: the final target of a config with recipes.
RECIPE_TARGETS = ("results/findings_by_recipe.csv",)
STUDY_TARGETS = (
    "results/metrics.csv",
    "results/table1.csv",
    "results/table2.csv",
    "results/findings.csv",
    "results/figures/fig1_class_sizes.png",
    "results/figures/fig2_training_curves.png",
    "results/figures/fig3_noise_patterns.png",
    "results/figures/fig_retrieval_vs_classification.png",
)

# --- paths ----------------------------------------------------------------------------------

RAW = "data/raw/{dataset}"
SHARDS = "data/shards/{dataset}"
LISTING = "data/listings/{dataset}.json"  # a user's folder or CSV dataset, as last read
LABEL_SET = "{dataset}/{scheme}/{level}/seed{seed}"  # one noisy copy of a dataset's labels
LABELS = f"data/labels/{LABEL_SET}"  # + .npy (labels), .json (stats)
RUN = "{experiment}/{scheme}/{level}/seed{seed}"
RUN_DIR = f"results/runs/{RUN}"
METHOD_RUN = f"{{method}}/{RUN}"
METHOD_DIR = f"results/methods/{METHOD_RUN}"  # a robust method's run; PLAIN's are RUN_DIR's
SUBCENTER_RUN = f"{SUBCENTER}/{RUN}"  # sub-center ArcFace's first stage and its keep-mask
SUBCENTER_DIR = f"results/methods/{SUBCENTER_RUN}/stage1"
# Smooth Proxy-Anchor's first phase: its confidence module's relabels and confidences.
CONFIDENCE_RUN = f"{SMOOTH_PROXY_ANCHOR}/{RUN}"
CONFIDENCE_FILE = f"results/methods/{CONFIDENCE_RUN}/stage1/confidence.npz"
DETECT_DIR = "results/detect/{dataset}"  # a user's dataset's ranking
PRETRAINING_DIR = "results/pretraining/{pretraining}"
# A pretraining is trained once, at this seed, like the study's one ImageNet checkpoint
# that every seed of its retrieval runs fine-tunes.
PRETRAINING_SEED = 0
# A query/gallery run re-evaluated leave-one-out over query + gallery, beside its metrics.json.
LOO_METRICS = "metrics_loo.json"
LOO_PER_QUERY = "per_query_loo.npz"
# The In-Shop-shaped runs' drops under both protocols (docs/findings.md).
(INSHOP_PROTOCOL,) = EXTRA_TARGETS["inshop_protocol"]
INSHOP_PROTOCOL_MD = INSHOP_PROTOCOL.removesuffix(".csv") + ".md"

# Snakemake wildcard constraints.
NOISE_SCHEME_PATTERN = "|".join(NOISE_SCHEMES)
RUN_SCHEME_PATTERN = "|".join(RUN_SCHEMES)
ROBUST_METHOD_PATTERN = "|".join(ROBUST_METHODS)


def level_name(level: float | str) -> str:
    """A noise level as it appears in paths and column names: 0.1 -> "0.1", 0.05 -> "0.05"."""
    return f"{float(level):g}"


def labels_path(dataset: str, scheme: str, level: float | str, seed: int | str) -> str:
    """The noisy label file's path without its extension (.npy labels, .json stats)."""
    return LABELS.format(dataset=dataset, scheme=scheme, level=level_name(level), seed=seed)


def run_dir(
    experiment: str, scheme: str, level: float | str, seed: int | str, method: str = PLAIN
) -> str:
    """A run's folder: under results/runs/ for plain training, results/methods/ otherwise."""
    template = RUN_DIR if method == PLAIN else METHOD_DIR
    return template.format(
        method=method, experiment=experiment, scheme=scheme, level=level_name(level), seed=seed
    )


def pretraining_model(pretraining: str) -> str:
    """The model file whose backbone initializes the experiments that name `pretraining`."""
    return f"{PRETRAINING_DIR.format(pretraining=pretraining)}/model.pt"


def clean_run(experiment: str, seed: int | str = "<seed>") -> str:
    """An experiment's clean run folder (by default with a `<seed>` placeholder, for messages)."""
    return run_dir(experiment, CLEAN_SCHEME, CLEAN_LEVEL, seed)


@dataclass(frozen=True)
class RunPath:
    """Who a file in a run folder belongs to (RUN_DIR or METHOD_DIR)."""

    experiment: str
    scheme: str
    level: float
    seed: int
    method: str = PLAIN


_RUN_FILE = re.compile(
    r"(?:^|/)(?:runs|methods/(?P<method>[^/]+))/(?P<experiment>[^/]+)/(?P<scheme>[^/]+)/"
    r"(?P<level>[^/]+)/seed(?P<seed>\d+)/[^/]+$"
)


def parse_run_path(path: str | os.PathLike) -> RunPath:
    """The run of a file in a run folder, for the files that carry no identity of their own
    (history.csv, filter.json, per_query.npz)."""
    match = _RUN_FILE.search(Path(path).as_posix())
    if match is None:
        raise UserError(
            f"cannot tell which run {path} belongs to: expected a path like "
            f"{RUN_DIR}/<file> or {METHOD_DIR}/<file>"
        )
    try:
        level = float(match["level"])
    except ValueError:
        raise UserError(f"{path}: noise level {match['level']!r} is not a number") from None
    method = match["method"] or PLAIN
    return RunPath(match["experiment"], match["scheme"], level, int(match["seed"]), method)


# --- the grid -------------------------------------------------------------------------------


def _is_query_gallery(dataset: Any) -> bool:
    """Whether a configured dataset (`irnoise.config.Dataset`) is In-Shop, real or synthetic."""
    shape = dataset.synthetic.shape if dataset.synthetic is not None else None
    return QUERY_GALLERY_SOURCE in (dataset.source, shape)


Run = tuple[str, str, str]  # scheme, level name, seed, as they appear in paths


class Plan:
    """The runs and files a checked config asks for, target by target."""

    def __init__(self, study: Any) -> None:
        """`study`: a checked `irnoise.config.Study` (not imported: the plan is the bottom
        layer, which the config itself reads its vocabularies from)."""
        self.study = study
        # The config's experiments; those its recipes add are planned by `recipe_run_files`.
        self.experiments = {
            name: study.experiments[name] for name in study.recipe_experiments[DEFAULT_RECIPE]
        }
        self.seeds = [str(seed) for seed in study.seeds]
        self.levels = [level_name(level) for level in study.noise.levels]
        self.table3_levels = [level_name(lv) for lv in study.table3.levels or study.noise.levels]
        self.table3_seeds = [str(seed) for seed in study.table3.seeds or study.seeds]

    # --- the study's runs

    def experiment_schemes(self, name: str) -> list[str]:
        """The noise schemes an experiment runs, in the grid's order ([]: clean run only)."""
        own = self.study.experiments[name].schemes
        schemes = self.study.noise.schemes
        return [s for s in schemes if own is None or s in own]

    def experiment_levels(self, name: str) -> list[str]:
        """The noise levels an experiment runs, as they appear in paths."""
        own = self.study.experiments[name].levels
        return [lv for lv in self.levels if own is None or float(lv) in own]

    def runs(self, name: str, schemes: list[str] | None = None) -> list[Run]:
        """(scheme, level, seed) of every run of an experiment; the clean run is shared."""
        grid = [(CLEAN_SCHEME, CLEAN_LEVEL, seed) for seed in self.seeds]
        levels = self.experiment_levels(name)
        for scheme in self.experiment_schemes(name):
            if schemes is None or scheme in schemes:
                grid += [(scheme, level, seed) for level in levels for seed in self.seeds]
        return grid

    def run_files(
        self, filename: str, experiments: list[str] | None = None, schemes: list[str] | None = None
    ) -> list[str]:
        names = sorted(self.experiments) if experiments is None else experiments
        return [
            f"{run_dir(name, scheme, level, seed)}/{filename}"
            for name in names
            for scheme, level, seed in self.runs(name, schemes)
        ]

    def recipe_run_files(self, filename: str) -> list[str]:
        """`filename` of every run any recipe reads: the config's runs and its recipes'."""
        read = {name for runs in self.study.recipe_experiments.values() for name in runs.values()}
        return self.run_files(filename, experiments=sorted(read))

    def experiments_with_task(self, *tasks: str) -> list[str]:
        return sorted(name for name, e in self.experiments.items() if e.task in tasks)

    def train_datasets(self) -> list[str]:
        return sorted({experiment.train for experiment in self.experiments.values()})

    def used_datasets(self) -> list[str]:
        used = {e.train for e in self.experiments.values()} | {
            e.eval for e in self.experiments.values()
        }
        pretrained = {self.study.pretraining[e.pretraining].train for e in self.pretrained()}
        return sorted(used | pretrained)

    def pretrained(self) -> list[Any]:
        """The experiments that start from one of the config's pretrainings."""
        return [e for _, e in sorted(self.experiments.items()) if e.pretraining is not None]

    def label_stats_files(self, schemes: list[str] | None = None) -> list[str]:
        """Stats of every train dataset's label file in the grid (Table 2, Figure 3), or
        of the given schemes' only (Table 1: the uniform scheme)."""
        return [
            f"{labels_path(dataset, scheme, level, seed)}.json"
            for dataset in self.train_datasets()
            for scheme in self.study.noise.schemes
            if schemes is None or scheme in schemes
            for level in self.levels
            for seed in self.seeds
        ]

    def query_gallery_experiments(self) -> list[str]:
        """The In-Shop-shaped experiments: retrieval evaluated on an In-Shop dataset, real or
        synthetic (query against gallery)."""
        return [
            name
            for name in self.experiments_with_task(RETRIEVAL)
            if _is_query_gallery(self.study.datasets[self.experiments[name].eval])
        ]

    def protocol_files(self, filename: str) -> list[str]:
        """`filename` of every run (clean and noisy, every seed) of the In-Shop-shaped
        experiments: the inputs of the protocol comparison."""
        return self.run_files(filename, experiments=self.query_gallery_experiments())

    def figure_level(self) -> str:
        """The level whose selected classes Figure 1 highlights (default: the largest)."""
        level = self.study.noise.figure_level
        return level_name(max(self.study.noise.levels) if level is None else level)

    def final_targets(self) -> list[str]:
        extra = [path for name in self.study.extra_targets for path in EXTRA_TARGETS[name]]
        recipes = RECIPE_TARGETS if self.study.recipes else ()
        return [*STUDY_TARGETS, *extra, *recipes]

    # --- Table 3: noise-robust methods

    def table3_experiments(self) -> list[str]:
        return sorted(name for name, e in self.experiments.items() if e.robust_methods)

    def table3_runs(self, name: str) -> list[Run]:
        """(scheme, level, seed) of Table 3's noisy runs of an experiment."""
        return [
            (scheme, level, seed)
            for scheme in self.experiment_schemes(name)
            for level in self.table3_levels
            for seed in self.table3_seeds
        ]

    def table3_files(self, filename: str, with_plain: bool = True) -> list[str]:
        """`filename` of every Table 3 run: plain training's (clean and noisy), then each
        robust method's."""
        files = []
        for name in self.table3_experiments():
            clean = [(CLEAN_SCHEME, CLEAN_LEVEL, seed) for seed in self.table3_seeds]
            methods = [PLAIN] if with_plain else []
            methods += self.experiments[name].robust_methods
            for method in methods:
                runs = (clean if method == PLAIN else []) + self.table3_runs(name)
                files += [f"{run_dir(name, *run, method=method)}/{filename}" for run in runs]
        return files

    # --- Table 4 and a user's dataset: label-suspicion detection

    def detect_runs(self) -> list[tuple[str, str, str, str]]:
        """(experiment, scheme, level, seed) of every noisy run of the grid."""
        return [
            (name, scheme, level, seed)
            for name in sorted(self.experiments)
            for scheme, level, seed in self.runs(name)
            if scheme != CLEAN_SCHEME
        ]

    def detect_inputs(self, kind: str) -> list[str]:
        """Table 4's inputs of one kind (scores, labels, clean), one per noisy run, in the same
        order for every kind."""
        files = []
        for name, scheme, level, seed in self.detect_runs():
            dataset = self.experiments[name].train
            files.append(
                {
                    "scores": f"{run_dir(name, scheme, level, seed)}/detect.npz",
                    "labels": f"{labels_path(dataset, scheme, level, seed)}.npy",
                    "clean": SHARDS.format(dataset=dataset),
                }[kind]
            )
        return files

    def detect_experiment(self, dataset: str) -> str:
        """The experiment whose clean run's model scores a user's dataset: the first (by
        name) that trains on it."""
        trained = sorted(name for name, e in self.experiments.items() if e.train == dataset)
        if not trained:
            raise UserError(
                f"{DETECT_DIR.format(dataset=dataset)}/ needs a model trained on {dataset}: add "
                f"an experiment with `train: {dataset}` to the config (see docs/detect.md)"
            )
        return trained[0]

    def detect_model(self, dataset: str) -> str:
        experiment = self.detect_experiment(dataset)
        return f"{run_dir(experiment, CLEAN_SCHEME, CLEAN_LEVEL, self.seeds[0])}/model.pt"
