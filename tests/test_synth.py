"""`irnoise synth`: plans, native layouts, LFW pairs, determinism, CLI and bad arguments."""

from __future__ import annotations

import argparse
import json
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from irnoise.commands import synth as synth_command
from irnoise.data.reference_class_sizes import REFERENCE_HISTOGRAMS
from irnoise.data.synthetic import SHAPES, generate
from irnoise.data.synthetic.build import STREAMS, class_prototype, plan_dataset
from irnoise.data.synthetic.pairs import matched_capacity
from irnoise.data.synthetic.shapes import (
    FACES_SIZE_FACTOR,
    IMAGENET_TRAIN,
    IMAGENET_VAL,
    plan_classes,
)
from irnoise.errors import UserError

# Small but real: every shape at a scale that generates in about a second, 32 px.
SMALL = {"sop": 0.005, "inshop": 0.01, "faces": 0.03, "lfw": 0.02, "imagenet": 0.01}
SIZE = 32


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Each shape generated once (two worker processes) and shared read-only by the tests."""
    root = tmp_path_factory.mktemp("synth")
    for shape, scale in SMALL.items():
        generate(shape, scale, SIZE, 7, root / shape, threads=2)
    return {shape: root / shape for shape in SMALL}


def summary(root: Path) -> dict:
    return json.loads((root / "synth.json").read_text())


def image_files(root: Path) -> list[Path]:
    suffixes = {".jpg", ".jpeg"}
    return sorted(p for p in root.rglob("*") if p.suffix.lower() in suffixes)


def read_rows(path: Path, skip: int) -> list[list[str]]:
    return [line.split() for line in path.read_text().splitlines()[skip:]]


# --- plans -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("shape", "splits"),
    [
        ("sop", {"train": "sop_train", "test": "sop_test"}),
        ("inshop", {"train": "inshop_train", "query": "inshop_test", "gallery": "inshop_test"}),
        ("lfw", {"test": "lfw"}),
    ],
)
def test_class_counts_are_scale_times_the_real_ones(shape: str, splits: dict) -> None:
    classes = plan_classes(shape, 0.05, np.random.default_rng(0))
    for split, histogram in splits.items():
        expected = round(0.05 * sum(REFERENCE_HISTOGRAMS[histogram].values()))
        assert sum(split in c.sizes for c in classes) == expected


def test_faces_and_imagenet_class_counts() -> None:
    faces = plan_classes("faces", 0.2, np.random.default_rng(0))
    assert len(faces) == round(0.2 * 1680)  # LFW people with at least two images
    assert all(c.total % FACES_SIZE_FACTOR == 0 and c.total >= 4 for c in faces)
    imagenet = plan_classes("imagenet", 0.05, np.random.default_rng(0))
    assert len(imagenet) == 50
    assert all(c.sizes == {"train": IMAGENET_TRAIN, "val": IMAGENET_VAL} for c in imagenet)


@pytest.mark.parametrize(
    ("name", "shape", "split"),
    [("sop_train", "sop", "train"), ("inshop_train", "inshop", "train"), ("lfw", "lfw", "test")],
)
def test_sizes_follow_the_real_histogram(name: str, shape: str, split: str) -> None:
    """Stratified draws keep the real mean and range, even for a few hundred classes."""
    classes = plan_classes(shape, 0.05, np.random.default_rng(1))
    sizes = np.array([c.sizes[split] for c in classes if split in c.sizes])
    histogram = REFERENCE_HISTOGRAMS[name]
    real_mean = sum(k * v for k, v in histogram.items()) / sum(histogram.values())
    assert sizes.min() >= min(histogram)
    assert abs(sizes.mean() - real_mean) / real_mean < 0.15
    if name != "lfw":  # the LFW plan may grow its largest person for the pairs
        assert sizes.max() <= max(histogram)


def test_inshop_test_items_have_query_and_gallery_images() -> None:
    classes = plan_classes("inshop", 0.1, np.random.default_rng(0))
    test = [c for c in classes if "train" not in c.sizes]
    assert test and all(c.sizes["query"] >= 1 and c.sizes["gallery"] >= 1 for c in test)


def test_lfw_plan_grows_until_it_can_give_3000_matched_pairs() -> None:
    classes = plan_classes("lfw", 0.02, np.random.default_rng(0))
    assert matched_capacity(np.array([c.total for c in classes])) >= 3000


# --- layouts on disk -----------------------------------------------------------------


def test_sop_layout_and_disjoint_classes(generated) -> None:
    root = generated["sop"]
    train, test = (read_rows(root / f"Ebay_{s}.txt", 0) for s in ("train", "test"))
    assert train[0] == test[0] == ["image_id", "class_id", "super_class_id", "path"]
    train, test = train[1:], test[1:]
    assert {r[1] for r in train}.isdisjoint({r[1] for r in test})
    assert [int(r[0]) for r in train] == list(range(1, len(train) + 1))
    assert all((root / r[3]).is_file() and 1 <= int(r[2]) <= 12 for r in train + test)
    counts = summary(root)["splits"]
    assert counts["train"] == {"images": len(train), "classes": len({r[1] for r in train})}
    assert counts["test"] == {"images": len(test), "classes": len({r[1] for r in test})}
    assert len(image_files(root)) == len(train) + len(test)


def test_inshop_layout_and_disjoint_items(generated) -> None:
    root = generated["inshop"]
    lines = (root / "list_eval_partition.txt").read_text().splitlines()
    assert int(lines[0]) == len(lines) - 2
    assert lines[1].split() == ["image_name", "item_id", "evaluation_status"]
    rows = [line.split() for line in lines[2:]]
    items = {
        split: {r[1] for r in rows if r[2] == split} for split in ("train", "query", "gallery")
    }
    assert items["train"].isdisjoint(items["query"] | items["gallery"])
    assert items["query"] == items["gallery"]  # every query has its item in the gallery
    assert all(r[0].startswith("img/") and (root / r[0]).is_file() for r in rows)
    counts = summary(root)["splits"]
    for split in ("train", "query", "gallery"):
        assert counts[split]["images"] == sum(r[2] == split for r in rows)
        assert counts[split]["classes"] == len(items[split])


def test_faces_layout_is_a_folder_per_identity(generated) -> None:
    root = generated["faces"]
    folders = sorted(p for p in root.iterdir() if p.is_dir())
    counts = summary(root)["splits"]["train"]
    assert len(folders) == counts["classes"]
    assert sum(len(list(f.glob("*.jpg"))) for f in folders) == counts["images"]


def test_lfw_layout(generated) -> None:
    root = generated["lfw"]
    people = sorted(p for p in root.iterdir() if p.is_dir())
    for person in people:
        names = sorted(p.name for p in person.iterdir())
        assert names == [f"{person.name}_{k:04d}.jpg" for k in range(1, len(names) + 1)]
    assert summary(root)["splits"]["test"]["classes"] == len(people)


def test_imagenet_layout_has_the_same_classes_in_train_and_val(generated) -> None:
    root = generated["imagenet"]
    train = {p.name: len(list(p.glob("*.JPEG"))) for p in (root / "train").iterdir()}
    val = {p.name: len(list(p.glob("*.JPEG"))) for p in (root / "val").iterdir()}
    assert set(train) == set(val) and len(train) == 10
    assert set(train.values()) == {IMAGENET_TRAIN} and set(val.values()) == {IMAGENET_VAL}


@pytest.mark.parametrize("shape", SHAPES)
def test_images_decode_at_the_requested_size(generated, shape: str) -> None:
    files = image_files(generated[shape])
    assert len(files) == summary(generated[shape])["images"]
    for path in files[:: max(1, len(files) // 20)]:
        with Image.open(path) as image:
            assert image.format == "JPEG" and image.mode == "RGB"
            assert image.size == (SIZE, SIZE)


# --- LFW pairs -----------------------------------------------------------------------


def parse_pairs(root: Path) -> tuple[str, list[list[str]]]:
    lines = (root / "pairs.txt").read_text().splitlines()
    return lines[0], [line.split("\t") for line in lines[1:]]


def test_pairs_follow_lfw_structure(generated) -> None:
    root = generated["lfw"]
    header, rows = parse_pairs(root)
    assert header == "10\t300" and len(rows) == 6000
    for fold in range(10):
        block = rows[fold * 600 : (fold + 1) * 600]
        assert [len(r) for r in block] == [3] * 300 + [4] * 300
    images = set()
    for row in rows:
        if len(row) == 3:
            a, b = (row[0], int(row[1])), (row[0], int(row[2]))
            assert a[1] != b[1]
        else:
            a, b = (row[0], int(row[1])), (row[2], int(row[3]))
            assert a[0] != b[0]
        for name, number in (a, b):
            assert (root / name / f"{name}_{number:04d}.jpg").is_file()
        images.add(frozenset((a, b)))
    assert len(images) == 6000  # distinct pairs
    assert summary(root)["pairs"] == 6000


def test_too_small_lfw_scale_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="larger --scale"):
        generate("lfw", 0.0001, SIZE, 0, tmp_path / "lfw")
    assert not (tmp_path / "lfw").exists()


# --- identities and determinism ------------------------------------------------------


def test_every_shape_has_its_own_stream_and_layout() -> None:
    from irnoise.data.datasets import SYNTHETIC_LAYOUTS

    assert tuple(STREAMS) == SHAPES and len(set(STREAMS.values())) == len(SHAPES)
    assert set(SYNTHETIC_LAYOUTS) == set(SHAPES)
    assert parser().parse_args(["--shape", "lfw", "--out", "x"]).scale > 0


def test_faces_and_lfw_identities_are_disjoint() -> None:
    """Separate prototype streams: no LFW person is a faces identity, even with one seed."""
    assert STREAMS["faces"] != STREAMS["lfw"]
    faces = {class_prototype(3, STREAMS["faces"], c) for c in range(200)}
    lfw = {class_prototype(3, STREAMS["lfw"], c) for c in range(200)}
    assert len(faces) == len(lfw) == 200 and faces.isdisjoint(lfw)


def test_sop_train_and_test_prototypes_differ() -> None:
    _, layout, _ = plan_dataset("sop", 0.005, 7)
    train = {s.cls for s in layout.images if s.split == "train"}
    test = {s.cls for s in layout.images if s.split == "test"}
    assert train.isdisjoint(test)
    stream = STREAMS["sop"]
    train_protos = {class_prototype(7, stream, c) for c in train}
    assert train_protos.isdisjoint({class_prototype(7, stream, c) for c in test})


def tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_same_arguments_give_identical_files_whatever_the_threads(generated, tmp_path) -> None:
    generate("sop", SMALL["sop"], SIZE, 7, tmp_path / "again", threads=1)
    assert tree(tmp_path / "again") == tree(generated["sop"])
    assert not list(tmp_path.glob(".again.*"))  # the temporary directory is gone


def test_another_seed_gives_other_images(generated, tmp_path) -> None:
    generate("sop", SMALL["sop"], SIZE, 8, tmp_path / "other", threads=1)
    ours, theirs = tree(generated["sop"]), tree(tmp_path / "other")
    shared = set(ours) & set(theirs)
    assert not any(ours[k] == theirs[k] for k in shared if k.endswith(".JPG"))


# --- command line --------------------------------------------------------------------


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="irnoise synth")
    synth_command.add_arguments(parser)
    return parser


def test_command_writes_the_layout(tmp_path: Path, capsys) -> None:
    out = tmp_path / "data" / "raw" / "synth_lfw"
    argv = ["--shape", "lfw", "--scale", "0.02", "--image-size", "24", "--seed", "4"]
    args = parser().parse_args([*argv, "--out", str(out), "--threads", "2"])
    synth_command.run(args)
    assert (out / "pairs.txt").is_file() and summary(out)["image_size"] == 24
    assert "6000 pairs" in capsys.readouterr().err


def test_cli_entry_point(tmp_path: Path) -> None:
    from irnoise import cli

    out = tmp_path / "sop"
    args = ["synth", "--shape", "sop", "--scale", "0.005", "--image-size", "16", "--out", str(out)]
    assert cli.main(args) == 0
    assert (out / "Ebay_train.txt").is_file()
    assert cli.main(["synth", "--shape", "sop", "--image-size", "8", "--out", str(out)]) == 2


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--shape", "cifar"], "invalid choice: 'cifar'"),
        (["--shape", "sop", "--scale", "0"], "must be a positive number"),
        (["--shape", "sop", "--scale", "-1"], "must be a positive number"),
        (["--shape", "sop", "--scale", "lots"], "expected a number"),
    ],
)
def test_bad_arguments_are_refused_by_the_parser(argv, message, tmp_path, capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        parser().parse_args([*argv, "--out", str(tmp_path / "x")])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"shape": "cifar"}, "unknown synthetic shape 'cifar'; expected one of sop, inshop"),
        ({"scale": 0.0}, "--scale must be a positive number"),
        ({"scale": float("nan")}, "--scale must be a positive number"),
        ({"image_size": 8}, "--image-size must be between 16 and"),
        ({"seed": -1}, "--seed must be a non-negative integer"),
        ({"threads": 0}, "--threads must be at least 1"),
    ],
)
def test_bad_arguments_are_user_errors(kwargs, message, tmp_path: Path) -> None:
    arguments = {"shape": "sop", "scale": 0.005, "image_size": 32, "seed": 0, "threads": 1}
    arguments.update(kwargs)
    with pytest.raises(UserError, match=re.escape(message)):
        generate(out_dir=tmp_path / "x", **arguments)
    assert not (tmp_path / "x").exists()


# --- read back by the dataset adapters -----------------------------------------------


@pytest.mark.parametrize("shape", SHAPES)
def test_adapter_reads_the_synthetic_set_back(generated, shape: str) -> None:
    from irnoise.data import datasets

    root = generated[shape]
    index = datasets.load("synthetic", root, {"shape": shape})
    expected = summary(root)["splits"]
    assert index.counts() == {split: entry["images"] for split, entry in expected.items()}
    for split, entry in expected.items():
        assert len(index.classes(split)) == entry["classes"]
    if shape == "lfw":
        assert len(index.pairs) == 6000
        test = index.splits["test"]
        assert Counter(p.is_same for p in index.pairs) == {True: 3000, False: 3000}
        assert all((test[p.row_a].label == test[p.row_b].label) == p.is_same for p in index.pairs)
        assert [p.fold for p in index.pairs] == [k // 600 for k in range(6000)]
