"""The study's Table 2: the share of training classes that label noise corrupts.

Rows are scheme x dataset; for every noise level the table gives the percentage of
corrupted classes (a class is corrupted when at least one of its samples carries a
label other than its own) and the achieved noise rate (percentage of flipped samples),
as means over seeds, with the sample standard deviation when there are several seeds.

Datasets come from two places: the stats files `irnoise noise` wrote for each configured
train dataset (`data/labels/<dataset>/<scheme>/<level>/seed<seed>.json`, which name their
dataset, scheme, level and seed), and the real datasets' class-size histograms shipped
with the package (`irnoise.data.reference_class_sizes`), noised here with the same
`corrupt_labels`.
"""

from __future__ import annotations

import csv
import io
import json
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from irnoise.errors import UserError
from irnoise.plan import level_name

CONFIGURED, REFERENCE = "train", "reference"


@dataclass(frozen=True)
class Record:
    """The Table 2 figures of one (dataset, scheme, level, seed)."""

    dataset: str
    source: str  # CONFIGURED (a stats file) or REFERENCE (an embedded histogram)
    scheme: str
    level: float
    seed: int
    n_samples: int
    n_classes: int
    corrupted_pct: float
    noise_rate_pct: float


def load_stats(paths: Iterable[str | Path]) -> list[Record]:
    """Records of the stats files `irnoise noise` writes beside each noisy label file."""
    return [_record_of(Path(path)) for path in paths]


def mean_by_cell(records: Iterable[Record], field: str) -> dict[tuple[str, str, float], float]:
    """Mean over seeds of a record's figure (`corrupted_pct`: % of corrupted classes;
    `noise_rate_pct`: % of labels actually changed) per (dataset, scheme, level)."""
    values: dict[tuple[str, str, float], list[float]] = {}
    for record in records:
        values.setdefault((record.dataset, record.scheme, record.level), []).append(
            getattr(record, field)
        )
    return {key: statistics.mean(v) for key, v in values.items()}


