"""Sub-center ArcFace's keep-mask: the train rows a stage-1 model does not call outliers.

Embeds the train split (center crops) with --model (trained with SubCenterArcFaceLoss on
--labels), marks as outliers the samples farther than --threshold degrees from their
class's dominant sub-center (with --drop-nondominant, also those nearest a non-dominant
one), and writes the keep-mask
(bool per train row) to --out. Stage 2 (`irnoise train --method '{"name": "subcenter"}'
--keep <out>`) retrains plain ArcFace on the kept rows.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from irnoise.plan import SUBCENTER
from irnoise.schema import schema_default

# The arguments this command writes (irnoise.outputs).
OUTPUTS = ("out",)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, type=Path, help="stage-1 model.pt")
    parser.add_argument("--shards", required=True, type=Path, help="shard directory")
    parser.add_argument("--labels", type=Path, default=None, help="the noisy labels trained on")
    parser.add_argument(
        "--threshold",
        type=float,
        default=schema_default("$defs", "experiment", "method_params", SUBCENTER, "threshold"),
        help="outlier angle, degrees (default: the config schema's subcenter threshold)",
    )
    parser.add_argument(
        "--drop-nondominant",
        action="store_true",
        help="also drop the rows nearest a non-dominant sub-center (a variant, not the reference)",
    )
    parser.add_argument("--out", required=True, type=Path, help="keep-mask .npy to write")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads of the job")


def run(args: argparse.Namespace) -> None:
    from irnoise.atomic import save_npy
    from irnoise.train.labels import train_labels
    from irnoise.train.methods.subcenter import keep_mask_from_model

    labels = train_labels(args.shards, args.labels)
    keep = keep_mask_from_model(
        str(args.model),
        str(args.shards),
        labels,
        args.threshold,
        args.threads,
        args.drop_nondominant,
    )
    save_npy(args.out, keep)
