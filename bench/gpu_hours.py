"""GPU-hours of a preset (default: the paper's), from its real grid, as markdown tables.

    python bench/gpu_hours.py [--config presets/paper.yaml] [--rate resnet50=3100]

The config is read as the workflow reads it (`irnoise.config.load_study`) and its runs
counted by `irnoise.plan.Plan`. Per experiment: trainings x epochs x training images /
images per second, plus the evaluations (the eval split embedded once per run) and, when
the preset builds Table 4, the detections (the train split embedded once per noisy run).
Table 3 (the noise-robust methods) is a table of its own: each method run is a training
and an evaluation; sub-center ArcFace's first stage is one more training, Smooth
Proxy-Anchor's confidences one more pass over the train split, CleanNet's first stage the
plain run's detection.

Images per second: a stated figure per backbone below (with its source) at 224 px,
scaled to the experiment's crop by pixel count; `--rate BACKBONE=N` replaces it with a
measured figure at 224 px (e.g. from bench/gpu_check.py's `cli` row), `--rate
EXPERIMENT=N` sets one experiment's figure as it is. Forward-only passes (evaluation,
detection) run EVAL_SPEEDUP times faster. Image counts are the datasets' published
split sizes (TRAIN_IMAGES, EVAL_IMAGES); the data need not be on disk.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

from irnoise.config import Experiment, Study, load_study, read_yaml
from irnoise.errors import UserError
from irnoise.plan import (
    CLEAN_SCHEME,
    CLEANNET,
    SMOOTH_PROXY_ANCHOR,
    SUBCENTER,
    Plan,
    parse_run_path,
)

REPO = Path(__file__).resolve().parents[1]
REFERENCE_CROP = 224

# Training images/s on one GPU at 224 px, mixed precision, batch 256. ResNet-50: 2,470
# img/s on one A100 80GB (NVIDIA DeepLearningExamples, "ResNet50 v1.5 for PyTorch",
# README, "Training performance: NVIDIA DGX A100 (8x A100 80GB)", pytorch-21.03 NGC
# container); an H100 is faster, so the hours below are an upper estimate for it.
STATED_RATES = {"resnet50": 2470.0}
# Inference against training throughput, mixed precision, batch 256, from the same README
# (one V100 16GB: 3,382 img/s inference, 1,200 img/s training).
EVAL_SPEEDUP = 3382 / 1200

# Published split sizes, by dataset source: the images a training reads per epoch.
TRAIN_IMAGES = {
    "sop": 59_551,  # Stanford Online Products, train
    "inshop": 25_882,  # In-Shop Clothes Retrieval, train
    "ms1m": 5_822_653,  # MS1MV2 (insightface), train.rec
    "imagenet": 1_281_167,  # ILSVRC-2012 train
}
# ... and the images an evaluation embeds.
EVAL_IMAGES = {
    "sop": 60_502,  # test (query = gallery)
    "inshop": 14_218 + 12_612,  # query + gallery
    "lfw": 13_233,  # every image (pairs and all pairs come from them)
    "imagenet": 50_000,  # val
}
# The extra target that detects on every noisy run (Table 4).
DETECTION_TABLE = "table4"  # a key of EXTRA_TARGETS (tests/test_gpu_hours.py)


@dataclass(frozen=True)
class Row:
    """One experiment's share of one table."""

    experiment: str
    trainings: int
    epochs: int
    train_images: int
    rate: float  # training images/s
    passes: int  # forward passes over the train split (detection, confidences)
    evaluations: int
    eval_images: int

    @property
    def training_hours(self) -> float:
        return self.trainings * self.epochs * self.train_images / self.rate / 3600

    @property
    def forward_hours(self) -> float:
        images = self.passes * self.train_images + self.evaluations * self.eval_images
        return images / (self.rate * EVAL_SPEEDUP) / 3600

    @property
    def hours(self) -> float:
        return self.training_hours + self.forward_hours


def parse_rates(values: list[str]) -> dict[str, float]:
    rates = {}
    for value in values:
        name, _, number = value.partition("=")
        try:
            rates[name] = float(number)
        except ValueError:
            raise UserError(
                f"--rate {value}: expected NAME=IMAGES_PER_S, e.g. resnet50=3100"
            ) from None
        if not rates[name] > 0:
            raise UserError(f"--rate {value}: images per second must be positive")
    return rates


