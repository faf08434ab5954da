"""Exact k nearest neighbors by cosine similarity, through faiss IndexFlatIP.

Embeddings are L2-normalized to float32 so that inner product is cosine similarity. The
index lives on the GPU when faiss was built with GPU support and sees one, else on the CPU.

Two rules make the neighbor lists a function of the scores alone, whatever order faiss
returns tied scores in (it differs between its CPU code paths and the GPU):

- ties are broken by gallery index, lowest first: a query's neighbors are the first k of
  the gallery sorted by (score descending, index ascending);
- leave-one-out excludes the query by its row index, never by its score: a duplicate of the
  query scores as high as the query itself, and must stay a neighbor.

faiss returns the top scores with ties in no fixed order, so each search fetches one item
more than needed. If that extra item scores below the last needed one, every item tied with
the last needed one was fetched and the canonical order can be restored by sorting;
otherwise (a tie crossing the boundary, which needs exactly equal scores) the query is
searched again with a deeper list.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import faiss
import numpy as np

# faiss's GPU k-selection handles at most this many neighbors per query.
GPU_MAX_K = 2048
DEFAULT_BATCH_SIZE = 16384
# Bounds a batch's result arrays (queries x neighbors, ~100 MB) when many neighbors are
# asked for (MAP@R on a dataset with large classes).
MAX_RESULTS_PER_BATCH = 1 << 23


@dataclass(frozen=True)
class Neighbors:
    """The k nearest gallery items of the queries `start .. start + len(ids) - 1`.

    `ids[i, j]` is the gallery index of query `start + i`'s (j+1)-th neighbor and
    `scores[i, j]` its cosine similarity; where the gallery holds fewer than k candidates
    the row is padded with id -1 and score -inf.
    """

    start: int
    scores: np.ndarray
    ids: np.ndarray


def normalized(embeddings: np.ndarray) -> np.ndarray:
    """A float32, C-ordered copy with unit rows (all-zero rows stay zero)."""
    vectors = np.array(embeddings, dtype=np.float32, order="C", copy=True)
    if vectors.ndim != 2:
        raise ValueError(f"embeddings must be a 2-d array, got shape {vectors.shape}")
    if not np.isfinite(vectors).all():
        raise ValueError("embeddings contain NaN or infinite values")
    faiss.normalize_L2(vectors)
    return vectors


def set_threads(threads: int) -> None:
    """Limit faiss's OpenMP threads (the CPU search) to the job's share of the machine."""
    faiss.omp_set_num_threads(max(1, int(threads)))


def gpu_available() -> bool:
    return hasattr(faiss, "StandardGpuResources") and faiss.get_num_gpus() > 0


class FlatIndex:
    """An exact inner-product index over unit vectors, on the GPU when faiss has one."""

    def __init__(self, gallery: np.ndarray, use_gpu: bool | None = None) -> None:
        self.size, dim = gallery.shape
        self.cpu = faiss.IndexFlatIP(dim)
        self.cpu.add(gallery)
        self.gpu = None
        if gpu_available() if use_gpu is None else use_gpu:
            self._resources = faiss.StandardGpuResources()
            self.gpu = faiss.index_cpu_to_gpu(self._resources, 0, self.cpu)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """faiss's top k (ties in any order); the CPU copy serves k beyond the GPU's limit."""
        index = self.gpu if self.gpu is not None and k <= GPU_MAX_K else self.cpu
        scores, ids = index.search(queries, k)
        return scores, ids


def iter_neighbors(
    queries: np.ndarray,
    k: int,
    gallery: np.ndarray | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    index: FlatIndex | None = None,
) -> Iterator[Neighbors]:
    """The k nearest neighbors of every query, one batch of queries at a time.

    `queries` and `gallery` must already be `normalized`. Without a gallery, the queries
    are their own gallery and each query's own row is excluded (leave-one-out).
    """
    leave_one_out = gallery is None
    if index is None:
        index = FlatIndex(queries if leave_one_out else gallery)
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    wanted = k + int(leave_one_out)  # the query itself may be among the top k + 1
    batch_size = max(1, min(batch_size, MAX_RESULTS_PER_BATCH // (wanted + 1)))
    for start in range(0, len(queries), batch_size):
        batch = queries[start : start + batch_size]
        scores, ids = _top(index, batch, wanted)
        if leave_one_out:
            rows = np.arange(start, start + len(batch))
            scores, ids = _without_self(scores, ids, rows)
        yield Neighbors(start, scores, ids)


def nearest_neighbors(
    queries: np.ndarray,
    k: int,
    gallery: np.ndarray | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> tuple[np.ndarray, np.ndarray]:
    """All of `iter_neighbors` at once: (scores, ids), each of shape (n_queries, k)."""
    parts = list(iter_neighbors(queries, k, gallery, batch_size))
    if not parts:
        return np.empty((0, k), np.float32), np.empty((0, k), np.int64)
    return np.concatenate([p.scores for p in parts]), np.concatenate([p.ids for p in parts])


def _top(index: FlatIndex, queries: np.ndarray, wanted: int) -> tuple[np.ndarray, np.ndarray]:
    """The first `wanted` items of each query in (score desc, index asc) order."""
    fetch = min(wanted + 1, index.size)
    scores, ids = _canonical(*index.search(queries, fetch))
    if fetch <= wanted or fetch == index.size:
        return _padded(scores, ids, wanted)  # the whole gallery was fetched: nothing is cut
    # The extra item ties with the last wanted one: more tied items may be missing.
    cut = np.flatnonzero(scores[:, wanted] == scores[:, wanted - 1])
    scores, ids = scores[:, :wanted].copy(), ids[:, :wanted].copy()
    while len(cut):
        fetch = min(2 * fetch, index.size)
        # Rows in chunks, so that a collapsed model (every score tied) cannot exhaust memory.
        step = max(1, MAX_RESULTS_PER_BATCH // fetch)
        still_cut = []
        for chunk in np.array_split(cut, -(-len(cut) // step)):
            deep_scores, deep_ids = _canonical(*index.search(queries[chunk], fetch))
            scores[chunk], ids[chunk] = deep_scores[:, :wanted], deep_ids[:, :wanted]
            if fetch < index.size:
                whole = deep_scores[:, -1] < deep_scores[:, wanted - 1]
                still_cut.append(chunk[~whole])
        cut = np.concatenate(still_cut) if still_cut else cut[:0]
    return scores, ids


def _canonical(scores: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sort each row by score descending, then gallery index ascending; padding (-1) last."""
    # faiss pads missing results with id -1; push them behind every real item.
    ids_key = np.where(ids < 0, np.iinfo(np.int64).max, ids)
    order = np.lexsort((ids_key, -scores), axis=-1)
    return np.take_along_axis(scores, order, -1), np.take_along_axis(ids, order, -1)


def _padded(scores: np.ndarray, ids: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    missing = width - scores.shape[1]
    if missing <= 0:
        return scores[:, :width], ids[:, :width]
    pad_scores = np.full((len(scores), missing), -np.inf, dtype=np.float32)
    pad_ids = np.full((len(ids), missing), -1, dtype=np.int64)
    return np.hstack([scores, pad_scores]), np.hstack([ids, pad_ids])


def _without_self(
    scores: np.ndarray, ids: np.ndarray, rows: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Drop each query's own row from its k + 1 neighbors (or the last one if absent)."""
    drop = ids == rows[:, None]
    # Rows whose own item is not in the list: k + 1 items outrank it; keep the first k.
    drop[~drop.any(axis=1), -1] = True
    keep = ~drop
    shape = (len(ids), ids.shape[1] - 1)
    return scores[keep].reshape(shape), ids[keep].reshape(shape)
