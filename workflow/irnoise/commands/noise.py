"""Write a noisy copy of a dataset's train labels, and its statistics beside it.

Reads <shards>/train_labels.npy, applies one noise scheme (uniform, large, small) at one
level with one seed, and writes the noisy labels (int64, aligned with the train rows) to
--out and the statistics (noise rate, corrupted and selected classes, ...) to the same
path with the suffix .json. The statistics name the dataset, scheme, level and seed they
belong to, so that readers (Table 2, Figure 3) never parse them out of a path. Both files
are written atomically, the .json last.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from irnoise.plan import NOISE_SCHEMES

# The arguments this command writes (irnoise.outputs).
OUTPUTS = ("out",)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--shards", required=True, type=Path, help="shard directory")
    parser.add_argument(
        "--dataset",
        help="the dataset's name, recorded in the stats (default: the shard directory's name)",
    )
    parser.add_argument("--scheme", required=True, choices=NOISE_SCHEMES)
    parser.add_argument(
        "--level", required=True, type=float, help="share of training samples, in [0, 1)"
    )
    parser.add_argument("--seed", required=True, type=int, help="non-negative noise seed")
    parser.add_argument("--out", required=True, type=Path, help="noisy label file (.npy)")


def run(args: argparse.Namespace) -> None:
    from irnoise.errors import UserError

    if args.out.suffix != ".npy":
        raise UserError(f"--out {args.out} must end in .npy (the stats go to the .json beside it)")
    clean = _train_labels(args.shards)
    try:
        noisy, stats = _noisy_labels(clean, args.scheme, args.level, args.seed)
    except ValueError as error:
        raise UserError(f"{error} (dataset {args.shards})") from error
    if args.level > 0 and stats["flipped"] == 0:
        # Possible on tiny sets: the shuffle of the selected classes' labels left each in place.
        raise UserError(
            f"{args.scheme} noise at level {args.level} with seed {args.seed} changed no "
            f"label of the {stats['n_samples']} samples of {args.shards} (the shuffle of the "
            f"{stats['n_selected_classes']} selected classes left every label in place): "
            "use a dataset with more samples, or another seed"
        )
    _write(args, noisy, stats)


def _train_labels(shards: Path):
    import numpy as np

    from irnoise.errors import UserError

    path = shards / "train_labels.npy"
    if not path.is_file():
        raise UserError(
            f"no train labels at {path}: --shards must be a shard directory written by "
            f"`irnoise shard` with a train split (run it first)"
        )
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise UserError(f"cannot read {path} ({error}): rewrite the shards") from error


def _noisy_labels(clean, scheme: str, level: float, seed: int):
    import numpy as np

    from irnoise.noise import corrupt_with_stats

    noisy, stats = corrupt_with_stats(clean, scheme, level, seed)
    return noisy.astype(np.int64, copy=False), stats


def _write(args: argparse.Namespace, noisy, stats: dict) -> None:
    from irnoise.atomic import save_npy, write_json

    save_npy(args.out, noisy)
    dataset = args.dataset or args.shards.resolve().name
    header = {"dataset": dataset, "scheme": args.scheme, "level": args.level, "seed": args.seed}
    paths = {"shards": str(args.shards), "labels": str(args.out)}
    write_json(args.out.with_suffix(".json"), header | stats | paths)
