"""Convert a dataset to WebDataset shards: images resized once, labels, classes, a manifest.

Reads the dataset's native layout under --root with the adapter of --source and writes
<split>-NNNNNN.tar shards, <split>_labels.npy, classes.json, pairs.npy (verification
sets) and manifest.json into --out, which appears only once complete. With --holdout,
the shards hold a validation split carved from train instead of the dataset's own test
splits (`irnoise.data.holdout`).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from irnoise.data.holdout import Holdout

# The arguments this command writes (irnoise.outputs).
OUTPUTS = ("out",)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--source",
        required=True,
        help="dataset adapter: synthetic, sop, inshop, lfw, ms1m, imagenet, cub, cars, "
        "folder or csv",
    )
    parser.add_argument("--root", required=True, help="the dataset's directory (native layout)")
    parser.add_argument("--out", required=True, help="output directory of shards and manifest")
    parser.add_argument(
        "--image-size", type=int, required=True, help="shorter side of stored images, pixels"
    )
    parser.add_argument("--shard-size", type=int, required=True, help="samples per tar shard")
    parser.add_argument(
        "--skip-corrupt",
        action="store_true",
        help="leave corrupt or unreadable images out (listed in the manifest) instead of failing",
    )
    parser.add_argument(
        "--options",
        default="{}",
        help='adapter options as a JSON object; for --source synthetic {"shape": ...}',
    )
    parser.add_argument(
        "--holdout",
        type=float,
        default=None,
        help="carve a validation split from train and drop the test splits: this share of "
        "the train classes becomes test (of each class's images becomes val where the "
        "dataset has a val split)",
    )
    parser.add_argument(
        "--holdout-seed", type=int, default=0, help="seed of the held-out draw (default 0)"
    )
    parser.add_argument("--threads", type=int, default=2, help="worker processes (default 2)")


def parse_options(text: str, source: str) -> dict:
    from irnoise.arguments import json_object
    from irnoise.errors import UserError
    from irnoise.schema import check_dataset_source

    options = json_object(text, "--options")
    check_dataset_source({"source": source, "options": options}, "--source/--options")
    if source == "synthetic" and "shape" not in options:
        raise UserError(
            "--source synthetic needs the imitated dataset's shape: "
            '--options \'{"shape": "sop"}\' (sop, inshop, faces, lfw or imagenet)'
        )
    return options


def parse_holdout(args: argparse.Namespace) -> Holdout | None:
    from irnoise.data.holdout import Holdout

    return None if args.holdout is None else Holdout(args.holdout, args.holdout_seed)


def run(args: argparse.Namespace) -> None:
    from irnoise.data import datasets
    from irnoise.data.sharding import write_shards

    options = parse_options(args.options, args.source)
    index = datasets.load(args.source, args.root, options, holdout=parse_holdout(args))
    # The manifest names the configured source ("synthetic"), not the adapter that read it.
    index = dataclasses.replace(index, source=args.source)
    manifest = write_shards(
        index,
        args.out,
        image_size=args.image_size,
        shard_size=args.shard_size,
        skip_corrupt=args.skip_corrupt,
        threads=args.threads,
    )
    report(manifest, n_pairs=len(index.pairs), out=args.out)


def report(manifest: dict, n_pairs: int, out: str) -> None:
    """Say what was written and, loudly, what was left out."""
    for split, entry in manifest["splits"].items():
        print(
            f"{split}: {entry['count']} images, {entry['classes']} classes, "
            f"{len(entry['shards'])} shard(s)",
            file=sys.stderr,
        )
    skipped = manifest["skipped"]
    if skipped:
        print(
            f"skipped {len(skipped)} corrupt or unreadable image(s); "
            f"listed under 'skipped' in {out}/manifest.json",
            file=sys.stderr,
        )
    if manifest["pairs"] < n_pairs:
        print(
            f"dropped {n_pairs - manifest['pairs']} of {n_pairs} verification pairs "
            "that use a skipped image",
            file=sys.stderr,
        )
    print(f"wrote {out}", file=sys.stderr)
