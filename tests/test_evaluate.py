"""Evaluation: embedding by row, the three tasks' protocols, and `irnoise evaluate` end to end.

The command runs in-process on tiny shards (train_fixtures) with a randomly initialized
small network saved as a model.pt; its metrics are checked against the same model's
embeddings put through the metric functions (themselves checked in test_metrics.py).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import faiss
import numpy as np
import pytest
import torch

from irnoise import cli
from irnoise.data.loader import eval_batches
from irnoise.errors import UserError
from irnoise.evaluate import knn
from irnoise.evaluate.embed import embed
from irnoise.evaluate.metrics import retrieval_metrics, tpr_at_fpr, verification_accuracy
from irnoise.evaluate.per_query import load_per_query
from irnoise.evaluate.tasks import evaluate_embeddings, evaluation_splits, pair_scores
from irnoise.report.metric_samples import metric_samples
from irnoise.train.losses import build_loss, class_logits
from irnoise.train.models import build_model

from train_fixtures import write_split

CONFIG = {
    "backbone": "small_cnn",
    "embedding_size": 16,
    "loss": "NormalizedSoftmaxLoss",
    "loss_params": {"temperature": 0.05},
    "crop_size": 24,
}
EVAL_CONFIG = json.dumps({"crop_size": 24, "eval_batch_size": 16}, sort_keys=True)
RUN = {"experiment": "e", "train": "t", "eval": "v", "scheme": "clean", "level": 0.0, "seed": 0}
TRAIN_CLASSES = 6


@pytest.fixture(scope="module", autouse=True)
def few_threads():
    import faiss

    previous = torch.get_num_threads(), faiss.omp_get_max_threads()
    torch.set_num_threads(1)
    knn.set_threads(1)
    yield
    torch.set_num_threads(previous[0])
    knn.set_threads(previous[1])


def write_dataset(out: Path, splits: dict[str, np.ndarray], pairs: np.ndarray | None = None):
    """A shard directory (docs/design.md, "Shards") with the given splits' labels."""
    out.mkdir(parents=True)
    manifest = {"source": "fixture", "root": str(out), "image_size": 32, "shard_size": 20}
    manifest |= {"splits": {}, "pairs": 0, "skipped": [], "versions": {}, "created_by": "irnoise"}
    for seed, (split, labels) in enumerate(splits.items()):
        names = write_split(out, split, labels, 20, 32, seed)
        manifest["splits"][split] = {
            "count": len(labels),
            "classes": len(np.unique(labels)),
            "shards": names,
            "labels": f"{split}_labels.npy",
        }
    if pairs is not None:
        np.save(out / "pairs.npy", pairs)
        manifest["pairs"] = len(pairs)
    (out / "manifest.json").write_text(json.dumps(manifest))
    return out


