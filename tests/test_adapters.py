"""Dataset adapters on fixture trees built from the real annotation files, and on bad input.

The real-data tests rebuild each dataset's tree from `shared/data/` (every listed path gets
a tiny JPEG) and check the counts published for the dataset. The small trees cover the
layouts without public annotation files (MS-Celeb-1M, ImageNet, folder, CSV).
"""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

import pytest

from irnoise.data import datasets
from irnoise.data.datasets import recordio
from irnoise.data.datasets.base import DatasetIndex
from irnoise.errors import UserError

from dataset_fixtures import (
    MAGIC_BYTES,
    SHARED_DATA,
    build_cars,
    build_class_folders,
    build_csv,
    build_cub,
    build_flat_val,
    build_imagenet,
    build_inshop,
    build_lfw,
    build_ms1m_recordio,
    build_sop,
    pack_record,
    tiny_jpeg,
    write_images,
    write_recordio,
)

# Tests that build their tree from the real annotation files need them beside the repo.
real_data = pytest.mark.skipif(not SHARED_DATA.is_dir(), reason=f"no {SHARED_DATA}")


# The whole annotation lists, with an image at every 20th path: creating 200,000 files on
# a disk shared by busy neighbors takes a minute, and these adapters never open images.
IMAGES_EVERY = 20


def n_classes(index: DatasetIndex, split: str) -> int:
    return len(index.classes(split))


def assert_consistent(index: DatasetIndex) -> None:
    """Keys unique per split; every image of the tree is some record's, and reads back."""
    by_path = {}
    for records in index.splits.values():
        assert len({record.key for record in records}) == len(records)
        by_path.update((record.path, record) for record in records)
    written = sorted(index.root.rglob("*.[jJ][pP][gG]"))
    assert written and all(path in by_path for path in written)
    assert by_path[written[0]].read_bytes() == tiny_jpeg()


# Real annotation files, whole lists.


@pytest.fixture(scope="module")
def sop(tmp_path_factory: pytest.TempPathFactory) -> DatasetIndex:
    return datasets.load(
        "sop", build_sop(tmp_path_factory.mktemp("sop"), images_every=IMAGES_EVERY)
    )


@real_data
def test_sop_real_counts(sop: DatasetIndex) -> None:
    assert sop.counts() == {"train": 59_551, "test": 60_502}
    assert (n_classes(sop, "train"), n_classes(sop, "test")) == (11_318, 11_316)
    assert not sop.classes("train") & sop.classes("test")
    first = sop.splits["train"][0]
    assert (first.key, first.label) == ("bicycle_final/111085122871_0.JPG", "1")
    assert sop.splits["test"][-1].label == "22634"
    assert_consistent(sop)


@pytest.fixture(scope="module")
def inshop(tmp_path_factory: pytest.TempPathFactory) -> DatasetIndex:
    return datasets.load(
        "inshop", build_inshop(tmp_path_factory.mktemp("inshop"), images_every=IMAGES_EVERY)
    )


@real_data
def test_inshop_real_counts(inshop: DatasetIndex) -> None:
    assert inshop.counts() == {"train": 25_882, "query": 14_218, "gallery": 12_612}
    assert n_classes(inshop, "train") == 3_997
    test_items = inshop.classes("query") | inshop.classes("gallery")
    assert len(test_items) == 3_985 and not test_items & inshop.classes("train")
    first = inshop.splits["gallery"][0]
    assert first.key == "img/WOMEN/Blouses_Shirts/id_00000001/02_1_front.jpg"
    assert first.label == "id_00000001"
    assert_consistent(inshop)


@pytest.fixture(scope="module")
def lfw(tmp_path_factory: pytest.TempPathFactory) -> DatasetIndex:
    return datasets.load("lfw", build_lfw(tmp_path_factory.mktemp("lfw")))


