"""The held-out validation split: the carving function's properties, the shards it gives
(never an image of the dataset's test split), the config's checks and the calibration
preset's settings."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import subprocess
import sys
import tarfile
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from irnoise.config import load_study, read_yaml
from irnoise.data.datasets.base import DatasetIndex, Pair, Record
from irnoise.data.holdout import Holdout, carve
from irnoise.detect.training_rows import train_files
from irnoise.errors import UserError
from irnoise.plan import CLEAN_SCHEME, Plan

from helpers import REPO

# --- the carving function ----------------------------------------------------------------


def records(split: str, labels: list[str]) -> list[Record]:
    return [
        Record(key=f"{split}/{row}", path=Path(f"{split}/{row}.jpg"), label=label)
        for row, label in enumerate(labels)
    ]


CLASSES = [f"c{i:02d}" for i in range(12)]
class_labels = st.lists(st.sampled_from(CLASSES), max_size=80)
shares = st.floats(min_value=0.01, max_value=0.99)
seeds = st.integers(min_value=0, max_value=2**32 - 1)


def open_set_index(train: list[str], test: list[str]) -> DatasetIndex:
    """A retrieval or verification set: train, test, query, gallery and pairs."""
    splits = {
        "train": records("train", train),
        "test": records("test", test),
        "query": records("query", test),
        "gallery": records("gallery", test),
    }
    pairs = [Pair(0, 1, True, 0)] if len(test) > 1 else []
    return DatasetIndex("sop", Path("root"), splits, pairs)


def closed_set_index(train: list[str]) -> DatasetIndex:
    splits = {"train": records("train", train), "val": records("val", sorted(set(train)))}
    return DatasetIndex("imagenet", Path("root"), splits)


def expected_held_classes(classes: int, share: float) -> int:
    """round(share x classes), at least one class on each side."""
    return min(max(round(share * classes), 1), classes - 1)


def check_a_partition_of_train(original: DatasetIndex, carved: DatasetIndex, held: str) -> None:
    """Every train record lands on exactly one side, each side in the train order."""
    train, validation = carved.splits["train"], carved.splits[held]
    assert not {r.key for r in train} & {r.key for r in validation}
    assert Counter(train + validation) == Counter(original.splits["train"])
    order = {record.key: row for row, record in enumerate(original.splits["train"])}
    for side in (train, validation):
        assert [order[r.key] for r in side] == sorted(order[r.key] for r in side)


@settings(max_examples=150, deadline=None)
@given(train=class_labels, test=class_labels, share=shares, seed=seeds)
def test_open_set_holds_out_whole_classes(
    train: list[str], test: list[str], share: float, seed: int
) -> None:
    index = open_set_index(train, test)
    if len(set(train)) < 2:
        with pytest.raises(UserError, match="no train images" if not train else "at least two"):
            carve(index, Holdout(share, seed))
        return
    carved = carve(index, Holdout(share, seed))
    assert set(carved.splits) == {"train", "test"} and carved.pairs == []
    check_a_partition_of_train(index, carved, "test")
    kept, held = carved.classes("train"), carved.classes("test")
    assert not kept & held
    assert len(held) == expected_held_classes(len(set(train)), share)
    assert carve(index, Holdout(share, seed)) == carved


@settings(max_examples=150, deadline=None)
@given(train=st.lists(st.sampled_from(CLASSES), min_size=1, max_size=80), share=shares, seed=seeds)
def test_closed_set_holds_out_a_share_of_each_class(
    train: list[str], share: float, seed: int
) -> None:
    index = closed_set_index(train)
    carved = carve(index, Holdout(share, seed))
    assert set(carved.splits) == {"train", "val"} and carved.pairs == []
    check_a_partition_of_train(index, carved, "val")
    sizes = Counter(train)
    held = Counter(record.label for record in carved.splits["val"])
    for label, size in sizes.items():
        if size < 2:
            assert held[label] == 0
            continue
        # Every class of two images or more on both sides, its share within rounding.
        assert 1 <= held[label] <= size - 1
        assert abs(held[label] - share * size) <= 0.5 or held[label] in (1, size - 1)
    assert carved.classes("val") <= carved.classes("train") == set(train)
    assert carve(index, Holdout(share, seed)) == carved


def test_the_draw_depends_on_the_seed_not_on_the_file_order() -> None:
    labels = [f"c{i:02d}" for i in range(40) for _ in range(3)]
    index = open_set_index(labels, [])
    shuffled = open_set_index(list(np.random.default_rng(0).permutation(labels)), [])
    held = carve(index, Holdout(0.25, 7)).classes("test")
    assert carve(shuffled, Holdout(0.25, 7)).classes("test") == held
    assert len(held) == 10
    assert any(carve(index, Holdout(0.25, seed)).classes("test") != held for seed in range(5))


@pytest.mark.parametrize("share", [0.0, 1.0, -0.1])
def test_a_share_outside_zero_one_is_refused(share: float) -> None:
    with pytest.raises(UserError, match="strictly between 0 and 1"):
        Holdout(share, 0)


# --- through the CLI: the shards of a held-out dataset ------------------------------------


def irnoise(*args: str) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, "-m", "irnoise.cli", *args], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    return result


def shard(tmp_path: Path, shape: str, name: str, *holdout: str) -> Path:
    out = tmp_path / name
    irnoise(
        "shard", "--source", "synthetic", "--root", str(tmp_path / f"raw_{shape}"),
        "--out", str(out), "--image-size", "16", "--shard-size", "100",
        "--options", json.dumps({"shape": shape}), *holdout,
    )  # fmt: skip
    return out


def image_digests(shards: Path, split: str) -> list[str]:
    """sha256 of every JPEG stored in a split's shards."""
    digests = []
    for path in sorted(shards.glob(f"{split}-*.tar")):
        with tarfile.open(path) as tar:
            for member in tar.getmembers():
                if member.name.endswith(".jpg"):
                    digests.append(hashlib.sha256(tar.extractfile(member).read()).hexdigest())
    return digests


