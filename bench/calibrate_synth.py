"""Calibrate the synthetic datasets' difficulty: a small CNN, a few epochs on CPU, R@1.

The embedded synthetic sets must be hard enough that label noise has a measurable
effect: a small CNN trained on clean labels for a few epochs should reach a test R@1
well above chance and clearly below 100% on classes it never saw. This script
generates a set (as `irnoise synth` does), trains a 4-conv-layer network with a
normalized-softmax loss (embedding 128, random crop and flip), and reports:

- R@1 on the evaluation split (leave-one-out on test for sop and lfw, query against
  gallery for inshop, leave-one-out on val for imagenet), with its chance level
  (a random neighbor) and the R@1 of raw pixels (no learning) as baselines;
- imagenet: top-1 accuracy of the cosine classifier on val (seen classes);
- faces: trained on `faces`, evaluated on `lfw` (R@1 and 10-fold verification accuracy).

With --noise LEVEL the training labels get uniform noise first, to see its effect.

It needs no adapter: the image list comes from the generator's own plan.

    nice .venv/bin/python bench/calibrate_synth.py --shape sop --scale 0.05 --epochs 6
    nice .venv/bin/python bench/calibrate_synth.py --shape faces --scale 0.2 --eval-scale 0.1
    nice .venv/bin/python bench/calibrate_synth.py --shape sop --scale 0.05 --noise 0.4
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from irnoise.data.synthetic import generate
from irnoise.data.synthetic.build import plan_dataset

SEEDS = {"sop": 1, "inshop": 2, "faces": 3, "lfw": 4, "imagenet": 5}  # as in config.yaml
CROP = 40


def dataset(shape: str, scale: float, size: int, seed: int, work: Path) -> tuple[Path, list]:
    """Generate (or reuse) a synthetic set; return its root and its image list."""
    root = work / f"{shape}_{scale:g}_{size}_{seed}"
    if not (root / "synth.json").exists():
        generate(shape, scale, size, seed, root, threads=2)
    _, layout, _ = plan_dataset(shape, scale, seed)
    return root, layout.images


def load_split(root: Path, images: list, split: str) -> tuple[torch.Tensor, np.ndarray]:
    chosen = [image for image in images if image.split == split]
    pixels = np.stack(
        [np.asarray(Image.open(root / image.path).convert("RGB")) for image in chosen]
    )
    labels = np.array([image.cls for image in chosen])
    return torch.from_numpy(pixels).permute(0, 3, 1, 2).contiguous(), labels


def normalize(batch: torch.Tensor) -> torch.Tensor:
    return (batch.float() / 255.0 - 0.5) / 0.25


def augment(batch: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random 40-pixel crop and horizontal flip per image, as the workflow trains."""
    size = batch.shape[-1]
    out = torch.empty(batch.shape[0], 3, CROP, CROP, dtype=batch.dtype)
    offsets = torch.randint(0, size - CROP + 1, (batch.shape[0], 2), generator=generator)
    flips = torch.rand(batch.shape[0], generator=generator) < 0.5
    for i, (top, left) in enumerate(offsets.tolist()):
        crop = batch[i, :, top : top + CROP, left : left + CROP]
        out[i] = crop.flip(-1) if flips[i] else crop
    return out


def center(batch: torch.Tensor) -> torch.Tensor:
    start = (batch.shape[-1] - CROP) // 2
    return batch[..., start : start + CROP, start : start + CROP]


class SmallCNN(nn.Module):
    def __init__(self, embedding: int = 128) -> None:
        super().__init__()
        layers, channels = [], 3
        for width in (16, 32, 64, 128):
            layers += [nn.Conv2d(channels, width, 3, padding=1, bias=False), nn.BatchNorm2d(width)]
            layers += [nn.ReLU(inplace=True), nn.MaxPool2d(2)]
            channels = width
        self.features = nn.Sequential(*layers[:-1], nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.embed = nn.Linear(channels, embedding)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.embed(self.features(x))


class NormalizedSoftmax(nn.Module):
    def __init__(self, classes: int, embedding: int = 128, temperature: float = 0.05) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(classes, embedding) * 0.01)
        self.temperature = temperature

    def logits(self, embeddings: torch.Tensor) -> torch.Tensor:
        return F.normalize(embeddings) @ F.normalize(self.weight).T / self.temperature


