"""Config strings reach shell commands quoted: a hostile dataset root runs nothing, and a
root with a space works (the shard job reads it)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from dataset_fixtures import build_class_folders
from helpers import copy_workflow, run_snakemake

pytestmark = pytest.mark.workflow


def folder_dataset(root: str) -> dict:
    return {"source": "folder", "root": root, "image_size": 16, "shard_size": 10}


def test_hostile_root_runs_nothing_and_a_root_with_a_space_works(tmp_path: Path) -> None:
    workdir = copy_workflow(tmp_path / "wf")
    for split in ("train", "test"):
        build_class_folders(workdir / "own data" / split, {"a": 2, "b": 2})
    marker = tmp_path / "marker"
    config = {
        "datasets": {
            "spaced": folder_dataset("own data"),
            "hostile": folder_dataset(f"own/f$(touch {marker})"),
        },
        "experiments": {"e": {"train": "spaced", "eval": "spaced", "task": "retrieval"}},
    }
    (workdir / "case.yaml").write_text(yaml.safe_dump(config))
    targets = ("data/shards/spaced", "data/shards/hostile")
    result = run_snakemake(
        workdir, *targets, "--cores", "1", "--keep-going", "--configfile", "case.yaml", check=False
    )
    assert not marker.exists(), "a config string was run by the shell"
    assert result.returncode != 0  # the hostile root is no folder
    log = (workdir / "logs" / "shard" / "hostile.log").read_text()
    assert f"own/f$(touch {marker})" in log, log
    manifest = yaml.safe_load(
        (workdir / "data" / "shards" / "spaced" / "manifest.json").read_text()
    )
    assert manifest["splits"]["train"]["count"] == 4
