"""The study's figures: one module each, plus the look they share.

A figure module defines `add_arguments(parser)` and `draw(args)` and imports only the
standard library at module level (matplotlib and pandas inside `draw`), so that
`irnoise figure` starts fast and one broken figure cannot break the others. This module
holds what they share: the Agg backend, sizes and colors, and an atomic `save_figure`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from irnoise.atomic import atomic_path
from irnoise.plan import (
    CLASSIFICATION,
    CLEAN_SCHEME,
    LARGE,
    RETRIEVAL,
    SMALL,
    UNIFORM,
    VERIFICATION,
)

PANEL_SIZE = (4.6, 3.4)  # inches per panel
DPI = 150
MAX_COLUMNS = 3
STYLE = {
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "legend.fontsize": 8,
    "figure.titlesize": 11,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "errorbar.capsize": 3,
    "lines.markersize": 5,
    # Every text is plain: a `$` in a class, dataset or experiment name is a dollar sign,
    # not the start of a mathtext formula (an unpaired one made matplotlib raise).
    "text.parse_math": False,
}
# Fixed colors per scheme so that the figures agree with one another.
SCHEME_COLORS = {UNIFORM: "#d62728", SMALL: "#1f77b4", LARGE: "#2ca02c", CLEAN_SCHEME: "black"}
TASK_COLORS = {RETRIEVAL: "#1f77b4", VERIFICATION: "#9467bd", CLASSIFICATION: "#d62728"}
SCHEME_MARKERS = {UNIFORM: "o", SMALL: "s", LARGE: "^", CLEAN_SCHEME: "D"}


def pyplot() -> Any:
    """matplotlib.pyplot on the Agg backend (no display on cluster nodes) with our style."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update(STYLE)
    return plt


def panel_grid(n_panels: int, title: str) -> tuple[Any, list[Any]]:
    """A figure of `n_panels` axes, at most MAX_COLUMNS per row; unused axes hidden."""
    plt = pyplot()
    # Four panels read better as 2 x 2 than as 3 + 1.
    columns = 2 if n_panels == 4 else min(max(n_panels, 1), MAX_COLUMNS)
    rows = -(-max(n_panels, 1) // columns)
    figure, axes = plt.subplots(
        rows,
        columns,
        figsize=(PANEL_SIZE[0] * columns, PANEL_SIZE[1] * rows + 0.5),
        squeeze=False,
        layout="constrained",
    )
    flat = list(axes.flat)
    for unused in flat[n_panels:]:
        unused.set_visible(False)
    figure.suptitle(title)
    return figure, flat[:n_panels]


def percent_axis(axis: Any) -> None:
    """Tick labels like "10%" or "12.5%" for an axis whose data are already in percent."""
    from matplotlib.ticker import FuncFormatter

    axis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}%"))


def level_label(level: float) -> str:
    return "clean" if level == 0 else f"{level * 100:g}% noise"


def save_figure(figure: Any, path: str | os.PathLike) -> None:
    """Write the figure atomically; the format follows the target's suffix (PNG default)."""
    plt = pyplot()
    file_format = Path(path).suffix.lstrip(".").lower() or "png"
    with atomic_path(path) as tmp:
        # The temporary name ends in .tmp, so the format must be named.
        figure.savefig(tmp, format=file_format, dpi=DPI)
    plt.close(figure)


def plot_series(axis: Any, x: Any, y: Any, error: Any = None, **style: Any) -> None:
    """A line with markers; error bars only where there is a spread (several seeds)."""
    import numpy as np

    has_error = error is not None and bool(np.isfinite(np.asarray(error, dtype=float)).any())
    if has_error:
        axis.errorbar(x, y, yerr=np.nan_to_num(np.asarray(error, dtype=float)), **style)
    else:
        axis.plot(x, y, **style)
