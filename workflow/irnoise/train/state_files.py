"""The torch files irnoise writes (model.pt, checkpoint.pt): plain data, safe to load.

Both hold only tensors and plain Python values (dicts, lists, tuples, numbers, strings), so
they are read with `torch.load(weights_only=True)`: a crafted file cannot run code. They are
serialized into memory first: `torch.save` to a path names the archive's records after the
file, and the atomic write's temporary name differs between runs; in memory the name is
fixed, so identical runs give byte-identical files.
"""

from __future__ import annotations

import io
import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch

from irnoise.atomic import write_bytes
from irnoise.errors import UserError


def save(path: str | Path, payload: dict[str, Any]) -> None:
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    write_bytes(path, buffer.getvalue())


def load(path: str | Path, what: str, remedy: str) -> dict[str, Any]:
    """The payload of `path`, or a UserError naming the file, what it should be, and `remedy`."""
    path = Path(path)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, zipfile.BadZipFile, RuntimeError, EOFError, ValueError) as e:
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise UserError(f"{path} is not a readable {what} ({reason}): {remedy}") from e
    if not isinstance(payload, dict):
        raise UserError(f"{path} is not a {what} (it holds a {type(payload).__name__}): {remedy}")
    return payload
