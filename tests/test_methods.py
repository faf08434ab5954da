"""Noise-robust methods: each filter against a straightforward reference computation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from irnoise.noise import corrupt_labels
from irnoise.train.methods import build_filter, filter_summary
from irnoise.train.methods.knn_filter import KnnFilter
from irnoise.train.methods.oracle import oracle_keep
from irnoise.train.methods.prism import PrismFilter
from irnoise.train.methods.subcenter import outlier_mask
from irnoise.train.trainee import kept_loss

# --- PRISM ----------------------------------------------------------------------------


class LoopPrism:
    """PRISM as the reference code writes it: python loops, lists, one sample at a time."""

    def __init__(self, num_classes, dim, noise_rate, window, memory_size, warmup_epochs):
        self.center = [[0.0] * dim for _ in range(num_classes)]
        self.filled: set[int] = set()
        self.memory: list[tuple[list[float], int]] = []
        self.last: list[int] = []
        self.window: list[float] = []
        self.noise_rate, self.window_size = noise_rate, window
        self.memory_size, self.warmup = memory_size, warmup_epochs

    def step(self, features, labels, epoch):
        features = [[x / math.sqrt(sum(v * v for v in f)) for x in f] for f in features.tolist()]
        labels = labels.tolist()
        n = len(labels)
        if epoch <= self.warmup:
            keep = [True] * n
        else:
            for label in set(self.last):
                members = [f for f, y in self.memory if y == label]
                self.center[label] = [sum(col) / len(members) for col in zip(*members, strict=True)]
                self.filled.add(label)
            scores = []
            for f, y in zip(features, labels, strict=True):
                if y not in self.filled:
                    scores.append(1.0)
                    continue
                exps = [
                    math.exp(sum(a * b for a, b in zip(c, f, strict=True))) for c in self.center
                ]
                scores.append(exps[y] / sum(exps))
            order = sorted(range(n), key=lambda i: (scores[i], i))
            to_remove = order[: int(self.noise_rate * n)]
            threshold = scores[to_remove[-1]]
            if threshold != 1.0:
                self.window = [*self.window, threshold][-self.window_size :]
            if self.window:
                mean = sum(self.window) / len(self.window)
                keep = [s > mean for s in scores]
                if not any(keep):
                    keep = [i not in to_remove for i in range(n)]
                    self.window = self.window[-1:]
            else:
                keep = [i not in to_remove for i in range(n)]
            self.scores = scores
        for f, y, k in zip(features, labels, keep, strict=True):
            if k:
                self.memory = [*self.memory, (f, y)][-self.memory_size :]
        self.last = [y for y, k in zip(labels, keep, strict=True) if k]
        return keep


def clustered_batch(rng, centers, labels, spread=0.15):
    features = centers[labels] + spread * rng.standard_normal((len(labels), centers.shape[1]))
    return torch.tensor(features, dtype=torch.float32), torch.tensor(labels)


def test_prism_matches_the_loop_and_drops_a_planted_mislabelled_sample():
    rng = np.random.default_rng(0)
    classes, dim, batch = 6, 16, 24
    centers = rng.standard_normal((classes, dim)) * 3
    prism = PrismFilter(100, classes, dim, 0.1, window=3, memory_size=64, warmup_epochs=1)
    loop = LoopPrism(classes, dim, noise_rate=0.1, window=3, memory_size=64, warmup_epochs=1)
    rows = torch.arange(batch)
    for epoch, steps in ((1, 4), (2, 8)):
        for _ in range(steps):
            labels = rng.integers(0, classes, batch)
            features, labels_t = clustered_batch(rng, centers, labels)
            # Plant one sample from class 0's cluster labelled as class 1.
            features[0] = torch.tensor(centers[0], dtype=torch.float32)
            labels_t[0] = 1
            keep = prism(features, labels_t, rows, epoch)
            expected = loop.step(features, labels_t, epoch)
            assert keep.tolist() == expected
            if epoch == 1:
                assert keep.all()  # warm-up keeps everything
            else:
                scores = prism.scores(torch.nn.functional.normalize(features, dim=1), labels_t)
                np.testing.assert_allclose(scores.numpy(), loop.scores, rtol=1e-4, atol=1e-6)
                assert prism.window == pytest.approx(loop.window, rel=1e-4)
    # After warm-up and a few batches every class has a center: the planted sample scores
    # lowest and is dropped; the window holds the last 3 thresholds.
    assert int(np.argmin(loop.scores)) == 0
    assert not keep[0]
    assert len(prism.window) == 3
    assert prism.record.dropped()[0]


def test_prism_window_mean_is_the_threshold():
    prism = PrismFilter(10, 2, 2, noise_rate=0.25, window=2, memory_size=8192, warmup_epochs=1)
    first = prism.select(torch.tensor([0.9, 0.1, 0.8, 0.7]))  # removes 1: threshold 0.1
    assert first.tolist() == [True, False, True, True] and prism.window == [pytest.approx(0.1)]
    second = prism.select(torch.tensor([0.5, 0.6, 0.2, 0.9]))  # threshold 0.2 -> mean 0.15
    assert second.tolist() == [True, True, True, True]
    assert prism.window == pytest.approx([0.1, 0.2])
    # Window [0.2, 0.22], mean 0.21: the lowest sample (0.22) is above it and stays.
    third = prism.select(torch.tensor([0.3, 0.22, 0.4, 0.5]))
    assert third.tolist() == [True, True, True, True]
    assert prism.window == pytest.approx([0.2, 0.22])
    # Window [0.22, 0.15], mean 0.185: two samples fall below it, more than 0.25 x 4.
    fourth = prism.select(torch.tensor([0.15, 0.18, 0.9, 0.9]))
    assert fourth.tolist() == [False, False, True, True]
    assert prism.window == pytest.approx([0.22, 0.15])


# --- sub-center ArcFace -------------------------------------------------------------------


def brute_force_outliers(embeddings, labels, weights, k, threshold, drop_nondominant=False):
    """Angles in degrees, class by class, sample by sample."""
    e = embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True)
    w = weights.T / np.linalg.norm(weights.T, axis=1, keepdims=True)
    outliers = np.zeros(len(labels), dtype=bool)
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        angles = np.array(
            [
                [math.degrees(math.acos(np.clip(e[i] @ w[label * k + j], -1, 1))) for j in range(k)]
                for i in members
            ]
        )
        nearest = angles.argmin(axis=1)
        dominant = np.bincount(nearest, minlength=k).argmax()
        for position, i in enumerate(members):
            outliers[i] = angles[position, dominant] > threshold or (
                drop_nondominant and nearest[position] != dominant
            )
    return outliers


def pml_outliers(loss, embeddings, labels, threshold):
    rows, _ = loss.get_outliers(
        torch.nn.functional.normalize(torch.from_numpy(embeddings), dim=1),
        torch.from_numpy(labels),
        threshold=threshold,
    )
    return sorted(rows.tolist())


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), classes=st.integers(1, 5), threshold=st.sampled_from([30, 75]))
def test_subcenter_default_rule_is_pml_get_outliers_angle_only(seed, classes, threshold):
    from pytorch_metric_learning.losses import SubCenterArcFaceLoss

    rng = np.random.default_rng(seed)
    dim, k, n = 8, 3, 40
    embeddings = rng.standard_normal((n, dim)).astype(np.float32)
    labels = rng.integers(0, classes, n)
    loss = SubCenterArcFaceLoss(num_classes=classes, embedding_size=dim, sub_centers=k)
    weights = loss.W.detach().numpy()
    mask = outlier_mask(
        torch.from_numpy(embeddings), torch.from_numpy(labels), loss.W, k, threshold
    )
    # The reference rule (insightface's drop.py, PML's get_outliers): the angle alone.
    assert np.flatnonzero(mask.numpy()).tolist() == pml_outliers(
        loss, embeddings, labels, threshold
    )
    np.testing.assert_array_equal(
        mask.numpy(), brute_force_outliers(embeddings, labels, weights, k, threshold)
    )
    # The named variant adds the rows nearest a non-dominant sub-center.
    variant = outlier_mask(
        torch.from_numpy(embeddings), torch.from_numpy(labels), loss.W, k, threshold, True
    )
    np.testing.assert_array_equal(
        variant.numpy(), brute_force_outliers(embeddings, labels, weights, k, threshold, True)
    )
    assert set(np.flatnonzero(mask.numpy())) <= set(np.flatnonzero(variant.numpy()))


# --- oracle -------------------------------------------------------------------------------


@pytest.mark.parametrize("scheme", ["uniform", "large", "small"])
def test_oracle_keeps_exactly_the_unchanged_rows(scheme):
    clean = np.repeat(np.arange(40), np.arange(1, 41))
    noisy = corrupt_labels(clean, scheme, 0.2, seed=3)
    keep = oracle_keep(noisy, clean)
    assert keep.sum() == sum(1 for a, b in zip(noisy, clean, strict=True) if a == b)
    oracle = build_filter({"name": "oracle"}, noisy, keep, 4)
    rows = torch.arange(len(clean))
    kept = oracle(torch.zeros(len(clean), 4), torch.from_numpy(noisy), rows, epoch=1)
    assert np.flatnonzero(kept.numpy()).tolist() == [
        i for i in range(len(clean)) if noisy[i] == clean[i]
    ]
    summary = filter_summary(oracle.record.dropped(), noisy, clean)
    assert summary["precision"] == 1.0 and summary["recall"] == 1.0


# --- kNN rejection ------------------------------------------------------------------------


def test_knn_drops_the_planted_flips():
    rng = np.random.default_rng(1)
    classes, per_class, dim = 6, 20, 16
    centers = rng.standard_normal((classes, dim)) * 4
    clean = np.repeat(np.arange(classes), per_class)
    features = centers[clean] + 0.3 * rng.standard_normal((len(clean), dim))
    noisy = clean.copy()
    flipped = rng.choice(len(clean), 8, replace=False)
    noisy[flipped] = (clean[flipped] + 1) % classes
    knn = KnnFilter(len(clean), dim, neighbors=10, threshold=0.5, warmup_epochs=1)
    features_t, labels_t = torch.tensor(features, dtype=torch.float32), torch.from_numpy(noisy)
    for epoch in (1, 2):
        for rows in np.array_split(rng.permutation(len(clean)), 6):
            rows_t = torch.from_numpy(rows)
            keep = knn(features_t[rows_t], labels_t[rows_t], rows_t, epoch)
            if epoch == 1:
                assert keep.all()
    assert sorted(np.flatnonzero(knn.record.dropped())) == sorted(flipped)


def test_knn_shares_match_sklearn_neighbors():
    from sklearn.neighbors import NearestNeighbors

    rng = np.random.default_rng(2)
    rows, dim, k = 60, 8, 7
    bank = rng.standard_normal((rows, dim)).astype(np.float32)
    bank /= np.linalg.norm(bank, axis=1, keepdims=True)
    labels = rng.integers(0, 4, rows)
    knn = KnnFilter(rows, dim, neighbors=k, threshold=0.5, warmup_epochs=1)
    knn.bank[:], knn.bank_labels[:] = bank, labels
    query = np.arange(10)
    shares = knn.scaled_shares(bank[query], labels[query], query)
    index = NearestNeighbors(n_neighbors=k + 1, metric="cosine").fit(bank)
    _, found = index.kneighbors(bank[query])
    for i, row in enumerate(query):
        neighbors = [j for j in found[i] if j != row][:k]
        counts = np.bincount(labels[neighbors], minlength=4)
        assert shares[i] == pytest.approx(counts[labels[row]] / counts.max())


# --- the loop's hook and the summary ------------------------------------------------------


def test_kept_loss_is_the_loss_of_the_kept_samples():
    from pytorch_metric_learning.losses import ArcFaceLoss

    torch.manual_seed(0)
    loss = ArcFaceLoss(num_classes=3, embedding_size=4)
    embeddings, labels = torch.randn(6, 4), torch.tensor([0, 1, 2, 0, 1, 2])
    keep = torch.tensor([True, False, True, True, False, False])
    expected = loss(embeddings[keep], labels[keep])
    assert kept_loss(loss, embeddings, labels, keep).item() == pytest.approx(expected.item())
    none = kept_loss(loss, embeddings, labels, torch.zeros(6, dtype=torch.bool))
    none.backward()
    assert none.item() == 0.0 and loss.W.grad is not None


def test_filter_summary_matches_sklearn():
    from sklearn.metrics import precision_score, recall_score

    rng = np.random.default_rng(4)
    clean = rng.integers(0, 5, 200)
    noisy = np.where(rng.random(200) < 0.2, (clean + 1) % 5, clean)
    dropped = rng.random(200) < 0.3
    summary = filter_summary(dropped, noisy, clean)
    assert summary["precision"] == pytest.approx(precision_score(noisy != clean, dropped))
    assert summary["recall"] == pytest.approx(recall_score(noisy != clean, dropped))


# --- user errors --------------------------------------------------------------------------


def test_unknown_method_is_named():
    from irnoise.errors import UserError

    with pytest.raises(UserError, match="unknown method 'coteaching': use one of none, oracle"):
        build_filter({"name": "coteaching"}, np.zeros(3, dtype=np.int64), None, 4)


def test_fixed_mask_method_needs_a_fitting_mask():
    from irnoise.errors import UserError

    labels = np.zeros(5, dtype=np.int64)
    with pytest.raises(UserError, match="method subcenter trains on a keep-mask: pass it with"):
        build_filter({"name": "subcenter"}, labels, None, 4)
    wrong_size = r"the keep-mask has \(4,\) rows but the train split has \(5,\)"
    with pytest.raises(UserError, match=wrong_size):
        build_filter({"name": "subcenter"}, labels, np.ones(4, dtype=bool), 4)


# --- through the training loop and the commands ------------------------------------------


@pytest.fixture(scope="module")
def small_shards(tmp_path_factory: pytest.TempPathFactory):
    from train_fixtures import write_shards

    shards = write_shards(tmp_path_factory.mktemp("shards"))
    clean = np.load(shards / "train_labels.npy")
    noisy = clean.copy()
    noisy[:40] = (noisy[:40] + 1) % (clean.max() + 1)
    labels = shards.parent / "noisy.npy"
    np.save(labels, noisy)
    return shards, labels, clean, noisy


TINY = {"backbone": "small_cnn", "embedding_size": 16, "gpus": 0, "workers": 0, "epochs": 2,
        "batch_size": 32, "lr": 0.01, "optimizer": "adamw", "lr_milestones": [], "crop_size": 24,
        "loss": "ArcFaceLoss", "loss_params": {"scale": 30, "margin": 28.6}}  # fmt: skip


def train_command(shards, labels, out, config, method=None, keep=None) -> int:
    import json

    from irnoise.cli import main

    argv = ["train", "--shards", str(shards), "--labels", str(labels), "--config",
            json.dumps(config), "--seed", "0", "--out-dir", str(out), "--threads", "1"]  # fmt: skip
    argv += ["--method", json.dumps(method)] if method else []
    argv += ["--keep", str(keep)] if keep else []
    return main(argv)


def test_oracle_run_drops_exactly_the_changed_rows(small_shards, tmp_path):
    import json

    shards, labels, clean, noisy = small_shards
    assert train_command(shards, labels, tmp_path, TINY, {"name": "oracle"}) == 0
    summary = json.loads((tmp_path / "filter.json").read_text())
    assert summary["dropped"] == summary["changed"] == int(np.sum(noisy != clean)) == 40
    assert summary["precision"] == 1.0 and summary["recall"] == 1.0
    np.testing.assert_array_equal(np.load(tmp_path / "dropped.npy"), noisy != clean)


def test_prism_run_keeps_everything_in_warm_up_then_filters(small_shards, tmp_path):
    import json

    shards, labels, *_ = small_shards
    method = {"name": "prism", "noise_rate": 0.2, "window": 5, "memory_epochs": 0.5,
              "warmup_epochs": 1}  # fmt: skip
    assert train_command(shards, labels, tmp_path / "a", TINY, method) == 0
    assert json.loads((tmp_path / "a" / "filter.json").read_text())["dropped"] > 0
    warm = method | {"warmup_epochs": 2}  # every epoch is warm-up: nothing dropped
    assert train_command(shards, labels, tmp_path / "b", TINY, warm) == 0
    assert json.loads((tmp_path / "b" / "filter.json").read_text())["dropped"] == 0


def test_subcenter_mask_command_writes_the_brute_force_mask(small_shards, tmp_path):
    from irnoise.cli import main
    from irnoise.data.loader import eval_batches
    from irnoise.evaluate.embed import embed
    from irnoise.train.models import load_trained

    shards, labels, _, noisy = small_shards
    stage1 = TINY | {"loss": "SubCenterArcFaceLoss", "loss_params": {"sub_centers": 3}}
    assert train_command(shards, labels, tmp_path / "stage1", stage1) == 0
    keep = tmp_path / "keep.npy"
    argv = ["subcenter", "--model", str(tmp_path / "stage1" / "model.pt"), "--shards",
            str(shards), "--labels", str(labels), "--out", str(keep)]  # fmt: skip
    assert main(argv) == 0
    model, loss, _ = load_trained(tmp_path / "stage1" / "model.pt")
    embeddings, _ = embed(model, eval_batches(shards, "train", 24, 64), "cpu", len(noisy))
    expected = ~brute_force_outliers(embeddings, noisy, loss.W.detach().numpy(), 3, 75.0)
    np.testing.assert_array_equal(np.load(keep), expected)
    assert (
        train_command(shards, labels, tmp_path / "stage2", TINY, {"name": "subcenter"}, keep) == 0
    )


def test_a_filter_that_drops_almost_everything_warns(tmp_path):
    from irnoise.train.job import write_filter_summary

    labels = np.arange(20) % 4
    mostly_dropped = build_filter({"name": "subcenter"}, labels, np.arange(20) < 1, 4)
    mostly_dropped(torch.zeros(20, 4), torch.from_numpy(labels), torch.arange(20), epoch=1)
    with pytest.warns(UserWarning, match="the filter dropped 95% of the rows"):
        write_filter_summary(tmp_path, mostly_dropped, labels, labels)
    assert (tmp_path / "filter.json").is_file()


def test_prism_memory_is_a_fraction_of_an_epoch_not_a_fixed_8192():
    # Before: 8,192 rows, ~2.75 epochs of the 2,977-row SOP-shaped set.
    labels = np.arange(2977) % 600
    prism = build_filter({"name": "prism", "noise_rate": 0.1}, labels, None, 8)
    assert prism.memory.memory_size == round(0.5 * 2977)
    longer = build_filter(
        {"name": "prism", "noise_rate": 0.1, "memory_epochs": 1.2}, labels, None, 8
    )
    assert longer.memory.memory_size == round(1.2 * 2977)


# --- the staged and weighting methods, through the CLI ------------------------------------


def test_weighted_loss_with_equal_weights_is_the_loss():
    from pytorch_metric_learning.losses import ArcFaceLoss

    from irnoise.train.methods.cleannet import weighted_loss

    torch.manual_seed(0)
    loss = ArcFaceLoss(num_classes=5, embedding_size=8)
    embeddings, labels = torch.randn(12, 8), torch.randint(0, 5, (12,))
    same = weighted_loss(loss, embeddings, labels, torch.full((12,), 0.3))
    assert same.item() == pytest.approx(loss(embeddings, labels).item(), rel=1e-6)
    half = torch.tensor([1.0] * 6 + [0.0] * 6)
    only_first = weighted_loss(loss, embeddings, labels, half)
    assert only_first.item() == pytest.approx(loss(embeddings[:6], labels[:6]).item(), rel=1e-6)


def test_smooth_proxy_anchor_and_cleannet_train_from_their_first_stage(small_shards, tmp_path):
    import json

    from irnoise.cli import main

    shards, labels, _, noisy = small_shards
    assert train_command(shards, labels, tmp_path / "plain", TINY) == 0
    model = tmp_path / "plain" / "model.pt"
    confidence = tmp_path / "confidence.npz"
    argv = ["confidence", "--model", str(model), "--shards", str(shards), "--labels",
            str(labels), "--params", '{"confidence_epochs": 3}',
            "--out", str(confidence)]  # fmt: skip
    assert main(argv) == 0
    proxy = TINY | {"loss": "ProxyAnchorLoss", "loss_params": {}}
    spa = {"name": "smooth_proxy_anchor", "position": 0.5, "sharpness": 10}
    assert train_command(shards, labels, tmp_path / "spa", proxy, spa, confidence) == 0
    assert json.loads((tmp_path / "spa" / "filter.json").read_text())["rows"] == len(noisy)
    detect = tmp_path / "detect.npz"
    argv = ["detect", "--model", str(model), "--shards", str(shards), "--labels", str(labels),
            "--config", '{"crop_size": 24, "eval_batch_size": 64, "k": 5}', "--out", str(detect),
            "--verify-fraction", "0.3", "--cleannet", '{"epochs": 2}']  # fmt: skip
    assert main(argv) == 0
    with np.load(detect) as scores:
        assert "cleannet" in scores["detectors"].tolist() and scores["cleannet_verified"].any()
    cleannet = {"name": "cleannet"}
    assert train_command(shards, labels, tmp_path / "cn", TINY, cleannet, detect) == 0
    # Without its first stage's file the method says what to run.
    assert train_command(shards, labels, tmp_path / "none", TINY, cleannet) == 2
