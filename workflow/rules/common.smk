# Glue between the rules and irnoise.plan: the checked config, the grid's files, and each
# job's parameters. Rules read the config only through these helpers, as sorted-key JSON
# limited to what a job needs, so that an edit reruns exactly the jobs it touches and
# reordering keys reruns nothing. Which runs and files a target needs is decided by
# irnoise.plan.Plan (unit-tested without Snakemake); this file only hands it on.
import json
import shlex
import sys
from pathlib import Path

from irnoise.config import canonical, load_study
from irnoise.schema import with_defaults
from irnoise.data.listing import LISTED_SOURCES
from irnoise.errors import UserError
from irnoise.plan import (
    CLEANNET,
    CLEAN_SCHEME,
    CONFIDENCE_FILE,
    CONFIDENCE_RUN,
    PROXY_ANCHOR,
    SMOOTH_PROXY_ANCHOR,
    DETECT_DIR,
    INSHOP_PROTOCOL,
    INSHOP_PROTOCOL_MD,
    LABEL_SET,
    LEAVE_ONE_OUT,
    LOO_METRICS,
    LOO_PER_QUERY,
    LABELS,
    LISTING,
    METHOD_DIR,
    METHOD_RUN,
    NOISE_SCHEME_PATTERN,
    PRETRAINING_DIR,
    PRETRAINING_SEED,
    PRISM,
    RAW,
    ROBUST_METHOD_PATTERN,
    RUN,
    RUN_DIR,
    RUN_SCHEME_PATTERN,
    SHARDS,
    SUBCENTER,
    SUBCENTER_DIR,
    SUBCENTER_RUN,
    TABLE1_SCHEME,
    RETRIEVAL,
    Plan,
)

# The config check: the schema (which fills every default into `config` itself, so that
# rules, captions and commands all see the same values), names, references, and the
# losses against pytorch-metric-learning. The loss check imports torch only after a loss
# change (settings found good are remembered), and only in the main Snakemake, not in
# each cluster job's Snakemake, which parses this file again.
try:
    # The study from the config as written (some checks tell given keys from defaults),
    # then the defaults filled in.
    STUDY = load_study(config)
    config.update(with_defaults(config))
    if workflow.is_main_process:
        from irnoise.train.loss_check import check_losses

        check_losses(STUDY, Path(".snakemake/irnoise/checked_losses.json"))
except UserError as error:
    sys.exit(f"irnoise: config error: {error}")

# One log per attempt of a job (Snakemake's retry, Slurm's requeue of a preempted job):
# Snakemake deletes a rule's log before each attempt, so every rule writes its stderr to
# `$(attempt_log {log})`, a file of this attempt's own, <log>.<UTC start>-<Slurm job id or
# pid>, hard-linked as the rule's log (which thus shows the latest attempt). The prefix
# replaces Snakemake's default one, `set -euo pipefail;`, so it says it again.
shell.prefix(
    "set -euo pipefail; attempt_log() {{ "
    'kept="$1.$(date -u +%Y%m%dT%H%M%SZ)-${{SLURM_JOB_ID:-$$}}"; '
    ': >> "$kept"; ln -f "$kept" "$1"; echo "$kept"; }}; '
)

PLAN = Plan(STUDY)
DATASETS = STUDY.datasets
EXPERIMENTS = STUDY.experiments


def experiment_of(wildcards):
    """The experiment a job belongs to (a user's dataset's: the one that scores it; a
    pretraining's job: the pretraining, written like an experiment)."""
    if "experiment" in wildcards.keys():
        return EXPERIMENTS[wildcards.experiment]
    if "pretraining" in wildcards.keys():
        return STUDY.pretraining[wildcards.pretraining]
    return EXPERIMENTS[PLAN.detect_experiment(wildcards.dataset)]


def job_threads(wildcards):
    return experiment_of(wildcards).threads


def job_gpus(wildcards):
    return experiment_of(wildcards).training.gpus


def one_gpu(wildcards):
    """Evaluation and detection use one GPU at most, whatever the training used."""
    return min(job_gpus(wildcards), 1)


def job_runtime(wildcards):
    return experiment_of(wildcards).runtime


def job_mem_mb(wildcards):
    return experiment_of(wildcards).mem_mb


def eval_runtime(wildcards):
    return experiment_of(wildcards).eval_runtime


def eval_mem_mb(wildcards):
    experiment = experiment_of(wildcards)
    return experiment.eval_mem_mb or experiment.mem_mb


def detect_runtime(wildcards):
    """A detect job's minutes: its experiment's, or the one that scores a user's dataset."""
    return experiment_of(wildcards).detect_runtime


def detect_mem_mb(wildcards):
    experiment = experiment_of(wildcards)
    return experiment.detect_mem_mb or experiment.mem_mb


