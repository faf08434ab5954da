"""The In-Shop protocol question: leave-one-out over query + gallery, and the drops' table.

Leave-one-out R@1 is checked against a naive numpy loop; the table's drops against means
computed here from the per-query hits; the workflow test runs the smoke preset's
In-Shop-shaped experiment through real Snakemake.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from irnoise import cli
from irnoise.errors import UserError
from irnoise.evaluate.per_query import save_per_query
from irnoise.evaluate.tasks import pooled_retrieval
from irnoise.plan import INSHOP_PROTOCOL, LEAVE_ONE_OUT, LOO_PER_QUERY, OFFICIAL, run_dir
from irnoise.report.protocol import protocol_rows

from helpers import run_snakemake

SEEDS = (0, 1, 2)


def naive_leave_one_out_r1(embeddings: np.ndarray, labels: np.ndarray) -> float:
    """R@1 with each image querying all the others, one query at a time."""
    unit = embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True)
    hits, scored = 0, 0
    for i in range(len(unit)):
        others = [j for j in range(len(unit)) if j != i]
        if not any(labels[j] == labels[i] for j in others):
            continue  # no other image of its class: left out of the mean
        scored += 1
        nearest = max(others, key=lambda j: float(unit[i] @ unit[j]))
        hits += int(labels[nearest] == labels[i])
    return hits / scored


def test_leave_one_out_r1_matches_a_naive_loop() -> None:
    rng = np.random.default_rng(0)
    query_labels = np.repeat(np.arange(12), 2)
    gallery_labels = np.concatenate([np.repeat(np.arange(3, 15), 3), [20]])  # 20: lone
    centers = rng.normal(size=(21, 8))
    embed = lambda labels: centers[labels] + 1.5 * rng.normal(size=(len(labels), 8))  # noqa: E731
    embeddings = {"query": embed(query_labels), "gallery": embed(gallery_labels)}
    labels = {"query": query_labels, "gallery": gallery_labels}
    values, counts, arrays = pooled_retrieval(embeddings, labels)
    pooled = np.concatenate([embeddings["query"], embeddings["gallery"]])
    expected = naive_leave_one_out_r1(pooled, np.concatenate([query_labels, gallery_labels]))
    assert 0.2 < expected < 0.9  # neither trivial nor hopeless
    assert values["R@1"] == pytest.approx(expected)
    assert counts["queries"] == len(pooled) and counts["left_out"] == 1
    assert arrays["hits"].shape == (len(pooled), 4)


def test_leave_one_out_refuses_a_set_without_query_and_gallery() -> None:
    with pytest.raises(UserError, match="query and gallery splits"):
        pooled_retrieval({"test": np.ones((3, 2))}, {"test": np.arange(3)})


# --- the table -------------------------------------------------------------------------------

# R@1 per (protocol, scheme): leave-one-out loses 30 points more than query -> gallery under
# uniform noise, the same under small-class noise.
R1 = {
    (OFFICIAL, "clean"): 0.80,
    (OFFICIAL, "uniform"): 0.75,
    (OFFICIAL, "small"): 0.70,
    (LEAVE_ONE_OUT, "clean"): 0.85,
    (LEAVE_ONE_OUT, "uniform"): 0.50,
    (LEAVE_ONE_OUT, "small"): 0.75,
}
QUERIES = {OFFICIAL: 400, LEAVE_ONE_OUT: 800}


def write_runs(root: Path, seeds=SEEDS) -> dict[str, list[Path]]:
    """Per-query R@1 hits of every run, under both protocols; seed spread of 1-2 points."""
    paths: dict[str, list[Path]] = {OFFICIAL: [], LEAVE_ONE_OUT: []}
    for (protocol, scheme), r1 in R1.items():
        level = 0 if scheme == "clean" else 0.1
        for seed in seeds:
            rng = np.random.default_rng([seed, len(paths[protocol])])
            hits = rng.random(QUERIES[protocol]) < r1 + 0.01 * (seed - 1)
            valid = np.ones(len(hits), bool)
            valid[:5] = False  # queries without a match count in no mean
            arrays = {
                "ks": np.array([1]),
                "hits": hits[:, None],
                "valid": valid,
                "average_precision": np.where(valid, hits, np.nan),
            }
            name = "per_query.npz" if protocol == OFFICIAL else LOO_PER_QUERY
            path = root / run_dir("inshop", scheme, level, seed) / name
            path.parent.mkdir(parents=True, exist_ok=True)
            save_per_query(path, "retrieval", arrays)
            paths[protocol].append(path)
    return paths


def mean_r1(paths: list[Path], scheme: str) -> float:
    """Mean over seeds of R@1 over the valid queries, from the files themselves."""
    values = []
    for path in paths:
        if f"/{scheme}/" in path.as_posix():
            with np.load(path) as arrays:
                values.append(arrays["hits"][arrays["valid"], 0].mean())
    return 100 * float(np.mean(values))


def test_the_table_gives_both_drops_their_difference_and_a_verdict(tmp_path: Path) -> None:
    paths = write_runs(tmp_path)
    rows = {row["scheme"]: row for row in protocol_rows(paths, 400, 0.95)}
    assert list(rows) == ["uniform", "small"]  # the grid's order
    for scheme, row in rows.items():
        official = mean_r1(paths[OFFICIAL], "clean") - mean_r1(paths[OFFICIAL], scheme)
        loo = mean_r1(paths[LEAVE_ONE_OUT], "clean") - mean_r1(paths[LEAVE_ONE_OUT], scheme)
        assert row["official_drop"] == pytest.approx(official)
        assert row["loo_drop"] == pytest.approx(loo)
        assert row["difference"] == pytest.approx(loo - official)
        assert row["seeds"] == 3 and row["level"] == 0.1
        for name in ("official_drop", "loo_drop", "difference"):
            assert row[f"{name}_low"] < row[name] < row[f"{name}_high"]
    assert rows["uniform"]["difference_low"] > 0
    assert rows["uniform"]["verdict"].startswith("the protocol changes the drop")
    assert rows["small"]["difference_low"] < 0 < rows["small"]["difference_high"]
    assert rows["small"]["verdict"].startswith("no detectable change")


def test_one_seed_gives_no_interval(tmp_path: Path) -> None:
    rows = protocol_rows(write_runs(tmp_path, seeds=(0,)), 100, 0.95)
    assert all(np.isnan(row["difference_low"]) for row in rows)
    assert all(row["verdict"].startswith("no interval (one seed)") for row in rows)


def test_a_missing_run_is_named(tmp_path: Path) -> None:
    paths = write_runs(tmp_path)
    paths[LEAVE_ONE_OUT] = [p for p in paths[LEAVE_ONE_OUT] if "seed2" not in str(p)]
    with pytest.raises(UserError, match=r"inshop\|leave-one-out\|clean\|0 .* seeds \[2\]"):
        protocol_rows(paths, 100, 0.95)


def test_the_command_writes_csv_and_markdown(tmp_path: Path) -> None:
    paths = write_runs(tmp_path)
    out = tmp_path / "inshop_protocol.csv"
    argv = ["protocol", "--out", str(out), "--resamples", "200", "--official"]
    argv += [*map(str, paths[OFFICIAL]), "--leave-one-out", *map(str, paths[LEAVE_ONE_OUT])]
    assert cli.main(argv) == 0
    table = pd.read_csv(out)
    assert len(table) == 2 and table["difference"].notna().all()
    markdown = out.with_suffix(".md").read_text()
    assert "changes the drop in 1 of 2 cells" in markdown


# --- the workflow ----------------------------------------------------------------------------


def finite_table(path: Path, columns: list[str]) -> pd.DataFrame:
    table = pd.read_csv(path)
    assert len(table) and np.isfinite(table[columns].to_numpy(dtype=float)).all(), table
    return table


@pytest.mark.workflow
@pytest.mark.xdist_group("smoke")  # the session's one smoke run
def test_the_smoke_run_answers_the_protocol_question(smoke_run: Path, tmp_path: Path) -> None:
    estimates = ["official_clean", "loo_clean", "official_drop", "loo_drop", "difference"]
    one_seed = finite_table(smoke_run / INSHOP_PROTOCOL, estimates)
    assert set(one_seed["experiment"]) == {"inshop"}
    # On top of the finished run, a second seed: the target re-evaluates the models and
    # trains only the new seed's (seed 0's models stay as they are).
    workdir = tmp_path / "wf"
    shutil.copytree(smoke_run, workdir, symlinks=True)
    model = workdir / run_dir("inshop", "clean", 0, 0) / "model.pt"
    trained = model.stat().st_mtime_ns
    config = yaml.safe_load((workdir / "presets" / "smoke.yaml").read_text())
    (workdir / "two_seeds.yaml").write_text(yaml.safe_dump(config | {"seeds": [0, 1]}))
    run_snakemake(workdir, "--cores", "2", INSHOP_PROTOCOL, "--configfile", "two_seeds.yaml")
    bounds = [f"{name}_{side}" for name in estimates[2:] for side in ("low", "high")]
    table = finite_table(workdir / INSHOP_PROTOCOL, estimates + bounds)
    assert (table["seeds"] == 2).all()
    assert model.stat().st_mtime_ns == trained
    assert (workdir / INSHOP_PROTOCOL).with_suffix(".md").is_file()
