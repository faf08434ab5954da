"""Label-noise schemes of the study: uniform, large-class and small-class noise.

Let N be the number of samples, K the number of distinct labels present and
T = round(level * N) (Python's `round`: halves go to the even integer), 0 <= level < 1.

- `uniform`: exactly T distinct samples, chosen uniformly at random, each get a label
  drawn uniformly from the K - 1 classes other than their own. The noise rate is exactly
  T / N. Mechanism: every sample gets a seeded random priority and a seeded shift in
  1..K-1; the T samples of lowest priority move by their shift along the sorted class
  ids (cyclically). So for one seed the flips are nested across levels: the samples
  flipped at a lower level are flipped at a higher one too, and to the same labels.
- `large`: order the classes by size, largest first, ties broken by a seeded random order
  of the classes. Select the shortest prefix of that order holding at least T samples and
  at least two classes, and apply one uniformly random permutation to the labels of all
  samples of the selected classes. Every class keeps its size.
- `small`: the same, smallest classes first.

Level 0 returns an unchanged copy. A positive level that rounds to zero samples is
refused rather than silently giving clean labels.

Randomness comes from numpy's PCG64 Generator, seeded through a SeedSequence of
(seed, stream) with one stream per purpose, and only platform-independent operations
(integer draws, permutations, stable sorts, a partition of distinct keys) touch it: the
same (labels, scheme, level, seed) gives the same noisy labels on every machine. numpy
may change a Generator method's stream between versions; the tests pin small outputs so
that such a change is noticed.

Sample order: for `large`/`small` the shuffle is applied to the selected samples grouped
by class (in selection order), keeping sample order within a class. The shuffled sequence
of labels therefore depends only on the class sizes and the seed: reordering the samples
by any permutation that keeps the order of samples within each class permutes the noisy
labels the same way, and any reordering leaves the selected classes and the count of every
(clean, noisy) label pair unchanged. For `uniform` the flipped positions and each flipped
position's shift in the sorted list of classes depend only on (N, K, seed).
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np

from irnoise.plan import LARGE, NOISE_SCHEMES, UNIFORM

SCHEMES = NOISE_SCHEMES

# One random stream per purpose, so that drawing more of one never shifts another.
_TIE_BREAK, _SHUFFLE, _SAMPLES, _SHIFTS = range(4)


@dataclass(frozen=True)
class ClassTable:
    """The distinct labels of an array, their sizes, and a fast label -> class position map."""

    ids: np.ndarray  # distinct labels, ascending, in the labels' dtype
    sizes: np.ndarray  # samples per class (int64), aligned with `ids`
    offset: int  # subtracted from a label before `lookup` (0 for non-negative ids)
    lookup: np.ndarray | None  # label - offset -> position in `ids`; None for sparse ids

    @property
    def count(self) -> int:
        return len(self.ids)

    def positions(self, values: np.ndarray) -> np.ndarray:
        """Position in `ids` of each value (every value must be one of `ids`)."""
        if self.lookup is None:
            return np.searchsorted(self.ids, values)
        return self.lookup[self._shifted(values)]

    def per_sample(self, per_class: np.ndarray, values: np.ndarray) -> np.ndarray:
        """`per_class[positions(values)]` with a single pass over the values."""
        if self.lookup is None:
            return per_class[self.positions(values)]
        return per_class[self.lookup][self._shifted(values)]

    def _shifted(self, values: np.ndarray) -> np.ndarray:
        values = values.astype(np.int64, copy=False)
        return values - self.offset if self.offset else values


def class_table(labels: np.ndarray) -> ClassTable:
    """Distinct labels and sizes of a 1-D integer array.

    Ids that are compact (span at most about 2N) go through `bincount`, linear in N; a
    sort (`np.unique`) costs several times more at millions of samples.
    """
    if labels.size == 0:
        return ClassTable(labels[:0].copy(), np.zeros(0, np.int64), 0, None)
    low, high = int(labels.min()), int(labels.max())
    if high - low + 1 > 2 * labels.size + 1024 or high > np.iinfo(np.int64).max:
        ids, sizes = np.unique(labels, return_counts=True)
        return ClassTable(ids, sizes.astype(np.int64), 0, None)
    # Shifting costs a pass over the labels: skip it for the usual non-negative ids.
    offset = min(low, 0) if high < 2 * labels.size + 1024 else low
    table = ClassTable(labels[:0], np.zeros(0, np.int64), offset, None)
    counts = np.bincount(table._shifted(labels))
    present = counts > 0
    lookup = np.cumsum(present, dtype=np.int64) - 1
    ids = (np.flatnonzero(present) + offset).astype(labels.dtype)
    return ClassTable(ids, counts[present].astype(np.int64), offset, lookup)


def flip_target(n_samples: int, level: float) -> int:
    """T = round(level * N): the samples uniform noise flips, the samples large/small cover."""
    return round(level * n_samples)


def corrupt_labels(labels: np.ndarray, scheme: str, level: float, seed: int) -> np.ndarray:
    """Noisy copy of `labels` (1-D, any integer ids) under `scheme` at `level` with `seed`.

    See the module docstring for the exact semantics. Returns an array of the same shape
    and dtype; `labels` is not modified. Raises ValueError for a level outside [0, 1), an
    unknown scheme, labels that are not a 1-D integer array, fewer than two classes, a
    negative or non-integer seed, or a positive level that rounds to zero samples.
    """
    labels, classes, target = _prepare(labels, scheme, level, seed)
    return _corrupt(labels, classes, scheme, target, seed)[0]


def select_classes(labels: np.ndarray, scheme: str, level: float, seed: int) -> np.ndarray:
    """The class ids that `large`/`small` noise shuffles, in selection order.

    The same selection `corrupt_labels` uses for these arguments; empty at level 0.
    `uniform` selects samples, not classes: asking for it is a ValueError.
    """
    if scheme == UNIFORM:
        raise ValueError("uniform noise selects samples, not classes: use large or small")
    labels, classes, target = _prepare(labels, scheme, level, seed)
    if target == 0:
        return classes.ids[:0]
    return classes.ids[_selected_positions(classes, scheme, target, seed)]


def corrupt_with_stats(
    labels: np.ndarray, scheme: str, level: float, seed: int
) -> tuple[np.ndarray, dict]:
    """`corrupt_labels` and its `noise_stats` (with the selected classes) in one go.

    What `irnoise noise` writes; one class table serves both, which matters at millions
    of samples. The stats also give `target`, T = round(level * N).
    """
    labels, classes, target = _prepare(labels, scheme, level, seed)
    noisy, selected, touched = _corrupt(labels, classes, scheme, target, seed)
    return noisy, _stats(labels, noisy, classes, selected, touched) | {"target": target}


def noise_stats(
    clean: np.ndarray, noisy: np.ndarray, selected_classes: np.ndarray | None = None
) -> dict:
    """Statistics of a noisy label array against its clean labels (JSON-ready values).

    - `n_samples`, `n_classes`: N and the number of distinct clean labels K.
    - `flipped`: samples whose noisy label differs from the clean one; `noise_rate` =
      flipped / N (a fraction).
    - `corrupted_classes`: clean classes with at least one flipped sample;
      `corrupted_classes_pct` = 100 * corrupted_classes / K.
    - `majority_changed`: clean classes whose own label is no longer the unique most
      frequent noisy label among their samples (a tie with another label counts as
      changed); `majority_changed_pct` likewise in percent of K.
    - `selected_classes`: the classes large/small noise shuffled (from `select_classes`),
      as a list of ids in selection order, with `n_selected_classes` and
      `selected_samples`; None when not given (uniform noise).
    """
    clean, noisy = _checked_labels(clean), _checked_labels(noisy)
    if clean.shape != noisy.shape:
        raise ValueError(f"clean and noisy labels differ in length: {clean.size} != {noisy.size}")
    classes = class_table(clean)
    selected = None
    if selected_classes is not None:
        selected = _known_positions(classes, np.asarray(selected_classes))
    return _stats(clean, noisy, classes, selected)


def _corrupt(
    labels: np.ndarray, classes: ClassTable, scheme: str, target: int, seed: int
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """Noisy labels, the positions of the selected classes (None for uniform) and the
    indices of the samples whose label may have changed."""
    nothing = np.zeros(0, np.intp)
    if scheme == UNIFORM:
        if target == 0:
            return labels.copy(), None, nothing
        noisy, flipped = _flip_uniform(labels, classes, target, seed)
        return noisy, None, flipped
    if target == 0:
        return labels.copy(), nothing, nothing
    selected = _selected_positions(classes, scheme, target, seed)
    noisy, members = _shuffle_selected(labels, classes, selected, seed)
    return noisy, selected, members


def _stats(
    clean: np.ndarray,
    noisy: np.ndarray,
    classes: ClassTable,
    selected: np.ndarray | None,
    touched: np.ndarray | None = None,
) -> dict:
    # Knowing which samples the noise touched spares a comparison of all N labels.
    if touched is None:
        flipped = np.flatnonzero(clean != noisy)
    else:
        flipped = touched[clean[touched] != noisy[touched]]
    flipped_class = classes.positions(clean[flipped])
    flips_per_class = np.bincount(flipped_class, minlength=classes.count)
    corrupted = int(np.count_nonzero(flips_per_class))
    changed = _majority_changed(classes, flipped_class, noisy[flipped], flips_per_class)
    k = max(classes.count, 1)
    stats = {
        "n_samples": int(clean.size),
        "n_classes": classes.count,
        "flipped": int(flipped.size),
        "noise_rate": flipped.size / max(clean.size, 1),
        "corrupted_classes": corrupted,
        "corrupted_classes_pct": 100.0 * corrupted / k,
        "majority_changed": changed,
        "majority_changed_pct": 100.0 * changed / k,
        "selected_classes": None,
    }
    if selected is not None:
        stats["selected_classes"] = classes.ids[selected].tolist()
        stats["n_selected_classes"] = int(selected.size)
        stats["selected_samples"] = int(classes.sizes[selected].sum())
    return stats


# --- validation -------------------------------------------------------------------------


def _checked_labels(labels: np.ndarray) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(
            f"labels must be a 1-D integer array, got a {labels.ndim}-D {labels.dtype} array"
        )
    return labels


def _check_arguments(scheme: str, level: float, seed: int) -> None:
    if scheme not in SCHEMES:
        raise ValueError(f"unknown noise scheme {scheme!r}: expected one of {', '.join(SCHEMES)}")
    real = isinstance(level, numbers.Real) and not isinstance(level, bool)
    if not real or not 0 <= level < 1:
        raise ValueError(f"noise level must satisfy 0 <= level < 1, got {level!r}")
    if not isinstance(seed, numbers.Integral) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")


def _prepare(
    labels: np.ndarray, scheme: str, level: float, seed: int
) -> tuple[np.ndarray, ClassTable, int]:
    """Checked labels, their class table and T (0 at level 0), or a ValueError."""
    labels = _checked_labels(labels)
    _check_arguments(scheme, level, seed)
    classes = class_table(labels)
    if classes.count < 2:
        raise ValueError(
            f"label noise needs at least two classes, got {classes.count} "
            f"among {labels.size} samples"
        )
    return labels, classes, _reachable_target(labels.size, level)


def _known_positions(classes: ClassTable, ids: np.ndarray) -> np.ndarray:
    positions = np.searchsorted(classes.ids, ids)
    known = positions < classes.count
    known[known] = classes.ids[positions[known]] == ids[known]
    if not known.all():
        raise ValueError(f"selected classes not among the clean labels: {ids[~known][:5]}")
    return positions


def _reachable_target(n_samples: int, level: float) -> int:
    target = flip_target(n_samples, level)
    if target == 0 and level > 0:
        # 1/N always gives one sample (T = round(level * N), halves to even).
        raise ValueError(
            f"level {level} of {n_samples} samples rounds to 0 samples "
            f"(T = round(level x N)): use level 0 for clean labels, or a level of at "
            f"least {1 / n_samples:.3g} (one sample in {n_samples})"
        )
    return target


# --- schemes ----------------------------------------------------------------------------


def _rng(seed: int, stream: int) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, stream])))


def _flip_uniform(
    labels: np.ndarray, classes: ClassTable, target: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Noisy labels and the flipped samples."""
    # Flipping the T samples of smallest random priority, each by its own random shift,
    # makes the flips at a lower level a subset (same samples, same labels) of a higher.
    # (A full permutation would do too, at twice the cost for millions of samples.)
    chosen = _lowest_priority(labels.size, target, seed)
    # 32-bit shifts where they fit: half the memory of int64 for one shift per sample.
    dtype = np.int32 if classes.count <= np.iinfo(np.int32).max else np.int64
    shift = _rng(seed, _SHIFTS).integers(1, classes.count, size=labels.size, dtype=dtype)[chosen]
    # A shift in 1..K-1 along the sorted classes is uniform over the K-1 other classes.
    new_position = (classes.positions(labels[chosen]) + shift) % classes.count
    noisy = labels.copy()
    noisy[chosen] = classes.ids[new_position]
    return noisy, chosen


