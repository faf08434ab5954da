"""GPU path check: every CUDA code path of irnoise in one command, one table (JSON too).

    python bench/gpu_check.py [--out bench/out/gpu_check.json] [--only smoke,train,...]

On a machine with one GPU and 16 cores it takes about 7-10 minutes and measures:

1. smoke: the smoke preset through Snakemake with `gpus: 1` (a derived config file written
   to a temporary directory; the preset is not edited), after the same preset with
   `gpus: 0` in the same directory (shards and labels shared, training and evaluation
   rerun): every rule succeeds, train and evaluate ran on CUDA (their logs and
   metrics.json say so), and each metric is within 0.1 of the CPU run's;
2. train: ResNet-50, 224 px, batch 256, bf16 autocast, channels_last, ArcFace over
   11,318 classes: images/s of irnoise's `run_epoch` against the bare PyTorch loop of
   bench/baseline.py on the same device-resident tensors (the ratio of
   bench/train_step.py), without and with torch.compile, interleaved ABBA;
3. loader: irnoise's shard loader at 224 px crops, batch 256, with 8 and 15 workers,
   batches moved to the GPU and normalized there, at steady state (each worker's first
   batch, slowed by its start, is warm-up; then 8 batches per worker are counted),
   against the GPU's consumption rate from (2): is the loader the bottleneck?
4. cli: `irnoise train` end to end (the real CLI on the loader's shards, 3 epochs,
   images/s from its history.csv after the first epoch) against the bare step of
   bench/baseline.py on the same shape in this process: the ratio; and the same with
   `gpus: 2` (torchrun, DDP) against `gpus: 1` where there are 2 GPUs, else the row
   says "skipped: needs 2 GPUs";
5. knn: R@1 on 60,502 x 512 embeddings (bench/eval.py's data, SOP test class sizes),
   leave-one-out, with faiss on the GPU against the CPU index (same value expected); when
   this faiss has no GPU support, the table says so, and torch's matmul + top-1 on the
   GPU serves as the GPU reference (it runs in any case);
6. the peak GPU memory of each (torch's allocator peak; for faiss and the Snakemake jobs,
   the device-wide memory in use sampled every 0.1 s, above what it was before).

Without CUDA (or with --self-test) it says so and runs a CPU-sized self-test instead:
tiny sizes, every code path but the CUDA calls (torch.compile with the "eager" backend,
one Snakemake target), and exits 0 when every check passes (tests/test_gpu_check.py).

faiss on the GPU needs the GPU build installed instead of faiss-cpu (README, "GPU nodes").
"""

from __future__ import annotations

import argparse
import datetime
import math
import os
import platform
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

# As `irnoise train` does, before torch loads OpenMP (see irnoise/commands/train.py).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch

from irnoise.evaluate import faiss_build, knn

# The check's parts sit beside this script (bench/ is no package); their names start with
# gpu_, so that nothing else on sys.path is shadowed.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from gpu_cli import check_cli
from gpu_common import GPU_SIZES, REPO, SELF_TEST_SIZES, Row, Sizes, bench_module
from gpu_compute import check_knn, check_loader, check_train
from gpu_smoke import check_smoke

CHECKS = ("smoke", "train", "loader", "cli", "knn")
# -- the table ------------------------------------------------------------------------------


def machine(cuda: bool) -> str:
    cpu_machine = bench_module("eval").machine
    gpu = f"{torch.cuda.get_device_name(0)}, " if cuda else "no CUDA, "
    return gpu + cpu_machine()


def versions(cuda: bool) -> dict[str, Any]:
    import faiss

    found: dict[str, Any] = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda if cuda else None,
        "cudnn": torch.backends.cudnn.version() if cuda else None,
        "faiss": faiss.__version__,
    }
    try:
        found["faiss_build"] = faiss_build.build_info()
    except Exception as error:  # reported, not fatal: the check goes on with what it has
        found["faiss_build"] = str(error)
    return found


def formatted(value: float | str | None, unit: str) -> str:
    if isinstance(value, float):
        if unit == "images/s":
            return f"{value:,.0f} images/s"
        if unit == "s":
            return f"{value:.1f} s"
        if unit == "ratio":
            return f"{value:.2f}x"
        return f"{value:+.1%}" if "overhead" in unit else f"{value:.6f}"
    return "" if value is None else str(value)


