"""The findings' verdict rules on constructed resampled metrics, and the command end to end."""

from __future__ import annotations

import argparse
import csv
import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from irnoise.commands import findings as findings_command
from irnoise.report import findings, stratified, study_reference
from irnoise.report.bootstrap import Interval, Resampled
from irnoise.report.findings import CONTRADICTED, INCONCLUSIVE, REPRODUCED, StudyResults
from irnoise.report.intervals import Condition, GridResamples

from fake_results import write_fake_results

RESAMPLES = 400
TASKS = {"sop": "retrieval", "inshop": "retrieval", "faces": "verification",
         "imagenet": "classification"}  # fmt: skip
TRAIN = {name: f"synth_{name}" for name in TASKS}
METRIC = {
    "retrieval": "R@1",
    "classification": "accuracy",
    "verification": "TPR@FPR=1e-3 (all pairs)",
}


def metrics(values: dict[tuple[str, str, float], tuple[float, float]], seed: int = 0):
    """A grid whose metric of (experiment, scheme, level) is Normal(mean, sd) per resample."""
    rng = np.random.default_rng(seed)
    estimates, resampled = {}, {}
    for (experiment, scheme, level), (mean, sd) in values.items():
        name = Condition(experiment, scheme, level, METRIC[TASKS[experiment]]).name
        estimates[name] = mean
        resampled[name] = rng.normal(mean, sd, RESAMPLES)
    return GridResamples(Resampled(estimates, resampled, 3), (0, 1, 2), 0.95)


def study(values, levels=(0.05,), corrupted=None, seed: int = 0) -> StudyResults:
    present = {experiment for experiment, _, _ in values}
    return StudyResults(
        grid=metrics(values, seed),
        tasks=study_reference.PAPER_TASKS | {name: TASKS[name] for name in present},
        train={name: TRAIN[name] for name in present},
        levels=tuple(levels),
        corrupted_pct=corrupted or {},
    )


def row(rows, claim: str, experiment: str, level: float | None = None):
    (match,) = [
        r for r in rows
        if r.claim == claim and r.experiment == experiment
        and (level is None or r.level == level)
    ]  # fmt: skip
    return match


def test_the_verdict_rule():
    assert findings.verdict(Interval(1.0, 0.1, 2.0, 0.95), 0.0) == REPRODUCED
    assert findings.verdict(Interval(-1.0, -2.0, -0.1, 0.95), 0.0) == CONTRADICTED
    assert findings.verdict(Interval(0.5, 0.0, 2.0, 0.95), 0.0) == INCONCLUSIVE  # touches the null
    assert findings.verdict(Interval(0.5, -0.5, 2.0, 0.95), 0.0) == INCONCLUSIVE
    assert findings.verdict(Interval(60.0, 51.0, 70.0, 0.95), 50.0) == REPRODUCED
    assert findings.verdict(Interval(30.0, 10.0, 49.0, 0.95), 50.0) == CONTRADICTED
    assert findings.verdict(Interval(1.0, 0.1, 2.0, 0.95), 0.0, ["sop clean"]) == INCONCLUSIVE
    assert findings.verdict(Interval(math.nan, math.nan, math.nan, 0.95), 0.0) == INCONCLUSIVE


def c1_values(retrieval_noisy: float, sd: float):
    return {
        ("sop", "clean", 0.0): (0.60, 0.001),
        ("sop", "uniform", 0.05): (retrieval_noisy, sd),
        ("imagenet", "clean", 0.0): (0.80, 0.001),
        ("imagenet", "uniform", 0.05): (0.78, 0.001),  # a 2.5% drop
    }


@pytest.mark.parametrize(
    ("noisy", "sd", "expected"),
    [(0.48, 0.005, REPRODUCED), (0.62, 0.002, CONTRADICTED), (0.585, 0.02, INCONCLUSIVE)],
)
def test_c1_each_verdict_is_reachable(noisy, sd, expected):
    found = row(findings.build_findings(study(c1_values(noisy, sd))), "C1", "sop", 0.05)
    assert found.effect == pytest.approx(100 * ((0.60 - noisy) / 0.60 - 0.025))
    assert found.low < found.effect < found.high
    assert found.verdict == expected
    assert found.paper == "SOP 4.4% vs ImageNet 1.3%"
    assert found.paper_effect == pytest.approx(100 * (1 - 60.72 / 63.49 - (1 - 66.42 / 67.32)))


