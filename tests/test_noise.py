"""Noise schemes: properties over random class-size distributions, and unit tests.

Reference semantics: docs/design.md, "Noise schemes". Statistics are
checked against a naive reference (loops over Counters).
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from irnoise.noise import corrupt_labels, corrupt_with_stats, noise_stats, select_classes

SETTINGS = settings(max_examples=40, deadline=None)
CLASS_SCHEMES = ("large", "small")


@st.composite
def labelled(draw, min_classes: int = 2, max_classes: int = 25, max_size: int = 30):
    """(labels, level, seed): random class sizes, ids and sample order; T >= 1."""
    sizes = draw(st.lists(st.integers(1, max_size), min_size=min_classes, max_size=max_classes))
    # Arbitrary ids: negative, sparse or huge ones exercise both class-table paths.
    ids = draw(
        st.lists(
            st.integers(-(10**12), 10**12), min_size=len(sizes), max_size=len(sizes), unique=True
        )
    )
    order = np.random.default_rng(draw(st.integers(0, 2**32))).permutation(sum(sizes))
    labels = np.repeat(np.array(ids, dtype=np.int64), sizes)[order]
    level = draw(st.floats(0.01, 0.95))
    assume(round(level * labels.size) >= 1)
    return labels, level, draw(st.integers(0, 2**31))


def class_sizes(labels: np.ndarray) -> dict[int, int]:
    return dict(Counter(labels.tolist()))


def flips(clean: np.ndarray, noisy: np.ndarray) -> np.ndarray:
    return clean != noisy


def same_class_order_permutation(labels: np.ndarray, seed: int) -> np.ndarray:
    """A random reordering of the samples that keeps the order within each class."""
    target = labels[np.random.default_rng(seed).permutation(labels.size)]
    permutation = np.empty(labels.size, dtype=np.intp)
    for label in np.unique(labels):
        permutation[np.flatnonzero(target == label)] = np.flatnonzero(labels == label)
    return permutation


# --- properties ---------------------------------------------------------------------------


@SETTINGS
@given(labelled(), st.sampled_from(("uniform", "large", "small")))
def test_level_zero_is_the_identity(case, scheme):
    labels, _, seed = case
    noisy = corrupt_labels(labels, scheme, 0.0, seed)
    assert noisy is not labels
    assert noisy.dtype == labels.dtype
    np.testing.assert_array_equal(noisy, labels)


@SETTINGS
@given(labelled())
def test_uniform_flips_exactly_t_samples_to_other_existing_classes(case):
    labels, level, seed = case
    noisy = corrupt_labels(labels, "uniform", level, seed)
    assert noisy.shape == labels.shape and noisy.dtype == labels.dtype
    # Counting inequalities also proves no sample is "flipped" to its own label.
    assert np.count_nonzero(flips(labels, noisy)) == round(level * labels.size)
    assert set(noisy.tolist()) <= set(labels.tolist())


@SETTINGS
@given(labelled(), st.floats(0.01, 0.95))
def test_uniform_flips_are_nested_across_levels(case, other_level):
    labels, level, seed = case
    assume(round(other_level * labels.size) >= 1)
    low, high = sorted((level, other_level))
    noisy_low = corrupt_labels(labels, "uniform", low, seed)
    noisy_high = corrupt_labels(labels, "uniform", high, seed)
    flipped_low = flips(labels, noisy_low)
    assert not (flipped_low & ~flips(labels, noisy_high)).any()
    # Nested labels too, not just nested samples.
    np.testing.assert_array_equal(noisy_low[flipped_low], noisy_high[flipped_low])


@SETTINGS
@given(labelled(), st.sampled_from(CLASS_SCHEMES))
def test_class_schemes_keep_every_class_size(case, scheme):
    labels, level, seed = case
    noisy = corrupt_labels(labels, scheme, level, seed)
    assert noisy.dtype == labels.dtype
    assert class_sizes(noisy) == class_sizes(labels)


@SETTINGS
@given(labelled(), st.sampled_from(CLASS_SCHEMES))
def test_class_schemes_touch_the_shortest_prefix_of_largest_or_smallest(case, scheme):
    labels, level, seed = case
    sizes = class_sizes(labels)
    selected = select_classes(labels, scheme, level, seed).tolist()
    others = [size for label, size in sizes.items() if label not in selected]
    chosen = [sizes[label] for label in selected]
    # Size order: largest (or smallest) first, and no unselected class beyond the prefix.
    sign = -1 if scheme == "large" else 1
    assert chosen == sorted(chosen, key=lambda size: sign * size)
    if others:
        assert (min(chosen) >= max(others)) if scheme == "large" else max(chosen) <= min(others)
    # The shortest prefix covering T samples, with at least two classes.
    target = round(level * labels.size)
    assert len(selected) >= 2 and sum(chosen) >= target
    assert len(selected) == 2 or sum(chosen[:-1]) < target
    # Only samples of selected classes change, and only to selected classes.
    noisy = corrupt_labels(labels, scheme, level, seed)
    changed = flips(labels, noisy)
    assert set(labels[changed].tolist()) <= set(selected)
    assert set(noisy[changed].tolist()) <= set(selected)


@SETTINGS
@given(labelled(), st.sampled_from(("uniform", "large", "small")))
def test_same_seed_same_output(case, scheme):
    labels, level, seed = case
    first = corrupt_labels(labels, scheme, level, seed)
    np.testing.assert_array_equal(first, corrupt_labels(labels.copy(), scheme, level, seed))


@SETTINGS
@given(labelled(min_classes=3), st.sampled_from(("uniform", "large", "small")))
def test_different_seeds_different_outputs(case, scheme):
    labels, level, seed = case
    # Only where the outcomes are many: then equal outputs have probability below 1e-6.
    assume(outcomes_log10(labels, scheme, level, seed) >= 6)
    first = corrupt_labels(labels, scheme, level, seed)
    assert not np.array_equal(first, corrupt_labels(labels, scheme, level, seed + 1))


def outcomes_log10(labels: np.ndarray, scheme: str, level: float, seed: int) -> float:
    """log10 of the number of equally likely outputs for this seed's selection."""
    from math import lgamma, log

    if scheme == "uniform":
        n, t, k = labels.size, round(level * labels.size), len(class_sizes(labels))
        ways = lgamma(n + 1) - lgamma(t + 1) - lgamma(n - t + 1) + t * log(k - 1)
        return ways / log(10)
    sizes = class_sizes(labels)
    chosen = [sizes[label] for label in select_classes(labels, scheme, level, seed).tolist()]
    ways = lgamma(sum(chosen) + 1) - sum(lgamma(size + 1) for size in chosen)
    return ways / log(10)


