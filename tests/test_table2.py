"""Table 2: values checked against the stats they came from."""

from __future__ import annotations

import csv
import json
import statistics
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from irnoise.data.reference_class_sizes import labels_from_histogram
from irnoise.errors import UserError
from irnoise.noise import corrupt_with_stats
from irnoise.report import table2

SCHEMES = ["uniform", "large", "small"]
LEVELS = [0.1, 0.25]
ONE_COMMAND = (
    "import sys, irnoise.cli as cli; "
    "cli.COMMANDS = {sys.argv[1]: cli.COMMANDS[sys.argv[1]]}; sys.exit(cli.main())"
)


def toy_labels() -> np.ndarray:
    sizes = [40, 25, 12, 9, 7, 5, 4, 3, 2, 2, 1, 1]
    return np.random.default_rng(0).permutation(np.repeat(np.arange(len(sizes)), sizes))


def write_stats(root: Path, dataset: str, seeds: list[int]) -> list[Path]:
    """Stats files as `irnoise noise` lays them out, from the same library call."""
    paths = []
    for scheme in SCHEMES:
        for level in LEVELS:
            for seed in seeds:
                stats = corrupt_with_stats(toy_labels(), scheme, level, seed)[1]
                path = root / "labels" / dataset / scheme / f"{level:g}" / f"seed{seed}.json"
                path.parent.mkdir(parents=True, exist_ok=True)
                header = {"dataset": dataset, "scheme": scheme, "level": level, "seed": seed}
                path.write_text(json.dumps(header | stats))
                paths.append(path)
    return paths


def stats_of(paths: list[Path], scheme: str, level: float) -> list[dict]:
    found = [json.loads(path.read_text()) for path in paths]
    return [s for s in found if s["scheme"] == scheme and s["level"] == level]


def build(paths: list[Path], references: list[str], seeds: list[int]) -> list[dict]:
    records = table2.load_stats(paths)
    records += table2.reference_records(references, SCHEMES, LEVELS, seeds)
    table2.check_grid(records, SCHEMES, LEVELS)
    return table2.table_rows(records, SCHEMES, LEVELS)


def test_rows_are_means_and_stds_of_the_stats_files(tmp_path):
    paths = write_stats(tmp_path, "toy", seeds=[0, 1, 2])
    rows = build(paths, [], seeds=[0, 1, 2])
    assert [(row["scheme"], row["dataset"]) for row in rows] == [(s, "toy") for s in SCHEMES]
    for row in rows:
        assert row["source"] == "train" and row["seeds"] == 3
        assert (row["n_samples"], row["n_classes"]) == (toy_labels().size, 12)
        for level in LEVELS:
            stats = stats_of(paths, row["scheme"], level)
            corrupted = [s["corrupted_classes_pct"] for s in stats]
            rates = [100 * s["noise_rate"] for s in stats]
            assert row[f"corrupted_classes_pct_{level:g}"] == pytest.approx(np.mean(corrupted))
            assert row[f"corrupted_classes_pct_std_{level:g}"] == pytest.approx(
                statistics.stdev(corrupted)
            )
            assert row[f"noise_rate_pct_{level:g}"] == pytest.approx(np.mean(rates))


def test_one_seed_has_no_std_columns(tmp_path):
    rows = build(write_stats(tmp_path, "toy", seeds=[0]), [], seeds=[0])
    assert not any("std" in column for column in rows[0])
    uniform = rows[0]
    # Uniform noise flips exactly round(level * N) samples.
    n = toy_labels().size
    assert uniform["noise_rate_pct_0.25"] == pytest.approx(100 * round(0.25 * n) / n)


def test_reference_rows_are_the_noised_histograms(tmp_path):
    paths = write_stats(tmp_path, "toy", seeds=[0])
    rows = build(paths, ["cub_train", "sop_train"], seeds=[0])
    order = [(row["scheme"], row["dataset"], row["source"]) for row in rows]
    expected_order = [
        (scheme, name, source)
        for scheme in SCHEMES
        for name, source in (
            ("toy", "train"),
            ("cub_train", "reference"),
            ("sop_train", "reference"),
        )
    ]
    assert order == expected_order
    for row in rows:
        if row["source"] != "reference":
            continue
        labels = labels_from_histogram(row["dataset"])
        for level in LEVELS:
            stats = corrupt_with_stats(labels, row["scheme"], level, 0)[1]
            assert row[f"corrupted_classes_pct_{level:g}"] == stats["corrupted_classes_pct"]
            assert row[f"noise_rate_pct_{level:g}"] == 100 * stats["noise_rate"]
    cub = next(r for r in rows if r["dataset"] == "cub_train" and r["scheme"] == "large")
    # CUB train: 100 classes, 5,864 images, the largest 10 hold about 10% of the images.
    assert (cub["n_samples"], cub["n_classes"]) == (5864, 100)
    assert cub["corrupted_classes_pct_0.1"] <= 11


