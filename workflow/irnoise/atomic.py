"""Atomic outputs: write to a temporary sibling, then rename over the target.

A killed job therefore never leaves a half-written file that looks complete; and within
`sigterm_exits()` (every `irnoise` command) SIGTERM raises SystemExit, so that the
`finally` blocks below remove the temporary file or folder too, whether Snakemake, a
cluster's scheduler or irnoise.jobs' watcher sent it. SIGKILL leaves it behind.
A write that fails (read-only or full folder) is one UserError naming the target and the reason.
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

from irnoise.outputs import refuse_foreign_folder, write_error

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
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as error:
        raise write_error(target, error) from None
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        # mkstemp creates the file readable by its owner only; give outputs the usual mode.
        os.chmod(tmp_path, 0o666 & ~current_umask())
        os.replace(tmp_path, target)
    except OSError as error:
        if not writing(error, tmp_path, target):
            raise
        raise write_error(target, error) from None
    finally:
        tmp_path.unlink(missing_ok=True)


def writing(error: OSError, tmp: Path, target: Path) -> bool:
    """Whether `error` is the write itself failing (not an input the caller was reading)."""
    return error.filename is None or str(error.filename) in {str(tmp), str(target)}


@contextlib.contextmanager
def atomic_directory(target: str | os.PathLike, marker: str) -> Iterator[Path]:
    """Yield a temporary directory beside `target`; move it onto `target` on success.

    An existing `target` is replaced only once the new content is complete, and only
    when it is a folder this command wrote (it holds `marker`) or an empty one.
    """
    target = Path(target)
    refuse_foreign_folder(target, marker)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    except OSError as error:
        raise write_error(target, error) from None
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~current_umask())  # mkdtemp's directory is owner-only too
        refuse_foreign_folder(target, marker)  # it may have changed while this one was written
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    except OSError as error:
        if error.filename is not None and not str(error.filename).startswith(str(tmp)):
            raise
        raise write_error(target, error) from None
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
