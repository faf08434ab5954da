"""Embed the evaluation split(s) with a trained model and write the task's metrics.

Loads --model (a model.pt from `irnoise train`), embeds the splits of --shards that the
task needs (center crop, no augmentation; on the GPU when there is one) and computes:
retrieval R@1/2/4/8 and MAP@R (test leave-one-out, or query against gallery), or
classification top-1 accuracy on val, or verification TPR@FPR=1e-3, 10-fold accuracy
and R@1 on the test split and its pairs. With `--protocol leave-one-out` a query/gallery
retrieval set is scored as a test split is: query and gallery pooled, each image against
all the others (the run's official metrics stay where they are). Writes --out
(metrics.json) atomically with the run's identity (--run), the protocol, the values, the
counts, the model path, the embedding device and the faiss build (distribution, version,
the search's device), and --per-query
(per_query.npz: per-query hits, per-pair scores; `irnoise.evaluate.per_query`).
"""

from __future__ import annotations

import argparse
import math
import os
from pathlib import Path
from typing import Any

from irnoise.plan import LEAVE_ONE_OUT, OFFICIAL, PROTOCOLS, TASKS

# The arguments this command writes (irnoise.outputs).
OUTPUTS = ("out", "per_query")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, type=Path, help="model.pt of the run")
    parser.add_argument("--shards", required=True, type=Path, help="evaluation shard directory")
    parser.add_argument("--task", required=True, choices=TASKS)
    parser.add_argument(
        "--protocol",
        choices=PROTOCOLS,
        default=OFFICIAL,
        help=f"retrieval protocol: the dataset's own ({OFFICIAL}: query against gallery, "
        f"or test leave-one-out), or {LEAVE_ONE_OUT} over query + gallery pooled",
    )
    parser.add_argument(
        "--config",
        required=True,
        metavar="JSON",
        help="evaluation settings as JSON (crop_size, eval_batch_size)",
    )
    # dest: the CLI keeps each command's run() function in args.run.
    parser.add_argument(
        "--run",
        dest="run_identity",
        required=True,
        metavar="JSON",
        help="the run's identity as JSON (experiment, scheme, level, ...)",
    )
    parser.add_argument("--out", required=True, type=Path, help="metrics.json to write")
    parser.add_argument(
        "--per-query", type=Path, help="per_query.npz to write (what intervals resample)"
    )
    parser.add_argument("--threads", type=int, default=1, help="CPU threads of the job")


def run(args: argparse.Namespace) -> None:
    # Before torch loads OpenMP: spinning barriers slow CPU work on a busy machine (train.py).
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from irnoise.arguments import json_object
    from irnoise.config import Evaluation

    config = Evaluation.from_mapping(json_object(args.config, "--config"))
    identity = json_object(args.run_identity, "--run")
    device = setup(args.threads)
    from irnoise.evaluate.faiss_build import build_info

    faiss_build = build_info()  # before the work: refuses two installed faiss builds
    values, counts, arrays = evaluate(args, device, config.crop_size, config.eval_batch_size)
    if args.per_query is not None:
        from irnoise.evaluate.per_query import save_per_query

        save_per_query(args.per_query, args.task, arrays)
    write(args, identity, values, counts, device, faiss_build)


def setup(threads: int) -> str:
    """The device to embed on (a GPU of its own where the machine has any: a free one,
    claimed before CUDA starts); torch and faiss limited to the job's threads."""
    from irnoise import devices

    devices.claim_gpus(1)
    import torch

    from irnoise.evaluate import knn

    torch.set_num_threads(max(1, threads))
    knn.set_threads(threads)
    return "cuda" if torch.cuda.is_available() else "cpu"


