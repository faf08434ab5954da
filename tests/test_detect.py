"""Label-suspicion detectors and their evaluation, on constructed embeddings."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import average_precision_score, roc_auc_score

from irnoise.detect import cleanlab_scores, evaluation, knn, margin, prism_score
from irnoise.detect.scores import load, run_detectors, save
from irnoise.schema import schema_default

MAX_CELLS = schema_default("detect", "cleanlab_max_cells")


def planted_flips(classes=6, per_class=30, dim=16, flips=12, seed=0):
    """Tight clusters, one per class, and `flips` samples relabelled to another class."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(classes, dim))
    clean = np.repeat(np.arange(classes), per_class)
    embeddings = centers[clean] + 0.05 * rng.normal(size=(len(clean), dim))
    changed = np.zeros(len(clean), dtype=bool)
    changed[rng.choice(len(clean), flips, replace=False)] = True
    noisy = clean.copy()
    noisy[changed] = (clean[changed] + rng.integers(1, classes, flips)) % classes
    return embeddings.astype(np.float32), clean, noisy, changed


def test_knn_finds_planted_flips_and_suggests_the_true_labels():
    embeddings, clean, noisy, changed = planted_flips()
    hoods = knn.neighborhoods(embeddings, k=10)
    vote = knn.disagreement(noisy, hoods)
    assert roc_auc_score(changed, vote.scores) > 0.99
    np.testing.assert_array_equal(vote.suggested[changed], clean[changed])
    top = evaluation.ranking(vote.scores)[: changed.sum()]
    assert changed[top].all()


def test_knn_disagreement_matches_a_naive_loop():
    rng = np.random.default_rng(1)
    embeddings = rng.normal(size=(40, 8)).astype(np.float32)
    labels = rng.integers(0, 3, 40)
    hoods = knn.neighborhoods(embeddings, k=5)
    vote = knn.disagreement(labels, hoods)
    unit = embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True)
    cosine = unit @ unit.T
    for i in range(40):
        others = [j for j in np.argsort(-cosine[i], kind="stable") if j != i][:5]
        weights = np.clip(cosine[i, others], 0, None)
        weights = weights if weights.sum() > 0 else np.ones(5)
        neighbor_labels = labels[others]
        share = weights[neighbor_labels == labels[i]].sum() / weights.sum()
        classmates = int((labels == labels[i]).sum()) - 1
        attainable = sorted(weights, reverse=True)[:classmates]
        expected = 1 - share / (sum(attainable) / weights.sum()) if classmates else 1.0
        assert vote.scores[i] == pytest.approx(expected, abs=1e-5)
        totals = {c: weights[neighbor_labels == c].sum() for c in set(neighbor_labels)}
        assert totals[vote.suggested[i]] == pytest.approx(max(totals.values()), abs=1e-5)


def test_prism_score_finds_planted_flips():
    embeddings, clean, noisy, changed = planted_flips(flips=6)
    center = prism_score.prism_scores(embeddings, noisy)
    assert roc_auc_score(changed, center.scores) > 0.99
    np.testing.assert_array_equal(center.suggested[changed], clean[changed])


def test_prism_score_matches_a_naive_loop(monkeypatch):
    monkeypatch.setattr(prism_score, "MAX_CELLS_PER_CHUNK", 7)  # several chunks
    rng = np.random.default_rng(2)
    embeddings = rng.normal(size=(30, 6))
    labels = rng.integers(0, 4, 30)
    labels[labels == 2] = 3  # class 2 has no sample: a zero center, as in PRISM
    center = prism_score.prism_scores(embeddings, labels)
    for i in range(30):
        f = embeddings[i] / np.linalg.norm(embeddings[i])
        centers = []
        for c in range(4):
            members = [
                e / np.linalg.norm(e) for e, y in zip(embeddings, labels, strict=True) if y == c
            ]
            centers.append(np.mean(members, axis=0) if members else np.zeros(6))
        exps = [np.exp(f @ c) for c in centers]
        # float32 logits of unit vectors: within 1e-6 of this float64 loop
        assert center.scores[i] == pytest.approx(1 - exps[labels[i]] / sum(exps), abs=1e-6)
        assert center.suggested[i] == int(np.argmax(exps))


def test_knn_probabilities_are_the_weighted_vote():
    embeddings, _, noisy, _ = planted_flips(classes=3, per_class=5, flips=2)
    hoods = knn.neighborhoods(embeddings, k=4)
    probabilities = knn.knn_probabilities(noisy, hoods, num_classes=4, smoothing=0.0)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-6)
    own = probabilities[np.arange(len(noisy)), noisy]
    weights = knn.vote_weights(hoods.similarities)
    share = (weights * (noisy[hoods.ids] == noisy[:, None])).sum(axis=1) / weights.sum(axis=1)
    np.testing.assert_allclose(own, share, atol=1e-6)


