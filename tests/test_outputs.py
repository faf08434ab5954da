"""One rule for every command's outputs, through the real CLI: no output is an input or
another output, a folder is replaced only when the command wrote it, and a failed write
is one line naming the path and the reason. Each case checks that nothing was lost."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import numpy as np
import pytest

from irnoise.cli import main

from detect_fixtures import misfiled_folder


def error_of(capsys, argv: list[str]) -> str:
    """The command's error message; it must fail with one line and no traceback."""
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    return err


def shard_args(root: Path, out: Path) -> list[str]:
    sizes = ["--image-size", "32", "--shard-size", "20", "--threads", "1"]
    return ["shard", "--source", "folder", "--root", str(root), "--out", str(out), *sizes]


def listing(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.fixture
def images(tmp_path: Path) -> Path:
    return misfiled_folder(tmp_path / "images", per_class=3)


def test_shard_out_equal_to_root_keeps_the_images(images, capsys):
    before = listing(images)
    err = error_of(capsys, shard_args(images, images))
    assert f"--out {images} is also an input of this command (--root)" in err
    assert listing(images) == before


def test_shard_out_holding_other_files_is_not_replaced(images, tmp_path, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    err = error_of(capsys, shard_args(images, out))
    assert f"refusing to replace {out}: it holds files this command did not write" in err
    assert "(no manifest.json)" in err
    assert listing(out) == {"notes.txt": b"mine"}


def test_shard_out_holding_the_images_is_not_replaced(images, tmp_path, capsys):
    err = error_of(capsys, shard_args(images, images.parent))
    assert f"refusing to replace {images.parent}" in err
    assert len(listing(images)) == 4 * 3 + 4 * 4 + 1


def test_shard_out_of_an_earlier_shard_run_is_replaced(images, tmp_path):
    out = tmp_path / "shards"
    assert main(shard_args(images, out)) == 0
    (images / "train/red/red_000.jpg").unlink()
    assert main(shard_args(images, out)) == 0
    assert json.loads((out / "manifest.json").read_text())["splits"]["train"]["count"] == 12


def test_synth_out_holding_other_files_is_not_replaced(tmp_path, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    err = error_of(capsys, ["synth", "--shape", "sop", "--out", str(out)])
    assert "(no synth.json)" in err
    assert listing(out) == {"notes.txt": b"mine"}


def test_evaluate_out_equal_to_model_keeps_the_model(tmp_path, capsys):
    model = tmp_path / "model.pt"
    model.write_bytes(b"weights")
    args = ["evaluate", "--model", str(model), "--shards", str(tmp_path), "--task", "retrieval"]
    err = error_of(capsys, [*args, "--config", "{}", "--run", "{}", "--out", str(model)])
    assert "--out" in err and "is also an input of this command (--model)" in err
    assert model.read_bytes() == b"weights"


def test_noise_out_into_the_shards_keeps_the_clean_labels(tmp_path, capsys):
    shards = tmp_path / "shards"
    shards.mkdir()
    clean = shards / "train_labels.npy"
    np.save(clean, np.repeat(np.arange(4), 5))
    before = clean.read_bytes()
    args = ["noise", "--shards", str(shards), "--scheme", "uniform", "--level", "0.2"]
    err = error_of(capsys, [*args, "--seed", "0", "--out", str(clean)])
    assert f"--out {clean} is also an input of this command (--shards)" in err or (
        f"lies inside the input folder {shards} (--shards)" in err
    )
    assert clean.read_bytes() == before


def test_detect_csv_equal_to_out_is_refused(tmp_path, capsys):
    model = tmp_path / "model.pt"
    model.write_bytes(b"weights")
    out = tmp_path / "detect.npz"
    args = ["detect", "--model", str(model), "--shards", str(tmp_path / "s"), "--config", "{}"]
    err = error_of(capsys, [*args, "--out", str(out), "--csv", str(out)])
    assert f"--csv and --out both name {out}: give each output its own path" in err
    assert not out.exists()


def test_collect_out_equal_to_an_input_keeps_it(tmp_path, capsys):
    metrics = tmp_path / "metrics.json"
    metrics.write_text('{"run": {}, "metrics": {}}')
    err = error_of(capsys, ["collect", "--out", str(metrics), str(metrics)])
    assert "is also an input of this command (metrics)" in err
    assert metrics.read_text() == '{"run": {}, "metrics": {}}'


def test_an_output_under_a_file_is_one_line(images, tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    err = error_of(capsys, shard_args(images, blocker / "shards"))
    assert f"cannot write {blocker / 'shards'}: " in err


def test_a_full_disk_is_one_line_and_leaves_no_temporary_file(tmp_path, capsys, monkeypatch):
    shards = tmp_path / "shards"
    shards.mkdir()
    np.save(shards / "train_labels.npy", np.repeat(np.arange(4), 5))
    out = tmp_path / "labels" / "seed0.npy"

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "replace", full)
    args = ["noise", "--shards", str(shards), "--scheme", "uniform", "--level", "0.2"]
    err = error_of(capsys, [*args, "--seed", "0", "--out", str(out)])
    assert f"cannot write {out}" in err and "No space left on device" in err
    assert list(out.parent.iterdir()) == []
