"""The figures are drawn from runs' outputs, through `irnoise figure`, as real PNGs.

Whether a figure shows what it claims is judged by looking at it; these tests check the
plumbing: inputs parsed, files written whole, clear errors, light imports, captions.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import types
from pathlib import Path

import pytest
from PIL import Image

from irnoise.commands import figure as figure_command
from irnoise.errors import UserError
from irnoise.schema import schema_default

from fake_results import FakeResults, write_fake_results
from helpers import REPO

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
RESAMPLES = schema_default("statistics", "resamples")
CONFIDENCE = schema_default("statistics", "confidence")
MY_FIGURES = ("training_curves", "noise_patterns", "retrieval_vs_classification")


def draw(*argv: str | Path) -> None:
    """`irnoise figure ...` as the CLI runs it."""
    parser = argparse.ArgumentParser(prog="irnoise figure")
    figure_command.add_arguments(parser)
    figure_command.run(parser.parse_args([str(arg) for arg in argv]))


def retrieval(paths: list[Path]) -> list[Path]:
    return [p for p in paths if "/sop/" in str(p) or "/inshop/" in str(p)]


def uniform(paths: list[Path]) -> list[Path]:
    return [p for p in paths if "/large/" not in str(p) and "/small/" not in str(p)]


def figure_arguments(name: str, results: FakeResults) -> list[str | Path]:
    """Inputs as the workflow's rules pass them."""
    if name == "training_curves":
        return uniform(results.history)
    if name == "noise_patterns":
        return ["--stats", *results.stats, "--per-query", *retrieval(results.per_query),
                "--metrics", *retrieval(results.metrics)]  # fmt: skip
    return ["--per-query", *uniform(results.per_query), "--", *uniform(results.metrics)]


def assert_png(path: Path, min_width: int, min_height: int) -> None:
    assert path.read_bytes()[:8] == PNG_MAGIC
    assert path.stat().st_size > 20_000, "an empty figure compresses to almost nothing"
    with Image.open(path) as image:
        width, height = image.size
    assert width >= min_width and height >= min_height
    assert width <= 4000 and height <= 4000
    assert [p.name for p in path.parent.iterdir()] == [path.name], "no temporary file left"


@pytest.fixture(scope="module", params=[(0, 1, 2), (0,)], ids=["3seeds", "1seed"])
def results(request: pytest.FixtureRequest, tmp_path_factory) -> FakeResults:
    return write_fake_results(tmp_path_factory.mktemp("runs"), seeds=request.param)


@pytest.mark.parametrize("name", MY_FIGURES)
def test_figure_is_written(name: str, results: FakeResults, tmp_path: Path) -> None:
    out = tmp_path / "figures" / f"{name}.png"
    draw(name, "--out", out, *figure_arguments(name, results))
    # Four experiments in 2 x 2, three panels in a row, two panels in a row.
    assert_png(out, min_width=1000, min_height=450)


def test_drop_error_bars_are_table1s_intervals(tmp_path: Path) -> None:
    """The figure's error bars and Table 1's intervals come from the same resamples."""
    import csv

    from irnoise.commands import table1 as table1_command
    from irnoise.report.figures.retrieval_vs_classification import uniform_drops

    results = write_fake_results(tmp_path / "runs", seeds=(0, 1), levels=(0.2,))
    metrics, per_query = uniform(results.metrics), uniform(results.per_query)
    drops = uniform_drops(metrics, per_query, RESAMPLES, CONFIDENCE)
    parser = argparse.ArgumentParser()
    table1_command.add_arguments(parser)
    out = tmp_path / "table1.csv"
    argv = ["--out", out, "--per-query", *per_query, "--", *metrics]
    table1_command.run(parser.parse_args([str(arg) for arg in argv]))
    with out.open(newline="") as handle:
        table = list(csv.DictReader(handle))
    for row in table:
        same = (drops["experiment"] == row["experiment"]) & (drops["metric"] == row["metric"])
        point = drops[same & (drops["level"] == 0.2)].iloc[0]
        assert 100 * point["drop_low"] == pytest.approx(float(row["drop@0.2_low"]))
        assert 100 * point["drop_high"] == pytest.approx(float(row["drop@0.2_high"]))
        assert point["drop_low"] < point["drop"] < point["drop_high"]


