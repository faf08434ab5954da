"""Training: loader epochs and label overlay, models, losses, the loop, checkpoints, the CLI."""

from __future__ import annotations

import argparse
import io
import json
import pickle
import subprocess
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch

from irnoise.cli import main
from irnoise.commands import train as train_command
from irnoise.config import Training
from irnoise.data import loader, manifest, ustar
from irnoise.data.loader import assign_shards, eval_batches, train_loader
from irnoise.errors import UserError
from irnoise.train import checkpoint
from irnoise.train import loop as training
from irnoise.train.losses import ClassPredictions, build_loss, class_logits
from irnoise.train.models import build_model, load_trained
from irnoise.train.runtime import Runtime, decoded_train_split, loader_workers, seed_everything

from train_fixtures import write_shards

CONFIG = {
    "backbone": "small_cnn",
    "embedding_size": 32,
    "gpus": 0,
    "workers": 0,
    "epochs": 4,
    "batch_size": 32,
    "lr": 0.05,
    "momentum": 0.9,
    "weight_decay": 0.0001,
    "lr_milestones": [4],
    "lr_gamma": 0.1,
    "crop_size": 24,
    "flip": True,
    "loss": "NormalizedSoftmaxLoss",
    "loss_params": {"temperature": 0.05},
}


@pytest.fixture(scope="module", autouse=True)
def few_threads():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def shards(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_shards(tmp_path_factory.mktemp("shards"))


@pytest.fixture(scope="module")
def clean(shards: Path) -> np.ndarray:
    return np.load(shards / "train_labels.npy")


@pytest.fixture(scope="module")
def four_epochs(shards: Path, clean: np.ndarray, tmp_path_factory) -> training.TrainResult:
    """An uninterrupted 4-epoch run, shared by the tests that only read it."""
    return training.train(shards, clean, CONFIG, 0, tmp_path_factory.mktemp("run"))


def epoch_rows(shards: Path, labels: np.ndarray, **kwargs) -> list[int]:
    options = dict(crop_size=24, batch_size=16, workers=0, seed=0, epoch=1) | kwargs
    return [row for _, _, rows in train_loader(shards, labels, **options) for row in rows.tolist()]


# --- loader ----------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore:This DataLoader will create")  # 5 workers on 2 cores
@pytest.mark.parametrize("workers", [0, 2, 5])
def test_train_loader_reads_every_row_exactly_once(shards, clean, workers):
    rows = epoch_rows(shards, clean, workers=workers)
    assert sorted(rows) == list(range(len(clean)))
    assert rows != sorted(rows)  # shuffled


def test_train_loader_ranks_split_the_epoch(shards, clean):
    parts = [epoch_rows(shards, clean, workers=1, rank=r, world_size=3) for r in range(3)]
    assert sorted(row for part in parts for row in part) == list(range(len(clean)))
    assert all(parts)


def test_train_loader_order_depends_on_seed_and_epoch_only(shards, clean):
    first = epoch_rows(shards, clean, epoch=1)
    assert epoch_rows(shards, clean, epoch=1) == first
    assert epoch_rows(shards, clean, epoch=2) != first
    assert epoch_rows(shards, clean, seed=1) != first


@pytest.mark.parametrize("shards_count,slots", [(4, 2), (4, 3), (2, 5), (1, 1)])
def test_assign_shards_gives_each_sample_one_reader(shards_count, slots):
    samples = {f"s{i}": [f"s{i}-{j}" for j in range(7)] for i in range(shards_count)}
    seen = []
    for slot in range(slots):
        mine, stride, offset = assign_shards(list(samples), slot, slots)
        seen += [s for name in mine for s in samples[name]][offset::stride]
    assert sorted(seen) == sorted(s for values in samples.values() for s in values)


def webdataset_files(paths: list[Path]) -> list[dict]:
    import webdataset as wds

    files = wds.tariterators.tar_file_expander(loader.open_shards(paths))
    return [{k: v for k, v in item.items() if k in ("fname", "data")} for item in files]


def test_tar_files_reads_what_webdataset_reads(shards):
    paths = manifest.split_shards(shards, "train")
    ours = [{k: v for k, v in item.items() if k != "__url__"} for item in loader.tar_files(paths)]
    assert ours == webdataset_files(paths)
    assert sum(1 for item in ours if item.get("fname", "").endswith(".jpg")) == 160


@pytest.mark.parametrize("workers", [0, 1])
@pytest.mark.parametrize("seed,epoch", [(0, 1), (3, 2)])
def test_decoded_split_gives_the_streaming_batches(shards, clean, workers, seed, epoch):
    decoded = loader.DecodedSplit(loader.split_shards(shards, "train"))
    options = dict(crop_size=24, batch_size=16, seed=seed, epoch=epoch)
    streamed = list(train_loader(shards, clean, workers=workers, **options))
    from_memory = list(train_loader(shards, clean, workers=workers, decoded=decoded, **options))
    assert len(from_memory) == len(streamed)
    for ours, theirs in zip(from_memory, streamed, strict=True):
        for mine, reference in zip(ours, theirs, strict=True):
            assert torch.equal(mine, reference)


def test_decoded_split_only_when_it_fits(shards, monkeypatch):
    runtime = Runtime(torch.device("cpu"))
    assert isinstance(decoded_train_split(shards, runtime), loader.DecodedSplit)
    count = manifest.split_count(shards, "train")
    side = manifest.read_manifest(shards)["image_size"]
    monkeypatch.setattr(loader, "DECODED_SPLIT_MAX_BYTES", 2 * 3 * side * side * count - 1)
    assert decoded_train_split(shards, runtime) is None


def test_training_from_the_decoded_split_equals_streaming(
    shards, clean, four_epochs, tmp_path, monkeypatch
):
    monkeypatch.setattr(loader, "DECODED_SPLIT_MAX_BYTES", 0)  # stream, as on big datasets
    streamed = training.train(shards, clean, CONFIG, 0, tmp_path)
    reference = four_epochs.model.state_dict()  # trained from the decoded split
    for key, value in streamed.model.state_dict().items():
        assert torch.equal(value, reference[key]), key


def test_tar_files_hands_other_tars_to_tarfile(tmp_path):
    # A pax header (here for a long name) is not plain ustar: read through tarfile.
    path = tmp_path / "pax.tar"
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in [("a" * 120 + ".jpg", b"xyz"), ("b.cls", b"3")]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    assert ustar.ustar_index(path.read_bytes()) is None
    ours = [{k: v for k, v in item.items() if k != "__url__"} for item in loader.tar_files([path])]
    assert ours == webdataset_files([path])
    assert [item.get("data") for item in ours[:2]] == [b"xyz", b"3"]


def test_noisy_labels_are_overlaid_by_row(shards, clean):
    noisy = (clean * 7 + 3) % 20
    batches = list(train_loader(shards, noisy, 24, 16, 2, seed=0, epoch=1))
    for images, labels, rows in batches:
        assert images.shape[1:] == (3, 24, 24) and images.dtype == torch.float32
        np.testing.assert_array_equal(labels.numpy(), noisy[rows.numpy()])
    assert [len(batch[0]) for batch in batches] == [16] * 10  # short batches merged


def test_eval_batches_are_clean_and_center_cropped(shards):
    test_labels = np.load(shards / "test_labels.npy")
    first = list(eval_batches(shards, "test", 24, 16, workers=0))
    rows = torch.cat([rows for _, _, rows in first])
    assert rows.tolist() == list(range(len(test_labels)))
    for _, labels, rows in first:
        np.testing.assert_array_equal(labels.numpy(), test_labels[rows.numpy()])
    again = torch.cat([images for images, _, _ in eval_batches(shards, "test", 24, 16, 2)])
    # Deterministic, no augmentation: the same pixels with workers, row by row.
    again_rows = torch.cat([rows for _, _, rows in eval_batches(shards, "test", 24, 16, 2)])
    ordered = torch.cat([images for images, _, _ in first])
    assert torch.equal(again[again_rows.argsort()], ordered)


def test_missing_manifest_is_a_user_error(tmp_path, clean):
    with pytest.raises(UserError, match="irnoise shard"):
        list(train_loader(tmp_path, clean, 24, 16, 0, seed=0, epoch=1))


# --- models and losses -----------------------------------------------------------------


def test_models_embed_to_embedding_size():
    for backbone, crop in [("small_cnn", 40), ("resnet18", 64)]:
        model = build_model({"backbone": backbone, "embedding_size": 48}).eval()
        assert model(torch.randn(2, 3, crop, crop)).shape == (2, 48)


@pytest.mark.parametrize("width", [8, 32])
def test_small_cnn_width_sets_the_channels_of_every_stage(width):
    model = build_model({"backbone": "small_cnn", "embedding_size": 48, "width": width})
    convs = [m for m in model.backbone.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [conv.out_channels for conv in convs] == [width] + [
        width * factor for factor in (2, 2, 4, 4, 8, 8)
    ]
    assert model.embedding.in_features == 8 * width


def test_seed_sets_the_initialization():
    def first_weights(seed: int) -> torch.Tensor:
        seed_everything(seed)
        return build_model({"backbone": "small_cnn", "width": 8}).embedding.weight.detach()

    assert torch.equal(first_weights(0), first_weights(0))
    assert not torch.equal(first_weights(0), first_weights(1))


def test_missing_pretrained_file_is_a_clear_error(tmp_path):
    missing = tmp_path / "resnet50_imagenet.pth"
    with pytest.raises(UserError, match=f"pretrained weights file {missing} not found"):
        build_model({"backbone": "resnet18", "pretrained": str(missing)})


def test_pretrained_file_is_loaded_into_the_backbone(tmp_path):
    source = build_model({"backbone": "small_cnn"})
    path = tmp_path / "weights.pth"
    torch.save(source.backbone.state_dict(), path)
    model = build_model({"backbone": "small_cnn", "pretrained": str(path)})
    for key, value in source.backbone.state_dict().items():
        assert torch.equal(model.backbone.state_dict()[key], value)
    torch.save({"nonsense": torch.zeros(1)}, path)
    with pytest.raises(UserError, match="does not fit the backbone"):
        build_model({"backbone": "small_cnn", "pretrained": str(path)})


def test_a_pretrainings_model_file_initializes_the_backbone_not_the_embedding(tmp_path):
    """A pretraining's model.pt (what `irnoise train` writes) gives its backbone weights;
    the embedding layer of the experiment starts afresh (its size may differ)."""
    pretrained = build_model({"backbone": "small_cnn", "width": 8, "embedding_size": 16})
    path = tmp_path / "model.pt"
    payload = {"state_dict": pretrained.state_dict(), "config": {}, "num_classes": 3}
    torch.save(payload, path)
    config = {"backbone": "small_cnn", "width": 8, "embedding_size": 32, "pretrained": str(path)}
    model = build_model(config)
    for key, value in pretrained.backbone.state_dict().items():
        assert torch.equal(model.backbone.state_dict()[key], value)
    assert model.embedding.weight.shape == (32, 64)


def test_unknown_loss_names_the_valid_ones():
    with pytest.raises(UserError, match=r"unknown loss 'ArcFace'.*ArcFaceLoss.*TripletMarginLoss"):
        build_loss({"loss": "ArcFace"}, 10)
    with pytest.raises(UserError, match="does not accept loss_params"):
        build_loss({"loss": "ArcFaceLoss", "loss_params": {"marginn": 1}}, 10)


def test_losses_get_classes_and_embedding_size():
    arcface = build_loss({"loss": "ArcFaceLoss", "embedding_size": 16}, 7)
    # pytorch-metric-learning takes degrees and keeps radians: 28.6 degrees = 0.5 rad.
    assert arcface.W.shape == (16, 7) and arcface.margin == pytest.approx(0.5, abs=1e-3)
    triplet = build_loss({"loss": "TripletMarginLoss", "loss_params": {"margin": 0.1}}, 7)
    assert triplet.margin == 0.1


@pytest.mark.parametrize(
    "name", ["ArcFaceLoss", "NormalizedSoftmaxLoss", "ProxyAnchorLoss", "SubCenterArcFaceLoss"]
)
def test_class_logits_match_a_naive_cosine(name):
    loss = build_loss({"loss": name, "embedding_size": 8}, 5)
    embeddings = torch.randn(6, 8)
    weights = (loss.proxies if name == "ProxyAnchorLoss" else loss.W.t()).detach()
    cosine = np.array([[float(e @ w / (e.norm() * w.norm())) for w in weights] for e in embeddings])
    if name == "SubCenterArcFaceLoss":  # class-major centers, a class scores its best
        cosine = cosine.reshape(6, 5, -1).max(axis=2)
    with torch.no_grad():
        logits = class_logits(loss, embeddings)
    np.testing.assert_allclose(logits.numpy(), cosine, atol=1e-5)
    with pytest.raises(UserError, match="no class weight matrix"):
        class_logits(build_loss({"loss": "ContrastiveLoss"}, 5), embeddings)


@pytest.mark.parametrize(
    ("name", "to_logits"),
    [
        ("ArcFaceLoss", lambda loss, cosine: cosine * loss.scale),
        ("CosFaceLoss", lambda loss, cosine: cosine * loss.scale),
        ("NormalizedSoftmaxLoss", lambda loss, cosine: cosine / loss.temperature),
        ("ProxyAnchorLoss", lambda loss, cosine: cosine),
    ],
)
def test_class_logits_are_the_logits_of_pytorch_metric_learning(name, to_logits):
    """Without a margin (no labels), a loss's logits are its scaled cosines."""
    loss = build_loss({"loss": name, "embedding_size": 8}, 5)
    embeddings = torch.randn(6, 8)
    with torch.no_grad():
        expected = loss.get_logits(embeddings)
        torch.testing.assert_close(to_logits(loss, class_logits(loss, embeddings)), expected)


def test_losses_without_a_similarity_head_are_no_classifier():
    proxy_nca = build_loss({"loss": "ProxyNCALoss", "embedding_size": 8}, 5)  # L2 distances
    for loss in (proxy_nca, build_loss({"loss": "TripletMarginLoss"}, 5)):
        with pytest.raises(UserError, match="gives no classifier"):
            class_logits(loss, torch.randn(2, 8))


# --- the loop ----------------------------------------------------------------------------


def test_lr_is_multiplied_at_the_start_of_milestone_epochs():
    factors = [training.lr_factor(epoch, [9, 14], 0.1) for epoch in range(1, 17)]
    assert factors == pytest.approx([1] * 8 + [0.1] * 5 + [0.01] * 3)


def test_optimizer_trains_network_and_loss_each_with_its_lr():
    model, loss = build_model(CONFIG), build_loss(CONFIG, 20)
    sgd = training.make_optimizer(model, loss, Training.from_mapping(CONFIG | {"loss_lr": 0.5}))
    assert isinstance(sgd, torch.optim.SGD)
    assert [group["lr"] for group in sgd.param_groups] == [0.05, 0.5]
    assert sgd.param_groups[1]["params"] == [loss.W]
    adamw_config = Training.from_mapping(CONFIG | {"optimizer": "adamw"})
    adamw = training.make_optimizer(model, loss, adamw_config)
    assert isinstance(adamw, torch.optim.AdamW)
    training.set_lr(adamw, 4, adamw_config)  # epoch 4 is a milestone
    assert [group["lr"] for group in adamw.param_groups] == pytest.approx([0.005, 0.005])


def test_loader_workers_come_from_threads_unless_configured():
    assert loader_workers(Training.from_mapping({"workers": None}), threads=3) == 2
    assert loader_workers(Training.from_mapping({}), threads=1) == 0
    assert loader_workers(Training.from_mapping({"workers": 0}), threads=8) == 0


def test_short_training_run_lowers_the_loss(four_epochs):
    history = four_epochs.history
    assert [row["epoch"] for row in history] == [1, 2, 3, 4]
    assert history[-1]["loss"] < 0.8 * history[0]["loss"]
    assert history[-1]["train_clean_acc"] > history[0]["train_clean_acc"]
    assert [row["lr"] for row in history] == pytest.approx([0.05, 0.05, 0.05, 0.005])
    assert all(row["images_per_s"] > 0 for row in history)


def test_resumed_run_equals_an_uninterrupted_one(shards, clean, four_epochs, tmp_path, monkeypatch):
    save = checkpoint.save

    def save_then_die(out_dir, **state):
        save(out_dir, **state)
        if state["epoch"] == 2:
            raise KeyboardInterrupt("killed after epoch 2's checkpoint")

    monkeypatch.setattr(checkpoint, "save", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        training.train(shards, clean, CONFIG, 0, tmp_path)
    monkeypatch.setattr(checkpoint, "save", save)
    resumed = training.train(shards, clean, CONFIG, 0, tmp_path)

    for mine, theirs in [(resumed.model, four_epochs.model), (resumed.loss, four_epochs.loss)]:
        reference = theirs.state_dict()
        for key, value in mine.state_dict().items():
            assert torch.equal(value, reference[key]), key
    drop = ("seconds", "images_per_s")
    strip = [{k: v for k, v in row.items() if k not in drop} for row in four_epochs.history]
    assert [{k: v for k, v in row.items() if k not in drop} for row in resumed.history] == strip


def test_longer_run_continues_from_a_finished_shorter_one(shards, clean, tmp_path):
    two = training.train(shards, clean, CONFIG | {"epochs": 2}, 0, tmp_path)
    three = training.train(shards, clean, CONFIG | {"epochs": 3}, 0, tmp_path)
    assert [row["epoch"] for row in three.history] == [1, 2, 3]
    assert three.history[:2] == two.history


def test_checkpoint_of_another_config_is_ignored_with_a_warning(shards, clean, tmp_path):
    training.train(shards, clean, CONFIG | {"epochs": 1}, 0, tmp_path)
    with pytest.warns(UserWarning, match="another config"):
        result = training.train(shards, clean, CONFIG | {"epochs": 1, "lr": 0.01}, 0, tmp_path)
    assert result.history[0]["lr"] == 0.01


def test_nan_loss_stops_with_a_clear_error(shards, clean, tmp_path):
    config = CONFIG | {"lr": 1e30, "epochs": 1}
    with pytest.raises(training.TrainingDiverged, match=r"epoch 1, step \d+.*lower the"):
        training.train(shards, clean, config, 0, tmp_path)


def test_head_accuracy_counts_noisy_and_clean_hits():
    loss = build_loss({"loss": "ArcFaceLoss", "embedding_size": 8}, 5)
    embeddings = loss.W.t()[[0, 1, 2, 3]].detach()  # each embedding is its class's weight
    noisy = torch.tensor([0, 1, 4, 4])  # the head predicts 0, 1, 2, 3
    clean = torch.tensor([0, 2, 2, 3])
    with ClassPredictions(loss) as predict:
        assert training.head_hits(predict, embeddings, noisy, clean).tolist() == [2, 3]
    with ClassPredictions(build_loss({"loss": "ContrastiveLoss"}, 5)) as predict:
        assert training.head_hits(predict, embeddings, noisy, clean).tolist() == [0, 0]


@pytest.mark.parametrize(
    "name", ["ArcFaceLoss", "NormalizedSoftmaxLoss", "ProxyAnchorLoss", "SubCenterArcFaceLoss"]
)
def test_class_predictions_reuse_the_scores_of_the_loss(name):
    loss = build_loss({"loss": name, "embedding_size": 8}, 5)
    embeddings, labels = torch.randn(16, 8), torch.randint(0, 5, (16,))
    with ClassPredictions(loss) as predict:
        loss(embeddings, labels)
        assert predict.scores is not None  # kept by the hook
        from_the_loss = predict(embeddings)
        recomputed = predict(embeddings)  # nothing kept since the last forward pass
    with torch.no_grad():
        expected = class_logits(loss, embeddings).argmax(dim=1)
    assert torch.equal(from_the_loss, expected) and torch.equal(recomputed, expected)
    assert not loss.distance._forward_hooks  # removed on exit


def test_labels_of_another_dataset_are_rejected(shards, clean, tmp_path):
    with pytest.raises(UserError, match="made for another dataset"):
        training.train(shards, clean[:-1], CONFIG, 0, tmp_path)


# --- the command ---------------------------------------------------------------------------


def run_command(*argv: str) -> int:
    return main(["train", *argv])


def test_command_writes_model_and_history(shards, clean, tmp_path):
    noisy = clean.copy()
    noisy[:40] = (noisy[:40] + 1) % 20
    labels = tmp_path / "seed0.npy"
    np.save(labels, noisy)
    # One loader worker beside one compute thread: the worker path, without oversubscribing.
    config = json.dumps(CONFIG | {"epochs": 2, "workers": 1}, sort_keys=True)
    out = tmp_path / "run"
    status = run_command(
        "--shards", str(shards), "--labels", str(labels), "--config", config,
        "--seed", "0", "--out-dir", str(out), "--threads", "1",
    )  # fmt: skip
    assert status == 0
    history = (out / "history.csv").read_text().splitlines()
    assert history[0] == ",".join(training.HISTORY_COLUMNS)
    assert [line.split(",")[0] for line in history[1:]] == ["1", "2"]
    model, loss, payload = load_trained(out / "model.pt", "cpu")
    assert payload["num_classes"] == 20 and payload["epochs_done"] == 2
    assert payload["config"] == Training.from_mapping(json.loads(config)).to_dict()
    assert payload["seed"] == 0
    with torch.no_grad():
        assert class_logits(loss, model(torch.randn(3, 3, 24, 24))).shape == (3, 20)
    assert not (out / "checkpoint.pt").exists(), "a finished run keeps no checkpoint"


def test_command_errors_are_reported_not_raised(shards, tmp_path, capsys):
    assert run_command("--shards", str(shards), "--config", "{", "--out-dir", str(tmp_path)) == 2
    assert "irnoise train: error: --config is not valid JSON" in capsys.readouterr().err
    config = json.dumps(CONFIG | {"loss": "Nope"})
    assert run_command("--shards", str(shards), "--config", config, "--out-dir", str(tmp_path)) == 2
    assert "unknown loss 'Nope'" in capsys.readouterr().err


def test_command_runs_in_process_without_cuda():
    assert train_command.torchrun_processes(Training.from_mapping({"gpus": 0})) == 0
    assert train_command.torchrun_processes(Training.from_mapping({"gpus": 1})) == 0
    args = argparse.Namespace(
        shards=Path("s"),
        labels=None,
        config="{}",
        seed=1,
        out_dir=Path("o"),
        threads=8,
        keep_checkpoint=False,
        allow_cpu=False,
        method=None,
        keep=None,
    )
    argv = train_command.torchrun_argv(args, 4, cpus=8)
    assert argv[1:6] == ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node=4", "-m"]
    assert argv[-2:] == ["--threads", "2"]
    args.method, args.keep = '{"name": "oracle"}', Path("k.npy")
    argv = train_command.torchrun_argv(args, 4, cpus=8)
    assert argv[-4:] == ["--method", '{"name": "oracle"}', "--keep", "k.npy"]


def test_two_ddp_processes_on_cpu_train_one_model(shards, tmp_path):
    # The very command `irnoise train` execs for gpus > 1, on CPU (gloo instead of NCCL).
    out = tmp_path / "run"
    args = argparse.Namespace(
        shards=shards,
        labels=None,
        config=json.dumps(CONFIG | {"epochs": 1}),
        seed=0,
        out_dir=out,
        threads=2,
        keep_checkpoint=False,
        allow_cpu=False,
        method=None,
        keep=None,
    )
    command = train_command.torchrun_argv(args, 2, cpus=2)
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "2 process(es)" in result.stderr
    (header, row) = (out / "history.csv").read_text().splitlines()
    values = dict(zip(header.split(","), map(float, row.split(",")), strict=True))
    assert values["images_per_s"] * values["seconds"] == pytest.approx(160, rel=1e-3)
    assert load_trained(out / "model.pt")[2]["epochs_done"] == 1


# --- model and checkpoint files ----------------------------------------------------------------


def train_command_argv(shards: Path, out: Path, *extra: str) -> list[str]:
    config = json.dumps(CONFIG | {"epochs": 1, "workers": 0})
    return ["--shards", str(shards), "--config", config, "--out-dir", str(out), *extra]


def test_identical_cpu_runs_write_byte_identical_model_files(shards, tmp_path):
    for name in ("a", "b"):
        assert run_command(*train_command_argv(shards, tmp_path / name), "--threads", "1") == 0
    first, second = (tmp_path / name / "model.pt" for name in ("a", "b"))
    assert first.read_bytes() == second.read_bytes()


def test_keep_checkpoint_keeps_it(shards, tmp_path):
    assert run_command(*train_command_argv(shards, tmp_path, "--keep-checkpoint")) == 0
    assert (tmp_path / "model.pt").is_file() and (tmp_path / "checkpoint.pt").is_file()
    state = torch.load(tmp_path / "checkpoint.pt", weights_only=True)  # plain data only
    assert state["epoch"] == 1


class RunsCode:
    """Pickles as a call of os.system: what a crafted model file would hold."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        import os

        return (os.system, (f"touch {self.marker}",))


def test_crafted_model_file_runs_nothing_and_is_named(tmp_path):
    marker, path = tmp_path / "marker", tmp_path / "model.pt"
    torch.save({"state_dict": RunsCode(marker)}, path)
    message = f"^{path} is not a readable model file \\(it holds Python objects .* nothing run\\)"
    with pytest.raises(UserError, match=message + ".*retrain"):
        load_trained(path)
    assert not marker.exists()


def test_crafted_raw_pickle_runs_nothing_and_is_named(tmp_path):
    marker, path = tmp_path / "marker", tmp_path / "model.pt"
    path.write_bytes(pickle.dumps(RunsCode(marker)))  # a plain pickle, not a torch archive
    message = f"^{path} is not a readable model file \\(torch's safe loader cannot read it: .*"
    with pytest.raises(UserError, match=message + "nothing run\\)"):
        load_trained(path)
    assert not marker.exists()


@pytest.mark.parametrize(
    "content",
    [b"not a zip archive", b"junk", b"PK\x03\x04 truncated zip", None],
    ids=["garbage", "four bytes", "truncated", "a tensor"],
)
def test_malformed_model_file_is_a_clear_error(tmp_path, content):
    path = tmp_path / "model.pt"
    if content is None:
        torch.save(torch.zeros(3), path)
    else:
        path.write_bytes(content)
    with pytest.raises(UserError, match=f"^{path} is not a .*model file"):
        load_trained(path)


def test_model_file_of_another_shape_is_a_clear_error(shards, tmp_path):
    assert run_command(*train_command_argv(shards, tmp_path)) == 0
    payload = torch.load(tmp_path / "model.pt", weights_only=True)
    payload["config"]["embedding_size"] = 7
    torch.save(payload, tmp_path / "other.pt")
    with pytest.raises(UserError, match=r"model file .*other\.pt does not fit its config"):
        load_trained(tmp_path / "other.pt")


def test_crafted_checkpoint_runs_nothing_and_is_ignored(shards, clean, tmp_path):
    marker = tmp_path / "marker"
    torch.save({"epoch": RunsCode(marker)}, tmp_path / "checkpoint.pt")
    with pytest.warns(UserWarning, match="checkpoint.pt is not a readable checkpoint"):
        result = training.train(shards, clean, CONFIG | {"epochs": 1}, 0, tmp_path)
    assert not marker.exists() and [row["epoch"] for row in result.history] == [1]
