"""Plausible fake outputs of the training and evaluation stages, for table and figure tests.

The values follow the study's shape (retrieval drops more than classification; uniform
noise hurts more than small-class noise, which hurts more than large-class noise), so
that the figures drawn from them can be looked at and judged. Each run also gets a
per_query.npz from which its metrics.json values are exactly recomputable: the runs of
one experiment and seed share a per-query difficulty (as real runs share their queries).
"""

from __future__ import annotations

import csv
import json
import math
import random
from dataclasses import dataclass, field
from pathlib import Path
from statistics import NormalDist

import numpy as np

from irnoise.evaluate.all_pairs import all_pairs, tpr_at_fpr_all_pairs
from irnoise.evaluate.metrics import tpr_at_fpr
from irnoise.evaluate.per_query import save_per_query

EXPERIMENTS = {
    # name: (train, eval, task, schemes, {metric: clean value}, sensitivity to noise)
    "sop": ("synth_sop", "synth_sop", "retrieval", ("uniform", "large", "small"),
            {"R@1": 0.78, "R@2": 0.84, "R@4": 0.89, "R@8": 0.92, "MAP@R": 0.45}, 1.0),
    "inshop": ("synth_inshop", "synth_inshop", "retrieval", ("uniform", "large", "small"),
               {"R@1": 0.88, "R@2": 0.92, "R@4": 0.95, "R@8": 0.97, "MAP@R": 0.55}, 0.8),
    "faces": ("synth_faces", "synth_lfw", "verification", ("uniform",),
              {"R@1": 0.93, "TPR@FPR=1e-3": 0.81, "verification_accuracy": 0.97}, 0.6),
    "imagenet": ("synth_imagenet", "synth_imagenet", "classification", ("uniform",),
                 {"accuracy": 0.74}, 0.25),
}  # fmt: skip
TPR = "TPR@FPR=1e-3"
ALL_PAIRS_TPR = "TPR@FPR=1e-3 (all pairs)"
IDENTITIES = 40  # of the fake verification test images
SCHEME_HARM = {"uniform": 1.0, "small": 0.6, "large": 0.3}
EPOCHS = 8
QUERIES = 400  # per run: small, so that table tests stay fast
PAIRS = 1000


@dataclass
class FakeResults:
    metrics: list[Path] = field(default_factory=list)
    history: list[Path] = field(default_factory=list)
    stats: list[Path] = field(default_factory=list)
    per_query: list[Path] = field(default_factory=list)


def run_dir(root: Path, experiment: str, scheme: str, level: float, seed: int) -> Path:
    return root / "results" / "runs" / experiment / scheme / f"{level:g}" / f"seed{seed}"


def noisy_value(clean: float, harm: float, level: float, rng: random.Random) -> float:
    return min(1.0, max(0.0, clean * (1 - harm * level * 1.2) + rng.gauss(0, 0.01)))


def write_run(root: Path, experiment: str, scheme: str, level: float, seed: int) -> Path:
    """metrics.json and per_query.npz of one run; the metrics are the arrays' means."""
    train, eval_, task, _, clean_metrics, sensitivity = EXPERIMENTS[experiment]
    rng = random.Random(f"{experiment}/{scheme}/{level}/{seed}")
    harm = sensitivity * SCHEME_HARM.get(scheme, 0.0)
    targets = {name: noisy_value(value, harm, level, rng) for name, value in clean_metrics.items()}
    arrays, metrics = per_query_arrays(task, targets, experiment, seed, rng.randrange(2**32))
    run = {"experiment": experiment, "train": train, "eval": eval_, "task": task,
           "scheme": scheme, "level": level, "seed": seed}  # fmt: skip
    directory = run_dir(root, experiment, scheme, level, seed)
    directory.mkdir(parents=True, exist_ok=True)
    save_per_query(directory / "per_query.npz", task, arrays)
    path = directory / "metrics.json"
    payload = {"run": run, "metrics": metrics, "counts": {"queries": QUERIES}, "model": "model.pt"}
    path.write_text(json.dumps(payload))
    return path


