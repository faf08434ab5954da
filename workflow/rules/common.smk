# Helpers shared by the rules: the checked config, the experiment grid and the
# canonical parameters of each job. Rules read the config only through these helpers,
# as sorted-key JSON limited to what a job needs, so that an edit reruns exactly the
# jobs it touches and reordering keys reruns nothing.
import json
import shlex
import sys
from pathlib import Path

from irnoise.config import canonical, load_study
from irnoise.errors import UserError
from irnoise.layout import (
    CLEAN_LEVEL,
    CLEAN_SCHEME,
    LABEL_SET,
    LABELS,
    METHOD_DIR,
    METHOD_RUN,
    NOISE_SCHEME_PATTERN,
    ROBUST_METHOD_PATTERN,
    RUN,
    RUN_DIR,
    RUN_SCHEME_PATTERN,
    SHARDS,
    SUBCENTER_DIR,
    SUBCENTER_RUN,
    level_name,
)

# The config checked once (schema, names, references, losses) and completed with every
# default, as frozen dataclasses (irnoise.config): rules read it only through them. The
# loss check imports pytorch-metric-learning (and torch, seconds): the main Snakemake
# does it, not each cluster job's Snakemake, which parses this file again, and settings
# found good are remembered, so that only a dry-run after a loss change pays for it.
try:
    STUDY = load_study(config)
    if workflow.is_main_process:
        from irnoise.train.loss_check import check_losses

        check_losses(STUDY, Path(".snakemake/irnoise/checked_losses.json"))
except UserError as error:
    sys.exit(f"irnoise: config error: {error}")

DATASETS = STUDY.datasets
EXPERIMENTS = STUDY.experiments
NOISE = STUDY.noise
SEEDS = [str(seed) for seed in STUDY.seeds]
LEVELS = [level_name(level) for level in NOISE.levels]


def check_data():
    """Say which real datasets and pretrained weights are missing (a plan is still made)."""
    from irnoise.data.datasets import adapter, missing_files

    for name in sorted(used_datasets()):
        dataset = DATASETS[name]
        if dataset.is_synthetic:
            continue
        source, root = dataset.source, dataset.path
        missing = missing_files(source, root, dataset.adapter_options)
        if missing:
            print(
                f"irnoise: dataset {name!r} ({source}) is missing from {root}: "
                f"{', '.join(str(path) for path in missing[:3])}. Put it there, "
                f"or set datasets.{name}.root. Expected layout:\n"
                f"{adapter(source, dataset.adapter_options).LAYOUT}",
                file=sys.stderr,
            )
    for name, experiment in EXPERIMENTS.items():
        weights = experiment.training.pretrained
        if weights and not Path(weights).is_file():
            print(
                f"irnoise: experiments.{name}.pretrained: no weights file at {weights}; "
                "put the backbone's state dict there (nothing is downloaded)",
                file=sys.stderr,
            )


def used_datasets():
    return {e.train for e in EXPERIMENTS.values()} | {
        e.eval for e in EXPERIMENTS.values()
    }


def train_datasets():
    return sorted({experiment.train for experiment in EXPERIMENTS.values()})


def experiment_schemes(name):
    # None: every scheme of the grid; [] runs the clean run only.
    schemes = EXPERIMENTS[name].schemes
    schemes = NOISE.schemes if schemes is None else schemes
    return [scheme for scheme in NOISE.schemes if scheme in schemes]


def runs(experiment, schemes=None):
    """(scheme, level, seed) of every run of an experiment; the clean run is shared."""
    schemes = [
        s for s in experiment_schemes(experiment) if schemes is None or s in schemes
    ]
    grid = [(CLEAN_SCHEME, CLEAN_LEVEL, seed) for seed in SEEDS]
    for scheme in schemes:
        grid += [(scheme, level, seed) for level in LEVELS for seed in SEEDS]
    return grid


def run_files(filename, experiments=None, schemes=None):
    experiments = sorted(EXPERIMENTS) if experiments is None else experiments
    return [
        f"{RUN_DIR}/{filename}".format(
            experiment=name, scheme=scheme, level=level, seed=seed
        )
        for name in experiments
        for scheme, level, seed in runs(name, schemes)
    ]


# --- Table 3: noise-robust methods (workflow/rules/methods.smk) ---------------------

