"""Table 3: R@1, the share of the drop recovered and the filters' precision/recall, with
their intervals, against naive numpy and scipy's bootstrap."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from irnoise.errors import UserError
from irnoise.evaluate.per_query import save_per_query
from irnoise.report.bootstrap import seed_bootstrap
from irnoise.report.collect import metrics_frame
from irnoise.report.table3 import (
    NO_DROP_MARK,
    build_table3,
    markdown,
    read_filters,
    recovered_share,
)
from irnoise.schema import schema_default

RESAMPLES = schema_default("statistics", "resamples")
CONFIDENCE = schema_default("statistics", "confidence")
SEEDS = (0, 1, 2, 3, 4)
CLEAN = {0: 0.80, 1: 0.78, 2: 0.82, 3: 0.79, 4: 0.81}
NONE = {0: 0.60, 1: 0.55, 2: 0.62, 3: 0.58, 4: 0.61}
PRISM = {0: 0.70, 1: 0.66, 2: 0.69, 3: 0.71, 4: 0.64}
FILTERS = {0: (0.5, 0.4), 1: (0.6, 0.3), 2: (0.55, 0.45), 3: (0.52, 0.5), 4: (0.58, 0.35)}


def write_metrics(root: Path, method: str, scheme: str, level: float, seed: int, r1: float):
    base = root / ("results/runs" if method == "none" else f"results/methods/{method}")
    directory = base / "sop" / scheme / f"{level:g}" / f"seed{seed}"
    directory.mkdir(parents=True, exist_ok=True)
    run = {"experiment": "sop", "train": "s", "eval": "s", "task": "retrieval",
           "scheme": scheme, "level": level, "seed": seed}  # fmt: skip
    if method != "none":
        run["method"] = method
    path = directory / "metrics.json"
    path.write_text(json.dumps({"run": run, "metrics": {"R@1": r1, "MAP@R": r1 / 2}}))
    return path


def write_filter(root: Path, seed: int, precision: float, recall: float) -> Path:
    path = root / f"results/methods/prism/sop/uniform/0.1/seed{seed}/filter.json"
    path.write_text(json.dumps({"precision": precision, "recall": recall, "dropped": 5}))
    return path


@pytest.fixture
def table3_inputs(tmp_path):
    metrics = [write_metrics(tmp_path, "none", "clean", 0, s, CLEAN[s]) for s in SEEDS]
    metrics += [write_metrics(tmp_path, "none", "uniform", 0.1, s, NONE[s]) for s in SEEDS]
    metrics += [write_metrics(tmp_path, "prism", "uniform", 0.1, s, PRISM[s]) for s in SEEDS]
    filters = [write_filter(tmp_path, s, *FILTERS[s]) for s in SEEDS]
    return metrics_frame(metrics), read_filters(filters)


def test_point_values_match_numpy(table3_inputs):
    table = build_table3(*table3_inputs, (), RESAMPLES, CONFIDENCE)
    prism = table[table["method"] == "prism"].iloc[0]
    clean, none, mine = (np.mean(list(d.values())) for d in (CLEAN, NONE, PRISM))
    assert prism["r1"] == pytest.approx(100 * mine)
    assert prism["recovered"] == pytest.approx(100 * (mine - none) / (clean - none))
    assert prism["precision"] == pytest.approx(100 * np.mean([p for p, _ in FILTERS.values()]))
    assert prism["recall"] == pytest.approx(100 * np.mean([r for _, r in FILTERS.values()]))
    assert prism["drop"] == pytest.approx(100 * (clean - none))
    none_row = table[table["method"] == "none"].iloc[0]
    assert none_row["recovered"] == 0.0 and np.isnan(none_row["precision"])
    assert prism["seeds"] == len(SEEDS)


def test_seed_intervals_match_scipy_bootstrap(table3_inputs):
    """Without per-query arrays: the paired bootstrap over seeds."""
    from scipy.stats import bootstrap
    from scipy.stats import t as t_dist

    table = build_table3(*table3_inputs, (), RESAMPLES, CONFIDENCE)
    prism = table[table["method"] == "prism"].iloc[0]
    columns = np.array([[CLEAN[s], NONE[s], PRISM[s]] for s in SEEDS])

    def share(clean, none, mine, axis=-1):
        gap = clean.mean(axis=axis) - none.mean(axis=axis)
        return (mine.mean(axis=axis) - none.mean(axis=axis)) / gap

    # The seed-level t interval: estimate +- t(S - 1) x bootstrap SE x sqrt(S / (S - 1)).
    factor = t_dist.ppf(0.975, len(SEEDS) - 1) * np.sqrt(len(SEEDS) / (len(SEEDS) - 1))

    def t_bounds(data, statistic, **options):
        result = bootstrap(data, statistic, method="percentile", n_resamples=20000,
                           random_state=1, **options)  # fmt: skip
        estimate = statistic(*(np.asarray(d)[None, :] for d in data), axis=-1)[0]
        half = factor * result.standard_error
        return estimate - half, estimate + half

    low, high = t_bounds(tuple(columns.T), share, paired=True, vectorized=True)
    assert prism["recovered_low"] == pytest.approx(100 * low, abs=2)
    assert prism["recovered_high"] == pytest.approx(100 * high, abs=2)
    low, high = t_bounds((columns[:, 0] - columns[:, 1],), np.mean)
    assert prism["drop_low"] == pytest.approx(100 * low, abs=0.3)
    assert prism["drop_high"] == pytest.approx(100 * high, abs=0.3)
    low, high = t_bounds((columns[:, 2],), np.mean)
    assert prism["r1_low"] == pytest.approx(100 * low, abs=0.3)
    assert prism["r1_high"] == pytest.approx(100 * high, abs=0.3)


@settings(max_examples=30, deadline=None)
@given(
    clean=st.lists(st.floats(0.5, 0.9), min_size=2, max_size=5),
    drop=st.floats(0.05, 0.4),
)
def test_share_is_one_at_the_clean_model_and_zero_at_plain_training(clean, drop):
    runs = {"clean": clean, "none": [c - drop for c in clean], "method": clean}
    interval = seed_bootstrap(runs, recovered_share, n_resamples=200, level=CONFIDENCE)
    assert (interval.estimate, interval.low, interval.high) == pytest.approx((1, 1, 1))
    runs["method"] = runs["none"]
    assert seed_bootstrap(
        runs, recovered_share, n_resamples=200, level=CONFIDENCE
    ).estimate == pytest.approx(0)


def write_hits(root: Path, method: str, scheme: str, level: float, seed: int, hits: np.ndarray):
    r1 = write_metrics(root, method, scheme, level, seed, float(hits.mean()))
    arrays = {"ks": np.array([1]), "hits": hits[:, None], "valid": np.ones(len(hits), bool),
              "average_precision": hits.astype(float)}  # fmt: skip
    save_per_query(r1.with_name("per_query.npz"), "retrieval", arrays)
    return r1, r1.with_name("per_query.npz")


def test_query_intervals_are_paired(tmp_path):
    """With per-query arrays: seeds and queries resampled, the runs paired on both."""
    rng = np.random.default_rng(5)
    metrics, arrays = [], []
    for seed in (0, 1):
        clean = rng.random(300) < 0.8
        none = clean & (rng.random(300) < 0.7)
        for method, scheme, level, hits in (
            ("none", "clean", 0, clean),
            ("none", "uniform", 0.1, none),
            ("prism", "uniform", 0.1, none),  # no better than plain training
            ("oracle", "uniform", 0.1, clean),  # as good as the clean model
        ):
            paths = write_hits(tmp_path, method, scheme, level, seed, hits)
            metrics.append(paths[0])
            arrays.append(paths[1])
    table = build_table3(
        metrics_frame(metrics), read_filters([]), arrays, RESAMPLES, CONFIDENCE
    ).set_index("method")
    for method, share in (("prism", 0.0), ("oracle", 100.0)):
        row = table.loc[method]
        assert (row["recovered"], row["recovered_low"], row["recovered_high"]) == pytest.approx(
            (share, share, share)
        )
    r1 = table.loc["prism"]
    assert r1["r1_low"] < r1["r1"] < r1["r1_high"]  # queries resampled: an interval
    expected = np.mean([json.loads(p.read_text())["metrics"]["R@1"] for p in metrics[1::4]])
    assert r1["r1"] == pytest.approx(100 * expected)


def test_one_seed_without_queries_has_no_interval(tmp_path):
    metrics = [
        write_metrics(tmp_path, "none", "clean", 0, 0, 0.8),
        write_metrics(tmp_path, "none", "uniform", 0.1, 0, 0.6),
        write_metrics(tmp_path, "knn", "uniform", 0.1, 0, 0.7),
    ]
    row = build_table3(metrics_frame(metrics), read_filters([]), (), RESAMPLES, CONFIDENCE).iloc[-1]
    assert row["recovered"] == pytest.approx(50.0)
    assert np.isnan(row["recovered_low"]) and np.isnan(row["r1_high"])


def test_missing_clean_run_is_named(tmp_path):
    metrics = [write_metrics(tmp_path, "none", "uniform", 0.1, 0, 0.5)]
    with pytest.raises(UserError, match="has no clean run of method none"):
        build_table3(metrics_frame(metrics), read_filters([]), (), RESAMPLES, CONFIDENCE)


def test_markdown_has_methods_by_scheme_and_level(table3_inputs):
    text = markdown(build_table3(*table3_inputs, (), RESAMPLES, CONFIDENCE), CONFIDENCE)
    assert "| method | uniform 0.1 |" in text
    assert "| prism | " in text and "Share of the drop recovered" in text


def test_markdown_marks_shares_of_an_unmeasurable_drop(tmp_path):
    """A drop whose interval holds 0 makes its shares unreadable: marked, with a note."""
    metrics = [write_metrics(tmp_path, "none", "clean", 0, s, CLEAN[s]) for s in SEEDS]
    # Plain training loses 10 points under uniform noise, and 0 +- 1 under small-class noise.
    for scheme, shift in (("uniform", lambda s: 0.1), ("small", lambda s: (-1) ** s * 0.01)):
        for method, recovered in (("none", 0.0), ("prism", 0.005)):
            metrics += [
                write_metrics(tmp_path, method, scheme, 0.1, s, CLEAN[s] - shift(s) + recovered)
                for s in SEEDS
            ]
    table = build_table3(metrics_frame(metrics), read_filters([]), (), RESAMPLES, CONFIDENCE)
    text = markdown(table, CONFIDENCE)
    recovered_block = text.split("Share of the drop recovered")[1].split("###")[0]
    prism_line = next(line for line in recovered_block.splitlines() if line.startswith("| prism"))
    small, uniform = prism_line.split("|")[2:4]  # columns sorted: small 0.1, uniform 0.1
    assert NO_DROP_MARK in small and NO_DROP_MARK not in uniform
    assert "[" not in small and "[" in uniform  # an unreadable share shows no interval
    assert "divides by noise" in recovered_block
    none_line = next(line for line in recovered_block.splitlines() if line.startswith("| none"))
    assert NO_DROP_MARK not in none_line
    drop_block = text.split("R@1 lost to the noise")[1].split("###")[0]
    assert "| prism |" not in drop_block
    assert "| none | 0.2 [" in drop_block and "| 10.0 [10.0, 10.0] |" in drop_block
    # The figure draws no bars for that scheme, only the note under its name.
    from irnoise.report.figures.recovered_share import drop_is_measured, scheme_label

    assert drop_is_measured(table, "uniform") and not drop_is_measured(table, "small")
    assert scheme_label("uniform", True) == "uniform"
    assert scheme_label("small", False) == "small\n(no measurable drop)"


def test_figure_is_drawn(table3_inputs, tmp_path):
    from irnoise.cli import main
    from irnoise.report.table3 import write_table3

    write_table3(
        build_table3(*table3_inputs, (), RESAMPLES, CONFIDENCE),
        tmp_path / "t3.csv",
        tmp_path / "t3.md",
        CONFIDENCE,
    )
    out = tmp_path / "fig.png"
    assert main(["figure", "recovered_share", "--out", str(out), str(tmp_path / "t3.csv")]) == 0
    assert out.read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "Table 3 {path} does not exist: build it with `snakemake --cores all"),
        ("", "Table 3 {path} is not a readable CSV table (No columns to parse from file)"),
        ("experiment,method\nsop,prism\n", "Table 3 {path} lacks columns ['scheme', 'level'"),
    ],
)
def test_figure_names_a_missing_or_broken_table(tmp_path, capsys, content, message):
    from irnoise.cli import main

    table = tmp_path / "t3.csv"
    if content is not None:
        table.write_text(content)
    out = tmp_path / "fig.png"
    assert main(["figure", "recovered_share", "--out", str(out), str(table)]) == 2
    assert message.format(path=table) in capsys.readouterr().err
    assert not out.exists()


def test_gain_over_plain_training_is_the_headline(table3_inputs):
    table = build_table3(*table3_inputs, (), RESAMPLES, CONFIDENCE)
    prism = table[table["method"] == "prism"].iloc[0]
    gains = [PRISM[s] - NONE[s] for s in SEEDS]
    assert prism["gain"] == pytest.approx(100 * np.mean(gains))
    expected = seed_bootstrap(
        {"none": list(NONE.values()), "method": list(PRISM.values())},
        lambda m: m["method"] - m["none"],
        RESAMPLES,
        CONFIDENCE,
    )
    assert prism["gain_low"] == pytest.approx(100 * expected.low)
    assert prism["gain_high"] == pytest.approx(100 * expected.high)
    text = markdown(table, CONFIDENCE)
    assert text.index("Gain over plain training") < text.index("R@1 (%)")
    gain_block = text.split("Gain over plain training")[1].split("###")[0]
    assert "| none |" not in gain_block
    assert f"| prism | {100 * np.mean(gains):.1f} [" in gain_block


def test_share_is_marked_where_the_per_seed_drops_scatter(tmp_path):
    """Drops of 10, 3, 4, 15, 5 points: the seed-level interval lies above 0, yet the
    per-seed shares scatter (coefficient of variation 0.68); the share is readable only
    with a small spread of the drops."""
    drops = {0: 0.10, 1: 0.03, 2: 0.04, 3: 0.15, 4: 0.05}
    metrics = [write_metrics(tmp_path, "none", "clean", 0, s, CLEAN[s]) for s in SEEDS]
    metrics += [
        write_metrics(tmp_path, "none", "uniform", 0.1, s, CLEAN[s] - drops[s]) for s in SEEDS
    ]
    metrics += [
        write_metrics(tmp_path, "prism", "uniform", 0.1, s, CLEAN[s] - drops[s] + 0.004)
        for s in SEEDS
    ]
    table = build_table3(metrics_frame(metrics), read_filters([]), (), RESAMPLES, CONFIDENCE)
    prism = table[table["method"] == "prism"].iloc[0]
    values = np.array(list(drops.values()))
    assert prism["drop_cv"] == pytest.approx(values.std(ddof=1) / values.mean())
    assert prism["drop_low"] > 0 and not prism["share_readable"]
    text = markdown(table, CONFIDENCE)
    recovered_block = text.split("Share of the drop recovered")[1].split("###")[0]
    assert NO_DROP_MARK in recovered_block and "read the gain instead" in recovered_block


def test_oracle_random_subset_control_gets_its_own_row(tmp_path):
    metrics = [write_metrics(tmp_path, "none", "clean", 0, s, CLEAN[s]) for s in SEEDS]
    metrics += [write_metrics(tmp_path, "none", "uniform", 0.1, s, NONE[s]) for s in SEEDS]
    metrics += [write_metrics(tmp_path, "oracle", "uniform", 0.1, s, 0.7) for s in SEEDS]
    metrics += [write_metrics(tmp_path, "random_subset", "uniform", 0.1, s, 0.72) for s in SEEDS]
    table = build_table3(metrics_frame(metrics), read_filters([]), (), RESAMPLES, CONFIDENCE)
    assert list(table["method"]) == ["none", "oracle", "random_subset"]
    control = table[table["method"] == "random_subset"].iloc[0]
    assert control["r1"] == pytest.approx(72.0)
    assert control["gain"] == pytest.approx(100 * (0.72 - np.mean(list(NONE.values()))))
    assert "| random_subset |" in markdown(table, CONFIDENCE)


def test_random_subset_keeps_as_many_rows_as_the_oracle_at_random():
    from irnoise.noise import corrupt_labels
    from irnoise.train.methods.oracle import oracle_keep, random_subset_keep

    clean = np.repeat(np.arange(50), 6)
    noisy = corrupt_labels(clean, "large", 0.2, seed=1)
    keep = random_subset_keep(noisy, clean, seed=4)
    assert keep.sum() == oracle_keep(noisy, clean).sum()
    assert not np.array_equal(keep, oracle_keep(noisy, clean))
    np.testing.assert_array_equal(keep, random_subset_keep(noisy, clean, seed=4))