@SETTINGS
@given(labelled(), st.sampled_from(CLASS_SCHEMES), st.integers(0, 2**32))
def test_class_schemes_do_not_depend_on_sample_order(case, scheme, shuffle_seed):
    """Reordering samples by any permutation π leaves the selected classes and the count
    of every (clean, noisy) label pair unchanged; when π keeps the order of samples within
    each class, the noisy labels are exactly permuted by π."""
    labels, level, seed = case
    noisy = corrupt_labels(labels, scheme, level, seed)
    shuffled = np.random.default_rng(shuffle_seed).permutation(labels.size)
    noisy_shuffled = corrupt_labels(labels[shuffled], scheme, level, seed)
    np.testing.assert_array_equal(
        select_classes(labels[shuffled], scheme, level, seed),
        select_classes(labels, scheme, level, seed),
    )
    pairs = Counter(zip(labels.tolist(), noisy.tolist(), strict=True))
    pairs_shuffled = Counter(zip(labels[shuffled].tolist(), noisy_shuffled.tolist(), strict=True))
    assert pairs_shuffled == pairs
    within = same_class_order_permutation(labels, shuffle_seed)
    np.testing.assert_array_equal(
        corrupt_labels(labels[within], scheme, level, seed), noisy[within]
    )


@SETTINGS
@given(labelled(), st.integers(0, 2**32))
def test_uniform_does_not_depend_on_sample_order(case, shuffle_seed):
    """Reordering samples keeps the flipped positions and, at each flipped position, the
    shift along the sorted classes: both depend on (N, K, seed) only."""
    labels, level, seed = case
    reordered = labels[np.random.default_rng(shuffle_seed).permutation(labels.size)]
    ids = np.unique(labels)

    def shifts(clean: np.ndarray) -> np.ndarray:
        noisy = corrupt_labels(clean, "uniform", level, seed)
        return (np.searchsorted(ids, noisy) - np.searchsorted(ids, clean)) % ids.size

    np.testing.assert_array_equal(shifts(reordered), shifts(labels))


