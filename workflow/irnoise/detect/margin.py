"""Class-head margin: for losses that train class weights (ArcFace, CosFace, sub-center
ArcFace, Normalized Softmax, ...), the cosine to the given label's weight minus the best
cosine to any other class. A label the model's own classifier disagrees with has a
negative margin; the suspicion score is minus the margin, in [-2, 2]. The suggested label
is the classifier's argmax. Sub-center losses score a class by its best center
(`losses.class_logits`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from irnoise.train.losses import class_logits, has_class_head

MAX_LOGITS_PER_CHUNK = 1 << 24  # rows x classes of one chunk of float32 cosines (64 MB)


@dataclass(frozen=True)
class Margin:
    scores: np.ndarray  # -(own cosine - best other cosine)
    suggested: np.ndarray


def head_margin(
    loss: torch.nn.Module, embeddings: np.ndarray, labels: np.ndarray, device: str = "cpu"
) -> Margin | None:
    """The margin detector, or None when the loss has no class weights to compare with.

    Rows go to `device` (the GPU when there is one) a chunk at a time, and their cosines
    stay there in float32: rows x classes never exists at once, in any precision.
    """
    if not has_class_head(loss):
        return None
    scores = np.empty(len(labels), dtype=np.float64)
    suggested = np.empty(len(labels), dtype=np.int64)
    with torch.inference_mode():
        classes = class_logits(loss, torch.zeros(1, embeddings.shape[1], device=device)).shape[1]
        chunk = max(1, MAX_LOGITS_PER_CHUNK // classes)
        for start in range(0, len(labels), chunk):
            rows = slice(start, start + chunk)
            batch = torch.from_numpy(np.ascontiguousarray(embeddings[rows], dtype=np.float32))
            cosines = class_logits(loss, batch.to(device)).float()
            own = torch.from_numpy(np.asarray(labels[rows], dtype=np.int64)).to(device)
            chunk_scores, chunk_suggested = margins(cosines, own)
            scores[rows] = chunk_scores.cpu().numpy()
            suggested[rows] = chunk_suggested.cpu().numpy()
    return Margin(scores, suggested)


def margins(cosines: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(-(own - best other), argmax) of each row of class cosines; overwrites `cosines`."""
    if len(labels) and int(labels.max()) >= cosines.shape[1]:
        raise ValueError(
            f"labels reach {int(labels.max())} but the class head has {cosines.shape[1]} classes"
        )
    suggested = cosines.argmax(dim=1)
    own = cosines.gather(1, labels[:, None])[:, 0]
    cosines.scatter_(1, labels[:, None], -torch.inf)  # in place: no second rows x classes
    return cosines.max(dim=1).values - own, suggested
