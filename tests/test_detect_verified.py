"""A user's verified images (path, correct) for CleanNet: read, matched and refused."""

from __future__ import annotations

import numpy as np
import pytest

from irnoise.detect.verified import read_verified
from irnoise.errors import UserError

FILES = [("k0", "/d/a.jpg"), ("k1", "/d/b.jpg"), ("k2", "/d/c.jpg")]


def test_verified_rows_are_matched_by_path_or_key(tmp_path):
    path = tmp_path / "checked.csv"
    path.write_text("path,correct\n/d/c.jpg,0\nk0,1\n")
    verification = read_verified(path, FILES)
    assert verification.rows.tolist() == [2, 0]
    np.testing.assert_array_equal(verification.correct, [False, True])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("file,ok\n/d/a.jpg,1\n", "needs the columns path, correct"),
        ("path,correct\n/d/z.jpg,1\n", r"line 2: '/d/z.jpg' is no train image"),
        ("path,correct\n/d/a.jpg,maybe\n", "line 2: correct is 'maybe'; write 1"),
        ("path,correct\n", "verifies no image"),
    ],
)
def test_a_bad_verified_csv_says_what_to_fix(tmp_path, text, message):
    path = tmp_path / "checked.csv"
    path.write_text(text)
    with pytest.raises(UserError, match=message):
        read_verified(path, FILES)


def test_verified_images_need_the_datasets_files(tmp_path):
    path = tmp_path / "checked.csv"
    path.write_text("path,correct\n/d/a.jpg,1\n")
    with pytest.raises(UserError, match="pass --dataset"):
        read_verified(path, [("", "")] * 3)