@real_data
def test_lfw_real_counts_and_pairs(lfw: DatasetIndex) -> None:
    assert lfw.counts() == {"test": 13_233}
    assert n_classes(lfw, "test") == 5_749
    keys = [record.key for record in lfw.splits["test"]]
    assert keys == sorted(keys)
    assert len(lfw.pairs) == 6_000
    per_fold = Counter((pair.fold, pair.is_same) for pair in lfw.pairs)
    assert per_fold == {(fold, same): 300 for fold in range(10) for same in (True, False)}
    # The first line of pairs.txt: Abel_Pacheco 1 4; the last: Slobodan_Milosevic 2 / Sok_An 1.
    first, last = lfw.pairs[0], lfw.pairs[-1]
    assert keys[first.row_a] == "Abel_Pacheco/Abel_Pacheco_0001.jpg"
    assert keys[first.row_b] == "Abel_Pacheco/Abel_Pacheco_0004.jpg"
    assert (keys[last.row_a], keys[last.row_b]) == (
        "Slobodan_Milosevic/Slobodan_Milosevic_0002.jpg",
        "Sok_An/Sok_An_0001.jpg",
    )
    records = lfw.splits["test"]
    assert all((records[p.row_a].label == records[p.row_b].label) == p.is_same for p in lfw.pairs)
    assert_consistent(lfw)


@pytest.fixture(scope="module")
def cub(tmp_path_factory: pytest.TempPathFactory) -> DatasetIndex:
    return datasets.load(
        "cub", build_cub(tmp_path_factory.mktemp("cub"), images_every=IMAGES_EVERY)
    )


@real_data
def test_cub_real_counts(cub: DatasetIndex) -> None:
    assert cub.counts() == {"train": 5_864, "test": 5_924}
    assert cub.classes("train") == {str(c) for c in range(1, 101)}
    assert cub.classes("test") == {str(c) for c in range(101, 201)}
    assert cub.splits["train"][0].key.startswith("images/001.Black_footed_Albatross/")
    assert_consistent(cub)


@pytest.fixture(scope="module")
def cars(tmp_path_factory: pytest.TempPathFactory) -> DatasetIndex:
    return datasets.load(
        "cars", build_cars(tmp_path_factory.mktemp("cars"), images_every=IMAGES_EVERY)
    )


@real_data
def test_cars_real_counts(cars: DatasetIndex) -> None:
    assert cars.counts() == {"train": 8_054, "test": 8_131}
    assert cars.classes("train") == {str(c) for c in range(1, 99)}
    assert cars.classes("test") == {str(c) for c in range(99, 197)}
    # Both official halves are pooled; their file names collide, their keys do not.
    keys = {record.key for split in cars.splits.values() for record in split}
    assert {"cars_train/00002.jpg", "cars_test/00002.jpg"} <= keys
    assert_consistent(cars)


@real_data
def test_subset_builders_keep_both_splits(tmp_path: Path) -> None:
    index = datasets.load("sop", build_sop(tmp_path / "sop", every=500))
    assert index.counts() == {"train": 120, "test": 122}
    index = datasets.load("inshop", build_inshop(tmp_path / "inshop", every=500))
    assert sum(index.counts().values()) == 106


# Layouts without public annotation files: small generated trees.


def test_ms1m_folder(tmp_path: Path) -> None:
    build_class_folders(tmp_path, {"m.0b": 2, "m.0a": 3})
    (tmp_path / "property").write_text("2,112,112\n")  # insightface's side file is ignored
    index = datasets.load("ms1m", tmp_path)
    keys = [record.key for record in index.splits["train"]]
    assert keys == [
        "m.0a/0000.jpg",
        "m.0a/0001.jpg",
        "m.0a/0002.jpg",
        "m.0b/0000.jpg",
        "m.0b/0001.jpg",
    ]
    assert [record.label for record in index.splits["train"]] == ["m.0a"] * 3 + ["m.0b"] * 2


def awkward_payloads() -> list[bytes]:
    """Image payloads that exercise the framing: aligned magic numbers split a record."""
    jpeg = tiny_jpeg()
    return [
        jpeg,
        MAGIC_BYTES + jpeg[:9],  # magic at the first aligned position: an empty first part
        jpeg[:8] + MAGIC_BYTES + jpeg[:8] + MAGIC_BYTES,  # two splits, ends with a magic
        b"ab" + MAGIC_BYTES + b"c",  # unaligned magic: not split; odd length: padded
        b"",
    ]


@pytest.mark.parametrize("array_labels", [False, True])
def test_ms1m_recordio(tmp_path: Path, array_labels: bool) -> None:
    payloads = awkward_payloads()
    images = [(label, payload) for label, payload in zip([0, 0, 1, 2, 2], payloads, strict=True)]
    build_ms1m_recordio(tmp_path, images, array_labels=array_labels)
    index = datasets.load("ms1m", tmp_path)  # recordio is the default when train.rec exists
    records = index.splits["train"]
    assert [record.key for record in records] == ["1", "2", "3", "4", "5"]
    assert [record.label for record in records] == ["0", "0", "1", "2", "2"]
    assert [record.read_bytes() for record in records] == payloads


