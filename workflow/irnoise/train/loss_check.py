"""Loss settings checked before any job runs: the loss exists in pytorch-metric-learning,
takes the given `loss_params` (names and values), and has a class head when the task needs
one. Snakemake runs it after `irnoise.config.load_study` (common.smk), so that
`snakemake -n` stops with one message naming the key instead of a train job failing hours
later. It imports torch (seconds): settings found good are remembered in a cache file.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from importlib.metadata import version
from pathlib import Path
from typing import Any

from irnoise.config import Experiment, Study, Training, canonical
from irnoise.errors import UserError
from irnoise.schema import plain

# Loss arguments `build_loss` fills in from the data and the network.
LOSS_FILLED = frozenset({"num_classes", "embedding_size", "descriptors_dim"})


# Loss arguments that take pytorch-metric-learning objects, which a YAML or JSON config
# cannot hold (a string there fails only inside the training loop), and what to do instead.
OBJECT_ARGUMENTS = {
    "distance": "the loss's own distance applies; for another one, choose a loss built on it",
    "reducer": "the loss's default reducer (the mean over the batch) applies",
    "embedding_regularizer": "regularize with the experiment's weight_decay instead",
    "weight_regularizer": "regularize with the experiment's weight_decay instead",
    "weight_init_func": "the loss initializes its class weights its own way",
}

# Bump when check_loss checks more: settings cached as good are then checked again.
LOSS_CHECK_VERSION = 2


def loss_check_key(experiment: Experiment) -> str:
    """What check_loss's verdict depends on, hashed (pytorch-metric-learning's version too)."""
    training = experiment.training
    settings = {
        "check": LOSS_CHECK_VERSION,
        "pytorch-metric-learning": version("pytorch-metric-learning"),
        "loss": training.loss,
        "loss_params": plain(training.loss_params),
        "embedding_size": training.embedding_size,
        "task": experiment.task,
    }
    return hashlib.sha256(canonical(settings).encode()).hexdigest()


def check_losses(study: Study, cache: Path | None = None) -> None:
    """check_loss for every experiment, except settings `cache` lists as already good.

    The check imports pytorch-metric-learning and torch (seconds); with the cache, only a
    dry-run after a loss setting changed pays for it. Only good settings are recorded.
    """
    known: set[str] = set()
    if cache is not None and cache.is_file():
        with contextlib.suppress(ValueError, OSError):
            known = set(json.loads(cache.read_text()))
    keys = {name: loss_check_key(e) for name, e in study.experiments.items()}
    unchecked = [e for name, e in study.experiments.items() if keys[name] not in known]
    for experiment in unchecked:
        check_loss(experiment)
    if unchecked and cache is not None:
        from irnoise.atomic import write_json

        write_json(cache, sorted(known | set(keys.values())))


def check_loss(experiment: Experiment) -> None:
    """The loss exists, takes the given loss_params, and has a class head if the task needs one."""
    # Imported here, not at the top: torch and pytorch-metric-learning take seconds, which
    # a dry-run whose losses are all in the cache must not pay.
    from irnoise.train.losses import has_class_head, loss_arguments, loss_classes

    training, where = experiment.training, f"experiments.{experiment.name}"
    classes = loss_classes()
    if training.loss not in classes:
        raise UserError(
            f"{where}.loss: unknown loss {training.loss!r}: use a pytorch-metric-learning loss "
            f"class name, one of {', '.join(sorted(classes))}"
        )
    accepted, required = loss_arguments(classes[training.loss])
    given = set(training.loss_params)
    for key in sorted(given):
        if key not in accepted or key in LOSS_FILLED:
            filled = " (irnoise fills it in)" if key in LOSS_FILLED else ""
            raise UserError(
                f"{where}.loss_params: {training.loss} takes no argument {key!r}{filled}; "
                f"its arguments: {', '.join(sorted(accepted - LOSS_FILLED))}"
            )
    check_no_objects(training, where)
    missing = sorted(required - given - LOSS_FILLED)
    if missing:
        raise UserError(f"{where}.loss_params: {training.loss} needs {', '.join(missing)}")
    loss = probe_loss(training, where)
    if experiment.task == "classification" and not has_class_head(loss):
        raise UserError(
            f"{where}: task classification needs a loss with a class head (class weights), "
            f"and {training.loss} has none: use ArcFaceLoss, NormalizedSoftmaxLoss, "
            "CosFaceLoss, ... or another task"
        )


def check_no_objects(training: Training, where: str) -> None:
    """No loss_params value stands for an object (null, the loss's default, is fine)."""
    for key, value in sorted(training.loss_params.items()):
        if key in OBJECT_ARGUMENTS and value is not None:
            raise UserError(
                f"{where}.loss_params.{key}: {training.loss} takes a pytorch-metric-learning "
                f"object there, which a config cannot hold (got {value!r}): leave {key} out; "
                f"{OBJECT_ARGUMENTS[key]}"
            )


def probe_loss(training: Training, where: str) -> Any:
    """The loss built for a few classes: checks the values of loss_params, not only names."""
    from irnoise.train.losses import build_loss

    try:
        return build_loss(training, num_classes=4)
    except UserError as error:
        raise UserError(f"{where}.loss_params: {error}") from error
