"""Noise-robust training methods: which samples of each batch the loss may see.

A method other than `none` trains like `none` except that, per batch, a `SampleFilter`
returns a keep-mask and the loss sees only the kept samples. Filters see the embeddings
(detached), the trained-on (noisy) labels and the train rows, never the clean labels.
Each filter records its verdict per train row (`FilterRecord`), so that what it dropped
can be compared with the truly changed labels afterwards. A filter decides a batch with
what it has absorbed so far, and absorbs the batch (its memory, its record) when the loop
calls `share` after the optimizer step: under DDP every rank then absorbs every rank's
batch (`sharing.py`), so filters and records are the same on all ranks.

Methods and their sources (parameters and defaults in docs/methods.md):

- `none`: the study's training (no filter).
- `oracle`: keeps exactly the samples whose label was not changed (`oracle.py`).
- `subcenter`: sub-center ArcFace, then retraining on the samples it keeps (`subcenter.py`).
- `prism`, `prism_guess`: PRISM's ranking-based instance selection with the true noise
  rate, or with a fixed guess (`prism.py`).
- `knn`: N2D2-style kNN sample rejection (`knn_filter.py`).
- `random_subset`: the oracle's control, as many rows at random (`oracle.py`).
- `proxy_anchor`: plain training with pytorch-metric-learning's ProxyAnchorLoss (no filter).
- `smooth_proxy_anchor`: Smooth Proxy-Anchor's relabels and smoothed memberships
  (`smooth_proxy_anchor.py`); `cleannet`: CleanNet's similarity as loss weights
  (`cleannet.py`). These two return the batch's loss function instead of a keep-mask.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from irnoise.plan import (
    CLEANNET,
    FIXED_MASK_METHODS,
    KNN,
    METHODS,
    PLAIN,
    PRISM,
    PRISM_GUESS,
    PROXY_ANCHOR,
    SMOOTH_PROXY_ANCHOR,
)
from irnoise.train.methods.sharing import FilterStep, RankExchange


class FilterRecord:
    """Each train row's latest verdict: -1 never seen, 0 kept, 1 dropped."""

    def __init__(self, rows: int) -> None:
        self.verdict = np.full(rows, -1, dtype=np.int8)

    def update(self, rows: torch.Tensor, keep: torch.Tensor) -> None:
        self.verdict[rows.cpu().numpy()] = (~keep).cpu().numpy().astype(np.int8)

    def dropped(self) -> np.ndarray:
        return self.verdict == 1


class SampleFilter:
    """Keeps every sample; subclasses drop some. Call once per batch, in training order.

    After each optimizer step the loop calls `share`, which absorbs the batch (with a
    `RankExchange`, every rank's batch of that step); a caller that never calls it (one
    process, e.g. a test) gets the previous batch absorbed at the next call.
    """

    def __init__(self, rows: int) -> None:
        self.record = FilterRecord(rows)
        self.method: dict[str, Any] | None = None  # what build_filter was asked for
        self.exchange: RankExchange | None = None  # set by the loop under DDP
        self.pending: FilterStep | None = None

    def __call__(
        self, embeddings: torch.Tensor, labels: torch.Tensor, rows: torch.Tensor, epoch: int
    ) -> torch.Tensor:
        if self.pending is not None and self.exchange is None:
            self.share()
        with torch.no_grad():
            embeddings = embeddings.detach().float()
            keep = self.keep(embeddings, labels, rows, epoch)
        self.record.update(rows, keep)  # this rank's at once; the others' at `share`
        self.pending = FilterStep(rows.cpu(), labels.cpu(), embeddings.cpu(), keep.cpu())
        return keep

    def share(self) -> None:
        """Absorb this step's batch: this rank's, or under DDP every rank's (rank order).

        A rank without a batch this step (it ran out: DDP's Join) contributes nothing.
        """
        step, self.pending = self.pending, None
        if self.exchange is not None:
            step = self.exchange.gather(step)
        if step is not None:
            self.record.update(step.rows, step.keep)
            self.absorb(step)

    def absorb(self, step: FilterStep) -> None:
        """Subclasses with a memory add the step's samples to it."""

    def keep(
        self, embeddings: torch.Tensor, labels: torch.Tensor, rows: torch.Tensor, epoch: int
    ) -> torch.Tensor:
        return torch.ones(len(labels), dtype=torch.bool, device=labels.device)


class FixedMask(SampleFilter):
    """Keeps the rows a keep-mask file marks (oracle, sub-center stage 2)."""

    def __init__(self, keep_rows: np.ndarray) -> None:
        super().__init__(len(keep_rows))
        self.keep_rows = torch.from_numpy(np.asarray(keep_rows, dtype=bool))

    def keep(self, embeddings, labels, rows, epoch):
        return self.keep_rows[rows.cpu()].to(labels.device)