def _lowest_priority(n_samples: int, count: int, seed: int) -> np.ndarray:
    """Indices of the `count` samples of smallest random priority (in no particular order)."""
    index_bits = np.uint64(max(1, (n_samples - 1).bit_length()))
    # Random high bits with the sample index in the low bits: every key is distinct, so
    # the selected set is well defined whatever order the partition leaves ties in.
    keys = _rng(seed, _SAMPLES).integers(
        0, 2**64 - 1, size=n_samples, dtype=np.uint64, endpoint=True
    )
    keys >>= index_bits
    keys <<= index_bits
    keys |= np.arange(n_samples, dtype=np.uint64)
    lowest = np.partition(keys, count - 1)[:count]
    return (lowest & ((np.uint64(1) << index_bits) - np.uint64(1))).astype(np.intp)


def _selected_positions(classes: ClassTable, scheme: str, target: int, seed: int) -> np.ndarray:
    """Positions (in `classes.ids`) of the shortest size-ordered prefix covering `target`."""
    tie_order = _rng(seed, _TIE_BREAK).permutation(classes.count)
    key = classes.sizes[tie_order]
    # A stable sort keeps the seeded order among classes of equal size.
    order = tie_order[np.argsort(-key if scheme == LARGE else key, kind="stable")]
    covered = np.cumsum(classes.sizes[order])
    # covered[-1] == N >= T, so a prefix always exists; at least two classes are needed
    # for a permutation to change anything.
    count = max(2, int(np.searchsorted(covered, target, side="left")) + 1)
    return order[:count]


