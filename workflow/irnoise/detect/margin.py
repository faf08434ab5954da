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

MAX_LOGITS_PER_CHUNK = 1 << 25  # rows x classes of one chunk of cosines (128 MB)


@dataclass(frozen=True)
class Margin:
    scores: np.ndarray  # -(own cosine - best other cosine)
    suggested: np.ndarray


def head_margin(
    loss: torch.nn.Module, embeddings: np.ndarray, labels: np.ndarray, device: str = "cpu"
) -> Margin | None:
    """The margin detector, or None when the loss has no class weights to compare with."""
    if not has_class_head(loss):
        return None
    scores = np.empty(len(labels), dtype=np.float64)
    suggested = np.empty(len(labels), dtype=np.int64)
    with torch.inference_mode():
        classes = class_logits(loss, torch.zeros(1, embeddings.shape[1], device=device)).shape[1]
        chunk = max(1, MAX_LOGITS_PER_CHUNK // classes)
        for start in range(0, len(labels), chunk):
            rows = slice(start, start + chunk)
            batch = torch.from_numpy(np.ascontiguousarray(embeddings[rows])).to(device)
            cosines = class_logits(loss, batch).double().cpu().numpy()
            scores[rows], suggested[rows] = margins(cosines, labels[rows])
    return Margin(scores, suggested)


def margins(cosines: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(-(own - best other), argmax) of each row of class cosines."""
    if labels.max(initial=0) >= cosines.shape[1]:
        raise ValueError(
            f"labels reach {labels.max()} but the class head has {cosines.shape[1]} classes"
        )
    rows = np.arange(len(labels))
    own = cosines[rows, labels]
    others = cosines.copy()
    others[rows, labels] = -np.inf
    return others.max(axis=1) - own, cosines.argmax(axis=1).astype(np.int64)