TABLE3_LEVELS = [level_name(level) for level in STUDY.table3.levels or NOISE.levels]
TABLE3_SEEDS = [str(seed) for seed in STUDY.table3.seeds or STUDY.seeds]


def table3_experiments():
    return sorted(name for name, e in EXPERIMENTS.items() if e.robust_methods)


def table3_runs(name):
    """(scheme, level, seed) of Table 3's noisy runs of an experiment."""
    return [
        (scheme, level, seed)
        for scheme in experiment_schemes(name)
        for level in TABLE3_LEVELS
        for seed in TABLE3_SEEDS
    ]


def table3_files(filename, with_none=True):
    """`filename` of every Table 3 run: method none's (clean and noisy), then each method's."""
    files = []
    for name in table3_experiments():
        clean = [(CLEAN_SCHEME, CLEAN_LEVEL, seed) for seed in TABLE3_SEEDS]
        if with_none:
            files += [
                f"{RUN_DIR}/{filename}".format(
                    experiment=name, scheme=s, level=l, seed=seed
                )
                for s, l, seed in clean + table3_runs(name)
            ]
        for method in EXPERIMENTS[name].robust_methods:
            files += [
                f"{METHOD_DIR}/{filename}".format(
                    method=method, experiment=name, scheme=s, level=l, seed=seed
                )
                for s, l, seed in table3_runs(name)
            ]
    return files


def method_spec(wildcards):
    """The method's name and parameters as canonical JSON (PRISM's rate: the true level)."""
    params = EXPERIMENTS[wildcards.experiment].method_settings(wildcards.method)
    if wildcards.method == "prism":
        params["noise_rate"] = float(wildcards.level)
    if wildcards.method == "subcenter":
        params = {}  # stage 2 only reads the keep-mask; stage 1's settings are its own
    return canonical({"name": wildcards.method} | params)


def subcenter_config(name):
    """Stage 1 of subcenter: the experiment's training with SubCenterArcFaceLoss."""
    experiment = EXPERIMENTS[name]
    settings = experiment.training.to_dict()
    sub_centers = experiment.method_settings("subcenter")["sub_centers"]
    settings["loss"] = "SubCenterArcFaceLoss"
    settings["loss_params"] = settings["loss_params"] | {"sub_centers": sub_centers}
    return canonical(settings)


def method_train_input(wildcards):
    inputs = train_input(wildcards)
    if wildcards.method == "subcenter":
        inputs["keep"] = f"{SUBCENTER_DIR}/keep.npy".format(**wildcards)
    return inputs


def keep_flag(wildcards, input):
    """The --keep argument of a subcenter stage 2, quoted for the shell."""
    return f"--keep {shlex.quote(input.keep)}" if "keep" in input.keys() else ""


def method_run_identity(wildcards):
    return canonical(json.loads(run_identity(wildcards)) | {"method": wildcards.method})


def experiments_with_task(*tasks):
    return sorted(name for name, e in EXPERIMENTS.items() if e.task in tasks)


def label_stats_files():
    """Stats of every train dataset's label file in the grid (Table 2, Figure 3)."""
    return expand(
        f"{LABELS}.json",
        dataset=train_datasets(),
        scheme=NOISE.schemes,
        level=LEVELS,
        seed=SEEDS,
    )


def figure_level():
    level = NOISE.figure_level
    return level_name(max(NOISE.levels) if level is None else level)


def final_targets():
    return [
        "results/metrics.csv",
        "results/table1.csv",
        "results/table2.csv",
        "results/findings.csv",
        "results/figures/fig1_class_sizes.png",
        "results/figures/fig2_training_curves.png",
        "results/figures/fig3_noise_patterns.png",
        "results/figures/fig_retrieval_vs_classification.png",
        *(path for name in STUDY.extra_targets for path in EXTRA_TARGETS[name]),
    ]


# Tables beyond the study's, with their figures: in the default target where the config's
# extra_targets names them (the default config leaves them out: its run's budget).
EXTRA_TARGETS = {
    "table3": ["results/table3.csv", "results/figures/fig_recovered_share.png"],
    "table4": ["results/table4.csv", "results/figures/fig_detection_pr.png"],
}


# --- parameters of each job -------------------------------------------------------


def shard_input(wildcards):
    """A synthetic set's generated folder; nothing for a real dataset, so that the plan
    can be made before the data is there (check_datasets names what is missing, and the
    shard job stops with the expected layout)."""
    dataset = DATASETS[wildcards.dataset]
    return [dataset.path] if dataset.is_synthetic else []