@SETTINGS
@given(labelled(), st.sampled_from(("uniform", "large", "small")))
def test_monotone_relabelling_commutes_with_noise(case, scheme):
    """Only the sorted order of the ids matters: compact ids (bincount path) and sparse
    ids (sort path) give the same noise."""
    labels, level, seed = case
    ids, compact = np.unique(labels, return_inverse=True)
    noisy = corrupt_labels(compact.astype(np.int32), scheme, level, seed)
    assert noisy.dtype == np.int32
    np.testing.assert_array_equal(ids[noisy], corrupt_labels(labels, scheme, level, seed))


@SETTINGS
@given(labelled(), st.sampled_from(("uniform", "large", "small")))
def test_stats_match_a_naive_reference(case, scheme):
    labels, level, seed = case
    noisy, stats = corrupt_with_stats(labels, scheme, level, seed)
    selected = None if scheme == "uniform" else select_classes(labels, scheme, level, seed)
    expected = naive_stats(labels, noisy, selected)
    assert {key: stats[key] for key in expected} == expected
    assert noise_stats(labels, noisy, selected) == {k: v for k, v in stats.items() if k != "target"}
    assert stats["target"] == round(level * labels.size)


def naive_stats(clean: np.ndarray, noisy: np.ndarray, selected) -> dict:
    by_class: dict[int, Counter] = {}
    for a, b in zip(clean.tolist(), noisy.tolist(), strict=True):
        by_class.setdefault(a, Counter())[b] += 1
    corrupted = sum(1 for c, counts in by_class.items() if set(counts) != {c})
    changed = sum(
        1
        for c, counts in by_class.items()
        if any(n >= counts[c] for label, n in counts.items() if label != c)
    )
    flipped = int(np.count_nonzero(clean != noisy))
    stats = {
        "n_samples": clean.size,
        "n_classes": len(by_class),
        "flipped": flipped,
        "noise_rate": flipped / clean.size,
        "corrupted_classes": corrupted,
        "corrupted_classes_pct": 100 * corrupted / len(by_class),
        "majority_changed": changed,
        "majority_changed_pct": 100 * changed / len(by_class),
        "selected_classes": None if selected is None else [int(c) for c in selected],
    }
    if selected is not None:
        sizes = class_sizes(clean)
        stats["n_selected_classes"] = len(selected)
        stats["selected_samples"] = sum(sizes[int(c)] for c in selected)
    return stats


# --- unit tests ---------------------------------------------------------------------------


# Pinned outputs: the same (labels, scheme, level, seed) must give these on every machine.
GOLDEN_LABELS = np.repeat(np.arange(5), [5, 4, 3, 2, 1])
GOLDEN = {
    "uniform": [0, 0, 0, 0, 2, 1, 2, 1, 2, 2, 3, 1, 3, 3, 3],
    "large": [1, 0, 0, 0, 1, 0, 1, 0, 1, 2, 2, 2, 3, 3, 4],
    "small": [0, 0, 0, 0, 0, 1, 1, 1, 1, 3, 2, 2, 4, 3, 2],
}


@pytest.mark.parametrize("scheme", ["uniform", "large", "small"])
def test_pinned_outputs(scheme):
    noisy = corrupt_labels(GOLDEN_LABELS, scheme, 0.4, 7)
    assert noisy.tolist() == GOLDEN[scheme]


