"""Smooth Proxy-Anchor: its loss against its formula written out, and against
pytorch-metric-learning's ProxyAnchorLoss when the smoothing is a step."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from irnoise.train.methods.smooth_proxy_anchor import (
    SmoothProxyAnchorTerms,
    class_confidences,
    relabel,
    smooth_proxy_anchor_loss,
    smoothing,
)


def formula_loss(cosines, labels, membership, alpha, margin):
    """The smoothed loss, sample by sample and proxy by proxy, in plain Python."""
    batch, proxies = len(cosines), len(cosines[0])
    positive_proxies, pos_total, neg_total = 0, 0.0, 0.0
    for p in range(proxies):
        pos_sum, neg_sum, has_positive = 0.0, 0.0, False
        for x in range(batch):
            w_pos = membership[x] if labels[x] == p else 0.0
            has_positive |= w_pos > 0
            pos_sum += w_pos * math.exp(-alpha * (cosines[x][p] - margin))
            neg_sum += (1.0 - w_pos) * math.exp(alpha * (cosines[x][p] + margin))
        if has_positive:
            positive_proxies += 1
            pos_total += math.log(1.0 + pos_sum)
        neg_total += math.log(1.0 + neg_sum)
    return pos_total / max(positive_proxies, 1) + neg_total / proxies


@pytest.mark.parametrize("seed", range(5))
def test_smooth_loss_matches_its_formula_on_constructed_batches(seed):
    rng = np.random.default_rng(seed)
    cosines = rng.uniform(-1, 1, size=(12, 5))
    labels = rng.integers(0, 4, 12)  # proxy 4 has no positive
    confidence = rng.uniform(0, 1, 12)
    membership = smoothing(torch.from_numpy(confidence), position=0.5, sharpness=10.0)
    value = smooth_proxy_anchor_loss(
        torch.from_numpy(cosines), torch.from_numpy(labels), membership, alpha=8.0, margin=0.1
    )
    expected = formula_loss(cosines.tolist(), labels.tolist(), membership.tolist(), 8.0, 0.1)
    assert value.item() == pytest.approx(expected, rel=1e-9)


def test_step_smoothing_is_proxy_anchor_on_the_relabelled_batch():
    from pytorch_metric_learning.losses import ProxyAnchorLoss

    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    classes, dim = 6, 8
    noisy = rng.integers(0, classes, 20)
    confidences = rng.uniform(0, 0.4, size=(20, classes))
    clean = rng.integers(0, classes, 20)
    confidences[np.arange(20), clean] = rng.uniform(0.6, 1.0, 20)  # confident in another class
    relabelled, confidence = relabel(confidences, noisy, threshold=0.5)
    np.testing.assert_array_equal(relabelled, clean)
    reference = ProxyAnchorLoss(num_classes=classes, embedding_size=dim)
    embeddings = torch.randn(20, dim, dtype=torch.float64)
    reference.proxies.data = reference.proxies.data.double()
    expected = reference(embeddings, torch.from_numpy(relabelled))
    terms = SmoothProxyAnchorTerms(relabelled, confidence, position=0.5, sharpness=math.inf)
    batch_loss = terms(embeddings, torch.from_numpy(noisy), torch.arange(20), epoch=1)
    value = batch_loss(reference, embeddings, torch.from_numpy(noisy))
    assert value.item() == pytest.approx(expected.item(), rel=1e-9)
    assert not terms.record.dropped().any()


def test_confidence_module_is_confident_in_separable_labels():
    rng = np.random.default_rng(1)
    labels = np.repeat(np.arange(4), 25)
    features = np.eye(4)[labels] * 3 + 0.1 * rng.normal(size=(100, 4))
    confidences = class_confidences(features, labels, 4, hidden=16, epochs=100, seed=0)
    assert (confidences.argmax(axis=1) == labels).all()
    assert confidences[np.arange(100), labels].min() > 0.5
