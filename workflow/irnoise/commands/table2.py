"""The study's Table 2: percentage of corrupted training classes per scheme, dataset, level.

Reads the stats files `irnoise noise` wrote for the configured train datasets
(data/labels/<dataset>/<scheme>/<level>/seed<seed>.json) and adds the embedded
class-size histograms of real datasets (--references), noised here for every scheme,
level and seed of the grid. Writes --out (CSV) and the same path with suffix .md.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from irnoise.plan import NOISE_SCHEMES

# The arguments this command writes (irnoise.outputs).
OUTPUTS = ("out",)


def comma_list(kind: type):
    def parse(text: str) -> list:
        try:
            return [kind(item) for item in text.split(",") if item.strip()]
        except ValueError as error:
            raise argparse.ArgumentTypeError(f"{text!r}: {error}") from error

    parse.__name__ = f"comma-separated {kind.__name__} list"
    return parse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--stats", nargs="*", default=[], type=Path, help="stats files of irnoise noise"
    )
    parser.add_argument(
        "--references",
        type=comma_list(str),
        default=[],
        help="embedded histograms, e.g. sop_train,inshop_train,cub_train,cars_train",
    )
    parser.add_argument("--levels", required=True, type=comma_list(float), help="e.g. 0.1,0.2")
    parser.add_argument("--seeds", required=True, type=comma_list(int), help="e.g. 0,1,2")
    parser.add_argument("--schemes", type=comma_list(str), default=list(NOISE_SCHEMES))
    parser.add_argument("--out", required=True, type=Path, help="CSV file (.md written beside)")


def run(args: argparse.Namespace) -> None:
    from irnoise.atomic import write_text
    from irnoise.errors import UserError
    from irnoise.report import table2

    unknown = sorted(set(args.schemes) - set(NOISE_SCHEMES))
    if unknown or not args.schemes or not args.levels or not args.seeds:
        raise UserError(
            f"--schemes, --levels and --seeds must be non-empty (unknown schemes: {unknown}); "
            "schemes are uniform, large, small"
        )
    records = table2.load_stats(args.stats)
    try:
        records += table2.reference_records(args.references, args.schemes, args.levels, args.seeds)
    except ValueError as error:  # a level the noise cannot reach, a bad seed
        raise UserError(f"reference histograms: {error}") from error
    table2.check_grid(records, args.schemes, args.levels)
    rows = table2.table_rows(records, args.schemes, args.levels)
    write_text(args.out, table2.to_csv(rows))
    write_text(args.out.with_suffix(".md"), table2.to_markdown(rows, args.levels))