def _record_of(path: Path) -> Record:
    try:
        stats = json.loads(path.read_text())
        dataset, scheme = str(stats["dataset"]), str(stats["scheme"])
        level, seed = float(stats["level"]), int(stats["seed"])
        figures = (stats["n_samples"], stats["n_classes"], stats["corrupted_classes_pct"])
        noise_rate = stats["noise_rate"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise UserError(
            f"cannot read noise stats {path} ({error!r}): rerun `irnoise noise` for it"
        ) from error
    return Record(dataset, CONFIGURED, scheme, level, seed, *figures, 100.0 * noise_rate)


def reference_records(
    names: Sequence[str], schemes: Sequence[str], levels: Sequence[float], seeds: Sequence[int]
) -> list[Record]:
    """Records of the embedded class-size histograms, noised for every grid point."""
    from irnoise.data.reference_class_sizes import REFERENCE_HISTOGRAMS, labels_from_histogram
    from irnoise.noise import corrupt_with_stats

    unknown = sorted(set(names) - set(REFERENCE_HISTOGRAMS))
    if unknown:
        raise UserError(
            f"unknown reference histogram(s) {', '.join(unknown)}: choose among "
            f"{', '.join(REFERENCE_HISTOGRAMS)}"
        )
    records = []
    for name in names:
        labels = labels_from_histogram(name)
        for scheme in schemes:
            for level in levels:
                for seed in seeds:
                    stats = corrupt_with_stats(labels, scheme, level, seed)[1]
                    records.append(_reference_record(name, scheme, level, seed, stats))
    return records


def _reference_record(name: str, scheme: str, level: float, seed: int, stats: dict) -> Record:
    return Record(
        name,
        REFERENCE,
        scheme,
        level,
        seed,
        stats["n_samples"],
        stats["n_classes"],
        stats["corrupted_classes_pct"],
        100.0 * stats["noise_rate"],
    )


def check_grid(records: Sequence[Record], schemes: Sequence[str], levels: Sequence[float]) -> None:
    """Every record inside the grid, and at most one per (dataset, scheme, level, seed)."""
    seen = set()
    for record in records:
        where = f"{record.dataset} {record.scheme} level {record.level:g} seed {record.seed}"
        if record.scheme not in schemes or level_name(record.level) not in map(level_name, levels):
            raise UserError(
                f"noise stats for {where} are outside the table's grid (schemes "
                f"{','.join(schemes)}; levels {','.join(map(level_name, levels))}): "
                f"pass matching --schemes/--levels"
            )
        key = (record.source, record.dataset, record.scheme, level_name(record.level), record.seed)
        if key in seen:
            raise UserError(f"noise stats for {where} given twice: pass each stats file once")
        seen.add(key)


def table_rows(
    records: Sequence[Record], schemes: Sequence[str], levels: Sequence[float]
) -> list[dict]:
    """One row per (scheme, dataset): schemes in the given order, then configured
    datasets in order of appearance, then references. Empty cells where a level is absent.
    """
    several_seeds = len({record.seed for record in records}) > 1
    datasets = list(dict.fromkeys((r.source, r.dataset) for r in records))
    datasets.sort(key=lambda item: item[0] == REFERENCE)  # stable: configured first
    rows = []
    for scheme in schemes:
        for source, dataset in datasets:
            mine = [
                r for r in records if (r.scheme, r.source, r.dataset) == (scheme, source, dataset)
            ]
            if mine:
                rows.append(_row(scheme, source, dataset, mine, levels, several_seeds))
    return rows


def _row(
    scheme: str,
    source: str,
    dataset: str,
    records: Sequence[Record],
    levels: Sequence[float],
    several_seeds: bool,
) -> dict:
    row = {
        "scheme": scheme,
        "dataset": dataset,
        "source": source,
        "n_samples": records[0].n_samples,
        "n_classes": records[0].n_classes,
        "seeds": len({r.seed for r in records}),
    }
    for level in levels:
        here = [r for r in records if level_name(r.level) == level_name(level)]
        for column, values in (
            ("corrupted_classes_pct", [r.corrupted_pct for r in here]),
            ("noise_rate_pct", [r.noise_rate_pct for r in here]),
        ):
            row[f"{column}_{level_name(level)}"] = _mean(values)
            if several_seeds:
                row[f"{column}_std_{level_name(level)}"] = _std(values)
    return row


def _mean(values: Sequence[float]) -> float | None:
    return statistics.fmean(values) if values else None


def _std(values: Sequence[float]) -> float | None:
    """Sample standard deviation over seeds; None below two seeds."""
    return statistics.stdev(values) if len(values) > 1 else None


def to_csv(rows: Sequence[dict]) -> str:
    """CSV text; empty cells for missing values, floats at 4 decimals."""
    if not rows:
        return ""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({key: _csv_value(value) for key, value in row.items()})
    return buffer.getvalue()


def _csv_value(value: object) -> object:
    if value is None:
        return ""
    return round(value, 4) if isinstance(value, float) else value


def to_markdown(rows: Sequence[dict], levels: Sequence[float]) -> str:
    """Table 2 for reading: corrupted classes (%) per level, then achieved noise rates."""
    names = [level_name(level) for level in levels]
    header = ["scheme", "dataset", "samples", "classes"]
    header += [f"corrupted classes % @ {name}" for name in names]
    header += [f"noise rate % @ {name}" for name in names]
    lines = [_markdown_line(header), _markdown_line(["---"] * 4 + ["---:"] * 2 * len(names))]
    for row in rows:
        dataset = row["dataset"] + (" (reference)" if row["source"] == REFERENCE else "")
        cells = [row["scheme"], dataset, f"{row['n_samples']:,}", f"{row['n_classes']:,}"]
        cells += [_cell(row, "corrupted_classes_pct", name) for name in names]
        cells += [_cell(row, "noise_rate_pct", name) for name in names]
        lines.append(_markdown_line(cells))
    seeds = max((row["seeds"] for row in rows), default=0)
    caption = (
        "Table 2: percentage of training classes with at least one corrupted label, and the "
        f"achieved noise rate (% of samples flipped), per noise level; mean over {seeds} "
        "seed(s), ± sample standard deviation when several. Reference rows: the real "
        "datasets' class-size histograms, noised with the same code."
    )
    return caption + "\n\n" + "\n".join(lines) + "\n"


def _cell(row: dict, column: str, level: str) -> str:
    mean = row.get(f"{column}_{level}")
    if mean is None:
        return "–"
    std = row.get(f"{column}_std_{level}")
    return f"{mean:.2f}" if std is None else f"{mean:.2f} ± {std:.2f}"


def _markdown_line(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cells) + " |"
