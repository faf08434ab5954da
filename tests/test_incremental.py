"""Incremental reruns: after a finished smoke run, a config edit reruns exactly the jobs it
touches. Each test edits a copy of the smoke preset and asserts the exact set of jobs in
Snakemake's dry-run (with its default rerun triggers: mtime, params, input, code,
software-env)."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from helpers import REPO, copy_workflow, run_snakemake

pytestmark = [pytest.mark.workflow, pytest.mark.xdist_group("smoke")]

PRESET = yaml.safe_load((REPO / "presets" / "smoke.yaml").read_text())

# First output of each report rule: how a dry-run names the job.
REPORTS = {
    "collect_metrics": "results/metrics.csv",
    "table1": "results/table1.csv",
    "table2": "results/table2.csv",
    "findings": "results/findings.csv",
    "figure_class_sizes": "results/figures/fig1_class_sizes.png",
    "figure_training_curves": "results/figures/fig2_training_curves.png",
    "figure_noise_patterns": "results/figures/fig3_noise_patterns.png",
    "figure_retrieval_vs_classification": "results/figures/fig_retrieval_vs_classification.png",
    "table4": "results/table4.csv",
    "figure_detection_pr": "results/figures/fig_detection_pr.png",
    "inshop_protocol": "results/inshop_protocol.csv",
}
DETECTION_REPORTS = ("table4", "figure_detection_pr")
# The In-Shop-shaped experiment: its runs are re-evaluated leave-one-out too.
QUERY_GALLERY_EXPERIMENTS = ("inshop",)

Job = tuple[str, str]  # (rule, first output)


@pytest.fixture(scope="module")
def finished(smoke_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the finished smoke run (outputs, mtimes and Snakemake's metadata)."""
    workdir = tmp_path_factory.mktemp("incremental") / "wf"
    shutil.copytree(smoke_run, workdir, symlinks=True)
    return workdir


