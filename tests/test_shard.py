"""`irnoise shard`: shards read back with plain webdataset match the manifest exactly."""

from __future__ import annotations

import argparse
import io
import json
import tarfile
from pathlib import Path

import numpy as np
import pytest
import webdataset as wds
from PIL import Image

from irnoise.cli import main as irnoise_main
from irnoise.commands import shard as shard_command
from irnoise.data import images, ustar
from irnoise.data.datasets.base import DatasetIndex, Pair, Record
from irnoise.data.sharding import write_shards
from irnoise.data.ustar import tar_header
from irnoise.errors import UserError

IMAGE_SIZE = 32


def save_image(path: Path, size: tuple[int, int], mode: str = "RGB", seed: int = 0) -> Path:
    """A smooth random image (compresses like a photo, unlike pure noise)."""
    rng = np.random.default_rng(seed)
    width, height = size
    channels = {"RGB": 3, "RGBA": 4, "CMYK": 4, "L": 1}[mode]
    coarse = rng.integers(0, 256, (4, 4, channels), dtype=np.uint8)
    pixels = np.asarray(Image.fromarray(coarse.squeeze()).resize(size, Image.Resampling.BILINEAR))
    image = Image.fromarray(pixels.reshape(height, width, channels).squeeze(), mode)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)
    return path


def make_index(root: Path) -> DatasetIndex:
    """Train: kept JPEGs, a big JPEG, PNGs; test: a class shared with train and new ones."""
    train = [
        Record("small", save_image(root / "a/small.jpg", (30, 20), seed=1), "dog"),
        Record("big", save_image(root / "a/big.jpg", (120, 64), seed=2), "cat"),
        Record("png", save_image(root / "b/png.png", (24, 28), seed=3), "dog"),
        Record("tall", save_image(root / "b/tall.png", (40, 90), "RGBA", seed=4), "bird"),
        Record("grey", save_image(root / "c/grey.jpg", (32, 32), "L", seed=5), "cat"),
        Record("cmyk", save_image(root / "c/cmyk.jpg", (16, 16), "CMYK", seed=6), "fish"),
    ]
    test = [
        Record(f"t{i}", save_image(root / f"t/{i}.jpg", (20 + i, 24), seed=10 + i), label)
        for i, label in enumerate(["zebra", "cat", "yak", "zebra", "yak"])
    ]
    pairs = [Pair(0, 3, True, 0), Pair(1, 2, False, 0), Pair(2, 4, True, 1), Pair(0, 4, False, 1)]
    return DatasetIndex("test", root, {"train": train, "test": test}, pairs)


@pytest.fixture
def index(tmp_path: Path) -> DatasetIndex:
    return make_index(tmp_path / "raw")


def shard(index: DatasetIndex, out: Path, **kwargs) -> dict:
    settings = {"image_size": IMAGE_SIZE, "shard_size": 4, "threads": 1} | kwargs
    return write_shards(index, out, **settings)


def read_split(out: Path, split: str) -> list[dict]:
    manifest = json.loads((out / "manifest.json").read_text())
    urls = [str(out / name) for name in manifest["splits"][split]["shards"]]
    return list(wds.WebDataset(urls, shardshuffle=False))


def test_read_back_with_webdataset_matches_manifest(index: DatasetIndex, tmp_path: Path) -> None:
    out = tmp_path / "shards"
    returned = shard(index, out)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest == returned
    assert manifest["created_by"] == "irnoise"
    assert manifest["image_size"] == IMAGE_SIZE and manifest["shard_size"] == 4
    assert set(manifest["versions"]) == {
        "python", "numpy", "pillow", "simplejpeg", "webdataset", "irnoise"
    }  # fmt: skip
    for split, records in index.splits.items():
        entry = manifest["splits"][split]
        samples = read_split(out, split)
        labels = np.load(out / entry["labels"])
        assert labels.dtype == np.int64
        assert entry["count"] == len(samples) == len(labels) == len(records)
        assert entry["classes"] == len(set(labels.tolist()))
        assert [s["__key__"] for s in samples] == [
            f"{split}_{row:09d}" for row in range(len(records))
        ]
        assert [int(s["idx"]) for s in samples] == list(range(len(records)))
        assert [int(s["cls"]) for s in samples] == labels.tolist()
        assert all(set(s) >= {"jpg", "cls", "idx"} for s in samples)


