"""Class-size plans: how many classes a synthetic set has and how many images each, per split.

Each shape imitates a real dataset. Its number of classes is `scale` times the real
one; its class sizes are drawn from the real dataset's class-size histogram
(`irnoise.data.reference_class_sizes`) by stratified sampling: class i takes the size at a random
position inside the i-th of K equal slices of the real sizes, sorted. Unlike i.i.d.
draws this keeps the histogram's shape (its long tail included) even at a few dozen
classes, while staying random.

- sop: train and test classes from the SOP train and test histograms; 12 super classes.
- inshop: train classes from the In-Shop train histogram; test classes from the test
  histogram (query + gallery per item), each split into query and gallery images in
  In-Shop's proportion, at least one of each so every query has a match.
- faces: MS-Celeb-1M has 85k identities and about 68 images each; its long tail is
  imitated by LFW's histogram restricted to people with at least two images (1,680),
  every size multiplied by FACES_SIZE_FACTOR so that the default scale 0.2 gives some
  3,500 images in 336 identities (4 to 1,060 images each).
- lfw: LFW's histogram, singletons included (5,749 people). When the sampled people
  cannot supply the 3,000 distinct matched pairs (small scales) the largest identity
  grows until they can, as LFW itself has one person with 530 images.
- imagenet: scale x 1,000 classes, IMAGENET_TRAIN train and IMAGENET_VAL val images
  each (ImageNet-1k is nearly balanced: 732-1,300 train and 50 val images per class,
  shrunk to what a CPU trains on in minutes; 10 val images per class make 500 at the
  default scale 0.05, so that accuracy moves in steps of 0.2%).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from irnoise.data.reference_class_sizes import REFERENCE_HISTOGRAMS, class_sizes
from irnoise.data.synthetic.pairs import MATCHED_PAIRS, grow_for_pairs

FACES_SIZE_FACTOR = 2
IMAGENET_CLASSES = 1000
IMAGENET_TRAIN = 60
IMAGENET_VAL = 10
SOP_SUPER_CLASSES = (
    "bicycle", "cabinet", "chair", "coffee_maker", "fan", "kettle",
    "lamp", "mug", "sofa", "stapler", "table", "toaster",
)  # fmt: skip
INSHOP_CATEGORIES = (
    "WOMEN/Dresses", "WOMEN/Blouses_Shirts", "WOMEN/Tees_Tanks", "WOMEN/Skirts", "WOMEN/Cardigans",
    "MEN/Tees_Tanks", "MEN/Shirts_Polos", "MEN/Pants", "MEN/Sweaters", "MEN/Denim",
)  # fmt: skip
# In-Shop's test items: 14,218 query and 12,612 gallery images.
INSHOP_QUERY_SHARE = 14218 / (14218 + 12612)
MIN_CLASSES = 2  # the noise schemes need two classes to swap labels between


@dataclass(frozen=True)
class ClassPlan:
    """One class: its images per split, and its group (SOP super class, In-Shop category)."""

    sizes: dict[str, int]
    group: int = 0

    @property
    def total(self) -> int:
        return sum(self.sizes.values())


def class_count(scale: float, real_count: int) -> int:
    return max(MIN_CLASSES, round(scale * real_count))


def histogram_classes(name: str) -> int:
    return sum(REFERENCE_HISTOGRAMS[name].values())


def stratified_sizes(real_sizes: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """`count` sizes drawn one per equal slice of the sorted real sizes, in random order."""
    ordered = np.sort(real_sizes)
    positions = ((np.arange(count) + rng.random(count)) * len(ordered) / count).astype(np.int64)
    sizes = ordered[np.minimum(positions, len(ordered) - 1)]
    return rng.permutation(sizes)


def sample_sizes(name: str, scale: float, rng: np.random.Generator) -> np.ndarray:
    count = class_count(scale, histogram_classes(name))
    return stratified_sizes(class_sizes(name), count, rng)


def plan_sop(scale: float, rng: np.random.Generator) -> list[ClassPlan]:
    classes = []
    for split, name in (("train", "sop_train"), ("test", "sop_test")):
        sizes = sample_sizes(name, scale, rng)
        groups = rng.integers(len(SOP_SUPER_CLASSES), size=len(sizes))
        classes += [ClassPlan({split: int(n)}, int(g)) for n, g in zip(sizes, groups, strict=True)]
    return classes


def plan_inshop(scale: float, rng: np.random.Generator) -> list[ClassPlan]:
    train = sample_sizes("inshop_train", scale, rng)
    test = sample_sizes("inshop_test", scale, rng)
    groups = rng.integers(len(INSHOP_CATEGORIES), size=len(train) + len(test))
    classes = [ClassPlan({"train": int(n)}, int(g)) for n, g in zip(train, groups, strict=False)]
    for n, g in zip(test, groups[len(train) :], strict=True):
        n = max(2, int(n))
        query = int(np.clip(rng.binomial(n, INSHOP_QUERY_SHARE), 1, n - 1))
        classes.append(ClassPlan({"query": query, "gallery": n - query}, int(g)))
    return classes


def plan_faces(scale: float, rng: np.random.Generator) -> list[ClassPlan]:
    real = class_sizes("lfw")
    real = real[real >= 2]
    sizes = stratified_sizes(real, class_count(scale, len(real)), rng) * FACES_SIZE_FACTOR
    return [ClassPlan({"train": int(n)}) for n in sizes]


def plan_lfw(scale: float, rng: np.random.Generator) -> list[ClassPlan]:
    sizes = grow_for_pairs(sample_sizes("lfw", scale, rng), MATCHED_PAIRS)
    return [ClassPlan({"test": int(n)}) for n in sizes]


def plan_imagenet(scale: float, rng: np.random.Generator) -> list[ClassPlan]:
    count = class_count(scale, IMAGENET_CLASSES)
    return [ClassPlan({"train": IMAGENET_TRAIN, "val": IMAGENET_VAL}) for _ in range(count)]


PLANNERS = {
    "sop": plan_sop,
    "inshop": plan_inshop,
    "faces": plan_faces,
    "lfw": plan_lfw,
    "imagenet": plan_imagenet,
}


def plan_classes(shape: str, scale: float, rng: np.random.Generator) -> list[ClassPlan]:
    """Every class of a synthetic set, train classes first."""
    return PLANNERS[shape](scale, rng)


def split_counts(classes: list[ClassPlan]) -> dict[str, dict[str, int]]:
    """Images and classes per split, as recorded in synth.json."""
    counts: dict[str, dict[str, int]] = {}
    for plan in classes:
        for split, n in plan.sizes.items():
            entry = counts.setdefault(split, {"images": 0, "classes": 0})
            entry["images"] += n
            entry["classes"] += 1
    return counts