def test_recordio_without_header_record(tmp_path: Path) -> None:
    records = [(i, pack_record(tiny_jpeg(), float(label), i)) for i, label in enumerate([7, 7, 9])]
    write_recordio(tmp_path / "train.rec", tmp_path / "train.idx", records)
    labels = recordio.image_labels(tmp_path / "train.rec", tmp_path / "train.idx")
    assert [(index, label) for index, _, label in labels] == [(0, 7), (1, 7), (2, 9)]


def test_recordio_corrupt_offset_is_reported(tmp_path: Path) -> None:
    build_ms1m_recordio(tmp_path, [(0, tiny_jpeg())])
    (tmp_path / "train.idx").write_text("0\t0\n1\t3\n")
    with pytest.raises(UserError, match=r"train\.rec is not readable.*bad magic"):
        datasets.load("ms1m", tmp_path, {"format": "recordio"})
    with pytest.raises(recordio.RecordIOError):
        recordio.read_image_record(tmp_path / "train.rec", 3)


def test_imagenet_val_folders(tmp_path: Path) -> None:
    build_imagenet(tmp_path, {"n01": 3, "n02": 2}, {"n01": 1, "n02": 2})
    index = datasets.load("imagenet", tmp_path)
    assert index.counts() == {"train": 5, "val": 3}
    assert index.splits["val"][0].key == "val/n01/0000.JPEG"
    assert index.classes("val") == {"n01", "n02"}


@pytest.mark.parametrize("form", ["one per line", "file wnid", "file stem wnid", "ids"])
def test_imagenet_flat_val(tmp_path: Path, form: str) -> None:
    build_class_folders(tmp_path / "train", {"n01": 2, "n02": 2}, ext=".JPEG")
    wnids = ["n02", "n01", "n02"]
    names = build_flat_val(tmp_path, wnids)
    options = {"val_labels": "val_labels.txt"}
    if form == "one per line":
        lines = wnids
    elif form == "ids":
        # ILSVRC2012_IDs: the synset list maps ID 1 to n02 and ID 2 to n01.
        (tmp_path / "synsets.txt").write_text("n02 second\nn01 first\n")
        options["val_synsets"] = "synsets.txt"
        lines = ["1", "2", "1"]
    else:
        named = names if form == "file wnid" else [Path(name).stem for name in names]
        lines = [f"{name} {wnid}" for name, wnid in reversed(list(zip(named, wnids, strict=True)))]
    (tmp_path / "val_labels.txt").write_text("\n".join(lines) + "\n")
    index = datasets.load("imagenet", tmp_path, options)
    assert [record.key for record in index.splits["val"]] == [f"val/{name}" for name in names]
    assert [record.label for record in index.splits["val"]] == wnids


def test_folder_default_and_configured_splits(tmp_path: Path) -> None:
    build_class_folders(tmp_path / "train", {"dog": 2, "cat": 1}, ext=".PNG")
    build_class_folders(tmp_path / "test", {"owl": 2})
    build_class_folders(tmp_path / "test" / "owl" / "nested", {"young": 1})
    (tmp_path / "train" / "dog" / "notes.txt").write_text("not an image")
    index = datasets.load("folder", tmp_path)
    assert index.counts() == {"train": 3, "test": 3}
    assert [record.key for record in index.splits["train"]] == [
        "train/cat/0000.PNG",
        "train/dog/0000.PNG",
        "train/dog/0001.PNG",
    ]
    assert index.splits["test"][-1].key == "test/owl/nested/young/0000.jpg"
    assert index.splits["test"][-1].label == "owl"
    index = datasets.load("folder", tmp_path, {"splits": {"gallery": "test"}})
    assert index.counts() == {"gallery": 3}


