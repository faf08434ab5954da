"""metrics.csv and Table 1 against the metrics.json files they come from.

Expected values are recomputed here with plain Python (statistics.mean/stdev) from the
JSON files, independently of the pandas code under test.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import math
import statistics
from collections import defaultdict
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from scipy import stats

from irnoise.commands import collect as collect_command
from irnoise.commands import table1 as table1_command
from irnoise.errors import UserError
from irnoise.plan import parse_run_path
from irnoise.report.collect import COLUMNS

from fake_results import EXPERIMENTS, FakeResults, write_fake_results

LEVELS = (0.1, 0.2, 0.4)
SEEDS = (0, 1, 2)
# (experiment, metric) rows of Table 1, in the paper's order.
TABLE1_ROWS = [
    ("inshop", "R@1"),
    ("sop", "R@1"),
    ("faces", "R@1"),
    ("faces", "TPR@FPR=1e-3"),
    ("faces", "TPR@FPR=1e-3 (all pairs)"),
    ("imagenet", "accuracy"),
]


def run_command(module: ModuleType, *argv: str | Path) -> None:
    """A command as the CLI runs it, without needing every other command installed."""
    parser = argparse.ArgumentParser()
    module.add_arguments(parser)
    module.run(parser.parse_args([str(arg) for arg in argv]))


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def number(text: str) -> float:
    return math.nan if text == "" else float(text)


def values_by_condition(paths: list[Path]) -> dict[tuple, list[float]]:
    """{(experiment, scheme, level, metric): [value per seed]} straight from the JSON."""
    values: dict[tuple, list[float]] = defaultdict(list)
    for path in paths:
        data = json.loads(path.read_text())
        run = data["run"]
        for metric, value in data["metrics"].items():
            values[(run["experiment"], run["scheme"], float(run["level"]), metric)].append(value)
    return values


def uniform_files(results: FakeResults, name: str = "metrics.json") -> list[Path]:
    return [path.with_name(name) for path in results.metrics if "/large/" not in str(path)
            and "/small/" not in str(path)]  # fmt: skip


@pytest.fixture(scope="module")
def fake(tmp_path_factory: pytest.TempPathFactory) -> FakeResults:
    return write_fake_results(tmp_path_factory.mktemp("fake"), seeds=SEEDS, levels=LEVELS)


@pytest.fixture(scope="module")
def table(fake: FakeResults, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("table1") / "table1.csv"
    per_query = uniform_files(fake, "per_query.npz")
    run_command(
        table1_command, "--out", out, "--resamples", "300", "--per-query", *per_query, "--",
        *uniform_files(fake),
    )  # fmt: skip
    return out


def test_metrics_csv_has_one_row_per_run_and_metric(fake: FakeResults, tmp_path: Path) -> None:
    out = tmp_path / "metrics.csv"
    run_command(collect_command, "--out", out, *fake.metrics)
    rows = read_csv(out)
    assert list(rows[0]) == COLUMNS
    expected = values_by_condition(fake.metrics)
    assert len(rows) == sum(len(values) for values in expected.values())
    got: dict[tuple, list[float]] = defaultdict(list)
    for row in rows:
        key = (row["experiment"], row["scheme"], float(row["level"]), row["metric"])
        got[key].append(float(row["value"]))
        train, eval_, task = EXPERIMENTS[row["experiment"]][:3]
        assert (row["train"], row["eval"], row["task"]) == (train, eval_, task)
    assert {key: sorted(v) for key, v in got.items()} == {
        key: sorted(v) for key, v in expected.items()
    }
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.csv"], "no temporary file left"


def test_table1_shape_and_row_order(table: Path) -> None:
    rows = read_csv(table)
    assert [(row["experiment"], row["metric"]) for row in rows] == TABLE1_ROWS
    levels = [f"{level:g}" for level in LEVELS]
    expected_columns = ["experiment", "dataset", "task", "metric", "clean", "clean_std"]
    for level in levels:
        expected_columns += [level, f"{level}_std"]
    expected_columns += [f"achieved@{level}" for level in levels]
    for level in levels:
        expected_columns += [f"drop@{level}", f"drop@{level}_low", f"drop@{level}_high"]
    assert list(rows[0]) == expected_columns
    assert rows[2]["dataset"] == "synth_faces -> synth_lfw"


def test_table1_values_are_mean_std_and_relative_drop(fake: FakeResults, table: Path) -> None:
    values = values_by_condition(fake.metrics)
    for row in read_csv(table):
        experiment, metric = row["experiment"], row["metric"]
        clean = values[(experiment, "clean", 0.0, metric)]
        assert len(clean) == len(SEEDS)
        assert number(row["clean"]) == pytest.approx(100 * statistics.mean(clean))
        assert number(row["clean_std"]) == pytest.approx(100 * statistics.stdev(clean))
        for level in LEVELS:
            noisy = values[(experiment, "uniform", level, metric)]
            name = f"{level:g}"
            assert number(row[name]) == pytest.approx(100 * statistics.mean(noisy))
            assert number(row[f"{name}_std"]) == pytest.approx(100 * statistics.stdev(noisy))
            drop = (statistics.mean(clean) - statistics.mean(noisy)) / statistics.mean(clean)
            assert number(row[f"drop@{name}"]) == pytest.approx(100 * drop)
            low, high = number(row[f"drop@{name}_low"]), number(row[f"drop@{name}_high"])
            assert low < 100 * drop < high


def test_table1_markdown_shows_mean_std_and_drops(table: Path) -> None:
    markdown = table.with_suffix(".md").read_text()
    lines = [line for line in markdown.splitlines() if line.startswith("|")]
    assert len(lines) == 2 + len(TABLE1_ROWS)
    assert "| Clean | 10% noise | 20% noise | 40% noise | Achieved @10% |" in lines[0]
    first = read_csv(table)[0]
    clean = f"{float(first['clean']):.1f} ± {float(first['clean_std']):.1f}"
    drop = f"{float(first['drop@0.4']):.1f}% [{float(first['drop@0.4_low']):.1f}, "
    assert clean in lines[2] and drop in lines[2]
    assert "3 seeds" in markdown
    assert "95% intervals: seed-level t intervals" in markdown
    assert "paired two-stage bootstrap (300 resamples) over the seeds" in markdown


def test_table1_shows_the_achieved_noise_rate_beside_the_nominal_level(
    fake: FakeResults, tmp_path: Path
) -> None:
    """Achieved: the stats files' noise_rate, mean over seeds, per train dataset and level;
    here synth_sop's labels change less than nominal (as shuffled labels can stay)."""
    stats = []
    for path in fake.stats:
        record = json.loads(path.read_text())
        if record["scheme"] != "uniform":
            continue
        if record["dataset"] == "synth_sop":
            record["noise_rate"] = record["level"] * (0.7 + 0.1 * record["seed"])
        stats.append(tmp_path / f"{len(stats)}.json")
        stats[-1].write_text(json.dumps(record))
    out = tmp_path / "table1.csv"
    run_command(table1_command, "--out", out, "--stats", *stats, "--", *uniform_files(fake))
    rows = {(row["experiment"], row["metric"]): row for row in read_csv(out)}
    for level in LEVELS:
        name = f"achieved@{level:g}"
        assert number(rows[("sop", "R@1")][name]) == pytest.approx(100 * level * 0.8)
        assert number(rows[("inshop", "R@1")][name]) == pytest.approx(100 * level)
        assert number(rows[("faces", "TPR@FPR=1e-3")][name]) == pytest.approx(100 * level)
    markdown = out.with_suffix(".md").read_text()
    sop = next(line for line in markdown.splitlines() if line.startswith("| sop |"))
    assert "| 8.0% | 16.0% | 32.0% |" in sop
    assert "Achieved: labels actually changed" in markdown


