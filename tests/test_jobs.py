"""Jobs: a lock stops a second training of the same run; a job ends with its Snakemake."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from irnoise import jobs
from irnoise.cli import main
from irnoise.errors import UserError


def test_second_lock_on_a_run_is_refused_with_a_clear_message(tmp_path):
    run = tmp_path / "results" / "runs" / "sop" / "clean" / "0" / "seed0"
    assert jobs.lock_run(run) == run / jobs.LOCK_NAME
    with pytest.raises(UserError, match=f"another `irnoise train` is training {run}"):
        jobs.lock_run(run)


def test_lock_is_released_when_its_process_dies(tmp_path):
    code = f"from irnoise import jobs; jobs.lock_run({str(tmp_path)!r}); print('locked')"
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
    jobs.lock_run(tmp_path)  # the first process is gone, and so is its lock


def test_train_command_refuses_a_run_being_trained(tmp_path, capsys):
    run, shards = tmp_path / "run", tmp_path / "shards"
    shards.mkdir()
    jobs.lock_run(run)
    argv = ["train", "--shards", str(shards), "--config", "{}", "--out-dir", str(run)]
    assert main(argv) == 2
    assert "another `irnoise train` is training" in capsys.readouterr().err


def fake_snakemake(folder: Path, job: str) -> Path:
    """An executable named snakemake that runs `job` the way Snakemake runs a shell job:
    through `bash -c` from a worker thread, without exec."""
    script = folder / "snakemake"
    script.write_text(
        textwrap.dedent(f"""\
        #!{sys.executable}
        import subprocess, threading, time
        def run():
            subprocess.run(["bash", "-c", "set -euo pipefail; " + {job!r} + "; true"])
        threading.Thread(target=run).start()
        time.sleep(600)
        """)
    )
    script.chmod(0o755)
    return script


def wait_for(path: Path, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} did not appear"
        time.sleep(0.05)


def alive(pid: int) -> bool:
    return jobs.start_time(pid) is not None


def test_job_ends_when_its_snakemake_is_killed(tmp_path):
    pid_file = tmp_path / "job.pid"
    code = tmp_path / "job.py"
    code.write_text(
        "import os, time\n"
        "from irnoise import jobs\n"
        "watched = jobs.end_with_snakemake(poll_seconds=0.1)\n"
        f"open({str(pid_file)!r}, 'w').write(f'{{os.getpid()}} {{watched}}')\n"
        "time.sleep(600)\n"
    )
    job = f"{sys.executable} {code}"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    snakemake = subprocess.Popen([str(fake_snakemake(tmp_path, job))], env=env)
    try:
        wait_for(pid_file)
        time.sleep(0.1)
        job_pid, watched = map(int, pid_file.read_text().split())
        assert watched == snakemake.pid, "the job found the wrong ancestor"
        assert alive(job_pid)
        snakemake.kill()
        snakemake.wait()
        deadline = time.monotonic() + 5
        while alive(job_pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not alive(job_pid), "the job outlived its Snakemake"
    finally:
        if snakemake.poll() is None:
            snakemake.kill()
        if pid_file.exists():
            job_pid = int(pid_file.read_text().split()[0])
            if alive(job_pid):
                os.kill(job_pid, signal.SIGKILL)


def test_nothing_is_watched_without_snakemake():
    assert jobs.snakemake_ancestor() is None or "snakemake" in json.dumps(sys.argv)
    assert jobs.end_with_snakemake(pid=2**22 + 12345) is None  # no such process


# Arguments each long command parses; what they name is never read (the work is stubbed).
LONG_COMMAND_ARGUMENTS = {
    "shard": [
        "--source",
        "folder",
        "--root",
        "r",
        "--out",
        "o",
        "--image-size",
        "8",
        "--shard-size",
        "8",
    ],
    "train": ["--shards", "s", "--config", "{}", "--out-dir", "o"],
    "evaluate": [
        "--model",
        "m",
        "--shards",
        "s",
        "--task",
        "retrieval",
        "--config",
        "{}",
        "--run",
        "{}",
        "--out",
        "o",
    ],
    "detect": ["--model", "m", "--shards", "s", "--config", "{}", "--out", "o"],
    "subcenter": ["--model", "m", "--shards", "s", "--out", "o"],
}


def stubbed_command(command: str, work: str, ready: Path) -> str:
    """Python code running `irnoise COMMAND` through its real entry point, with the
    command's work replaced by `work` (hours of work in a test would be hours)."""
    argv = [command, *LONG_COMMAND_ARGUMENTS[command]]
    return textwrap.dedent(f"""\
        import os, sys, time
        from pathlib import Path
        import irnoise.commands.{command} as command
        def work(args):
            Path({str(ready)!r}).write_text(str(os.getpid()))
            {work}
        command.run = work
        from irnoise.cli import main
        sys.exit(main({argv!r}))
        """)


def run_under_snakemake(tmp_path: Path, code: str) -> subprocess.Popen:
    script = tmp_path / "job.py"
    script.write_text(code)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    return subprocess.Popen([str(fake_snakemake(tmp_path, f"{sys.executable} {script}"))], env=env)


def test_long_commands_are_listed():
    from irnoise.cli import COMMANDS, LONG_COMMANDS

    assert set(LONG_COMMANDS) == set(LONG_COMMAND_ARGUMENTS) <= set(COMMANDS)


@pytest.mark.parametrize("command", sorted(LONG_COMMAND_ARGUMENTS))
def test_long_command_ends_when_its_snakemake_is_killed(tmp_path, command):
    # Only `irnoise train` watched its Snakemake: detect and the others ran on as orphans.
    ready = tmp_path / "ready"
    code = stubbed_command(command, "time.sleep(600)", ready)
    snakemake = run_under_snakemake(tmp_path, code)
    job_pid = None
    try:
        wait_for(ready)
        job_pid = int(ready.read_text())
        assert alive(job_pid)
        snakemake.kill()
        snakemake.wait()
        deadline = time.monotonic() + 10
        while alive(job_pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not alive(job_pid), f"irnoise {command} outlived its Snakemake"
    finally:
        if snakemake.poll() is None:
            snakemake.kill()
        if job_pid and alive(job_pid):
            os.kill(job_pid, signal.SIGKILL)


@pytest.mark.parametrize("writer", ["atomic_path", "atomic_directory"])
def test_sigterm_mid_write_leaves_no_temporary_file(tmp_path, writer):
    # SIGTERM's default action ended the process inside the `with`: the .tmp stayed.
    out = tmp_path / "out"
    ready = tmp_path / "ready"
    marker = ", 'manifest.json'" if writer == "atomic_directory" else ""
    work = (
        f"from irnoise.atomic import {writer}\n"
        f"            with {writer}({str(out / 'target')!r}{marker}) as tmp:\n"
        f"                Path({str(ready)!r}).write_text(str(os.getpid()))\n"
        "                time.sleep(600)"
    )
    code = stubbed_command("detect", work, tmp_path / "started")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    job = subprocess.Popen([sys.executable, "-c", code], env=env)
    try:
        wait_for(ready)
        job.send_signal(signal.SIGTERM)
        assert job.wait(timeout=30) == 128 + signal.SIGTERM
        assert list(out.iterdir()) == [], "a temporary file outlived its SIGTERM"
    finally:
        if job.poll() is None:
            job.kill()
