"""Does the evaluation protocol explain how little R@1 the In-Shop-shaped runs lose to noise?

The In-Shop-shaped runs are scored query against gallery (the dataset's official
protocol); the SOP-shaped ones leave-one-out over their test split. The same models,
re-evaluated leave-one-out over query + gallery pooled (`irnoise evaluate --protocol
leave-one-out`), give the drop under the other protocol. Per experiment, scheme and
level this module reports the R@1 drop, clean minus noisy in points, under each protocol
and their difference (leave-one-out minus official), each with the report's interval:
the paired two-stage bootstrap with a seed-level t interval (`irnoise.report.bootstrap`).

Pairing: the runs of one experiment share their seed draws (the two protocols score the
same trained models); within a protocol, the clean and noisy runs of a seed share their
query draws. The two protocols' queries are drawn apart (their query sets differ: the
query split, or every image of both splits), which leaves the difference's interval a
little wider than a draw shared across protocols would.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from irnoise.errors import UserError
from irnoise.plan import (
    CLEAN_SCHEME,
    LEAVE_ONE_OUT,
    NOISE_SCHEMES,
    OFFICIAL,
    QUERY_GALLERY_SOURCE,
    level_name,
    parse_run_path,
)
from irnoise.report.bootstrap import Interval, PerQuery, Resampled, resample_runs
from irnoise.report.intervals import method_text
from irnoise.report.metric_samples import load_samples

METRIC = "R@1"
COLUMNS = (
    *("experiment", "scheme", "level", "seeds"),
    *("official_clean", "official_noisy", "official_drop", "official_drop_low"),
    *("official_drop_high", "loo_clean", "loo_noisy", "loo_drop", "loo_drop_low"),
    *("loo_drop_high", "difference", "difference_low", "difference_high", "verdict"),
)


@dataclass(frozen=True)
class Cell:
    """One experiment's noisy condition (scheme, level name)."""

    experiment: str
    scheme: str
    level: str

    def run(self, protocol: str, clean: bool = False) -> str:
        """The bootstrap's name of this cell's run (or its clean run) under a protocol."""
        scheme, level = (CLEAN_SCHEME, "0") if clean else (self.scheme, self.level)
        return f"{self.experiment}|{protocol}|{scheme}|{level}"


def load_runs(
    paths_by_protocol: Mapping[str, Sequence[str | os.PathLike]],
) -> tuple[dict[str, list[PerQuery]], dict[str, str], list[Cell]]:
    """(R@1 samples of each run by seed, each run's experiment, the noisy cells), from the
    per_query files of each protocol; UserError when a run lacks a seed or its clean run."""
    by_run: dict[str, dict[int, PerQuery]] = {}
    groups: dict[str, str] = {}
    cells: set[Cell] = set()
    for protocol, paths in paths_by_protocol.items():
        for path in paths:
            run = parse_run_path(path)
            cell = Cell(run.experiment, run.scheme, level_name(run.level))
            name = cell.run(protocol, clean=run.scheme == CLEAN_SCHEME)
            # The test-set key is the protocol: its queries are shared by the clean and
            # the noisy runs of a seed, never by the other protocol's.
            by_run.setdefault(name, {})[run.seed] = load_samples(path, METRIC, protocol)
            groups[name] = run.experiment
            if run.scheme != CLEAN_SCHEME:
                cells.add(cell)
    if not cells:
        raise UserError(
            "no noisy In-Shop-shaped run given: the protocol comparison needs the clean and "
            f"noisy runs of a retrieval experiment evaluated on an In-Shop dataset (source "
            f"{QUERY_GALLERY_SOURCE}, or synthetic shape {QUERY_GALLERY_SOURCE}); add one to "
            "the config"
        )
    seeds = sorted({seed for per_seed in by_run.values() for seed in per_seed})
    wanted = {
        cell.run(protocol, clean)
        for cell in cells
        for protocol in paths_by_protocol
        for clean in (False, True)
    }
    for name in sorted(wanted):
        missing = [seed for seed in seeds if seed not in by_run.get(name, {})]
        if missing:
            raise UserError(
                f"no per-query arrays for {name} (experiment|protocol|scheme|level) at seeds "
                f"{missing}: pass the {OFFICIAL} and {LEAVE_ONE_OUT} files of every run"
            )
    runs = {name: [by_run[name][seed] for seed in seeds] for name in sorted(wanted)}
    return runs, {name: groups[name] for name in runs}, sorted(cells, key=_cell_order)


def _cell_order(cell: Cell) -> tuple:
    """Experiments by name, then the grid's scheme order, then levels."""
    known = cell.scheme in NOISE_SCHEMES
    scheme = NOISE_SCHEMES.index(cell.scheme) if known else len(NOISE_SCHEMES)
    return cell.experiment, scheme, cell.scheme, float(cell.level)