@pytest.fixture(scope="module")
def synthetic_sets(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("holdout")
    for shape, scale in (("sop", "0.005"), ("inshop", "0.01"), ("faces", "0.02"), ("lfw", "0.02")):
        irnoise(
            "synth", "--shape", shape, "--scale", scale, "--image-size", "16",
            "--seed", "1", "--out", str(folder / f"raw_{shape}"),
        )  # fmt: skip
    return folder


@pytest.mark.parametrize("shape", ["sop", "inshop", "faces"])
def test_held_out_shards_hold_no_image_of_the_test_split(synthetic_sets: Path, shape: str) -> None:
    plain = shard(synthetic_sets, shape, f"plain_{shape}")
    held_out = shard(synthetic_sets, shape, f"held_{shape}", "--holdout", "0.3")
    manifest = json.loads((held_out / "manifest.json").read_text())
    assert set(manifest["splits"]) == {"train", "test"}
    assert manifest["pairs"] == 0 and not (held_out / "pairs.npy").exists()

    original_train = Counter(image_digests(plain, "train"))
    original_test = set()
    for split in json.loads((plain / "manifest.json").read_text())["splits"]:
        if split != "train":
            original_test |= set(image_digests(plain, split))
    carved = Counter(image_digests(held_out, "train")) + Counter(image_digests(held_out, "test"))
    assert carved == original_train
    assert not set(carved) & original_test

    classes = json.loads((held_out / "classes.json").read_text())
    train_classes = {classes[i] for i in np.load(held_out / "train_labels.npy")}
    test_classes = {classes[i] for i in np.load(held_out / "test_labels.npy")}
    assert not train_classes & test_classes


def test_an_evaluation_only_set_cannot_be_held_out(synthetic_sets: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "irnoise.cli", "shard", "--source", "synthetic",
         "--root", str(synthetic_sets / "raw_lfw"), "--out", str(synthetic_sets / "held_lfw"),
         "--image-size", "16", "--shard-size", "100", "--options", '{"shape": "lfw"}',
         "--holdout", "0.2"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "no train images" in result.stderr and "set holdout on its training set" in result.stderr
    assert not (synthetic_sets / "held_lfw").exists()


def test_detect_names_the_rows_of_the_carved_train_split(synthetic_sets: Path) -> None:
    held_out = shard(synthetic_sets, "sop", "held_for_detect", "--holdout", "0.3")
    manifest = json.loads((held_out / "manifest.json").read_text())
    count = manifest["splits"]["train"]["count"]
    dataset = {
        "source": "sop",
        "root": str(synthetic_sets / "raw_sop"),
        "holdout": 0.3,
        "holdout_seed": 0,
    }
    files = train_files(manifest, dataset, count)
    assert len(files) == count
    with pytest.raises(UserError, match="changed since it was sharded"):
        train_files(manifest, {k: v for k, v in dataset.items() if k != "holdout"}, count)


# --- the config -------------------------------------------------------------------------


def config_with(dataset: dict, task: str) -> dict:
    return {
        "datasets": {"faces": {"source": "synthetic", "synthetic": {"shape": "faces"}} | dataset},
        "experiments": {"e": {"train": "faces", "eval": "faces", "task": task}},
    }


def test_verification_on_a_held_out_dataset_says_to_use_retrieval() -> None:
    with pytest.raises(UserError, match="set task: retrieval"):
        load_study(config_with({"holdout": 0.2}, "verification"))
    study = load_study(config_with({"holdout": 0.2, "holdout_seed": 3}, "retrieval"))
    assert study.datasets["faces"].held_out == Holdout(0.2, 3)
    assert load_study(config_with({}, "retrieval")).datasets["faces"].held_out is None


@pytest.mark.parametrize("holdout", [0, 1, 1.5, "a"])
def test_a_bad_holdout_names_the_key(holdout: object) -> None:
    with pytest.raises(UserError, match=r"datasets\.faces\.holdout"):
        load_study(config_with({"holdout": holdout}, "retrieval"))


CALIBRATION = REPO / "presets" / "calibration.yaml"


def test_calibration_runs_the_default_experiments_clean_on_held_out_sets() -> None:
    calibration = load_study(read_yaml(CALIBRATION))
    default = load_study(read_yaml(REPO / "config.yaml"))
    bases = {name: name.split("_val")[0] for name in calibration.experiments}
    assert sorted(set(bases.values())) == sorted(default.experiments)
    for name, experiment in calibration.experiments.items():
        reference = default.experiments[bases[name]]
        # A candidate differs from the default only in its start and its schedule.
        schedule = ("pretrained", "epochs", "lr_milestones")
        assert dataclasses.replace(experiment.training, **{key: None for key in schedule}) == (
            dataclasses.replace(reference.training, **{key: None for key in schedule})
        )
        held_out = calibration.datasets[experiment.eval]
        assert experiment.eval == experiment.train and held_out.holdout == 0.2
        assert held_out.synthetic == default.datasets[reference.train].synthetic
        assert held_out.image_size == default.datasets[reference.train].image_size
        assert experiment.task == (
            "retrieval" if reference.task == "verification" else reference.task
        )
    plan = Plan(calibration)
    assert calibration.seeds == (0, 1, 2)
    assert all(
        scheme == CLEAN_SCHEME
        for name in calibration.experiments
        for scheme, _, _ in plan.runs(name)
    )
