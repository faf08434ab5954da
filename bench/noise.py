"""Benchmark: `irnoise noise` on an MS1M-scale label array, process start included.

Target (docs/design.md, "Performance targets"): <= 1.0 s wall per scheme at level 0.1 for
5.8M samples in 85,742 long-tailed classes. The baseline, timed in the same run, is the
floor every such command pays: a Python process that imports numpy, loads the same label
array and saves it again.

Expected cost before optimizing (2-core Xeon, 5.8M int64 labels = 46 MB): interpreter and
numpy start ~0.1-0.15 s; np.load + np.save ~0.1 s; class table by bincount (not a sort:
np.unique would be ~0.4 s) ~0.04 s; uniform: random priorities + partition instead of a
full permutation (0.26 s) ~0.1 s; large/small: one gather + 16-bit radix grouping of the
selected samples ~0.1 s; statistics ~0.1 s. About 0.5 s in all.

    nice .venv/bin/python bench/noise.py [--repeats 5] [--noise-command-only]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

N_SAMPLES = 5_822_653  # MS1MV2 (insightface): images
N_CLASSES = 85_742  # identities
LARGEST = 600  # images of the largest identity, roughly
OUT = Path(__file__).parent / "out" / "noise"
SCHEMES = ("uniform", "large", "small")

# Runs the real CLI entry point with only the noise command registered, for a checkout
# where another command's module does not import yet.
NOISE_ONLY = (
    "import sys, irnoise.cli as cli; cli.COMMANDS = {'noise': cli.COMMANDS['noise']}; "
    "sys.exit(cli.main())"
)


def long_tailed_sizes(n_samples: int, n_classes: int, largest: int) -> np.ndarray:
    """Zipf-like class sizes c / (rank + r0), largest about `largest`, summing to N."""
    ranks = np.arange(n_classes, dtype=np.float64)
    # r0 such that the sizes sum to N with the largest class about `largest`.
    low, high = 1.0, 1e7
    for _ in range(100):
        r0 = (low + high) / 2
        total = (largest * r0 / (ranks + r0)).sum()
        low, high = (r0, high) if total < n_samples else (low, r0)
    sizes = np.maximum(1, np.floor(largest * r0 / (ranks + r0))).astype(np.int64)
    sizes[: n_samples - sizes.sum()] += 1  # the rounding remainder, one each to the largest
    return sizes


def write_labels(directory: Path) -> Path:
    sizes = long_tailed_sizes(N_SAMPLES, N_CLASSES, LARGEST)
    labels = np.repeat(np.arange(N_CLASSES, dtype=np.int64), sizes)
    # Shuffled rows: the worst case for memory access (shards of a folder dataset are grouped).
    labels = np.random.default_rng(0).permutation(labels)
    directory.mkdir(parents=True, exist_ok=True)
    np.save(directory / "train_labels.npy", labels)
    print(
        f"labels: {labels.size:,} samples (int64, shuffled), {N_CLASSES:,} classes, sizes "
        f"{sizes.min()}-{sizes.max()} (median {int(np.median(sizes))}), Zipf-like c/(rank+r0)"
    )
    return directory


def interleaved_walls(commands: dict[str, list[str]], repeats: int) -> dict[str, list[float]]:
    """Wall seconds of each command, repeats interleaved so that load spikes on the shared
    machine hit every command alike."""
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(repeats):
        for name, command in commands.items():
            start = time.perf_counter()
            subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
            times[name].append(time.perf_counter() - start)
    return times


def noise_command(shards: Path, scheme: str, noise_only: bool) -> list[str]:
    entry = ["-c", NOISE_ONLY] if noise_only else ["-m", "irnoise.cli"]
    out = OUT / "labels" / f"{scheme}.npy"
    flags = ["--shards", str(shards), "--scheme", scheme, "--level", "0.1", "--seed", "0"]
    return [sys.executable, *entry, "noise", *flags, "--out", str(out)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--noise-command-only", action="store_true", help=NOISE_ONLY)
    args = parser.parse_args()
    shards = write_labels(OUT / "ms1m")
    source = shards / "train_labels.npy"
    copy = f"import numpy as np; np.save({str(OUT / 'copy.npy')!r}, np.load({str(source)!r}))"
    commands = {
        "python -c 'import numpy'": [sys.executable, "-c", "import numpy"],
        "baseline": [sys.executable, "-c", copy],
    }
    for scheme in ("uniform", "large", "small"):
        commands[scheme] = noise_command(shards, scheme, args.noise_command_only)
    times = interleaved_walls(commands, args.repeats)
    baseline = statistics.median(times["baseline"])
    entry = (
        "cli.main with only noise registered"
        if args.noise_command_only
        else "python -m irnoise.cli"
    )
    print(f"machine: {platform.machine()}, {os.cpu_count()} cpus, python {sys.version.split()[0]}")
    print(f"entry: {entry}; {args.repeats} interleaved repeats")
    print(f"{'command':26} {'median_s':>8} {'best_s':>7} {'vs_baseline':>11}  target<=1.0s")
    for name, walls in times.items():
        median = statistics.median(walls)
        verdict = ("ok" if median <= 1.0 else "MISSED") if name in SCHEMES else ""
        ratio = median / baseline
        print(f"{name:26} {median:8.3f} {min(walls):7.3f} {ratio:10.2f}x  {verdict}")


if __name__ == "__main__":
    main()
