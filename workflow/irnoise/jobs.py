"""What ties a long job to its run: a lock on the run's folder, and an end with its Snakemake.

`lock_run(folder)` takes an exclusive `fcntl.flock` on `<folder>/.train.lock` for the life
of the process (and of the process it `exec`s into, e.g. torchrun), so a second training
of the same run, e.g. started after `snakemake --unlock` while an orphan still runs, stops
at once with a clear message. The kernel drops the lock when the process dies, however.

`end_with_snakemake()` ends this process when the Snakemake that started it dies. Snakemake
runs a job's shell command as `bash -c` from a worker thread, so the job's parent is bash
and Linux's parent-death signal (PR_SET_PDEATHSIG) would watch bash, or fire when the worker
thread ends: instead a daemon thread polls the nearest ancestor whose command line names
snakemake (found with psutil, identified by pid and start time, so a reused pid does not
count) and ends this process with SIGTERM once it is gone (SIGKILL if it is still there
`GRACE_SECONDS` later, e.g. inside a long C call). DataLoader workers follow their parent.
The SIGTERM that ends it removes its temporary files (irnoise.atomic.sigterm_exits).
"""

from __future__ import annotations

import fcntl
import os
import signal
import threading
from pathlib import Path
from typing import IO

import psutil

from irnoise.errors import UserError

LOCK_NAME = ".train.lock"
POLL_SECONDS = 1.0
GRACE_SECONDS = 30.0
# A zombie has ended: only its parent has not collected its exit status yet.
GONE = (psutil.STATUS_ZOMBIE, psutil.STATUS_DEAD)
# Open lock files, kept so that their locks last as long as the process.
_held_locks: list[IO[str]] = []


def lock_run(folder: str | Path) -> Path:
    """Hold an exclusive lock on `folder` (created if needed), or a UserError if it is held."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_NAME
    handle = open(path, "a")  # noqa: SIM115 - kept open: the lock lasts as long as the file
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise UserError(
            f"another `irnoise train` is training {folder} (it holds {path}): two trainings "
            "would write the same run; wait for it to finish, or stop it (an orphan of an "
            "earlier Snakemake, after --unlock?) and rerun"
        ) from None
    # Survives an exec (into torchrun), whose process then holds the lock.
    os.set_inheritable(handle.fileno(), True)
    _held_locks.append(handle)
    return path


def start_time(pid: int) -> float | None:
    """A live process's start time (seconds since the epoch); None if gone or a zombie."""
    try:
        process = psutil.Process(pid)
        if process.status() in GONE:
            return None
        return process.create_time()
    except psutil.Error:
        return None


def is_snakemake(process: psutil.Process) -> bool:
    """Runs `snakemake ...` or `python -m snakemake ...` (not a job's own command)."""
    try:
        arguments = process.cmdline()
    except psutil.Error:
        return False
    return any(Path(argument).name == "snakemake" for argument in arguments[:3])


def snakemake_ancestor(pid: int | None = None) -> int | None:
    """The nearest ancestor of `pid` (default: this process) that runs Snakemake."""
    try:
        ancestors = psutil.Process(pid).parents()  # nearest first
    except psutil.Error:
        return None
    # init (pid 1) is never followed: it adopts orphans, whatever started them.
    found = (p.pid for p in ancestors if p.pid > 1 and is_snakemake(p))
    return next(found, None)


def end_with_snakemake(pid: int | None = None, poll_seconds: float = POLL_SECONDS) -> int | None:
    """Watch Snakemake process `pid` (default: the ancestor found); returns the pid watched."""
    pid = snakemake_ancestor() if pid is None else pid
    started = start_time(pid) if pid else None
    if pid is None or started is None:
        return None  # not started by Snakemake (or no /proc): nothing to follow

    def watch() -> None:
        while start_time(pid) == started:
            threading.Event().wait(poll_seconds)
        os.kill(os.getpid(), signal.SIGTERM)
        threading.Event().wait(GRACE_SECONDS)
        os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=watch, name="end-with-snakemake", daemon=True).start()
    return pid
