"""The study's configuration as frozen dataclasses: every default once, every check before a job.

`workflow/schemas/config.schema.yaml` stays the user's reference (each key, its meaning and
its default); `load_study(config)` checks a config against it and returns a `Study`:
datasets, experiments (each with its `Training` settings) and the noise grid, with every
key the config leaves out set to the dataclasses' defaults (a test checks they equal the
schema's). Snakemake builds the study once (common.smk); `irnoise train` and
`irnoise evaluate` read their JSON into `Training` / `Evaluation`, so a command run by hand
uses the very defaults the workflow uses.

Checks that would otherwise fail hours later, at train or evaluate time, run here, so
that `snakemake -n` stops with one message naming the key: schemes within the grid,
experiments naming configured datasets, and names safe as path parts (loss names and
`loss_params` are checked by `irnoise.train.loss_check`, which common.smk runs next).

Adding a key: add it to the schema and to one dataclass below (`Training` if it changes
a trained model, else `Experiment`); tests/test_config.py fails until both agree.
This module imports only the standard library at module level (`irnoise noise` and the
Snakefile stay light).
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from irnoise.errors import UserError

SCHEMA = Path(__file__).resolve().parents[1] / "schemas" / "config.schema.yaml"
SCHEMES = ("uniform", "large", "small")
# Names become path parts (data/shards/<name>/, results/runs/<name>/...) and wildcards.
NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
# Each loss's own defaults, applied only to that loss (the paper's ArcFace scale and margin).
LOSS_DEFAULTS: dict[str, dict[str, Any]] = {"ArcFaceLoss": {"scale": 64, "margin": 28.6}}


def canonical(value: Any) -> str:
    """Sorted-key JSON: the form every structured parameter is passed in."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def plain(value: Any) -> Any:
    """JSON-like value with tuples as lists (what YAML and JSON give back)."""
    if isinstance(value, Mapping):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    return value


def _frozen(value: Any) -> Any:
    """Lists as tuples, so that a frozen dataclass holds no mutable list."""
    if isinstance(value, list):
        return tuple(_frozen(item) for item in value)
    return value


def _from_mapping(cls: type, values: Mapping[str, Any], where: str, **extra: Any) -> Any:
    """`cls(**values)` with lists frozen; an unknown key is a UserError naming it."""
    known = {f.name for f in dataclasses.fields(cls)}
    for key in values:
        if key not in known:
            raise UserError(unknown_key_message(where, key, sorted(known - set(extra))))
    return cls(**{key: _frozen(value) for key, value in values.items()}, **extra)


