"""The run layout module: level names, path patterns, and the rules built from them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from irnoise import plan
from irnoise.errors import UserError

from helpers import REPO


@pytest.mark.parametrize(
    ("level", "name"), [(0.1, "0.1"), (0.05, "0.05"), (0.01, "0.01"), (0, "0"), ("0.40", "0.4")]
)
def test_level_names(level: float | str, name: str) -> None:
    assert plan.level_name(level) == name


@given(st.floats(min_value=0.0, max_value=0.999, allow_nan=False))
def test_level_names_read_back_as_the_level(level: float) -> None:
    # %g keeps 6 significant digits: levels are read back within that precision.
    assert float(plan.level_name(level)) == pytest.approx(level, rel=1e-5, abs=1e-12)


def test_paths_and_parsing_agree() -> None:
    assert plan.labels_path("sop", "small", 0.1, 2) == "data/labels/sop/small/0.1/seed2"
    directory = plan.run_dir("sop_arcface", "uniform", 0.05, 3)
    assert directory == "results/runs/sop_arcface/uniform/0.05/seed3"
    run = plan.parse_run_path(f"/anywhere/{directory}/history.csv")
    assert run == plan.RunPath("sop_arcface", "uniform", 0.05, 3)
    with pytest.raises(UserError, match=r"expected a path like results/runs/"):
        plan.parse_run_path("results/sop/history.csv")
    with pytest.raises(UserError, match=r"noise level 'x' is not a number"):
        plan.parse_run_path("results/runs/sop/uniform/x/seed0/history.csv")


def test_scheme_patterns_match_exactly_the_schemes() -> None:
    pattern = re.compile(f"(?:{plan.RUN_SCHEME_PATTERN})")
    assert all(pattern.fullmatch(scheme) for scheme in ("clean", "uniform", "large", "small"))
    assert not pattern.fullmatch("gaussian")
    assert not re.fullmatch(plan.NOISE_SCHEME_PATTERN, plan.CLEAN_SCHEME)


def test_rules_spell_no_path_pattern_or_level_name_of_their_own() -> None:
    """The layout is defined once: the rules import it instead of repeating it."""
    rules = {path.name: path.read_text() for path in (REPO / "workflow/rules").glob("*.smk")}
    assert "from irnoise.plan import" in rules["common.smk"]
    for name, text in rules.items():
        assert "def level_name" not in text, name
        assert "seed{seed}" not in text, name  # label and run paths come from the layout
        assert "uniform|large|small" not in text, name
    python = (REPO / "workflow/irnoise").rglob("*.py")
    defining = [p for p in python if "def level_name" in p.read_text()]
    assert defining == [Path(plan.__file__)]
