"""Train an embedding network on a dataset's train shards, with clean or noisy labels.

Reads <shards>/manifest.json and its train shards, overlays --labels (a noisy label
file from `irnoise noise`; default the clean <shards>/train_labels.npy) by row, and
trains the backbone, embedding and loss that --config (the experiment's JSON) names;
--method adds a noise-robust method's per-batch sample filter (--keep: its keep-mask).
Checkpoints <out-dir>/checkpoint.pt after every epoch and resumes from it; writes
<out-dir>/model.pt and <out-dir>/history.csv at the end, then deletes the checkpoint
(unless --keep-checkpoint). Keys the config leaves out take the workflow's defaults
(`irnoise.config.Training`). Claims the config's gpus among the machine's free GPUs
(irnoise.devices; unless Slurm or the user set CUDA_VISIBLE_DEVICES), and stops when it
asks for GPUs but CUDA is unavailable, unless --allow-cpu. With gpus > 1 and several
CUDA devices, re-executes itself through torchrun (one process per GPU, each with its
share of the job's CPUs: Slurm's allocation where there is one, else --threads). A lock
in <out-dir> stops a second training of the same run; started by Snakemake, it ends when
Snakemake dies.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from irnoise import devices

# The arguments this command writes (irnoise.outputs).
OUTPUTS = ("out_dir",)

if TYPE_CHECKING:
    from irnoise.config import Training


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--shards", required=True, type=Path, help="shard directory")
    parser.add_argument(
        "--labels", type=Path, default=None, help="noisy label file (.npy); default: clean"
    )
    parser.add_argument(
        "--config", required=True, help="the experiment's settings as JSON (defaults applied)"
    )
    parser.add_argument("--seed", type=int, default=0, help="training seed")
    parser.add_argument("--out-dir", required=True, type=Path, help="the run's folder")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads of the job")
    parser.add_argument(
        "--keep-checkpoint",
        action="store_true",
        help="keep <out-dir>/checkpoint.pt once model.pt is written (default: delete it)",
    )
    parser.add_argument(
        "--allow-cpu",
        action="store_true",
        help="train on the CPU when the config asks for GPUs but CUDA is unavailable "
        "(default: an error)",
    )
    parser.add_argument(
        "--method",
        default=None,
        help='noise-robust method as JSON ({"name": "prism", "noise_rate": 0.1, ...}); '
        "default none (docs/methods.md)",
    )
    parser.add_argument(
        "--keep", type=Path, default=None, help="keep-mask (.npy, bool per train row)"
    )


def torchrun_processes(config: Training) -> int:
    """How many torchrun processes to start: 0 when already one, or when one GPU will do."""
    if "LOCAL_RANK" in os.environ or config.gpus <= 1:
        return 0
    import torch

    count = min(config.gpus, torch.cuda.device_count())
    return count if count > 1 else 0


def torchrun_argv(args: argparse.Namespace, processes: int, cpus: int) -> list[str]:
    argv = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc_per_node={processes}",
        "-m",
        "irnoise.cli",
        "train",
        "--shards",
        str(args.shards),
        "--config",
        args.config,
        "--seed",
        str(args.seed),
        "--out-dir",
        str(args.out_dir),
        "--threads",
        str(devices.rank_threads(cpus, processes)),
    ]
    argv += ["--keep-checkpoint"] if args.keep_checkpoint else []
    argv += ["--allow-cpu"] if args.allow_cpu else []
    argv += ["--labels", str(args.labels)] if args.labels else []
    argv += ["--method", args.method] if args.method else []
    return argv + (["--keep", str(args.keep)] if args.keep else [])


def run(args: argparse.Namespace) -> None:
    # Before torch loads OpenMP: with more runnable threads than cores (a shared machine,
    # loader workers beside the compute threads), spinning OpenMP barriers made 2-thread
    # CPU epochs 5-10x slower than 1-thread ones here; passive waits cost ~nothing.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from irnoise import jobs
    from irnoise.arguments import json_object
    from irnoise.config import Training
    from irnoise.schema import check_method

    config = Training.from_mapping(json_object(args.config, "--config"))
    method = check_method(json_object(args.method, "--method")) if args.method else None
    cpus = args.threads
    if "LOCAL_RANK" not in os.environ:  # torchrun's ranks: the launching process holds it
        jobs.lock_run(args.out_dir)
        devices.claim_gpus(config.gpus)  # before CUDA starts: it reads the devices once
        devices.require_cuda(config.gpus, args.allow_cpu)
        cpus = devices.job_cpus(args.threads, config.gpus)
    if processes := torchrun_processes(config):
        # One process per GPU (DistributedDataParallel), replacing this one.
        argv = torchrun_argv(args, processes, cpus)
        os.execv(argv[0], argv)
    from irnoise.train.job import run_training

    run_training(
        args.shards,
        args.labels,
        config,
        args.seed,
        args.out_dir,
        cpus,
        method,
        args.keep,
        keep_checkpoint=args.keep_checkpoint,
    )
