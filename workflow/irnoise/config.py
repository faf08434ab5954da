"""The study's configuration as frozen dataclasses, its defaults from the schema, its checks.

`workflow/schemas/config.schema.yaml` is the user's reference and the one place a default
is written: `with_defaults(config)` fills every key a config leaves out from it, and
`load_study(config)` checks the config against it and returns a `Study` of frozen
dataclasses, which have no defaults of their own. Snakemake fills its `config` once
(common.smk), so that rules, report captions and commands see the same values;
`irnoise train` and `irnoise evaluate` fill their --config JSON from the same schema, so a
command run by hand uses the very defaults the workflow uses.

Checks that would otherwise fail hours later, at train or evaluate time, run here, so
that `snakemake -n` stops with one message naming the key: every number finite, each
source's dataset options, schemes within the grid, experiments naming configured datasets,
method parameters only for the methods an experiment lists, and names safe as path parts
(loss names and `loss_params` are checked by `irnoise.train.loss_check`, which common.smk
runs next). Commands check their JSON arguments against the same definitions
(`check_method`, `check_dataset_source`, `check_setting`), so a command run by hand is held
to the config's rules.

Adding a key: add it, with its default, to the schema and a field to one dataclass below
(`Training` if it changes a trained model, else `Experiment`).
This module imports only the standard library at module level (`irnoise noise` and the
Snakefile stay light).
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from irnoise.errors import UserError
from irnoise.plan import DEFAULT_RECIPE, PLAIN, RAW, VERIFICATION, pretraining_model
from irnoise.recipes import Recipe, derived_name
from irnoise.schema import (
    check_schema,
    check_values,
    plain,
    schema,
    schema_default,
    schema_errors,
    unknown_key_message,
    with_defaults,
)

if TYPE_CHECKING:
    from irnoise.data.holdout import Holdout

# Names become path parts (data/shards/<name>/, results/runs/<name>/...) and wildcards.
NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
# Each loss's own defaults, applied only to that loss (the paper's ArcFace scale and margin).
LOSS_DEFAULTS: dict[str, dict[str, Any]] = {"ArcFaceLoss": {"scale": 64, "margin": 28.6}}


def canonical(value: Any) -> str:
    """Sorted-key JSON: the form every structured parameter is passed in."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


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


def _field_names(cls: type) -> frozenset[str]:
    return frozenset(f.name for f in dataclasses.fields(cls))


@dataclass(frozen=True)
class Training:
    """An experiment's settings that change its trained model (the train job's --config)."""

    backbone: str
    pretrained: str | None
    embedding_size: int
    width: int
    loss: str
    loss_params: Mapping[str, Any]
    epochs: int
    batch_size: int
    optimizer: str
    lr: float
    loss_lr: float | None
    momentum: float
    weight_decay: float
    lr_milestones: tuple[int, ...]
    lr_gamma: float
    crop_size: int
    flip: bool
    compile: bool
    gpus: int
    workers: int | None

    def __post_init__(self) -> None:
        # The loss's own defaults under what the user wrote, for that loss only.
        params = LOSS_DEFAULTS.get(self.loss, {}) | dict(self.loss_params)
        object.__setattr__(self, "loss_params", params)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], where: str = "--config") -> Training:
        """From a command's JSON (or a config's experiment): known keys, schema-checked values,
        the schema's defaults for the rest."""
        check_values(values, "experiment", where)
        return _from_mapping(cls, experiment_defaults(cls) | dict(values), where)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values (lists, dicts): the train job's --config, model.pt's config."""
        return plain(dataclasses.asdict(self))


TRAINING_KEYS = _field_names(Training)


@dataclass(frozen=True)
class Evaluation:
    """The settings the evaluate job depends on (its --config)."""

    crop_size: int
    eval_batch_size: int

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], where: str = "--config") -> Evaluation:
        check_values(values, "experiment", where)
        return _from_mapping(cls, experiment_defaults(cls) | dict(values), where)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def experiment_defaults(cls: type) -> dict[str, Any]:
    """The schema's defaults of an experiment's keys that are fields of `cls`."""
    properties = schema()["$defs"]["experiment"]["properties"]
    names = _field_names(cls)
    return {key: spec["default"] for key, spec in properties.items() if key in names}


@dataclass(frozen=True)
class Experiment:
    """One experiment: train on one dataset, evaluate on one, over the grid's runs."""

    name: str
    train: str
    eval: str
    task: str
    schemes: tuple[str, ...] | None
    levels: tuple[float, ...] | None
    eval_batch_size: int
    threads: int
    runtime: int
    mem_mb: int
    eval_runtime: int
    eval_mem_mb: int | None
    detect_runtime: int
    detect_mem_mb: int | None
    keep_checkpoint: bool
    allow_cpu: bool
    pretraining: str | None
    methods: tuple[str, ...]
    method_params: Mapping[str, Any]
    training: Training

    @classmethod
    def from_mapping(
        cls, name: str, values: Mapping[str, Any], section: str = "experiments"
    ) -> Experiment:
        """From a config's experiment (or pretraining), filled with the schema's defaults
        (`with_defaults`)."""
        where = f"{section}.{name}"
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
        """The methods other than plain training (Table 3; docs/methods.md)."""
        return [method for method in self.methods if method != PLAIN]

    def method_settings(self, method: str) -> dict[str, Any]:
        """A method's parameters, the schema's defaults filled in (its sources: docs/methods.md)."""
        return plain(self.method_params.get(method, {}))