def test_uniform_replacement_labels_are_uniform_over_other_classes():
    labels = np.repeat(np.arange(5), 20_000)
    noisy = corrupt_labels(labels, "uniform", 0.5, 0)
    flipped = labels != noisy
    for label in range(5):
        counts = Counter(noisy[flipped & (labels == label)].tolist())
        assert set(counts) == set(range(5)) - {label}
        expected = sum(counts.values()) / 4
        # ~2,500 draws per target: 5 standard deviations is about 4.3% of the count.
        assert all(abs(n - expected) < 5 * np.sqrt(expected) for n in counts.values())


def test_large_and_small_break_ties_by_seed():
    labels = np.repeat(np.arange(10), 4)  # ten classes of equal size
    picks = {tuple(select_classes(labels, "large", 0.2, seed).tolist()) for seed in range(20)}
    assert len(picks) > 5
    assert all(len(pick) == 2 for pick in picks)


def test_two_classes_minimum_for_class_schemes():
    labels = np.repeat(np.arange(3), [50, 5, 5])
    # T = 6 fits in the largest class, yet a permutation needs two classes.
    assert select_classes(labels, "large", 0.1, 0).tolist()[0] == 0
    assert len(select_classes(labels, "large", 0.1, 0)) == 2
    assert len(select_classes(labels, "small", 0.05, 0)) == 2


def test_small_dtypes_are_kept():
    labels = np.repeat(np.array([3, 9, 200], dtype=np.uint8), [10, 20, 30])
    for scheme in ("uniform", "large", "small"):
        noisy = corrupt_labels(labels, scheme, 0.3, 1)
        assert noisy.dtype == np.uint8
        assert set(noisy.tolist()) <= {3, 9, 200}


def test_input_is_not_modified():
    labels = np.repeat(np.arange(4), 10)
    before = labels.copy()
    for scheme in ("uniform", "large", "small"):
        corrupt_labels(labels, scheme, 0.5, 0)
    np.testing.assert_array_equal(labels, before)


@pytest.mark.parametrize(
    ("labels", "scheme", "level", "seed", "message"),
    [
        (np.arange(10), "uniform", 1.0, 0, "0 <= level < 1"),
        (np.arange(10), "uniform", -0.1, 0, "0 <= level < 1"),
        (np.arange(10), "uniform", float("nan"), 0, "0 <= level < 1"),
        (np.arange(10), "uniform", True, 0, "0 <= level < 1"),
        (np.arange(10), "gaussian", 0.1, 0, "unknown noise scheme 'gaussian'"),
        (np.arange(10.0), "uniform", 0.1, 0, "1-D integer array"),
        (np.arange(10).reshape(2, 5), "uniform", 0.1, 0, "1-D integer array"),
        (np.zeros(10, dtype=bool), "uniform", 0.1, 0, "1-D integer array"),
        (np.zeros(10, dtype=int), "large", 0.1, 0, "at least two classes, got 1"),
        (np.zeros(0, dtype=int), "small", 0.0, 0, "at least two classes, got 0"),
        (np.arange(10), "uniform", 0.04, 0, "rounds to 0 samples"),
        (np.arange(10), "uniform", 0.1, -1, "non-negative integer"),
        (np.arange(10), "uniform", 0.1, 1.5, "non-negative integer"),
    ],
)
def test_invalid_input_is_refused_with_a_clear_message(labels, scheme, level, seed, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        corrupt_labels(labels, scheme, level, seed)


def test_uniform_has_no_class_selection():
    with pytest.raises(ValueError, match="selects samples, not classes"):
        select_classes(np.arange(10), "uniform", 0.1, 0)


def test_stats_refuse_mismatched_inputs():
    with pytest.raises(ValueError, match="differ in length"):
        noise_stats(np.arange(10), np.arange(9))
    with pytest.raises(ValueError, match="not among the clean labels"):
        noise_stats(np.arange(10), np.arange(10), np.array([3, 42]))


def test_stats_majority_ties_count_as_changed():
    clean = np.array([0, 0, 1, 1, 1, 2, 2])
    noisy = np.array([0, 1, 1, 1, 0, 2, 2])  # class 0: tie 1-1; class 1: 2 own vs 1
    stats = noise_stats(clean, noisy)
    assert stats["flipped"] == 2
    assert stats["corrupted_classes"] == 2
    assert stats["majority_changed"] == 1
    assert stats["selected_classes"] is None
