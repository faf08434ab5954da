"""CleanNet as a training method: its similarity weights each sample's loss.

Stage 1 is CleanNet as a detector (`irnoise.detect.cleannet`) on the run's plain model:
the `cleannet_score` of the run's detect.npz, 1 - s with s the cosine similarity of a
row's query embedding and its label's class embedding. Stage 2 retrains the experiment's
network and loss on the same noisy labels, each sample's loss weighted by max(s, 0)
(the paper weights the classifier's cross-entropy by the same relevance), normalized by
the batch's total weight.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from irnoise.errors import UserError
from irnoise.train.methods import SampleFilter


def similarity_weights(scores: np.ndarray) -> np.ndarray:
    """max(s, 0) per row from CleanNet's detector scores (1 - s)."""
    return np.clip(1.0 - np.asarray(scores, dtype=np.float32), 0.0, 1.0)


def weighted_loss(
    loss: nn.Module, embeddings: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor
) -> torch.Tensor:
    """The loss with each sample's term weighted (sum of w x term / sum of w).

    pytorch-metric-learning's losses return their per-sample terms from compute_loss
    ("element" reduction); already reduced parts (regularizers) are added as they are.
    """
    parts = loss.compute_loss(embeddings, labels, None, embeddings, labels)
    total = embeddings.new_zeros(())
    for name, part in parts.items():
        kind, terms = part["reduction_type"], part["losses"]
        if kind == "already_reduced":
            total = total + terms
        elif kind == "element" and terms.shape == weights.shape:
            total = total + (terms * weights).sum() / weights.sum().clamp_min(1e-12)
        else:
            raise UserError(
                f"method cleannet weights each sample's loss, but {type(loss).__name__}'s "
                f"{name} is not a per-sample term: use a classification-style loss "
                "(ArcFaceLoss, CosFaceLoss, NormalizedSoftmaxLoss, ...)"
            )
    return total


class SampleWeights(SampleFilter):
    """Fixed per-row loss weights; a row counts as dropped (filter.json) below 1/2."""

    def __init__(self, weights: np.ndarray) -> None:
        super().__init__(len(weights))
        self.weights = torch.from_numpy(np.asarray(weights, dtype=np.float32))

    def __call__(self, embeddings, labels, rows, epoch):
        weights = self.weights[rows.cpu()]
        self.record.update(rows, weights >= 0.5)
        weights = weights.to(labels.device)

        def loss_of_batch(loss: nn.Module, batch: torch.Tensor, targets: torch.Tensor):
            return weighted_loss(loss, batch, targets, weights.to(batch.dtype))

        return loss_of_batch
