"""Which GPUs and CPUs a job uses (irnoise.devices), on a machine without GPUs: a fake
`nvidia-smi` first on PATH lists the GPUs, and real processes claim them."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from irnoise import devices
from irnoise.cli import main
from irnoise.commands import train as train_command
from irnoise.errors import UserError
from irnoise.train.runtime import loader_workers

from train_fixtures import write_shards

# What a job does first: claim its GPUs, then say what CUDA would see; it holds them until
# its stdin closes.
CLAIMING_JOB = """
import os, sys
from irnoise import devices
devices.claim_gpus(int(sys.argv[1]))
print(os.environ.get("CUDA_VISIBLE_DEVICES"), flush=True)
sys.stdin.read()
"""


@pytest.fixture
def four_gpus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A machine with four GPUs, as nvidia-smi lists them; the environment of its jobs."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    smi = bin_dir / "nvidia-smi"
    lines = "".join(f"echo 'GPU {i}: NVIDIA H100 (UUID: GPU-{i})'\n" for i in range(4))
    smi.write_text(f"#!/bin/sh\n{lines}")
    smi.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    monkeypatch.setenv(devices.LOCK_DIR_VARIABLE, str(tmp_path / "locks"))
    monkeypatch.delenv(devices.VISIBLE, raising=False)
    return dict(os.environ)


def start_job(gpus: int, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", CLAIMING_JOB, str(gpus)],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def visible(job: subprocess.Popen) -> str:
    return job.stdout.readline().strip()


def test_local_jobs_each_get_their_own_gpus(four_gpus):
    """Before: nothing set CUDA_VISIBLE_DEVICES, and every job trained on cuda:0."""
    first, second = start_job(2, four_gpus), start_job(2, four_gpus)
    try:
        held_by_first = visible(first)
        assert {held_by_first, visible(second)} == {"0,1", "2,3"}
        # All four are claimed: a third job waits until one of the two ends.
        third = start_job(1, four_gpus)
        assert "waiting for 1 free GPU(s) of 4" in third.stderr.readline()
        first.stdin.close()
        first.wait(timeout=30)
        assert visible(third) in held_by_first.split(",")  # what the first job let go
        third.communicate(timeout=30)
    finally:
        for job in (first, second):
            job.kill()
            job.wait()


def test_one_gpu_jobs_fill_every_gpu(four_gpus):
    jobs = [start_job(1, four_gpus) for _ in range(4)]
    try:
        assert sorted(visible(job) for job in jobs) == ["0", "1", "2", "3"]
    finally:
        for job in jobs:
            job.kill()
            job.wait()


def test_devices_chosen_by_slurm_are_kept(four_gpus, monkeypatch):
    monkeypatch.setenv(devices.VISIBLE, "3")
    assert devices.claim_gpus(1) is None
    assert os.environ[devices.VISIBLE] == "3"


def test_more_gpus_than_the_machine_has_is_an_error(four_gpus):
    with pytest.raises(UserError, match="asks for 8 GPUs but this machine has 4"):
        devices.claim_gpus(8)


def test_a_machine_without_gpus_claims_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no nvidia-smi
    monkeypatch.delenv(devices.VISIBLE, raising=False)
    assert devices.machine_gpus() == 0 and devices.claim_gpus(1) is None
    assert devices.VISIBLE not in os.environ


# --- CPUs of a DDP training ------------------------------------------------------------


def rank_argv(threads: int, gpus: int) -> list[str]:
    args = argparse.Namespace(
        shards=Path("s"), labels=None, config="{}", seed=0, out_dir=Path("o"), threads=threads,
        keep_checkpoint=False, allow_cpu=False, method=None, keep=None,
    )  # fmt: skip
    return train_command.torchrun_argv(args, gpus, devices.job_cpus(threads, gpus))


def rank_threads(argv: list[str]) -> int:
    return int(argv[argv.index("--threads") + 1])


def test_ddp_ranks_get_slurms_cpus_per_gpu(monkeypatch):
    """Before: threads // processes, 8 // 8 = 1 thread per rank, so no loader worker,
    while Slurm had given the job 8 CPUs per GPU."""
    monkeypatch.setenv("SLURM_CPUS_PER_GPU", "8")
    monkeypatch.delenv("SLURM_CPUS_PER_TASK", raising=False)
    threads = rank_threads(rank_argv(threads=8, gpus=8))
    assert threads == 8
    assert loader_workers(argparse.Namespace(workers=None), threads) == 7


def test_ddp_ranks_share_slurms_cpus_per_task(monkeypatch):
    monkeypatch.setenv("SLURM_CPUS_PER_TASK", "32")
    assert rank_threads(rank_argv(threads=8, gpus=4)) == 8


def test_without_slurm_the_ranks_share_the_jobs_threads(monkeypatch):
    for name in ("SLURM_CPUS_PER_TASK", "SLURM_CPUS_PER_GPU"):
        monkeypatch.delenv(name, raising=False)
    assert rank_threads(rank_argv(threads=16, gpus=4)) == 4
    assert rank_threads(rank_argv(threads=2, gpus=4)) == 1


# --- a GPU experiment where CUDA is missing -----------------------------------------------

CONFIG = {
    "backbone": "small_cnn", "embedding_size": 8, "workers": 0, "epochs": 1, "batch_size": 32,
    "crop_size": 24, "loss": "NormalizedSoftmaxLoss", "loss_params": {"temperature": 0.05},
}  # fmt: skip


@pytest.fixture(scope="module")
def shards(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_shards(tmp_path_factory.mktemp("shards"))


def train(shards: Path, out: Path, gpus: int, *extra: str) -> int:
    config = json.dumps(CONFIG | {"gpus": gpus})
    argv = ["--shards", str(shards), "--config", config, "--out-dir", str(out), "--threads", "1"]
    return main(["train", *argv, *extra])


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_a_gpu_experiment_without_cuda_stops_with_an_error(shards, tmp_path, capsys):
    """Before: a warning, and a GPU allocation spent training on the CPU."""
    assert train(shards, tmp_path / "run", 1) == 2
    error = capsys.readouterr().err
    assert "asks for 1 GPU(s) but CUDA is not available" in error
    assert "allow_cpu: true" in error
    assert not (tmp_path / "run" / "model.pt").exists()


def test_allow_cpu_trains_a_gpu_experiment_on_the_cpu(shards, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no nvidia-smi: no GPU to claim
    assert train(shards, tmp_path / "run", 1, "--allow-cpu") == 0
    assert (tmp_path / "run" / "model.pt").exists()


def test_a_cpu_experiment_needs_no_cuda(shards, tmp_path):
    assert train(shards, tmp_path / "run", 0) == 0