@pytest.fixture(scope="module")
def model_path(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    model, loss = build_model(CONFIG), build_loss(CONFIG, TRAIN_CLASSES)
    with torch.no_grad():
        # Untrained, the bias dominates and every cosine is ~1 - 1e-7: rankings would be
        # float noise. Without it the cosines spread (0.5-0.99, top gaps > 1e-5).
        model.embedding.bias.zero_()
    payload = {
        "state_dict": model.state_dict(),
        "loss_state_dict": loss.state_dict(),
        "config": CONFIG,
        "num_classes": TRAIN_CLASSES,
        "seed": 0,
        "epochs_done": 1,
    }
    path = tmp_path_factory.mktemp("run") / "model.pt"
    torch.save(payload, path)
    return path


@pytest.fixture(scope="module")
def datasets(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("shards")
    repeat = lambda classes, n: np.repeat(np.arange(*classes), n)  # noqa: E731
    # Test split with two lone classes (16, 17): left out of R@k and counted.
    test = np.concatenate([repeat((10, 16), 5), [16, 17]])
    pairs = np.array([[i, (i + d) % 32, int(test[i] == test[(i + d) % 32]), i % 4]
                      for i in range(32) for d in (1, 7)])  # fmt: skip
    return {
        "sop": write_dataset(root / "sop", {"train": repeat((0, 6), 4), "test": test}),
        "inshop": write_dataset(
            root / "inshop",
            {
                "train": repeat((0, 6), 4),
                "query": repeat((6, 11), 2),
                "gallery": repeat((7, 12), 3),
            },
        ),
        "imagenet": write_dataset(root / "imagenet", {"val": repeat((0, 6), 4)}),
        "lfw": write_dataset(root / "lfw", {"test": test}, pairs),
    }


def reference_embeddings(model_path: Path, shards: Path, split: str) -> np.ndarray:
    """The model's float32 embeddings of `split` in row order, computed plainly."""
    model = torch.load(model_path, weights_only=True)
    net = build_model(model["config"])
    net.load_state_dict(model["state_dict"])
    net.eval()
    parts = {}
    with torch.no_grad():
        for images, _, rows in eval_batches(shards, split, 24, 7):
            for row, embedding in zip(rows.tolist(), net(images), strict=True):
                parts[row] = embedding.numpy()
    return np.stack([parts[row] for row in range(len(parts))])


def evaluate(model: Path, shards: Path, task: str, out: Path, threads: int = 1) -> dict:
    """`irnoise evaluate` in-process; threads 2 decodes in a DataLoader worker (slower start)."""
    argv = ["evaluate", "--model", str(model), "--shards", str(shards), "--task", task]
    argv += ["--config", EVAL_CONFIG, "--run", json.dumps(RUN | {"task": task}), "--out", str(out)]
    per_query = out.with_name("per_query.npz")
    assert cli.main([*argv, "--threads", str(threads), "--per-query", str(per_query)]) == 0
    result = json.loads(out.read_text())
    assert_per_query_reproduces(result["metrics"], per_query, task)
    return result


def assert_per_query_reproduces(values: dict, per_query: Path, task: str) -> None:
    """Every metric with a per-query form is recomputed exactly from per_query.npz."""
    arrays = load_per_query(per_query)
    assert str(arrays["task"]) == task
    checked = 0
    for metric, value in values.items():
        if metric == "verification_accuracy":
            continue  # k-fold: no per-query form
        recomputed = metric_samples(arrays, metric).value()
        if value is None:
            assert np.isnan(recomputed)
        else:
            assert recomputed == pytest.approx(value, abs=1e-12)
        checked += 1
    assert checked == len(values) - (task == "verification")


# -- embed -----------------------------------------------------------------------------


def test_embed_places_rows_in_order_whatever_the_batch_order():
    model = torch.nn.Flatten()
    images = torch.arange(24, dtype=torch.float32).view(6, 1, 2, 2)
    rows = torch.tensor([3, 0, 5, 1, 4, 2])
    batches = [(images[:2], rows[:2] * 10, rows[:2]), (images[2:], rows[2:] * 10, rows[2:])]
    embeddings, labels = embed(model, reversed(batches), "cpu", total=6)
    assert embeddings.dtype == np.float32 and labels.dtype == np.int64
    np.testing.assert_array_equal(embeddings, images.view(6, 4).numpy()[np.argsort(rows.numpy())])
    np.testing.assert_array_equal(labels, np.arange(6) * 10)


def test_embed_refuses_missing_or_repeated_rows():
    images = torch.zeros(3, 1, 1, 1)
    with pytest.raises(ValueError, match="once each"):
        embed(torch.nn.Flatten(), [(images, torch.zeros(3), torch.tensor([0, 1, 1]))], "cpu")
    with pytest.raises(ValueError, match="once each"):
        embed(torch.nn.Flatten(), [(images, torch.zeros(3), torch.arange(3))], "cpu", total=4)


# -- protocols -------------------------------------------------------------------------


def test_splits_per_task():
    assert evaluation_splits("retrieval", ["train", "test"]) == ("test",)
    assert evaluation_splits("retrieval", ["train", "query", "gallery"]) == ("query", "gallery")
    assert evaluation_splits("classification", ["train", "val"]) == ("val",)
    assert evaluation_splits("verification", ["test"]) == ("test",)
    with pytest.raises(UserError, match="needs the split"):
        evaluation_splits("classification", ["train", "test"])


def test_verification_protocol():
    rng = np.random.default_rng(0)
    embeddings = rng.standard_normal((60, 8)).astype(np.float32)
    labels = rng.integers(0, 20, 60)
    a, b = rng.integers(0, 60, (2, 400))
    pairs = np.stack([a, b, labels[a] == labels[b], np.arange(400) // 40], axis=1)
    pairs[:40, 2] = 1  # some positives in every run of the generator
    values, counts, arrays = evaluate_embeddings(
        "verification", {"test": embeddings}, {"test": labels}, pairs
    )
    unit = embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True)
    scores = (unit[a] * unit[b]).sum(axis=1)
    np.testing.assert_allclose(pair_scores(embeddings, a, b), scores, atol=1e-6)
    np.testing.assert_allclose(arrays["scores"], scores, atol=1e-6)
    assert (arrays["is_same"] == pairs[:, 2].astype(bool)).all()
    assert values["TPR@FPR=1e-3"] == tpr_at_fpr(scores, pairs[:, 2], 1e-3)
    assert values["verification_accuracy"] == pytest.approx(
        verification_accuracy(scores, pairs[:, 2], pairs[:, 3])
    )
    assert values["R@1"] == retrieval_metrics(embeddings, labels, ks=(1,)).recall[1]
    assert counts["pairs"] == 400 and counts["folds"] == 10 and counts["queries"] == 60
    assert counts["positive_pairs"] + counts["negative_pairs"] == 400
    assert counts["all_positive_pairs"] + counts["all_negative_pairs"] == 60 * 59 // 2
    same = labels[:, None] == labels[None, :]
    later = np.triu(np.ones((60, 60), bool), k=1)
    every = unit @ unit.T
    assert values["TPR@FPR=1e-3 (all pairs)"] == tpr_at_fpr(every[later], same[later], 1e-3)


def test_classification_needs_train_classes():
    with pytest.raises(UserError, match="closed-set"):
        evaluate_embeddings(
            "classification", {"val": np.eye(3)}, {"val": [0, 1, 5]}, None, np.eye(3)
        )


# -- the command -----------------------------------------------------------------------


def test_retrieval_leave_one_out(model_path, datasets, tmp_path):
    result = evaluate(model_path, datasets["sop"], "retrieval", tmp_path / "metrics.json", 2)
    embeddings = reference_embeddings(model_path, datasets["sop"], "test")
    expected = retrieval_metrics(embeddings, np.load(datasets["sop"] / "test_labels.npy"))
    assert result["run"] == RUN | {"task": "retrieval"}
    assert result["model"] == str(model_path)
    assert result["faiss"]["version"] == faiss.__version__
    assert result["faiss"]["device"] == ("gpu" if knn.gpu_available() else "cpu")
    assert set(result["metrics"]) == {"R@1", "R@2", "R@4", "R@8", "MAP@R"}
    for k in (1, 2, 4, 8):
        assert result["metrics"][f"R@{k}"] == pytest.approx(expected.recall[k])
    assert result["metrics"]["MAP@R"] == pytest.approx(expected.map_at_r)
    assert result["counts"]["queries"] == 32 and result["counts"]["left_out"] == 2
    assert result["counts"]["test_images"] == 32


def test_retrieval_query_against_gallery(model_path, datasets, tmp_path):
    shards = datasets["inshop"]
    result = evaluate(model_path, shards, "retrieval", tmp_path / "metrics.json")
    expected = retrieval_metrics(
        reference_embeddings(model_path, shards, "query"),
        np.load(shards / "query_labels.npy"),
        (1, 2, 4, 8),
        reference_embeddings(model_path, shards, "gallery"),
        np.load(shards / "gallery_labels.npy"),
    )
    assert result["metrics"]["R@1"] == pytest.approx(expected.recall[1])
    assert result["metrics"]["MAP@R"] == pytest.approx(expected.map_at_r)
    # Query class 6 has no gallery item.
    assert (result["counts"]["queries"], result["counts"]["left_out"]) == (10, 2)
    assert result["counts"]["gallery"] == 15


def test_leave_one_out_pools_query_and_gallery_beside_the_official_metrics(
    model_path, datasets, tmp_path
):
    shards = datasets["inshop"]
    official = evaluate(model_path, shards, "retrieval", tmp_path / "metrics.json")
    before = (tmp_path / "metrics.json").read_bytes(), (tmp_path / "per_query.npz").read_bytes()
    out, per_query = tmp_path / "metrics_loo.json", tmp_path / "per_query_loo.npz"
    argv = ["evaluate", "--model", str(model_path), "--shards", str(shards), "--task"]
    argv += ["retrieval", "--protocol", "leave-one-out", "--config", EVAL_CONFIG, "--run"]
    argv += [json.dumps(RUN), "--out", str(out), "--per-query", str(per_query)]
    assert cli.main(argv) == 0
    result = json.loads(out.read_text())
    pooled = np.concatenate(
        [reference_embeddings(model_path, shards, split) for split in ("query", "gallery")]
    )
    labels = np.concatenate([np.load(shards / f"{s}_labels.npy") for s in ("query", "gallery")])
    expected = retrieval_metrics(pooled, labels)
    assert result["protocol"] == "leave-one-out" and official["protocol"] == "official"
    assert result["metrics"]["R@1"] == pytest.approx(expected.recall[1])
    assert result["metrics"]["MAP@R"] == pytest.approx(expected.map_at_r)
    # 25 images; query class 6, left out against the gallery, has its two query images.
    assert result["counts"]["queries"] == result["counts"]["gallery"] == 25
    assert result["counts"]["left_out"] == 0
    assert_per_query_reproduces(result["metrics"], per_query, "retrieval")
    # The run's official metrics are untouched.
    after = (tmp_path / "metrics.json").read_bytes(), (tmp_path / "per_query.npz").read_bytes()
    assert after == before


def test_leave_one_out_needs_query_and_gallery(model_path, datasets, tmp_path, capsys):
    out = tmp_path / "metrics_loo.json"
    for shards, task in ((datasets["sop"], "retrieval"), (datasets["lfw"], "verification")):
        argv = ["evaluate", "--model", str(model_path), "--shards", str(shards), "--task", task]
        argv += ["--protocol", "leave-one-out", "--config", EVAL_CONFIG, "--run", "{}"]
        assert cli.main([*argv, "--out", str(out)]) == 2
        assert "pools a retrieval set's query and gallery splits" in capsys.readouterr().err
    assert not out.exists()


def test_classification_top1(model_path, datasets, tmp_path):
    shards = datasets["imagenet"]
    result = evaluate(model_path, shards, "classification", tmp_path / "metrics.json")
    model, loss = torch.load(model_path, weights_only=True), build_loss(CONFIG, TRAIN_CLASSES)
    loss.load_state_dict(model["loss_state_dict"])
    embeddings = torch.from_numpy(reference_embeddings(model_path, shards, "val"))
    predictions = class_logits(loss, embeddings).argmax(dim=1).numpy()
    expected = (predictions == np.load(shards / "val_labels.npy")).mean()
    assert result["metrics"] == {"accuracy": pytest.approx(expected)}
    assert result["counts"]["classes"] == TRAIN_CLASSES and result["counts"]["images"] == 24


def test_verification(model_path, datasets, tmp_path):
    result = evaluate(model_path, datasets["lfw"], "verification", tmp_path / "metrics.json")
    assert set(result["metrics"]) == {
        "TPR@FPR=1e-3",
        "TPR@FPR=1e-3 (all pairs)",
        "verification_accuracy",
        "R@1",
    }
    assert all(0 <= value <= 1 for value in result["metrics"].values())
    assert result["counts"]["pairs"] == 64 and result["counts"]["folds"] == 4


def test_undefined_metrics_are_written_as_null(model_path, tmp_path):
    shards = write_dataset(tmp_path / "lone", {"test": np.arange(5)})
    result = evaluate(model_path, shards, "retrieval", tmp_path / "metrics.json")
    assert result["metrics"]["R@1"] is None and result["counts"]["left_out"] == 5


def test_user_errors_exit_2(model_path, datasets, tmp_path, capsys):
    out = tmp_path / "metrics.json"
    argv = ["evaluate", "--model", str(model_path), "--run", "{}", "--out", str(out)]
    sop = ["--shards", str(datasets["sop"])]
    cases = {
        "needs the split": [*sop, "--task", "classification"],
        "no verification pairs": [*sop, "--task", "verification"],
        "not valid JSON": [*sop, "--task", "retrieval", "--config", "{"],
        "--config: eval_batch_size: got 0, expected at least 1": [
            *sop,
            "--task",
            "retrieval",
            "--config",
            '{"eval_batch_size": 0}',
        ],
        "unknown key 'batch_size': did you mean 'eval_batch_size'?": [
            *sop,
            "--task",
            "retrieval",
            "--config",
            '{"batch_size": 8}',
        ],
    }
    for message, extra in cases.items():
        config = [] if "--config" in extra else ["--config", EVAL_CONFIG]
        assert cli.main([*argv, *extra, *config]) == 2
        assert message in capsys.readouterr().err
    missing = ["--model", str(tmp_path / "none.pt"), "--shards", str(datasets["sop"])]
    assert cli.main([*argv, *missing, "--task", "retrieval", "--config", EVAL_CONFIG]) == 2
    assert "irnoise train" in capsys.readouterr().err
    assert not out.exists()


def test_diverged_model_and_mismatched_shards_are_user_errors(
    model_path, datasets, tmp_path, capsys
):
    out = tmp_path / "metrics.json"
    argv = ["evaluate", "--task", "retrieval", "--config", EVAL_CONFIG, "--run", "{}"]
    argv += ["--out", str(out)]
    payload = torch.load(model_path, weights_only=True)
    payload["state_dict"]["embedding.weight"].fill_(float("nan"))
    torch.save(payload, tmp_path / "nan.pt")
    nan_model = ["--model", str(tmp_path / "nan.pt"), "--shards", str(datasets["sop"])]
    assert cli.main([*argv, *nan_model]) == 2
    assert "diverged" in capsys.readouterr().err
    shards = write_dataset(tmp_path / "short", {"test": np.arange(6) // 2})
    manifest = json.loads((shards / "manifest.json").read_text())
    manifest["splits"]["test"]["count"] = 7  # one row the shards do not hold
    (shards / "manifest.json").write_text(json.dumps(manifest))
    assert cli.main([*argv, "--model", str(model_path), "--shards", str(shards)]) == 2
    assert "rerun `irnoise shard`" in capsys.readouterr().err
    assert not out.exists()


def test_command_module_imports_only_the_standard_library():
    code = (
        "import sys, irnoise.commands.evaluate; "
        "heavy = {'numpy', 'torch', 'faiss'} & set(sys.modules); assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_unreadable_or_incomplete_per_query_arrays_are_user_errors(tmp_path):
    broken = tmp_path / "broken.npz"
    broken.write_bytes(b"not a zip")
    with pytest.raises(UserError, match=r"cannot read the per-query arrays .*rerun"):
        load_per_query(broken)
    incomplete = tmp_path / "incomplete.npz"
    np.savez(incomplete, task=np.array("retrieval"), hits=np.zeros((3, 1), bool))
    with pytest.raises(UserError, match=r"lacks ks, valid, average_precision for task"):
        load_per_query(incomplete)
