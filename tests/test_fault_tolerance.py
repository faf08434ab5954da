"""Fault tolerance with real processes: Snakemake killed (SIGKILL, whole process group) in the
middle of a training resumes it from its last checkpoint, a failed job leaves nothing that
looks complete, a second Snakemake on the same folder is refused by the lock, a training
ends when its Snakemake alone is killed, and a second training of a run is refused."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import torch
import yaml

from helpers import REPO, run_snakemake, snakemake_command

pytestmark = [pytest.mark.workflow, pytest.mark.xdist_group("smoke")]

# A run the smoke preset does not have (seed 1), so no checkpoint of it exists yet; enough
# epochs that it is still training while the test acts: a smoke epoch takes ~0.5 s, and the
# second Snakemake of the lock check takes several seconds to start under load.
RUN = "results/runs/sop/clean/0/seed1"
TRAIN_LOG = "logs/train/sop/clean/0/seed1.log"
EPOCHS = 60
COMMAND = (f"{RUN}/model.pt", "--cores", "2", "--configfile", "long.yaml")


@pytest.fixture
def workdir(smoke_run: Path, tmp_path: Path) -> Path:
    """A copy of the finished smoke run (its shards), with a config adding a long training."""
    workdir = tmp_path / "wf"
    shutil.copytree(smoke_run, workdir, symlinks=True)
    config = yaml.safe_load((REPO / "presets" / "smoke.yaml").read_text())
    config["seeds"] = [0, 1]
    config["experiments"]["sop"]["epochs"] = EPOCHS
    (workdir / "long.yaml").write_text(yaml.safe_dump(config))
    return workdir


def start(workdir: Path) -> subprocess.Popen:
    """Snakemake in the background, in its own process group (jobs included)."""
    env = dict(os.environ, PATH=f"{Path(snakemake_command()[0]).parent}:{os.environ['PATH']}")
    with open(workdir / "snakemake.out", "w") as output:
        return subprocess.Popen(
            snakemake_command(*COMMAND),
            cwd=workdir,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def wait_for_checkpoint(workdir: Path, snakemake: subprocess.Popen, epoch: int) -> None:
    """Until the training has logged `epoch` and so has checkpointed the epoch before it."""
    log = workdir / TRAIN_LOG
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if snakemake.poll() is not None:
            output = (workdir / "snakemake.out").read_text()[-3000:]
            raise AssertionError(f"Snakemake ended before epoch {epoch}:\n{output}")
        if log.exists() and f"irnoise train: epoch {epoch}," in log.read_text(errors="replace"):
            assert (workdir / RUN / "checkpoint.pt").exists()
            return
        time.sleep(0.2)
    raise AssertionError(f"no epoch {epoch} within 180 s:\n{log.read_text()[-2000:]}")


def checkpoint_epoch(workdir: Path) -> int:
    state = torch.load(workdir / RUN / "checkpoint.pt", map_location="cpu", weights_only=True)
    return int(state["epoch"])


def assert_nothing_looks_complete(run_dir: Path) -> None:
    """Only the checkpoint, the run's lock file, and perhaps hidden temporaries of an
    interrupted atomic write."""
    visible = {p.name for p in run_dir.iterdir() if not p.name.startswith(".")}
    assert visible <= {"checkpoint.pt"}, visible
    hidden = [p.name for p in run_dir.glob(".*") if p.name != ".train.lock"]
    assert all(name.endswith(".tmp") for name in hidden), hidden


def history_epochs(workdir: Path) -> list[int]:
    lines = (workdir / RUN / "history.csv").read_text().splitlines()[1:]
    return [int(float(line.split(",")[0])) for line in lines]


def test_killed_snakemake_resumes_training_from_its_checkpoint(workdir: Path) -> None:
    snakemake = start(workdir)
    try:
        wait_for_checkpoint(workdir, snakemake, epoch=3)
        # A second Snakemake on the same outputs is refused while the first one runs.
        second = run_snakemake(workdir, *COMMAND, check=False)
        assert second.returncode != 0
        assert "cannot be locked" in second.stdout + second.stderr
        assert snakemake.poll() is None, "the first run ended during the lock check (EPOCHS?)"
        assert not (workdir / RUN / "model.pt").exists(), "the training ended (EPOCHS?)"
    finally:
        os.killpg(snakemake.pid, signal.SIGKILL)
        snakemake.wait()

    done = checkpoint_epoch(workdir)
    assert 2 <= done < EPOCHS
    assert_nothing_looks_complete(workdir / RUN)

    # SIGKILL left Snakemake's lock behind: the same command says so and how to clear it
    # (Snakemake cannot tell a dead instance from a live one); after --unlock it resumes.
    stale = run_snakemake(workdir, *COMMAND, check=False)
    assert stale.returncode != 0 and "--unlock" in stale.stdout + stale.stderr
    run_snakemake(workdir, *COMMAND, "--unlock")
    run_snakemake(workdir, *COMMAND)

    log = (workdir / TRAIN_LOG).read_text()
    assert f"resuming from {RUN}/checkpoint.pt after epoch {done}" in log, log[-2000:]
    assert "irnoise train: epoch 1," not in log, "the resumed job trained epoch 1 again"
    assert history_epochs(workdir) == list(range(1, EPOCHS + 1))


def training_processes(snakemake: subprocess.Popen) -> list[psutil.Process]:
    trainings = [
        process
        for process in psutil.Process(snakemake.pid).children(recursive=True)
        if "train" in process.cmdline() and "irnoise" in " ".join(process.cmdline())
    ]
    assert trainings, "no irnoise train process found"
    return trainings


def test_failed_job_leaves_no_output_that_looks_complete(workdir: Path) -> None:
    snakemake = start(workdir)
    try:
        wait_for_checkpoint(workdir, snakemake, epoch=2)
        # The training process dies (OOM killer, node failure): the job fails.
        trainings = training_processes(snakemake)
        for process in trainings:
            process.kill()
        assert snakemake.wait(timeout=120) != 0
    finally:
        if snakemake.poll() is None:
            os.killpg(snakemake.pid, signal.SIGKILL)
            snakemake.wait()

    assert_nothing_looks_complete(workdir / RUN)
    # Snakemake released its lock and still plans the job (nothing was taken as done).
    plan = run_snakemake(workdir, *COMMAND, "-n")
    assert f"output: {RUN}/model.pt" in plan.stdout + plan.stderr


def test_training_ends_with_its_snakemake_and_refuses_a_second_training(workdir: Path) -> None:
    snakemake = start(workdir)
    try:
        wait_for_checkpoint(workdir, snakemake, epoch=2)
        trainings = training_processes(snakemake)
        # A second training of the same run (by hand, or an orphan's rerun) is refused.
        second = subprocess.run(
            [
                sys.executable,
                "-m",
                "irnoise.cli",
                "train",
                "--shards",
                "data/shards/synth_sop",
                "--config",
                "{}",
                "--seed",
                "1",
                "--out-dir",
                RUN,
            ],
            cwd=workdir,
            capture_output=True,
            text=True,
        )
        assert second.returncode == 2
        assert f"another `irnoise train` is training {RUN}" in second.stderr
        # Snakemake alone is killed (not its process group): its training follows it.
        os.kill(snakemake.pid, signal.SIGKILL)
        snakemake.wait()
        _, alive = psutil.wait_procs(trainings, timeout=10)
        assert not alive, f"training outlived Snakemake: {[p.cmdline() for p in alive]}"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(snakemake.pid, signal.SIGKILL)
        snakemake.wait()