def uniform_noise(labels: np.ndarray, level: float, seed: int = 0) -> np.ndarray:
    """round(level * N) samples get another class, uniformly (docs/design.md's `uniform`)."""
    rng = np.random.default_rng(seed)
    classes = np.unique(labels)
    noisy = labels.copy()
    flipped = rng.choice(len(labels), size=round(level * len(labels)), replace=False)
    for row in flipped:
        others = classes[classes != labels[row]]
        noisy[row] = others[rng.integers(len(others))]
    return noisy


def train(
    pixels: torch.Tensor, labels: np.ndarray, epochs: int, seed: int
) -> tuple[nn.Module, nn.Module]:
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    classes, targets = np.unique(labels, return_inverse=True)
    targets = torch.from_numpy(targets)
    model, loss = SmallCNN(), NormalizedSoftmax(len(classes))
    optimizer = torch.optim.AdamW([*model.parameters(), *loss.parameters()], lr=2e-3)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=2e-3, total_steps=epochs * ((len(targets) + 63) // 64)
    )
    for epoch in range(epochs):
        model.train()
        order, total, start = torch.randperm(len(targets), generator=generator), 0.0, time.time()
        for batch in order.split(64):
            images = normalize(augment(pixels[batch], generator))
            value = F.cross_entropy(loss.logits(model(images)), targets[batch])
            optimizer.zero_grad()
            value.backward()
            optimizer.step()
            scheduler.step()
            total += value.item() * len(batch)
        print(f"  epoch {epoch + 1}: loss {total / len(targets):.3f} ({time.time() - start:.0f} s)")
    return model, loss


@torch.no_grad()
def embed(model: nn.Module, pixels: torch.Tensor) -> np.ndarray:
    model.eval()
    out = [model(normalize(center(pixels[i : i + 256]))) for i in range(0, len(pixels), 256)]
    return F.normalize(torch.cat(out)).numpy()


def recall_at_1(
    query: np.ndarray,
    q_labels: np.ndarray,
    gallery: np.ndarray | None = None,
    g_labels: np.ndarray | None = None,
) -> float:
    """Leave-one-out R@1 (gallery None) or query-against-gallery R@1; matchless queries left out."""
    same_set = gallery is None
    gallery, g_labels = (query, q_labels) if same_set else (gallery, g_labels)
    scores = query @ gallery.T
    if same_set:
        np.fill_diagonal(scores, -np.inf)
    counts = (q_labels[:, None] == g_labels[None, :]).sum(1) - (1 if same_set else 0)
    hits = g_labels[scores.argmax(1)] == q_labels
    return float(hits[counts > 0].mean())


def chance(q_labels: np.ndarray, g_labels: np.ndarray | None = None) -> float:
    """Expected R@1 of a random neighbor, over queries that have a match."""
    same_set = g_labels is None
    g_labels = q_labels if same_set else g_labels
    matches = (q_labels[:, None] == g_labels[None, :]).sum(1) - (1 if same_set else 0)
    pool = len(g_labels) - (1 if same_set else 0)
    return float((matches[matches > 0] / pool).mean())


def pixels_baseline(pixels: torch.Tensor) -> np.ndarray:
    flat = normalize(center(pixels)).flatten(1)
    return F.normalize(flat - flat.mean(1, keepdim=True)).numpy()


def lfw_pairs(root: Path, images: list) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """pairs.txt as row indices into the test split (its images in generator order)."""
    rows = {image.path: row for row, image in enumerate(i for i in images if i.split == "test")}
    a, b, same = [], [], []
    for line in (root / "pairs.txt").read_text().splitlines()[1:]:
        parts = line.split("\t")
        if len(parts) == 3:
            parts = [parts[0], parts[1], parts[0], parts[2]]
        a.append(rows[f"{parts[0]}/{parts[0]}_{int(parts[1]):04d}.jpg"])
        b.append(rows[f"{parts[2]}/{parts[2]}_{int(parts[3]):04d}.jpg"])
        same.append(len(line.split("\t")) == 3)
    folds = np.arange(len(a)) // 600
    return np.array(a), np.array(b), np.array(same), folds


