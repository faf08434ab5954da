"""Smooth Proxy-Anchor's first phase: class confidences, and the relabels they give.

Embeds the train split with --model (a plain run's model: the frozen backbone), trains
the confidence module (an MLP, one sigmoid per class, binary cross-entropy against the
one-hot --labels) on those features, relabels each row by its confidences, and writes
--out (.npz: `labels`, the relabelled class per row; `confidence`, the confidence in it).
Phase 2 is `irnoise train --method '{"name": "smooth_proxy_anchor", ...}' --keep <out>`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

# The arguments this command writes (irnoise.outputs).
OUTPUTS = ("out",)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, type=Path, help="the frozen model's model.pt")
    parser.add_argument("--shards", required=True, type=Path, help="shard directory")
    parser.add_argument("--labels", type=Path, default=None, help="the noisy labels")
    parser.add_argument(
        "--params",
        default="{}",
        help="method_params.smooth_proxy_anchor as JSON (defaults: schema)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the confidence module")
    parser.add_argument("--out", required=True, type=Path, help=".npz to write")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads of the job")


def run(args: argparse.Namespace) -> None:
    from irnoise.arguments import json_object
    from irnoise.atomic import atomic_path
    from irnoise.plan import SMOOTH_PROXY_ANCHOR
    from irnoise.schema import method_defaults
    from irnoise.train.labels import check_labels, load_clean_labels, load_labels
    from irnoise.train.methods.features import train_features
    from irnoise.train.methods.smooth_proxy_anchor import class_confidences, relabel

    params = method_defaults(SMOOTH_PROXY_ANCHOR) | json_object(args.params, "--params")
    clean = load_clean_labels(args.shards)
    labels = load_labels(args.labels) if args.labels else clean
    num_classes = check_labels(labels, clean)
    features, _, _ = train_features(str(args.model), str(args.shards), args.threads)
    confidences = class_confidences(
        features,
        labels,
        num_classes,
        hidden=int(params["hidden"]),
        epochs=int(params["confidence_epochs"]),
        seed=args.seed,
    )
    relabelled, confidence = relabel(confidences, labels, float(params["relabel_threshold"]))
    import numpy as np

    with atomic_path(args.out) as tmp, open(tmp, "wb") as handle:
        np.savez(handle, labels=relabelled, confidence=confidence)
