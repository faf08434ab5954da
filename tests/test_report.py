"""`snakemake --report` renders the smoke run's tables and figures into one HTML file."""

from __future__ import annotations

import base64
import re
from pathlib import Path
from types import SimpleNamespace

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
@pytest.mark.xdist_group("smoke")  # the session's one smoke run
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


def test_captions_render_on_a_config_that_leaves_the_grid_out() -> None:
    """common.smk fills the schema's defaults into Snakemake's config itself, so a caption
    reading snakemake.config["noise"]["levels"] works on a config without `noise:`."""
    import jinja2

    from irnoise.config import read_yaml
    from irnoise.schema import with_defaults

    config = {key: read_yaml(REPO / "config.yaml")[key] for key in ("datasets", "experiments")}
    params = SimpleNamespace(names="sop", references="sop_train", level="0.1", seed=0)
    snakemake = SimpleNamespace(config=with_defaults(config), wildcards={}, params=params)
    environment = jinja2.Environment(undefined=jinja2.StrictUndefined)
    for caption in sorted((REPO / "workflow/report").glob("*.rst")):
        source = caption.read_text()
        text = environment.from_string(source).render(snakemake=snakemake)
        if 'snakemake.config["noise"]["levels"]' in source:
            assert "0.01, 0.05, 0.1" in text, caption.name
    common = (REPO / "workflow/rules/common.smk").read_text()
    assert "config.update(with_defaults(config))" in common
