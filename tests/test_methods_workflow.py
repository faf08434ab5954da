"""Table 3 through Snakemake: the smoke preset's filtering method (PRISM) end to end, and
the method axis's incremental reruns (adding a method adds only its runs)."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
import yaml
from test_incremental import parse_dry_run

from helpers import REPO, run_snakemake

pytestmark = [pytest.mark.workflow, pytest.mark.xdist_group("smoke")]

TARGETS = ("results/table3.csv", "results/figures/fig_recovered_share.png")
PRESET = yaml.safe_load((REPO / "presets" / "smoke.yaml").read_text())


@pytest.fixture(scope="module")
def table3_run(smoke_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the finished smoke run with Table 3 built on top of it."""
    workdir = tmp_path_factory.mktemp("table3") / "wf"
    shutil.copytree(smoke_run, workdir, symlinks=True)
    # Targets first: --configfile takes several values and would swallow them.
    run_snakemake(workdir, *TARGETS, "--cores", "2", "--configfile", "presets/smoke.yaml")
    return workdir


def method_runs(method: str) -> list[str]:
    table3 = PRESET["table3"]
    return [
        f"results/methods/{method}/sop/{scheme}/{level:g}/seed{seed}"
        for scheme in PRESET["noise"]["schemes"]
        for level in table3["levels"]
        for seed in table3["seeds"]
    ]


def planned(workdir: Path, config: dict, *targets: str) -> set[tuple[str, str]]:
    (workdir / "edited.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    result = run_snakemake(workdir, *targets, "-n", "--configfile", "edited.yaml")
    return parse_dry_run(result.stdout + result.stderr)


def test_prism_runs_end_to_end_into_table3(table3_run: Path) -> None:
    with (table3_run / TARGETS[0]).open() as handle:
        rows = list(csv.DictReader(handle))
    methods = PRESET["experiments"]["sop"]["methods"]
    assert {(row["method"], row["scheme"]) for row in rows} == {
        (method, scheme) for method in methods for scheme in PRESET["noise"]["schemes"]
    }
    for run in method_runs("prism"):
        summary = json.loads((table3_run / run / "filter.json").read_text())
        assert summary["method"]["name"] == "prism" and summary["dropped"] > 0
        metrics = json.loads((table3_run / run / "metrics.json").read_text())
        assert metrics["run"]["method"] == "prism"
    assert (table3_run / TARGETS[1]).stat().st_size > 0


def test_adding_a_method_adds_only_its_runs(table3_run: Path) -> None:
    config = yaml.safe_load((REPO / "presets" / "smoke.yaml").read_text())
    config["experiments"]["sop"]["methods"].append("knn")
    expected = {
        job
        for run in method_runs("knn")
        for job in (("train_method", f"{run}/model.pt"), ("evaluate_method", f"{run}/metrics.json"))
    } | {("table3", TARGETS[0]), ("figure_recovered_share", TARGETS[1])}
    assert planned(table3_run, config, *TARGETS) == expected


def test_a_method_parameter_reruns_that_method_only(table3_run: Path) -> None:
    config = yaml.safe_load((REPO / "presets" / "smoke.yaml").read_text())
    config["experiments"]["sop"]["method_params"] = {"prism": {"window": 3}}
    expected = {
        job
        for run in method_runs("prism")
        for job in (("train_method", f"{run}/model.pt"), ("evaluate_method", f"{run}/metrics.json"))
    } | {("table3", TARGETS[0]), ("figure_recovered_share", TARGETS[1])}
    assert planned(table3_run, config, *TARGETS) == expected


def test_the_method_list_does_not_touch_the_study(table3_run: Path) -> None:
    config = yaml.safe_load((REPO / "presets" / "smoke.yaml").read_text())
    del config["experiments"]["sop"]["methods"]
    assert planned(table3_run, config) == set()


def test_the_new_methods_run_end_to_end_into_table3(table3_run: Path) -> None:
    """The oracle's control, Proxy-Anchor, and the staged Smooth Proxy-Anchor and CleanNet."""
    for method in ("random_subset", "proxy_anchor", "smooth_proxy_anchor", "cleannet"):
        for run in method_runs(method):
            metrics = json.loads((table3_run / run / "metrics.json").read_text())
            assert metrics["run"]["method"] == method
            summary = json.loads((table3_run / run / "filter.json").read_text())
            assert summary["method"]["name"] == method
    for run in method_runs("smooth_proxy_anchor"):
        assert (table3_run / run / "stage1" / "confidence.npz").is_file()
    for run in method_runs("random_subset"):
        summary = json.loads((table3_run / run / "filter.json").read_text())
        assert summary["dropped"] == summary["changed"]  # as many rows as the oracle keeps
    with (table3_run / TARGETS[0]).open() as handle:
        rows = list(csv.DictReader(handle))
    assert all(row["gain"] != "" for row in rows if row["method"] != "none")