def unknown_key_message(where: str, key: str, known: list[str]) -> str:
    close = difflib.get_close_matches(key, known, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return f"{where}: unknown key {key!r}: {hint}known keys: {', '.join(known)}"


@dataclass(frozen=True)
class Training:
    """An experiment's settings that change its trained model (the train job's --config)."""

    backbone: str = "resnet50"
    pretrained: str | None = None
    embedding_size: int = 512
    width: int = 32
    loss: str = "ArcFaceLoss"
    loss_params: Mapping[str, Any] = field(default_factory=dict)
    epochs: int = 16
    batch_size: int = 256
    optimizer: str = "sgd"
    lr: float = 0.1
    loss_lr: float | None = None
    momentum: float = 0.9
    weight_decay: float = 0.0001
    lr_milestones: tuple[int, ...] = (9, 14)
    lr_gamma: float = 0.1
    crop_size: int = 224
    flip: bool = True
    compile: bool = False
    gpus: int = 1
    workers: int | None = None

    def __post_init__(self) -> None:
        # The loss's own defaults under what the user wrote, for that loss only.
        params = LOSS_DEFAULTS.get(self.loss, {}) | dict(self.loss_params)
        object.__setattr__(self, "loss_params", params)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], where: str = "--config") -> Training:
        """From a command's JSON (or a config's experiment): known keys, schema-checked values."""
        training = _from_mapping(cls, values, where)
        check_values(values, "experiment", where)
        return training

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values (lists, dicts): the train job's --config, model.pt's config."""
        return plain(dataclasses.asdict(self))


TRAINING_KEYS = frozenset(f.name for f in dataclasses.fields(Training))


@dataclass(frozen=True)
class Evaluation:
    """The settings the evaluate job depends on (its --config)."""

    crop_size: int = Training.crop_size
    eval_batch_size: int = 256

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], where: str = "--config") -> Evaluation:
        evaluation = _from_mapping(cls, values, where)
        check_values(values, "experiment", where)
        return evaluation

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Experiment:
    """One experiment: train on one dataset, evaluate on one, over the grid's runs."""

    name: str
    train: str
    eval: str
    task: str
    schemes: tuple[str, ...] | None = None
    eval_batch_size: int = Evaluation.eval_batch_size
    threads: int = 8
    runtime: int = 720
    mem_mb: int = 32000
    keep_checkpoint: bool = False
    methods: tuple[str, ...] = ("none",)
    method_params: Mapping[str, Any] = field(default_factory=dict)
    training: Training = field(default_factory=Training)

    @classmethod
    def from_mapping(cls, name: str, values: Mapping[str, Any]) -> Experiment:
        where = f"experiments.{name}"
        training = {key: value for key, value in values.items() if key in TRAINING_KEYS}
        own = {key: value for key, value in values.items() if key not in TRAINING_KEYS}
        return _from_mapping(
            cls, own, where, name=name, training=Training.from_mapping(training, where)
        )

    @property
    def evaluation(self) -> Evaluation:
        return Evaluation(crop_size=self.training.crop_size, eval_batch_size=self.eval_batch_size)

    @property
    def robust_methods(self) -> list[str]:
        """The methods other than none (Table 3; docs/methods.md)."""
        return [method for method in self.methods if method != "none"]

    def method_settings(self, method: str) -> dict[str, Any]:
        """A method's parameters: what the config gives over the schema's defaults (the
        schema documents each with its source)."""
        return method_defaults(method) | plain(self.method_params.get(method, {}))


@dataclass(frozen=True)
class Synthetic:
    shape: str
    scale: float = 0.05
    image_size: int = 48
    seed: int = 0


@dataclass(frozen=True)
class Dataset:
    name: str
    source: str
    root: str | None = None
    image_size: int = 256
    shard_size: int = 2000
    skip_corrupt: bool = False
    synthetic: Synthetic | None = None
    options: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_mapping(cls, name: str, values: Mapping[str, Any]) -> Dataset:
        values = dict(values)
        if values.get("synthetic") is not None:
            values["synthetic"] = _from_mapping(
                Synthetic, values["synthetic"], f"datasets.{name}.synthetic"
            )
        return _from_mapping(cls, values, f"datasets.{name}", name=name)

    @property
    def path(self) -> str:
        """Folder holding the dataset in its native layout."""
        return self.root if self.root is not None else f"data/raw/{self.name}"

    @property
    def is_synthetic(self) -> bool:
        return self.source == "synthetic"

    @property
    def adapter_options(self) -> dict[str, Any]:
        """Adapter options; a synthetic set is read by its shape's adapter."""
        options = plain(self.options)
        if self.synthetic is not None and self.is_synthetic:
            options["shape"] = self.synthetic.shape
        return options


@dataclass(frozen=True)
class Noise:
    schemes: tuple[str, ...] = SCHEMES
    levels: tuple[float, ...] = (0.01, 0.05, 0.1)
    figure_level: float | None = None


@dataclass(frozen=True)
class Detect:
    """Label-suspicion detection: Table 4's detectors and a user's dataset's ranking."""

    k: int = 10
    cleanlab_max_cells: int = 250_000_000
    detector: str = "knn"
    top: int = 12

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], where: str = "--config") -> Detect:
        properties = schema()["properties"]["detect"]["properties"]
        definition = {"type": "object", "properties": properties}
        if lines := schema_errors(dict(values), definition):
            raise UserError(f"{where}: " + "; ".join(lines))
        return _from_mapping(cls, values, where)


