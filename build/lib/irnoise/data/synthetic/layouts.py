"""Native layouts: where each synthetic image goes and the annotation files that list it.

A synthetic set is written exactly as the dataset it imitates is distributed, so that
the real dataset's adapter reads it back (`irnoise.data.datasets.SYNTHETIC_LAYOUTS`) and the
synthetic data exercises the same code path as the real data. Each function here is
pure: it returns the image list and the annotation files' text; `build` writes them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from irnoise.data.synthetic.pairs import FOLDS, PER_FOLD, VerificationPair
from irnoise.data.synthetic.shapes import INSHOP_CATEGORIES, SOP_SUPER_CLASSES, ClassPlan

INSHOP_VIEWS = ("front", "side", "back", "full")


@dataclass(frozen=True)
class ImageSpec:
    """One image to draw: its path under the root, its split, class (prototype) and sample."""

    path: str
    split: str
    cls: int
    sample: int


@dataclass
class Layout:
    images: list[ImageSpec] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)  # annotation file -> its text


def split_samples(plan: ClassPlan) -> list[tuple[str, list[int]]]:
    """Per split, the class's sample numbers: consecutive, so no two images share one."""
    out, start = [], 0
    for split, count in plan.sizes.items():
        out.append((split, list(range(start, start + count))))
        start += count
    return out


def sop_layout(classes: list[ClassPlan], pairs: list[VerificationPair]) -> Layout:
    layout = Layout()
    rows: dict[str, list[str]] = {"train": [], "test": []}
    for cls, plan in enumerate(classes):
        class_id, super_name = cls + 1, SOP_SUPER_CLASSES[plan.group]
        for split, samples in split_samples(plan):
            for k in samples:
                path = f"{super_name}_final/{class_id:06d}_{k}.JPG"
                layout.images.append(ImageSpec(path, split, cls, k))
                row = len(rows[split]) + 1
                rows[split].append(f"{row} {class_id} {plan.group + 1} {path}")
    for split, lines in rows.items():
        header = "image_id class_id super_class_id path"
        layout.files[f"Ebay_{split}.txt"] = "\n".join([header, *lines]) + "\n"
    return layout


def inshop_layout(classes: list[ClassPlan], pairs: list[VerificationPair]) -> Layout:
    layout, rows = Layout(), []
    for cls, plan in enumerate(classes):
        item = f"id_{cls + 1:08d}"
        for split, samples in split_samples(plan):
            for k in samples:
                name = f"{k // 4 + 1:02d}_{k % 4 + 1}_{INSHOP_VIEWS[k % 4]}.jpg"
                path = f"img/{INSHOP_CATEGORIES[plan.group]}/{item}/{name}"
                layout.images.append(ImageSpec(path, split, cls, k))
                rows.append(f"{path} {item} {split}")
    header = [str(len(rows)), "image_name item_id evaluation_status"]
    layout.files["list_eval_partition.txt"] = "\n".join(header + rows) + "\n"
    return layout


def faces_layout(classes: list[ClassPlan], pairs: list[VerificationPair]) -> Layout:
    """MS-Celeb-1M as a folder per identity (insightface's extracted-images form)."""
    layout = Layout()
    for cls, plan in enumerate(classes):
        for split, samples in split_samples(plan):
            layout.images += [
                ImageSpec(f"id_{cls:06d}/{k:04d}.jpg", split, cls, k) for k in samples
            ]
    return layout


def lfw_name(cls: int) -> str:
    return f"Person_{cls + 1:05d}"


def lfw_layout(classes: list[ClassPlan], pairs: list[VerificationPair]) -> Layout:
    layout = Layout()
    for cls, plan in enumerate(classes):
        name = lfw_name(cls)
        for split, samples in split_samples(plan):
            layout.images += [
                ImageSpec(f"{name}/{name}_{k + 1:04d}.jpg", split, cls, k) for k in samples
            ]
    lines = [f"{FOLDS}\t{PER_FOLD}"]
    for pair in pairs:
        (a, i), (b, j) = pair.a, pair.b
        if pair.same:
            lines.append(f"{lfw_name(a)}\t{i + 1}\t{j + 1}")
        else:
            lines.append(f"{lfw_name(a)}\t{i + 1}\t{lfw_name(b)}\t{j + 1}")
    layout.files["pairs.txt"] = "\n".join(lines) + "\n"
    return layout


def imagenet_layout(classes: list[ClassPlan], pairs: list[VerificationPair]) -> Layout:
    layout, val_number = Layout(), 0
    for cls, plan in enumerate(classes):
        wnid = f"n{cls + 1:08d}"
        for split, samples in split_samples(plan):
            for k in samples:
                if split == "train":
                    path = f"train/{wnid}/{wnid}_{k + 1}.JPEG"
                else:
                    val_number += 1
                    path = f"val/{wnid}/ILSVRC2012_val_{val_number:08d}.JPEG"
                layout.images.append(ImageSpec(path, split, cls, k))
    return layout


LAYOUTS: dict[str, Callable[[list[ClassPlan], list[VerificationPair]], Layout]] = {
    "sop": sop_layout,
    "inshop": inshop_layout,
    "faces": faces_layout,
    "lfw": lfw_layout,
    "imagenet": imagenet_layout,
}


def build_layout(shape: str, classes: list[ClassPlan], pairs: list[VerificationPair]) -> Layout:
    return LAYOUTS[shape](classes, pairs)
