"""kNN sample rejection in the style of N2D2 (ggalan87/noise-robust-learning).

N2D2's `KNNPairRejection` with its `HighScoreInPositiveClassCriterion` (k_neighbors 200,
threshold 0.5 in its configs): for each sample, the labels of its k nearest neighbors in a
memory bank of embeddings give a share per label; the shares are scaled so that the most
frequent label has 1, and a sample is dropped when its own label's scaled share is below
the threshold, i.e. when some other label is at least twice as common around it.

The memory bank holds the latest embedding of every train row seen so far (a whole-dataset
feature bank, refreshed as batches pass); neighbors come from faiss (inner product on
L2-normalised embeddings), excluding the sample's own row. During `warmup_epochs` the bank
fills and everything is kept; a sample without neighbors yet is kept. A batch is decided
with the bank as it was before it; under DDP the bank absorbs every rank's batches.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from irnoise.train.methods import SampleFilter
from irnoise.train.methods.sharing import FilterStep


def neighbor_label_shares(
    neighbor_labels: np.ndarray, valid: np.ndarray, own: np.ndarray
) -> np.ndarray:
    """Own label's share among valid neighbors, scaled so the top label's share is 1.

    `neighbor_labels` (B, k) and `valid` (B, k) per sample; NaN where no neighbor is valid.
    """
    shares = np.full(len(own), np.nan)
    for i in range(len(own)):
        labels = neighbor_labels[i][valid[i]]
        if len(labels) == 0:
            continue
        _, counts = np.unique(labels, return_counts=True)
        shares[i] = np.sum(labels == own[i]) / counts.max()
    return shares


class KnnFilter(SampleFilter):
    def __init__(
        self,
        rows: int,
        embedding_size: int,
        neighbors: int,
        threshold: float,
        warmup_epochs: int,
    ) -> None:
        super().__init__(rows)
        self.neighbors, self.threshold, self.warmup_epochs = neighbors, threshold, warmup_epochs
        self.bank = np.zeros((rows, embedding_size), dtype=np.float32)
        self.bank_labels = np.full(rows, -1, dtype=np.int64)

    def scaled_shares(self, embeddings: np.ndarray, labels: np.ndarray, rows: np.ndarray):
        import faiss

        filled = np.flatnonzero(self.bank_labels >= 0)
        if len(filled) == 0:
            return np.full(len(labels), np.nan)
        k = min(self.neighbors + 1, len(filled))  # +1: the sample's own row may be there
        _, found = faiss.knn(embeddings, self.bank[filled], k, metric=faiss.METRIC_INNER_PRODUCT)
        neighbor_rows = np.where(found >= 0, filled[np.maximum(found, 0)], -1)
        valid = (found >= 0) & (neighbor_rows != rows[:, None])
        # Keep at most `neighbors` valid neighbors per sample (drop the surplus last one).
        valid &= np.cumsum(valid, axis=1) <= self.neighbors
        neighbor_labels = self.bank_labels[np.maximum(neighbor_rows, 0)]
        return neighbor_label_shares(neighbor_labels, valid, labels)

    def keep(self, embeddings, labels, rows, epoch):
        device = labels.device
        features = nn.functional.normalize(embeddings.cpu(), dim=1).numpy()
        own, row_ids = labels.cpu().numpy(), rows.cpu().numpy()
        if epoch <= self.warmup_epochs:
            keep = np.ones(len(own), dtype=bool)
        else:
            shares = self.scaled_shares(features, own, row_ids)
            keep = ~(shares < self.threshold)  # NaN (no neighbors) keeps
        return torch.from_numpy(keep).to(device)

    def absorb(self, step: FilterStep) -> None:
        """The step's samples (every rank's under DDP) replace their rows in the bank."""
        rows = step.rows.numpy()
        self.bank[rows] = nn.functional.normalize(step.embeddings, dim=1).numpy()
        self.bank_labels[rows] = step.labels.numpy()