def test_table1_with_one_seed_has_no_std(tmp_path: Path) -> None:
    fake = write_fake_results(tmp_path / "runs", seeds=(0,), levels=(0.2,))
    out = tmp_path / "table1.csv"
    run_command(table1_command, "--out", out, "--md", tmp_path / "t1.md", *fake.metrics)
    rows = read_csv(out)
    assert len(rows) == len(TABLE1_ROWS)
    assert all(row["clean_std"] == "" and row["0.2_std"] == "" for row in rows)
    assert "±" not in (tmp_path / "t1.md").read_text()


def test_table1_from_metrics_csv_equals_from_json(fake: FakeResults, table: Path, tmp_path: Path):
    """Through results/metrics.csv (all schemes) the table is the same: other schemes ignored."""
    metrics_csv = tmp_path / "metrics.csv"
    run_command(collect_command, "--out", metrics_csv, *fake.metrics)
    out = tmp_path / "table1.csv"
    run_command(table1_command, "--metrics", metrics_csv, "--out", out)
    for got, expected in zip(read_csv(out), read_csv(table), strict=True):
        assert got.keys() == expected.keys()
        for key, value in expected.items():
            if key.endswith(("_low", "_high")):
                assert got[key] == ""  # no per-query arrays: no intervals
            elif key in ("experiment", "dataset", "task", "metric"):
                assert got[key] == value
            else:
                assert number(got[key]) == pytest.approx(number(value), nan_ok=True)


