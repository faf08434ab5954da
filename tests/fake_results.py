"""Plausible fake outputs of the training and evaluation stages, for table and figure tests.

The values follow the study's shape (retrieval drops more than classification; uniform
noise hurts more than small-class noise, which hurts more than large-class noise), so
that the figures drawn from them can be looked at and judged.
"""

from __future__ import annotations

import csv
import json
import math
import random
from dataclasses import dataclass, field
from pathlib import Path

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
SCHEME_HARM = {"uniform": 1.0, "small": 0.6, "large": 0.3}
EPOCHS = 8


@dataclass
class FakeResults:
    metrics: list[Path] = field(default_factory=list)
    history: list[Path] = field(default_factory=list)
    stats: list[Path] = field(default_factory=list)


def run_dir(root: Path, experiment: str, scheme: str, level: float, seed: int) -> Path:
    return root / "results" / "runs" / experiment / scheme / f"{level:g}" / f"seed{seed}"


def noisy_value(clean: float, harm: float, level: float, rng: random.Random) -> float:
    return min(1.0, max(0.0, clean * (1 - harm * level * 1.2) + rng.gauss(0, 0.01)))


def write_run(root: Path, experiment: str, scheme: str, level: float, seed: int) -> Path:
    train, eval_, task, _, clean_metrics, sensitivity = EXPERIMENTS[experiment]
    rng = random.Random(f"{experiment}/{scheme}/{level}/{seed}")
    harm = sensitivity * SCHEME_HARM.get(scheme, 0.0)
    metrics = {name: noisy_value(value, harm, level, rng) for name, value in clean_metrics.items()}
    run = {"experiment": experiment, "train": train, "eval": eval_, "task": task,
           "scheme": scheme, "level": level, "seed": seed}  # fmt: skip
    directory = run_dir(root, experiment, scheme, level, seed)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "metrics.json"
    payload = {"run": run, "metrics": metrics, "counts": {"queries": 1000}, "model": "model.pt"}
    path.write_text(json.dumps(payload))
    return path


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
            results.history.append(write_history(root, experiment, scheme, level, seed))
            if scheme != "clean":
                results.stats.append(write_stats(root, train, scheme, level, seed))
    return results
