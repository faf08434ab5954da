"""The typed config: defaults written once, in the schema; every bad input stops the
dry-run with one short message naming the key at fault."""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path
from typing import Any

import pytest
import yaml

from irnoise import config as typed
from irnoise import schema
from irnoise.config import load_study, read_yaml
from irnoise.errors import UserError
from irnoise.plan import Plan
from irnoise.recipes import Recipe
from irnoise.train import loss_check

from helpers import REPO, copy_workflow, run_snakemake

SCHEMA = yaml.safe_load(schema.SCHEMA.read_text())
DEFAULT = read_yaml(REPO / "config.yaml")


def checked_study(config: dict[str, Any]) -> typed.Study:
    """The study with its losses checked too, as the workflow does before any job."""
    study = load_study(config)
    loss_check.check_losses(study)
    return study


def dry_run_with(tmp_path: Path, edit) -> str:
    """Dry-run the workflow on the default config after `edit(config)`; return stderr."""
    workdir = copy_workflow(tmp_path / "wf")
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    edit(config)
    (workdir / "bad.yaml").write_text(yaml.safe_dump(config))
    result = run_snakemake(workdir, "-n", "--configfile", "bad.yaml", check=False)
    assert result.returncode != 0, "an invalid config must stop the dry-run"
    return result.stdout + result.stderr


@pytest.mark.workflow
def test_noise_level_out_of_range_names_the_key(tmp_path: Path) -> None:
    output = dry_run_with(tmp_path, lambda c: c["noise"].update(levels=[1.5]))
    assert "levels" in output and "1.5" in output


@pytest.mark.workflow
def test_unknown_backbone_names_the_key_and_choices(tmp_path: Path) -> None:
    output = dry_run_with(tmp_path, lambda c: c["experiments"]["sop"].update(backbone="vgg"))
    assert "backbone" in output and "resnet50" in output


@pytest.mark.workflow
def test_misspelled_key_is_refused_in_a_few_lines(tmp_path: Path) -> None:
    output = dry_run_with(tmp_path, lambda c: c["experiments"]["sop"].update(epoch=3))
    assert "experiments.sop: unknown key 'epoch': did you mean 'epochs'?" in output
    assert len(output.splitlines()) < 10, output  # not the whole schema


@pytest.mark.workflow
def test_loss_parameter_of_another_loss_stops_the_dry_run(tmp_path: Path) -> None:
    def edit(config: dict) -> None:
        config["experiments"]["sop"].update(loss="TripletMarginLoss", loss_params={"scale": 3})

    output = dry_run_with(tmp_path, edit)
    assert "experiments.sop.loss_params: TripletMarginLoss takes no argument 'scale'" in output


@pytest.mark.workflow
def test_yaml_syntax_error_of_the_default_config_names_file_line_and_column(
    tmp_path: Path,
) -> None:
    workdir = copy_workflow(tmp_path / "wf")
    text = (workdir / "config.yaml").read_text()
    (workdir / "config.yaml").write_text(text + "seeds: [0\n")
    result = run_snakemake(workdir, "-n", check=False)
    assert result.returncode != 0
    line = len(text.splitlines()) + 2  # the flow sequence is still open at the end
    assert f"config.yaml:{line}:1: YAML syntax error: expected ',' or ']'" in result.stderr


@pytest.mark.workflow
def test_experiment_naming_unknown_dataset(tmp_path: Path) -> None:
    output = dry_run_with(tmp_path, lambda c: c["experiments"]["sop"].update(eval="nope"))
    assert "experiments.sop.eval" in output and "'nope'" in output


@pytest.mark.workflow
def test_synthetic_dataset_needs_generator_settings(tmp_path: Path) -> None:
    output = dry_run_with(tmp_path, lambda c: c["datasets"]["synth_sop"].pop("synthetic"))
    assert "synthetic" in output and "required" in output


@pytest.mark.workflow
@pytest.mark.parametrize("preset", ["config.yaml", "presets/smoke.yaml", "presets/robustness.yaml"])
def test_presets_dry_run(tmp_path: Path, preset: str) -> None:
    workdir = copy_workflow(tmp_path / "wf")
    result = run_snakemake(workdir, "-n", "--configfile", preset)
    assert "train" in result.stdout


# --- the typed config, without Snakemake ---------------------------------------------------


