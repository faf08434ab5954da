"""Readers check that the rows they read are the rows the manifest lists: a shard cut at a
sample boundary or left from another sharding is refused by name, never read short; and
detect refuses to name rows by the files of a dataset changed since it was sharded."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import webdataset as wds

from irnoise.cli import main
from irnoise.data import loader
from irnoise.data.listing import dataset_listing, refresh_listing
from irnoise.data.manifest import read_manifest, split_shards
from irnoise.detect.training_rows import train_files
from irnoise.errors import UserError

from detect_fixtures import MISFILED, misfiled_folder
from train_fixtures import write_shards


def rewrite_shard(path: Path, keep) -> None:
    """Rewrite a shard as a valid tar holding only the samples `keep` accepts."""
    samples = list(wds.tariterators.group_by_keys(loader.tar_files([path])))
    with wds.TarWriter(str(path), encoder=False) as writer:
        for sample in samples:
            if keep(int(sample["idx"])):
                members = {key: bytes(sample[key]) for key in ("jpg", "cls", "idx")}
                writer.write({"__key__": f"train_{int(sample['idx']):09d}", **members})


@pytest.fixture
def shards(tmp_path: Path) -> Path:
    return write_shards(tmp_path / "shards")  # 160 train rows, shards of 50


@pytest.fixture
def clean(shards: Path) -> np.ndarray:
    return np.load(shards / "train_labels.npy")


def epoch(shards: Path, clean: np.ndarray, decoded=None) -> int:
    options = dict(crop_size=24, batch_size=16, workers=0, seed=0, epoch=0, decoded=decoded)
    return sum(len(rows) for _, _, rows in loader.train_loader(shards, clean, **options))


def test_training_reads_every_row_of_intact_shards(shards, clean):
    assert epoch(shards, clean) == 160


def test_a_shard_cut_at_a_sample_boundary_stops_training(shards, clean):
    rewrite_shard(shards / "train-000001.tar", keep=lambda row: row < 99)
    with pytest.raises(UserError, match=r"train-000001.tar holds 49 rows where .* lists 50"):
        epoch(shards, clean)


def test_a_cut_shard_stops_decoding_the_split_once(shards, clean):
    rewrite_shard(shards / "train-000003.tar", keep=lambda row: row < 155)
    with pytest.raises(UserError, match="truncated or stale; delete the shard directory"):
        loader.DecodedSplit(split_shards(shards, "train"))


def test_a_shard_of_other_rows_is_refused(shards, clean):
    shutil.copy(shards / "train-000000.tar", shards / "train-000001.tar")
    with pytest.raises(UserError, match=r"holds row 0 where .* lists rows 50-99"):
        epoch(shards, clean)


def shard_folder(images: Path, out: Path) -> None:
    args = ["shard", "--source", "folder", "--root", str(images), "--out", str(out)]
    assert main([*args, "--image-size", "32", "--shard-size", "20", "--threads", "1"]) == 0


def test_detect_refuses_to_name_rows_by_a_moved_image(tmp_path):
    images = misfiled_folder(tmp_path / "images", per_class=3)
    shard_folder(images, tmp_path / "shards")
    manifest = read_manifest(tmp_path / "shards")
    dataset = {"source": "folder", "root": str(images)}
    count = manifest["splits"]["train"]["count"]
    assert train_files(manifest, dataset, count)[0][0].startswith("train/")
    # The same number of images, one in another class: the count alone cannot tell.
    (images / MISFILED).rename(images / "train/red/misfiled_red.jpg")
    with pytest.raises(UserError, match="are not the rows its shards hold"):
        train_files(manifest, dataset, count)


def test_a_listing_changes_when_an_image_moves_and_only_then(tmp_path):
    images = misfiled_folder(tmp_path / "images", per_class=3)
    target = tmp_path / "listing.json"
    assert refresh_listing(target, dataset_listing("folder", str(images), {}))
    assert not refresh_listing(target, dataset_listing("folder", str(images), {}))
    (images / MISFILED).rename(images / "train/red/misfiled_red.jpg")
    assert refresh_listing(target, dataset_listing("folder", str(images), {}))


def test_a_listing_of_a_missing_folder_names_the_problem(tmp_path):
    listing = dataset_listing("folder", str(tmp_path / "absent"), {})
    assert "absent" in listing["error"]