@dataclass(frozen=True)
class Synthetic:
    shape: str
    scale: float
    image_size: int
    seed: int


@dataclass(frozen=True)
class Dataset:
    name: str
    source: str
    root: str | None
    image_size: int
    shard_size: int
    skip_corrupt: bool
    synthetic: Synthetic | None
    options: Mapping[str, Any]
    holdout: float | None
    holdout_seed: int

    @classmethod
    def from_mapping(cls, name: str, values: Mapping[str, Any]) -> Dataset:
        values = dict(values)
        if values.get("synthetic") is not None:
            values["synthetic"] = _from_mapping(
                Synthetic, values["synthetic"], f"datasets.{name}.synthetic"
            )
        return _from_mapping(cls, {"synthetic": None} | values, f"datasets.{name}", name=name)

    @property
    def path(self) -> str:
        """Folder holding the dataset in its native layout."""
        return self.root if self.root is not None else RAW.format(dataset=self.name)

    @property
    def is_synthetic(self) -> bool:
        return self.source == "synthetic"

    @property
    def held_out(self) -> Holdout | None:
        """The validation split carved from train (`irnoise.data.holdout`), if any."""
        from irnoise.data.holdout import Holdout  # numpy: not at this module's level

        return None if self.holdout is None else Holdout(self.holdout, self.holdout_seed)

    @property
    def adapter_options(self) -> dict[str, Any]:
        """Adapter options; a synthetic set is read by its shape's adapter."""
        options = plain(self.options)
        if self.synthetic is not None and self.is_synthetic:
            options["shape"] = self.synthetic.shape
        return options


@dataclass(frozen=True)
class Noise:
    schemes: tuple[str, ...]
    levels: tuple[float, ...]
    figure_level: float | None


@dataclass(frozen=True)
class Detect:
    """Label-suspicion detection: Table 4's detectors and a user's dataset's ranking."""

    k: int
    cleanlab_max_cells: int
    detector: str
    verified: str | None
    top: int

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], where: str = "--config") -> Detect:
        """From a config's or a command's detect settings, the schema's defaults filled in."""
        definition = schema()["properties"]["detect"]
        if lines := schema_errors(dict(values), definition):
            raise UserError(f"{where}: " + "; ".join(lines))
        defaults = {key: spec["default"] for key, spec in definition["properties"].items()}
        return _from_mapping(cls, defaults | dict(values), where)


@dataclass(frozen=True)
class Table3:
    """Table 3's grid (noise-robust methods); None: the study's own levels or seeds."""

    levels: tuple[float, ...] | None
    seeds: tuple[int, ...] | None


@dataclass(frozen=True)
class Statistics:
    """The report's bootstrap intervals: resamples and confidence level of each."""

    resamples: int
    confidence: float


@dataclass(frozen=True)
class Study:
    datasets: Mapping[str, Dataset]
    experiments: Mapping[str, Experiment]
    pretraining: Mapping[str, Experiment]
    noise: Noise
    seeds: tuple[int, ...]
    detect: Detect
    table3: Table3
    statistics: Statistics
    extra_targets: tuple[str, ...]
    reference_histograms: tuple[str, ...]
    # Every experiment above is a config's or one a recipe adds (irnoise.recipes).
    recipes: Mapping[str, Recipe]
    # recipe (DEFAULT_RECIPE first) -> config's experiment -> the experiment whose runs it reads
    recipe_experiments: Mapping[str, Mapping[str, str]]

    @classmethod
    def from_mapping(cls, config: Mapping[str, Any]) -> Study:
        """From a checked config filled with the schema's defaults (`with_defaults`)."""
        values = {key: value for key, value in config.items() if not key.startswith("x-")}
        values["datasets"] = {
            name: Dataset.from_mapping(name, d) for name, d in config["datasets"].items()
        }
        experiment_keys = frozenset(schema()["$defs"]["experiment"]["properties"])
        values["recipes"] = {
            name: Recipe.from_mapping(name, r, TRAINING_KEYS, experiment_keys)
            for name, r in config["recipes"].items()
        }
        values["experiments"], recipe_experiments = expand_recipes(
            values["recipes"], config["experiments"]
        )
        values["pretraining"] = {
            name: Experiment.from_mapping(name, e, "pretraining")
            for name, e in config["pretraining"].items()
        }
        values["noise"] = _from_mapping(Noise, values["noise"], "noise")
        values["table3"] = _from_mapping(Table3, values["table3"], "table3")
        values["detect"] = Detect.from_mapping(values["detect"], "detect")
        values["statistics"] = _from_mapping(Statistics, values["statistics"], "statistics")
        return _from_mapping(cls, values, "config", recipe_experiments=recipe_experiments)


