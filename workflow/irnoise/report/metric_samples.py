"""From a run's per-query arrays to the bootstrap's samples of one of its metrics.

R@k, MAP@R and accuracy are means over queries (`QueryMean`); TPR@FPR=1e-3 is recomputed
from the pair scores (`PairTpr`), and over all pairs of test images from every positive
and the highest negatives (`AllPairTpr`). 10-fold verification accuracy has no per-query
form and gets no interval. Listed pairs are resampled over pairs, under the test-set key
`<test_set>#pairs`; all pairs over the images drawn within identity, under
`<test_set>#images-by-identity`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

import numpy as np

from irnoise.evaluate.per_query import load_per_query
from irnoise.evaluate.tasks import ALL_PAIRS_TPR_NAME, TPR_NAME, VERIFICATION_FPR
from irnoise.report.all_pair_tpr import AllPairTpr
from irnoise.report.bootstrap import PairTpr, PerQuery, QueryMean

RECALL = re.compile(r"R@(\d+)")
RESAMPLABLE = ("R@k", "MAP@R", "accuracy", TPR_NAME, ALL_PAIRS_TPR_NAME)


def metric_samples(arrays: Mapping[str, np.ndarray], metric: str, test_set: str = "") -> PerQuery:
    """The samples of `metric` (see RESAMPLABLE) in a run's arrays; KeyError if it has none."""
    recall = RECALL.fullmatch(metric)
    if recall and "hits" in arrays:
        ks = [int(k) for k in arrays["ks"]]
        k = int(recall.group(1))
        if k not in ks:
            raise KeyError(f"{metric}: the per-query arrays have hits at k = {ks} only")
        return QueryMean(arrays["hits"][:, ks.index(k)], arrays["valid"], test_set)
    if metric == "MAP@R" and "average_precision" in arrays:
        return QueryMean(arrays["average_precision"], arrays["valid"], test_set)
    if metric == "accuracy" and "correct" in arrays:
        return QueryMean(arrays["correct"], None, test_set)
    if metric == TPR_NAME and "scores" in arrays:
        # Pairs are resampled apart from the images (R@1): their own test set.
        pairs = f"{test_set}#pairs"
        return PairTpr(arrays["scores"], arrays["is_same"], VERIFICATION_FPR, pairs)
    if metric == ALL_PAIRS_TPR_NAME and "all_pairs_negatives" in arrays:
        return AllPairTpr(
            labels=arrays["labels"],
            positive_rows=arrays["all_pairs_positive_rows"],
            positive_scores=arrays["all_pairs_positive_scores"],
            negative_rows=arrays["all_pairs_negative_rows"],
            negative_scores=arrays["all_pairs_negative_scores"],
            negatives=int(arrays["all_pairs_negatives"]),
            fpr=VERIFICATION_FPR,
            test_set=f"{test_set}#images-by-identity",
        )
    raise KeyError(f"no per-query form of {metric} in arrays with {sorted(arrays)}")


def load_samples(path: str | os.PathLike, metric: str, test_set: str = "") -> PerQuery:
    """`metric_samples` of the per_query.npz at `path`."""
    return metric_samples(load_per_query(path), metric, test_set)