def test_c1_is_inconclusive_without_a_classification_run_or_a_level():
    values = {k: v for k, v in c1_values(0.48, 0.005).items() if k[0] != "imagenet"}
    rows = findings.build_findings(study(values))
    found = row(rows, "C1", "sop", 0.05)
    assert found.verdict == INCONCLUSIVE and "no classification experiment" in found.note
    # The paper's In-Shop is not in this run: its rows are there, inconclusive.
    rows = findings.build_findings(study(c1_values(0.48, 0.005)))
    assert row(rows, "C1", "inshop", 0.05).note == (
        "missing: inshop clean (R@1); inshop uniform 5% (R@1)"
    )
    # The paper's 10% level is not in the grid.
    rows = findings.build_findings(study(c1_values(0.48, 0.005), levels=(0.05, 0.1)))
    found = row(rows, "C1", "sop", 0.1)
    assert found.verdict == INCONCLUSIVE
    assert found.note == "missing: sop uniform 10% (R@1); imagenet uniform 10% (accuracy)"
    assert math.isnan(found.effect)


def c2_values(uniform: float, small: float, large: float, sd: float = 0.001):
    return {
        ("inshop", "clean", 0.0): (0.80, 0.001),
        ("inshop", "uniform", 0.05): (uniform, sd),
        ("inshop", "small", 0.05): (small, sd),
        ("inshop", "large", 0.05): (large, sd),
    }


def test_c2_verdicts_and_missing_scheme():
    rows = findings.build_findings(study(c2_values(0.70, 0.76, 0.74)))
    assert row(rows, "C2a", "inshop", 0.05).verdict == REPRODUCED  # uniform hurts most
    assert row(rows, "C2b", "inshop", 0.05).verdict == CONTRADICTED  # small < large here
    assert row(rows, "C2a", "inshop", 0.05).paper_effect == pytest.approx(5.5)
    rows = findings.build_findings(study(c2_values(0.70, 0.76, 0.76, sd=0.05)))
    assert row(rows, "C2b", "inshop", 0.05).verdict == INCONCLUSIVE
    values = {k: v for k, v in c2_values(0.70, 0.76, 0.74).items() if k[1] != "large"}
    found = row(findings.build_findings(study(values)), "C2b", "inshop", 0.05)
    assert (found.verdict, found.note) == (INCONCLUSIVE, "missing: inshop large 5% (R@1)")


LEVELS = (0.05, 0.1, 0.2)
CORRUPTED = {
    "large": 5.0,
    "small": 30.0,
    "uniform": 60.0,
}  # within a level: large < small < uniform


def c3_study(drop_of, levels=LEVELS) -> StudyResults:
    """Drops `drop_of(scheme, level_index)`; corrupted shares grow with the level too."""
    values = {("sop", "clean", 0.0): (0.6, 0.001)}
    corrupted = {}
    for i, level in enumerate(levels):
        for scheme, pct in CORRUPTED.items():
            values[("sop", scheme, level)] = (0.6 * (1 - drop_of(scheme, i)), 0.002)
            corrupted[("synth_sop", scheme, level)] = pct + 10.0 * i
    return study(values, levels, corrupted)


def test_c3_each_verdict_is_reachable():
    order = {"large": 0, "small": 1, "uniform": 2}
    rising = row(
        findings.build_findings(c3_study(lambda s, i: 0.02 * order[s] + 0.1 * i)), "C3", "sop"
    )
    assert (rising.verdict, rising.effect) == (REPRODUCED, pytest.approx(1.0))
    falling = row(
        findings.build_findings(c3_study(lambda s, i: 0.1 * i - 0.02 * order[s])), "C3", "sop"
    )
    assert falling.verdict == CONTRADICTED
    few = row(findings.build_findings(c3_study(lambda s, i: 0.1, levels=(0.05,))), "C3", "sop")
    assert few.verdict == INCONCLUSIVE


def test_c3_drops_that_depend_on_the_level_only_are_inconclusive():
    # Pooled over the cells, the level drives both the share and the drop (rho ~ 0.8 here):
    # within a level the schemes' drops are in no order, so C3 is inconclusive.
    noise = {("large", 0): 0.01, ("small", 0): 0.0, ("uniform", 0): 0.005,
             ("large", 1): 0.0, ("small", 1): 0.01, ("uniform", 1): 0.005,
             ("large", 2): 0.005, ("small", 2): 0.0, ("uniform", 2): 0.01}  # fmt: skip
    found = row(
        findings.build_findings(c3_study(lambda s, i: 0.1 * i + noise[(s, i)])), "C3", "sop"
    )
    assert found.verdict == INCONCLUSIVE
    assert "permutation p" in found.note