def table(rows: Iterable[Row]) -> str:
    lines = [
        "| check | what | value | peak GPU MiB | verdict |",
        "| --- | --- | ---: | ---: | --- |",
    ]
    for row in rows:
        unit = "overhead" if row.item.startswith("irnoise overhead") else row.unit
        peak = "" if row.peak_gpu_mib is None else f"{row.peak_gpu_mib:,.0f}"
        lines.append(
            f"| {row.check} | {row.item} | {formatted(row.value, unit)} | {peak} | {row.verdict} |"
        )
    return "\n".join(lines)


@contextmanager
def section(name: str, rows: list[Row]) -> Iterator[None]:
    """Run one check; a crash becomes a FAILED row and the other checks still run."""
    started = time.perf_counter()
    print(f"gpu_check: {name} ...", file=sys.stderr, flush=True)
    try:
        yield
    except Exception as error:
        import traceback

        traceback.print_exc()
        rows.append(Row(name, "crashed", None, verdict=f"FAILED: {type(error).__name__}: {error}"))
    print(
        f"gpu_check: {name} done in {time.perf_counter() - started:.0f} s",
        file=sys.stderr,
        flush=True,
    )


def run_checks(
    sizes: Sizes,
    device: torch.device,
    only: set[str],
    scratch: Path,
    smoke_reference: Path | None = None,
) -> list[Row]:
    rows: list[Row] = []
    cuda = device.type == "cuda"
    if "smoke" in only:
        with section("smoke", rows):
            rows += check_smoke(sizes, cuda, scratch, smoke_reference)
    gpu_rate = math.nan
    if "train" in only:
        with section("train", rows):
            train_rows, gpu_rate = check_train(sizes, device)
            rows += train_rows
        if cuda:
            torch.cuda.empty_cache()
    if "loader" in only:
        with section("loader", rows):
            rows += check_loader(sizes, device, scratch, gpu_rate)
    if "cli" in only:
        with section("cli", rows):
            rows += check_cli(sizes, device, scratch)
        if cuda:
            torch.cuda.empty_cache()
    if "knn" in only:
        with section("knn", rows):
            rows += check_knn(sizes, device)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "out" / "gpu_check.json")
    parser.add_argument("--only", default=",".join(CHECKS), help="comma-separated checks")
    parser.add_argument("--self-test", action="store_true", help="CPU sizes, even with CUDA")
    parser.add_argument(
        "--smoke-reference",
        type=Path,
        help="a finished smoke-preset run directory (gpus: 0) to compare with, not rerun",
    )
    args = parser.parse_args(argv)
    only = set(args.only.split(","))
    if unknown := only - set(CHECKS):
        parser.error(f"unknown checks {sorted(unknown)}: choose from {', '.join(CHECKS)}")
    cuda = torch.cuda.is_available() and not args.self_test
    if not cuda:
        reason = "--self-test" if args.self_test else "CUDA is not available"
        print(
            f"gpu_check: {reason}: running the CPU-sized self-test (tiny sizes, every code "
            "path but the CUDA calls); no GPU figure is measured",
            flush=True,
        )
    sizes = GPU_SIZES if cuda else SELF_TEST_SIZES
    device = torch.device("cuda" if cuda else "cpu")
    torch.set_num_threads(sizes.threads)
    knn.set_threads(sizes.threads)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="irnoise-gpu-check-") as scratch:
        rows = run_checks(sizes, device, only, Path(scratch), args.smoke_reference)
    seconds = time.perf_counter() - started
    report = {
        "mode": "gpu" if cuda else "cpu self-test",
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(cuda),
        "versions": versions(cuda),
        "sizes": asdict(sizes),
        "seconds": seconds,
        "rows": [asdict(row) for row in rows],
        "failed": sum(row.failed for row in rows),
    }
    print(f"\n{report['mode']}, {report['machine']}, {report['date']}, {seconds:.0f} s")
    print(table(rows))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    from irnoise.atomic import write_json

    write_json(args.out, report)
    print(f"\nwritten: {args.out}")
    return 1 if report["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