def planned_jobs(workdir: Path, edit: Callable[[dict], None] | None = None) -> set[Job]:
    """The jobs `snakemake -n` plans for the smoke preset after `edit(config)`."""
    config = yaml.safe_load((REPO / "presets" / "smoke.yaml").read_text())
    if edit:
        edit(config)
    (workdir / "edited.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    result = run_snakemake(workdir, "-n", "--configfile", "edited.yaml")
    return parse_dry_run(result.stdout + result.stderr)


def parse_dry_run(text: str) -> set[Job]:
    """(rule, first output) of every job block ("rule x:" then indented fields)."""
    jobs: set[Job] = set()
    rule = None
    for line in text.splitlines():
        header = re.match(r"^(?:local)?rule (\w+):$", line)
        if header:
            if rule:
                jobs.add((rule, ""))  # a job without outputs: `all`
            rule = header.group(1)
        elif rule and (output := re.match(r"^\s+output: ([^,]+)", line)):
            jobs.add((rule, output.group(1).strip()))
            rule = None
        elif rule and not line.startswith((" ", "\t")):
            jobs.add((rule, ""))
            rule = None
    if rule:
        jobs.add((rule, ""))
    return jobs


# --- the expected jobs, derived from the preset independently of the rules -------------


def level_name(level: float) -> str:
    return f"{level:g}"


def runs(experiment: str, config: dict = PRESET) -> list[str]:
    """Run directories of an experiment: the shared clean run, then schemes x levels x seeds."""
    schemes = config["experiments"][experiment].get("schemes", config["noise"]["schemes"])
    grid = [("clean", "0", seed) for seed in config["seeds"]]
    grid += [
        (scheme, level_name(level), seed)
        for scheme in schemes
        for level in config["noise"]["levels"]
        for seed in config["seeds"]
    ]
    return [f"results/runs/{experiment}/{s}/{lv}/seed{seed}" for s, lv, seed in grid]


def training(experiment: str, config: dict = PRESET, level: str | None = None) -> set[Job]:
    """Train, evaluate and detect jobs of an experiment's runs (at one noise level, if given)."""
    return {
        job
        for run in runs(experiment, config)
        if level is None or f"/{level}/" in run
        for job in (("train", f"{run}/model.pt"), *evaluations(experiment, run))
    } | detection(experiment, config, level)


def evaluations(experiment: str, run: str) -> list[Job]:
    jobs = [("evaluate", f"{run}/metrics.json")]
    if experiment in QUERY_GALLERY_EXPERIMENTS:
        jobs.append(("evaluate_leave_one_out", f"{run}/metrics_loo.json"))
    return jobs


def detection(experiment: str, config: dict = PRESET, level: str | None = None) -> set[Job]:
    """Label-suspicion jobs of an experiment's noisy runs (the clean run has none)."""
    return {
        ("detect_run", f"{run}/detect.npz")
        for run in runs(experiment, config)
        if "/clean/" not in run and (level is None or f"/{level}/" in run)
    }


def evaluation(experiment: str) -> set[Job]:
    return {job for run in runs(experiment) for job in evaluations(experiment, run)}


def reports(*rules: str) -> set[Job]:
    return {(rule, REPORTS[rule]) for rule in rules} | {("all", "")}


def noise(dataset: str, levels: list[float]) -> set[Job]:
    return {
        ("noise", f"data/labels/{dataset}/{scheme}/{level_name(level)}/seed{seed}.npy")
        for scheme in PRESET["noise"]["schemes"]
        for level in levels
        for seed in PRESET["seeds"]
    }


# --- the tests --------------------------------------------------------------------------


def test_finished_run_is_up_to_date(finished: Path) -> None:
    assert planned_jobs(finished) == set()


def test_reordering_config_keys_reruns_nothing(finished: Path) -> None:
    def reverse_keys(value):
        if isinstance(value, dict):
            return {key: reverse_keys(value[key]) for key in reversed(list(value))}
        return value

    def reorder(config: dict) -> None:
        reordered = reverse_keys(config)
        config.clear()
        config.update(reordered)

    assert planned_jobs(finished, reorder) == set()


def test_training_hyperparameter_reruns_that_experiment_only(finished: Path) -> None:
    def edit(config: dict) -> None:
        config["experiments"]["sop"]["lr"] = 0.02

    # Not: synth, shard, noise, Table 2, Figure 1 (no trained model in them), faces, imagenet.
    expected = training("sop") | reports(
        "collect_metrics",
        "table1",
        "findings",
        "figure_training_curves",
        "figure_noise_patterns",
        "figure_retrieval_vs_classification",
        *DETECTION_REPORTS,
    )
    assert planned_jobs(finished, edit) == expected


def test_evaluation_setting_reruns_evaluation_only(finished: Path) -> None:
    def edit(config: dict) -> None:
        config["experiments"]["faces"]["eval_batch_size"] = 17

    # The detect jobs embed the train split with the same batch size setting.
    expected = (
        evaluation("faces")
        | detection("faces")
        | reports(
            "collect_metrics",
            "table1",
            "findings",
            "figure_retrieval_vs_classification",
            *DETECTION_REPORTS,
        )
    )
    assert planned_jobs(finished, edit) == expected


def test_detector_setting_reruns_detection_only(finished: Path) -> None:
    def edit(config: dict) -> None:
        config["detect"] = {"k": 7}

    expected = {
        job for experiment in PRESET["experiments"] for job in detection(experiment)
    } | reports(*DETECTION_REPORTS)
    assert planned_jobs(finished, edit) == expected


def test_job_resources_rerun_nothing(finished: Path) -> None:
    def edit(config: dict) -> None:
        config["experiments"]["sop"].update(runtime=99, mem_mb=1234, threads=2)

    assert planned_jobs(finished, edit) == set()


def test_new_noise_level_adds_only_its_jobs(finished: Path) -> None:
    # 0.1 is below the preset's level, so Figure 1 (drawn at the largest level) stays.
    def edit(config: dict) -> None:
        config["noise"]["levels"] = [*config["noise"]["levels"], 0.1]

    train_sets = sorted({e["train"] for e in PRESET["experiments"].values()})
    config = yaml.safe_load((REPO / "presets" / "smoke.yaml").read_text())
    edit(config)
    new_runs = {
        job for experiment in PRESET["experiments"] for job in training(experiment, config, "0.1")
    }
    expected = (
        {job for dataset in train_sets for job in noise(dataset, [0.1])}
        | new_runs
        | reports(
            "collect_metrics",
            "table1",
            "table2",
            "findings",
            "figure_training_curves",
            "figure_noise_patterns",
            "figure_retrieval_vs_classification",
            *DETECTION_REPORTS,
            "inshop_protocol",
        )
    )
    assert planned_jobs(finished, edit) == expected


def test_generator_change_rebuilds_that_dataset_and_dependents(finished: Path) -> None:
    def edit(config: dict) -> None:
        config["datasets"]["synth_faces"]["synthetic"]["seed"] += 1

    expected = (
        {("synth", "data/raw/synth_faces"), ("shard", "data/shards/synth_faces")}
        | noise("synth_faces", PRESET["noise"]["levels"])
        | training("faces")
        | reports(*(rule for rule in REPORTS if rule != "inshop_protocol"))
    )
    assert planned_jobs(finished, edit) == expected


def test_shard_setting_rebuilds_shards_and_their_users(finished: Path) -> None:
    # synth_lfw is only evaluated on (by faces): its models stay, their metrics are redone.
    def edit(config: dict) -> None:
        config["datasets"]["synth_lfw"]["shard_size"] = 123

    expected = (
        {("shard", "data/shards/synth_lfw")}
        | evaluation("faces")
        | reports("collect_metrics", "table1", "findings", "figure_retrieval_vs_classification")
    )
    assert planned_jobs(finished, edit) == expected


def test_extra_targets_decide_what_the_default_target_builds(tmp_path: Path) -> None:
    workdir = copy_workflow(tmp_path / "wf")

    def default_plan(extra_targets: list[str]) -> set[str]:
        config = dict(PRESET, extra_targets=extra_targets)
        (workdir / "edited.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
        result = run_snakemake(workdir, "-n", "--configfile", "edited.yaml")
        return {rule for rule, _ in parse_dry_run(result.stdout + result.stderr)}

    study_only = default_plan([])
    assert {"table1", "findings", "evaluate"} <= study_only
    assert not study_only & {"detect_run", "table4", "table3", "train_method"}
    assert default_plan(["table3", "table4"]) - study_only == {
        "detect_run",
        "table4",
        "figure_detection_pr",
        "train_method",
        "smooth_proxy_anchor_confidence",
        "evaluate_method",
        "table3",
        "figure_recovered_share",
    }
    # The protocol comparison re-evaluates the existing models: no training of its own.
    assert default_plan(["inshop_protocol"]) - study_only == {
        "evaluate_leave_one_out",
        "inshop_protocol",
    }
