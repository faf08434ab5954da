"""Which GPUs and CPUs a job uses.

GPUs: Snakemake's `--resources gpu=N` bounds how many GPUs the local jobs ask for at once,
but gives no job a device: each would train on cuda:0. So a job claims its GPUs itself
(`claim_gpus`) before CUDA starts: one lock file per GPU of the machine
(`<lock dir>/gpu<index>.lock`, an exclusive `fcntl.flock` held for the life of the
process and of the torchrun it `exec`s into), and CUDA_VISIBLE_DEVICES set to the
indices it holds. A job finding too few free GPUs waits for them. Where something else
already chose the devices (Slurm sets CUDA_VISIBLE_DEVICES to the job's GPUs, or the
user did), the job keeps them. The machine's GPUs are counted with `nvidia-smi --list-gpus`,
which, unlike torch.cuda, leaves CUDA uninitialized (CUDA reads CUDA_VISIBLE_DEVICES
once, when it starts).

CPUs: a job's threads are Snakemake's `threads`, unless Slurm allocated it CPUs
(`--cpus-per-task`, or `--cpus-per-gpu` times its GPUs): those are the job's, and a DDP
training shares them among its ranks (`rank_threads`).
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO

from irnoise.errors import UserError

VISIBLE = "CUDA_VISIBLE_DEVICES"
# Where the lock files live: one folder per user and machine, shared by every workflow.
LOCK_DIR_VARIABLE = "IRNOISE_GPU_LOCK_DIR"
WAIT_SECONDS = 1.0
# Open lock files, kept so that the GPUs stay claimed as long as the process lives.
_claimed: list[IO[str]] = []


def lock_dir() -> Path:
    default = Path(tempfile.gettempdir()) / f"irnoise-gpus-{os.getuid()}"
    return Path(os.environ.get(LOCK_DIR_VARIABLE, default))


def machine_gpus() -> int:
    """The machine's GPUs, as nvidia-smi lists them (0 without nvidia-smi or a driver)."""
    if shutil.which("nvidia-smi") is None:
        return 0
    listed = subprocess.run(["nvidia-smi", "--list-gpus"], capture_output=True, text=True)
    if listed.returncode != 0:
        return 0
    return sum(line.startswith("GPU ") for line in listed.stdout.splitlines())


def try_claim(count: int, total: int, folder: Path) -> list[IO[str]] | None:
    """Locks on `count` free GPUs of `total`, lowest index first; None if too few are free."""
    folder.mkdir(parents=True, exist_ok=True)
    held = []
    for index in range(total):
        handle = open(folder / f"gpu{index}.lock", "a")  # noqa: SIM115 - held open: the claim
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            continue
        held.append(handle)
        if len(held) == count:
            return held
    for handle in held:
        handle.close()
    return None


def claim_gpus(count: int) -> list[int] | None:
    """Claim `count` of this machine's GPUs for this process and make them the only ones
    CUDA sees; the indices claimed, or None where the devices were chosen already (Slurm,
    the user) or the machine has none. Waits while too few are free."""
    if count <= 0 or VISIBLE in os.environ:
        return None
    total = machine_gpus()
    if total == 0:
        return None
    if count > total:
        raise UserError(
            f"the job asks for {count} GPUs but this machine has {total} (nvidia-smi "
            "--list-gpus): lower the experiment's gpus"
        )
    waited = False
    while (held := try_claim(count, total, lock_dir())) is None:
        if not waited:
            print(
                f"irnoise: waiting for {count} free GPU(s) of {total} (claimed by other jobs "
                f"in {lock_dir()}; run Snakemake with --resources gpu={total})",
                file=sys.stderr,
                flush=True,
            )
            waited = True
        time.sleep(WAIT_SECONDS)
    for handle in held:
        # Survives an exec (into torchrun), whose process then holds the claim.
        os.set_inheritable(handle.fileno(), True)
    _claimed.extend(held)
    indices = sorted(int(Path(handle.name).stem.removeprefix("gpu")) for handle in held)
    os.environ[VISIBLE] = ",".join(map(str, indices))
    return indices


def job_cpus(threads: int, gpus: int = 0) -> int:
    """The CPUs of this job: Slurm's allocation where there is one, else `threads`."""
    per_task = os.environ.get("SLURM_CPUS_PER_TASK")
    if per_task:
        return int(per_task)
    per_gpu = os.environ.get("SLURM_CPUS_PER_GPU")
    if per_gpu and gpus > 0:
        return int(per_gpu) * gpus
    return max(1, threads)


def rank_threads(cpus: int, ranks: int) -> int:
    """Each DDP rank's share of the job's CPUs (its compute thread and loader workers)."""
    return max(1, cpus // max(1, ranks))


def require_cuda(gpus: int, allow_cpu: bool) -> None:
    """A UserError when the job asks for GPUs but CUDA has none, unless CPU is allowed."""
    if gpus <= 0 or allow_cpu:
        return
    import torch

    if not torch.cuda.is_available():
        raise UserError(
            f"the experiment asks for {gpus} GPU(s) but CUDA is not available here "
            f"(torch {torch.__version__}, CUDA build {torch.version.cuda or 'none'}, "
            f"{VISIBLE}={os.environ.get(VISIBLE, 'unset')}): fix the node's driver or "
            "pytorch's CUDA build, or set the experiment's gpus: 0, or allow_cpu: true to "
            "train on the CPU anyway"
        )
