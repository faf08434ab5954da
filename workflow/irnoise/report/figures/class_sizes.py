"""Figure 1: class-size distributions, with the classes large and small noise hit.

One panel per dataset: its classes sorted by size, largest first, on an x axis in
percent of classes, so that the width of a colored band reads as the share of classes
a scheme shuffles at the figure's level (Table 2's "selected" classes; a selected class
is almost always corrupted). Datasets are the train splits of shard directories
(--shards-dirs) and the embedded histograms of real datasets (--references).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from irnoise.plan import CLASS_SCHEMES, LARGE, SMALL

HIT_LABELS = {LARGE: "large-class noise", SMALL: "small-class noise"}
REST_COLOR = "#c7c7c7"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--shards-dirs", nargs="*", default=[], type=Path, help="shard directories (train split)"
    )
    parser.add_argument(
        "--names",
        default="",
        help="panel titles of --shards-dirs, comma-separated (default: the directory names)",
    )
    parser.add_argument(
        "--references",
        default="",
        help="embedded histograms, comma-separated, e.g. sop_train,inshop_train",
    )
    parser.add_argument("--level", required=True, type=float, help="noise level to highlight")
    parser.add_argument("--seed", type=int, default=0, help="noise seed (breaks size ties)")
    parser.add_argument("--out", required=True, type=Path, help="PNG file")


def draw(args: argparse.Namespace) -> None:
    from irnoise.errors import UserError
    from irnoise.report.figures import panel_grid, save_figure

    datasets = _datasets(args)
    if not datasets:
        raise UserError("nothing to draw: give --shards-dirs and/or --references")
    title = f"Classes shuffled by large- and small-class noise at level {args.level:g}"
    figure, axes = panel_grid(len(datasets), f"{title} (seed {args.seed})")
    for axis, (name, labels) in zip(axes, datasets, strict=True):
        try:
            _draw_panel(axis, name, labels, args.level, args.seed)
        except ValueError as error:
            raise UserError(f"{name}: {error}") from error
    save_figure(figure, args.out)


def _datasets(args: argparse.Namespace) -> list[tuple[str, Any]]:
    """(name, train labels) of every shard directory, then every reference histogram."""
    import numpy as np

    from irnoise.data.reference_class_sizes import REFERENCE_HISTOGRAMS, labels_from_histogram
    from irnoise.errors import UserError

    names = [name for name in args.names.split(",") if name] or [
        path.name for path in args.shards_dirs
    ]
    if len(names) != len(args.shards_dirs):
        raise UserError(f"--names gives {len(names)} names for {len(args.shards_dirs)} dirs")
    datasets = []
    for name, directory in zip(names, args.shards_dirs, strict=True):
        path = directory / "train_labels.npy"
        if not path.is_file():
            raise UserError(f"no train labels at {path}: run `irnoise shard` for {directory}")
        datasets.append((name, np.load(path, allow_pickle=False)))
    for name in filter(None, args.references.split(",")):
        if name not in REFERENCE_HISTOGRAMS:
            known = ", ".join(REFERENCE_HISTOGRAMS)
            raise UserError(f"unknown reference histogram {name!r}: choose among {known}")
        datasets.append((f"{name} (reference)", labels_from_histogram(name)))
    return datasets


def display_order(sizes: Any, large: Any, small: Any) -> Any:
    """Class positions sorted by size, largest first. Among equal sizes: classes only large
    noise hits, then classes both schemes hit, then the rest, then classes only small noise
    hits, so that each color forms a band (equal sizes make the placement faithful)."""
    import numpy as np

    group = np.select([large & ~small, large & small, small], [-2, -1, 1], default=0)
    return np.lexsort((group, -sizes))


def _draw_panel(axis: Any, name: str, labels: Any, level: float, seed: int) -> None:
    import numpy as np

    from irnoise.noise import class_table, select_classes
    from irnoise.report.figures import SCHEME_COLORS

    classes = class_table(labels)
    hit = {
        scheme: np.isin(classes.ids, select_classes(labels, scheme, level, seed))
        for scheme in CLASS_SCHEMES
    }
    order = display_order(classes.sizes, hit[LARGE], hit[SMALL])
    sizes = classes.sizes[order]
    large, small = hit[LARGE][order], hit[SMALL][order]
    edges = np.linspace(0, 100, sizes.size + 1)
    # Long tails span orders of magnitude: log scale, filled down to below the smallest.
    log = sizes.max() >= 10 * max(sizes.min(), 1)
    bottom = sizes.min() / 1.5 if log else 0
    axis.stairs(sizes, edges, baseline=bottom, fill=True, color=REST_COLOR, label="not selected")
    for scheme, mask in ((LARGE, large), (SMALL, small)):
        label = f"{HIT_LABELS[scheme]}: {mask.sum():,} classes ({100 * mask.mean():.1f}%)"
        band = np.where(mask & ~(large & small), sizes, bottom)
        color = SCHEME_COLORS[scheme]
        axis.stairs(band, edges, baseline=bottom, fill=True, color=color, label=label)
        _mark_thin_band(axis, edges, mask, color)
    if (large & small).any():
        # Hit by both (possible at high levels): large's color, hatched in small's.
        both = np.where(large & small, sizes, bottom)
        axis.stairs(
            both, edges, baseline=bottom, fill=True, color=SCHEME_COLORS[LARGE],
            hatch="////", edgecolor=SCHEME_COLORS[SMALL], linewidth=0,
            label=f"selected by both: {(large & small).sum():,} classes",
        )  # fmt: skip
    _style_panel(axis, name, classes, sizes, log, bottom)


def _mark_thin_band(axis: Any, edges: Any, mask: Any, color: str) -> None:
    """A band narrower than a pixel would vanish: draw its edge as a line as well."""
    import numpy as np

    inside = np.flatnonzero(mask)
    if inside.size and edges[inside[-1] + 1] - edges[inside[0]] < 0.5:
        axis.axvline(edges[inside[0]], color=color, linewidth=1.5)


def _style_panel(axis: Any, name: str, classes: Any, sizes: Any, log: bool, bottom: float) -> None:
    from irnoise.report.figures import percent_axis

    n_samples = int(classes.sizes.sum())
    axis.set_title(f"{name}\n{n_samples:,} images, {classes.count:,} classes")
    axis.set_xlim(0, 100)
    percent_axis(axis.xaxis)
    axis.set_xlabel("share of classes, sorted by size (largest first)")
    axis.set_ylabel("images per class")
    if log:
        axis.set_yscale("log")
        axis.set_ylim(bottom, sizes.max() * 3)  # headroom for the legend
    else:
        axis.set_ylim(0, sizes.max() * 1.35)
    axis.legend(loc="upper right", frameon=True)
