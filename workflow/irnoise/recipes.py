"""Recipes: the study's training settings varied in ways fixed in advance (config `recipes`).

A recipe overrides an experiment's training settings (the keys of `Training`, the ones that
change a trained model) in three small, explicit ways:

    scale: {lr: 1.5, loss_lr: 1.5}            multiply numbers (a null setting stays null)
    set: {loss_params.margin: 28.6}           set values; `a.b` sets entry b of mapping a
    when: {loss: ArcFaceLoss}                 only where these settings are equal

For each experiment whose trained model a recipe changes, `expand` adds an experiment
`<experiment>-<recipe>` with the overrides applied; the base experiments keep their names,
so a run with recipes reuses every run of the config without them. An experiment a recipe
leaves unchanged is not duplicated: the recipe reads the base experiment's runs. The
config's own recipe is `default` (`irnoise.plan.DEFAULT_RECIPE`).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from irnoise.errors import UserError
from irnoise.plan import DEFAULT_RECIPE

# Between an experiment's and a recipe's name in a derived experiment's name: a character
# the experiment-name pattern allows, so the derived name is a valid path part and wildcard.
SEPARATOR = "-"


@dataclass(frozen=True)
class Recipe:
    name: str
    scale: Mapping[str, float]
    set: Mapping[str, Any]
    when: Mapping[str, Any]

    @classmethod
    def from_mapping(
        cls,
        name: str,
        values: Mapping[str, Any],
        training_keys: frozenset[str],
        experiment_keys: frozenset[str],
    ) -> Recipe:
        """From a config's recipe (schema-checked, defaults filled in); keys outside the
        training settings are refused here, with the keys that are allowed."""
        where = f"recipes.{name}"
        if name == DEFAULT_RECIPE:
            raise UserError(
                f"{where}: {DEFAULT_RECIPE!r} names the config's own recipe: give the recipe "
                "another name"
            )
        for key in values["scale"]:
            _check_key(f"{where}.scale", key, training_keys)
        for key in values["set"]:
            _check_key(f"{where}.set", key.split(".", 1)[0], training_keys)
        for key in values["when"]:
            _check_key(f"{where}.when", key, experiment_keys)
        if not values["scale"] and not values["set"]:
            raise UserError(f"{where}: a recipe needs `scale` or `set` (it changes nothing)")
        return cls(name, dict(values["scale"]), dict(values["set"]), dict(values["when"]))

    def matches(self, experiment: Mapping[str, Any]) -> bool:
        """Whether an experiment (defaults filled in) has every setting of `when`."""
        return all(experiment.get(key) == value for key, value in self.when.items())

    def applied(self, experiment: Mapping[str, Any], where: str) -> dict[str, Any]:
        """A copy of an experiment (defaults filled in) with the overrides applied."""
        result = copy.deepcopy(dict(experiment))
        for key, factor in self.scale.items():
            value = result.get(key)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise UserError(
                    f"recipes.{self.name}.scale.{key}: {where}.{key} is {value!r}, not a "
                    "number: scale only numeric settings"
                )
            # 12 significant digits: 0.001 x 1.5 is 0.0015 in the job's settings, not
            # 0.0015000000000000002.
            result[key] = float(f"{value * factor:.12g}")
        for key, value in self.set.items():
            head, _, entry = key.partition(".")
            if not entry:
                result[head] = copy.deepcopy(value)
                continue
            mapping = result.get(head)
            if not isinstance(mapping, Mapping):
                raise UserError(
                    f"recipes.{self.name}.set.{key}: {where}.{head} is not a mapping, so it "
                    f"has no entry {entry!r}: set {head} as a whole"
                )
            result[head] = {**mapping, entry: copy.deepcopy(value)}
        return result


def _check_key(where: str, key: str, allowed: frozenset[str]) -> None:
    if key not in allowed:
        raise UserError(
            f"{where}: {key!r} is not a setting a recipe can use: use one of "
            f"{', '.join(sorted(allowed))}"
        )


def derived_name(experiment: str, recipe: str) -> str:
    """The experiment a recipe adds for a base experiment it changes."""
    return f"{experiment}{SEPARATOR}{recipe}"
