"""The config schema (`workflow/schemas/config.schema.yaml`): the one place each key's meaning
and default are written, and the checks made against it.

`with_defaults` fills what a config leaves out; `schema_default` and `method_defaults` give a
command's option defaults; `check_schema`, `check_values`, `check_method`,
`check_dataset_source` and `check_setting` check a config or a command's JSON and values,
each error one line naming the key, the value and what was expected. JSON Schema lets NaN
and infinity through every bound, so every number is also checked to be finite.

Standard library only at module level (jsonschema and yaml load late): the Snakefile and
`irnoise noise` import it.
"""

from __future__ import annotations

import copy
import difflib
import functools
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from irnoise.errors import UserError
from irnoise.plan import PRISM, PRISM_GUESS

SCHEMA = Path(__file__).resolve().parents[1] / "schemas" / "config.schema.yaml"


def plain(value: Any) -> Any:
    """JSON-like value with tuples as lists (what YAML and JSON give back)."""
    if isinstance(value, Mapping):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    return value


def unknown_key_message(where: str, key: str, known: list[str]) -> str:
    close = difflib.get_close_matches(key, known, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return f"{where}: unknown key {key!r}: {hint}known keys: {', '.join(known)}"


def with_defaults(config: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of `config` with every key it leaves out set to the schema's default, at every
    depth (each experiment, dataset and method's parameters). A value of the wrong type is
    left as it is, for `check_schema` to name."""
    filled = copy.deepcopy(plain(config))
    _fill_defaults(filled, schema())
    return filled


def _fill_defaults(instance: Any, node: Mapping[str, Any]) -> None:
    node = _resolved(node)
    if not isinstance(instance, dict):
        return
    properties = node.get("properties", {})
    for key, definition in properties.items():
        definition = _resolved(definition)
        if key not in instance and "default" in definition:
            instance[key] = copy.deepcopy(definition["default"])
        if key in instance:
            _fill_defaults(instance[key], definition)
    entries = node.get("additionalProperties")
    if isinstance(entries, Mapping):
        for key, value in instance.items():
            if key not in properties:
                _fill_defaults(value, entries)


def _resolved(node: Mapping[str, Any]) -> Mapping[str, Any]:
    """A schema node with its local `$ref` (#/$defs/<name>) followed."""
    reference = node.get("$ref") if isinstance(node, Mapping) else None
    if reference is None:
        return node
    return schema()["$defs"][reference.removeprefix("#/$defs/")]


@functools.cache
def schema() -> dict[str, Any]:
    import yaml

    return yaml.safe_load(SCHEMA.read_text())


def schema_node(*keys: str) -> Mapping[str, Any]:
    """The schema's definition of one key: `schema_node("detect", "k")`, or under a
    definition, `schema_node("$defs", "experiment", "threads")`."""
    node: Mapping[str, Any] = schema()
    if keys and keys[0] == "$defs":
        node, keys = node["$defs"][keys[1]], keys[2:]
    for key in keys:
        node = node["properties"][key]
    return node


def schema_default(*keys: str) -> Any:
    """The schema's default of one key (keys as for `schema_node`). Commands take their option
    defaults from here, so that a default is written once, in the schema."""
    return schema_node(*keys)["default"]


def method_defaults(method: str) -> dict[str, Any]:
    """The schema's defaults of a training method's parameters ({} for a method without)."""
    methods = schema()["$defs"]["experiment"]["properties"]["method_params"]["properties"]
    defined = methods.get(method, {}).get("properties", {})
    return {key: spec["default"] for key, spec in defined.items()}


def schema_errors(instance: Any, definition: Mapping[str, Any]) -> list[str]:
    """The first errors (at most 3) as key path, value and what was expected.

    Every number must be finite, wherever it stands: JSON Schema's number type admits NaN
    and infinity (YAML's .nan, .inf; Python's json reads NaN), which pass every bound.
    """
    import jsonschema

    # A part of the schema keeps its references (#/$defs/...) resolvable.
    validator = jsonschema.Draft202012Validator({"$defs": schema()["$defs"]} | dict(definition))
    errors = sorted(
        validator.iter_errors(instance), key=lambda e: (len(e.path), list(map(str, e.path)))
    )
    lines = [
        f"{key_path(path)}: got {json.dumps(value)}, expected a finite number"
        for path, value in non_finite_numbers(instance)
    ]
    lines += [schema_error_message(error) for error in errors]
    return lines[:3] + ([f"(and {len(lines) - 3} more)"] if len(lines) > 3 else [])


def non_finite_numbers(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[tuple, float]]:
    """(key path, value) of every NaN or infinite number in a JSON-like value."""
    if isinstance(value, float) and not math.isfinite(value):
        return [(path, value)]
    if isinstance(value, Mapping):
        items: Any = value.items()
    elif isinstance(value, list | tuple):
        items = enumerate(value)
    else:
        return []
    return [found for key, item in items for found in non_finite_numbers(item, (*path, key))]


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
        description = error.schema.get("description", "").rstrip(".")
        why = f" ({description})" if description else ""
        return f"{where}: unexpected key(s) {', '.join(map(repr, unexpected))}{why}"
    if error.validator == "required":
        return f"{where}: {error.message} (add it)"
    if error.validator == "pattern" and "description" in error.schema:
        return f"{where}: got {json.dumps(error.instance)}, expected {error.schema['description']}"
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


def method_definition(name: str) -> dict[str, Any]:
    """The schema of a method given by hand (`irnoise train --method`): its name and its
    method_params definition; PRISM's noise_rate, which the workflow sets to each run's true
    level, is required (defined as prism_guess's)."""
    methods = schema_node("$defs", "experiment", "method_params")["properties"]
    definition = copy.deepcopy(methods.get(name, {"type": "object", "properties": {}}))
    definition["additionalProperties"] = False
    definition["properties"]["name"] = {"const": name}
    if name == PRISM:
        rate = methods[PRISM_GUESS]["properties"]["noise_rate"]
        definition["properties"]["noise_rate"] = {k: v for k, v in rate.items() if k != "default"}
        definition["required"] = ["noise_rate"]
    return definition


def check_method(values: Mapping[str, Any], where: str = "--method") -> dict[str, Any]:
    """A method's JSON ({"name": ..., parameters}) checked against the schema's definitions:
    a known name, its own parameters only, each within its bounds."""
    names = schema_node("$defs", "experiment", "methods")["items"]
    naming = {"type": "object", "required": ["name"], "properties": {"name": names}}
    if lines := schema_errors(dict(values), naming):
        raise UserError(f"{where}: " + "; ".join(lines) + f" (one of {', '.join(names['enum'])})")
    if lines := schema_errors(dict(values), method_definition(values["name"])):
        raise UserError(f"{where}: " + "; ".join(lines))
    return dict(values)


def check_dataset_source(values: Mapping[str, Any], where: str) -> None:
    """A command's dataset ({source, root, options}, and holdout, holdout_seed where set;
    e.g. detect's --dataset) against the schema's dataset definition: a known source, and
    the options that source takes."""
    dataset = schema_node("$defs", "dataset")
    keys = ("source", "root", "options", "holdout", "holdout_seed")
    definition = {
        "type": "object",
        "additionalProperties": False,
        "required": ["source"],
        "properties": {key: dataset["properties"][key] for key in keys},
        "allOf": dataset["allOf"],
    }
    if lines := schema_errors(dict(values), definition):
        raise UserError(f"{where}: " + "; ".join(lines))


def check_setting(value: Any, where: str, *keys: str) -> None:
    """One command-line value against the schema's definition of a key (keys as for
    `schema_node`), e.g. detect's --top against detect.top."""
    if lines := schema_errors(value, schema_node(*keys)):
        raise UserError(f"{where}: " + "; ".join(line.partition(": ")[2] for line in lines))
