"""TPR@FPR over all pairs of test images, and its bootstrap, against naive numpy over
every pair (and every pair of the drawn images)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from irnoise.evaluate.all_pairs import all_pairs, count_pairs, kept_negatives, tpr_at_fpr_all_pairs
from irnoise.evaluate.metrics import tpr_at_fpr
from irnoise.report.all_pair_tpr import AllPairTpr
from irnoise.report.bootstrap import draw_counts


def constructed_set(images: int = 60, identities: int = 11, seed: int = 0):
    """Uneven identities whose embeddings cluster around an identity center."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, identities, images)
    centers = rng.normal(0, 1, (identities, 8))
    return centers[labels] + rng.normal(0, 0.9, (images, 8)), labels


def naive_scores(embeddings: np.ndarray) -> np.ndarray:
    unit = embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True)
    return unit @ unit.T


def naive_tpr(scores: np.ndarray, is_same: np.ndarray, fpr: float) -> float:
    """The definition (docs/design.md, "Metrics"): the smallest observed score t whose
    share of negatives scoring >= t is at most fpr; the share of positives >= t."""
    negatives, positives = scores[~is_same], scores[is_same]
    admissible = [t for t in np.unique(scores) if (negatives >= t).mean() <= fpr]
    threshold = min(admissible)
    return float((positives >= threshold).mean())


def every_pair(labels: np.ndarray, scores: np.ndarray, images) -> tuple[np.ndarray, np.ndarray]:
    """Scores and same-identity flags of every pair of two distinct images in `images`
    (a list of image indices, repeats allowed)."""
    pairs = [(a, b) for a, b in itertools.combinations(images, 2) if a != b]
    return (
        np.array([scores[a, b] for a, b in pairs]),
        np.array([labels[a] == labels[b] for a, b in pairs]),
    )


def samples(pairs, labels, fpr) -> AllPairTpr:
    return AllPairTpr(
        labels,
        pairs.positive_rows,
        pairs.positive_scores,
        pairs.negative_rows,
        pairs.negative_scores,
        pairs.negatives,
        fpr,
    )


@pytest.mark.parametrize("fpr", [1e-3, 1e-2, 5e-2])
def test_tpr_over_all_pairs_matches_naive_numpy(fpr):
    embeddings, labels = constructed_set()
    scores = naive_scores(embeddings)
    pair_scores, is_same = every_pair(labels, scores, range(len(labels)))
    expected = naive_tpr(pair_scores, is_same, fpr)
    pairs = all_pairs(embeddings, labels, fpr)
    assert (len(pairs.positive_scores), pairs.negatives) == count_pairs(labels)
    assert (is_same.sum(), (~is_same).sum()) == count_pairs(labels)
    assert tpr_at_fpr_all_pairs(pairs, fpr) == expected
    assert samples(pairs, labels, fpr).value() == expected


def test_all_pairs_keeps_only_the_highest_negatives_and_gives_the_same_tpr():
    embeddings, labels = constructed_set(images=400, identities=40, seed=1)
    fpr = 1e-3
    pairs = all_pairs(embeddings, labels, fpr)
    _, negatives = count_pairs(labels)
    assert len(pairs.negative_scores) == kept_negatives(negatives, fpr) < negatives
    assert kept_negatives(87_000_000, fpr) == 2 * 87_000 + 1000  # LFW-sized: bounded
    scores = naive_scores(embeddings)
    later = np.triu(np.ones_like(scores, bool), k=1)
    different = labels[:, None] != labels[None, :]
    all_negatives = np.sort(scores[later & different])[::-1]
    kept = pairs.negative_scores
    np.testing.assert_allclose(kept, all_negatives[: len(kept)], atol=1e-6)
    assert np.all(np.diff(kept) <= 0)
    pair_scores, is_same = every_pair(labels, scores, range(len(labels)))
    assert tpr_at_fpr_all_pairs(pairs, fpr) == naive_tpr(pair_scores, is_same, fpr)


@pytest.mark.parametrize("margin", [None, 8])
def test_all_pairs_bootstrap_matches_naive_pairs_of_the_drawn_images(margin):
    """Each resample draws images within identity; its TPR is the naive one over every
    pair of two distinct drawn images (NaN only where the kept negatives fall short)."""
    embeddings, labels = constructed_set(images=40, identities=7, seed=2)
    fpr = 0.02
    allowed = int(fpr * count_pairs(labels)[1])
    keep = None if margin is None else allowed + margin  # a few past the data's threshold
    pairs = all_pairs(embeddings, labels, fpr, keep=keep)
    tpr = samples(pairs, labels, fpr)
    counts = draw_counts(np.random.default_rng(3), 40, len(labels), tpr.strata())
    resampled = tpr.resampled(counts)
    scores = naive_scores(embeddings)
    defined = 0
    for row, value in zip(counts, resampled, strict=True):
        drawn = np.repeat(np.arange(len(labels)), row)
        pair_scores, is_same = every_pair(labels, scores, list(drawn))
        assert (~is_same).sum() == pairs.negatives  # within-identity draws: fixed count
        if np.isnan(value):
            assert keep is not None  # only truncation leaves a resample undefined
            continue
        assert value == pytest.approx(tpr_at_fpr(pair_scores, is_same, fpr), abs=1e-12)
        defined += 1
    assert defined >= 20


def test_all_pairs_bootstrap_keeps_identity_sizes_in_every_resample():
    _, labels = constructed_set(images=50, identities=6, seed=4)
    counts = draw_counts(np.random.default_rng(0), 100, len(labels), labels)
    for identity in np.unique(labels):
        members = labels == identity
        assert (counts[:, members].sum(axis=1) == members.sum()).all()