def expand_recipes(
    recipes: Mapping[str, Recipe], experiments: Mapping[str, Mapping[str, Any]]
) -> tuple[dict[str, Experiment], dict[str, dict[str, str]]]:
    """The config's experiments (filled with defaults) plus, for each recipe, one experiment
    per experiment whose trained model it changes; and which experiment each recipe reads for
    each of the config's: the derived one, or the config's own where the recipe changes
    nothing (its runs are shared, not trained again)."""
    built = {name: Experiment.from_mapping(name, e) for name, e in experiments.items()}
    reads = {DEFAULT_RECIPE: {name: name for name in experiments}}
    for recipe in recipes.values():
        reads[recipe.name] = {}
        for name, values in experiments.items():
            reads[recipe.name][name] = name
            if not recipe.matches(values):
                continue
            derived = Experiment.from_mapping(
                derived_name(name, recipe.name), recipe.applied(values, f"experiments.{name}")
            )
            if derived.training == built[name].training:
                continue
            if derived.name in built:
                raise UserError(
                    f"recipes.{recipe.name}: the experiment it adds for {name}, "
                    f"{derived.name!r}, is already an experiment: rename the recipe"
                )
            built[derived.name] = derived
            reads[recipe.name][name] = derived.name
    return built, reads


# --- loading and checking -------------------------------------------------------------


def load_study(config: Mapping[str, Any]) -> Study:
    """The checked study of a (YAML-parsed) config, or a UserError naming the key at fault.

    Losses are checked apart (`irnoise.train.loss_check`): that check needs torch.
    """
    check_names(config)
    filled = with_defaults(config)
    check_schema(filled)
    check_method_params(config)
    study = Study.from_mapping(filled)
    check_references(study)
    check_held_out_tasks(study)
    return with_pretrained_backbones(study)


def check_names(config: Mapping[str, Any]) -> None:
    # A recipe's name becomes part of the names of the experiments it adds.
    for section in ("datasets", "experiments", "pretraining", "recipes"):
        entries = config.get(section)
        for name in entries if isinstance(entries, Mapping) else ():
            if not (isinstance(name, str) and NAME.fullmatch(name)) or ".." in name:
                raise UserError(
                    f"{section}: the name {name!r} is not allowed: names become folder names, "
                    "so use only letters, digits, '_', '.' and '-' (not first), without '..'"
                )


def check_references(study: Study) -> None:
    """Experiments and pretrainings name configured datasets, experiments configured
    pretrainings, and experiments run schemes of the grid."""
    sections = {"experiments": study.experiments, "pretraining": study.pretraining}
    for section, entries in sections.items():
        for name, experiment in entries.items():
            for role in ("train", "eval"):
                dataset = getattr(experiment, role)
                if dataset not in study.datasets:
                    raise UserError(
                        f"{section}.{name}.{role} names dataset {dataset!r}, which is not "
                        f"under datasets: (configured: {', '.join(sorted(study.datasets))})"
                    )
    for name, pretraining in study.pretraining.items():
        if pretraining.pretraining is not None:
            raise UserError(
                f"pretraining.{name}.pretraining is set: a pretraining starts from `pretrained` "
                "or from random initialization, not from another pretraining; remove the key"
            )
    for name, experiment in study.experiments.items():
        check_pretraining(study, name, experiment)
        outside = [s for s in experiment.schemes or () if s not in study.noise.schemes]
        if outside:
            raise UserError(
                f"experiments.{name}.schemes has {', '.join(outside)}, which noise.schemes "
                f"({', '.join(study.noise.schemes)}) does not run: add it to noise.schemes "
                "or remove it from the experiment"
            )
        check_levels_in_grid(f"experiments.{name}.levels", experiment.levels or (), study.noise)


