"""CleanNet (Lee et al., "CleanNet: Transfer Learning for Scalable Image Classifier Training
with Label Noise", CVPR 2018; reference code kuanghuei/clean-net).

On features of the train split (here the run's own model's embeddings):

- a reference set per class (under the labels scored): k-means centroids of the class's
  features, `reference_size` of them (a class with no more images than that: its
  features themselves, the query's own left out when it is scored);
- a reference-set encoder: each reference feature through an MLP, attention weights
  softmax_i(u . tanh(W h_i)) over the set, the weighted sum through a linear layer: the
  class embedding;
- a query encoder: an MLP of the query's feature;
- their cosine similarity: the evidence that the query's label is right.

It is trained on verification labels (is this image's label right?) of a fraction of the
classes only, with the paper's loss: 1 - s for a right label, max(0, s - margin) for a
wrong one; the classes without verification get their scores by transfer. The paper's
unsupervised reconstruction loss is left out (docs/methods.md, "CleanNet").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

# The paper's margin in the cosine loss of a wrong label.
MARGIN = 0.1


@dataclass(frozen=True)
class ReferenceSets:
    """Per class a padded set of reference features: (classes, size, dim), a mask of the
    filled slots, and per row its own slot in its class's set (-1: not in it)."""

    features: torch.Tensor
    mask: torch.Tensor
    own_slot: torch.Tensor


def reference_sets(
    features: np.ndarray, labels: np.ndarray, num_classes: int, size: int, seed: int
) -> ReferenceSets:
    """k-means centroids of each class's features (its features when it has <= size)."""
    from sklearn.cluster import KMeans

    dim = features.shape[1]
    counts = np.bincount(labels, minlength=num_classes)
    width = max(1, min(size, int(counts.max(initial=1))))
    refs = np.zeros((num_classes, width, dim), dtype=np.float32)
    mask = np.zeros((num_classes, width), dtype=bool)
    own_slot = np.full(len(labels), -1, dtype=np.int64)
    for label in np.flatnonzero(counts):
        members = np.flatnonzero(labels == label)
        if len(members) <= width:
            refs[label, : len(members)] = features[members]
            mask[label, : len(members)] = True
            own_slot[members] = np.arange(len(members))
        else:
            kmeans = KMeans(n_clusters=width, n_init=1, random_state=seed).fit(features[members])
            refs[label] = kmeans.cluster_centers_
            mask[label] = True
    return ReferenceSets(torch.from_numpy(refs), torch.from_numpy(mask), torch.from_numpy(own_slot))


def attention_pool(
    hidden: torch.Tensor, mask: torch.Tensor, projection: nn.Linear, context: torch.Tensor
) -> torch.Tensor:
    """sum_i a_i h_i with a = softmax over the set's filled slots of context . tanh(W h_i).

    hidden (B, size, d), mask (B, size); a set with no filled slot pools to zero.
    """
    logits = torch.tanh(projection(hidden)) @ context
    logits = logits.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(logits, dim=1).nan_to_num(0.0)
    return (weights.unsqueeze(2) * hidden).sum(dim=1)


class CleanNet(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.query = nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(), nn.Linear(hidden, hidden))
        self.reference = nn.Sequential(nn.Linear(dim, hidden), nn.ReLU())
        self.attention = nn.Linear(hidden, hidden)
        self.context = nn.Parameter(torch.randn(hidden) / hidden**0.5)
        self.class_embedding = nn.Linear(hidden, hidden)

    def classes(self, refs: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Class embeddings of reference sets (B, size, dim) with their masks."""
        pooled = attention_pool(self.reference(refs), mask, self.attention, self.context)
        return self.class_embedding(pooled)

    def forward(
        self, queries: torch.Tensor, refs: torch.Tensor, mask: torch.Tensor
    ) -> torch.Tensor:
        """Cosine similarity of each query with the class embedding of its reference set."""
        return nn.functional.cosine_similarity(self.query(queries), self.classes(refs, mask))


def verification_loss(similarity: torch.Tensor, correct: torch.Tensor) -> torch.Tensor:
    """The paper's: 1 - s for a right label, max(0, s - margin) for a wrong one."""
    right = 1.0 - similarity
    wrong = (similarity - MARGIN).clamp_min(0.0)
    return torch.where(correct, right, wrong).mean()


def _query_sets(sets: ReferenceSets, labels: torch.Tensor, rows: torch.Tensor):
    """Each query row's class reference set, its own feature left out."""
    refs, mask = sets.features[labels[rows]], sets.mask[labels[rows]].clone()
    own = sets.own_slot[rows]
    has_own = own >= 0
    mask[has_own.nonzero().view(-1), own[has_own]] = False
    return refs, mask


@dataclass(frozen=True)
class Verification:
    """Rows with a verification label (is the label right?) and those labels."""

    rows: np.ndarray
    correct: np.ndarray


def verified_classes(labels: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """A random `fraction` of the classes present (at least one), as a bool per class."""
    present = np.unique(labels)
    count = max(1, round(fraction * len(present)))
    chosen = np.random.default_rng(seed).choice(present, size=count, replace=False)
    verified = np.zeros(int(labels.max(initial=0)) + 1, dtype=bool)
    verified[chosen] = True
    return verified


def verification_from_truth(
    labels: np.ndarray, clean: np.ndarray, fraction: float, seed: int
) -> Verification:
    """Simulated verification: every row of a random `fraction` of the classes, labelled
    right where the noise left its label unchanged."""
    rows = np.flatnonzero(verified_classes(labels, fraction, seed)[labels])
    return Verification(rows, labels[rows] == clean[rows])


def cleannet_similarity(
    features: np.ndarray,
    labels: np.ndarray,
    verification: Verification,
    reference_size: int,
    hidden: int,
    epochs: int,
    seed: int,
    batch_size: int = 128,
    lr: float = 1e-3,
) -> np.ndarray:
    """Train CleanNet on the verified rows; the similarity of every row to its label's class."""
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    x = nn.functional.normalize(torch.from_numpy(np.asarray(features, np.float32)), dim=1)
    y = torch.from_numpy(np.asarray(labels, np.int64))
    num_classes = int(labels.max(initial=0)) + 1
    sets = reference_sets(x.numpy(), labels, num_classes, reference_size, seed)
    model = CleanNet(x.shape[1], hidden)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    rows = torch.from_numpy(verification.rows)
    correct = torch.from_numpy(np.asarray(verification.correct, dtype=bool))
    for _ in range(epochs if len(rows) else 0):
        for batch in torch.randperm(len(rows), generator=generator).split(batch_size):
            refs, mask = _query_sets(sets, y, rows[batch])
            value = verification_loss(model(x[rows[batch]], refs, mask), correct[batch])
            optimizer.zero_grad()
            value.backward()
            optimizer.step()
    similarity = np.empty(len(labels), dtype=np.float32)
    with torch.no_grad():
        for batch in torch.arange(len(labels)).split(1024):
            refs, mask = _query_sets(sets, y, batch)
            similarity[batch.numpy()] = model(x[batch], refs, mask).numpy()
    return similarity
