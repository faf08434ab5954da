"""`snakemake --report` renders the smoke run's tables and figures into one HTML file."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest

from helpers import REPO, run_snakemake

TABLES = ("results/metrics.csv", "results/table1.csv", "results/table2.csv")
FIGURES = (
    "results/figures/fig1_class_sizes.png",
    "results/figures/fig2_training_curves.png",
    "results/figures/fig3_noise_patterns.png",
    "results/figures/fig_retrieval_vs_classification.png",
)


def test_install_brings_what_the_report_needs() -> None:
    """pygments comes with snakemake's `reports` extra; without it --report stops at once."""
    pyproject = (REPO / "pyproject.toml").read_text()
    dependencies = pyproject.split("dependencies = [", 1)[1].split("]\n", 1)[0]
    assert re.search(r'^\s*"snakemake\[reports\]>=', dependencies, re.MULTILINE)


@pytest.mark.workflow
def test_report_embeds_every_table_and_figure(smoke_run: Path, tmp_path: Path) -> None:
    report = tmp_path / "report.html"
    run_snakemake(smoke_run, "--configfile", "presets/smoke.yaml", "--report", str(report))
    html = report.read_text(encoding="utf-8")
    for output in TABLES + FIGURES:
        # The report carries each file itself (base64), not a link to the results folder.
        content = base64.b64encode((smoke_run / output).read_bytes()).decode()
        assert content in html, f"{output} is not in the report"
    for caption in ("Table 1", "Table 2", "Figure 1"):
        assert caption in html