@dataclass(frozen=True)
class Table3:
    """Table 3's grid (noise-robust methods); None: the study's own levels or seeds."""

    levels: tuple[float, ...] | None = None
    seeds: tuple[int, ...] | None = None


@dataclass(frozen=True)
class Statistics:
    """The report's bootstrap intervals: resamples and confidence level of each."""

    resamples: int = 2000
    confidence: float = 0.95


@dataclass(frozen=True)
class Study:
    datasets: Mapping[str, Dataset]
    experiments: Mapping[str, Experiment]
    noise: Noise = field(default_factory=Noise)
    seeds: tuple[int, ...] = (0,)
    detect: Detect = field(default_factory=Detect)
    table3: Table3 = field(default_factory=Table3)
    statistics: Statistics = field(default_factory=Statistics)
    extra_targets: tuple[str, ...] = ()
    reference_histograms: tuple[str, ...] = (
        "sop_train",
        "inshop_train",
        "cub_train",
        "cars_train",
    )

    @classmethod
    def from_mapping(cls, config: Mapping[str, Any]) -> Study:
        values = {key: value for key, value in config.items() if not key.startswith("x-")}
        values["datasets"] = {
            name: Dataset.from_mapping(name, d) for name, d in config["datasets"].items()
        }
        values["experiments"] = {
            name: Experiment.from_mapping(name, e) for name, e in config["experiments"].items()
        }
        if "noise" in values:
            values["noise"] = _from_mapping(Noise, values["noise"], "noise")
        if "table3" in values:
            values["table3"] = _from_mapping(Table3, values["table3"], "table3")
        if "detect" in values:
            values["detect"] = Detect.from_mapping(values["detect"], "detect")
        if "statistics" in values:
            values["statistics"] = _from_mapping(Statistics, values["statistics"], "statistics")
        return _from_mapping(cls, values, "config")


# --- loading and checking -------------------------------------------------------------


def load_study(config: Mapping[str, Any]) -> Study:
    """The checked study of a (YAML-parsed) config, or a UserError naming the key at fault.

    Losses are checked apart (`irnoise.train.loss_check`): that check needs torch.
    """
    check_names(config)
    check_schema(config)
    study = Study.from_mapping(config)
    check_references(study)
    return study


def check_names(config: Mapping[str, Any]) -> None:
    for section in ("datasets", "experiments"):
        entries = config.get(section)
        for name in entries if isinstance(entries, Mapping) else ():
            if not (isinstance(name, str) and NAME.fullmatch(name)) or ".." in name:
                raise UserError(
                    f"{section}: the name {name!r} is not allowed: names become folder names, "
                    "so use only letters, digits, '_', '.' and '-' (not first), without '..'"
                )


@functools.cache
def schema() -> dict[str, Any]:
    import yaml

    return yaml.safe_load(SCHEMA.read_text())


def schema_default(*keys: str) -> Any:
    """The schema's default of one key: `schema_default("detect", "k")`, or under a definition,
    `schema_default("$defs", "experiment", "threads")`. Commands take their option defaults
    from here, so that a default is written once, in the schema."""
    node: Mapping[str, Any] = schema()
    if keys and keys[0] == "$defs":
        node, keys = node["$defs"][keys[1]], keys[2:]
    for key in keys:
        node = node["properties"][key]
    return node["default"]


def method_defaults(method: str) -> dict[str, Any]:
    """The schema's defaults of a training method's parameters ({} for a method without)."""
    methods = schema()["$defs"]["experiment"]["properties"]["method_params"]["properties"]
    defined = methods.get(method, {}).get("properties", {})
    return {key: spec["default"] for key, spec in defined.items()}