CONFIG_DATACLASSES = (
    typed.Training,
    typed.Evaluation,
    typed.Experiment,
    typed.Synthetic,
    typed.Dataset,
    Recipe,
    typed.Noise,
    typed.Detect,
    typed.Table3,
    typed.Statistics,
    typed.Study,
)


def field_names(cls: type, leave_out: tuple[str, ...] = ()) -> set[str]:
    return {spec.name for spec in dataclasses.fields(cls)} - set(leave_out)


def test_defaults_are_written_once_in_the_schema() -> None:
    """The dataclasses have no defaults; every schema key is one dataclass field, and back."""
    for cls in CONFIG_DATACLASSES:
        for spec in dataclasses.fields(cls):
            assert spec.default is dataclasses.MISSING, (cls.__name__, spec.name)
            assert spec.default_factory is dataclasses.MISSING, (cls.__name__, spec.name)
    defs, top = SCHEMA["$defs"], SCHEMA["properties"]
    experiment = field_names(typed.Experiment, ("name", "training")) | field_names(typed.Training)
    assert set(defs["experiment"]["properties"]) == experiment
    assert set(defs["dataset"]["properties"]) == field_names(typed.Dataset, ("name",))
    assert set(defs["synthetic"]["properties"]) == field_names(typed.Synthetic)
    sections = {"noise": typed.Noise, "detect": typed.Detect, "table3": typed.Table3}
    for section, cls in (sections | {"statistics": typed.Statistics}).items():
        assert set(top[section]["properties"]) == field_names(cls)
    assert set(defs["recipe"]["properties"]) == field_names(Recipe, ("name",))
    # What the recipes expand to (irnoise.recipes) is no key of the config's.
    assert set(top) == field_names(typed.Study, ("recipe_experiments",))
    # The shared training and evaluation settings take the same defaults.
    assert typed.Evaluation.from_mapping({}).crop_size == typed.Training.from_mapping({}).crop_size


def test_a_config_without_sections_is_filled_from_the_schema() -> None:
    """What a config leaves out is what every reader sees filled: rules, captions, commands."""
    config = {key: DEFAULT[key] for key in ("datasets", "experiments", "pretraining")}
    filled = schema.with_defaults(config)
    noise = SCHEMA["properties"]["noise"]["properties"]
    assert filled["noise"]["levels"] == noise["levels"]["default"]
    assert filled["detect"]["k"] == SCHEMA["properties"]["detect"]["properties"]["k"]["default"]
    sop = filled["experiments"]["sop"]
    assert sop["lr"] == DEFAULT["experiments"]["sop"]["lr"]  # given values stay
    for key, spec in SCHEMA["$defs"]["experiment"]["properties"].items():
        if key not in DEFAULT["experiments"]["sop"] and "default" in spec:
            assert sop[key] == spec["default"] or key == "method_params", key
    assert sop["method_params"]["prism"]["window"] == 5
    assert config.keys() == {"datasets", "experiments", "pretraining"}  # the caller's is kept
    study = load_study(config)
    assert study.noise.levels == tuple(noise["levels"]["default"])
    assert study.seeds == tuple(SCHEMA["properties"]["seeds"]["default"])


def test_training_keys_and_resumable_changes_are_decided_once() -> None:
    from irnoise.train import checkpoint

    assert checkpoint.RESUMABLE_CHANGES <= typed.TRAINING_KEYS
    study = load_study(DEFAULT)
    training = study.experiments["sop"].training
    given = tuple(DEFAULT["experiments"]["sop"]["lr_milestones"])
    assert training.lr_milestones == given and training.lr_gamma == 0.1  # given, and default
    assert set(training.to_dict()) == typed.TRAINING_KEYS
    assert "threads" not in typed.TRAINING_KEYS and "eval_batch_size" not in typed.TRAINING_KEYS


def test_a_command_run_by_hand_uses_the_workflows_defaults() -> None:
    assert typed.Training.from_mapping({}).lr_milestones == (9, 14)
    with pytest.raises(UserError, match="--config: unknown key 'epoch': did you mean 'epochs'"):
        typed.Training.from_mapping({"epoch": 3})
    with pytest.raises(UserError, match="--config: lr_milestones: got 9, expected a value of type"):
        typed.Training.from_mapping({"lr_milestones": 9})


