"""How long the intervals take on a default-sized grid, against a naive loop bootstrap.

Writes fake runs (tests/fake_results.py) shaped like the default study: 3 seeds, 5
uniform levels (large and small too on the retrieval sets), 3,000 queries per test set
and 6,000 verification pairs; then times `irnoise table1`, `irnoise findings` and the two
figures with intervals, each with 2,000 resamples. Baseline: the same paired two-stage
bootstrap of one relative drop (one Table 1 cell) written as a plain Python loop over
the resamples, as tests/test_tables.py's reference does; the ratio is the loop's time
per cell over the vectorized time per cell (Table 1 computes all its cells at once).

    nice python bench/bootstrap.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from irnoise import cli
from irnoise.report.bootstrap import paired_bootstrap, relative_drop
from irnoise.report.metric_samples import load_samples

import fake_results

SEEDS, LEVELS, RESAMPLES = (0, 1, 2), (0.01, 0.05, 0.1, 0.2, 0.4), 2000


def timed(argv: list[str]) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of one command: the machine is shared, CPU is stabler."""
    cpu, wall = time.process_time(), time.perf_counter()
    assert cli.main([str(arg) for arg in argv]) == 0
    return time.process_time() - cpu, time.perf_counter() - wall


def naive_cell(clean: list[Path], noisy: list[Path]) -> float:
    """One drop's interval by a plain loop over resamples (seeds, then queries)."""
    rng = np.random.default_rng(0)
    arrays = [(np.load(c), np.load(n)) for c, n in zip(clean, noisy, strict=True)]
    hits = [(c["hits"][:, 0], n["hits"][:, 0], c["valid"]) for c, n in arrays]
    start = time.process_time()
    drops = []
    for _ in range(RESAMPLES):
        clean_sum = noisy_sum = 0.0
        for s in rng.integers(0, len(hits), len(hits)):
            clean_hits, noisy_hits, valid = hits[s]
            queries = rng.integers(0, len(valid), len(valid))
            kept = queries[valid[queries]]
            clean_sum += clean_hits[kept].mean()
            noisy_sum += noisy_hits[kept].mean()
        drops.append((clean_sum - noisy_sum) / clean_sum)
    np.percentile(drops, [2.5, 97.5])
    return time.process_time() - start


def vectorized_cell(clean: list[str], noisy: list[str]) -> float:
    """The same interval with irnoise.report.bootstrap (arrays loaded beforehand)."""
    runs = {
        "clean": [load_samples(p, "R@1", "sop") for p in clean],
        "noisy": [load_samples(p, "R@1", "sop") for p in noisy],
    }
    start = time.process_time()
    paired_bootstrap(runs, lambda m: relative_drop(m["clean"], m["noisy"]), RESAMPLES)
    return time.process_time() - start


def main() -> None:
    fake_results.QUERIES, fake_results.PAIRS = 3000, 6000
    root = Path(tempfile.mkdtemp(prefix="bench-bootstrap-"))
    results = fake_results.write_fake_results(root, seeds=SEEDS, levels=LEVELS)
    paths = {name: [str(p) for p in getattr(results, name)] for name in ("metrics", "per_query")}

    def uniform(name: str) -> list[str]:
        return [p for p in paths[name] if "/large/" not in p and "/small/" not in p]

    def retrieval(name: str) -> list[str]:
        return [p for p in paths[name] if "/sop/" in p or "/inshop/" in p]

    stats = [str(p) for p in results.stats]
    out = root / "out"
    times = {
        "table1": timed(["table1", "--out", out / "table1.csv", "--per-query",
                         *uniform("per_query"), "--", *uniform("metrics")]),
        "findings": timed(["findings", "--out", out / "findings.csv", "--stats", *stats,
                           "--per-query", *paths["per_query"], "--", *paths["metrics"]]),
        "fig3": timed(["figure", "noise_patterns", "--out", out / "fig3.png", "--stats",
                       *stats, "--per-query", *retrieval("per_query"), "--metrics",
                       *retrieval("metrics")]),
        "retrieval_vs_classification": timed(
            ["figure", "retrieval_vs_classification", "--out", out / "rvc.png",
             "--per-query", *uniform("per_query"), "--", *uniform("metrics")]),
    }  # fmt: skip
    cells = sum(1 for p in uniform("metrics") if "/uniform/" in p) // len(SEEDS)
    cells += len(LEVELS)  # faces has two Table 1 rows (R@1 and TPR@FPR=1e-3)
    sop = [p for p in paths["per_query"] if "/sop/" in p]
    clean = [p for p in sop if "/clean/" in p]
    noisy = [p for p in sop if "/uniform/0.05/" in p]
    naive = naive_cell([Path(p) for p in clean], [Path(p) for p in noisy])
    vectorized = vectorized_cell(clean, noisy)
    print(f"grid: {len(paths['metrics'])} runs, {len(SEEDS)} seeds, levels {LEVELS}")
    for name, (cpu, wall) in times.items():
        print(f"{name:>28}: {cpu:6.2f} s CPU, {wall:6.2f} s wall")
    per_cell = times["table1"][0] / cells
    print(
        f"naive loop, one R@1 cell: {naive:.2f} s CPU; Table 1 per cell (R@1, accuracy and "
        f"TPR cells, loading and writing included): {per_cell:.3f} s CPU ({cells} cells)"
    )
    print(f"the same R@1 cell vectorized (paired_bootstrap): {vectorized:.3f} s CPU")
    print(f"ratio naive / vectorized, one R@1 cell (CPU): {naive / vectorized:.1f}x")


if __name__ == "__main__":
    main()