def test_csv_with_query_gallery_flags(tmp_path: Path) -> None:
    rows = [
        ["a/1.jpg", "dog", "train", "", ""],
        ["a/2.jpg", "dog", "train", "0", "0"],
        ["b/1.jpg", "cat", "test", "1", "0"],
        ["b/2.jpg", "cat", "test", "true", "yes"],
        ["b/3.jpg", "cat", "test", "0", "1"],
    ]
    build_csv(tmp_path, rows, ["path", "label", "split", "is_query", "is_gallery"])
    index = datasets.load("csv", tmp_path)
    assert index.counts() == {"train": 2, "test": 3, "query": 2, "gallery": 2}
    assert [record.key for record in index.splits["query"]] == ["b/1.jpg", "b/2.jpg"]
    assert [record.key for record in index.splits["gallery"]] == ["b/2.jpg", "b/3.jpg"]
    assert index.splits["test"][0].read_bytes() == tiny_jpeg()


def test_csv_elsewhere_without_flags(tmp_path: Path) -> None:
    build_csv(tmp_path, [["x.jpg", "1", "val"]], ["path", "label", "split"])
    shutil.move(tmp_path / "labels.csv", tmp_path / "lists.csv")
    index = datasets.load("csv", tmp_path, {"file": "lists.csv"})
    assert index.counts() == {"val": 1}


@pytest.mark.parametrize("cell", ["../x.jpg", "a/../../x.jpg", "/etc/hostname"])
def test_csv_paths_outside_the_root_are_refused(tmp_path: Path, cell: str) -> None:
    root = tmp_path / "root"
    build_csv(root, [["a/1.jpg", "1", "train"]], ["path", "label", "split"])
    write_images(tmp_path, {"x.jpg"})
    with open(root / "labels.csv", "a") as handle:
        handle.write(f"{cell},2,train\n")
    message = rf"labels\.csv line 3: image path '{cell}' lies outside the dataset root {root}"
    with pytest.raises(UserError, match=message + ".*allow_outside_root: true"):
        datasets.load("csv", root)


def test_csv_paths_outside_the_root_when_the_dataset_allows_it(tmp_path: Path) -> None:
    root = tmp_path / "root"
    build_csv(root, [["a/../b.jpg", "1", "train"]], ["path", "label", "split"])  # stays under
    write_images(tmp_path, {"x.jpg"})
    with open(root / "labels.csv", "a") as handle:
        handle.write(f"../x.jpg,2,train\n{tmp_path / 'x.jpg'},2,train\n")
    index = datasets.load("csv", root, {"allow_outside_root": True})
    assert [r.read_bytes() for r in index.splits["train"][1:]] == [tiny_jpeg()] * 2


# Bad input: each error names the problem and what was expected.


def test_missing_root(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="incomplete: missing") as error:
        datasets.load("sop", tmp_path / "absent")
    assert str(tmp_path / "absent") in str(error.value)
    assert "Ebay_train.txt" in str(error.value)  # the expected layout


@real_data
def test_missing_annotation_file(tmp_path: Path) -> None:
    build_sop(tmp_path, every=1000)
    (tmp_path / "Ebay_test.txt").unlink()
    with pytest.raises(UserError) as error:
        datasets.load("sop", tmp_path)
    message = str(error.value)
    assert f"missing {tmp_path / 'Ebay_test.txt'}" in message
    assert "Expected layout" in message and "image_id class_id super_class_id path" in message


@pytest.mark.parametrize(
    ("source", "files"),
    [
        ("inshop", ["list_eval_partition.txt"]),
        ("lfw", ["pairs.txt"]),
        ("cub", ["images.txt", "image_class_labels.txt"]),
        ("cars", ["anno_train.csv", "anno_test.csv"]),
        ("csv", ["labels.csv"]),
        ("imagenet", ["train", "val"]),
    ],
)
def test_missing_files_of_every_layout(tmp_path: Path, source: str, files: list[str]) -> None:
    with pytest.raises(UserError, match="Expected layout") as error:
        datasets.load(source, tmp_path)
    assert all(str(tmp_path / name) in str(error.value) for name in files)


def test_missing_recordio_index(tmp_path: Path) -> None:
    build_ms1m_recordio(tmp_path, [(0, tiny_jpeg())])
    (tmp_path / "train.idx").unlink()
    with pytest.raises(UserError, match=r"(?s)missing .*train\.idx\.\nExpected layout"):
        datasets.load("ms1m", tmp_path)


def test_unknown_source(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"unknown dataset source 'coco'; expected one of"):
        datasets.load("coco", tmp_path)
    with pytest.raises(UserError, match=r"options.format is 'lmdb'; expected one of"):
        datasets.load("ms1m", tmp_path, {"format": "lmdb"})