# --- data and noise ----------------------------------------------------------------


def refresh_listings():
    """Write the listing of each user's (folder or CSV) dataset where it changed.

    Read when the workflow is parsed, so that Snakemake compares the listing's time with
    the shards': moving, adding or deleting an image reruns the shard job; an unchanged
    dataset reruns nothing. Only the main Snakemake reads them: a cluster job's Snakemake
    must not see a listing newer than the shards it was started to write.
    """
    from irnoise.data.listing import dataset_listing, refresh_listing

    for name, dataset in DATASETS.items():
        if dataset.source in LISTED_SOURCES:
            listing = dataset_listing(
                dataset.source, dataset.path, dataset.adapter_options
            )
            refresh_listing(LISTING.format(dataset=name), listing)


if workflow.is_main_process:
    try:
        refresh_listings()
    except UserError as error:
        sys.exit(f"irnoise: {error}")


def shard_input(wildcards):
    """A synthetic set's generated folder; a user's dataset's listing; nothing for a
    published dataset, so that the plan can be made before the data is there (the shard
    job stops with the expected layout).
    """
    dataset = DATASETS[wildcards.dataset]
    if dataset.is_synthetic:
        return [dataset.path]
    if dataset.source in LISTED_SOURCES:
        return [LISTING.format(dataset=wildcards.dataset)]
    return []


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


def shard_flags(wildcards):
    """--skip-corrupt and --holdout, each only where set: a dataset without them keeps the
    params its shards were written with (no reshard)."""
    dataset = DATASETS[wildcards.dataset]
    flags = ["--skip-corrupt"] if dataset.skip_corrupt else []
    if dataset.holdout is not None:
        flags += [
            f"--holdout {dataset.holdout!r} --holdout-seed {dataset.holdout_seed}"
        ]
    return " ".join(flags)


def dataset_identity(name):
    """What `irnoise detect --dataset` reads the train rows' files with (the holdout only
    where set, so that other datasets' detect jobs keep their params)."""
    dataset = DATASETS[name]
    identity = {
        "source": dataset.source,
        "root": dataset.path,
        "options": dataset.adapter_options,
    }
    if dataset.holdout is not None:
        identity |= {"holdout": dataset.holdout, "holdout_seed": dataset.holdout_seed}
    return canonical(identity)


# --- training and evaluation -------------------------------------------------------


def training_config(wildcards):
    """The experiment's settings that change a trained model, as canonical JSON."""
    return canonical(experiment_of(wildcards).training.to_dict())


def evaluation_config(wildcards):
    """The experiment's settings of its evaluate jobs, as canonical JSON."""
    return canonical(experiment_of(wildcards).evaluation.to_dict())


def train_shards(wildcards):
    return SHARDS.format(dataset=experiment_of(wildcards).train)


def eval_shards(wildcards):
    return SHARDS.format(dataset=experiment_of(wildcards).eval)


def noisy_labels(wildcards):
    dataset = experiment_of(wildcards).train
    return LABELS.format(dataset=dataset, **wildcards) + ".npy"


def train_input(wildcards):
    inputs = {"shards": train_shards(wildcards)}
    if wildcards.scheme != CLEAN_SCHEME:
        inputs["labels"] = noisy_labels(wildcards)
    if experiment_of(wildcards).pretraining is not None:
        # The training's config names this file (irnoise.config.with_pretrained_backbones).
        inputs["pretrained"] = experiment_of(wildcards).training.pretrained
    return inputs


def labels_flag(wildcards):
    """The --labels argument of a noisy run, quoted for the shell; none for a clean run.
    A function of the wildcards alone: Snakemake records such params, and reruns a job
    whose params changed (a params function that takes `input` is recorded empty)."""
    if wildcards.scheme == CLEAN_SCHEME:
        return ""
    return f"--labels {shlex.quote(noisy_labels(wildcards))}"


def checkpoint_flag(wildcards):
    """--keep-checkpoint where the experiment keeps finished runs' checkpoints."""
    return "--keep-checkpoint" if experiment_of(wildcards).keep_checkpoint else ""


def allow_cpu_flag(wildcards):
    """--allow-cpu where the experiment lets a GPU training fall back to the CPU."""
    return "--allow-cpu" if experiment_of(wildcards).allow_cpu else ""


def experiment_task(wildcards):
    return experiment_of(wildcards).task


def run_identity(wildcards):
    experiment = experiment_of(wildcards)
    identity = {
        "experiment": wildcards.experiment,
        "train": experiment.train,
        "eval": experiment.eval,
        "task": experiment.task,
        "scheme": wildcards.scheme,
        "level": float(wildcards.level),
        "seed": int(wildcards.seed),
    }
    if "method" in wildcards.keys():
        identity["method"] = wildcards.method
    return canonical(identity)


# --- noise-robust methods (methods.smk) --------------------------------------------


