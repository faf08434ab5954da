"""Command-line arguments that carry JSON (a rule's canonical `params:`)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from irnoise.errors import UserError


def add_bootstrap_arguments(parser: argparse.ArgumentParser) -> None:
    """--resamples and --confidence of the report's bootstrap intervals; their defaults are
    the config schema's (statistics), which the workflow's rules pass on."""
    from irnoise.schema import schema_default

    parser.add_argument(
        "--resamples",
        type=int,
        default=schema_default("statistics", "resamples"),
        help="bootstrap resamples (default: statistics.resamples of the config schema)",
    )
    parser.add_argument(
        "--confidence",
        type=float,
        default=schema_default("statistics", "confidence"),
        help="confidence level of the intervals (default: statistics.confidence)",
    )


def json_object(text: str, flag: str) -> dict[str, Any]:
    """The JSON object given to `flag`, or a UserError naming the flag."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise UserError(f"{flag} is not valid JSON ({error}): pass a JSON object") from error
    if not isinstance(value, dict):
        raise UserError(f"{flag} must be a JSON object, got {text!r}")
    return value
