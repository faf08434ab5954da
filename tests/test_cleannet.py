"""CleanNet: its attention pooling and similarity against loops, and the transfer it
claims: verification of some classes finds a mislabelled image in another."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from irnoise.detect.cleannet import (
    CleanNet,
    Verification,
    attention_pool,
    cleannet_similarity,
    reference_sets,
    verification_from_truth,
)


def loop_attention_pool(hidden, mask, projection, context):
    pooled = []
    for h_set, m_set in zip(hidden.tolist(), mask.tolist(), strict=True):
        logits = []
        for h, filled in zip(h_set, m_set, strict=True):
            if filled:
                z = projection(torch.tensor(h, dtype=torch.float64)).tanh()
                logits.append(float((z @ context).detach()))
        top = max(logits) if logits else 0.0
        exps = [math.exp(v - top) for v in logits]
        weights = iter([e / sum(exps) for e in exps])
        total = [0.0] * len(h_set[0])
        for h, filled in zip(h_set, m_set, strict=True):
            if filled:
                a = next(weights)
                total = [t + a * v for t, v in zip(total, h, strict=True)]
        pooled.append(total)
    return torch.tensor(pooled, dtype=torch.float64)


def test_attention_pooling_and_similarity_match_a_loop():
    torch.manual_seed(0)
    model = CleanNet(dim=6, hidden=5).double()
    refs = torch.randn(4, 3, 6, dtype=torch.float64)
    mask = torch.tensor([[1, 1, 1], [1, 0, 0], [1, 1, 0], [0, 1, 1]], dtype=torch.bool)
    hidden = model.reference(refs)
    pooled = attention_pool(hidden, mask, model.attention, model.context)
    expected = loop_attention_pool(hidden.detach(), mask, model.attention, model.context.detach())
    torch.testing.assert_close(pooled.detach(), expected)
    queries = torch.randn(4, 6, dtype=torch.float64)
    similarity = model(queries, refs, mask).detach()
    for i in range(4):
        q = model.query(queries[i]).detach()
        c = model.class_embedding(expected[i]).detach()
        assert similarity[i].item() == pytest.approx(float(q @ c / (q.norm() * c.norm())))


def test_reference_sets_are_kmeans_centroids_or_the_members():
    rng = np.random.default_rng(0)
    labels = np.array([0] * 10 + [1] * 2)
    features = rng.normal(size=(12, 4)).astype(np.float32)
    sets = reference_sets(features, labels, 2, size=3, seed=0)
    assert sets.mask[0].all() and sets.mask[1].tolist() == [True, True, False]
    np.testing.assert_array_equal(sets.features[1, :2].numpy(), features[10:])
    assert sets.own_slot[:10].eq(-1).all() and sets.own_slot[10:].tolist() == [0, 1]


def test_planted_mislabel_in_an_unverified_class_scores_below_its_clean_samples():
    rng = np.random.default_rng(3)
    classes, per_class, dim = 30, 8, 16
    centers = rng.normal(size=(classes, dim)) * 2
    clean = np.repeat(np.arange(classes), per_class)
    features = (centers[clean] + 0.3 * rng.normal(size=(len(clean), dim))).astype(np.float32)
    noisy = clean.copy()
    flipped = rng.choice(len(clean), 24, replace=False)
    noisy[flipped] = (clean[flipped] + rng.integers(1, classes, 24)) % classes
    verification = verification_from_truth(noisy, clean, fraction=0.3, seed=0)
    verified = np.unique(noisy[verification.rows])
    target = next(c for c in range(classes) if c not in verified)
    planted = np.flatnonzero(clean == (target + 1) % classes)[0]
    noisy[planted] = target  # a mislabelled image in a class nobody verified
    verification = Verification(
        verification.rows, noisy[verification.rows] == clean[verification.rows]
    )
    assert not (~verification.correct).all() and (~verification.correct).any()
    similarity = cleannet_similarity(
        features, noisy, verification, reference_size=50, hidden=32, epochs=60, seed=0
    )
    own_clean = np.flatnonzero((noisy == target) & (clean == target))
    assert similarity[planted] < similarity[own_clean].min()