def test_csv_and_markdown_show_the_same_values(tmp_path):
    rows = build(write_stats(tmp_path, "toy", seeds=[0, 1]), ["cars_train"], seeds=[0, 1])
    parsed = list(csv.DictReader(table2.to_csv(rows).splitlines()))
    assert len(parsed) == len(rows)
    for row, line in zip(rows, parsed, strict=True):
        assert float(line["corrupted_classes_pct_0.1"]) == pytest.approx(
            row["corrupted_classes_pct_0.1"], abs=1e-4
        )
    markdown = table2.to_markdown(rows, LEVELS)
    small_cars = next(r for r in rows if (r["scheme"], r["dataset"]) == ("small", "cars_train"))
    cell = (
        f"{small_cars['corrupted_classes_pct_0.1']:.2f} ± "
        f"{small_cars['corrupted_classes_pct_std_0.1']:.2f}"
    )
    line = next(
        line for line in markdown.splitlines() if "| small | cars_train (reference)" in line
    )
    assert cell in line
    assert "corrupted classes % @ 0.25" in markdown


def test_missing_levels_are_empty_cells(tmp_path):
    paths = [p for p in write_stats(tmp_path, "toy", seeds=[0]) if "/0.25/" not in str(p)]
    rows = build(paths, [], seeds=[0])
    assert rows[0]["corrupted_classes_pct_0.25"] is None
    assert next(csv.DictReader(table2.to_csv(rows).splitlines()))["noise_rate_pct_0.25"] == ""
    assert "| – |" in table2.to_markdown(rows, LEVELS)


def test_stats_outside_the_grid_or_twice_are_refused(tmp_path):
    paths = write_stats(tmp_path, "toy", seeds=[0])
    records = table2.load_stats(paths)
    with pytest.raises(UserError, match="outside the table's grid"):
        table2.check_grid(records, SCHEMES, [0.1])
    with pytest.raises(UserError, match="given twice"):
        table2.check_grid(records + records[:1], SCHEMES, LEVELS)


def test_stats_name_their_dataset_wherever_they_are(tmp_path):
    path = write_stats(tmp_path, "toy", seeds=[0])[0]
    moved = tmp_path / "elsewhere.json"
    moved.write_text(path.read_text())
    assert table2.load_stats([moved]) == table2.load_stats([path])
    assert table2.load_stats([moved])[0].dataset == "toy"
    unnamed = json.loads(path.read_text())
    del unnamed["dataset"]
    moved.write_text(json.dumps(unnamed))
    with pytest.raises(UserError, match=r"cannot read noise stats .*'dataset'.*rerun `irnoise"):
        table2.load_stats([moved])
    broken = tmp_path / "labels" / "toy" / "uniform" / "0.1" / "seed9.json"
    broken.write_text("{")
    with pytest.raises(UserError, match="cannot read noise stats"):
        table2.load_stats([broken])


def test_unknown_reference_lists_the_known_ones():
    with pytest.raises(UserError, match=r"unknown reference histogram.*sop_train"):
        table2.reference_records(["ms1m_train"], SCHEMES, LEVELS, [0])


def test_command_reads_noise_outputs_and_writes_csv_and_markdown(tmp_path):
    """The real interface: files written by `irnoise noise`, read by `irnoise table2`."""
    shards = tmp_path / "data" / "shards" / "toy"
    shards.mkdir(parents=True)
    np.save(shards / "train_labels.npy", toy_labels())
    outputs = []
    for scheme in ("uniform", "small"):
        out = tmp_path / "data" / "labels" / "toy" / scheme / "0.1" / "seed0.npy"
        flags = ["--scheme", scheme, "--level", "0.1", "--seed", "0", "--out", str(out)]
        named = ["--dataset", "toy"] if scheme == "small" else []  # else the shards' name
        run("noise", "--shards", str(shards), *named, *flags)
        outputs.append(out.with_suffix(".json"))
    out = tmp_path / "results" / "table2.csv"
    run(
        "table2", "--stats", *map(str, outputs), "--references", "cub_train",
        "--levels", "0.1", "--seeds", "0", "--schemes", "uniform,small", "--out", str(out),
    )  # fmt: skip
    rows = list(csv.DictReader(out.read_text().splitlines()))
    assert [(r["scheme"], r["dataset"]) for r in rows] == [
        ("uniform", "toy"),
        ("uniform", "cub_train"),
        ("small", "toy"),
        ("small", "cub_train"),
    ]
    for row, stats_file in zip((rows[0], rows[2]), outputs, strict=True):
        stats = json.loads(stats_file.read_text())
        assert float(row["corrupted_classes_pct_0.1"]) == pytest.approx(
            stats["corrupted_classes_pct"], abs=1e-4
        )
        assert float(row["noise_rate_pct_0.1"]) == pytest.approx(
            100 * stats["noise_rate"], abs=1e-4
        )
    assert out.with_suffix(".md").read_text().startswith("Table 2:")


def test_command_errors_are_user_errors(tmp_path):
    args = ["table2", "--levels", "0.1", "--seeds", "0", "--out", str(tmp_path / "t.csv")]
    result = run(*args, "--references", "nope", check=False)
    assert result.returncode == 2 and "unknown reference histogram(s) nope" in result.stderr
    result = run(*args, "--schemes", "uniform,gaussian", check=False)
    assert result.returncode == 2 and "gaussian" in result.stderr
    assert not (tmp_path / "t.csv").exists()


def run(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, "-c", ONE_COMMAND, *args], capture_output=True, text=True, timeout=120
    )
    if check:
        assert result.returncode == 0, result.stderr
    return result