def test_arcface_defaults_only_for_arcface() -> None:
    training = typed.Training.from_mapping
    assert training({}).loss_params == {"scale": 64, "margin": 28.6}
    assert training({"loss_params": {"scale": 30}}).loss_params == {"scale": 30, "margin": 28.6}
    assert training({"loss": "TripletMarginLoss"}).loss_params == {}


def edited(edit) -> dict[str, Any]:
    config = copy.deepcopy(DEFAULT)
    edit(config)
    return config


def sop(**values: Any):
    return lambda c: c["experiments"]["sop"].update(values)


BAD_CONFIGS = {
    "unknown top-level key": (
        lambda c: c.update(foo=1),
        "(top level): unknown key 'foo': known keys: datasets, detect, experiments, "
        "extra_targets, noise",
    ),
    "unknown extra target": (
        lambda c: c.update(extra_targets=["table5"]),
        'extra_targets[0]: got "table5", expected one of table3, table4',
    ),
    "level out of range": (
        lambda c: c["noise"].update(levels=[0.2, 1.5]),
        "noise.levels[1]: got 1.5, expected less than 1",
    ),
    "wrong type": (
        sop(epochs="ten"),
        'experiments.sop.epochs: got "ten", expected a value of type integer',
    ),
    "unknown loss": (
        sop(loss="Nope"),
        "experiments.sop.loss: unknown loss 'Nope': use a pytorch-metric-learning loss class "
        "name, one of AngularLoss, ArcFaceLoss",
    ),
    "misspelled loss parameter": (
        sop(loss_params={"scael": 30}),
        "experiments.sop.loss_params: ArcFaceLoss takes no argument 'scael'; its arguments: ",
    ),
    "another loss's parameter": (
        sop(loss="TripletMarginLoss", loss_params={"scale": 30}),
        "experiments.sop.loss_params: TripletMarginLoss takes no argument 'scale'",
    ),
    "a parameter irnoise fills in": (
        sop(loss_params={"num_classes": 3}),
        "ArcFaceLoss takes no argument 'num_classes' (irnoise fills it in)",
    ),
    "a bad parameter value": (
        sop(loss_params={"margin": "wide"}),
        "experiments.sop.loss_params: loss ArcFaceLoss does not accept",
    ),
    "classification without a class head": (
        lambda c: c["experiments"]["imagenet"].update(loss="TripletMarginLoss", loss_params={}),
        "experiments.imagenet: task classification needs a loss with a class head",
    ),
    "scheme outside the grid": (
        lambda c: c["noise"].update(schemes=["large", "small"]),
        "experiments.faces.schemes has uniform, which noise.schemes (large, small) does not run",
    ),
    "dataset name with a path": (
        lambda c: c["datasets"].update({"../../../tmp/x": c["datasets"]["synth_sop"]}),
        "datasets: the name '../../../tmp/x' is not allowed: names become folder names",
    ),
    "experiment name with a slash": (
        lambda c: c["experiments"].update({"a/b": c["experiments"]["sop"]}),
        "experiments: the name 'a/b' is not allowed",
    ),
    "name with a space": (
        lambda c: c["experiments"].update({"a b": c["experiments"]["sop"]}),
        "experiments: the name 'a b' is not allowed",
    ),
    "hidden name": (
        lambda c: c["datasets"].update({".x": c["datasets"]["synth_sop"]}),
        "datasets: the name '.x' is not allowed",
    ),
    "pretraining not configured": (
        sop(pretraining="nowhere"),
        "experiments.sop.pretraining names 'nowhere', which is not under pretraining:",
    ),
    "pretraining and a pretrained file": (
        lambda c: with_pretraining(c, pretrained="weights.pt"),
        "experiments.sop sets both pretrained and pretraining",
    ),
    "pretraining of another width": (
        lambda c: with_pretraining(c, width=7),
        "experiments.sop.pretraining: the pretraining's width is 16 but the experiment's is 7",
    ),
    "pretraining from a pretraining": (
        lambda c: with_pretraining(c, pretraining_of_pretraining=True),
        "pretraining.objects.pretraining is set",
    ),
    "pretraining on an unknown dataset": (
        lambda c: with_pretraining(c, pretraining_train="synth_nowhere"),
        "pretraining.objects.train names dataset 'synth_nowhere'",
    ),
}