def shard_params(name):
    dataset = DATASETS[name]
    return {
        "source": dataset.source,
        "image_size": dataset.image_size,
        "shard_size": dataset.shard_size,
        "skip_corrupt": dataset.skip_corrupt,
        "root": dataset.path,
        "options": canonical(dataset.adapter_options),
    }


def training_config(name):
    """The experiment's settings that change a trained model, as canonical JSON."""
    return canonical(EXPERIMENTS[name].training.to_dict())


def evaluation_config(name):
    """The experiment's settings of its evaluate jobs, as canonical JSON."""
    return canonical(EXPERIMENTS[name].evaluation.to_dict())


def run_identity(wildcards):
    experiment = EXPERIMENTS[wildcards.experiment]
    return canonical(
        {
            "experiment": wildcards.experiment,
            "train": experiment.train,
            "eval": experiment.eval,
            "task": experiment.task,
            "scheme": wildcards.scheme,
            "level": float(wildcards.level),
            "seed": int(wildcards.seed),
        }
    )


def train_input(wildcards):
    experiment = EXPERIMENTS[wildcards.experiment]
    inputs = {"shards": SHARDS.format(dataset=experiment.train)}
    if wildcards.scheme != CLEAN_SCHEME:
        inputs["labels"] = LABELS.format(dataset=experiment.train, **wildcards) + ".npy"
    return inputs


def checkpoint_flag(wildcards):
    """--keep-checkpoint where the experiment keeps finished runs' checkpoints."""
    keep = EXPERIMENTS[wildcards.experiment].keep_checkpoint
    return "--keep-checkpoint" if keep else ""


def labels_flag(wildcards, input):
    """The --labels argument of a noisy run, quoted for the shell; none for a clean run."""
    return f"--labels {shlex.quote(input.labels)}" if "labels" in input.keys() else ""


# --- label-suspicion detection (detect.smk) ---------------------------------------

DETECT = STUDY.detect


def detect_config(name):
    """What a detect job depends on: the embedding settings and the detector settings."""
    return canonical(
        EXPERIMENTS[name].evaluation.to_dict()
        | {"k": DETECT.k, "cleanlab_max_cells": DETECT.cleanlab_max_cells}
    )


def detect_runs():
    """(experiment, scheme, level, seed) of every noisy run of the grid."""
    return [
        (name, scheme, level, seed)
        for name in sorted(EXPERIMENTS)
        for scheme, level, seed in runs(name)
        if scheme != CLEAN_SCHEME
    ]


def detect_inputs(kind):
    """Table 4's inputs, one per noisy run, in the same order for every kind."""
    files = []
    for name, scheme, level, seed in detect_runs():
        dataset = EXPERIMENTS[name].train
        run = dict(experiment=name, scheme=scheme, level=level, seed=seed)
        files.append(
            {
                "scores": f"{RUN_DIR}/detect.npz".format(**run),
                "labels": LABELS.format(dataset=dataset, **run) + ".npy",
                "clean": SHARDS.format(dataset=dataset),
            }[kind]
        )
    return files


def detect_experiment(dataset):
    """The experiment whose clean run's model scores a user's dataset: the first (by
    name) that trains on it."""
    trained = sorted(name for name, e in EXPERIMENTS.items() if e.train == dataset)
    if not trained:
        raise ValueError(
            f"results/detect/{dataset}/ needs a model trained on {dataset}: add an experiment "
            f"with `train: {dataset}` to the config (see README, Find mislabelled images)"
        )
    return trained[0]


def detect_model(wildcards):
    run = dict(scheme=CLEAN_SCHEME, level=CLEAN_LEVEL, seed=SEEDS[0])
    return f"{RUN_DIR}/model.pt".format(
        experiment=detect_experiment(wildcards.dataset), **run
    )


def dataset_identity(name):
    dataset = DATASETS[name]
    return canonical(
        {
            "source": dataset.source,
            "root": dataset.path,
            "options": dataset.adapter_options,
        }
    )


wildcard_constraints:
    dataset="|".join(sorted(DATASETS)),
    experiment="|".join(sorted(EXPERIMENTS)),
    seed=r"\d+",
    level=r"[0-9.e-]+",


if workflow.is_main_process:
    check_data()
