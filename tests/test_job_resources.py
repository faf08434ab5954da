"""Evaluate and detect jobs ask the cluster for their experiment's time and memory.

Before, both were fixed at 60 minutes and the train job's memory: an MS1M-sized detection
(embedding 5.8M images, a kNN search, two class scores) could not be given more.
"""

from __future__ import annotations

import re
import subprocess

import pytest
import yaml

from helpers import REPO, copy_workflow, snakemake_command

pytestmark = pytest.mark.workflow

SETTINGS = {"eval_runtime": 77, "eval_mem_mb": 7777, "detect_runtime": 88, "detect_mem_mb": 8888}


def planned_resources(text: str) -> dict[str, set[tuple[int, int]]]:
    """{rule: {(runtime, mem_mb), ...}} of the jobs a dry run prints."""
    found: dict[str, set[tuple[int, int]]] = {}
    rule = None
    for line in text.splitlines():
        if header := re.match(r"^(?:local)?rule (\w+):$", line):
            rule = header.group(1)
        elif rule and (resources := re.search(r"runtime=(\d+), mem_mb=(\d+)", line)):
            found.setdefault(rule, set()).add((int(resources[1]), int(resources[2])))
    return found


def test_evaluate_and_detect_jobs_take_the_experiments_runtime_and_memory(tmp_path):
    workdir = copy_workflow(tmp_path / "workflow")
    config = yaml.safe_load((REPO / "presets" / "smoke.yaml").read_text())
    for experiment in config["experiments"].values():
        experiment.update(SETTINGS)
    (workdir / "edited.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    command = snakemake_command("-n", "--configfile", "edited.yaml", "--cores", "1")
    result = subprocess.run(command, cwd=workdir, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    planned = planned_resources(result.stdout + result.stderr)
    assert planned["evaluate"] == {(77, 7777)}
    assert planned["detect_run"] == {(88, 8888)}
