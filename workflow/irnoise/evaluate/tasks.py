"""From embeddings (and class logits) of an evaluation set to its named metrics and counts.

The task decides the protocol (docs/design.md, "Metrics"):

- retrieval: the `test` split against itself, leave-one-out (SOP, CUB, Cars, synthetic),
  or the `query` split against the `gallery` split (In-Shop): R@1, R@2, R@4, R@8, MAP@R;
  with the leave-one-out protocol (`pooled_retrieval`), a query/gallery set's two
  splits pooled and scored like a test split, each image against all the others;
- classification: top-1 `accuracy` of the class logits of the `val` split;
- verification: `TPR@FPR=1e-3` and 10-fold `verification_accuracy` on the cosine scores
  of the pairs of the `test` split, `TPR@FPR=1e-3 (all pairs)` over every pair of two
  test images (`irnoise.evaluate.all_pairs`), and `R@1` of every test image against all
  others.

Metric values are fractions in [0, 1], NaN where undefined; counts say what was scored;
per-query arrays (`irnoise.evaluate.per_query`) are what a bootstrap resamples.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

import numpy as np

from irnoise.errors import UserError
from irnoise.evaluate import metrics
from irnoise.evaluate.all_pairs import AllPairs, all_pairs, tpr_at_fpr_all_pairs
from irnoise.evaluate.knn import normalized
from irnoise.plan import LEAVE_ONE_OUT, OFFICIAL, RETRIEVAL, TASKS

RETRIEVAL_KS = (1, 2, 4, 8)
VERIFICATION_FPR = 1e-3
TPR_NAME = "TPR@FPR=1e-3"  # the metric name (docs/design.md, "Metrics"), for VERIFICATION_FPR
ALL_PAIRS_TPR_NAME = f"{TPR_NAME} (all pairs)"  # the same over every pair of test images

Metrics = dict[str, float]
Counts = dict[str, int]
Arrays = dict[str, np.ndarray]


def evaluation_splits(
    task: str, available: Collection[str], protocol: str = OFFICIAL
) -> tuple[str, ...]:
    """The splits a task embeds under a protocol, given the splits a shard directory has."""
    if protocol == LEAVE_ONE_OUT:
        return _pooled_splits(task, available)
    if task == "retrieval":
        wanted = ("query", "gallery") if {"query", "gallery"} <= set(available) else ("test",)
    elif task == "classification":
        wanted = ("val",)
    elif task == "verification":
        wanted = ("test",)
    else:
        raise UserError(f"unknown task {task!r}: choose one of {', '.join(TASKS)}")
    missing = [split for split in wanted if split not in available]
    if missing:
        raise UserError(
            f"the {task} task needs the split(s) {', '.join(wanted)}, but the evaluation "
            f"shards have {', '.join(sorted(available)) or 'none'}: point the experiment's "
            f"eval at a dataset with them (retrieval: test, or query and gallery; "
            f"classification: val; verification: test with pairs)"
        )
    return wanted


def _pooled_splits(task: str, available: Collection[str]) -> tuple[str, ...]:
    if task != RETRIEVAL or not {"query", "gallery"} <= set(available):
        raise UserError(
            f"the {LEAVE_ONE_OUT} protocol pools a retrieval set's query and gallery splits, "
            f"but this is task {task} on shards with {', '.join(sorted(available)) or 'none'}: "
            f"use it on an In-Shop-shaped retrieval set only (a test split already is "
            f"evaluated {LEAVE_ONE_OUT} by the {OFFICIAL} protocol)"
        )
    return ("query", "gallery")


def pooled_retrieval(
    embeddings_by_split: Mapping[str, np.ndarray],
    labels_by_split: Mapping[str, np.ndarray],
    ks: Sequence[int] = RETRIEVAL_KS,
) -> tuple[Metrics, Counts, Arrays]:
    """Retrieval leave-one-out over the query and gallery images pooled (query rows first):
    the protocol of a test split (SOP), applied to an In-Shop-shaped set."""
    _pooled_splits(RETRIEVAL, embeddings_by_split.keys())
    pooled = np.concatenate([embeddings_by_split["query"], embeddings_by_split["gallery"]])
    labels = np.concatenate([labels_by_split["query"], labels_by_split["gallery"]])
    return retrieval({"test": pooled}, {"test": labels}, ks)


def evaluate_embeddings(
    task: str,
    embeddings_by_split: Mapping[str, np.ndarray],
    labels_by_split: Mapping[str, np.ndarray],
    pairs: np.ndarray | None = None,
    class_logits: np.ndarray | None = None,
) -> tuple[Metrics, Counts, Arrays]:
    """(metrics by name, counts, per-query arrays) of one task; see the module docstring."""
    evaluation_splits(task, embeddings_by_split.keys())
    if task == "retrieval":
        return retrieval(embeddings_by_split, labels_by_split)
    if task == "classification":
        if class_logits is None:
            raise ValueError("classification needs the class logits of the val split")
        return classification(class_logits, labels_by_split["val"])
    if pairs is None:
        raise UserError(
            "the verification task needs pairs, and the evaluation shards have none "
            "(pairs.npy): evaluate on an LFW-style dataset with pairs.txt, or an insightface "
            "verification .bin (source verification_bin)"
        )
    return verification(embeddings_by_split["test"], labels_by_split["test"], pairs)


def retrieval(
    embeddings_by_split: Mapping[str, np.ndarray],
    labels_by_split: Mapping[str, np.ndarray],
    ks: Sequence[int] = RETRIEVAL_KS,
) -> tuple[Metrics, Counts, Arrays]:
    if "query" in embeddings_by_split and "gallery" in embeddings_by_split:
        result = metrics.retrieval_metrics(
            embeddings_by_split["query"],
            labels_by_split["query"],
            ks,
            embeddings_by_split["gallery"],
            labels_by_split["gallery"],
        )
    else:
        result = metrics.retrieval_metrics(embeddings_by_split["test"], labels_by_split["test"], ks)
    values = {f"R@{k}": result.recall[k] for k in ks} | {"MAP@R": result.map_at_r}
    arrays = _retrieval_arrays(result, ks) | {"average_precision": result.average_precision}
    return values, _retrieval_counts(result), arrays


def classification(logits: np.ndarray, labels: np.ndarray) -> tuple[Metrics, Counts, Arrays]:
    logits, labels = np.asarray(logits), np.asarray(labels)
    classes = logits.shape[1]
    unknown = int(((labels < 0) | (labels >= classes)).sum())
    if unknown:
        raise UserError(
            f"{unknown} val images have classes outside the classifier's {classes} training "
            "classes: classification needs a closed-set val split (the train classes)"
        )
    accuracy = metrics.classification_accuracy(logits, labels)
    correct = logits.argmax(axis=1) == labels
    return {"accuracy": accuracy}, {"images": len(labels), "classes": classes}, {"correct": correct}


def verification(
    embeddings: np.ndarray, labels: np.ndarray, pairs: np.ndarray
) -> tuple[Metrics, Counts, Arrays]:
    pairs = _checked_pairs(pairs, len(embeddings))
    scores = pair_scores(embeddings, pairs[:, 0], pairs[:, 1])
    is_same, folds = pairs[:, 2].astype(bool), pairs[:, 3]
    recall = metrics.retrieval_metrics(embeddings, labels, ks=(1,), map_at_r=False)
    every_pair = all_pairs(embeddings, labels, VERIFICATION_FPR)
    values = {
        TPR_NAME: metrics.tpr_at_fpr(scores, is_same, VERIFICATION_FPR),
        ALL_PAIRS_TPR_NAME: tpr_at_fpr_all_pairs(every_pair, VERIFICATION_FPR),
        "verification_accuracy": metrics.verification_accuracy(scores, is_same, folds),
        "R@1": recall.recall[1],
    }
    counts = {
        "pairs": len(pairs),
        "positive_pairs": int(is_same.sum()),
        "negative_pairs": int((~is_same).sum()),
        "folds": len(np.unique(folds)),
        "all_positive_pairs": len(every_pair.positive_scores),
        "all_negative_pairs": every_pair.negatives,
        "all_negative_pairs_kept": len(every_pair.negative_scores),
    } | _retrieval_counts(recall)
    arrays = {"scores": scores, "is_same": is_same, "folds": folds}
    arrays |= _all_pairs_arrays(every_pair, labels)
    return values, counts, arrays | _retrieval_arrays(recall, (1,))


def _all_pairs_arrays(pairs: AllPairs, labels: np.ndarray) -> Arrays:
    """What the bootstrap of TPR@FPR over all pairs needs (`irnoise.evaluate.per_query`)."""
    return {
        "labels": np.asarray(labels, dtype=np.int64),
        "all_pairs_positive_rows": pairs.positive_rows,
        "all_pairs_positive_scores": pairs.positive_scores,
        "all_pairs_negative_rows": pairs.negative_rows,
        "all_pairs_negative_scores": pairs.negative_scores,
        "all_pairs_negatives": np.array(pairs.negatives, dtype=np.int64),
    }


def pair_scores(embeddings: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine similarity of rows a[i] and b[i]."""
    unit = normalized(embeddings)
    return np.einsum("ij,ij->i", unit[a], unit[b])


def _retrieval_arrays(result: metrics.RetrievalResult, ks: Sequence[int]) -> Arrays:
    ks_array = np.asarray(sorted(ks), dtype=np.int64)
    return {"ks": ks_array, "hits": result.hits, "valid": result.valid}


def _retrieval_counts(result: metrics.RetrievalResult) -> Counts:
    return {
        "queries": result.queries,
        "gallery": result.gallery,
        "left_out": result.left_out,
        "scored": result.scored,
    }


def _checked_pairs(pairs: np.ndarray, images: int) -> np.ndarray:
    pairs = np.asarray(pairs)
    if pairs.ndim != 2 or pairs.shape[1] != 4 or not len(pairs):
        raise UserError(
            f"pairs must be a non-empty (n, 4) array of (row_a, row_b, is_same, fold), got "
            f"shape {pairs.shape}: rewrite the shards with `irnoise shard`"
        )
    rows = pairs[:, :2]
    if rows.min() < 0 or rows.max() >= images:
        raise UserError(
            f"pairs refer to rows outside the test split's {images} images: the shards' "
            "pairs.npy does not match their test split; rewrite the shards"
        )
    return pairs.astype(np.int64)