def check_levels_in_grid(where: str, levels: tuple[float, ...], noise: Noise) -> None:
    """An experiment's levels restrict the grid; they cannot add to it."""
    outside = [f"{level:g}" for level in levels if level not in noise.levels]
    if outside:
        grid = ", ".join(f"{level:g}" for level in noise.levels)
        raise UserError(
            f"{where} has {', '.join(outside)}, which noise.levels ({grid}) does not run: "
            "add it to noise.levels or remove it here"
        )


def check_pretraining(study: Study, name: str, experiment: Experiment) -> None:
    """An experiment's pretraining exists, is its only starting point, and fits its network."""
    if experiment.pretraining is None:
        return
    where = f"experiments.{name}.pretraining"
    pretraining = study.pretraining.get(experiment.pretraining)
    if pretraining is None:
        configured = ", ".join(sorted(study.pretraining)) or "none"
        raise UserError(
            f"{where} names {experiment.pretraining!r}, which is not under pretraining: "
            f"(configured: {configured})"
        )
    if experiment.training.pretrained is not None:
        raise UserError(
            f"experiments.{name} sets both pretrained and pretraining: keep the one its "
            "trainings start from"
        )
    for key in ("backbone", "width"):
        ours, theirs = getattr(experiment.training, key), getattr(pretraining.training, key)
        if ours != theirs:
            raise UserError(
                f"{where}: the pretraining's {key} is {theirs!r} but the experiment's is "
                f"{ours!r}: a backbone loads only into the same network; make them equal"
            )


def with_pretrained_backbones(study: Study) -> Study:
    """The study with each pretrained experiment's `pretrained` set to its pretraining's
    model file, so that every training of it (plain and methods) starts from that backbone."""
    experiments = {
        name: dataclasses.replace(
            experiment,
            training=dataclasses.replace(
                experiment.training, pretrained=pretraining_model(experiment.pretraining)
            ),
        )
        if experiment.pretraining is not None
        else experiment
        for name, experiment in study.experiments.items()
    }
    return dataclasses.replace(study, experiments=experiments)


def check_held_out_tasks(study: Study) -> None:
    """A held-out dataset has no verification pairs (they are dropped with its test split):
    its held-out identities are evaluated by leave-one-out retrieval."""
    for name, experiment in study.experiments.items():
        if experiment.task == VERIFICATION and study.datasets[experiment.eval].holdout:
            raise UserError(
                f"experiments.{name} evaluates verification on {experiment.eval}, whose "
                "holdout drops its pairs with its test split: set task: retrieval to "
                "validate on its held-out identities (leave-one-out R@1, MAP@R)"
            )


def check_method_params(config: Mapping[str, Any]) -> None:
    """Each experiment gives parameters only for methods it lists (`config` as the user wrote
    it: the defaults fill in every method's parameters): parameters of an unlisted method
    would otherwise be ignored without a word."""
    listed_by_default = schema_default("$defs", "experiment", "methods")
    for name, experiment in (config.get("experiments") or {}).items():
        methods = experiment.get("methods", listed_by_default)
        unlisted = [key for key in experiment.get("method_params", {}) if key not in methods]
        if unlisted:
            raise UserError(
                f"experiments.{name}.method_params has parameters for {', '.join(unlisted)}, "
                f"which experiments.{name}.methods ({', '.join(methods)}) does not list: add "
                f"{' and '.join(unlisted)} to methods, or remove the parameters"
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
        config = parse_checked(text, path)
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


def parse_checked(text: str, path: Path) -> Any:
    """`text` parsed once, the merge check on its node graph (which construction rewrites)
    before it is built; a YAMLError, even from the reader's first look at the text, is the
    caller's to word."""
    import yaml

    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        refuse_sequence_merges(node, path)
        return loader.construct_document(node) if node is not None else None
    finally:
        loader.dispose()


def refuse_sequence_merges(root: Any, path: Path) -> None:
    """Refuse `<<: [*a, *b]`: where the mappings share a key, which one wins differs between
    PyYAML versions (6.0.4 lets the later one win, against the YAML merge spec), so the
    same file would train different models on different machines."""
    import yaml

    stack, seen = [root], set()
    while stack:
        node = stack.pop()
        if id(node) in seen:  # an alias repeats a node; a recursive one would loop
            continue
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if key.tag == "tag:yaml.org,2002:merge" and isinstance(value, yaml.SequenceNode):
                    where = f"{path}:{key.start_mark.line + 1}"
                    raise UserError(
                        f"{where}: '<<: [...]' merges several mappings, and PyYAML versions "
                        "disagree on which wins a shared key: merge one mapping (an anchor "
                        "may itself merge another) and write the keys that differ"
                    )
                stack.append(value)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