def _shuffle_selected(
    labels: np.ndarray, classes: ClassTable, selected: np.ndarray, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Noisy labels and the samples of the selected classes."""
    rank = np.full(classes.count, -1, dtype=np.int64)
    rank[selected] = np.arange(selected.size)
    sample_rank = classes.per_sample(rank, labels)
    members = np.flatnonzero(sample_rank >= 0)
    # Members grouped by class in selection order (sample order kept within a class): the
    # label sequence to shuffle is then a function of the class sizes alone, which makes
    # the result independent of how samples are ordered (see the module docstring).
    members = members[_stable_order(sample_rank[members])]
    sequence = np.repeat(classes.ids[selected], classes.sizes[selected])
    noisy = labels.copy()
    noisy[members] = _rng(seed, _SHUFFLE).permutation(sequence)
    return noisy, members


def _stable_order(keys: np.ndarray) -> np.ndarray:
    """Stable argsort of non-negative integer keys below 2**32.

    Two stable passes on 16-bit digits: numpy radix-sorts 16-bit keys, several times
    faster than its general stable sort (timsort) at hundreds of thousands of keys.
    """
    low = (keys & 0xFFFF).astype(np.uint16)
    if keys.size == 0 or keys.max() <= 0xFFFF:
        return np.argsort(low, kind="stable")
    order = np.argsort(low, kind="stable")
    high = (keys[order] >> 16).astype(np.uint16)
    return order[np.argsort(high, kind="stable")]


def _majority_changed(
    classes: ClassTable,
    flipped_class: np.ndarray,
    flipped_noisy: np.ndarray,
    flips_per_class: np.ndarray,
) -> int:
    """Classes where some other noisy label is at least as frequent as the class's own."""
    if flipped_class.size == 0:
        return 0
    # Count (clean class, noisy label) pairs among the flipped samples only: unflipped
    # samples all carry their own label, whose count is size - flips.
    noisy_classes = class_table(flipped_noisy)
    noisy_index = noisy_classes.positions(flipped_noisy)
    pair = flipped_class.astype(np.int64) * noisy_classes.count + noisy_index
    codes, counts = np.unique(pair, return_counts=True)
    pair_class = codes // noisy_classes.count
    starts = np.flatnonzero(np.r_[True, pair_class[1:] != pair_class[:-1]])
    top_other = np.maximum.reduceat(counts, starts)
    hit = pair_class[starts]
    own = classes.sizes[hit] - flips_per_class[hit]
    return int(np.count_nonzero(top_other >= own))