def evaluate(
    args: argparse.Namespace, device: str, crop_size: int, batch_size: int
) -> tuple[dict[str, float], dict[str, int], dict[str, Any]]:
    from irnoise.data.manifest import read_manifest
    from irnoise.evaluate.tasks import evaluate_embeddings, evaluation_splits, pooled_retrieval
    from irnoise.train.models import load_trained

    manifest = read_manifest(args.shards)
    splits = evaluation_splits(args.task, manifest["splits"], args.protocol)
    # Only classification reads the loss (its class weights).
    model, loss, _ = load_trained(args.model, device, with_loss=args.task == "classification")
    embeddings, labels = {}, {}
    for split in splits:
        total = manifest["splits"][split]["count"]
        embeddings[split], labels[split] = embed_split(
            args, model, device, split, total, crop_size, batch_size
        )
    logits = None
    if args.task == "classification":
        logits = class_logits(loss, embeddings["val"], device)
    pairs = read_pairs(args.shards) if args.task == "verification" else None
    if args.protocol == LEAVE_ONE_OUT:
        values, counts, arrays = pooled_retrieval(embeddings, labels)
    else:
        values, counts, arrays = evaluate_embeddings(args.task, embeddings, labels, pairs, logits)
    counts |= {f"{split}_images": len(labels[split]) for split in splits}
    return values, counts, arrays


def embed_split(args, model, device: str, split: str, total: int, crop_size: int, batch_size: int):
    """(embeddings, labels) of one split in row order, or a UserError naming the fix."""
    import numpy as np

    from irnoise.data.loader import eval_batches
    from irnoise.errors import UserError
    from irnoise.evaluate.embed import embed

    # Decoding in workers, the forward pass in this process: one thread each.
    workers = max(args.threads - 1, 0)
    # With `device`, uint8 batches are normalized there: 4x fewer bytes to a GPU.
    batches = eval_batches(
        args.shards,
        split,
        crop_size,
        batch_size,
        workers,
        pin_memory=device == "cuda",
        device=device,
    )
    try:
        embeddings, labels = embed(model, batches, device, total)
    except ValueError as error:
        raise UserError(
            f"{args.shards}, split {split}: {error}; the shards do not match their "
            "manifest: delete the directory and rerun `irnoise shard`"
        ) from error
    if not np.isfinite(embeddings).all():
        raise UserError(
            f"the model {args.model} gives NaN or infinite embeddings on {split}: the "
            "run diverged; retrain it (a lower lr, or fewer noisy labels)"
        )
    return embeddings, labels


def class_logits(loss, embeddings, device: str, chunk: int = 8192):
    """The loss's cosine class logits, computed in chunks to bound device memory."""
    import numpy as np
    import torch

    from irnoise.train.losses import class_logits as logits_of

    with torch.inference_mode():
        parts = [
            logits_of(loss, torch.from_numpy(embeddings[i : i + chunk]).to(device)).cpu()
            for i in range(0, len(embeddings), chunk)
        ]
    return torch.cat(parts).numpy().astype(np.float32, copy=False)


def read_pairs(shards: Path):
    import numpy as np

    from irnoise.errors import UserError

    path = shards / "pairs.npy"
    if not path.is_file():
        raise UserError(
            f"no verification pairs at {path}: the verification task needs an evaluation "
            "dataset with pairs (LFW layout with pairs.txt); shard one, or use task retrieval"
        )
    return np.load(path, allow_pickle=False)


def write(
    args: argparse.Namespace,
    identity: dict[str, Any],
    values: dict[str, float],
    counts: dict[str, int],
    device: str,
    faiss_build: dict[str, Any],
) -> None:
    from irnoise.atomic import write_json

    # JSON has no NaN: an undefined metric (no query with a match) is written as null.
    finite = {name: (None if math.isnan(v) else float(v)) for name, v in values.items()}
    write_json(
        args.out,
        {
            "run": identity,
            "protocol": args.protocol,
            "metrics": finite,
            "counts": {name: int(count) for name, count in counts.items()},
            "model": str(args.model),
            "shards": str(args.shards),
            "device": device,
            "faiss": faiss_build,
        },
    )
