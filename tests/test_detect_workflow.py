"""`irnoise detect` and Table 4 through the workflow: a user's folder with a misfiled
image, the smoke run's Table 4, and the commands' errors."""

from __future__ import annotations

import csv
import json

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.metrics import average_precision_score, roc_auc_score

from irnoise.cli import main

from detect_fixtures import MISFILED, misfiled_folder
from helpers import copy_workflow, run_snakemake

TINY_MODEL = {
    "backbone": "small_cnn",
    "embedding_size": 32,
    "gpus": 0,
    "threads": 1,
    "optimizer": "adamw",
    "epochs": 1,
    "batch_size": 16,
    "lr": 0.003,
    "lr_milestones": [2],
    "crop_size": 28,
    "runtime": 10,
    "mem_mb": 2000,
}


def user_config(workdir, experiments=True):
    config = {
        "datasets": {"mine": {"source": "folder", "image_size": 32, "shard_size": 20}},
        "experiments": {
            "mine": {**TINY_MODEL, "train": "mine", "eval": "mine", "task": "retrieval"}
        }
        if experiments
        else {},
        "noise": {"schemes": ["uniform"], "levels": [0.2]},
        "detect": {"k": 5, "top": 3},
    }
    path = workdir / "mine.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture(scope="module")
def user_run(tmp_path_factory):
    workdir = copy_workflow(tmp_path_factory.mktemp("detect"))
    misfiled_folder(workdir / "data/raw/mine")
    config = user_config(workdir)
    run_snakemake(
        # The target first: --configfile takes every name after it.
        workdir,
        "results/detect/mine/suspicious.csv",
        "--cores",
        "2",
        "--configfile",
        str(config),
    )
    return workdir


@pytest.mark.xdist_group("detect_user")  # one user_run
def test_the_misfiled_image_ranks_first(user_run):
    with open(user_run / "results/detect/mine/suspicious.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 4 * 12 + 1
    first = rows[0]
    assert first["rank"] == "1" and first["key"] == MISFILED
    assert first["path"].endswith(MISFILED)
    assert (first["label"], first["suggested"]) == ("blue", "red")
    assert float(first["score"]) > max(float(row["score"]) for row in rows[1:])
    assert (user_run / "results/detect/mine/top_suspicious.png").stat().st_size > 0


@pytest.mark.workflow
def test_moving_an_image_reshards_and_the_ranking_names_the_right_files(tmp_path):
    workdir = copy_workflow(tmp_path)
    images = misfiled_folder(workdir / "data/raw/mine")
    config = user_config(workdir)
    target = ["results/detect/mine/suspicious.csv", "--cores", "2", "--configfile", str(config)]
    run_snakemake(workdir, *target)
    unchanged = run_snakemake(workdir, *target, "-n")
    assert "Nothing to be done" in unchanged.stdout + unchanged.stderr
    moved = "train/red/misfiled_red.jpg"
    (images / MISFILED).rename(images / moved)
    result = run_snakemake(workdir, *target)
    log = result.stdout + result.stderr
    assert "rule shard:" in log and "rule detect_dataset:" in log
    with open(workdir / "results/detect/mine/suspicious.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert moved in {row["key"] for row in rows} and MISFILED not in {row["key"] for row in rows}
    for row in rows:  # every row is named by the file that was scored, in its class
        assert row["path"].endswith(row["key"]) and row["key"].split("/")[1] == row["label"]


@pytest.mark.xdist_group("detect_user")
def test_an_unknown_detector_is_named(user_run, capsys):
    run = user_run / "results/runs/mine/clean/0/seed0"
    code = main(
        [
            "detect",
            "--model",
            str(run / "model.pt"),
            "--shards",
            str(user_run / "data/shards/mine"),
            "--config",
            json.dumps({"crop_size": 28, "eval_batch_size": 8, "k": 3, "cleanlab_max_cells": 10}),
            "--out",
            str(user_run / "x.npz"),
            "--csv",
            str(user_run / "x.csv"),
            "--detector",
            "cleanlab",
        ]
    )
    assert code == 2
    assert "detector cleanlab did not run on this model and dataset" in capsys.readouterr().err


@pytest.mark.workflow
def test_a_dataset_without_a_trained_model_is_named(tmp_path):
    workdir = copy_workflow(tmp_path)
    misfiled_folder(workdir / "data/raw/mine")
    config = user_config(workdir)
    spec = yaml.safe_load(config.read_text())
    spec["datasets"]["other"] = spec["datasets"]["mine"] | {"root": "data/raw/mine"}
    config.write_text(yaml.safe_dump(spec))
    result = run_snakemake(
        workdir,
        "results/detect/other/suspicious.csv",
        "-n",
        "--configfile",
        str(config),
        check=False,
    )
    assert result.returncode != 0
    assert "needs a model trained on other: add an experiment with `train: other`" in (
        result.stdout + result.stderr
    )


@pytest.mark.xdist_group("smoke")  # the session's one smoke run
def test_table4_matches_scikit_learn_on_the_smoke_run(smoke_run):
    table = pd.read_csv(smoke_run / "results/table4.csv")
    assert set(table["detector"]) >= {"knn", "cleanlab"}
    assert set(table["scheme"]) == {"uniform", "large", "small"}
    run = smoke_run / "results/runs/sop/large/0.2/seed0/detect.npz"
    scores = np.load(run)["knn_score"]
    noisy = np.load(smoke_run / "data/labels/synth_sop/large/0.2/seed0.npy")
    changed = noisy != np.load(smoke_run / "data/shards/synth_sop/train_labels.npy")
    row = table.query("experiment == 'sop' and detector == 'knn' and scheme == 'large'").iloc[0]
    assert row["changed"] == changed.sum()
    # The CSV holds 6 significant digits.
    assert row["auroc"] == pytest.approx(roc_auc_score(changed, scores), abs=1e-5)
    assert row["average_precision"] == pytest.approx(
        average_precision_score(changed, scores), abs=1e-5
    )
    assert (smoke_run / "results/figures/fig_detection_pr.png").stat().st_size > 0


def test_table4_names_mismatched_inputs(tmp_path, capsys):
    args = ["--scores", "a", "b", "--labels", "a", "--clean", "c"]
    code = main(["table4", "--out", str(tmp_path / "t.csv"), *args])
    assert code == 2
    assert "must list one file per run each, got 2, 1 and 1" in capsys.readouterr().err


def test_detection_figure_names_a_missing_or_broken_table(tmp_path, capsys):
    table, out = tmp_path / "t4.csv", tmp_path / "fig.png"
    args = ["figure", "detection_pr", "--table", str(table), "--out", str(out)]
    args += ["--scores", "a", "--labels", "b", "--clean", "c"]
    assert main(args) == 2
    assert f"Table 4 {table} does not exist: build it with" in capsys.readouterr().err
    table.write_text("experiment,detector\nsop,knn\n")
    assert main(args) == 2
    assert f"Table 4 {table} lacks columns ['average_precision']" in capsys.readouterr().err
    assert not out.exists()
