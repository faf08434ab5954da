"""Sub-center ArcFace, then retraining on the samples it keeps (Deng et al., ECCV 2020).

Stage 1 trains pytorch-metric-learning's `SubCenterArcFaceLoss` (3 sub-centers per class)
on the noisy labels. Then insightface's cleaning recipe (its `drop.py`, and PML's
`SubCenterArcFaceLoss.get_outliers`): each class's dominant sub-center is the one most of
its samples are nearest to; a sample is an outlier when the angle between its embedding
and its class's dominant sub-center exceeds 75 degrees. `outlier_mask` computes that test
for all classes in one pass. A named variant (`drop_nondominant`) also drops the samples
nearest one of their class's non-dominant sub-centers; it is no part of the reference
recipe, and on the SOP-shaped set it dropped mostly clean rows (docs/methods.md). The
kept rows are written as a keep-mask file (`irnoise subcenter`), and stage 2 trains plain
ArcFace on them (method `subcenter` of `irnoise train`).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn


def outlier_mask(
    embeddings: torch.Tensor,
    labels: torch.Tensor,
    sub_center_weights: torch.Tensor,
    sub_centers: int,
    threshold_degrees: float,
    drop_nondominant: bool = False,
) -> torch.Tensor:
    """True for each outlier row; `sub_center_weights` is PML's W (embedding, classes x k).

    The angle test alone, as PML's `get_outliers`; with `drop_nondominant`, also every row
    nearest a non-dominant sub-center of its class.
    """
    embeddings = nn.functional.normalize(embeddings.float(), dim=1)
    centers = nn.functional.normalize(sub_center_weights.float().t(), dim=1)
    num_classes = centers.shape[0] // sub_centers
    centers = centers.view(num_classes, sub_centers, -1)
    # Cosine of each sample to its own class's sub-centers, (N, k).
    cosines = torch.einsum("nd,nkd->nk", embeddings, centers[labels])
    nearest = cosines.argmax(dim=1)
    votes = torch.zeros(num_classes, sub_centers, dtype=torch.long)
    votes.index_put_((labels.cpu(), nearest.cpu()), torch.ones_like(labels.cpu()), accumulate=True)
    # Ties go to the lowest index, as torch.argmax in PML's get_outliers.
    dominant = votes.argmax(dim=1).to(labels.device)[labels]
    dominant_cosine = cosines.gather(1, dominant.view(-1, 1)).view(-1)
    far = dominant_cosine < math.cos(math.radians(threshold_degrees))
    return far | (nearest != dominant) if drop_nondominant else far


def keep_mask_from_model(
    model_path: str,
    shard_dir: str,
    labels: np.ndarray,
    threshold_degrees: float,
    threads: int,
    drop_nondominant: bool = False,
) -> np.ndarray:
    """Keep-mask (True = keep) of the stage-1 model's train embeddings under `labels`."""
    from irnoise.data.loader import eval_batches
    from irnoise.data.manifest import split_count
    from irnoise.errors import UserError
    from irnoise.evaluate.embed import embed
    from irnoise.schema import schema_default
    from irnoise.train.models import load_trained

    torch.set_num_threads(max(1, threads))
    model, loss, payload = load_trained(model_path, "cpu")
    sub_centers = getattr(loss, "sub_centers", None)
    if sub_centers is None:
        raise UserError(
            f"{model_path} was not trained with SubCenterArcFaceLoss: retrain the "
            "sub-center stage (its rule sets loss SubCenterArcFaceLoss)"
        )
    total = split_count(shard_dir, "train")
    batches = eval_batches(
        shard_dir,
        "train",
        int(payload["config"]["crop_size"]),
        schema_default("$defs", "experiment", "eval_batch_size"),
        max(threads - 1, 0),
    )
    embeddings, _ = embed(model, batches, "cpu", total)
    outliers = outlier_mask(
        torch.from_numpy(embeddings),
        torch.from_numpy(labels),
        loss.W.detach(),
        sub_centers,
        threshold_degrees,
        drop_nondominant,
    )
    return ~outliers.numpy()
