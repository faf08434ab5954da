"""Config and command-line values are checked against the schema before anything runs: one
message naming the key (or flag) and what it takes, never a traceback, never a value that
is silently ignored, truncated or turned into a missing file (docs/configuration.md,
"Checks")."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from irnoise import cli, plan
from irnoise.config import load_study, read_yaml
from irnoise.errors import UserError
from irnoise.schema import schema
from irnoise.train import loss_check

from helpers import REPO, copy_workflow, run_snakemake
from train_fixtures import write_shards

DEFAULT = read_yaml(REPO / "config.yaml")
NAN, INF = float("nan"), float("inf")


def edited(edit) -> dict[str, Any]:
    config = copy.deepcopy(DEFAULT)
    edit(config)
    return config


def sop(**values: Any):
    return lambda c: c["experiments"]["sop"].update(values)


def dataset(source: str, options: Any):
    return lambda c: c["datasets"].update(mine={"source": source, "options": options})


def folder_splits(splits: Any):
    return dataset("folder", {"splits": splits})


# case: (edit of the default config, what the one message says)
BAD_CONFIGS = {
    "NaN noise level": (
        lambda c: c["noise"].update(levels=[0.1, NAN]),
        "noise.levels[1]: got NaN, expected a finite number",
    ),
    "infinite lr": (sop(lr=INF), "experiments.sop.lr: got Infinity, expected a finite number"),
    "NaN lr": (sop(lr=NAN), "experiments.sop.lr: got NaN, expected a finite number"),
    "NaN loss parameter": (
        sop(loss_params={"scale": NAN}),
        "experiments.sop.loss_params.scale: got NaN, expected a finite number",
    ),
    "split key outside the project": (
        folder_splits({"../../../x": "train"}),
        'datasets.mine.options.splits: got "../../../x", expected one of '
        "train, test, query, gallery, val",
    ),
    "split folder with ..": (
        folder_splits({"train": "../../x"}),
        'datasets.mine.options.splits.train: got "../../x", expected a subfolder of the '
        "dataset's root",
    ),
    "absolute split folder": (
        folder_splits({"train": "/tmp/x"}),
        'datasets.mine.options.splits.train: got "/tmp/x", expected a subfolder',
    ),
    "splits of the wrong type": (
        folder_splits(3),
        "datasets.mine.options.splits: got 3, expected a value of type ['object', 'array']",
    ),
    "split folder of the wrong type": (
        folder_splits({"train": 3}),
        "datasets.mine.options.splits.train: got 3, expected a value of type string",
    ),
    "unknown split in a list": (
        folder_splits(["train", "validation"]),
        'datasets.mine.options.splits[1]: got "validation", expected one of train, test',
    ),
    "unknown folder option": (
        dataset("folder", {"split": {"train": "a"}}),
        "datasets.mine.options: unknown key 'split': did you mean 'splits'?",
    ),
    "ms1m format": (
        dataset("ms1m", {"format": "rec"}),
        'datasets.mine.options.format: got "rec", expected one of recordio, folder',
    ),
    "csv flag of the wrong type": (
        dataset("csv", {"allow_outside_root": "yes"}),
        'datasets.mine.options.allow_outside_root: got "yes", expected a value of type boolean',
    ),
    "options of a source that takes none": (
        dataset("sop", {"format": "folder"}),
        "datasets.mine.options: unexpected key(s) 'format' (This source takes no options)",
    ),
    "pretrained holding a list": (
        sop(pretrained=["a.pt"]),
        'experiments.sop.pretrained: got ["a.pt"], expected a value of type',
    ),
    "parameters of a method not listed": (
        lambda c: c["experiments"]["inshop"].update(method_params={"knn": {"neighbors": 5}}),
        "experiments.inshop.method_params has parameters for knn, which "
        "experiments.inshop.methods (none) does not list: add knn to methods, or remove",
    ),
    "zero neighbors": (
        sop(method_params={"knn": {"neighbors": 0}}),
        "experiments.sop.method_params.knn.neighbors: got 0, expected at least 1",
    ),
    "reducer named in loss_params": (
        sop(loss_params={"reducer": "x"}),
        "experiments.sop.loss_params.reducer: ArcFaceLoss takes a pytorch-metric-learning "
        "object there, which a config cannot hold (got 'x'): leave reducer out; the loss's "
        "default reducer",
    ),
    "regularizer named in loss_params": (
        sop(loss_params={"weight_regularizer": "LpRegularizer"}),
        "leave weight_regularizer out; regularize with the experiment's weight_decay instead",
    ),
    "detect top beyond its bound": (
        lambda c: c.update(detect={"top": 100000}),
        "detect.top: got 100000, expected at most 100",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_CONFIGS))
def test_bad_config_value_is_one_message_naming_the_key(case: str) -> None:
    edit, message = BAD_CONFIGS[case]
    with pytest.raises(UserError) as error:
        loss_check.check_losses(load_study(edited(edit)))
    assert message in str(error.value)
    assert len(str(error.value).splitlines()) <= 3


@pytest.mark.parametrize(
    "options",
    [
        {"splits": {"train": "images/train", "test": "t"}},
        {"splits": ["train", "test"]},
        {"splits": {"train": "a..b"}},  # '..' only as a whole part leaves the root
    ],
)
def test_folder_splits_inside_the_root_are_accepted(options: dict) -> None:
    study = load_study(edited(dataset("folder", options)))
    assert dict(study.datasets["mine"].options) == options


def test_listed_methods_keep_their_parameters_and_null_loss_objects_pass() -> None:
    study = load_study(edited(sop(loss_params={"reducer": None})))
    loss_check.check_losses(study)
    assert study.experiments["sop"].method_settings("knn")["neighbors"] == 10


def test_split_names_are_the_plans() -> None:
    folder = schema()["$defs"]["folder_options"]["properties"]["splits"]
    assert tuple(folder["propertyNames"]["enum"]) == plan.SPLITS
    assert tuple(folder["items"]["enum"]) == plan.SPLITS


@pytest.mark.workflow
def test_nan_noise_level_stops_the_dry_run_naming_the_key(tmp_path: Path) -> None:
    workdir = copy_workflow(tmp_path / "wf")
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config["noise"]["levels"] = [0.1, NAN]
    (workdir / "nan.yaml").write_text(yaml.safe_dump(config))
    assert ".nan" in (workdir / "nan.yaml").read_text()
    result = run_snakemake(workdir, "-n", "--configfile", "nan.yaml", check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "noise.levels[1]: got NaN, expected a finite number" in output
    assert "MissingInputException" not in output and "Traceback" not in output


# --- the commands ---------------------------------------------------------------------------


def run_cli(capsys, *argv: str) -> str:
    """Run `irnoise` as a user does; the one-line error it printed (exit status 2)."""
    assert cli.main(list(argv)) == 2
    return capsys.readouterr().err


@pytest.fixture(scope="module")
def shards(tmp_path_factory) -> Path:
    """Train split of 4 classes x 3 images (ids 0..3)."""
    return write_shards(tmp_path_factory.mktemp("checks") / "shards", classes=4, per_class=3)


def train(tmp_path: Path, shards: Path, *extra: str) -> list[str]:
    return [
        "train",
        # gpus: 0, so that the check of the inputs is reached on a machine without CUDA.
        *("--shards", str(shards), "--config", '{"gpus": 0}', "--out-dir", str(tmp_path / "run")),
        *extra,
    ]


BAD_METHODS = {
    "without a name": ({"neighbors": 5}, "--method: (top level): 'name' is a required property"),
    "unknown method": ({"name": "coteaching"}, 'name: got "coteaching", expected one of none'),
    "unknown parameter": (
        {"name": "knn", "neighbor": 5},
        "--method: (top level): unknown key 'neighbor': did you mean 'neighbors'?",
    ),
    "prism without noise_rate": (
        {"name": "prism"},
        "--method: (top level): 'noise_rate' is a required property (add it)",
    ),
    "prism with a bad noise_rate": (
        {"name": "prism", "noise_rate": 1.5},
        "--method: noise_rate: got 1.5, expected less than 1",
    ),
    "prism with a NaN noise_rate": (
        {"name": "prism", "noise_rate": NAN},
        "--method: noise_rate: got NaN, expected a finite number",
    ),
    "zero neighbors": ({"name": "knn", "neighbors": 0}, "neighbors: got 0, expected at least 1"),
}


@pytest.mark.parametrize("case", sorted(BAD_METHODS))
def test_train_method_json_is_checked_against_the_schema(
    case: str, tmp_path: Path, shards: Path, capsys
) -> None:
    method, message = BAD_METHODS[case]
    error = run_cli(capsys, *train(tmp_path, shards, "--method", json.dumps(method)))
    assert message in error, error
    assert not (tmp_path / "run" / "model.pt").exists()


def test_pretrained_list_in_train_config_is_one_message(
    tmp_path: Path, shards: Path, capsys
) -> None:
    argv = train(tmp_path, shards)
    argv[argv.index("--config") + 1] = '{"pretrained": ["a.pt"], "lr": NaN}'
    error = run_cli(capsys, *argv)
    assert "--config: lr: got NaN, expected a finite number" in error
    assert 'pretrained: got ["a.pt"], expected a value of type' in error


def save(path: Path, array: np.ndarray) -> str:
    np.save(path, array, allow_pickle=True)
    return str(path)


BAD_LABELS = {
    "object dtype": (
        lambda: np.array([0, 1, 2, 3] * 3, dtype=object),
        "is not a numeric .npy array",
    ),
    "floats": (lambda: np.full(12, 1.7), "holds float64 values, not integer class ids"),
    "two-dimensional": (lambda: np.zeros((12, 1), dtype=np.int64), "has shape (12, 1)"),
    "another split's length": (lambda: np.zeros(11, dtype=np.int64), "has shape (11,)"),
    "a class beyond the train classes": (
        lambda: np.array([0, 1, 2, 1_000_000] * 3),
        "holds labels from 0 to 1000000, but the train split has 4 classes (ids 0 to 3)",
    ),
    "negative": (lambda: np.array([0, 1, 2, -1] * 3), "holds labels from -1 to 2"),
}


def command(name: str, tmp_path: Path, shards: Path, labels: str) -> list[str]:
    common = ("--shards", str(shards), "--labels", labels)
    model = ("--model", str(tmp_path / "model.pt"))
    return {
        "train": train(tmp_path, shards, "--labels", labels),
        "detect": ["detect", *model, *common, "--config", "{}", "--out", str(tmp_path / "d.npz")],
        "subcenter": ["subcenter", *model, *common, "--out", str(tmp_path / "keep.npy")],
    }[name]


@pytest.mark.parametrize("name", ["train", "detect", "subcenter"])
@pytest.mark.parametrize("case", sorted(BAD_LABELS))
def test_labels_file_is_checked_by_every_reader(
    case: str, name: str, tmp_path: Path, shards: Path, capsys
) -> None:
    make, message = BAD_LABELS[case]
    labels = save(tmp_path / "labels.npy", make())
    error = run_cli(capsys, *command(name, tmp_path, shards, labels))
    assert message in error, error
    assert len(error.strip().splitlines()) == 1


def test_text_labels_file_is_one_message(tmp_path: Path, shards: Path, capsys) -> None:
    labels = tmp_path / "labels.npy"
    labels.write_text("0\n1\n2\n")
    error = run_cli(capsys, *command("train", tmp_path, shards, str(labels)))
    assert f"label file {labels} is not a numeric .npy array" in error


def detect(tmp_path: Path, shards: Path, *extra: str) -> list[str]:
    return [
        "detect",
        *("--model", str(tmp_path / "model.pt"), "--shards", str(shards), "--config", "{}"),
        *("--out", str(tmp_path / "d.npz"), "--csv", str(tmp_path / "s.csv")),
        *extra,
    ]


OUTSIDE = {"splits": {"train": "../x"}}
BAD_DETECT = {
    "dataset without source": (
        ("--dataset", '{"root": "data/raw/mine"}'),
        "--dataset: (top level): 'source' is a required property (add it)",
    ),
    "dataset without root": (("--dataset", '{"source": "folder"}'), "--dataset: root:"),
    "dataset split outside the root": (
        ("--dataset", json.dumps({"source": "folder", "root": "r", "options": OUTSIDE})),
        '--dataset: options.splits.train: got "../x", expected a subfolder',
    ),
    "top beyond its bound": (("--top", "100000"), "--top: got 100000, expected at most 100"),
    "top of zero": (("--top", "0"), "--top: got 0, expected at least 1"),
}


@pytest.mark.parametrize("case", sorted(BAD_DETECT))
def test_detect_arguments_are_checked_against_the_schema(
    case: str, tmp_path: Path, shards: Path, capsys
) -> None:
    extra, message = BAD_DETECT[case]
    error = run_cli(capsys, *detect(tmp_path, shards, *extra))
    assert message in error, error


def test_shard_options_are_checked_against_the_schema(tmp_path: Path, capsys) -> None:
    options = json.dumps({"splits": {"../../../x": "train"}})
    error = run_cli(
        capsys,
        *("shard", "--source", "folder", "--root", str(tmp_path / "images")),
        *("--out", str(tmp_path / "o")),
        *("--image-size", "32", "--shard-size", "10", "--options", options),
    )
    assert 'options.splits: got "../../../x", expected one of train, test' in error
    assert not (tmp_path / "o").exists()


def test_merging_several_mappings_is_refused(tmp_path: Path) -> None:
    # PyYAML 6.0.4 resolves `<<: [*fine_tune, *model]` with the later mapping winning, so
    # the default's retrieval experiments once trained 24 epochs instead of 12.
    path = tmp_path / "preset.yaml"
    path.write_text("a: &a {epochs: 12}\nb: &b {epochs: 24}\nc:\n  <<: [*a, *b]\n")
    with pytest.raises(UserError, match=rf"^{path}:4: '<<: \[...\]' merges several mappings"):
        read_yaml(path)


def test_a_recursive_alias_is_read_not_looped_on(tmp_path: Path) -> None:
    path = tmp_path / "preset.yaml"
    path.write_text("a: &a [1, *a]\nseeds: [0]\n")
    assert read_yaml(path)["seeds"] == [0]


def test_a_character_yaml_refuses_is_named_with_the_file(tmp_path: Path) -> None:
    # The reader refuses it before any parse: it must still become the one-line message.
    path = tmp_path / "preset.yaml"
    path.write_text('seeds: [0]\nnote: "\x07"\n')
    with pytest.raises(UserError, match=rf"^{path}: YAML syntax error: unacceptable character"):
        read_yaml(path)
