"""Config errors are caught by the schema (or the grid check) and name the key at fault."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from helpers import REPO, copy_workflow, run_snakemake


def dry_run_with(tmp_path: Path, edit) -> str:
    """Dry-run the workflow on the default config after `edit(config)`; return stderr."""
    workdir = copy_workflow(tmp_path / "wf")
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    edit(config)
    (workdir / "bad.yaml").write_text(yaml.safe_dump(config))
    result = run_snakemake(workdir, "-n", "--configfile", "bad.yaml", check=False)
    assert result.returncode != 0, "an invalid config must stop the dry-run"
    return result.stdout + result.stderr


def test_noise_level_out_of_range_names_the_key(tmp_path: Path) -> None:
    output = dry_run_with(tmp_path, lambda c: c["noise"].update(levels=[1.5]))
    assert "levels" in output and "1.5" in output


def test_unknown_backbone_names_the_key_and_choices(tmp_path: Path) -> None:
    output = dry_run_with(tmp_path, lambda c: c["experiments"]["sop"].update(backbone="vgg"))
    assert "backbone" in output and "resnet50" in output


def test_misspelled_key_is_refused(tmp_path: Path) -> None:
    output = dry_run_with(tmp_path, lambda c: c["experiments"]["sop"].update(epoch=3))
    assert "epoch" in output and "Additional properties" in output


def test_experiment_naming_unknown_dataset(tmp_path: Path) -> None:
    output = dry_run_with(tmp_path, lambda c: c["experiments"]["sop"].update(eval="nope"))
    assert "experiments.sop.eval" in output and "'nope'" in output


def test_synthetic_dataset_needs_generator_settings(tmp_path: Path) -> None:
    output = dry_run_with(tmp_path, lambda c: c["datasets"]["synth_sop"].pop("synthetic"))
    assert "synthetic" in output and "required" in output


@pytest.mark.parametrize("preset", ["config.yaml", "presets/smoke.yaml"])
def test_presets_dry_run(tmp_path: Path, preset: str) -> None:
    workdir = copy_workflow(tmp_path / "wf")
    result = run_snakemake(workdir, "-n", "--configfile", preset)
    assert "train" in result.stdout
