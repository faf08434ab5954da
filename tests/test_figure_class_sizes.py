"""Figure 1 (class sizes with the classes large and small noise select)."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pytest

from irnoise.errors import UserError
from irnoise.report.figures import class_sizes


def parse(*args: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    class_sizes.add_arguments(parser)
    return parser.parse_args(args)


def test_display_order_makes_each_color_one_band():
    sizes = np.array([5, 3, 5, 3, 3, 5, 1])
    large = np.array([True, False, False, False, False, True, False])
    small = np.array([False, True, False, False, True, False, True])
    order = class_sizes.display_order(sizes, large, small)
    assert sizes[order].tolist() == [5, 5, 5, 3, 3, 3, 1]
    assert large[order].tolist() == [True, True, False, False, False, False, False]
    assert small[order].tolist() == [False, False, False, False, True, True, True]


def test_draws_shards_and_references(tmp_path: Path):
    shards = tmp_path / "toy"
    shards.mkdir()
    labels = np.repeat(np.arange(30), np.arange(1, 31))
    np.save(shards / "train_labels.npy", labels)
    out = tmp_path / "figures" / "fig1.png"
    args = parse(
        "--names", "toy set", "--references", "cub_train", "--shards-dirs", str(shards),
        "--level", "0.4", "--seed", "0", "--out", str(out),
    )  # fmt: skip
    class_sizes.draw(args)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in out.parent.iterdir()] == ["fig1.png"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--references", "nope"], "unknown reference histogram 'nope'"),
        (["--shards-dirs", "missing"], "no train labels at"),
        (["--names", "x,y", "--shards-dirs", "a"], "2 names for 1 dirs"),
        ([], "nothing to draw"),
    ],
)
def test_bad_inputs_are_user_errors(tmp_path, args, message):
    with pytest.raises(UserError, match=message):
        class_sizes.draw(parse(*args, "--level", "0.1", "--out", str(tmp_path / "f.png")))