def test_c3_permutation_null_is_uniform_on_exchangeable_data():
    rng = np.random.default_rng(0)
    p_values = []
    for _ in range(200):
        xs = [[5.0, 30.0, 60.0]] * 3
        ys = [list(rng.normal(0.1 * i, 0.01, 3)) for i in range(3)]
        p_values.append(stratified.stratified_permutation_test(xs, ys)[1])
    assert np.mean(np.array(p_values) < 0.025) <= 0.05


@pytest.mark.parametrize(
    ("noisy", "sd", "expected"),
    [(0.05, 0.02, REPRODUCED), (0.7, 0.02, CONTRADICTED), (0.4, 0.2, INCONCLUSIVE)],
)
def test_c4_each_verdict_is_reachable(noisy, sd, expected):
    values = {("faces", "clean", 0.0): (0.8, 0.01), ("faces", "uniform", 0.05): (noisy, sd)}
    matched = {("synth_faces", "uniform", 0.05): 88.0}
    found = row(findings.build_findings(study(values, corrupted=matched)), "C4", "faces")
    assert found.null == 50.0 and found.verdict == expected
    assert found.effect == pytest.approx(100 * (0.8 - noisy) / 0.8)


def test_c4_uses_the_level_that_matches_the_studys_corrupted_class_share():
    values = {("faces", "clean", 0.0): (0.8, 0.01), ("faces", "uniform", 0.05): (0.7, 0.01),
              ("faces", "uniform", 0.2): (0.05, 0.01)}  # fmt: skip
    shares = {("synth_faces", "uniform", 0.05): 32.0, ("synth_faces", "uniform", 0.2): 87.0}
    found = row(findings.build_findings(study(values, (0.05, 0.2), shares)), "C4", "faces")
    assert (found.level, found.verdict) == (0.2, REPRODUCED)
    assert "corrupts 87% of the classes" in found.note


def test_c4_matches_among_the_levels_the_faces_experiment_was_trained_at():
    # Label stats cover every level; a level without a run is not a candidate.
    values = {("faces", "clean", 0.0): (0.8, 0.01), ("faces", "uniform", 0.1): (0.05, 0.01)}
    shares = {("synth_faces", "uniform", 0.1): 51.0, ("synth_faces", "uniform", 0.2): 87.0}
    found = row(findings.build_findings(study(values, (0.1, 0.2), shares)), "C4", "faces")
    assert found.level == 0.1 and "corrupts 51% of the classes" in found.note


def test_c4_below_the_null_outside_the_studys_regime_is_not_reproduced_in_this_regime():
    values = {("faces", "clean", 0.0): (0.8, 0.01), ("faces", "uniform", 0.05): (0.7, 0.02)}
    shares = {("synth_faces", "uniform", 0.05): 32.0}  # the study's MS-Celeb-1M: 88%
    found = row(findings.build_findings(study(values, corrupted=shares)), "C4", "faces")
    assert found.verdict == findings.NOT_IN_REGIME == "not reproduced in this regime"


def test_c4_is_inconclusive_without_the_5_percent_level():
    values = {("faces", "clean", 0.0): (0.8, 0.01), ("faces", "uniform", 0.1): (0.1, 0.01)}
    found = row(findings.build_findings(study(values, levels=(0.1,))), "C4", "faces")
    assert found.verdict == INCONCLUSIVE
    assert found.note.startswith("missing: faces uniform 5% (TPR@FPR=1e-3 (all pairs))")


def row_of(rows, claim: str, experiment: str, level: float) -> dict[str, str]:
    (match,) = [r for r in rows if (r["claim"], r["experiment"]) == (claim, experiment)
                and float(r["level"]) == level]  # fmt: skip
    return match