def per_query_arrays(task: str, targets: dict, experiment: str, seed: int, run_seed: int):
    """Arrays whose metrics are close to `targets`, and those metrics exactly."""
    shared = np.random.default_rng([seed, len(experiment), *experiment.encode()])
    difficulty = shared.random(QUERIES)
    luck = np.random.default_rng(run_seed).normal(0, 0.05, QUERIES)
    # Queries whose difficulty is below the target are hits: paired across runs.
    if task == "classification":
        correct = difficulty + luck < targets["accuracy"]
        return {"correct": correct}, {"accuracy": float(correct.mean())}
    ks = [1, 2, 4, 8] if task == "retrieval" else [1]
    hits = np.stack([difficulty + luck < targets[f"R@{k}"] for k in ks], axis=1)
    hits = np.maximum.accumulate(hits, axis=1)  # a hit at k is a hit at every larger k
    valid = shared.random(QUERIES) > 0.02  # a few queries without a positive
    hits &= valid[:, None]
    arrays = {"ks": np.array(ks), "hits": hits, "valid": valid}
    metrics = {f"R@{k}": float(hits[valid, i].mean()) for i, k in enumerate(ks)}
    if task == "retrieval":
        precision = np.clip(targets["MAP@R"] + 0.2 * (0.5 - difficulty) + luck, 0, 1)
        arrays["average_precision"] = np.where(valid, precision, np.nan)
        metrics["MAP@R"] = float(np.nanmean(arrays["average_precision"]))
        return arrays, metrics
    is_same = np.arange(PAIRS) % 2 == 0
    pair_rng = np.random.default_rng(run_seed + 1)
    # Positive pairs score higher the better the model: TPR follows its target.
    # (the highest of PAIRS / 2 standard normal negatives is about 3)
    separation = 3.0 + NormalDist().inv_cdf(min(max(targets[TPR], 0.01), 0.99))
    scores = pair_rng.normal(0, 1, PAIRS) + separation * is_same
    arrays |= {"scores": scores, "is_same": is_same, "folds": np.arange(PAIRS) % 10}
    metrics[TPR] = tpr_at_fpr(scores, is_same, 1e-3)
    metrics["verification_accuracy"] = targets["verification_accuracy"]
    pairs, labels = fake_all_pairs(run_seed, separation)
    metrics[ALL_PAIRS_TPR] = tpr_at_fpr_all_pairs(pairs, 1e-3)
    return arrays | all_pairs_arrays(pairs, labels), metrics


def fake_all_pairs(run_seed: int, separation: float):
    """All pairs of QUERIES test images of IDENTITIES identities, clustered the tighter
    the better the model."""
    labels = np.arange(QUERIES) % IDENTITIES
    centers = np.random.default_rng(IDENTITIES).normal(0, 1, (IDENTITIES, 16))
    noise = np.random.default_rng(run_seed + 2).normal(0, 1, (QUERIES, 16))
    return all_pairs(centers[labels] * separation / 2 + noise, labels, 1e-3), labels


def all_pairs_arrays(pairs, labels: np.ndarray) -> dict:
    return {
        "labels": labels,
        "all_pairs_positive_rows": pairs.positive_rows,
        "all_pairs_positive_scores": pairs.positive_scores,
        "all_pairs_negative_rows": pairs.negative_rows,
        "all_pairs_negative_scores": pairs.negative_scores,
        "all_pairs_negatives": np.array(pairs.negatives),
    }


def write_history(root: Path, experiment: str, scheme: str, level: float, seed: int) -> Path:
    rng = random.Random(f"history/{experiment}/{scheme}/{level}/{seed}")
    path = run_dir(root, experiment, scheme, level, seed) / "history.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["epoch", "loss", "lr", "seconds", "images_per_s", "train_clean_acc"])
        for epoch in range(1, EPOCHS + 1):
            loss = 12 * math.exp(-epoch / 2.5) + 3 + 10 * level + rng.gauss(0, 0.15)
            lr = 0.05 if epoch < 6 else 0.005
            accuracy = min(1.0, (1 - level) * (1 - math.exp(-epoch / 2)))
            writer.writerow([epoch, f"{loss:.4f}", lr, 4.2, 380.0, f"{accuracy:.4f}"])
    return path


def corrupted_pct(scheme: str, level: float) -> float:
    if scheme == "uniform":
        return 100 * (1 - math.exp(-30 * level))
    return 100 * min(1.0, level * (0.2 if scheme == "large" else 2.5))


def write_stats(root: Path, dataset: str, scheme: str, level: float, seed: int) -> Path:
    rng = random.Random(f"stats/{dataset}/{scheme}/{level}/{seed}")
    path = root / "data" / "labels" / dataset / scheme / f"{level:g}" / f"seed{seed}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    pct = min(100.0, max(0.0, corrupted_pct(scheme, level) + rng.gauss(0, 1)))
    stats = {"dataset": dataset, "scheme": scheme, "level": level, "seed": seed, "n_samples": 6000,
             "n_classes": 500, "noise_rate": level, "flipped": int(6000 * level),
             "corrupted_classes": round(5 * pct), "corrupted_classes_pct": pct,
             "selected_classes": []}  # fmt: skip
    path.write_text(json.dumps(stats))
    return path


def write_fake_results(
    root: Path,
    seeds: tuple[int, ...] = (0, 1, 2),
    levels: tuple[float, ...] = (0.1, 0.2, 0.4),
    experiments: tuple[str, ...] = tuple(EXPERIMENTS),
) -> FakeResults:
    """Every run of the grid (clean shared by the schemes) with metrics, history and stats."""
    results = FakeResults()
    for experiment in experiments:
        train, schemes = EXPERIMENTS[experiment][0], EXPERIMENTS[experiment][3]
        grid = [("clean", 0.0)] + [(s, level) for s in schemes for level in levels]
        for (scheme, level), seed in ((cell, seed) for cell in grid for seed in seeds):
            results.metrics.append(write_run(root, experiment, scheme, level, seed))
            results.per_query.append(results.metrics[-1].with_name("per_query.npz"))
            results.history.append(write_history(root, experiment, scheme, level, seed))
            if scheme != "clean":
                results.stats.append(write_stats(root, train, scheme, level, seed))
    return results
