"""The `irnoise` command-line tool: one subcommand per workflow stage.

Each subcommand lives in `irnoise.commands.<name>` and defines `add_arguments(parser)`
and `run(args)`. Command modules import only the standard library at module level
and import heavy dependencies (numpy, torch, faiss) inside `run`, so that starting
one command never pays for another's imports (`irnoise noise` must not import torch).

Every command removes its temporary files when ended by SIGTERM, and the long ones
(`LONG_COMMANDS`) end when the Snakemake that started them dies (irnoise.jobs).

The rules append each command's stderr to the job's log (`2>> {log}`): every attempt of a
job (Snakemake's retry, Slurm's requeue after a preemption) keeps its messages, under the
header line `log_header` writes.

Each command also declares `OUTPUTS`, the dests of the arguments it writes: before any command
runs, `irnoise.outputs.check_outputs` refuses an output that is one of its inputs or
another output.
"""

from __future__ import annotations

import argparse
import importlib
import os
import socket
import stat
import sys
import time

COMMANDS = {
    "synth": "generate an embedded synthetic dataset in a native layout",
    "shard": "convert a dataset to WebDataset shards with a manifest",
    "noise": "write a noisy label file and its statistics",
    "train": "train an embedding model on shards with (noisy) labels",
    "evaluate": "embed an evaluation set and compute its metrics",
    "detect": "rank training labels by how suspicious a trained model finds them",
    "collect": "gather every run's metrics.json into results/metrics.csv",
    "table1": "the study's Table 1 (uniform noise, clean vs noisy)",
    "table2": "the study's Table 2 (share of corrupted classes)",
    "findings": "the paper's claims tested on this run, with intervals and verdicts",
    "protocol": "In-Shop-shaped R@1 drops, query against gallery vs leave-one-out",
    "table3": "Table 3: noise-robust training methods under each noise scheme",
    "subcenter": "sub-center ArcFace's keep-mask of a stage-1 model",
    "confidence": "Smooth Proxy-Anchor's class confidences and relabels of a plain model",
    "table4": "Table 4 (which label noise the detectors find; not in the study)",
    "figure": "draw one of the study's figures",
}
# Jobs that run for minutes to hours: an orphan of a killed Snakemake would hold a core,
# a GPU or a lock for that long.
LONG_COMMANDS = ("shard", "train", "evaluate", "detect", "subcenter")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="irnoise", description="Measure how label noise hurts deep image retrieval."
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, help_text in COMMANDS.items():
        module = importlib.import_module(f"irnoise.commands.{name}")
        sub = subparsers.add_parser(name, help=help_text, description=module.__doc__)
        module.add_arguments(sub)
        sub.set_defaults(run=module.run, outputs=module.OUTPUTS)
    return parser


def writes_to_file(stream) -> bool:
    try:
        return stat.S_ISREG(os.fstat(stream.fileno()).st_mode)
    except (OSError, ValueError, AttributeError):  # a replaced stream (pytest), or closed
        return False


def log_header(command: str) -> None:
    """One line opening this attempt's part of a job's log (stderr redirected to a file)."""
    if not writes_to_file(sys.stderr) or "LOCAL_RANK" in os.environ:  # not torchrun's ranks
        return
    slurm_job = os.environ.get("SLURM_JOB_ID")
    where = (
        f"Slurm job {slurm_job}, restart {os.environ.get('SLURM_RESTART_COUNT', '0')}"
        if slurm_job
        else f"pid {os.getpid()}"
    )
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    print(
        f"=== irnoise {command}: started {started} on {socket.gethostname()} ({where})",
        file=sys.stderr,
        flush=True,
    )


def option_names(parser: argparse.ArgumentParser, command: str) -> dict[str, str]:
    """How a command's arguments are spelled on the command line, by dest."""
    for action in parser._subparsers._group_actions:  # the subcommands
        sub = action.choices[command]
        return {a.dest: (a.option_strings or [a.dest])[-1] for a in sub._actions}
    return {}


def main(argv: list[str] | None = None) -> int:
    from irnoise.atomic import sigterm_exits
    from irnoise.errors import UserError
    from irnoise.outputs import check_outputs

    parser = build_parser()
    args = parser.parse_args(argv)
    log_header(args.command)
    try:
        check_outputs(args, option_names(parser, args.command))
        if args.command in LONG_COMMANDS:
            from irnoise import jobs

            jobs.end_with_snakemake()
        with sigterm_exits():
            args.run(args)
    except UserError as error:
        print(f"irnoise {args.command}: error: {error}", file=sys.stderr)
        return 2
    except OSError as error:  # reading or writing a path failed: say which and why
        reason = error.strerror or str(error)
        print(f"irnoise {args.command}: error: {error.filename}: {reason}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
