"""Which config a run uses: `--config` overrides and several `--configfile`s, as Snakemake
documents them, checked as one merged config (dry-runs of a fresh copy of the workflow)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from irnoise.config_sources import merged, typed_overrides

from helpers import copy_workflow, run_snakemake

# The default config.yaml trains 5 seeds x 21 (experiment, scheme, level) cells: SOP and
# In-Shop 1 clean + 3 schemes x 2 levels each, faces 1 + 3 levels, ImageNet 1 + 2 levels.
DEFAULT_TRAININGS = 105
TRAININGS_PER_SEED = 21


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One copy of the workflow for the dry-runs (they write nothing but Snakemake's locks)."""
    return copy_workflow(tmp_path_factory.mktemp("overrides"))


def planned_trainings(workdir: Path, *args: str) -> int:
    """How many train jobs `snakemake -n --forceall ARGS` plans."""
    output = run_snakemake(workdir, "-n", "--forceall", *args).stdout
    counts = re.findall(r"^train\s+(\d+)$", output, flags=re.MULTILINE)
    assert counts, f"no train jobs in the plan:\n{output[-3000:]}"
    return int(counts[-1])


@pytest.mark.workflow
def test_config_override_changes_the_plan_of_the_default_config(workdir):
    # The Snakefile read config.yaml over the overrides: 105 trainings either way.
    assert planned_trainings(workdir) == DEFAULT_TRAININGS
    assert planned_trainings(workdir, "--config", "seeds=[0]") == TRAININGS_PER_SEED


@pytest.mark.workflow
def test_config_override_on_top_of_a_configfile_preset(workdir):
    # A list override reached the schema as strings ("0"): refused as not an integer.
    preset = ("--configfile", "config.yaml")
    assert planned_trainings(workdir, *preset) == DEFAULT_TRAININGS
    assert planned_trainings(workdir, "--config", "seeds=[0, 1]", *preset) == 2 * TRAININGS_PER_SEED


@pytest.mark.workflow
def test_override_of_a_nested_key_keeps_its_siblings(workdir):
    # noise.levels only: noise.schemes stays [uniform, large, small]. Only faces runs every
    # level of noise.levels (the others name theirs): 1 + 4 levels instead of 1 + 3.
    override = "noise={levels: [0.05, 0.1, 0.2, 0.4]}"
    assert planned_trainings(workdir, "--config", override) == DEFAULT_TRAININGS + 5


@pytest.mark.workflow
def test_two_configfiles_are_merged_in_order(workdir):
    (workdir / "one_seed.yaml").write_text("seeds: [0]\n")
    (workdir / "two_seeds.yaml").write_text("seeds: [0, 1]\n")
    first, second = "one_seed.yaml", "two_seeds.yaml"
    assert planned_trainings(workdir, "--configfile", "config.yaml", first) == TRAININGS_PER_SEED
    both = ("--configfile", "config.yaml", first, second)
    assert planned_trainings(workdir, *both) == 2 * TRAININGS_PER_SEED


@pytest.mark.workflow
@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("seeds=[zero]", 'seeds[0]: got "zero", expected a value of type integer'),
        ("sedes=[0]", "unknown key 'sedes': did you mean 'seeds'?"),
        (
            "noise={levels: [0.1]}",
            "experiments.sop.levels has 0.05, which noise.levels (0.1) does not run",
        ),
    ],
)
def test_bad_override_is_one_clear_message(workdir, override, message):
    result = run_snakemake(workdir, "-n", "--config", override, check=False)
    assert result.returncode != 0
    assert "irnoise: config error:" in result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_nested_override_values_are_typed_as_in_a_config_file():
    # Snakemake's parser keeps the scalars inside a list or mapping strings.
    overrides = {"seeds": ["0", "1"], "noise": {"levels": ["0.1"], "schemes": ["uniform"]}}
    assert typed_overrides(overrides) == {
        "seeds": [0, 1],
        "noise": {"levels": [0.1], "schemes": ["uniform"]},
    }
    assert typed_overrides({"name": "0", "text": ["a: b"]}) == {"name": "0", "text": ["a: b"]}


def test_overrides_merge_mappings_and_replace_lists():
    base = {"noise": {"levels": [0.05, 0.1], "schemes": ["uniform"]}, "seeds": [0, 1, 2]}
    assert merged(base, {"noise": {"levels": [0.2]}, "seeds": [0]}) == {
        "noise": {"levels": [0.2], "schemes": ["uniform"]},
        "seeds": [0],
    }
