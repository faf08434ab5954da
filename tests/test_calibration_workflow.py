"""presets/calibration.yaml through Snakemake, scaled down like the smoke preset: clean
validation metrics per experiment and seed from held-out shards, and a holdout change
reshards that dataset and reruns only what reads it."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import yaml
from test_incremental import parse_dry_run

from helpers import REPO, copy_workflow, run_snakemake

pytestmark = [pytest.mark.workflow, pytest.mark.xdist_group("calibration")]  # one fixture run

TARGET = "results/metrics.csv"
# The smoke preset's sizes: a few images per class, two epochs of a tiny network.
SCALES = {"sop": 0.005, "inshop": 0.01, "faces": 0.03, "imagenet": 0.01}
TINY = {
    "embedding_size": 64,
    "width": 8,
    "epochs": 2,
    "lr_milestones": [2],
    "batch_size": 32,
    "crop_size": 28,
}


def scaled_down() -> dict:
    config = yaml.safe_load((REPO / "presets" / "calibration.yaml").read_text())
    for dataset in config["datasets"].values():
        dataset["synthetic"] |= {"scale": SCALES[dataset["synthetic"]["shape"]], "image_size": 32}
        dataset |= {"image_size": 32, "shard_size": 200}
    # The pretraining too: a backbone loads only into a network of the same width.
    for run in [*config.get("pretraining", {}).values(), *config["experiments"].values()]:
        run |= TINY
    return config


def write_config(workdir: Path, config: dict, name: str) -> str:
    (workdir / name).write_text(yaml.safe_dump(config, sort_keys=False))
    return name


@pytest.fixture(scope="module")
def calibration_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    workdir = copy_workflow(tmp_path_factory.mktemp("calibration"))
    config = write_config(workdir, scaled_down(), "calibration.yaml")
    run_snakemake(workdir, TARGET, "--cores", "2", "--configfile", config)
    return workdir


def test_clean_validation_metrics_per_experiment_and_seed(calibration_run: Path) -> None:
    config = scaled_down()
    with (calibration_run / TARGET).open() as handle:
        rows = list(csv.DictReader(handle))
    runs = {(row["experiment"], row["scheme"], row["seed"]) for row in rows}
    assert runs == {
        (name, "clean", str(seed)) for name in config["experiments"] for seed in config["seeds"]
    }
    metrics = {(row["experiment"], row["metric"]) for row in rows}
    for name in ("sop_val", "inshop_val", "faces_val"):
        assert (name, "R@1") in metrics and (name, "MAP@R") in metrics
    assert ("imagenet_val", "accuracy") in metrics
    assert all(0 <= float(row["value"]) <= 1 for row in rows if row["value"] != "nan")


def test_held_out_shards_have_only_train_and_the_validation_split(calibration_run: Path) -> None:
    expected = {
        "synth_sop_val": {"train", "test"},
        "synth_inshop_val": {"train", "test"},  # query and gallery dropped
        "synth_faces_val": {"train", "test"},
        "synth_imagenet_val": {"train", "val"},
    }
    for name, splits in expected.items():
        manifest = json.loads((calibration_run / f"data/shards/{name}/manifest.json").read_text())
        assert set(manifest["splits"]) == splits and manifest["pairs"] == 0


def test_a_holdout_change_reshards_only_that_dataset(calibration_run: Path) -> None:
    config = scaled_down()
    unchanged = write_config(calibration_run, config, "unchanged.yaml")
    result = run_snakemake(calibration_run, TARGET, "-n", "--configfile", unchanged)
    assert parse_dry_run(result.stdout + result.stderr) == set()

    config["datasets"]["synth_sop_val"]["holdout_seed"] = 1
    edited = write_config(calibration_run, config, "edited.yaml")
    result = run_snakemake(calibration_run, TARGET, "-n", "--configfile", edited)
    planned = parse_dry_run(result.stdout + result.stderr)
    # Every candidate recipe on the SOP-shaped validation set, and only those.
    runs = [
        f"results/runs/{name}/clean/0/seed{seed}"
        for name, experiment in config["experiments"].items()
        if "synth_sop_val" in (experiment["train"], experiment["eval"])
        for seed in config["seeds"]
    ]
    assert len(runs) == 3 * len(config["seeds"])
    assert planned == {
        ("shard", "data/shards/synth_sop_val"),
        *(("train", f"{run}/model.pt") for run in runs),
        *(("evaluate", f"{run}/metrics.json") for run in runs),
        ("collect_metrics", TARGET),
    }
