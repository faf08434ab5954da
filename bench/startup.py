"""Start-up cost of a job: the imports of `irnoise train`, `evaluate` and `detect`.

    nice .venv/bin/python bench/startup.py [--repeats 5]

The default study runs ~170 short jobs (60 trainings, 60 evaluations, 48 detections), each
a fresh Python process, so what a job imports before its first image is paid ~170 times.
Each case below is a fresh interpreter importing the modules that command imports on the
default synthetic grid (small_cnn: no torchvision model); the baseline, in the same run
and interleaved, is a fresh interpreter importing torch alone, which every job needs.
Printed: median CPU seconds (user + system, all threads) of each case and its ratio to
the baseline.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys

# What each command imports before its first image (the lazy imports of its run() included).
TRAIN = "import irnoise.train.job, irnoise.train.models, pytorch_metric_learning.losses"
CASES = {
    "import torch (baseline)": "import torch",
    "irnoise train": TRAIN,
    "irnoise evaluate": f"{TRAIN}, irnoise.evaluate.tasks, irnoise.evaluate.embed, faiss",
    "irnoise detect": f"{TRAIN}, irnoise.detect.scores, cleanlab.filter, cleanlab.rank, faiss",
}


def child_cpu_seconds(code: str) -> float:
    """CPU seconds of one fresh interpreter running `code`."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([sys.executable, "-c", code], check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    times: dict[str, list[float]] = {name: [] for name in CASES}
    for _ in range(args.repeats):
        for name, code in CASES.items():
            times[name].append(child_cpu_seconds(code))
    baseline = statistics.median(times["import torch (baseline)"])
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name:26s} {median:6.2f} s CPU  {median / baseline:5.2f}x the baseline")


if __name__ == "__main__":
    main()