def method_spec(wildcards):
    """The method's name and parameters as canonical JSON (PRISM's rate: the true level)."""
    params = experiment_of(wildcards).method_settings(wildcards.method)
    if wildcards.method == PRISM:
        params["noise_rate"] = float(wildcards.level)
    if wildcards.method in (SUBCENTER, CLEANNET):
        params = {}  # stage 2 only reads stage 1's file; stage 1's settings are its own
    if wildcards.method == SMOOTH_PROXY_ANCHOR:
        params = {key: params[key] for key in ("position", "sharpness")}
    return canonical({"name": wildcards.method} | params)


def method_training_config(wildcards):
    """A method run's training: the experiment's, but Proxy-Anchor's loss (with
    pytorch-metric-learning's defaults) for the two Proxy-Anchor methods."""
    settings = experiment_of(wildcards).training.to_dict()
    if wildcards.method in (PROXY_ANCHOR, SMOOTH_PROXY_ANCHOR):
        settings["loss"] = "ProxyAnchorLoss"
        settings["loss_params"] = {}
    return canonical(settings)


def confidence_params(wildcards):
    """Smooth Proxy-Anchor's first-phase parameters, as canonical JSON."""
    params = experiment_of(wildcards).method_settings(SMOOTH_PROXY_ANCHOR)
    keys = ("hidden", "confidence_epochs", "relabel_threshold")
    return canonical({key: params[key] for key in keys})


def method_flags(wildcards):
    """--method (and the method's --keep input) of a robust method's training, quoted;
    of the wildcards alone, so that a method parameter's change reruns its jobs."""
    flags = f"--method {shlex.quote(method_spec(wildcards))}"
    if keep := method_keep(wildcards):
        flags += f" --keep {shlex.quote(keep)}"
    return flags


def method_keep(wildcards):
    """What a staged method's training reads from its first stage, or None."""
    first_stage = {
        SUBCENTER: f"{SUBCENTER_DIR}/keep.npy",
        SMOOTH_PROXY_ANCHOR: CONFIDENCE_FILE,
        CLEANNET: f"{RUN_DIR}/detect.npz",  # its detector's scores
    }.get(wildcards.method)
    return first_stage.format(**wildcards) if first_stage else None


def method_train_input(wildcards):
    inputs = train_input(wildcards)
    if keep := method_keep(wildcards):
        inputs["keep"] = keep
    return inputs


def subcenter_config(wildcards):
    """Stage 1 of sub-center ArcFace: the experiment's training with SubCenterArcFaceLoss."""
    experiment = experiment_of(wildcards)
    settings = experiment.training.to_dict()
    sub_centers = experiment.method_settings(SUBCENTER)["sub_centers"]
    settings["loss"] = "SubCenterArcFaceLoss"
    settings["loss_params"] = settings["loss_params"] | {"sub_centers": sub_centers}
    return canonical(settings)


def subcenter_threshold(wildcards):
    return experiment_of(wildcards).method_settings(SUBCENTER)["threshold"]


def subcenter_variant_flag(wildcards):
    """--drop-nondominant where the experiment asks for that variant of the outlier rule."""
    drop = experiment_of(wildcards).method_settings(SUBCENTER)["drop_nondominant"]
    return "--drop-nondominant" if drop else ""


# --- label-suspicion detection (detect.smk) ----------------------------------------


def detect_config(wildcards):
    """What a detect job depends on: the embedding settings and the detector settings."""
    detect = STUDY.detect
    return canonical(
        experiment_of(wildcards).evaluation.to_dict()
        | {"k": detect.k, "cleanlab_max_cells": detect.cleanlab_max_cells}
    )


def cleannet_flags(wildcards):
    """Table 4's CleanNet: verification simulated from the truth for a share of classes."""
    params = experiment_of(wildcards).method_settings(CLEANNET)
    fraction = params.pop("verified_fraction")
    params["seed"] = int(wildcards.seed)
    return f"--verify-fraction {fraction} --cleannet {shlex.quote(canonical(params))}"


def verified_input(wildcards):
    """A user's verified images (detect.verified), if the config names them."""
    return [STUDY.detect.verified] if STUDY.detect.verified else []


def verified_flag(wildcards):
    verified = STUDY.detect.verified
    return f"--verified {shlex.quote(verified)}" if verified else ""


def detect_model(wildcards):
    try:
        return PLAN.detect_model(wildcards.dataset)
    except UserError as error:
        raise ValueError(str(error)) from None


onstart:
    from irnoise.data.datasets import check_data

    check_data(STUDY, PLAN.used_datasets())


wildcard_constraints:
    dataset="|".join(sorted(DATASETS)),
    experiment="|".join(sorted(EXPERIMENTS)),
    seed=r"\d+",
    level=r"[0-9.e-]+",
