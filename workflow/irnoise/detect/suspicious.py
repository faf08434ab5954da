"""The user's outputs: every training sample ranked by suspicion (`suspicious.csv`), and
the top ones beside their nearest neighbors (`top_suspicious.png`).

A class with a single training image cannot be judged: none of its neighbors can share
its label, so every detector would call it mislabelled with full confidence. Such rows
are listed last, unranked, without a score or a suggestion, and left out of the picture.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from irnoise.atomic import write_text
from irnoise.detect.evaluation import ranking
from irnoise.detect.scores import DetectorScores
from irnoise.spreadsheet import text_cell

CSV_COLUMNS = ("rank", "row", "key", "path", "label", "suggested", "score", "detector")
NEIGHBORS_SHOWN = 5


def label_name(names: list[str], label: int) -> str:
    return names[label] if 0 <= label < len(names) else str(label)


def judged(labels: np.ndarray) -> np.ndarray:
    """True for the rows whose class holds at least two training rows."""
    counts = np.bincount(labels, minlength=int(labels.max(initial=0)) + 1)
    return counts[labels] >= 2


def unjudged_classes(labels: np.ndarray, names: list[str]) -> list[str]:
    """The names of the classes with a single training row."""
    return [label_name(names, int(label)) for label in np.unique(labels[~judged(labels)])]


def ranked_rows(result: DetectorScores, detector: str) -> np.ndarray:
    """The judged rows, most suspicious first (ties by row)."""
    order = ranking(result.scores[detector])
    return order[judged(result.labels)[order]]


def suspicious_csv(
    result: DetectorScores,
    detector: str,
    files: list[tuple[str, str]],
    names: list[str],
) -> str:
    """Every training row, most suspicious first (ties by row); unjudged rows last, by row."""
    scores, suggested = result.scores[detector], result.suggested[detector]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    ranked = ranked_rows(result, detector)
    unranked = np.flatnonzero(~judged(result.labels))
    for rank, row in enumerate([*ranked, *unranked], start=1):
        key, path = files[row]
        is_ranked = rank <= len(ranked)
        writer.writerow(
            [
                rank if is_ranked else "",
                row,
                text_cell(key),
                text_cell(path),
                text_cell(label_name(names, int(result.labels[row]))),
                text_cell(label_name(names, int(suggested[row]))) if is_ranked else "",
                f"{scores[row]:.6g}" if is_ranked else "",
                detector,
            ]
        )
    return out.getvalue()


def write_suspicious_csv(
    path: str | Path,
    result: DetectorScores,
    detector: str,
    files: list[tuple[str, str]],
    names: list[str],
) -> None:
    write_text(path, suspicious_csv(result, detector, files, names))


def top_rows(result: DetectorScores, detector: str, top: int) -> list[int]:
    return ranked_rows(result, detector)[:top].tolist()


def rows_to_show(result: DetectorScores, rows: list[int]) -> set[int]:
    """The top rows and the neighbors drawn beside them."""
    shown = set(rows)
    for row in rows:
        shown.update(int(i) for i in result.neighbors.ids[row, :NEIGHBORS_SHOWN] if i >= 0)
    return shown


def line_cells(
    result: DetectorScores, detector: str, row: int, names: list[str]
) -> list[tuple[int, str, str]]:
    """(row, title, title color) of a suspicious image and of its nearest neighbors."""
    given = int(result.labels[row])
    suggested = int(result.suggested[detector][row])
    title = f"#{row} filed: {label_name(names, given)}\nlooks: {label_name(names, suggested)}"
    cells = [(row, title, "red" if suggested != given else "black")]
    for neighbor in result.neighbors.ids[row, :NEIGHBORS_SHOWN]:
        label = int(result.labels[neighbor])
        color = "green" if label == given else "black"
        cells.append((int(neighbor), label_name(names, label), color))
    return cells


def draw_top_suspicious(
    path: str | Path,
    result: DetectorScores,
    detector: str,
    rows: list[int],
    images: dict[int, bytes],
    names: list[str],
) -> None:
    """One line per suspicious image: it (titled with the label it is filed under and the
    one its neighbors suggest, red where they differ), then its nearest training
    neighbors with their labels (green where they agree with the filed label: a line
    without green says "this one is filed in the wrong class")."""
    from PIL import Image

    from irnoise.report.figures import pyplot, save_figure

    plt = pyplot()
    columns, lines = 1 + NEIGHBORS_SHOWN, max(len(rows), 1)
    figure, axes = plt.subplots(
        lines, columns, figsize=(1.6 * columns, 1.8 * lines), squeeze=False, layout="constrained"
    )
    figure.suptitle(f"Most suspicious training labels ({detector}) and their nearest neighbors")
    for line, row in zip(axes, rows, strict=False):
        for axis, (shown, title, color) in zip(
            line, line_cells(result, detector, row, names), strict=False
        ):
            if shown in images:
                axis.imshow(np.asarray(Image.open(io.BytesIO(images[shown])).convert("RGB")))
            axis.set_title(title, fontsize=7, color=color)
    for axis in axes.flat:
        axis.axis("off")
    save_figure(figure, path)
