"""Command-line arguments that carry JSON (a rule's canonical `params:`)."""

from __future__ import annotations

import json
from typing import Any

from irnoise.errors import UserError


def json_object(text: str, flag: str) -> dict[str, Any]:
    """The JSON object given to `flag`, or a UserError naming the flag."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise UserError(f"{flag} is not valid JSON ({error}): pass a JSON object") from error
    if not isinstance(value, dict):
        raise UserError(f"{flag} must be a JSON object, got {text!r}")
    return value
