"""`irnoise noise`: the files and statistics it writes, its errors, and no torch import."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from irnoise.noise import corrupt_labels, noise_stats, select_classes

# The real `irnoise.cli.main` with only the command under test registered: these tests
# check `irnoise noise`, not whether every other command's module imports.
ONE_COMMAND = (
    "import sys, irnoise.cli as cli; "
    "cli.COMMANDS = {sys.argv[1]: cli.COMMANDS[sys.argv[1]]}; sys.exit(cli.main())"
)
# Reports, after the command ran, which heavy modules the process imported.
IMPORTS_AFTER = (
    "import sys, irnoise.cli as cli; {restrict} code = cli.main(); "
    "print(sorted(m for m in ('torch', 'torchvision', 'faiss', 'PIL', 'webdataset') "
    "if m in sys.modules)); sys.exit(code)"
)


def irnoise(*args: str, code: str = ONE_COMMAND) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120
    )


@pytest.fixture
def shards(tmp_path: Path) -> Path:
    directory = tmp_path / "shards" / "toy"
    directory.mkdir(parents=True)
    sizes = [30, 20, 12, 9, 7, 5, 4, 3, 2, 2, 1]
    labels = np.repeat(np.arange(len(sizes), dtype=np.int64), sizes)
    np.save(directory / "train_labels.npy", np.random.default_rng(0).permutation(labels))
    return directory


def noise_args(
    shards: Path, out: Path, scheme: str = "uniform", level: str = "0.1", seed: int = 3
) -> list:
    flags = ["--scheme", scheme, "--level", level, "--seed", str(seed), "--out", str(out)]
    return ["noise", "--shards", str(shards), *flags]


@pytest.mark.parametrize("scheme", ["uniform", "large", "small"])
def test_writes_noisy_labels_and_their_stats(shards, tmp_path, scheme):
    out = tmp_path / "labels" / "toy" / scheme / "0.2" / "seed3.npy"
    result = irnoise(*noise_args(shards, out, scheme, "0.2"))
    assert result.returncode == 0, result.stderr
    clean = np.load(shards / "train_labels.npy")
    noisy = np.load(out)
    assert noisy.dtype == np.int64 and noisy.shape == clean.shape
    np.testing.assert_array_equal(noisy, corrupt_labels(clean, scheme, 0.2, 3))

    stats = json.loads(out.with_suffix(".json").read_text())
    selected = None if scheme == "uniform" else select_classes(clean, scheme, 0.2, 3)
    expected = noise_stats(clean, noisy, selected)
    assert {key: stats[key] for key in expected} == expected
    assert stats["scheme"] == scheme and stats["level"] == 0.2 and stats["seed"] == 3
    assert stats["dataset"] == "toy"  # the shard directory's name, by default
    assert stats["target"] == round(0.2 * clean.size)
    assert stats["shards"] == str(shards) and stats["labels"] == str(out)
    if scheme == "uniform":
        assert stats["noise_rate"] == round(0.2 * clean.size) / clean.size
    # Atomic writes leave no temporary files behind.
    assert sorted(path.name for path in out.parent.iterdir()) == ["seed3.json", "seed3.npy"]


def test_stats_name_the_dataset_given(shards, tmp_path):
    out = tmp_path / "elsewhere" / "labels.npy"
    result = irnoise(*noise_args(shards, out), "--dataset", "synth_sop")
    assert result.returncode == 0, result.stderr
    assert json.loads(out.with_suffix(".json").read_text())["dataset"] == "synth_sop"


def test_same_arguments_give_identical_files(shards, tmp_path):
    first, second = tmp_path / "a.npy", tmp_path / "b.npy"
    for out in (first, second):
        assert irnoise(*noise_args(shards, out, "small", "0.3")).returncode == 0
    assert first.read_bytes() == second.read_bytes()
    stats = [json.loads(out.with_suffix(".json").read_text()) for out in (first, second)]
    assert {k: v for k, v in stats[0].items() if k != "labels"} == {
        k: v for k, v in stats[1].items() if k != "labels"
    }


def test_missing_shards_name_the_fix(tmp_path):
    result = irnoise(*noise_args(tmp_path / "nowhere", tmp_path / "out.npy"))
    assert result.returncode == 2
    assert "irnoise noise: error: no train labels at" in result.stderr
    assert "irnoise shard" in result.stderr
    assert not (tmp_path / "out.npy").exists()


def test_unreadable_labels_are_a_user_error(tmp_path):
    directory = tmp_path / "broken"
    directory.mkdir()
    (directory / "train_labels.npy").write_bytes(b"not an npy file")
    result = irnoise(*noise_args(directory, tmp_path / "out.npy"))
    assert result.returncode == 2
    assert "cannot read" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("level", "message"),
    [("1.0", "0 <= level < 1"), ("-0.2", "0 <= level < 1"), ("0.001", "rounds to 0 samples")],
)
def test_bad_levels_are_user_errors(shards, tmp_path, level, message):
    result = irnoise(*noise_args(shards, tmp_path / "out.npy", "large", level))
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr
    assert not list(tmp_path.glob("out.*"))


def test_level_rounding_to_no_sample_suggests_a_level_that_works(tmp_path):
    directory = tmp_path / "five_hundred"
    directory.mkdir()
    np.save(directory / "train_labels.npy", np.arange(500, dtype=np.int64) % 10)
    result = irnoise(*noise_args(directory, tmp_path / "out.npy", "uniform", "0.001"))
    assert result.returncode == 2
    assert "level 0.001 of 500 samples rounds to 0 samples" in result.stderr
    assert "a level of at least 0.002 (one sample in 500)" in result.stderr
    suggested = irnoise(*noise_args(directory, tmp_path / "out.npy", "uniform", "0.002"))
    assert suggested.returncode == 0, suggested.stderr
    assert json.loads((tmp_path / "out.json").read_text())["flipped"] == 1


def test_noise_that_changes_no_label_is_an_error_not_a_silent_success(tmp_path):
    directory = tmp_path / "two"
    directory.mkdir()
    np.save(directory / "train_labels.npy", np.array([0, 1], dtype=np.int64))
    # Two classes of one sample: the shuffle keeps both labels for some seeds.
    outcomes = {}
    for seed in range(6):
        result = irnoise(*noise_args(directory, tmp_path / f"s{seed}.npy", "large", "0.5", seed))
        outcomes[seed] = result.returncode
        if result.returncode != 0:
            assert "large noise at level 0.5 with seed" in result.stderr
            assert "changed no label of the 2 samples" in result.stderr
            assert not (tmp_path / f"s{seed}.npy").exists()
        else:
            assert np.load(tmp_path / f"s{seed}.npy").tolist() == [1, 0]
    assert set(outcomes.values()) == {0, 2}, outcomes


def test_one_class_is_a_user_error(tmp_path):
    directory = tmp_path / "one"
    directory.mkdir()
    np.save(directory / "train_labels.npy", np.zeros(20, dtype=np.int64))
    result = irnoise(*noise_args(directory, tmp_path / "out.npy"))
    assert result.returncode == 2
    assert "at least two classes" in result.stderr


def test_out_must_be_an_npy_file(shards, tmp_path):
    result = irnoise(*noise_args(shards, tmp_path / "out.labels"))
    assert result.returncode == 2
    assert "must end in .npy" in result.stderr


def test_unknown_scheme_is_refused_by_argparse(shards, tmp_path):
    result = irnoise(*noise_args(shards, tmp_path / "out.npy", "gaussian"))
    assert result.returncode == 2
    assert "invalid choice: 'gaussian'" in result.stderr


def test_noise_command_does_not_import_torch(shards, tmp_path):
    restrict = "cli.COMMANDS = {'noise': cli.COMMANDS['noise']};"
    result = irnoise(
        *noise_args(shards, tmp_path / "out.npy"), code=IMPORTS_AFTER.format(restrict=restrict)
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_full_cli_noise_does_not_import_torch(shards, tmp_path):
    """Every command module is imported to build the parser: none may import torch early."""
    result = irnoise(
        *noise_args(shards, tmp_path / "out.npy"), code=IMPORTS_AFTER.format(restrict="")
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
