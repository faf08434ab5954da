"""A user's own folder or CSV dataset: what `irnoise shard` and `irnoise detect` make of
unusual images, names and layouts (docs/detect.md, "Your own data: what is checked")."""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from irnoise.cli import main
from irnoise.data import datasets, images
from irnoise.detect import knn, suspicious
from irnoise.detect.scores import DetectorScores, run_detectors
from irnoise.errors import UserError

from dataset_fixtures import build_class_folders, tiny_jpeg, write_images
from train_fixtures import write_shards


def shard(root: Path, out: Path, source: str = "folder") -> int:
    argv = ["shard", "--source", source, "--root", str(root), "--out", str(out)]
    return main([*argv, "--image-size", "32", "--shard-size", "50", "--threads", "1"])


def train_images(out: Path) -> list[np.ndarray]:
    """The decoded train images of a shard directory, in row order."""
    import webdataset as wds

    names = json.loads((out / "manifest.json").read_text())["splits"]["train"]["shards"]
    samples = wds.WebDataset([str(out / name) for name in names], shardshuffle=False)
    return [np.asarray(Image.open(io.BytesIO(sample["jpg"]))) for sample in samples]


def encoded(image: Image.Image, format: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format)
    return buffer.getvalue()


# --- images: bit depths and modes -----------------------------------------------------------


def test_sixteen_bit_png_is_stored_grey_not_white(tmp_path: Path) -> None:
    root = build_class_folders(tmp_path / "raw" / "train", {"other": 2}).parent
    grey = np.full((16, 16), 128 * 257, dtype=np.uint16)  # mid-grey on the 16-bit scale
    (root / "train" / "deep").mkdir()
    Image.fromarray(grey).save(root / "train" / "deep" / "grey.png")
    assert shard(root, tmp_path / "shards") == 0
    stored = train_images(tmp_path / "shards")[0]  # "deep" sorts first: row 0
    assert abs(stored.mean() - 128) <= 2, stored.mean()


@pytest.mark.parametrize(
    ("pixels", "mode"),
    [
        (np.full((8, 8), 70000, dtype=np.int32), "I"),
        (np.full((8, 8), 0.5, dtype=np.float32), "F"),
    ],
)
def test_pixels_without_a_stated_range_are_refused_by_mode(
    tmp_path: Path, capsys: pytest.CaptureFixture, pixels: np.ndarray, mode: str
) -> None:
    root = tmp_path / "raw"
    write_images(root, ["a0.jpg", "b0.jpg", "b1.jpg"])
    (root / "a1.tif").write_bytes(encoded(Image.fromarray(pixels, mode), "TIFF"))
    rows = ["path,label,split", "a0.jpg,a,train", "a1.tif,a,train", "b0.jpg,b,train"]
    (root / "labels.csv").write_text("\n".join([*rows, "b1.jpg,b,train"]) + "\n")
    assert shard(root, tmp_path / "shards", "csv") == 2
    error = capsys.readouterr().err
    assert str(root / "a1.tif") in error and f"mode {mode}" in error, error


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        (Image.new("LA", (8, 8), (100, 255)), (100, 100, 100)),
        (Image.new("LA", (8, 8), (100, 0)), (255, 255, 255)),  # transparent: white
        (Image.new("RGB", (8, 8), (200, 80, 40)).convert("CMYK"), (200, 80, 40)),
        (Image.new("1", (8, 8), 1), (255, 255, 255)),
    ],
)
def test_other_modes_convert_to_their_colors(image: Image.Image, expected: tuple) -> None:
    format = "JPEG" if image.mode == "CMYK" else "PNG"
    stored = Image.open(io.BytesIO(images.prepare(encoded(image, format), 32)))
    assert np.abs(np.asarray(stored).mean(axis=(0, 1)) - expected).max() <= 3


def test_palette_transparency_becomes_white() -> None:
    image = Image.new("P", (8, 8), 0)
    image.putpalette([10, 20, 30, 200, 100, 50] + [0] * 762)
    buffer = io.BytesIO()
    image.save(buffer, "PNG", transparency=0)
    stored = Image.open(io.BytesIO(images.prepare(buffer.getvalue(), 32)))
    assert np.abs(np.asarray(stored).mean(axis=(0, 1)) - 255).max() <= 3


# --- folders: symbolic links ------------------------------------------------------------------


def test_symlink_loop_lists_each_image_once(tmp_path: Path) -> None:
    root = tmp_path / "raw"
    build_class_folders(root / "train", {"cat": 3, "dog": 3})
    os.symlink("..", root / "train" / "cat" / "loop")  # a link back up: a loop
    os.symlink(root / "train" / "dog", root / "train" / "dog" / "again")
    index = datasets.load("folder", root)
    assert len(index.splits["train"]) == 6
    assert {record.label for record in index.splits["train"]} == {"cat", "dog"}


def test_class_folder_linked_to_another_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "raw"
    build_class_folders(root / "train", {"cat": 3, "dog": 3})
    os.symlink(root / "train" / "cat", root / "train" / "kitten")
    with pytest.raises(UserError, match=r"folders .cat. and .kitten. in .* are one folder"):
        datasets.load("folder", root)


# --- names and CSV files ----------------------------------------------------------------------


def test_non_utf8_file_name_is_refused_at_shard_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    root = tmp_path / "raw"
    build_class_folders(root / "train", {"cat": 2, "dog": 2})
    name = os.path.join(os.fsencode(root / "train" / "cat"), b"caf\xe9.jpg")
    with open(name, "wb") as handle:
        handle.write(tiny_jpeg())
    assert shard(root, tmp_path / "shards") == 2
    error = capsys.readouterr().err
    assert "caf\\xe9.jpg" in error and "not UTF-8" in error and "Traceback" not in error
    assert not (tmp_path / "shards").exists()


