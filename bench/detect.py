"""The kNN label-noise detector against a bare faiss search of the same embeddings.

Embeddings: `--n` x `--dim` float32 (default 60,502 x 512, SOP-train size), clustered like
a trained model's (`--classes` random unit centers, ~5 samples each, plus noise), labels
the clusters with 10% flipped. Baseline: a faiss IndexFlatIP built on the normalized
embeddings and searched for every row's k + 1 nearest (the row itself and k others).
Detector: `irnoise.detect` end to end on the raw embeddings (normalize, index, batched
leave-one-out search with canonical tie order, disagreement scores and suggested labels).
Both run `--repeats` times alternately in one process on `--threads` faiss threads; the
ratio is detector / baseline of the medians (target <= 1.2), of wall and of CPU time.

Also prints the peak resident memory and the memory model extrapolated to MS-Celeb-1M
(5.8M x 512).

    nice python bench/detect.py --repeats 3
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time

import faiss
import numpy as np

from irnoise.detect import knn

MS1M_SAMPLES = 5_822_653


def clustered(n: int, dim: int, classes: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(classes, dim)).astype(np.float32)
    centers /= np.linalg.norm(centers, axis=1, keepdims=True)
    labels = rng.integers(0, classes, n)
    embeddings = centers[labels] + rng.normal(scale=0.6 / np.sqrt(dim), size=(n, dim)).astype(
        np.float32
    )
    flipped = rng.random(n) < 0.1
    labels[flipped] = rng.integers(0, classes, flipped.sum())
    return embeddings.astype(np.float32), labels


def bare_faiss(embeddings: np.ndarray, k: int) -> None:
    vectors = embeddings.copy()
    faiss.normalize_L2(vectors)
    index = faiss.IndexFlatIP(vectors.shape[1])
    index.add(vectors)
    index.search(vectors, k + 1)


def detector(embeddings: np.ndarray, labels: np.ndarray, k: int) -> None:
    hoods = knn.neighborhoods(embeddings, k)
    knn.disagreement(labels, hoods)


def timed(function, *args) -> tuple[float, float]:
    """(wall seconds, CPU seconds of all this process's threads): on a shared machine the
    CPU time is the steadier measure of the work."""
    start, cpu = time.perf_counter(), time.process_time()
    function(*args)
    return time.perf_counter() - start, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=60_502)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--classes", type=int, default=11_318)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    faiss.omp_set_num_threads(args.threads)
    embeddings, labels = clustered(args.n, args.dim, args.classes)
    baseline, ours = [], []
    for _ in range(args.repeats):
        baseline.append(timed(bare_faiss, embeddings, args.k))
        ours.append(timed(detector, embeddings, labels, args.k))
    print(f"{args.n} x {args.dim}, k={args.k}, {args.threads} threads, {args.repeats} repeats")
    for i, clock in enumerate(("wall", "CPU")):
        base = statistics.median(t[i] for t in baseline)
        mine = statistics.median(t[i] for t in ours)
        print(
            f"{clock}: bare faiss IndexFlatIP search median {base:.2f} s, kNN detector median "
            f"{mine:.2f} s, ratio {mine / base:.3f} (target <= 1.2); "
            f"faiss {[round(t[i], 2) for t in baseline]}, detector {[round(t[i], 2) for t in ours]}"
        )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(f"peak resident memory of this process: {peak:.2f} GB")
    vectors = MS1M_SAMPLES * args.dim * 4 / 2**30
    neighbors = MS1M_SAMPLES * args.k * 12 / 2**30
    print(
        f"MS-Celeb-1M ({MS1M_SAMPLES:,} x {args.dim}): embeddings {vectors:.1f} GB + normalized "
        f"copy {vectors:.1f} GB + faiss flat index {vectors:.1f} GB + neighbors {neighbors:.2f} "
        f"GB = {3 * vectors + neighbors:.1f} GB"
    )


if __name__ == "__main__":
    main()
