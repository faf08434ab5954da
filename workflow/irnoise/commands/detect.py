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
native key and file path to the CSV. CleanNet (Lee et al., CVPR 2018) runs when it has
verification labels: --verified (a CSV of path,correct: images a person checked; their
classes are CleanNet's verified classes) or --verify-fraction (simulated from the shards'
clean labels for that share of the classes, as Table 4 does); --cleannet sets its
parameters (JSON; default method_params.cleannet of the config schema).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from irnoise.plan import CLEANNET_DETECTOR, DETECTORS
from irnoise.schema import check_setting, schema_default

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
    parser.add_argument(
        "--dataset", metavar="JSON", help="source, root, options (holdout) of the dataset"
    )
    parser.add_argument("--threads", type=int, default=1, help="CPU threads of the job")
    parser.add_argument(
        "--verified",
        type=Path,
        help="CSV of verified images (path,correct): rank with CleanNet (needs --dataset)",
    )
    parser.add_argument(
        "--verify-fraction",
        type=float,
        help="CleanNet with verification simulated from the clean labels of this share of classes",
    )
    parser.add_argument("--cleannet", metavar="JSON", help="CleanNet's parameters")


def run(args: argparse.Namespace) -> None:
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as in evaluate.py
    from irnoise.commands.evaluate import setup
    from irnoise.detect import scores

    evaluation, detect = read_settings(args.config)
    dataset = read_dataset(args.dataset)
    check_setting(args.top, "--top", "detect", "top")
    device = setup(args.threads)
    cleannet = cleannet_input(args)  # before the embedding: a bad CSV fails at once
    if args.verified:
        args.detector = CLEANNET_DETECTOR  # a person's verification: rank with CleanNet
    embeddings, labels, loss = embed_train(args, device, evaluation)
    result = scores.run_detectors(
        embeddings,
        labels,
        loss,
        detect.k,
        detect.cleanlab_max_cells,
        device,
        cleannet(labels) if cleannet else None,
    )
    scores.save(args.out, result)
    if args.csv or args.picture:
        write_user_outputs(args, result, dataset)


def read_dataset(text: str | None) -> dict[str, Any] | None:
    """--dataset's JSON (source, root, options; holdout, holdout_seed), checked against the
    config schema."""
    from irnoise.arguments import json_object
    from irnoise.errors import UserError
    from irnoise.schema import check_dataset_source

    if text is None:
        return None
    dataset = json_object(text, "--dataset")
    check_dataset_source(dataset, "--dataset")
    if not isinstance(dataset.get("root"), str):
        raise UserError("--dataset: root: the dataset's folder is needed to name its files")
    return dataset


def cleannet_input(args: argparse.Namespace) -> Any:
    """A function of the scored labels giving CleanNet's input, or None without verification."""
    from irnoise.arguments import json_object
    from irnoise.data.manifest import read_manifest
    from irnoise.detect import training_rows
    from irnoise.detect.cleannet import verification_from_truth
    from irnoise.detect.scores import CleanNetInput
    from irnoise.detect.verified import read_verified
    from irnoise.errors import UserError
    from irnoise.schema import method_defaults
    from irnoise.train.labels import load_clean_labels

    if args.verified and args.verify_fraction is not None:
        raise UserError("give CleanNet --verified or --verify-fraction, not both")
    if not args.verified and args.verify_fraction is None:
        if args.detector == CLEANNET_DETECTOR:
            raise UserError(
                "--detector cleannet needs verification labels: pass --verified "
                "verified.csv (path,correct per checked image; docs/detect.md)"
            )
        return None
    given = json_object(args.cleannet, "--cleannet") if args.cleannet else {}
    params = method_defaults(CLEANNET_DETECTOR) | given
    if args.verify_fraction is not None:
        clean = load_clean_labels(args.shards)
        fraction, seed = args.verify_fraction, int(params.get("seed", 0))
        return lambda labels: CleanNetInput(
            verification_from_truth(labels, clean, fraction, seed), params
        )
    if not args.verified.is_file():
        raise UserError(f"--verified {args.verified}: no such file")
    dataset = json_object(args.dataset, "--dataset") if args.dataset else None
    count = len(load_clean_labels(args.shards))
    files = training_rows.train_files(read_manifest(args.shards), dataset, count)
    verification = read_verified(args.verified, files)
    return lambda labels: CleanNetInput(verification, params)


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
    from irnoise.train import train_set
    from irnoise.train.labels import load_clean_labels, train_labels
    from irnoise.train.models import load_trained

    labels = train_labels(args.shards, args.labels)
    num_classes = int(load_clean_labels(args.shards).max(initial=-1)) + 1
    model, loss, payload = load_trained(args.model, device)
    train_set.check_trained_on(payload, args.model, args.shards, num_classes)
    total = split_count(args.shards, "train")
    embeddings, _ = embed_split(
        args, model, device, "train", total, evaluation.crop_size, evaluation.eval_batch_size
    )
    return embeddings, labels, loss


def write_user_outputs(
    args: argparse.Namespace, result: Any, dataset: dict[str, Any] | None
) -> None:
    from irnoise.data.manifest import read_manifest
    from irnoise.detect import suspicious, training_rows
    from irnoise.errors import UserError

    if args.detector not in result.detectors:
        raise UserError(
            f"detector {args.detector} did not run on this model and dataset (ran: "
            f"{', '.join(result.detectors)}): choose one of those with --detector"
        )
    names = training_rows.class_names(args.shards)
    say_unjudged(suspicious.unjudged_classes(result.labels, names))
    if args.csv:
        files = training_rows.train_files(read_manifest(args.shards), dataset, len(result.labels))
        suspicious.write_suspicious_csv(args.csv, result, args.detector, files, names)
    if args.picture:
        # Never more than the rows there are (--top is bounded by the schema, too).
        rows = suspicious.top_rows(result, args.detector, min(args.top, len(result.labels)))
        images = training_rows.read_images(args.shards, suspicious.rows_to_show(result, rows))
        suspicious.draw_top_suspicious(args.picture, result, args.detector, rows, images, names)


def say_unjudged(classes: list[str]) -> None:
    import sys

    from irnoise.data.datasets.annotation_files import listing

    if classes:
        print(
            f"{len(classes)} class(es) hold a single training image, which no neighbor can "
            f"vindicate: {listing(repr(name) for name in classes)}; their images are listed "
            "last in the CSV, without rank, score or suggestion (add images to judge them)",
            file=sys.stderr,
        )
