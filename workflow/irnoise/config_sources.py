"""Which config a run uses: the default file or the presets, with command-line overrides on top.

Snakemake hands the Snakefile `config` already holding every `--configfile` merged in
order (later files win, key by key, nested mappings merged, lists replaced) and then the
`--config` overrides. This workflow reads its default file itself (see the Snakefile),
so without `--configfile` the default file is read and the overrides are applied again
on top of it; with `--configfile` the presets replace the default file as a whole.

Snakemake parses a `--config` value that is a list or a mapping with YAML's BaseLoader,
which keeps every scalar in it a string (`seeds=[0]` arrives as `["0"]`): the strings
inside such values are read again as YAML scalars here, so `[0]` means `[0]`, as it
would in a config file. Top-level values were already typed by Snakemake.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from irnoise.config import read_yaml


def yaml_scalar(text: str) -> Any:
    """`text` as YAML reads a scalar (`0` -> 0, `0.5` -> 0.5, `true` -> True), else as is."""
    import yaml

    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    # Only a scalar: a string such as "a: b" stays the string it was given as.
    return value if isinstance(value, (int, float, bool)) or value is None else text


def typed_nested(value: Any) -> Any:
    """A `--config` value with the strings nested in its lists and mappings typed."""
    if isinstance(value, Mapping):
        return {key: typed_item(item) for key, item in value.items()}
    if isinstance(value, list):
        return [typed_item(item) for item in value]
    return value  # a top-level value: Snakemake has typed it


def typed_item(value: Any) -> Any:
    return yaml_scalar(value) if isinstance(value, str) else typed_nested(value)


def typed_overrides(overrides: Mapping[str, Any]) -> dict[str, Any]:
    """The `--config` overrides with the scalars nested in them typed."""
    return {key: typed_nested(value) for key, value in overrides.items()}


def merged(base: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """`base` with `overrides` on top: mappings merged key by key, anything else replaced
    (Snakemake's own rule for `--configfile` and `--config`)."""
    result = dict(base)
    for key, value in overrides.items():
        if isinstance(value, Mapping) and isinstance(result.get(key), Mapping):
            result[key] = merged(result[key], value)
        else:
            result[key] = value
    return result


def run_config(
    config: Mapping[str, Any],
    configfiles: Sequence[str | Path],
    overrides: Mapping[str, Any],
    default: str | Path,
) -> dict[str, Any]:
    """The config a run uses: `config` as Snakemake made it from the `configfiles` and the
    `overrides`, or the `default` file if no config file was given; the overrides on top."""
    for path in configfiles:
        read_yaml(path)  # Snakemake has read it; this checks what Snakemake does not
    base = dict(config) if configfiles else read_yaml(default)
    return merged(base, typed_overrides(overrides))
