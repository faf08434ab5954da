"""LFW's verification protocol for a synthetic set: 6,000 pairs in 10 folds.

As in LFW's View 2 (pairs.txt), every fold holds 300 matched pairs (two images of one
person) and 300 mismatched pairs (images of two people), and no pair appears twice.
Matched pairs are drawn with weight 1/(n-1) per pair of a person with n images, so that
a person's share of matched pairs grows with n rather than n^2 and one very large
identity does not take them all. Mismatched pairs join two people drawn uniformly,
as LFW's do, singletons included. Unlike LFW, folds are not person-disjoint: at the
default scales there are too few people with several images for that.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from irnoise.errors import UserError

FOLDS = 10
PER_FOLD = 300  # matched pairs per fold, and as many mismatched
MATCHED_PAIRS = FOLDS * PER_FOLD


@dataclass(frozen=True, order=True)
class VerificationPair:
    """Two images, each (class index, image index within the class, 0-based)."""

    fold: int
    same: bool
    a: tuple[int, int]
    b: tuple[int, int]


def matched_capacity(sizes: np.ndarray) -> int:
    sizes = np.asarray(sizes, dtype=np.int64)
    return int((sizes * (sizes - 1) // 2).sum())


def mismatched_capacity(sizes: np.ndarray) -> int:
    sizes = np.asarray(sizes, dtype=np.int64)
    return int((sizes.sum() ** 2 - (sizes**2).sum()) // 2)


def grow_for_pairs(sizes: np.ndarray, needed: int) -> np.ndarray:
    """Grow the largest class until the classes supply `needed` distinct matched pairs."""
    sizes = np.array(sizes, dtype=np.int64)
    largest = int(np.argmax(sizes))
    while matched_capacity(sizes) < needed:
        sizes[largest] += 1
    return sizes


def matched_pairs(
    sizes: np.ndarray, rng: np.random.Generator
) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """MATCHED_PAIRS distinct same-class pairs of images."""
    classes, first, second = [], [], []
    for index, size in enumerate(sizes):
        if size >= 2:
            i, j = np.triu_indices(int(size), 1)
            classes.append(np.full(len(i), index))
            first.append(i)
            second.append(j)
    cls, first, second = np.concatenate(classes), np.concatenate(first), np.concatenate(second)
    weights = 1.0 / (np.asarray(sizes)[cls] - 1)
    chosen = rng.choice(len(cls), size=MATCHED_PAIRS, replace=False, p=weights / weights.sum())
    return [((int(cls[k]), int(first[k])), (int(cls[k]), int(second[k]))) for k in chosen]


def mismatched_pairs(
    sizes: np.ndarray, rng: np.random.Generator
) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """MATCHED_PAIRS distinct pairs of images of two different classes."""
    sizes = np.asarray(sizes, dtype=np.int64)
    chosen: dict[tuple[tuple[int, int], tuple[int, int]], None] = {}
    while len(chosen) < MATCHED_PAIRS:
        a, b = rng.choice(len(sizes), size=2, replace=False)
        a, b = min(a, b), max(a, b)
        pair = ((int(a), int(rng.integers(sizes[a]))), (int(b), int(rng.integers(sizes[b]))))
        chosen.setdefault(pair)  # a dict keeps first-drawn order: deterministic
    return list(chosen)


def verification_pairs(sizes: np.ndarray, rng: np.random.Generator) -> list[VerificationPair]:
    """Pairs in pairs.txt order: per fold, its matched pairs then its mismatched pairs."""
    if matched_capacity(sizes) < MATCHED_PAIRS or mismatched_capacity(sizes) < MATCHED_PAIRS:
        raise UserError(
            f"{len(sizes)} identities with {int(np.sum(sizes))} images cannot give "
            f"{MATCHED_PAIRS} distinct matched and mismatched pairs; use a larger --scale"
        )
    pairs = []
    for same, drawn in ((True, matched_pairs(sizes, rng)), (False, mismatched_pairs(sizes, rng))):
        for position, (a, b) in enumerate(drawn):
            pairs.append(VerificationPair(position // PER_FOLD, same, a, b))
    # Within a fold: matched first (True sorts after False, hence the key), then by images.
    return sorted(pairs, key=lambda pair: (pair.fold, not pair.same, pair.a, pair.b))
