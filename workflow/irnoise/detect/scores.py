"""Every detector's scores for one training set, and their file (`detect.npz`).

The file holds, per training row: the labels the model was trained on (`labels`), each
detector's suspicion score and suggested label (`<detector>_score`, `<detector>_suggested`),
cleanlab's flags where it ran, CleanNet's verified rows (`cleannet_verified`: the rows
whose verification trained it, left out of its evaluation) where it ran, and the k
nearest neighbors (`neighbor_ids`, `neighbor_similarities`) that the picture of the top
suspicious images shows. Detectors that did not run (no class head; cleanlab's matrix too
big; CleanNet without verification) are absent; `detectors` lists those present.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from irnoise.atomic import atomic_path
from irnoise.detect import cleanlab_scores, knn, margin, prism_score
from irnoise.detect import cleannet as cleannet_model
from irnoise.plan import (
    CLEANLAB,
    CLEANNET_DETECTOR,
    DETECTORS,
    KNN_DETECTOR,
    MARGIN,
    PRISM_DETECTOR,
)

if TYPE_CHECKING:
    import torch


@dataclass
class DetectorScores:
    labels: np.ndarray
    neighbors: knn.Neighborhoods
    scores: dict[str, np.ndarray] = field(default_factory=dict)
    suggested: dict[str, np.ndarray] = field(default_factory=dict)
    cleanlab_flagged: np.ndarray | None = None
    cleannet_verified: np.ndarray | None = None

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
    cleannet: CleanNetInput | None = None,
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
    if cleannet is not None:
        add_cleannet(result, embeddings, labels, cleannet)
    return result


@dataclass(frozen=True)
class CleanNetInput:
    """CleanNet's verification labels and parameters (method_params.cleannet's keys)."""

    verification: cleannet_model.Verification
    params: dict


def add_cleannet(
    result: DetectorScores, embeddings: np.ndarray, labels: np.ndarray, given: CleanNetInput
) -> None:
    """CleanNet's score 1 - s (s: its similarity; no suggested label: the label itself)."""
    similarity = cleannet_model.cleannet_similarity(
        embeddings,
        labels,
        given.verification,
        reference_size=int(given.params["reference_size"]),
        hidden=int(given.params["hidden"]),
        epochs=int(given.params["epochs"]),
        seed=int(given.params.get("seed", 0)),
    )
    result.add(CLEANNET_DETECTOR, 1.0 - similarity.astype(np.float64), labels.copy())
    verified = np.zeros(len(labels), dtype=bool)
    verified[given.verification.rows] = True
    result.cleannet_verified = verified


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
    if result.cleannet_verified is not None:
        arrays["cleannet_verified"] = result.cleannet_verified
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
        if "cleannet_verified" in data:
            result.cleannet_verified = data["cleannet_verified"]
    return result