def test_aliases_and_other_schemes_left_out(tmp_path: Path) -> None:
    results = write_fake_results(tmp_path / "runs", seeds=(0,), levels=(0.2,), experiments=("sop",))
    out = tmp_path / "figures" / "fig2.png"
    draw("fig2", "--out", out, *results.history)  # large/small histories are skipped
    assert_png(out, min_width=500, min_height=400)


def test_noise_patterns_without_stats_has_no_corrupted_panel(tmp_path: Path) -> None:
    results = write_fake_results(tmp_path / "runs", seeds=(0,), experiments=("sop",))
    one_panel, two_panels = tmp_path / "one" / "f.png", tmp_path / "two" / "f.png"
    draw("noise_patterns", "--out", one_panel, "--metrics", *results.metrics)
    draw("fig3", "--out", two_panels, "--stats", *results.stats, "--metrics", *results.metrics)
    with Image.open(one_panel) as one, Image.open(two_panels) as two:
        assert two.size[0] > 1.5 * one.size[0]


def test_errors_name_the_problem(tmp_path: Path) -> None:
    results = write_fake_results(tmp_path / "runs", seeds=(0,), levels=(0.2,))
    out = tmp_path / "f.png"
    with pytest.raises(UserError, match=r"no history\.csv files given"):
        draw("training_curves", "--out", out)
    with pytest.raises(UserError, match="expected a path like results/runs/"):
        draw("training_curves", "--out", out, tmp_path / "history.csv")
    no_clean = [p for p in uniform(results.metrics) if "/imagenet/clean/" not in str(p)]
    with pytest.raises(UserError, match="'imagenet' has no clean run"):
        draw("retrieval_vs_classification", "--out", out, *no_clean)
    faces_only = [p for p in results.metrics if "/faces/" in str(p)]
    with pytest.raises(UserError, match="no R@1 of a retrieval experiment"):
        draw("noise_patterns", "--out", out, "--metrics", *faces_only)
    with pytest.raises(UserError, match="no metrics files given"):
        draw("noise_patterns", "--out", out)
    assert not out.exists()


def test_missing_figure_module_leaves_the_others(monkeypatch, tmp_path: Path) -> None:
    figures = dict(figure_command.FIGURES, ghost="irnoise.report.figures.ghost")
    monkeypatch.setattr(figure_command, "FIGURES", figures)
    with pytest.raises(UserError, match=r"'ghost' is not available"):
        draw("ghost", "--out", tmp_path / "g.png")
    results = write_fake_results(tmp_path / "runs", seeds=(0,), levels=(0.2,), experiments=("sop",))
    draw("training_curves", "--out", tmp_path / "f.png", *results.history)
    assert (tmp_path / "f.png").stat().st_size > 0


def test_modules_import_only_the_standard_library() -> None:
    modules = [
        "irnoise.commands.collect",
        "irnoise.commands.table1",
        "irnoise.commands.findings",
        "irnoise.commands.figure",
        *(f"irnoise.report.figures.{name}" for name in MY_FIGURES),
    ]
    code = (
        f"import sys; import {', '.join(modules)}; "
        "heavy = {'numpy', 'pandas', 'matplotlib', 'torch'} & set(sys.modules); "
        "sys.exit(f'imported at module level: {sorted(heavy)}' if heavy else 0)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_report_captions_render() -> None:
    """Every caption renders as Snakemake does: Jinja2 (config, params), then reST to HTML."""
    import jinja2
    import yaml
    from docutils.core import publish_parts
    from docutils.writers import get_writer_class

    from irnoise.schema import with_defaults

    # As common.smk does: the schema fills every default into the config captions read.
    config = with_defaults(yaml.safe_load((REPO / "config.yaml").read_text()))
    config.setdefault("reference_histograms", ["sop_train", "cub_train"])
    params = types.SimpleNamespace(names="synth_sop", references="sop_train", level="0.4", seed=0)
    snakemake = types.SimpleNamespace(config=config, params=params)
    environment = jinja2.Environment(undefined=jinja2.StrictUndefined)
    captions = sorted((REPO / "workflow" / "report").glob("*.rst"))
    names = {path.stem for path in captions}
    assert {"metrics", "table1", "table2", "fig1", "fig2", "fig3"} <= names
    assert "retrieval_vs_classification" in names
    for path in captions:
        text = environment.from_string(path.read_text()).render(snakemake=snakemake)
        settings = {"halt_level": 2, "report_level": 2}  # a reST warning fails the test
        html = get_writer_class("html")()  # the writer Snakemake's report uses
        assert publish_parts(text, writer=html, settings_overrides=settings)["body"]