def run_findings(tmp_path: Path, **grid) -> list[dict[str, str]]:
    fake = write_fake_results(tmp_path / "runs", **grid)
    parser = argparse.ArgumentParser()
    findings_command.add_arguments(parser)
    out = tmp_path / "findings.csv"
    argv = ["--out", out, "--resamples", "200", "--per-query", *fake.per_query,
            "--stats", *fake.stats, "--", *fake.metrics]  # fmt: skip
    findings_command.run(parser.parse_args([str(arg) for arg in argv]))
    with out.open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_findings_command_end_to_end(tmp_path: Path):
    rows = run_findings(tmp_path, seeds=(0, 1), levels=(0.05, 0.2))
    assert {r["claim"] for r in rows} == {"C1", "C2a", "C2b", "C3", "C4"}
    assert all(r["verdict"] in findings.VERDICTS for r in rows)
    # C1 and C2 per retrieval experiment at the grid's and the paper's levels.
    levels = sorted({float(r["level"]) for r in rows if r["claim"] == "C1"})
    assert levels == [0.01, 0.05, 0.1, 0.2]
    at_1_percent = [r for r in rows if r["claim"] == "C1" and float(r["level"]) == 0.01]
    assert all(r["verdict"] == INCONCLUSIVE and "missing" in r["note"] for r in at_1_percent)
    computed = [r for r in rows if not r["note"].startswith("missing") and r["claim"] != "C3"]
    assert all(float(r["low"]) <= float(r["effect"]) <= float(r["high"]) for r in computed)
    markdown = (tmp_path / "findings.md").read_text()
    assert "| C4 face verification breaks down at 5% uniform noise | faces | 5% |" in markdown
    assert "paired two-stage bootstrap (200 resamples)" in markdown


def test_c4_reads_tpr_over_all_pairs_of_test_images_not_the_listed_pairs(tmp_path: Path):
    rows = run_findings(tmp_path, seeds=(0, 1), levels=(0.05,))
    c4 = row_of(rows, "C4", "faces", 0.05)
    assert c4["effect_measure"] == "drop of TPR@FPR=1e-3 over all pairs of test images, %"
    assert not c4["note"].startswith("missing") and float(c4["low"]) < float(c4["high"])
    runs = [json.loads(p.read_text()) for p in sorted(tmp_path.rglob("metrics.json"))]

    def drop(metric: str) -> float:
        def mean(scheme: str) -> float:
            values = [r["metrics"][metric] for r in runs if r["run"]["experiment"] == "faces"
                      and r["run"]["scheme"] == scheme]  # fmt: skip
            return float(np.mean(values))

        return 100 * (1 - mean("uniform") / mean("clean"))

    assert float(c4["effect"]) == pytest.approx(drop("TPR@FPR=1e-3 (all pairs)"))
    assert drop("TPR@FPR=1e-3 (all pairs)") != pytest.approx(drop("TPR@FPR=1e-3"))


def test_findings_show_the_achieved_noise_beside_the_nominal_level(tmp_path: Path):
    rows = run_findings(tmp_path, seeds=(0, 1), levels=(0.05,))
    c2a = row_of(rows, "C2a", "sop", 0.05)
    # The fake stats files record 5% of labels changed at the nominal 5%.
    assert c2a["achieved"] == "sop uniform 5%: 5.0%; sop small 5%: 5.0%"


def test_every_decided_verdict_holds_under_the_seed_level_t_interval(tmp_path: Path):
    rows = run_findings(tmp_path, seeds=(0, 1, 2), levels=(0.05, 0.2))
    decided = [r for r in rows if r["verdict"] in (REPRODUCED, CONTRADICTED)]
    assert decided, "the fake results decide some claims"
    for r in decided:
        low, high, null = float(r["seed_t_low"]), float(r["seed_t_high"]), float(r["null"])
        assert (low > null) if r["verdict"] == REPRODUCED else (high < null), r


def test_a_verdict_the_seed_level_check_does_not_share_is_inconclusive():
    values = c1_values(0.48, 0.005)
    per_seed = {}
    for (experiment, scheme, level), (mean, _) in values.items():
        name = Condition(experiment, scheme, level, METRIC[TASKS[experiment]]).name
        spread = 0.2 if (experiment, scheme) == ("sop", "uniform") else 0.0
        per_seed[name] = {s: mean + spread * (s - 1) for s in range(3)}
    checked = replace(study(values), per_seed=per_seed)
    found = row(findings.build_findings(checked), "C1", "sop", 0.05)
    assert found.verdict == INCONCLUSIVE
    assert "not by the seed-level t interval" in found.note


def test_a_level_an_experiment_was_not_trained_at_gives_it_no_rows():
    """Faces train at 20%, sop does not: sop gets rows at the paper's levels and its own."""
    values = {
        ("sop", "clean", 0.0): (0.6, 0.01),
        ("sop", "uniform", 0.05): (0.55, 0.01),
        ("faces", "clean", 0.0): (0.8, 0.01),
        ("faces", "uniform", 0.2): (0.4, 0.01),
    }
    rows = findings.build_findings(study(values, (0.01, 0.05, 0.1, 0.2)))
    sop_levels = {r.level for r in rows if r.experiment == "sop" and r.claim == "C1"}
    assert sop_levels == {0.01, 0.05, 0.1}