def schema_errors(instance: Any, definition: Mapping[str, Any]) -> list[str]:
    """The first errors (at most 3) as key path, value and what was expected."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(definition)
    errors = sorted(
        validator.iter_errors(instance), key=lambda e: (len(e.path), list(map(str, e.path)))
    )
    lines = [schema_error_message(error) for error in errors[:3]]
    return lines + ([f"(and {len(errors) - 3} more)"] if len(errors) > 3 else [])


def check_schema(config: Mapping[str, Any]) -> None:
    if lines := schema_errors(config, schema()):
        raise UserError(
            f"the config does not fit {SCHEMA.name} (each key is documented there):\n  "
            + "\n  ".join(lines)
        )


def check_values(values: Mapping[str, Any], definition: str, where: str) -> None:
    """`values` against the schema's properties of `definition` (e.g. a command's JSON)."""
    properties = schema()["$defs"][definition]["properties"]
    subset = {key: properties[key] for key in values if key in properties}
    if lines := schema_errors(dict(values), {"type": "object", "properties": subset}):
        raise UserError(f"{where}: " + "; ".join(lines))


def key_path(path: Any) -> str:
    """experiments.sop.lr_milestones[0]: keys joined by dots, list positions in brackets."""
    text = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in path)
    return text.removeprefix(".") or "(top level)"


def schema_error_message(error: Any) -> str:
    """One line: where, the value, what was expected (never the schema itself)."""
    where = key_path(error.absolute_path)
    if error.validator == "additionalProperties":
        known = sorted(error.schema.get("properties", {}))
        unexpected = sorted(set(error.instance) - set(known))
        if known:
            return unknown_key_message(where, unexpected[0], known)
        return f"{where}: unexpected key(s) {', '.join(map(repr, unexpected))}"
    if error.validator == "required":
        return f"{where}: {error.message} (add it)"
    value = json.dumps(error.instance) if not isinstance(error.instance, dict) else "{...}"
    bound = error.validator_value
    expected = {
        "enum": lambda: "one of " + ", ".join(map(str, bound)),
        "type": lambda: f"a value of type {bound}",
        "minimum": lambda: f"at least {bound}",
        "maximum": lambda: f"at most {bound}",
        "exclusiveMinimum": lambda: f"more than {bound}",
        "exclusiveMaximum": lambda: f"less than {bound}",
        "minItems": lambda: f"at least {bound} item(s)",
        "minProperties": lambda: f"at least {bound} entry",
        "uniqueItems": lambda: "no item twice",
    }.get(error.validator, lambda: error.message)()
    return f"{where}: got {value}, expected {expected}"


def check_references(study: Study) -> None:
    """Experiments name configured datasets and run schemes of the grid."""
    for name, experiment in study.experiments.items():
        for role in ("train", "eval"):
            dataset = getattr(experiment, role)
            if dataset not in study.datasets:
                raise UserError(
                    f"experiments.{name}.{role} names dataset {dataset!r}, which is not under "
                    f"datasets: (configured: {', '.join(sorted(study.datasets))})"
                )
        outside = [s for s in experiment.schemes or () if s not in study.noise.schemes]
        if outside:
            raise UserError(
                f"experiments.{name}.schemes has {', '.join(outside)}, which noise.schemes "
                f"({', '.join(study.noise.schemes)}) does not run: add it to noise.schemes "
                "or remove it from the experiment"
            )


# --- YAML ---------------------------------------------------------------------------------


def read_yaml(path: str | Path) -> dict[str, Any]:
    """A YAML config file as a dict; a syntax error names the file, line and column."""
    import yaml

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise UserError(f"cannot read config file {path}: {error.strerror}") from error
    try:
        config = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        problem = getattr(error, "problem", None) or str(error)
        context = getattr(error, "context", None)
        detail = f"{problem} ({context})" if context else problem
        raise UserError(f"{where}: YAML syntax error: {detail}") from error
    if not isinstance(config, dict):
        raise UserError(f"{path}: a config file holds keys at the top level (datasets: ...)")
    return config