@real_data
def test_duplicate_keys(tmp_path: Path) -> None:
    build_sop(tmp_path, every=1000)
    lines = (tmp_path / "Ebay_train.txt").read_text().splitlines()
    (tmp_path / "Ebay_train.txt").write_text("\n".join([*lines, lines[1], lines[2]]) + "\n")
    with pytest.raises(UserError, match="duplicate keys in split 'train'") as error:
        datasets.load("sop", tmp_path)
    assert lines[1].split()[3] in str(error.value) and lines[2].split()[3] in str(error.value)


def test_duplicate_keys_in_csv(tmp_path: Path) -> None:
    build_csv(
        tmp_path, [["x.jpg", "a", "train"], ["x.jpg", "b", "train"]], ["path", "label", "split"]
    )
    with pytest.raises(UserError, match=r"duplicate keys in split 'train'.*x\.jpg"):
        datasets.load("csv", tmp_path)


@pytest.mark.parametrize("source", ["folder", "ms1m", "imagenet"])
def test_empty_class(tmp_path: Path, source: str) -> None:
    base = {"folder": tmp_path / "train", "ms1m": tmp_path, "imagenet": tmp_path / "train"}[source]
    build_class_folders(base, {"full": 2, "empty_a": 0, "empty_b": 0})
    build_class_folders(tmp_path / "val", {"full": 1})
    with pytest.raises(UserError, match=r"empty \w+ folders in ") as error:
        datasets.load(source, tmp_path)
    assert "empty_a, empty_b;" in str(error.value)


def test_loose_images_have_no_class(tmp_path: Path) -> None:
    build_class_folders(tmp_path / "train", {"dog": 1})
    write_images(tmp_path / "train", ["stray.jpg"])
    with pytest.raises(UserError, match=r"images directly in .*train belong to no class: stray"):
        datasets.load("folder", tmp_path)


def test_folder_without_splits(tmp_path: Path) -> None:
    build_class_folders(tmp_path / "images", {"dog": 1})
    with pytest.raises(
        UserError, match=r"no split folders \(train, test, query, gallery, val\) in "
    ):
        datasets.load("folder", tmp_path)


def corrupt_line(path: Path, number: int, text: str) -> None:
    """Replace line `number` (1-based) of a text file."""
    lines = path.read_text().splitlines()
    lines[number - 1] = text
    path.write_text("\n".join(lines) + "\n")


@real_data
@pytest.mark.parametrize(
    ("source", "file", "number", "text", "expected"),
    [
        ("sop", "Ebay_train.txt", 3, "2 1 bicycle_final/x.JPG", "4 space-separated fields"),
        ("sop", "Ebay_test.txt", 2, "1 one 1 x.JPG", "an integer class_id"),
        ("sop", "Ebay_train.txt", 1, "id class path", "the header"),
        ("inshop", "list_eval_partition.txt", 4, "img/x.jpg id_1 val", "status one of"),
        ("inshop", "list_eval_partition.txt", 1, "many", "the number of images"),
        ("lfw", "pairs.txt", 5, "Abel_Pacheco\t1", "a matched pair"),
        ("lfw", "pairs.txt", 7, "Abel_Pacheco\tone\t2", "a matched pair"),
        ("lfw", "pairs.txt", 1, "10", "<folds><TAB><pairs per fold>"),
        ("cub", "images.txt", 2, "2", "`image_id path`"),
        ("cub", "image_class_labels.txt", 3, "3 bird", "an integer class_id"),
        ("cars", "anno_train.csv", 4, "x.jpg,1,2,3", "6 comma-separated fields"),
        ("cars", "anno_test.csv", 2, "x.jpg,1,2,3,4,car", "an integer label"),
    ],
)
def test_malformed_line(
    tmp_path: Path, source: str, file: str, number: int, text: str, expected: str
) -> None:
    builders = {"sop": build_sop, "inshop": build_inshop, "cub": build_cub, "cars": build_cars}
    if source == "lfw":
        build_lfw(tmp_path, folds=1)
    else:
        builders[source](tmp_path, every=200)
    corrupt_line(tmp_path / file, number, text)
    with pytest.raises(UserError) as error:
        datasets.load(source, tmp_path)
    message = str(error.value)
    assert f"{tmp_path / file} line {number}: expected" in message
    assert expected in message and repr(text) in message


