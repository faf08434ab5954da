"""Face evaluation sets: insightface's verification .bin files, and LFW's face crop.

The .bin files the tests write have the layout of the real ones (a pickle of a list of
encoded images and a list of flags), once as Python 3 writes them and once with the
Python 2 string opcodes of the original lfw.bin / cfp_fp.bin / agedb_30.bin.
"""

from __future__ import annotations

import io
import json
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import webdataset as wds
from PIL import Image

from irnoise.cli import main as irnoise_main
from irnoise.data.datasets import verification_bin
from irnoise.errors import UserError

PAIRS = 20


def face_jpeg(seed: int, size: int = 24) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def pairs_content() -> tuple[list[bytes], list[bool]]:
    images = [face_jpeg(seed) for seed in range(2 * PAIRS)]
    return images, [i % 3 != 0 for i in range(PAIRS)]


def python2_pickle(images: list[bytes], flags: list[bool]) -> bytes:
    """What Python 2's pickle.dump((images, flags), f, protocol=2) writes for str images."""
    out = [b"\x80\x02", b"]q\x00(", b""]
    for image in images:
        if len(image) < 256:
            out.append(b"U" + bytes([len(image)]) + image)  # SHORT_BINSTRING
        else:
            out.append(b"T" + struct.pack("<i", len(image)) + image)  # BINSTRING
    out += [b"e]q\x01(", b"".join(b"\x88" if flag else b"\x89" for flag in flags), b"e\x86q\x02."]
    return b"".join(out)


def shard_bin(tmp_path: Path, content: bytes, capsys=None) -> Path:
    root, out = tmp_path / "raw", tmp_path / "shards"
    root.mkdir()
    (root / "lfw.bin").write_bytes(content)
    argv = ["shard", "--source", "verification_bin", "--root", str(root), "--out", str(out)]
    argv += ["--image-size", "112", "--shard-size", "16", "--options", '{"file": "lfw.bin"}']
    assert irnoise_main(argv) == 0
    return out


def read_test_images(out: Path) -> list[bytes]:
    manifest = json.loads((out / "manifest.json").read_text())
    urls = [str(out / name) for name in manifest["splits"]["test"]["shards"]]
    return [sample["jpg"] for sample in wds.WebDataset(urls, shardshuffle=False)]


@pytest.mark.parametrize("writer", ["python3", "python2"])
def test_verification_bin_becomes_the_test_split_and_its_pairs(tmp_path, writer):
    images, flags = pairs_content()
    if writer == "python3":
        content = pickle.dumps((images, flags), protocol=pickle.HIGHEST_PROTOCOL)
    else:
        content = python2_pickle(images, flags)
    out = shard_bin(tmp_path, content)
    assert read_test_images(out) == images  # small JPEGs pass through byte for byte
    pairs = np.load(out / "pairs.npy")
    expected = [(2 * i, 2 * i + 1, int(same), i * 10 // PAIRS) for i, same in enumerate(flags)]
    assert pairs.tolist() == [list(row) for row in expected]
    labels = np.load(out / "test_labels.npy")
    assert all((labels[a] == labels[b]) == bool(same) for a, b, same, _ in pairs)


def test_verification_bin_never_unpickles(tmp_path):
    marker = tmp_path / "ran"
    # Loading this with pickle would call os.system and create the marker file.
    payload = f"cos\nsystem\n(S'touch {marker}'\ntR.".encode()
    path = tmp_path / "evil.bin"
    path.write_bytes(payload)
    with pytest.raises(UserError, match="pickle opcode GLOBAL; nothing in it was run"):
        verification_bin.read_verification_bin(path)
    assert not marker.exists()


def test_verification_bin_refuses_other_objects(tmp_path):
    path = tmp_path / "array.bin"
    path.write_bytes(pickle.dumps(([b"a", b"b"], np.array([True]))))  # flags as numpy
    with pytest.raises(UserError, match=r"not an insightface verification \.bin"):
        verification_bin.read_verification_bin(path)
    path.write_bytes(pickle.dumps(([b"a", b"b", b"c"], [True])))
    with pytest.raises(UserError, match="3 images for 1 pairs"):
        verification_bin.read_verification_bin(path)


def test_verification_bin_needs_its_file_named(tmp_path):
    with pytest.raises(UserError, match=r"options: \{file: lfw.bin\}"):
        verification_bin.required_files(tmp_path, {})


# --- LFW's face crop ---------------------------------------------------------------------


def write_lfw(root: Path) -> None:
    """Two people, a 250x250 image each: white in the central 124x124, black around it."""
    pixels = np.zeros((250, 250, 3), dtype=np.uint8)
    pixels[63:187, 63:187] = 255
    for name in ("Ann_A", "Bob_B"):
        (root / name).mkdir(parents=True)
        Image.fromarray(pixels).save(root / name / f"{name}_0001.jpg", quality=95)
    (root / "pairs.txt").write_text("1\t1\nAnn_A\t1\t1\nAnn_A\t1\tBob_B\t1\n")


def shard_lfw(tmp_path: Path, name: str, options: str) -> Image.Image:
    root, out = tmp_path / "lfw", tmp_path / name
    if not root.exists():
        write_lfw(root)
    argv = ["shard", "--source", "lfw", "--root", str(root), "--out", str(out)]
    argv += ["--image-size", "112", "--shard-size", "16", "--options", options]
    assert irnoise_main(argv) == 0
    return Image.open(io.BytesIO(read_test_images(out)[0]))


def test_lfw_face_crop_keeps_the_center_at_112(tmp_path):
    whole = np.asarray(shard_lfw(tmp_path, "whole", "{}"))
    face = np.asarray(shard_lfw(tmp_path, "face", '{"face_crop": 0.5}'))
    assert whole.shape == face.shape == (112, 112, 3)
    assert whole[:10, :10].mean() < 20  # the black border is there without the crop
    assert face[8:-8, 8:-8].mean() > 235  # only the white center with it


@pytest.mark.parametrize("share", [0, 1.5, "half", True])
def test_lfw_face_crop_out_of_range_is_named(tmp_path, capsys, share):
    write_lfw(tmp_path / "lfw")
    root, out, options = tmp_path / "lfw", tmp_path / "o", json.dumps({"face_crop": share})
    argv = ["shard", "--source", "lfw", "--root", str(root), "--out", str(out)]
    argv += ["--image-size", "112", "--shard-size", "16", "--options", options]
    assert irnoise_main(argv) == 2
    assert "options.face_crop: got " in capsys.readouterr().err  # the schema says it
