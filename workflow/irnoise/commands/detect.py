"""Find the training labels a trained model finds suspicious.

Embeds the train split of --shards with --model (center crop, as evaluation does) and scores
every training sample with each detector: kNN disagreement (k nearest training neighbors by
cosine, faiss), cleanlab's confident learning on the kNN class probabilities (where samples
x classes fits detect.cleanlab_max_cells), the class-head margin (for losses with class
weights) and PRISM's score under the class centers. The labels scored are --labels (a noisy
label file) or the shards' own train labels. Writes --out (detect.npz, every detector's
scores and the neighbors); with --csv, every sample ranked by --detector (rank, row, key,
path, label, suggested, score, detector); with --picture, the --top most suspicious images
beside their nearest neighbors. --dataset (JSON: source, root, options) adds each sample's
native key and file path to the CSV.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from irnoise.config import schema_default
from irnoise.plan import DETECTORS

# The arguments this command writes (irnoise.outputs).
OUTPUTS = ("out", "csv", "picture")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, type=Path, help="model.pt of a trained run")
    parser.add_argument("--shards", required=True, type=Path, help="shard directory (train split)")
    parser.add_argument("--labels", type=Path, help="label file to score (default: the shards')")
    parser.add_argument(
        "--config",
        required=True,
        metavar="JSON",
        help="settings as JSON: crop_size, eval_batch_size, k, cleanlab_max_cells",
    )
    parser.add_argument("--out", required=True, type=Path, help="detect.npz to write")
    parser.add_argument("--csv", type=Path, help="suspicious.csv to write")
    parser.add_argument("--picture", type=Path, help="top_suspicious.png to write")
    parser.add_argument(
        "--detector",
        choices=DETECTORS,
        default=schema_default("detect", "detector"),
        help="ranks the CSV (default: detect.detector of the config schema)",
    )
    parser.add_argument(
        "--top",
        type=int,
        default=schema_default("detect", "top"),
        help="images in the picture (default: detect.top of the config schema)",
    )
    parser.add_argument("--dataset", metavar="JSON", help="source, root, options of the dataset")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads of the job")


def run(args: argparse.Namespace) -> None:
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as in evaluate.py
    from irnoise.commands.evaluate import setup
    from irnoise.detect import scores

    evaluation, detect = read_settings(args.config)
    device = setup(args.threads)
    embeddings, labels, loss = embed_train(args, device, evaluation)
    result = scores.run_detectors(
        embeddings, labels, loss, detect.k, detect.cleanlab_max_cells, device
    )
    scores.save(args.out, result)
    if args.csv or args.picture:
        write_user_outputs(args, result)


def read_settings(text: str) -> tuple[Any, Any]:
    """(Evaluation, Detect) from --config: the embedding's and the detectors' settings."""
    import dataclasses

    from irnoise.arguments import json_object
    from irnoise.config import Detect, Evaluation

    values = json_object(text, "--config")
    embedding_keys = {field.name for field in dataclasses.fields(Evaluation)}
    embedding = {key: value for key, value in values.items() if key in embedding_keys}
    detectors = {key: value for key, value in values.items() if key not in embedding_keys}
    return Evaluation.from_mapping(embedding), Detect.from_mapping(detectors)


def embed_train(args: argparse.Namespace, device: str, evaluation: Any):
    """(train embeddings, labels to score, the model's loss) of the run."""
    from irnoise.commands.evaluate import embed_split
    from irnoise.data.manifest import split_count
    from irnoise.train.labels import check_labels, load_clean_labels, load_labels
    from irnoise.train.models import load_trained

    clean = load_clean_labels(args.shards)
    labels = load_labels(args.labels) if args.labels else clean
    check_labels(labels, clean)
    model, loss, _ = load_trained(args.model, device)
    total = split_count(args.shards, "train")
    embeddings, _ = embed_split(
        args, model, device, "train", total, evaluation.crop_size, evaluation.eval_batch_size
    )
    return embeddings, labels, loss


def write_user_outputs(args: argparse.Namespace, result: Any) -> None:
    from irnoise.arguments import json_object
    from irnoise.data.manifest import read_manifest
    from irnoise.detect import suspicious, training_rows
    from irnoise.errors import UserError

    if args.detector not in result.detectors:
        raise UserError(
            f"detector {args.detector} did not run on this model and dataset (ran: "
            f"{', '.join(result.detectors)}): choose one of those with --detector"
        )
    names = training_rows.class_names(args.shards)
    if args.csv:
        dataset = json_object(args.dataset, "--dataset") if args.dataset else None
        files = training_rows.train_files(read_manifest(args.shards), dataset, len(result.labels))
        suspicious.write_suspicious_csv(args.csv, result, args.detector, files, names)
    if args.picture:
        rows = suspicious.top_rows(result, args.detector, max(args.top, 1))
        images = training_rows.read_images(args.shards, suspicious.rows_to_show(result, rows))
        suspicious.draw_top_suspicious(args.picture, result, args.detector, rows, images, names)
