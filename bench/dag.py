"""`snakemake -n` on the paper preset with 3 seeds (target <= 5 s), against a baseline.

The baseline, timed in the same run, is `snakemake -n` on a one-rule workflow: the cost
of starting Snakemake itself, which no workflow can go below. The paper preset runs first
in a fresh copy of the workflow (no .snakemake/ metadata), as on a fresh checkout: its loss
check imports torch and pytorch-metric-learning (~3 s) and records the settings as good;
then again in the same copy (what every later dry-run costs), then with Table 3.

    python bench/dag.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
WORKFLOW = ("Snakefile", "config.yaml", "presets", "workflow", "profiles", "envs")
MINIMAL = 'rule all:\n    output:\n        "x"\n    shell:\n        "touch {output}"\n'


def copy_workflow(destination: Path) -> None:
    for name in WORKFLOW:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, destination / name)
        else:
            shutil.copy2(source, destination / name)


def dry_run_seconds(workdir: Path, *args: str, targets: tuple[str, ...] = ("all",)) -> float:
    # Targets first: `--quiet` takes optional values and would swallow a target after it.
    command = [sys.executable, "-m", "snakemake", *targets, "-n", "--quiet", "all", *args]
    start = time.perf_counter()
    subprocess.run(command, cwd=workdir, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    paper, warm, baseline, table3 = [], [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for repeat in range(args.repeats):
            workdir, minimal = Path(tmp, f"wf{repeat}"), Path(tmp, f"min{repeat}")
            workdir.mkdir()
            minimal.mkdir()
            copy_workflow(workdir)
            (minimal / "Snakefile").write_text(MINIMAL)
            baseline.append(dry_run_seconds(minimal))
            paper.append(dry_run_seconds(workdir, "--configfile", "presets/paper.yaml"))
            warm.append(dry_run_seconds(workdir, "--configfile", "presets/paper.yaml"))
            table3.append(
                dry_run_seconds(
                    workdir,
                    "--configfile",
                    "presets/paper.yaml",
                    targets=("all", "results/table3.csv"),
                )
            )
    paper_s, baseline_s = statistics.median(paper), statistics.median(baseline)
    print(f"baseline: snakemake -n, one-rule workflow   median {baseline_s:.2f} s")
    print(f"paper preset, fresh checkout (loss check)  median {paper_s:.2f} s (target <= 5 s)")
    print(f"ratio paper / baseline: {paper_s / baseline_s:.2f}x")
    warm_s = statistics.median(warm)
    print(f"paper preset, losses checked before        median {warm_s:.2f} s (target <= 5 s)")
    print(f"ratio paper (checked) / baseline: {warm_s / baseline_s:.2f}x")
    table3_s = statistics.median(table3)
    print(f"paper preset with Table 3 (+ its method runs)  median {table3_s:.2f} s (target <= 5 s)")
    print(f"ratio paper with Table 3 / baseline: {table3_s / baseline_s:.2f}x")


if __name__ == "__main__":
    main()