def test_knn_score_is_not_confounded_with_class_size():
    """Clean rows of 4-image classes against a mislabelled row of a 40-image class."""
    rng = np.random.default_rng(5)
    sizes = [40, 40] + [4] * 10
    clean = np.repeat(np.arange(len(sizes)), sizes)
    centers = rng.normal(size=(len(sizes), 16)) * 3
    embeddings = (centers[clean] + 0.05 * rng.normal(size=(len(clean), 16))).astype(np.float32)
    noisy = clean.copy()
    noisy[0] = 1  # a large-class row carries the other large class's label
    vote = knn.disagreement(noisy, knn.neighborhoods(embeddings, k=10))
    small_clean = np.flatnonzero(np.isin(clean, np.arange(2, len(sizes))))
    # Before: 1 - own share >= 0.7 for every clean row of a 4-image class (3 classmates
    # among 10 neighbors); normalized by the attainable share, they score ~0.
    assert vote.scores[small_clean].max() < 0.05
    assert vote.scores[0] > vote.scores[small_clean].max()
    assert roc_auc_score(noisy != clean, vote.scores) == 1.0


def test_cleanlab_path_agrees_with_calling_cleanlab_directly():
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores

    embeddings, _, noisy, changed = planted_flips(seed=3)
    hoods = knn.neighborhoods(embeddings, k=10)
    result = cleanlab_scores.cleanlab_from_neighbors(noisy, hoods, MAX_CELLS)
    probabilities = knn.knn_probabilities(noisy, hoods, int(noisy.max()) + 1)
    flagged = find_label_issues(noisy, probabilities)
    quality = get_label_quality_scores(noisy, probabilities, method="normalized_margin")
    np.testing.assert_array_equal(result.flagged, flagged)
    np.testing.assert_allclose(result.scores, flagged + 1 - quality)
    assert roc_auc_score(changed, result.scores) > 0.99


def test_cleanlab_is_skipped_where_its_matrix_does_not_fit(capsys):
    embeddings, _, noisy, _ = planted_flips()
    hoods = knn.neighborhoods(embeddings, k=5)
    assert cleanlab_scores.cleanlab_from_neighbors(noisy, hoods, max_cells=100) is None
    assert "probability matrix exceeds 100 cells" in capsys.readouterr().err


def test_margin_matches_numpy_cosines():
    import torch
    from pytorch_metric_learning.losses import ArcFaceLoss

    loss = ArcFaceLoss(num_classes=5, embedding_size=8)
    rng = np.random.default_rng(2)
    embeddings = rng.normal(size=(30, 8)).astype(np.float32)
    labels = rng.integers(0, 5, 30)
    result = margin.head_margin(loss, embeddings, labels)
    weights = loss.W.detach().numpy().T
    cosine = (embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True)) @ (
        weights / np.linalg.norm(weights, axis=1, keepdims=True)
    ).T
    for i, label in enumerate(labels):
        best_other = np.delete(cosine[i], label).max()
        assert result.scores[i] == pytest.approx(best_other - cosine[i, label], abs=1e-5)
    np.testing.assert_array_equal(result.suggested, cosine.argmax(axis=1))
    assert margin.head_margin(torch.nn.Identity(), embeddings, labels) is None


def test_scores_file_round_trip(tmp_path):
    embeddings, _, noisy, _ = planted_flips()
    result = run_detectors(embeddings, noisy, None, 5, MAX_CELLS)
    save(tmp_path / "detect.npz", result)
    back = load(tmp_path / "detect.npz")
    assert back.detectors == ["knn", "cleanlab", "prism"]
    np.testing.assert_array_equal(back.scores["knn"], result.scores["knn"])
    np.testing.assert_array_equal(back.neighbors.ids, result.neighbors.ids)
    np.testing.assert_array_equal(back.cleanlab_flagged, result.cleanlab_flagged)


scores_and_masks = st.integers(2, 60).flatmap(
    lambda n: st.tuples(
        st.lists(st.integers(0, 5), min_size=n, max_size=n),  # few values: many ties
        st.lists(st.booleans(), min_size=n, max_size=n).filter(lambda m: 0 < sum(m) < len(m)),
    )
)


@settings(max_examples=100, deadline=None)
@given(scores_and_masks)
def test_auroc_and_average_precision_match_scikit_learn(case):
    scores, changed = np.array(case[0], dtype=float), np.array(case[1])
    assert evaluation.auroc(scores, changed) == pytest.approx(roc_auc_score(changed, scores))
    assert evaluation.average_precision(scores, changed) == pytest.approx(
        average_precision_score(changed, scores)
    )


@settings(max_examples=50, deadline=None)
@given(scores_and_masks)
def test_precision_and_recall_at_t_count_the_top_t(case):
    scores, changed = np.array(case[0], dtype=float), np.array(case[1])
    t = int(changed.sum())
    order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
    hits = sum(changed[i] for i in order[:t])
    metrics = evaluation.detection_metrics(scores, changed)
    assert metrics["precision_at_t"] == pytest.approx(hits / t)
    assert metrics["recall_at_t"] == pytest.approx(hits / t)