def build_filter(
    method: dict[str, Any],
    labels: np.ndarray,
    keep_rows: np.ndarray | None,
    embedding_size: int,
    stage1: dict[str, np.ndarray] | None = None,
) -> SampleFilter | None:
    """The filter of `method` ({"name": ..., parameters}); None for `none`. `stage1`: the
    arrays of a staged method's first stage (Smooth Proxy-Anchor's `labels` and
    `confidence`, CleanNet's detect.npz)."""
    from irnoise.errors import UserError

    name = method.get("name", PLAIN)
    if name not in METHODS:
        raise UserError(f"unknown method {name!r}: use one of {', '.join(METHODS)}")
    if name == PLAIN:
        return None
    if name in (SMOOTH_PROXY_ANCHOR, CLEANNET):
        sample_filter = _staged_filter(name, method, labels, stage1)
    else:
        sample_filter = _make_filter(name, method, labels, keep_rows, embedding_size)
    sample_filter.method = dict(method)
    return sample_filter


def _make_filter(
    name: str,
    method: dict[str, Any],
    labels: np.ndarray,
    keep_rows: np.ndarray | None,
    embedding_size: int,
) -> SampleFilter:
    from irnoise.errors import UserError

    if name in FIXED_MASK_METHODS:
        if keep_rows is None:
            raise UserError(f"method {name} trains on a keep-mask: pass it with --keep")
        if keep_rows.shape != labels.shape:
            raise UserError(
                f"the keep-mask has {keep_rows.shape} rows but the train split has "
                f"{labels.shape}: it was made for another dataset; rerun its rule"
            )
        return FixedMask(keep_rows)
    from irnoise.schema import method_defaults

    # A method given by hand (`--method '{"name": "knn"}'`) takes the schema's defaults.
    method = method_defaults(name) | method
    num_classes = int(labels.max(initial=0)) + 1
    if name in (PRISM, PRISM_GUESS):
        from irnoise.train.methods.prism import PrismFilter

        return PrismFilter(
            rows=len(labels),
            num_classes=num_classes,
            embedding_size=embedding_size,
            noise_rate=float(method["noise_rate"]),
            window=int(method["window"]),
            memory_size=memory_rows(float(method["memory_epochs"]), len(labels)),
            warmup_epochs=int(method["warmup_epochs"]),
        )
    if name == PROXY_ANCHOR:
        return SampleFilter(len(labels))  # only the loss differs: keep every sample
    from irnoise.train.methods.knn_filter import KnnFilter

    assert name == KNN, name
    return KnnFilter(
        rows=len(labels),
        embedding_size=embedding_size,
        neighbors=int(method["neighbors"]),
        threshold=float(method["threshold"]),
        warmup_epochs=int(method["warmup_epochs"]),
    )


def _staged_filter(
    name: str, method: dict[str, Any], labels: np.ndarray, stage1: dict[str, np.ndarray] | None
) -> SampleFilter:
    from irnoise.errors import UserError
    from irnoise.schema import method_defaults

    wanted = "labels" if name == SMOOTH_PROXY_ANCHOR else f"{CLEANNET}_score"
    if stage1 is None or wanted not in stage1:
        raise UserError(
            f"method {name} trains on its first stage's file (with {wanted!r}): pass it with "
            "--keep (docs/methods.md)"
        )
    if len(stage1[wanted]) != len(labels):
        raise UserError(
            f"the first stage's file has {len(stage1[wanted])} rows but the train split has "
            f"{len(labels)}: it was made for another dataset; rerun its rule"
        )
    method = method_defaults(name) | method
    if name == CLEANNET:
        from irnoise.train.methods.cleannet import SampleWeights, similarity_weights

        return SampleWeights(similarity_weights(stage1[wanted]))
    from irnoise.train.methods.smooth_proxy_anchor import SmoothProxyAnchorTerms

    return SmoothProxyAnchorTerms(
        stage1["labels"],
        stage1["confidence"],
        position=float(method["position"]),
        sharpness=float(method["sharpness"]),
    )


def memory_rows(memory_epochs: float, rows: int) -> int:
    """A memory of `memory_epochs` epochs, in rows (at least one).

    A memory longer than an epoch holds stale copies of each sample itself, which prop up
    its own noisy label's center; the reference's memories hold 0.14-1.2 epochs.
    """
    return max(1, round(memory_epochs * rows))


def filter_summary(dropped: np.ndarray, noisy: np.ndarray, clean: np.ndarray) -> dict[str, Any]:
    """What a filter dropped against the truly changed labels (computed after training)."""
    changed = noisy != clean
    hits = int(np.sum(dropped & changed))
    return {
        "rows": len(dropped),
        "dropped": int(dropped.sum()),
        "changed": int(changed.sum()),
        "dropped_and_changed": hits,
        "precision": hits / int(dropped.sum()) if dropped.any() else None,
        "recall": hits / int(changed.sum()) if changed.any() else None,
    }
