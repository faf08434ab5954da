"""Metrics against naive reference implementations (docs/design.md, "Metrics").

Retrieval: a brute-force numpy ranking (score descending, gallery index ascending) on
data whose scores are exact in float32, so that ties are real ties for faiss and numpy
alike; and pytorch-metric-learning's AccuracyCalculator on data without near-ties.
Verification: scikit-learn's roc_curve on the real LFW pair structure, and a naive loop.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from irnoise.evaluate import knn
from irnoise.evaluate.metrics import (
    classification_accuracy,
    recall_at_k,
    retrieval_metrics,
    tpr_at_fpr,
    verification_accuracy,
)

KS = (1, 2, 4, 8)


@pytest.fixture(autouse=True, scope="module")
def _two_threads():
    import faiss

    previous = faiss.omp_get_max_threads()
    knn.set_threads(2)
    yield
    knn.set_threads(previous)


# -- reference implementations -------------------------------------------------------


def exact_vectors(rng: np.random.Generator, n: int, distinct: int | None = None) -> np.ndarray:
    """Rows with four entries of +-1 among 16: norm 2, so every cosine is an exact k/4.

    Scores then take a handful of values: ties everywhere, identical in faiss and numpy.
    With `distinct`, rows are drawn from that many vectors (exact duplicates).
    """
    pool = n if distinct is None else distinct
    vectors = np.zeros((pool, 16), dtype=np.float32)
    for row in vectors:
        row[rng.choice(16, 4, replace=False)] = rng.choice([-1.0, 1.0], 4)
    return vectors[rng.integers(0, pool, n)] if distinct is not None else vectors


def ranking(queries: np.ndarray, gallery: np.ndarray | None) -> np.ndarray:
    """Gallery indices per query by (cosine desc, index asc), the query itself removed."""
    unit = lambda x: x / np.linalg.norm(x, axis=1, keepdims=True)  # noqa: E731
    q = unit(queries.astype(np.float64))
    g = q if gallery is None else unit(gallery.astype(np.float64))
    scores = q @ g.T
    orders = []
    for i, row in enumerate(scores):
        order = np.lexsort((np.arange(len(row)), -row))
        orders.append(order[order != i] if gallery is None else order)
    return np.array(orders)


def reference_metrics(queries, labels, gallery=None, gallery_labels=None):
    """R@k and MAP@R by definition, one query at a time; and the number left out."""
    order = ranking(queries, gallery)
    gallery_labels = labels if gallery is None else gallery_labels
    recall, precision, left_out = {k: [] for k in KS}, [], 0
    for i, label in enumerate(labels):
        relevant = int((gallery_labels == label).sum()) - int(gallery is None)
        if relevant == 0:
            left_out += 1
            continue
        match = gallery_labels[order[i]] == label
        for k in KS:
            recall[k].append(match[:k].any())
        hits = [match[: r + 1].mean() for r in range(relevant) if match[r]]
        precision.append(sum(hits) / relevant)
    return {k: np.mean(v) for k, v in recall.items()}, np.mean(precision), left_out


def assert_same(result, reference) -> None:
    recall, map_at_r, left_out = reference
    assert result.left_out == left_out
    for k in KS:
        assert result.recall[k] == pytest.approx(recall[k], abs=1e-12), k
    assert result.map_at_r == pytest.approx(map_at_r, abs=1e-12)


# -- retrieval -------------------------------------------------------------------------


def test_leave_one_out_matches_brute_force_with_ties():
    rng = np.random.default_rng(0)
    x = exact_vectors(rng, 400)
    labels = rng.integers(0, 60, 400)
    assert_same(retrieval_metrics(x, labels, KS), reference_metrics(x, labels))


def test_duplicates_across_labels_rank_by_index():
    # 40 distinct vectors for 300 rows: big groups of identical embeddings, mixed labels.
    rng = np.random.default_rng(1)
    x = exact_vectors(rng, 300, distinct=40)
    labels = rng.integers(0, 30, 300)
    assert_same(retrieval_metrics(x, labels, KS, batch_size=37), reference_metrics(x, labels))


def test_query_is_excluded_by_index_not_by_score():
    # Three identical embeddings: a query's duplicate (score 1, like the query's own) is a
    # neighbor. Row 1 is lone (left out); row 0's nearest is row 1 (a miss), row 2's is
    # row 0 (a hit), which dropping "the best match" instead of row 2 itself would lose.
    x = np.ones((3, 4), dtype=np.float32)
    labels = np.array([7, 8, 7])
    assert recall_at_k(x, labels, ks=(1, 2)) == {1: 0.5, 2: 1.0}
    _, ids = knn.nearest_neighbors(knn.normalized(x), 2)
    assert ids.tolist() == [[1, 2], [0, 2], [0, 1]]


def test_ties_crossing_the_boundary_are_fetched_whole():
    # Every score ties: the neighbors must be the lowest indices, whatever faiss returns.
    x = np.ones((500, 4), dtype=np.float32)
    _, ids = knn.nearest_neighbors(knn.normalized(x), 3, batch_size=64)
    expected = [[j for j in range(4) if j != i][:3] for i in range(500)]
    assert ids.tolist() == expected


def test_lone_queries_are_left_out_and_counted():
    rng = np.random.default_rng(2)
    x = exact_vectors(rng, 120)
    labels = np.concatenate([np.arange(10) + 1000, rng.integers(0, 20, 110)])  # 10 singletons
    result = retrieval_metrics(x, labels, KS)
    assert (result.queries, result.left_out, result.scored, result.gallery) == (120, 10, 110, 120)
    assert_same(result, reference_metrics(x, labels))


def test_gallery_mode_matches_brute_force():
    rng = np.random.default_rng(3)
    query, gallery = exact_vectors(rng, 150, distinct=60), exact_vectors(rng, 250, distinct=60)
    query_labels, gallery_labels = rng.integers(0, 45, 150), rng.integers(0, 40, 250)
    result = retrieval_metrics(query, query_labels, KS, gallery, gallery_labels)
    reference = reference_metrics(query, query_labels, gallery, gallery_labels)
    assert result.left_out == int((query_labels >= 40).sum()) > 0
    assert (result.queries, result.gallery) == (150, 250)
    assert_same(result, reference)
    recall = recall_at_k(query, query_labels, KS, gallery, gallery_labels)
    assert recall == result.recall


def test_more_neighbors_than_gallery_items():
    x = np.eye(3, dtype=np.float32)
    result = retrieval_metrics(x, np.array([0, 0, 1]), KS)
    assert result.recall == {1: 1.0, 2: 1.0, 4: 1.0, 8: 1.0}
    assert result.left_out == 1
    _, ids = knn.nearest_neighbors(knn.normalized(x), 4)
    assert ids.tolist() == [[1, 2, -1, -1], [0, 2, -1, -1], [0, 1, -1, -1]]


def test_every_query_lone_gives_nan():
    result = retrieval_metrics(np.eye(4, dtype=np.float32), np.arange(4), KS)
    assert result.left_out == 4 and np.isnan(result.recall[1]) and np.isnan(result.map_at_r)


def test_non_finite_embeddings_are_refused():
    x = np.ones((4, 3), dtype=np.float32)
    x[1, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        recall_at_k(x, np.zeros(4))


def test_matches_pytorch_metric_learning():
    import torch
    from pytorch_metric_learning.utils.accuracy_calculator import AccuracyCalculator

    rng = np.random.default_rng(26)  # a seed whose data passes the precondition below
    x = rng.standard_normal((300, 32)).astype(np.float32)
    labels = rng.integers(0, 60, 300)
    # Precondition, no near-ties in the ranks that count: pml ranks by float32 L2 distance.
    unit = x / np.linalg.norm(x.astype(np.float64), axis=1, keepdims=True)
    top = -np.sort(-(unit @ unit.T), axis=1)[:, : np.bincount(labels).max() + 1]
    assert np.diff(top, axis=1).max() < -1e-5
    calculator = AccuracyCalculator(
        include=("precision_at_1", "mean_average_precision_at_r"),
        k="max_bin_count",
        device=torch.device("cpu"),
    )
    # pml ranks by L2 distance: on unit vectors, the same order as cosine similarity.
    expected = calculator.get_accuracy(unit.astype(np.float32), labels)
    result = retrieval_metrics(x, labels, KS)
    assert result.recall[1] == pytest.approx(expected["precision_at_1"], abs=1e-12)
    assert result.map_at_r == pytest.approx(expected["mean_average_precision_at_r"], abs=1e-12)


# -- verification ----------------------------------------------------------------------


def lfw_pairs(shared_data: Path) -> tuple[np.ndarray, np.ndarray]:
    """is_same and fold of the 6,000 official LFW pairs (10 folds of 300 + 300)."""
    lines = (shared_data / "lfw" / "pairs.txt").read_text().splitlines()
    folds, per_fold = (int(v) for v in lines[0].split())
    rows = [line.split("\t") for line in lines[1:] if line.strip()]
    assert len(rows) == 2 * folds * per_fold
    is_same = np.array([len(row) == 3 for row in rows])
    fold = np.arange(len(rows)) // (2 * per_fold)
    return is_same, fold


@pytest.mark.parametrize("fpr", [1e-3, 1e-2, 0.1])
def test_tpr_at_fpr_matches_roc_curve(shared_data: Path, fpr: float):
    from sklearn.metrics import roc_curve

    is_same, _ = lfw_pairs(shared_data)
    assert (is_same.sum(), (~is_same).sum()) == (3000, 3000)
    rng = np.random.default_rng(5)
    continuous = rng.standard_normal(6000) + 1.5 * is_same
    tied = np.round(continuous * 4) / 4  # a few dozen distinct scores: many ties
    for scores in (continuous, tied):
        roc_fpr, roc_tpr, _ = roc_curve(is_same, scores, drop_intermediate=False)
        assert tpr_at_fpr(scores, is_same, fpr) == roc_tpr[roc_fpr <= fpr].max()


def test_tpr_at_fpr_by_hand():
    # Negatives 0.9 > 0.5 > ...: with 1,000 negatives, FPR 1e-3 allows exactly one at or
    # above the threshold, so t is the smallest score above the second highest negative.
    negatives = np.concatenate([[0.9, 0.5], np.linspace(-1, 0.4, 998)])
    positives = np.array([0.95, 0.6, 0.5, 0.2])
    scores = np.concatenate([negatives, positives])
    is_same = np.concatenate([np.zeros(1000, bool), np.ones(4, bool)])
    assert tpr_at_fpr(scores, is_same, 1e-3) == 0.5  # t = 0.6: 0.95 and 0.6 pass
    assert tpr_at_fpr(scores, is_same, 2e-3) == 0.75  # t = 0.5 (0.9, 0.5 pass): FPR 2e-3
    assert tpr_at_fpr(scores, is_same, 1.0) == 1.0


def naive_verification_accuracy(scores, is_same, folds) -> float:
    accuracies = []
    for fold in np.unique(folds):
        train, test = folds != fold, folds == fold
        distinct = np.unique(scores[train])
        candidates = [-np.inf, *((distinct[1:] + distinct[:-1]) / 2), np.inf]
        best, best_accuracy = None, -1.0
        for threshold in candidates:  # ascending: the first best is the lowest
            accuracy = ((scores[train] >= threshold) == is_same[train]).mean()
            if accuracy > best_accuracy:
                best, best_accuracy = threshold, accuracy
        accuracies.append(((scores[test] >= best) == is_same[test]).mean())
    return float(np.mean(accuracies))


def test_verification_accuracy_matches_naive_loop(shared_data: Path):
    is_same, folds = lfw_pairs(shared_data)
    rng = np.random.default_rng(6)
    scores = np.round(rng.standard_normal(6000) + 1.2 * is_same, 2)  # ~700 distinct values
    expected = naive_verification_accuracy(scores, is_same, folds)
    assert verification_accuracy(scores, is_same, folds) == pytest.approx(expected, abs=1e-12)
    assert 0.6 < expected < 0.8


def test_verification_accuracy_separable():
    is_same = np.tile([True, False], 50)
    scores = np.where(is_same, 0.8, 0.1) + np.linspace(0, 0.05, 100)
    assert verification_accuracy(scores, is_same, np.arange(100) // 10) == 1.0


# -- classification --------------------------------------------------------------------


def test_classification_accuracy():
    rng = np.random.default_rng(7)
    logits = rng.standard_normal((500, 12))
    labels = rng.integers(0, 12, 500)
    expected = np.mean(
        [int(np.argmax(row) == label) for row, label in zip(logits, labels, strict=True)]
    )
    assert classification_accuracy(logits, labels) == expected
    assert classification_accuracy(np.eye(3), [0, 1, 1]) == pytest.approx(2 / 3)