def with_pretraining(
    config: dict[str, Any],
    pretraining_train: str = "synth_imagenet",
    pretraining_of_pretraining: bool = False,
    **sop_values: Any,
) -> None:
    """`config` with a pretraining `objects` (a copy of the imagenet experiment) that the
    sop experiment starts from, and `sop_values` set on the sop experiment."""
    objects = copy.deepcopy(config["experiments"]["imagenet"])
    objects.update(train=pretraining_train, width=config["experiments"]["sop"]["width"])
    if pretraining_of_pretraining:
        objects["pretraining"] = "objects"
    config.setdefault("pretraining", {})["objects"] = objects
    config["experiments"]["sop"].update(pretraining="objects", **sop_values)


@pytest.mark.parametrize("case", sorted(BAD_CONFIGS))
def test_bad_config_is_one_clear_message(case: str) -> None:
    edit, message = BAD_CONFIGS[case]
    with pytest.raises(UserError) as error:
        checked_study(edited(edit))
    assert message in str(error.value)
    assert len(str(error.value).splitlines()) <= 4


def test_explicit_experiment_scheme_outside_the_grid_is_an_error_not_dropped() -> None:
    config = edited(lambda c: c["experiments"]["inshop"].update(schemes=["uniform", "banana"]))
    with pytest.raises(UserError, match=r"experiments.inshop.schemes\[1\]: got \"banana\""):
        checked_study(config)
    config = edited(lambda c: (c["noise"].update(schemes=["uniform"]), sop(schemes=["large"])(c)))
    with pytest.raises(UserError, match=r"experiments\.sop\.schemes has large, which"):
        checked_study(config)


@pytest.mark.parametrize("name", ["a", "synth_sop-2", "v1.5", "_x"])
def test_safe_names_are_accepted(name: str) -> None:
    config = edited(lambda c: c["datasets"].update({name: c["datasets"]["synth_sop"]}))
    assert name in load_study(config).datasets


def test_yaml_syntax_error_names_file_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "preset.yaml"
    path.write_text("datasets:\n  a: {source: synthetic\n  b: 1\n")
    with pytest.raises(UserError, match=rf"^{path}:3:4: YAML syntax error: "):
        read_yaml(path)


@pytest.mark.parametrize("preset", ["config.yaml", "presets/smoke.yaml", "presets/paper.yaml"])
def test_presets_load(preset: str) -> None:
    study = load_study(read_yaml(REPO / preset))
    assert study.experiments


@pytest.mark.parametrize("preset", ["config.yaml", "presets/robustness.yaml"])
def test_the_default_recipe_fine_tunes_12_epochs(preset: str) -> None:
    experiments = read_yaml(REPO / preset)["experiments"]
    for name in ("sop", "inshop"):
        assert experiments[name]["pretraining"] == "objects"
        assert (experiments[name]["epochs"], experiments[name]["lr_milestones"]) == (12, [9])
    assert (experiments["faces"]["epochs"], experiments["faces"].get("pretraining")) == (24, None)


def test_loss_settings_found_good_are_not_checked_again(tmp_path: Path, monkeypatch) -> None:
    cache = tmp_path / ".snakemake" / "irnoise" / "checked_losses.json"
    checked = []
    check = loss_check.check_loss
    monkeypatch.setattr(loss_check, "check_loss", lambda e: (checked.append(e.name), check(e)))
    loss_check.check_losses(load_study(DEFAULT), cache)
    assert sorted(checked) == sorted(DEFAULT["experiments"])
    checked.clear()
    loss_check.check_losses(load_study(DEFAULT), cache)
    assert checked == []
    # A changed loss setting is checked (and a bad one is never recorded as good).
    bad = edited(sop(loss_params={"scael": 30}))
    for _ in range(2):
        with pytest.raises(UserError, match="takes no argument 'scael'"):
            loss_check.check_losses(load_study(bad), cache)
    assert checked == ["sop", "sop"]


def test_a_pretrained_experiment_starts_from_its_pretrainings_model_file() -> None:
    study = checked_study(edited(with_pretraining))
    assert study.experiments["sop"].training.pretrained == "results/pretraining/objects/model.pt"
    assert study.experiments["faces"].training.pretrained is None
    assert "synth_imagenet" in Plan(study).used_datasets()
