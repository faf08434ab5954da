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
import warnings
from pathlib import Path
from typing import Any

import torch

from irnoise.atomic import write_bytes
from irnoise.errors import UserError


def save(path: str | Path, payload: dict[str, Any]) -> None:
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    write_bytes(path, buffer.getvalue())


def reason(error: Exception) -> str:
    """Why torch.load failed, in one line (its weights-only refusal runs to many)."""
    text = str(error)
    if isinstance(error, pickle.UnpicklingError) and "Weights only load failed" in text:
        if "GLOBAL" in text:  # "unsupported GLOBAL posix.system ...": a class or function
            return "it holds Python objects besides tensors and plain values: refused, nothing run"
        # Not a torch archive at all, or a raw pickle: the safe unpickler stops at the first
        # instruction it does not know ("Unsupported operand N"), before anything can run.
        detail = text.partition("WeightsUnpickler error:")[2].strip().split("\n")[0]
        return f"torch's safe loader cannot read it: {detail or 'not a torch file'}; nothing run"
    return text.splitlines()[0] if text else type(error).__name__


def load(path: str | Path, what: str, remedy: str) -> dict[str, Any]:
    """The payload of `path`, or a UserError naming the file, what it should be, and `remedy`."""
    path = Path(path)
    try:
        with warnings.catch_warnings():  # torch warns about pickle protocols of odd files
            warnings.simplefilter("ignore", UserWarning)
            payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # any failure to read it (zip, pickle, struct, ...) says the same
        raise UserError(f"{path} is not a readable {what} ({reason(error)}): {remedy}") from error
    if not isinstance(payload, dict):
        raise UserError(f"{path} is not a {what} (it holds a {type(payload).__name__}): {remedy}")
    return payload