def test_train_classes_come_first(index: DatasetIndex, tmp_path: Path) -> None:
    out = tmp_path / "shards"
    shard(index, out)
    classes = json.loads((out / "classes.json").read_text())
    assert classes == ["dog", "cat", "bird", "fish", "zebra", "yak"]
    assert np.load(out / "train_labels.npy").tolist() == [0, 1, 0, 2, 1, 3]
    assert np.load(out / "test_labels.npy").tolist() == [4, 1, 5, 4, 5]


def test_shard_size_splits_samples(index: DatasetIndex, tmp_path: Path) -> None:
    manifest = shard(index, tmp_path / "shards", shard_size=4)
    assert manifest["splits"]["train"]["shards"] == ["train-000000.tar", "train-000001.tar"]
    assert manifest["splits"]["test"]["shards"] == ["test-000000.tar", "test-000001.tar"]
    with tarfile.open(tmp_path / "shards" / "train-000001.tar") as archive:
        members = archive.getmembers()
    assert [m.name for m in members[:3]] == [
        "train_000000004.cls",
        "train_000000004.idx",
        "train_000000004.jpg",
    ]
    assert len(members) == 2 * 3
    # Reproducible metadata: nothing about who wrote the shard or when.
    assert {(m.mtime, m.uid, m.gid, m.uname, m.gname, m.mode) for m in members} == {
        (0, 0, 0, "irnoise", "irnoise", 0o444)
    }


def test_tar_header_matches_tarfile() -> None:
    info = tarfile.TarInfo("train_000000001.jpg")
    info.size, info.mode, info.mtime = 12345, 0o444, 0
    info.uname = info.gname = "irnoise"
    expected = info.tobuf(tarfile.USTAR_FORMAT)
    assert tar_header(b"train_000000001.jpg", 12345) == expected


