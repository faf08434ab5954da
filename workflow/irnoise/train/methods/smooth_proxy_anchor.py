"""Smooth Proxy-Anchor (Roig et al., "Smooth Proxy-Anchor Loss for Noisy Metric Learning", 2020).

Two phases, as the paper's figure 1 lays them out:

1. A confidence module: a small MLP on frozen features (here the run's own plain model's
   embeddings of the train split), one sigmoid output per class, trained with binary
   cross-entropy against the one-hot noisy labels (`class_confidences`).
2. Relabelling, proxy selection and the smoothed loss (`relabel`,
   `smooth_proxy_anchor_loss`): each sample takes the class its confidence module is most
   confident of when that confidence reaches `relabel_threshold` (else it keeps its noisy
   label); the proxy of that class is its positive proxy; its membership of that proxy is
   S(c) = sigmoid(sharpness x (c - position)) of its confidence c in the class, and 1 - S(c)
   its membership of the proxy's negatives. With S a step at the threshold the loss is
   Proxy-Anchor on the relabelled batch (unconfident samples: negatives of every proxy).

The loss (alpha, margin, the proxies) is pytorch-metric-learning's `ProxyAnchorLoss`,
whose proxies the network trains; only the membership weights are new. Parameters and the
choices the paper leaves open: docs/methods.md, "Smooth Proxy-Anchor".
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from irnoise.train.methods import SampleFilter


def smoothing(confidence: torch.Tensor, position: float, sharpness: float) -> torch.Tensor:
    """S(c): a sigmoid centered at `position`; `sharpness` inf makes it the step c >= position."""
    if math.isinf(sharpness):
        return (confidence >= position).to(confidence.dtype)
    return torch.sigmoid(sharpness * (confidence - position))


def smooth_proxy_anchor_loss(
    cosines: torch.Tensor,
    labels: torch.Tensor,
    membership: torch.Tensor,
    alpha: float,
    margin: float,
) -> torch.Tensor:
    """Proxy-Anchor with each sample's membership of its positive proxy weighted.

    cosines (B, P) to the proxies; labels (B,) the (relabelled) positive proxy; membership
    (B,) in [0, 1]. With W+ = one-hot(labels) x membership and W- = 1 - W+:
    (1/|P+|) sum_{p in P+} log(1 + sum_x W+ exp(-alpha (s - margin)))
    + (1/|P|) sum_p log(1 + sum_x W- exp(alpha (s + margin))), P+ the proxies with W+ > 0.
    """
    positive = nn.functional.one_hot(labels, cosines.shape[1]).to(cosines.dtype)
    positive = positive * membership[:, None]
    negative = 1.0 - positive
    pos_term = _log_one_plus_weighted_sum(-alpha * (cosines - margin), positive)
    neg_term = _log_one_plus_weighted_sum(alpha * (cosines + margin), negative)
    with_positives = positive.sum(dim=0) > 0
    pos_loss = pos_term[with_positives].sum() / max(int(with_positives.sum()), 1)
    return pos_loss + neg_term.sum() / cosines.shape[1]


def _log_one_plus_weighted_sum(exponents: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """log(1 + sum_rows weights x exp(exponents)) per column, stably (zero weights vanish)."""
    logs = exponents + torch.log(weights.clamp_min(0))
    zero = torch.zeros(1, logs.shape[1], dtype=logs.dtype, device=logs.device)
    return torch.logsumexp(torch.cat([zero, logs]), dim=0)


def relabel(
    confidences: np.ndarray, labels: np.ndarray, threshold: float
) -> tuple[np.ndarray, np.ndarray]:
    """(label, confidence in it) per row: the most confident class where its confidence
    reaches `threshold`, else the noisy label."""
    best = confidences.argmax(axis=1)
    confident = confidences[np.arange(len(labels)), best] >= threshold
    new = np.where(confident, best, labels).astype(np.int64)
    return new, confidences[np.arange(len(labels)), new].astype(np.float32)


def class_confidences(
    features: np.ndarray,
    labels: np.ndarray,
    num_classes: int,
    hidden: int,
    epochs: int,
    seed: int,
    lr: float = 1e-2,
    batch_size: int = 256,
) -> np.ndarray:
    """The confidence module: an MLP on frozen features, one sigmoid per class, trained
    with binary cross-entropy on the one-hot labels (Adam); returns (N, classes)."""
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    x = nn.functional.normalize(torch.from_numpy(np.asarray(features, np.float32)), dim=1)
    targets = nn.functional.one_hot(torch.from_numpy(labels).long(), num_classes).float()
    module = nn.Sequential(nn.Linear(x.shape[1], hidden), nn.ReLU(), nn.Linear(hidden, num_classes))
    optimizer = torch.optim.Adam(module.parameters(), lr=lr)
    for _ in range(epochs):
        for batch in torch.randperm(len(x), generator=generator).split(batch_size):
            value = nn.functional.binary_cross_entropy_with_logits(module(x[batch]), targets[batch])
            optimizer.zero_grad()
            value.backward()
            optimizer.step()
    with torch.no_grad():
        return torch.sigmoid(module(x)).numpy()


WeightedLoss = Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]


class SmoothProxyAnchorTerms(SampleFilter):
    """Phase 2's per-row relabels and confidences, handed to the loss batch by batch.

    Called like a filter, it returns the batch's loss function instead of a keep-mask: the
    training loop's ProxyAnchorLoss is evaluated with the relabelled labels and smoothed
    memberships. A row counts as dropped (filter.json) when its membership is below 1/2.
    """

    def __init__(
        self, relabelled: np.ndarray, confidence: np.ndarray, position: float, sharpness: float
    ) -> None:
        super().__init__(len(relabelled))
        self.relabelled = torch.from_numpy(np.asarray(relabelled, dtype=np.int64))
        self.confidence = torch.from_numpy(np.asarray(confidence, dtype=np.float32))
        self.position, self.sharpness = position, sharpness

    def __call__(self, embeddings, labels, rows, epoch) -> WeightedLoss:
        rows = rows.cpu()
        new_labels = self.relabelled[rows].to(labels.device)
        membership = smoothing(self.confidence[rows], self.position, self.sharpness)
        self.record.update(rows, membership >= 0.5)
        membership = membership.to(labels.device)

        def loss_of_batch(loss: nn.Module, batch: torch.Tensor, _: torch.Tensor) -> torch.Tensor:
            cosines = loss.get_logits(batch)
            return smooth_proxy_anchor_loss(
                cosines, new_labels, membership.to(cosines.dtype), loss.alpha, loss.margin
            )

        return loss_of_batch