def test_csv_with_byte_order_mark_is_read(tmp_path: Path) -> None:
    root = tmp_path / "raw"
    write_images(root, ["a.jpg", "b.jpg"])
    text = "path,label,split\na.jpg,cat,train\nb.jpg,dog,train\n"
    (root / "labels.csv").write_bytes(text.encode("utf-8-sig"))
    index = datasets.load("csv", root)
    assert [record.key for record in index.splits["train"]] == ["a.jpg", "b.jpg"]


def test_one_image_under_two_spellings_is_a_duplicate(tmp_path: Path) -> None:
    root = tmp_path / "raw"
    write_images(root, ["img/a.jpg", "img/b.jpg"])
    rows = "img/a.jpg,cat,train\n./img/a.jpg,cat,train\nimg//b.jpg,dog,train\n"
    (root / "labels.csv").write_text("path,label,split\n" + rows)
    with pytest.raises(UserError, match=r"duplicate keys in split 'train'.*img/a\.jpg"):
        datasets.load("csv", root)


def test_one_class_train_split_is_refused_at_shard(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    root = build_class_folders(tmp_path / "raw" / "train", {"cat": 4}).parent
    assert shard(root, tmp_path / "shards") == 2
    error = capsys.readouterr().err
    assert "train split holds one class ('cat')" in error and "at least two" in error


# --- detect's outputs -------------------------------------------------------------------------


def clustered(labels: np.ndarray, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(labels.max() + 1, 8))
    return (centers[labels] + 0.05 * rng.normal(size=(len(labels), 8))).astype(np.float32)


def csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_class_with_one_image_is_not_judged() -> None:
    labels = np.array([0] * 6 + [1] * 6 + [2])  # class 2 holds one image: row 12
    result = run_detectors(clustered(labels), labels, None, 4, 10**6)
    names = ["cat", "dog", "lonely"]
    files = [(f"k{row}", f"p{row}") for row in range(len(labels))]
    rows = csv_rows(suspicious.suspicious_csv(result, "knn", files, names))
    assert len(rows) == 13 and rows[-1]["row"] == "12"
    assert (rows[-1]["rank"], rows[-1]["score"], rows[-1]["suggested"]) == ("", "", "")
    assert [row["rank"] for row in rows[:-1]] == [str(rank) for rank in range(1, 13)]
    assert 12 not in suspicious.top_rows(result, "knn", 3)
    assert suspicious.unjudged_classes(labels, names) == ["lonely"]


def test_spreadsheet_formulas_in_user_text_are_escaped() -> None:
    labels = np.array([0] * 4 + [1] * 4)
    result = DetectorScores(labels, knn.neighborhoods(clustered(labels), 3))
    result.add("margin", np.linspace(-0.5, 0.5, 8), labels[::-1].copy())
    names = ['=HYPERLINK("http://x","y")', "+cmd"]
    files = [(f"@k{row}", f"-p{row}") for row in range(len(labels))]
    rows = csv_rows(suspicious.suspicious_csv(result, "margin", files, names))
    for row in rows:
        for column in ("key", "path", "label", "suggested"):
            assert row[column].startswith("'"), row
    assert rows[-1]["score"] == "-0.5"  # numbers stay numbers


def test_dollar_in_class_name_draws(tmp_path: Path) -> None:
    labels = np.array([0] * 4 + [1] * 4)
    result = run_detectors(clustered(labels), labels, None, 3, 10**6)
    shown = {row: tiny_jpeg() for row in range(len(labels))}
    names = ["a$^$b", "price in $"]
    picture = tmp_path / "top.png"
    suspicious.draw_top_suspicious(picture, result, "knn", [0, 5], shown, names)
    assert picture.stat().st_size > 0


TINY_TRAINING = {
    "backbone": "small_cnn",
    "embedding_size": 16,
    "gpus": 0,
    "workers": 0,
    "epochs": 1,
    "batch_size": 16,
    "lr": 0.01,
    "lr_milestones": [2],
    "crop_size": 24,
    "loss": "NormalizedSoftmaxLoss",
}


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(model.pt, its shards): a tiny model trained on 4 classes of 6 images."""
    base = tmp_path_factory.mktemp("trained")
    shards = write_shards(base / "shards", classes=4, per_class=6, test_classes=2)
    argv = ["train", "--shards", str(shards), "--config", json.dumps(TINY_TRAINING)]
    assert main([*argv, "--seed", "0", "--out-dir", str(base / "run"), "--threads", "1"]) == 0
    return base / "run" / "model.pt", shards


def detect(model: Path, shards: Path, out: Path) -> int:
    config = {"crop_size": 24, "eval_batch_size": 8, "k": 3, "cleanlab_max_cells": 10**6}
    argv = ["detect", "--model", str(model), "--shards", str(shards)]
    return main([*argv, "--config", json.dumps(config), "--out", str(out / "d.npz")])


def test_model_trained_on_another_dataset_is_named(
    trained: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    model, shards = trained
    assert detect(model, shards, tmp_path) == 0
    capsys.readouterr()
    more_classes = write_shards(tmp_path / "five", classes=5, per_class=6, test_classes=2)
    assert detect(model, more_classes, tmp_path) == 2
    error = capsys.readouterr().err
    assert f"model {model} was trained on a dataset of 4 classes" in error, error
    assert f"the train split of {more_classes} has 5" in error
    other_rows = write_shards(tmp_path / "other", classes=4, per_class=7, test_classes=2)
    assert detect(model, other_rows, tmp_path) == 2
    assert f"model {model} was trained on another train split" in capsys.readouterr().err
