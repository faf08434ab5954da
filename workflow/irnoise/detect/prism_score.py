"""PRISM's score as a detector: how likely a sample's label is under the class centers.

PRISM (Liu et al., CVPR 2021; `irnoise.train.methods.prism`) filters each batch during
training by exp(f . c_y) / sum_k exp(f . c_k), the softmax over class centers c_k (mean
embeddings of a class) taken at the sample's label y. Here the centers are those of the
whole training split, embedded by the finished model (PRISM's memory at its fullest), and
the embeddings and centers are L2-normalized as the kNN detector's cosines are. The
suspicion score is 1 minus that probability; the suggested label is the most probable
class.

At MS1M's shape (5.8M rows, 85,742 classes) neither rows x classes nor a float64 copy of
the embeddings fits a job's memory: rows go to the device (the GPU when there is one) a
chunk at a time, in float32, and only the centers (classes x embedding size) stay there.
Cosines of unit vectors lie in [-1, 1], so float32's softmax loses nothing that matters
(equal to a float64 computation within 1e-6).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

MAX_CELLS_PER_CHUNK = 1 << 24  # rows x classes of one chunk of float32 logits (64 MB)


@dataclass(frozen=True)
class PrismScores:
    scores: np.ndarray  # 1 - p(label | centers)
    suggested: np.ndarray


def chunk_rows(classes: int, embedding_size: int) -> int:
    """Rows per chunk: its logits (rows x classes) within MAX_CELLS_PER_CHUNK."""
    return max(1, MAX_CELLS_PER_CHUNK // max(classes, embedding_size, 1))


def unit_chunk(embeddings: np.ndarray, rows: slice, device: str) -> torch.Tensor:
    chunk = torch.from_numpy(np.ascontiguousarray(embeddings[rows], dtype=np.float32))
    return torch.nn.functional.normalize(chunk.to(device), dim=1)


def class_centers(embeddings: np.ndarray, labels: np.ndarray, device: str = "cpu") -> torch.Tensor:
    """The mean unit embedding of each class 0..max(label), float32 on `device`; zero for a
    class without rows. Summed in float64 (classes x embedding size only)."""
    classes = int(labels.max(initial=-1)) + 1
    sums = torch.zeros(classes, embeddings.shape[1], dtype=torch.float64, device=device)
    chunk = chunk_rows(classes, embeddings.shape[1])
    for start in range(0, len(labels), chunk):
        rows = slice(start, start + chunk)
        own = torch.from_numpy(np.asarray(labels[rows], dtype=np.int64)).to(device)
        sums.index_add_(0, own, unit_chunk(embeddings, rows, device).double())
    counts = torch.bincount(torch.from_numpy(np.asarray(labels, dtype=np.int64)), minlength=classes)
    return (sums / counts.clamp(min=1).to(device)[:, None]).float()


def prism_scores(embeddings: np.ndarray, labels: np.ndarray, device: str = "cpu") -> PrismScores:
    scores = np.empty(len(labels), dtype=np.float64)
    suggested = np.empty(len(labels), dtype=np.int64)
    with torch.inference_mode():
        centers = class_centers(embeddings, labels, device)
        chunk = chunk_rows(len(centers), embeddings.shape[1])
        for start in range(0, len(labels), chunk):
            rows = slice(start, start + chunk)
            own = torch.from_numpy(np.asarray(labels[rows], dtype=np.int64)).to(device)
            logits = unit_chunk(embeddings, rows, device) @ centers.T
            log_probabilities = torch.log_softmax(logits, dim=1)
            own_probability = log_probabilities.gather(1, own[:, None])[:, 0].exp()
            scores[rows] = (1.0 - own_probability).cpu().numpy()
            suggested[rows] = logits.argmax(dim=1).cpu().numpy()
    return PrismScores(scores, suggested)