def test_short_writes_are_completed(
    index: DatasetIndex, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shard(index, tmp_path / "whole")

    def part_of_first_buffer(fd: int, buffers: list[bytes]) -> int:
        return ustar.os.write(fd, buffers[0][:100])

    monkeypatch.setattr(ustar.os, "writev", part_of_first_buffer)
    shard(index, tmp_path / "short")
    assert all_files(tmp_path / "short") == all_files(tmp_path / "whole")


def decoded(samples: list[dict], row: int) -> Image.Image:
    return Image.open(io.BytesIO(samples[row]["jpg"]))


def test_images_resized_once_and_reencoded_only_when_needed(
    index: DatasetIndex, tmp_path: Path
) -> None:
    out = tmp_path / "shards"
    shard(index, out)
    train = read_split(out, "train")
    records = index.splits["train"]
    # Small JPEGs (color and grey) are copied byte for byte.
    assert train[0]["jpg"] == records[0].path.read_bytes()
    assert train[4]["jpg"] == records[4].path.read_bytes()
    # A big JPEG: shorter side shrunk to the image size, aspect ratio kept.
    assert decoded(train, 1).size == (60, IMAGE_SIZE)
    # A small PNG: re-encoded to a JPEG at its own size, never enlarged.
    png = decoded(train, 2)
    assert (png.format, png.mode, png.size) == ("JPEG", "RGB", (24, 28))
    # A tall transparent PNG: resized and flattened to RGB.
    tall = decoded(train, 3)
    assert (tall.format, tall.mode, tall.size) == ("JPEG", "RGB", (IMAGE_SIZE, 72))
    # A CMYK JPEG is small but not RGB-compatible: re-encoded.
    cmyk = decoded(train, 5)
    assert (cmyk.mode, cmyk.size) == ("RGB", (16, 16))
    assert train[5]["jpg"] != records[5].path.read_bytes()


def test_resized_pixels_resemble_the_original(tmp_path: Path) -> None:
    path = save_image(tmp_path / "big.jpg", (256, 128), seed=7)
    resized = Image.open(io.BytesIO(images.prepare(path.read_bytes(), 64)))
    reference = Image.open(path).convert("RGB").resize(resized.size, Image.Resampling.LANCZOS)
    difference = np.abs(np.asarray(resized, float) - np.asarray(reference, float)).mean()
    assert resized.size == (128, 64)
    assert difference < 4


def test_target_size_keeps_aspect_ratio_and_never_enlarges() -> None:
    assert images.target_size((1000, 500), 256) == (512, 256)
    assert images.target_size((333, 1000), 256) == (256, 769)
    assert images.target_size((100, 300), 256) == (100, 300)


def all_files(directory: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(directory.iterdir())}


def test_identical_output_whatever_the_thread_count(index: DatasetIndex, tmp_path: Path) -> None:
    shard(index, tmp_path / "one", threads=1)
    shard(index, tmp_path / "two", threads=2)
    shard(index, tmp_path / "again", threads=1)
    one = all_files(tmp_path / "one")
    assert one == all_files(tmp_path / "two") == all_files(tmp_path / "again")


def test_pairs_written_as_rows_into_test(index: DatasetIndex, tmp_path: Path) -> None:
    out = tmp_path / "shards"
    manifest = shard(index, out)
    pairs = np.load(out / "pairs.npy")
    assert pairs.dtype == np.int64
    assert pairs.tolist() == [[0, 3, 1, 0], [1, 2, 0, 0], [2, 4, 1, 1], [0, 4, 0, 1]]
    assert manifest["pairs"] == 4


def test_no_pairs_file_without_pairs(index: DatasetIndex, tmp_path: Path) -> None:
    index.pairs = []
    manifest = shard(index, tmp_path / "shards")
    assert manifest["pairs"] == 0
    assert not (tmp_path / "shards" / "pairs.npy").exists()


def break_images(index: DatasetIndex) -> list[Path]:
    """A truncated JPEG, a text file named .jpg and a missing file."""
    truncated = index.splits["train"][1].path
    truncated.write_bytes(truncated.read_bytes()[:300])
    text = index.splits["test"][2].path
    text.write_text("not an image")
    missing = index.splits["test"][4].path
    missing.unlink()
    return [truncated, text, missing]


def test_corrupt_images_stop_the_job_with_their_list(index: DatasetIndex, tmp_path: Path) -> None:
    broken = break_images(index)
    out = tmp_path / "shards"
    with pytest.raises(UserError) as error:
        shard(index, out, threads=2)
    message = str(error.value)
    assert message.startswith("3 corrupt or unreadable image(s)")
    for path in broken:
        assert str(path) in message
    assert "skip_corrupt: true" in message
    # Nothing half-written is left behind, not even the temporary directory.
    assert list(tmp_path.iterdir()) == [tmp_path / "raw"]


def test_long_failure_list_is_shortened(tmp_path: Path) -> None:
    records = [Record(f"k{i}", tmp_path / f"missing{i}.jpg", "ab"[i % 2]) for i in range(25)]
    index = DatasetIndex("test", tmp_path, {"train": records})
    with pytest.raises(UserError, match=r"(?s)25 corrupt.*\.\.\. and 5 more") as error:
        shard(index, tmp_path / "shards")
    assert "missing19.jpg" in str(error.value) and "missing20.jpg" not in str(error.value)


def test_skip_corrupt_leaves_them_out_and_lists_them(index: DatasetIndex, tmp_path: Path) -> None:
    broken = break_images(index)
    out = tmp_path / "shards"
    manifest = shard(index, out, skip_corrupt=True, threads=2)
    skipped = manifest["skipped"]
    assert [(s["split"], s["key"], s["path"]) for s in skipped] == [
        ("train", "big", str(broken[0])),
        ("test", "t2", str(broken[1])),
        ("test", "t4", str(broken[2])),
    ]
    assert all(s["error"] for s in skipped)
    assert manifest["splits"]["train"]["count"] == 5
    assert manifest["splits"]["test"]["count"] == 3
    # Rows are renumbered contiguously and labels follow them.
    test = read_split(out, "test")
    assert [int(s["idx"]) for s in test] == [0, 1, 2]
    assert np.load(out / "test_labels.npy").tolist() == [4, 1, 4]
    # Class ids do not depend on which files broke.
    assert json.loads((out / "classes.json").read_text())[5] == "yak"
    # Pairs using a skipped image are dropped; the others point at the new rows.
    assert np.load(out / "pairs.npy").tolist() == [[0, 2, 1, 0]]
    assert manifest["pairs"] == 1


def test_duplicate_keys_are_reported(index: DatasetIndex, tmp_path: Path) -> None:
    index.splits["train"].append(index.splits["train"][0])
    with pytest.raises(UserError, match=r"'small'.*Remove the repeated lines"):
        shard(index, tmp_path / "shards")


def test_jpeg_check_sends_damaged_files_to_the_decoder(tmp_path: Path) -> None:
    data = save_image(tmp_path / "x.jpg", (20, 20)).read_bytes()
    assert images.jpeg_frame(data) == (20, 20, 3)
    assert images.jpeg_frame(data[:-2]) is None  # no end-of-image marker
    assert images.jpeg_frame(b"\xff\xd8\xff\xe0\x00") is None
    with pytest.raises(images.CorruptImage, match=r"(?i)truncated"):
        images.prepare(data[: len(data) // 2], IMAGE_SIZE)


def run_cli(*argv: str) -> None:
    parser = argparse.ArgumentParser()
    shard_command.add_arguments(parser)
    shard_command.run(parser.parse_args(list(argv)))


@pytest.mark.parametrize(
    ("options", "message"),
    [("{bad", "not valid JSON"), ("[1]", "JSON object"), ("{}", "shape")],
)
def test_cli_rejects_bad_options(tmp_path: Path, options: str, message: str) -> None:
    with pytest.raises(UserError, match=message):
        run_cli(
            *("--source", "synthetic", "--root", str(tmp_path), "--out", str(tmp_path / "o")),
            *("--image-size", "32", "--shard-size", "10", "--options", options),
        )


def test_bad_settings_are_rejected(index: DatasetIndex, tmp_path: Path) -> None:
    with pytest.raises(UserError, match="shard size"):
        shard(index, tmp_path / "shards", shard_size=0)
    with pytest.raises(UserError, match="image size"):
        shard(index, tmp_path / "shards", image_size=0)


def write_csv_dataset(root: Path) -> None:
    lines = ["path,label,split,is_query,is_gallery"]
    for i in range(6):
        save_image(root / f"img/{i}.jpg", (40, 30), seed=i)
        split, flags = ("train", "0,0") if i < 3 else ("test", "1,1" if i < 5 else "0,1")
        lines.append(f"img/{i}.jpg,c{i % 2},{split},{flags}")
    (root / "labels.csv").write_text("\n".join(lines) + "\n")


def test_cli_shards_a_csv_dataset(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    root, out = tmp_path / "raw", tmp_path / "shards"
    write_csv_dataset(root)
    (root / "img/4.jpg").write_bytes(b"broken")
    argv = ["shard", "--source", "csv", "--root", str(root), "--out", str(out)]
    argv += ["--image-size", "32", "--shard-size", "2", "--threads", "2"]
    assert irnoise_main(argv) == 2
    error = capsys.readouterr().err
    assert "irnoise shard: error: 3 corrupt" in error  # in test, query and gallery
    assert str(root / "img/4.jpg") in error and "skip_corrupt: true" in error
    assert not out.exists()

    assert irnoise_main([*argv, "--skip-corrupt"]) == 0
    assert "skipped 3 corrupt or unreadable image(s)" in capsys.readouterr().err
    manifest = json.loads((out / "manifest.json").read_text())
    counts = {split: entry["count"] for split, entry in manifest["splits"].items()}
    assert counts == {"train": 3, "test": 2, "query": 1, "gallery": 2}
    assert manifest["source"] == "csv" and len(manifest["skipped"]) == 3
    assert [s["__key__"] for s in read_split(out, "gallery")] == [
        "gallery_000000000",
        "gallery_000000001",
    ]
    assert {s["jpg"] for s in read_split(out, "query")} == {(root / "img/3.jpg").read_bytes()}


def damaged_scan(data: bytes) -> bytes:
    """The JPEG with bits of its entropy-coded data flipped; its structure stays intact."""
    start_of_scan = data.index(b"\xff\xda")
    first = start_of_scan + 2 + int.from_bytes(data[start_of_scan + 2 : start_of_scan + 4], "big")
    damaged = bytearray(data)
    for position in range(first + 10, len(data) - 20, 9):
        # Never make or break a marker (0xFF, and the byte after one).
        if 0xFF not in (damaged[position - 1], damaged[position], damaged[position] ^ 0x5A):
            damaged[position] ^= 0x5A
    return bytes(damaged)


def test_damaged_scan_data_is_corrupt_although_pillow_decodes_it(tmp_path: Path) -> None:
    noise = np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(noise).save(buffer, "JPEG", quality=90)
    damaged = damaged_scan(buffer.getvalue())
    Image.open(io.BytesIO(damaged)).load()  # Pillow itself accepts it silently
    assert images.jpeg_frame(damaged) == (64, 48, 3)  # and its structure is intact
    for image_size in (IMAGE_SIZE, 100):  # kept as it is, and re-encoded
        with pytest.raises(images.CorruptImage, match=r"^libjpeg: Corrupt JPEG data"):
            images.prepare(damaged, image_size)


def test_pillow_warnings_while_decoding_count_as_corrupt(monkeypatch: pytest.MonkeyPatch) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (40, 40)).save(buffer, "PNG")

    def warn(image: Image.Image) -> None:
        import warnings

        warnings.warn("Truncated File Read", UserWarning, stacklevel=1)

    monkeypatch.setattr(Image.Image, "load", warn)
    with pytest.raises(images.CorruptImage, match=r"^UserWarning: Truncated File Read$"):
        images.prepare(buffer.getvalue(), IMAGE_SIZE)


def test_reasons_name_no_objects() -> None:
    with pytest.raises(images.CorruptImage) as error:
        images.prepare(b"not an image at all", IMAGE_SIZE)
    assert str(error.value) == "UnidentifiedImageError: not an image format Pillow can read"
    assert images.describe(OSError("cannot read <_io.BytesIO object at 0x7f3a2b>")) == (
        "OSError: cannot read the image bytes"
    )


def test_identical_runs_skipping_corrupt_images_give_identical_manifests(
    index: DatasetIndex, tmp_path: Path
) -> None:
    break_images(index)
    damaged = index.splits["train"][0].path  # a small JPEG, kept as it is unless damaged
    damaged.write_bytes(damaged_scan(damaged.read_bytes()))
    first = shard(index, tmp_path / "one", skip_corrupt=True, threads=2)
    second = shard(index, tmp_path / "two", skip_corrupt=True, threads=1)
    assert first == second
    assert (tmp_path / "one/manifest.json").read_bytes() == (
        tmp_path / "two/manifest.json"
    ).read_bytes()
    reasons = {entry["key"]: entry["error"] for entry in first["skipped"]}
    assert reasons["small"].startswith("libjpeg: Corrupt JPEG data")
    assert reasons["t2"] == "UnidentifiedImageError: not an image format Pillow can read"
    assert not any(" at 0x" in reason for reason in reasons.values())