@pytest.mark.parametrize(
    ("file", "text", "expected"),
    [
        ("labels.csv", "path,label,splitt", "the header `path,label,split"),
        ("labels.csv", "path,label,split,is_querry", "the header"),
    ],
)
def test_malformed_csv_header(tmp_path: Path, file: str, text: str, expected: str) -> None:
    build_csv(tmp_path, [["x.jpg", "a", "train"]], ["path", "label", "split"])
    corrupt_line(tmp_path / file, 1, text)
    with pytest.raises(UserError, match=rf"{file} line 1: expected {expected}"):
        datasets.load("csv", tmp_path)


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        ("x.jpg,a", "3 fields"),
        ("x.jpg,a,holdout", "a split in"),
        ("x.jpg,a,test,maybe,0", "is_query 1/0"),
        ("x.jpg,a,train,1,0", "apply to test rows only"),
    ],
)
def test_malformed_csv_row(tmp_path: Path, row: str, expected: str) -> None:
    header = ["path", "label", "split"] + (["is_query", "is_gallery"] if row.count(",") > 2 else [])
    build_csv(tmp_path, [["y.jpg", "a", "train"] + [""] * (len(header) - 3)], header)
    with open(tmp_path / "labels.csv", "a") as handle:
        handle.write(row + "\n")
    with pytest.raises(UserError, match=rf"labels\.csv line 3: .*{expected}"):
        datasets.load("csv", tmp_path)


def test_malformed_recordio_index(tmp_path: Path) -> None:
    build_ms1m_recordio(tmp_path, [(0, tiny_jpeg())])
    with open(tmp_path / "train.idx", "a") as handle:
        handle.write("7 offset\n")
    with pytest.raises(UserError, match=r"train\.idx line 4: expected `index<TAB>offset`"):
        datasets.load("ms1m", tmp_path)


@real_data
def test_inshop_count_mismatch(tmp_path: Path) -> None:
    build_inshop(tmp_path, every=1000)
    corrupt_line(tmp_path / "list_eval_partition.txt", 1, "52712")
    with pytest.raises(UserError, match="declares 52712 images on line 1 but lists 53"):
        datasets.load("inshop", tmp_path)


@real_data
def test_lfw_pair_naming_a_missing_image(tmp_path: Path) -> None:
    build_lfw(tmp_path, folds=1)
    shutil.rmtree(tmp_path / "Abel_Pacheco")
    with pytest.raises(UserError, match="names images that are not in") as error:
        datasets.load("lfw", tmp_path)
    assert "Abel_Pacheco/Abel_Pacheco_0001.jpg (line 2)" in str(error.value)


@real_data
def test_lfw_pair_count_must_match_header(tmp_path: Path) -> None:
    build_lfw(tmp_path, folds=2)
    assert len(datasets.load("lfw", tmp_path).pairs) == 1_200
    corrupt_line(tmp_path / "pairs.txt", 1, "2\t301")
    with pytest.raises(UserError, match="lists 1200 pairs but its first line promises 2 folds"):
        datasets.load("lfw", tmp_path)


@real_data
def test_cub_image_without_class(tmp_path: Path) -> None:
    build_cub(tmp_path, every=500)
    lines = (tmp_path / "image_class_labels.txt").read_text().splitlines()
    (tmp_path / "image_class_labels.txt").write_text("\n".join(lines[1:]) + "\n")
    with pytest.raises(UserError, match=r"has no class for image ids 1 of"):
        datasets.load("cub", tmp_path)


@pytest.mark.parametrize(
    ("labels", "options", "expected"),
    [
        (None, {}, "holds images but no class folders: set options.val_labels"),
        (["n01"], {}, "has 1 labels for 2 images"),
        (["1", "1"], {}, "label '1' is not a train class; numeric ILSVRC2012_IDs need"),
        (["ILSVRC2012_val_00000009.JPEG n01"], {}, "labels files that are not in"),
        (["n01 extra words"], {}, "expected one label per line"),
    ],
)
def test_imagenet_bad_val_labels(
    tmp_path: Path, labels: list[str] | None, options: dict, expected: str
) -> None:
    build_class_folders(tmp_path / "train", {"n01": 1})
    build_flat_val(tmp_path, ["n01", "n01"])
    if labels is not None:
        (tmp_path / "labels.txt").write_text("\n".join(labels) + "\n")
        options = {**options, "val_labels": "labels.txt"}
    with pytest.raises(UserError, match=expected):
        datasets.load("imagenet", tmp_path, options)
