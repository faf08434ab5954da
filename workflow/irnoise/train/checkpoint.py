"""The per-epoch training checkpoint: what a killed run needs to resume exactly where it was.

`<out-dir>/checkpoint.pt` holds the model, loss and optimizer states, the epoch done,
the RNG states and the history so far (tensors and plain values: it is loaded with
weights_only=True), plus a fingerprint of what the run depends on
(config, seed, label file). It is written atomically, so a kill during the write keeps
the previous epoch's checkpoint. The learning rate needs no state of its own: it is a
function of the epoch (`training.lr_factor`).
"""

from __future__ import annotations

import hashlib
import random
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from irnoise.config import Training
from irnoise.errors import UserError
from irnoise.train import state_files

CHECKPOINT_NAME = "checkpoint.pt"
# Changing these does not change what the finished epochs computed: a run with more
# epochs goes on from a shorter one's checkpoint (the schedule depends on the epoch only).
RESUMABLE_CHANGES = frozenset({"epochs", "workers", "compile", "gpus"})


def fingerprint(
    config: Training, seed: int, labels: np.ndarray, method: str | None = None
) -> dict[str, Any]:
    """What must match for a checkpoint to be resumed (a noise-robust method's name too)."""
    digest = hashlib.sha256(np.ascontiguousarray(labels, dtype=np.int64).tobytes()).hexdigest()
    settings = {k: v for k, v in config.to_dict().items() if k not in RESUMABLE_CHANGES}
    settings |= {"method": method} if method else {}
    return {"config": settings, "seed": int(seed), "labels_sha256": digest}


def rng_states() -> dict[str, Any]:
    """Every RNG's state as tensors and plain values (loadable with weights_only=True)."""
    name, keys, position, has_gauss, gauss = np.random.get_state()
    states = {
        "torch": torch.get_rng_state(),
        "numpy": [name, torch.from_numpy(keys.astype(np.int64)), position, has_gauss, gauss],
        "python": random.getstate(),
    }
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def restore_rng_states(states: dict[str, Any]) -> None:
    torch.set_rng_state(states["torch"])
    name, keys, position, has_gauss, gauss = states["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), position, has_gauss, gauss))
    random.setstate(states["python"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def save(
    out_dir: str | Path,
    *,
    model: torch.nn.Module,
    loss: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    epoch: int,
    history: list[dict[str, float]],
    run_fingerprint: dict[str, Any],
) -> Path:
    target = Path(out_dir) / CHECKPOINT_NAME
    state = {
        "model": model.state_dict(),
        "loss": loss.state_dict(),
        "optimizer": optimizer.state_dict(),
        "epoch": epoch,
        "history": history,
        "rng": rng_states(),
        "fingerprint": run_fingerprint,
    }
    state_files.save(target, state)
    return target


def load(
    out_dir: str | Path, run_fingerprint: dict[str, Any], epochs: int
) -> dict[str, Any] | None:
    """The checkpoint to resume from, or None (absent, or made by another config: warned)."""
    path = Path(out_dir) / CHECKPOINT_NAME
    if not path.is_file():
        return None
    try:
        state = state_files.load(path, "checkpoint", "starting fresh")
    except UserError as error:  # a truncated file cannot happen (atomic), a foreign one can
        warnings.warn(f"ignoring it: {error}", stacklevel=2)
        return None
    if state.get("fingerprint") != run_fingerprint:
        warnings.warn(
            f"ignoring checkpoint {path}: it was made with another config, seed or label "
            "file; starting fresh (it is overwritten after the first epoch)",
            stacklevel=2,
        )
        return None
    if state["epoch"] > epochs:
        warnings.warn(
            f"ignoring checkpoint {path}: it is at epoch {state['epoch']}, beyond the "
            f"{epochs} epochs asked for; starting fresh",
            stacklevel=2,
        )
        return None
    return state


def remove(out_dir: str | Path) -> None:
    """Delete the checkpoint of a finished run (model.pt holds what is kept)."""
    (Path(out_dir) / CHECKPOINT_NAME).unlink(missing_ok=True)


def restore(
    state: dict[str, Any],
    model: torch.nn.Module,
    loss: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
) -> tuple[int, list[dict[str, float]]]:
    """Load a checkpoint's states in place; returns (epochs done, history so far)."""
    model.load_state_dict(state["model"])
    loss.load_state_dict(state["loss"])
    optimizer.load_state_dict(state["optimizer"])
    restore_rng_states(state["rng"])
    return int(state["epoch"]), list(state["history"])