def training_rate(experiment: Experiment, rates: dict[str, float]) -> float:
    """Training images/s of an experiment: its own figure, else its backbone's at 224 px
    scaled by pixel count to its crop (convolutions cost per pixel; the class head, ~4% of
    ResNet-50's work at 112 px with 85,742 classes, is not counted)."""
    if experiment.name in rates:
        return rates[experiment.name]
    backbone = experiment.training.backbone
    rate = rates.get(backbone, STATED_RATES.get(backbone))
    if rate is None:
        raise UserError(
            f"no stated images/s for backbone {backbone} (experiment {experiment.name}): "
            f"pass a measured one, --rate {backbone}=IMAGES_PER_S"
        )
    return rate * (REFERENCE_CROP / experiment.training.crop_size) ** 2


def images(table: dict[str, int], study: Study, dataset: str) -> int:
    source = study.datasets[dataset].source
    if source not in table:
        raise UserError(f"dataset {dataset}: no published size for source {source}")
    return table[source]


def study_rows(study: Study, plan: Plan, rates: dict[str, float]) -> list[Row]:
    detects = DETECTION_TABLE in study.extra_targets
    rows = []
    for name in sorted(study.experiments):
        experiment, runs = study.experiments[name], plan.runs(name)
        noisy = sum(scheme != CLEAN_SCHEME for scheme, _, _ in runs)
        rows.append(
            Row(
                name,
                len(runs),
                experiment.training.epochs,
                images(TRAIN_IMAGES, study, experiment.train),
                training_rate(experiment, rates),
                noisy if detects else 0,
                len(runs),
                images(EVAL_IMAGES, study, experiment.eval),
            )
        )
    return rows


def table3_rows(study: Study, plan: Plan, rates: dict[str, float]) -> list[Row]:
    """Table 3's work beyond the study's: its method runs (and plain runs the study lacks)."""
    studied = set(plan.run_files("model.pt"))
    detects = DETECTION_TABLE in study.extra_targets
    runs = [parse_run_path(f) for f in plan.table3_files("model.pt") if f not in studied]
    rows = []
    for name in plan.table3_experiments():
        experiment = study.experiments[name]
        methods = [run.method for run in runs if run.experiment == name]
        first_stages = methods.count(SUBCENTER)
        passes = methods.count(SMOOTH_PROXY_ANCHOR) + (0 if detects else methods.count(CLEANNET))
        rows.append(
            Row(
                name,
                len(methods) + first_stages,
                experiment.training.epochs,
                images(TRAIN_IMAGES, study, experiment.train),
                training_rate(experiment, rates),
                passes,
                len(methods),
                images(EVAL_IMAGES, study, experiment.eval),
            )
        )
    return rows


def markdown(rows: list[Row], trainings_label: str) -> str:
    lines = [
        f"| experiment | {trainings_label} | epochs | train images | img/s | training GPU-h "
        "| forward passes + evaluations | forward GPU-h | total GPU-h |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        lines.append(
            f"| {row.experiment} | {row.trainings:,} | {row.epochs} | {row.train_images:,} "
            f"| {row.rate:,.0f} | {row.training_hours:,.1f} | {row.passes:,} + "
            f"{row.evaluations:,} | {row.forward_hours:,.1f} | {row.hours:,.1f} |"
        )
    total = sum(row.hours for row in rows)
    trainings = sum(row.trainings for row in rows)
    lines.append(f"| **total** | {trainings:,} | | | | | | | **{total:,.0f}** |")
    return "\n".join(lines)


def report(config: Path, rates: dict[str, float]) -> str:
    study = load_study(read_yaml(config))
    plan = Plan(study)
    study_table = markdown(study_rows(study, plan, rates), "trainings")
    methods = table3_rows(study, plan, rates)
    parts = [f"GPU-hours of {config.name} (bench/gpu_hours.py)", "", study_table]
    if methods:
        parts += ["", "Table 3 (noise-robust methods), beyond the study's runs:", ""]
        parts += [markdown(methods, "method trainings")]
    return "\n".join(parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=REPO / "presets" / "paper.yaml")
    parser.add_argument(
        "--rate",
        action="append",
        default=[],
        help="BACKBONE=N (training images/s at 224 px) or EXPERIMENT=N; repeatable",
    )
    args = parser.parse_args(argv)
    try:
        print(report(args.config, parse_rates(args.rate)))
    except UserError as error:
        print(f"gpu_hours: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