def protocol_rows(
    paths_by_protocol: Mapping[str, Sequence[str | os.PathLike]],
    n_resamples: int,
    confidence: float,
    seed: int = 0,
) -> list[dict]:
    """One row per noisy cell (see COLUMNS); R@1 values and drops in %, points."""
    runs, groups, cells = load_runs(paths_by_protocol)
    resampled = resample_runs(runs, n_resamples, seed, groups)
    return [_row(cell, resampled, confidence) for cell in cells]


def _drop(cell: Cell, protocol: str):
    clean, noisy = cell.run(protocol, clean=True), cell.run(protocol)
    return lambda m: 100 * (m[clean] - m[noisy])


def _row(cell: Cell, resampled: Resampled, confidence: float) -> dict:
    official, loo = _drop(cell, OFFICIAL), _drop(cell, LEAVE_ONE_OUT)
    drops = {
        "official_drop": resampled.interval(official, confidence),
        "loo_drop": resampled.interval(loo, confidence),
        "difference": resampled.interval(lambda m: loo(m) - official(m), confidence),
    }
    row = {"experiment": cell.experiment, "scheme": cell.scheme, "level": float(cell.level)}
    row["seeds"] = resampled.n_seeds
    for prefix, protocol in (("official", OFFICIAL), ("loo", LEAVE_ONE_OUT)):
        row[f"{prefix}_clean"] = 100 * resampled.estimates[cell.run(protocol, clean=True)]
        row[f"{prefix}_noisy"] = 100 * resampled.estimates[cell.run(protocol)]
    for name, interval in drops.items():
        row |= {name: interval.estimate, f"{name}_low": interval.low}
        row[f"{name}_high"] = interval.high
    row["verdict"] = verdict(drops["difference"])
    return {column: row[column] for column in COLUMNS}


def verdict(difference: Interval) -> str:
    """Whether the protocol changes the drop: the difference's interval excludes 0 or not."""
    if math.isnan(difference.low) or math.isnan(difference.high):
        return "no interval (one seed): cannot tell whether the protocol changes the drop"
    bounds = f"{difference.estimate:+.1f} points [{difference.low:+.1f}, {difference.high:+.1f}]"
    if difference.excludes(0.0):
        more = "more" if difference.low > 0 else "less"
        return (
            f"the protocol changes the drop: leave-one-out loses {more} R@1 than query against "
            f"gallery ({bounds}, excludes 0)"
        )
    return f"no detectable change: the difference of the drops, {bounds}, includes 0"


def to_csv(rows: Sequence[dict]) -> str:
    import pandas as pd

    return pd.DataFrame(list(rows), columns=list(COLUMNS)).to_csv(index=False, float_format="%.6g")


def to_markdown(rows: Sequence[dict], resamples: int, confidence: float) -> str:
    """The table as Markdown: each drop as "estimate [low, high]", then the verdict."""
    header = (
        "| experiment | scheme | level | R@1 clean (official / loo) | drop, official | "
        "drop, leave-one-out | difference (loo - official) | verdict |\n"
        "|---|---|---|---|---|---|---|---|\n"
    )
    lines = [
        f"| {r['experiment']} | {r['scheme']} | {level_name(r['level'])} | "
        f"{r['official_clean']:.1f} / {r['loo_clean']:.1f} | {_bounded(r, 'official_drop')} | "
        f"{_bounded(r, 'loo_drop')} | {_bounded(r, 'difference')} | {r['verdict']} |"
        for r in rows
    ]
    changed = sum(row["difference_low"] > 0 or row["difference_high"] < 0 for row in rows)
    legend = (
        "# The In-Shop protocol question\n\n"
        "R@1 drop, clean minus noisy, in points, of the In-Shop-shaped runs under the official "
        "protocol (query against gallery) and leave-one-out over query + gallery (each image "
        "against all the others, as the SOP-shaped runs are scored); same trained models. "
        f"{method_text(resamples, confidence)}. Both protocols share the seed draws (the same "
        "models); each draws its own queries. "
        f"The protocol changes the drop in {changed} of "
        f"{len(rows)} cells (the difference's interval excludes 0).\n\n"
    )
    return legend + header + "\n".join(lines) + "\n"


def _bounded(row: Mapping, name: str) -> str:
    low, high = row[f"{name}_low"], row[f"{name}_high"]
    if np.isnan(low) or np.isnan(high):
        return f"{row[name]:.1f}"
    return f"{row[name]:.1f} [{low:.1f}, {high:.1f}]"
