"""Generate an embedded synthetic dataset in the native layout of the dataset it imitates.

Shapes: sop (Stanford Online Products: Ebay_train.txt, Ebay_test.txt), inshop (In-Shop:
list_eval_partition.txt with train/query/gallery), faces (MS-Celeb-1M-like identities,
a folder each), lfw (LFW: a folder per person and pairs.txt with 6,000 pairs in 10
folds), imagenet (train/<wnid>/ and val/<wnid>/). The number of classes is --scale
times the real dataset's; class sizes follow its histogram. The same arguments give
byte-identical files; synth.json records the parameters and the counts.
"""

from __future__ import annotations

import argparse
import math
import sys

from irnoise.schema import schema_default

# The arguments this command writes (irnoise.outputs).
OUTPUTS = ("out",)


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from irnoise.data.synthetic import SHAPES  # standard library only, unlike its submodules

    parser.add_argument("--shape", required=True, choices=SHAPES, help="real dataset imitated")
    parser.add_argument(
        "--scale",
        type=positive_float,
        default=schema_default("$defs", "synthetic", "scale"),
        help="factor on the real class count",
    )
    parser.add_argument(
        "--image-size",
        type=int,
        default=schema_default("$defs", "synthetic", "image_size"),
        help="image side in pixels",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=schema_default("$defs", "synthetic", "seed"),
        help="random seed (non-negative)",
    )
    parser.add_argument("--out", required=True, help="output directory (replaced atomically)")
    parser.add_argument("--threads", type=int, default=1, help="worker processes")


def run(args: argparse.Namespace) -> None:
    from irnoise.data.synthetic import generate

    summary = generate(args.shape, args.scale, args.image_size, args.seed, args.out, args.threads)
    splits = ", ".join(
        f"{split} {entry['images']} images / {entry['classes']} classes"
        for split, entry in summary["splits"].items()
    )
    pairs = f", {summary['pairs']} pairs" if summary["pairs"] else ""
    print(f"irnoise synth: {args.out}: {args.shape}: {splits}{pairs}", file=sys.stderr)