def verification_accuracy(embeddings: np.ndarray, a, b, same, folds) -> float:
    """LFW's 10-fold protocol: the best threshold on nine folds, accuracy on the tenth."""
    scores = (embeddings[a] * embeddings[b]).sum(1)
    accuracies = []
    for fold in range(10):
        fit = folds != fold
        thresholds = np.unique(scores[fit])
        train_acc = [((scores[fit] >= t) == same[fit]).mean() for t in thresholds]
        best = thresholds[int(np.argmax(train_acc))]
        accuracies.append(((scores[~fit] >= best) == same[~fit]).mean())
    return float(np.mean(accuracies))


def evaluate(shape: str, model: nn.Module, loss: nn.Module, data: dict, result: dict) -> None:
    if shape == "inshop":
        (q, ql), (g, gl) = data["query"], data["gallery"]
        result["R@1"] = recall_at_1(embed(model, q), ql, embed(model, g), gl)
        result["chance"] = chance(ql, gl)
        result["pixels_R@1"] = recall_at_1(pixels_baseline(q), ql, pixels_baseline(g), gl)
        return
    pixels, labels = data["eval"]
    embeddings = embed(model, pixels)
    result["R@1"] = recall_at_1(embeddings, labels)
    result["chance"] = chance(labels)
    result["pixels_R@1"] = recall_at_1(pixels_baseline(pixels), labels)
    if shape == "imagenet":
        logits = loss.logits(torch.from_numpy(embeddings))
        classes = np.unique(data["train"][1])
        result["accuracy"] = float((classes[logits.argmax(1).numpy()] == labels).mean())
        result["accuracy_chance"] = 1 / len(classes)
    if shape == "faces":
        result["verification_accuracy"] = verification_accuracy(embeddings, *data["pairs"])
        result["verification_pixels"] = verification_accuracy(
            pixels_baseline(pixels), *data["pairs"]
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--shape", required=True, choices=["sop", "inshop", "faces", "imagenet"])
    parser.add_argument("--scale", type=float, required=True)
    parser.add_argument("--eval-scale", type=float, default=0.1, help="lfw scale (faces only)")
    parser.add_argument("--noise", type=float, default=0.0, help="uniform label noise level")
    parser.add_argument("--image-size", type=int, default=48)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads (more oversubscribes a shared CPU)"
    )
    parser.add_argument("--work", type=Path, default=Path("bench/out/synth"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    start = time.time()
    root, images = dataset(args.shape, args.scale, args.image_size, SEEDS[args.shape], args.work)
    data = {"train": load_split(root, images, "train")}
    if args.shape == "inshop":
        data["query"], data["gallery"] = (load_split(root, images, s) for s in ("query", "gallery"))
    elif args.shape == "faces":
        lfw_root, lfw_images = dataset(
            "lfw", args.eval_scale, args.image_size, SEEDS["lfw"], args.work
        )
        data["eval"] = load_split(lfw_root, lfw_images, "test")
        data["pairs"] = lfw_pairs(lfw_root, lfw_images)
    else:
        data["eval"] = load_split(root, images, "val" if args.shape == "imagenet" else "test")
    labels = data["train"][1]
    print(f"{args.shape}: {len(labels)} train images, {len(np.unique(labels))} classes")
    model, loss = train(data["train"][0], uniform_noise(labels, args.noise), args.epochs, seed=0)
    result = {"shape": args.shape, "scale": args.scale, "epochs": args.epochs, "noise": args.noise}
    evaluate(args.shape, model, loss, data, result)
    result["seconds"] = round(time.time() - start, 1)
    print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in result.items()}))


if __name__ == "__main__":
    main()
