"""Every detector's scores for one training set, and their file (`detect.npz`).

The file holds, per training row: the labels the model was trained on (`labels`), each
detector's suspicion score and suggested label (`<detector>_score`, `<detector>_suggested`),
cleanlab's flags where it ran, and the k nearest neighbors (`neighbor_ids`,
`neighbor_similarities`) that the picture of the top suspicious images shows. Detectors
that did not run (no class head; cleanlab's matrix too big) are absent; `detectors`
lists those present.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from irnoise.atomic import atomic_path
from irnoise.detect import cleanlab_scores, knn, margin, prism_score
from irnoise.plan import CLEANLAB, DETECTORS, KNN_DETECTOR, MARGIN, PRISM_DETECTOR

if TYPE_CHECKING:
    import torch


@dataclass
class DetectorScores:
    labels: np.ndarray
    neighbors: knn.Neighborhoods
    scores: dict[str, np.ndarray] = field(default_factory=dict)
    suggested: dict[str, np.ndarray] = field(default_factory=dict)
    cleanlab_flagged: np.ndarray | None = None

    @property
    def detectors(self) -> list[str]:
        return [name for name in DETECTORS if name in self.scores]

    def add(self, name: str, scores: np.ndarray, suggested: np.ndarray) -> None:
        self.scores[name], self.suggested[name] = scores, suggested


def run_detectors(
    embeddings: np.ndarray,
    labels: np.ndarray,
    loss: torch.nn.Module | None,
    k: int,
    max_cells: int,
    device: str = "cpu",
) -> DetectorScores:
    """kNN disagreement, cleanlab (where its matrix fits), the class-head margin (where
    the loss has class weights) and PRISM's center score on one set of embeddings and its
    labels. `k` and `max_cells` are detect.k and detect.cleanlab_max_cells of the config."""
    hoods = knn.neighborhoods(embeddings, k)
    result = DetectorScores(labels, hoods)
    vote = knn.disagreement(labels, hoods)
    result.add(KNN_DETECTOR, vote.scores, vote.suggested)
    cleanlab = cleanlab_scores.cleanlab_from_neighbors(labels, hoods, max_cells)
    if cleanlab is not None:
        result.add(CLEANLAB, cleanlab.scores, cleanlab.suggested)
        result.cleanlab_flagged = cleanlab.flagged
    head = margin.head_margin(loss, embeddings, labels, device) if loss is not None else None
    if head is not None:
        result.add(MARGIN, head.scores, head.suggested)
    center = prism_score.prism_scores(embeddings, labels, device)
    result.add(PRISM_DETECTOR, center.scores, center.suggested)
    return result


def save(path: str | Path, result: DetectorScores) -> None:
    arrays = {
        "labels": result.labels,
        "neighbor_ids": result.neighbors.ids,
        "neighbor_similarities": result.neighbors.similarities,
        "detectors": np.array(result.detectors),
    }
    for name in result.detectors:
        arrays[f"{name}_score"] = result.scores[name]
        arrays[f"{name}_suggested"] = result.suggested[name]
    if result.cleanlab_flagged is not None:
        arrays["cleanlab_flagged"] = result.cleanlab_flagged
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.savez(handle, **arrays)


def load(path: str | Path) -> DetectorScores:
    with np.load(path, allow_pickle=False) as data:
        hoods = knn.Neighborhoods(data["neighbor_ids"], data["neighbor_similarities"])
        result = DetectorScores(data["labels"], hoods)
        for name in data["detectors"].tolist():
            result.add(name, data[f"{name}_score"], data[f"{name}_suggested"])
        if "cleanlab_flagged" in data:
            result.cleanlab_flagged = data["cleanlab_flagged"]
    return result
