"""The paired bootstrap against naive references and on constructed data with known effects."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from irnoise.evaluate import metrics
from irnoise.report import bootstrap, coverage
from irnoise.report.bootstrap import PairTpr, QueryMean
from irnoise.schema import schema_default

RESAMPLES = schema_default("statistics", "resamples")
LEVEL = schema_default("statistics", "confidence")


def draws(rng: np.random.Generator, rows: int, n: int) -> np.ndarray:
    return bootstrap.draw_counts(rng, rows, n)


def test_draw_counts_are_resamples_with_replacement():
    counts = draws(np.random.default_rng(0), 500, 40)
    assert counts.shape == (500, 40)
    assert (counts.sum(axis=1) == 40).all()
    # Each index is drawn Binomial(40, 1/40) times: mean 1, variance 39/40.
    assert counts.mean() == pytest.approx(1.0)
    assert counts.var() == pytest.approx(39 / 40, rel=0.1)


@given(st.integers(0, 2**32 - 1), st.integers(1, 60))
@settings(max_examples=40, deadline=None)
def test_query_mean_matches_a_naive_loop(seed, n):
    rng = np.random.default_rng(seed)
    values = rng.random(n)
    valid = rng.random(n) < 0.7
    counts = draws(rng, 5, n)
    got = QueryMean(values, valid).resampled(counts)
    for row, value in zip(counts, got, strict=True):
        drawn = np.repeat(np.arange(n), row.astype(int))
        kept = drawn[valid[drawn]]
        expected = values[kept].mean() if len(kept) else np.nan
        np.testing.assert_allclose(value, expected, equal_nan=True)


@given(
    st.integers(0, 2**32 - 1),
    st.integers(2, 300),
    st.sampled_from([1e-3, 0.01, 0.1, 0.5]),
    st.booleans(),
)
@settings(max_examples=60, deadline=None)
def test_pair_tpr_matches_tpr_at_fpr_on_the_drawn_pairs(seed, n, fpr, ties):
    rng = np.random.default_rng(seed)
    scores = rng.integers(0, 5, n).astype(float) if ties else rng.normal(size=n)
    same = rng.random(n) < 0.5
    counts = draws(rng, 6, n)
    got = PairTpr(scores, same, fpr).resampled(counts)
    for row, value in zip(counts, got, strict=True):
        drawn = np.repeat(np.arange(n), row.astype(int))
        if same[drawn].all() or not same[drawn].any():
            assert np.isnan(value)
        else:
            assert value == pytest.approx(metrics.tpr_at_fpr(scores[drawn], same[drawn], fpr))


def test_full_data_values_equal_the_metrics():
    rng = np.random.default_rng(1)
    scores, same = rng.normal(size=400), rng.random(400) < 0.5
    scores[same] += 1.5
    assert PairTpr(scores, same, 0.01).value() == pytest.approx(
        metrics.tpr_at_fpr(scores, same, 0.01)
    )
    hits, valid = rng.random(50) < 0.5, rng.random(50) < 0.8
    assert QueryMean(hits, valid).value() == pytest.approx(hits[valid].mean())


def hits_runs(rng, p_clean: float, p_noisy: float, seeds: int, n: int, test_set: str = ""):
    """Per-seed hits of a clean and a noisy run, paired through a per-query difficulty."""
    runs = {"clean": [], "noisy": []}
    for _ in range(seeds):
        difficulty = rng.random(n)
        runs["clean"].append(QueryMean(difficulty < p_clean, test_set=test_set))
        runs["noisy"].append(QueryMean(difficulty < p_noisy, test_set=test_set))
    return runs


def drop(m):
    return bootstrap.relative_drop(m["clean"], m["noisy"])


def test_a_known_effect_is_found():
    runs = hits_runs(np.random.default_rng(2), 0.6, 0.45, seeds=3, n=2000)
    interval = bootstrap.paired_bootstrap(runs, drop, n_resamples=1000, level=LEVEL)
    assert interval.estimate == pytest.approx(0.25, abs=0.03)
    assert interval.low > 0.15 and interval.high < 0.35
    assert interval.low < interval.estimate < interval.high
    assert interval.excludes(0.0) and interval.above(0.0)


@pytest.mark.parametrize("seeds", [3, 5])
def test_intervals_cover_the_true_effect_when_seed_noise_dominates(seeds):
    # The two-level model (seed effects + query noise), seed noise dominating: a percentile
    # bootstrap over 3 seeds covered ~74%; the seed-level t interval must reach 93%.
    model = coverage.Model(seeds, **coverage.MODELS["seed-dominated"])
    assert coverage.coverage(model, replicates=1000, resamples=100) >= 0.93


def test_intervals_cover_when_query_noise_is_of_the_same_size():
    model = coverage.Model(3, **coverage.MODELS["balanced"])
    assert coverage.coverage(model, replicates=300, resamples=100) >= 0.93


def test_pair_draws_are_stratified_so_the_allowed_false_positives_never_flip():
    rng = np.random.default_rng(12)
    same = rng.random(3000) < 0.5
    counts = bootstrap.draw_counts(
        rng, 400, len(same), PairTpr(rng.random(3000), same, 1e-3).strata()
    )
    negatives = counts[:, ~same].sum(axis=1)
    assert (negatives == (~same).sum()).all()
    allowed = metrics.allowed_false_positives(negatives, 1e-3)
    assert len(set(allowed.tolist())) == 1


def test_runs_of_different_experiments_get_independent_seed_draws():
    rng = np.random.default_rng(13)
    runs = hits_runs(rng, 0.7, 0.5, seeds=3, n=100)
    grouped = bootstrap.resample_runs(runs, 300, groups={"clean": "a", "noisy": "b"})
    paired = bootstrap.resample_runs(runs, 300, groups={"clean": "a", "noisy": "a"})
    assert not np.array_equal(grouped.values["noisy"], paired.values["noisy"])
    np.testing.assert_array_equal(grouped.values["clean"], paired.values["clean"])


def difference(m):
    return m["a"] - m["b"]


def test_pairing_cancels_shared_query_noise():
    rng = np.random.default_rng(4)
    per_seed = [QueryMean(rng.random(300) < 0.5) for _ in range(3)]
    same = bootstrap.paired_bootstrap({"a": per_seed, "b": per_seed}, difference, RESAMPLES, LEVEL)
    assert (same.low, same.estimate, same.high) == (0.0, 0.0, 0.0)
    # The same numbers declared as different test sets are resampled independently.
    other = [QueryMean(q.values, test_set="other") for q in per_seed]
    unpaired = bootstrap.paired_bootstrap({"a": per_seed, "b": other}, difference, RESAMPLES, LEVEL)
    assert unpaired.low < -0.01 and unpaired.high > 0.01


def test_many_statistics_share_resamples_and_seed_makes_it_reproducible():
    runs = hits_runs(np.random.default_rng(5), 0.7, 0.5, seeds=2, n=300)
    statistics = {"drop": drop, "difference": lambda m: m["clean"] - m["noisy"]}
    first = bootstrap.paired_bootstrap_many(runs, statistics, n_resamples=200, level=LEVEL, seed=7)
    again = bootstrap.paired_bootstrap_many(runs, statistics, n_resamples=200, level=LEVEL, seed=7)
    assert first == again
    assert first["drop"] == bootstrap.paired_bootstrap(
        runs, drop, n_resamples=200, level=LEVEL, seed=7
    )


def test_a_runs_resamples_do_not_depend_on_the_other_runs():
    rng = np.random.default_rng(8)
    runs = hits_runs(rng, 0.7, 0.5, seeds=3, n=100)
    other = hits_runs(rng, 0.6, 0.5, seeds=3, n=80, test_set="other")
    alone = bootstrap.resample_runs(runs, n_resamples=300, seed=1)
    together = bootstrap.resample_runs(runs | {"x": other["clean"]}, n_resamples=300, seed=1)
    for name in runs:
        np.testing.assert_array_equal(alone.values[name], together.values[name])
    assert alone.interval(drop, LEVEL) == together.interval(drop, LEVEL)


def test_runs_need_matching_seeds_and_query_counts():
    rng = np.random.default_rng(6)
    with pytest.raises(ValueError, match="same, non-zero number of seeds"):
        bootstrap.paired_bootstrap(
            {"a": [QueryMean(rng.random(5))], "b": []},
            lambda m: m["a"],
            n_resamples=10,
            level=LEVEL,
        )
    with pytest.raises(ValueError, match="same queries"):
        bootstrap.paired_bootstrap(
            {"a": [QueryMean(rng.random(5))], "b": [QueryMean(rng.random(6))]},
            lambda m: m["a"] - m["b"],
            n_resamples=10,
            level=LEVEL,
        )


def test_seed_bootstrap_matches_a_naive_loop():
    values = {"a": [0.9, 0.8, 0.85, 0.7], "b": [0.5, 0.6, 0.4, 0.55]}
    interval = bootstrap.seed_bootstrap(
        values, lambda m: m["a"] - m["b"], n_resamples=500, level=LEVEL, seed=9
    )
    drawn = np.random.default_rng(9).integers(0, 4, size=(500, 4))
    naive = [np.mean(np.array(values["a"])[d]) - np.mean(np.array(values["b"])[d]) for d in drawn]
    estimate = np.mean(values["a"]) - np.mean(values["b"])
    half = stats.t.ppf(0.975, 3) * np.std(naive, ddof=1) * np.sqrt(4 / 3)
    assert interval.estimate == pytest.approx(estimate)
    assert (interval.low, interval.high) == pytest.approx((estimate - half, estimate + half))
    # For a mean over seeds, about the classical t interval.
    differences = np.subtract(values["a"], values["b"])
    classical = stats.t.ppf(0.975, 3) * differences.std(ddof=1) / 2
    assert half == pytest.approx(classical, rel=0.1)


def test_one_seed_gives_no_interval():
    interval = bootstrap.seed_bootstrap({"a": [0.5]}, lambda m: m["a"], 100, LEVEL)
    assert interval.estimate == 0.5 and np.isnan(interval.low) and np.isnan(interval.high)


@given(st.integers(0, 2**32 - 1), st.integers(3, 8), st.booleans())
@settings(max_examples=40, deadline=None)
def test_rank_correlation_matches_scipy(seed, n, ties):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 3, n) if ties else rng.random(n)
    ys = rng.integers(0, 3, (n, 4)) if ties else rng.random((n, 4))
    got = bootstrap.rank_correlation(x, list(ys))
    for column, value in enumerate(got):
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", stats.ConstantInputWarning)
            expected = stats.spearmanr(x, ys[:, column]).statistic
        np.testing.assert_allclose(value, expected, equal_nan=True, atol=1e-12)


def test_nan_resamples_are_left_out():
    # Only 2 of 20 queries are valid: many resamples draw none of them.
    valid = np.zeros(20, bool)
    valid[:2] = True
    runs = {"a": [QueryMean(np.ones(20), valid)] * 2}
    interval = bootstrap.paired_bootstrap(runs, lambda m: m["a"], n_resamples=400, level=LEVEL)
    assert 0 < interval.resamples < 400
    assert interval.low == interval.high == 1.0