def naive_drop_interval(clean: list[Path], noisy: list[Path], resamples: int, seed: int):
    """The paired two-stage bootstrap of R@1's relative drop as a plain loop."""
    rng = np.random.default_rng(seed)
    runs = [(np.load(c), np.load(n)) for c, n in zip(clean, noisy, strict=True)]
    runs = [(c["hits"][:, 0], n["hits"][:, 0], c["valid"]) for c, n in runs]
    drops = []
    for _ in range(resamples):
        clean_sum = noisy_sum = 0.0
        for s in rng.integers(0, len(runs), len(runs)):
            clean_hits, noisy_hits, valid = runs[s]
            queries = rng.integers(0, len(valid), len(valid))
            kept = queries[valid[queries]]
            clean_sum += clean_hits[kept].mean()
            noisy_sum += noisy_hits[kept].mean()  # the same queries: paired
        drops.append((clean_sum - noisy_sum) / clean_sum)
    # The seed-level t interval around the full-data drop (irnoise.report.bootstrap).
    full_clean = np.mean([c[v].mean() for c, _, v in runs])
    full_noisy = np.mean([n[v].mean() for _, n, v in runs])
    estimate = (full_clean - full_noisy) / full_clean
    seeds = len(runs)
    half = stats.t.ppf(0.975, seeds - 1) * np.std(drops, ddof=1) * np.sqrt(seeds / (seeds - 1))
    return np.array([estimate - half, estimate + half])


def test_table1_intervals_agree_with_a_naive_loop_bootstrap(tmp_path: Path) -> None:
    fake = write_fake_results(tmp_path / "runs", seeds=(0, 1), levels=(0.4,), experiments=("sop",))
    out = tmp_path / "table1.csv"
    per_query = uniform_files(fake, "per_query.npz")
    run_command(table1_command, "--out", out, "--per-query", *per_query, "--", *fake.metrics)
    row = read_csv(out)[0]
    clean = [p for p in per_query if "/clean/" in str(p)]
    noisy = [p for p in per_query if "/uniform/" in str(p)]
    low, high = 100 * naive_drop_interval(clean, noisy, 2000, seed=123)
    # Two Monte Carlo estimates of the same interval: equal up to resampling error.
    width = high - low
    assert number(row["drop@0.4_low"]) == pytest.approx(low, abs=0.1 * width)
    assert number(row["drop@0.4_high"]) == pytest.approx(high, abs=0.1 * width)


def test_collect_without_files_says_what_to_pass(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"no metrics files given.*metrics\.json"):
        run_command(collect_command, "--out", tmp_path / "metrics.csv")
    assert not (tmp_path / "metrics.csv").exists()


def test_table1_without_clean_run_names_experiment(fake: FakeResults, tmp_path: Path) -> None:
    no_clean = [p for p in uniform_files(fake) if "/sop/clean/" not in str(p)]
    with pytest.raises(UserError, match=r"'sop' has no clean run.*sop/clean/0/seed"):
        run_command(table1_command, "--out", tmp_path / "table1.csv", *no_clean)
    assert not (tmp_path / "table1.csv").exists()


def test_table1_without_inputs(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="no metrics files given"):
        run_command(table1_command, "--out", tmp_path / "table1.csv")


def test_corrupt_or_duplicated_metrics_files(fake: FakeResults, tmp_path: Path) -> None:
    broken = tmp_path / "runs" / "sop" / "clean" / "0" / "seed0" / "metrics.json"
    broken.parent.mkdir(parents=True)
    broken.write_text("{not json")
    with pytest.raises(UserError, match=r"metrics\.json is not valid JSON"):
        run_command(collect_command, "--out", tmp_path / "m.csv", broken)
    broken.write_text(json.dumps({"metrics": {}}))
    with pytest.raises(UserError, match="lacks its 'run'"):
        run_command(collect_command, "--out", tmp_path / "m.csv", broken)
    with pytest.raises(UserError, match="more than one metrics file"):
        run_command(
            collect_command, "--out", tmp_path / "m.csv", *fake.metrics[:2], fake.metrics[0]
        )


def test_run_paths_are_parsed() -> None:
    run = parse_run_path("results/runs/sop/uniform/0.05/seed3/history.csv")
    assert (run.experiment, run.scheme, run.level, run.seed) == ("sop", "uniform", 0.05, 3)
    with pytest.raises(UserError, match="expected a path like results/runs/"):
        parse_run_path("results/sop/history.csv")


def test_cli_prints_user_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Through the real `irnoise` entry point: every command module must exist."""
    from irnoise import cli

    missing = [n for n in cli.COMMANDS if importlib.util.find_spec(f"irnoise.commands.{n}") is None]
    assert missing == []
    assert cli.main(["collect", "--out", str(tmp_path / "m.csv")]) == 2
    assert "irnoise collect: error: no metrics files given" in capsys.readouterr().err


def test_table1_leaves_the_achieved_rate_out_where_the_experiment_did_not_train(
    fake: FakeResults, tmp_path: Path
) -> None:
    """Label files cover every level of the grid; an experiment may train at fewer."""
    metrics = [path for path in uniform_files(fake) if "sop/uniform/0.4/" not in str(path)]
    out = tmp_path / "table1.csv"
    run_command(table1_command, "--out", out, "--stats", *fake.stats, "--", *metrics)
    rows = {(row["experiment"], row["metric"]): row for row in read_csv(out)}
    assert rows[("sop", "R@1")]["achieved@0.4"] == ""
    assert number(rows[("inshop", "R@1")]["achieved@0.4"]) == pytest.approx(40.0, abs=1)