def test_command_modules_import_only_the_standard_library():
    import subprocess
    import sys

    modules = (
        "irnoise.commands.detect, irnoise.commands.table4, irnoise.report.figures.detection_pr"
    )
    code = (
        f"import sys; import {modules}; "
        "heavy = {'numpy', 'pandas', 'matplotlib', 'torch', 'faiss', 'cleanlab'}; "
        "heavy &= set(sys.modules); "
        "sys.exit(f'imported at module level: {sorted(heavy)}' if heavy else 0)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_one_class_or_one_sample(capsys):
    from irnoise.errors import UserError

    embeddings = np.random.default_rng(0).normal(size=(20, 8)).astype(np.float32)
    result = run_detectors(embeddings, np.zeros(20, dtype=np.int64), None, 5, MAX_CELLS)
    assert result.detectors == ["knn", "prism"] and not result.scores["knn"].any()
    assert not result.scores["prism"].any()  # one class: its probability is 1
    assert "cleanlab skipped: every sample has the same label" in capsys.readouterr().err
    with pytest.raises(UserError, match="needs at least two training samples, got 1"):
        run_detectors(embeddings[:1], np.zeros(1, dtype=np.int64), None, 10, MAX_CELLS)


# --- memory at MS1M's shape ---------------------------------------------------------------

PEAK_SCRIPT = """
import resource, sys
import numpy as np, torch
from pytorch_metric_learning.losses import ArcFaceLoss
from irnoise.detect import margin, prism_score

rows, classes, size = 200_000, 8_574, 32  # MS1M's 5.8M x 85,742, scaled down by 29 and 10
rng = np.random.default_rng(0)
embeddings = rng.standard_normal((rows, size), dtype=np.float32)
labels = np.arange(rows) % classes
loss = ArcFaceLoss(num_classes=classes, embedding_size=size)
torch.set_num_threads(1)
detector = sys.argv[1]
def peak():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
if detector == "margin":
    margin.head_margin(loss, embeddings[:1000], labels[:1000])  # warm the kernels
    before = peak()
    result = margin.head_margin(loss, embeddings, labels)
else:
    prism_score.prism_scores(embeddings[:1000], labels[:1000])
    before = peak()
    result = prism_score.prism_scores(embeddings, labels)
print(peak() - before, float(np.mean(result.scores)))
"""


@pytest.mark.parametrize("detector", ["margin", "prism"])
def test_detector_scores_at_ms1m_shape_stay_in_chunks(detector):
    """200k rows x 8,574 classes: a float64 rows x classes matrix would take 13.7 GB, a
    float64 copy of the embeddings 51 MB; the float32 chunks stay under 400 MB in all
    (before: float64 chunks of 256 MB, copied, and float64 embeddings: ~650 MB)."""
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-c", PEAK_SCRIPT, detector], capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr[-3000:]
    grown, mean_score = result.stdout.split()
    rows_by_classes_float64 = 200_000 * 8_574 * 8
    assert int(grown) < 400 * 1024**2 < rows_by_classes_float64
    assert np.isfinite(float(mean_score))


def test_float32_prism_score_equals_the_float64_computation():
    rng = np.random.default_rng(5)
    embeddings = rng.normal(size=(3000, 16))
    labels = rng.integers(0, 300, 3000)
    unit = embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True)
    centers = np.zeros((300, 16))
    np.add.at(centers, labels, unit)
    centers /= np.maximum(np.bincount(labels, minlength=300), 1)[:, None]
    logits = unit @ centers.T
    probabilities = np.exp(logits - logits.max(axis=1, keepdims=True))
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    expected = 1 - probabilities[np.arange(3000), labels]
    center = prism_score.prism_scores(embeddings, labels)
    np.testing.assert_allclose(center.scores, expected, atol=1e-6)
    top_two = np.sort(logits, axis=1)[:, -2:]
    clear = top_two[:, 1] - top_two[:, 0] > 1e-5  # no float32 tie between the top two
    np.testing.assert_array_equal(center.suggested[clear], logits.argmax(axis=1)[clear])


def test_cleannet_is_judged_on_the_unverified_classes_only(tmp_path):
    """Its verified rows (trained on their truth) leave Table 4's evaluation; they stay in
    detect.npz."""
    from irnoise.detect.cleannet import verification_from_truth
    from irnoise.detect.scores import CleanNetInput
    from irnoise.report.table4 import evaluated_rows

    embeddings, clean, noisy, _ = planted_flips()
    params = {"reference_size": 50, "hidden": 16, "epochs": 2, "seed": 0}
    given = CleanNetInput(verification_from_truth(noisy, clean, 0.5, seed=0), params)
    result = run_detectors(embeddings, noisy, None, 5, MAX_CELLS, cleannet=given)
    save(tmp_path / "detect.npz", result)
    back = load(tmp_path / "detect.npz")
    assert "cleannet" in back.detectors
    verified = np.isin(noisy, np.unique(noisy[given.verification.rows]))
    np.testing.assert_array_equal(back.cleannet_verified, verified)
    np.testing.assert_array_equal(evaluated_rows(back, "cleannet"), ~verified)
    assert evaluated_rows(back, "knn").all()
