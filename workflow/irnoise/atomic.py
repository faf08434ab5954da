"""Atomic outputs: write to a temporary sibling, then rename over the target.

A killed job therefore never leaves a half-written file that looks complete; and within
`sigterm_exits()` (every `irnoise` command) SIGTERM raises SystemExit, so that the
`finally` blocks below remove the temporary file or folder too, whether Snakemake, a
cluster's scheduler or irnoise.jobs' watcher sent it. SIGKILL leaves it behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

# The exit status of a process ended by SIGTERM, as a shell reports it.
SIGTERM_STATUS = 128 + signal.SIGTERM


def _exit_on_sigterm(signum: int, frame: object) -> None:
    # A second SIGTERM ends the process at once, cleanup or not.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    raise SystemExit(SIGTERM_STATUS)


@contextlib.contextmanager
def sigterm_exits() -> Iterator[None]:
    """SIGTERM raises SystemExit while inside, so temporary files are removed on the way out."""
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread can set a handler (and it receives the signal)
        return
    previous = signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def current_umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `target`; rename it onto `target` on success."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        # mkstemp creates the file readable by its owner only; give outputs the usual mode.
        os.chmod(tmp_path, 0o666 & ~current_umask())
        os.replace(tmp_path, target)
    finally:
        tmp_path.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_directory(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary directory beside `target`; move it onto `target` on success.

    An existing `target` is replaced only once the new content is complete.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~current_umask())  # mkdtemp's directory is owner-only too
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def write_text(target: str | os.PathLike, text: str) -> None:
    with atomic_path(target) as tmp:
        tmp.write_text(text)


def write_json(target: str | os.PathLike, data: Any) -> None:
    write_text(target, json.dumps(data, indent=2, sort_keys=True) + "\n")


def save_npy(target: str | os.PathLike, array: Any) -> None:
    import numpy as np

    with atomic_path(target) as tmp, open(tmp, "wb") as handle:
        np.save(handle, array)


def write_bytes(target: str | os.PathLike, data: bytes) -> None:
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)
