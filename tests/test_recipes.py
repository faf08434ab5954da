"""Recipes: their expansion into experiments, their checks, and the findings under each."""

from __future__ import annotations

import argparse
import copy
import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from irnoise import plan
from irnoise.commands import findings as findings_command
from irnoise.config import load_study, read_yaml
from irnoise.errors import UserError
from irnoise.report import findings, study_reference
from irnoise.report.bootstrap import Resampled
from irnoise.report.collect import load_metrics
from irnoise.report.findings import CONTRADICTED, INCONCLUSIVE, REPRODUCED, StudyResults
from irnoise.report.findings_by_recipe import (
    NOT_ROBUST,
    recipe_findings,
    verdicts_frame,
    verdicts_markdown,
)
from irnoise.report.findings_output import findings_frame
from irnoise.report.intervals import Condition, GridResamples

from fake_results import write_fake_results
from helpers import REPO, run_snakemake

LR = {"scale": {"lr": 1.5, "loss_lr": 1.5}}
MARGIN = {"set": {"loss_params.margin": 28.6}, "when": {"loss": "ArcFaceLoss"}}


def default_config() -> dict:
    return read_yaml(REPO / "config.yaml")


def with_recipes(config: dict, **recipes: dict) -> dict:
    return copy.deepcopy(config) | {"recipes": recipes}


# --- expansion -------------------------------------------------------------------------------


def test_each_recipe_adds_the_experiments_it_changes_with_its_overrides():
    base = default_config()
    study = load_study(with_recipes(base, **{"lr_x1.5": LR, "margin_28.6": MARGIN}))
    arcface = ["sop", "inshop", "faces"]  # imagenet trains with NormalizedSoftmaxLoss
    assert sorted(study.experiments) == sorted(
        [*base["experiments"], *(f"{n}-lr_x1.5" for n in base["experiments"])]
        + [f"{n}-margin_28.6" for n in arcface]
    )
    for name in base["experiments"]:
        plain, faster = study.experiments[name], study.experiments[f"{name}-lr_x1.5"]
        assert faster.training.lr == pytest.approx(1.5 * plain.training.lr)
        assert faster.training.loss_lr == pytest.approx(1.5 * plain.training.loss_lr)
        # Everything else is the base experiment's.
        others = {k: v for k, v in faster.training.to_dict().items() if k not in LR["scale"]}
        assert others == {k: plain.training.to_dict()[k] for k in others}
        assert (faster.train, faster.eval, faster.task) == (plain.train, plain.eval, plain.task)
    assert study.experiments["sop-lr_x1.5"].training.lr == 0.0015  # no float residue
    for name in arcface:
        params = study.experiments[f"{name}-margin_28.6"].training.loss_params
        assert params == {"scale": 30, "margin": 28.6}  # the scale is the config's
    # An experiment a recipe leaves unchanged is not duplicated: the recipe reads its runs.
    assert "imagenet-margin_28.6" not in study.experiments
    assert study.recipe_experiments == {
        "default": {name: name for name in base["experiments"]},
        "lr_x1.5": {name: f"{name}-lr_x1.5" for name in base["experiments"]},
        "margin_28.6": {name: f"{name}-margin_28.6" for name in arcface} | {"imagenet": "imagenet"},
    }


def test_a_recipe_that_changes_no_trained_model_adds_no_experiment():
    config = default_config()
    # ArcFace's own default margin is 28.6: written out, it changes nothing.
    config["experiments"]["sop"]["loss_params"] = {"scale": 30}
    study = load_study(with_recipes(config, same={"set": {"loss_params.margin": 28.6},
                                                  "when": {"task": "retrieval"}}))  # fmt: skip
    assert "sop-same" not in study.experiments and "inshop-same" in study.experiments
    assert study.recipe_experiments["same"]["sop"] == "sop"


def test_recipes_reuse_every_run_of_the_config_and_train_only_what_they_change():
    robust = plan.Plan(load_study(read_yaml(REPO / "presets" / "robustness.yaml")))
    base = plan.Plan(load_study(default_config() | {"seeds": list(robust.study.seeds)}))
    assert robust.run_files("model.pt") == base.run_files("model.pt")
    assert robust.table3_files("metrics.json") == base.table3_files("metrics.json")
    assert robust.detect_runs() == base.detect_runs()
    recipe_runs = robust.recipe_run_files("model.pt")
    assert set(base.run_files("model.pt")) <= set(recipe_runs)
    added = {plan.parse_run_path(path).experiment for path in set(recipe_runs)}
    added -= set(base.experiments)
    assert added == {f"{n}-lr_x1.5" for n in base.experiments} | {
        f"{n}-margin_28.6" for n in ("sop", "inshop", "faces")
    }
    assert base.final_targets() == list(plan.STUDY_TARGETS)
    assert robust.final_targets() == [*plan.STUDY_TARGETS, *plan.RECIPE_TARGETS]


def test_the_robustness_preset_is_the_default_config_plus_its_two_recipes():
    preset = read_yaml(REPO / "presets" / "robustness.yaml")
    assert preset.pop("recipes") == {"lr_x1.5": LR, "margin_28.6": MARGIN}
    assert preset.pop("seeds") == [0, 1, 2]
    assert preset == {key: value for key, value in default_config().items() if key != "seeds"}


def test_an_empty_recipes_map_is_no_recipes():
    config = default_config()
    study, empty = load_study(config), load_study(with_recipes(config))
    assert empty == study and not study.recipes
    assert study.recipe_experiments == {"default": {name: name for name in config["experiments"]}}


# --- checks ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("recipes", "message"),
    [
        ({"lr": {"sclae": {"lr": 2}}}, r"recipes\.lr: unknown key 'sclae': did you mean 'scale'"),
        ({"lr": {"scale": {"lr": "x2"}}}, r'recipes\.lr\.scale\.lr: got "x2", expected a value '
                                          "of type number"),
        ({"lr": {"scale": {"lr": 0}}}, r"recipes\.lr\.scale\.lr: got 0, expected more than 0"),
        ({"lr": {"scale": {"lr": True}}}, r"recipes\.lr\.scale\.lr: got true, expected a value"),
        ({"bad/name": LR}, r"recipes: the name 'bad/name' is not allowed"),
        ({"-x": LR}, r"recipes: the name '-x' is not allowed"),
        ({"default": LR}, r"recipes\.default: 'default' names the config's own recipe"),
        ({"r": {"scale": {"train": 2}}}, r"recipes\.r\.scale: 'train' is not a setting a recipe "
                                         "can use: use one of backbone, batch_size"),
        ({"r": {"set": {"los_params.margin": 2}}}, r"recipes\.r\.set: 'los_params' is not a"),
        ({"r": {"set": {"lr": 0.1}, "when": {"losss": "x"}}}, r"recipes\.r\.when: 'losss'"),
        ({"r": {"when": {"loss": "ArcFaceLoss"}}}, r"recipes\.r: a recipe needs `scale` or `set`"),
        ({"r": {"set": {"lr.x": 1}}}, r"recipes\.r\.set\.lr\.x: experiments\.sop\.lr is not a "
                                      "mapping"),
        ({"r": {"scale": {"backbone": 2}}}, r"recipes\.r\.scale\.backbone: experiments\.sop\."
                                            "backbone is 'small_cnn', not a number"),
        ({"r": {"set": {"epochs": -1}}}, r"experiments\.sop-r: .*epochs"),
    ],
)  # fmt: skip
def test_a_wrong_recipe_is_one_clear_message(recipes: dict, message: str):
    config = default_config() | {"recipes": recipes}
    with pytest.raises(UserError, match=message):
        load_study(config)


def test_a_derived_name_that_is_already_an_experiment_is_refused():
    config = default_config()
    config["experiments"]["sop-r"] = config["experiments"]["sop"]
    with pytest.raises(UserError, match=r"recipes\.r: the experiment it adds for sop, 'sop-r', "
                                        "is already an experiment: rename the recipe"):  # fmt: skip
        load_study(with_recipes(config, r={"scale": {"lr": 2}, "when": {"task": "retrieval"}}))


# --- findings by recipe ----------------------------------------------------------------------

TASKS = {"sop": "retrieval", "imagenet": "classification"}
METRIC = {"retrieval": "R@1", "classification": "accuracy"}


def constructed_study(sop_noisy: float, imagenet_noisy: float) -> StudyResults:
    """SOP (clean 0.60) and ImageNet (clean 0.80) at 5% uniform noise, Normal resamples."""
    values = {
        ("sop", "clean", 0.0): 0.60,
        ("sop", "uniform", 0.05): sop_noisy,
        ("imagenet", "clean", 0.0): 0.80,
        ("imagenet", "uniform", 0.05): imagenet_noisy,
    }
    rng = np.random.default_rng(0)
    estimates, resampled = {}, {}
    for (experiment, scheme, level), mean in values.items():
        name = Condition(experiment, scheme, level, METRIC[TASKS[experiment]]).name
        estimates[name], resampled[name] = mean, rng.normal(mean, 0.002, 400)
    grid = GridResamples(Resampled(estimates, resampled, 3), (0, 1, 2), 0.95)
    return StudyResults(grid=grid, tasks=study_reference.PAPER_TASKS | TASKS,
                        train={n: f"synth_{n}" for n in TASKS}, levels=(0.05,),
                        corrupted_pct={})  # fmt: skip


def test_a_claim_is_robust_only_where_every_recipe_agrees():
    by_recipe = {
        # C1 at 5%: SOP drops 20% against ImageNet's 2.5% in both recipes.
        "default": findings.build_findings(constructed_study(0.48, 0.78)),
        "lr_x1.5": findings.build_findings(constructed_study(0.48, 0.78)),
        # Here SOP gains: C1 contradicted.
        "margin_28.6": findings.build_findings(constructed_study(0.62, 0.78)),
    }
    frame = verdicts_frame(by_recipe)
    effects = [f"{r} {f}" for r in by_recipe for f in ("effect", "low", "high")]
    assert list(frame.columns) == ["claim", "statement", "experiment", "level", "default",
                                   "lr_x1.5", "margin_28.6", "robust", *effects]  # fmt: skip
    assert len(frame) == len(by_recipe["default"])
    c1 = frame[(frame["claim"] == "C1") & (frame["experiment"] == "sop")].set_index("level")
    assert list(c1.loc["0.05", ["default", "lr_x1.5", "margin_28.6"]]) == [
        REPRODUCED,
        REPRODUCED,
        CONTRADICTED,
    ]
    assert c1.loc["0.05", "robust"] == NOT_ROBUST
    # Each verdict comes with its number: SOP drops 20% against ImageNet's 2.5%, +17.5
    # points; SOP gaining 3.3% against 2.5% under margin_28.6, -5.8.
    assert c1.loc["0.05", "default effect"] == pytest.approx(17.5)
    assert c1.loc["0.05", "default low"] > 0
    assert c1.loc["0.05", "margin_28.6 effect"] == pytest.approx(-100 / 30 - 2.5)
    assert c1.loc["0.05", "margin_28.6 high"] < 0
    # Two recipes alone agree: robust, with their verdict.
    two = verdicts_frame({k: by_recipe[k] for k in ("default", "lr_x1.5")})
    c1_two = two[(two["claim"] == "C1") & (two["experiment"] == "sop") & (two["level"] == "0.05")]
    assert list(c1_two["robust"]) == [REPRODUCED]
    # C4 has no run anywhere: inconclusive under every recipe, robustly so.
    c4 = frame[frame["claim"] == "C4"]
    assert list(c4["robust"]) == [INCONCLUSIVE]
    markdown = verdicts_markdown(by_recipe, {k: {"sop": "sop"} for k in by_recipe}, 200, 0.95)
    assert "| Claim | Experiment | Level | default | lr_x1.5 | margin_28.6 | Robust |" in markdown
    row = next(
        line
        for line in markdown.splitlines()
        if line.startswith("| C1 ") and "| sop | 5% |" in line
    )
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    assert [cell.split(",")[0] for cell in cells[3:6]] == [REPRODUCED, REPRODUCED, CONTRADICTED]
    assert cells[3].startswith("reproduced, +17.50 [+") and cells[5].startswith(
        "contradicted, -5.83 ["
    )
    assert cells[6] == "**not robust (recipes disagree)**"


def copy_experiment(root: Path, source: str, target: str) -> list[Path]:
    """The runs of `source` as those of `target` (metrics.json naming it)."""
    shutil.copytree(root / "results" / "runs" / source, root / "results" / "runs" / target)
    paths = sorted((root / "results" / "runs" / target).rglob("metrics.json"))
    for path in paths:
        payload = json.loads(path.read_text())
        payload["run"]["experiment"] = target
        path.write_text(json.dumps(payload))
    return paths


def run_command(argv: list) -> None:
    parser = argparse.ArgumentParser()
    findings_command.add_arguments(parser)
    findings_command.run(parser.parse_args([str(arg) for arg in argv]))


def test_each_recipe_reads_its_own_runs_under_the_configs_names(tmp_path: Path):
    fake = write_fake_results(tmp_path, seeds=(0, 1), levels=(0.05,))
    copied = copy_experiment(tmp_path, "sop", "sop-r")
    common = ["--resamples", "200", "--stats", *fake.stats]
    run_command(["--out", tmp_path / "findings.csv", *common, "--per-query", *fake.per_query,
                 "--", *fake.metrics])  # fmt: skip
    recipes = {"default": {n: n for n in ("sop", "inshop", "faces", "imagenet")}}
    recipes["r"] = recipes["default"] | {"sop": "sop-r"}
    per_query = [*fake.per_query, *(p.with_name("per_query.npz") for p in copied)]
    out = tmp_path / "findings_by_recipe.csv"
    run_command(["--out", out, "--recipes", json.dumps(recipes), *common,
                 "--per-query", *per_query, "--", *fake.metrics, *copied])  # fmt: skip
    with (tmp_path / "findings.csv").open(newline="") as handle:
        plain = list(csv.DictReader(handle))
    with out.open(newline="") as handle:
        by_recipe = list(csv.DictReader(handle))
    # The default recipe's verdicts are results/findings.csv's, row by row; the copy's
    # runs give the same resamples under the same name, so every row agrees.
    assert [r["default"] for r in by_recipe] == [r["verdict"] for r in plain]
    assert [r["claim"] for r in by_recipe] == [r["claim"] for r in plain]
    for field in ("effect", "low", "high"):
        assert [r[f"default {field}"] for r in by_recipe] == [r[field] for r in plain]
    assert all(r["r"] == r["default"] == r["robust"] for r in by_recipe)
    assert "r: " in (tmp_path / "findings_by_recipe.md").read_text()
    assert "sop <- sop-r" in (tmp_path / "findings_by_recipe.md").read_text()


def test_a_recipe_reads_its_runs_not_the_configs(tmp_path: Path):
    """sop-r's noisy runs are its clean runs again: under recipe r, SOP drops nothing."""
    fake = write_fake_results(tmp_path, seeds=(0, 1, 2), levels=(0.05,), experiments=("sop",))
    copied = copy_experiment(tmp_path, "sop", "sop-r")
    runs = tmp_path / "results" / "runs" / "sop-r"
    for seed in (0, 1, 2):
        clean = runs / "clean" / "0" / f"seed{seed}"
        for noisy in runs.glob(f"*/0.05/seed{seed}"):
            shutil.copy(clean / "per_query.npz", noisy / "per_query.npz")
            payload = json.loads((noisy / "metrics.json").read_text())
            payload["metrics"] = json.loads((clean / "metrics.json").read_text())["metrics"]
            (noisy / "metrics.json").write_text(json.dumps(payload))
    frame = load_metrics([*fake.metrics, *copied])
    per_query = [str(p) for p in (tmp_path / "results" / "runs").rglob("per_query.npz")]
    recipes = {"default": {"sop": "sop"}, "r": {"sop": "sop-r"}}
    by_recipe = recipe_findings(frame, per_query, recipes, {}, {}, 200, 0.95)
    default, r = (
        {(f.claim, f.level): f for f in by_recipe[name] if f.experiment == "sop"}
        for name in ("default", "r")
    )
    assert default["C2a", 0.05].effect != pytest.approx(0.0, abs=1e-9)
    assert r["C2a", 0.05].effect == pytest.approx(0.0, abs=1e-9)
    assert r["C2b", 0.05].effect == pytest.approx(0.0, abs=1e-9)
    # The default recipe's findings are those of the config's runs alone.
    alone = recipe_findings(load_metrics(fake.metrics), fake.per_query,
                            {"default": {"sop": "sop"}}, {}, {}, 200, 0.95)["default"]  # fmt: skip
    assert findings_frame(by_recipe["default"]).equals(findings_frame(alone))  # NaN == NaN


def test_recipes_reading_runs_not_given_are_refused(tmp_path: Path):
    fake = write_fake_results(tmp_path, seeds=(0,), levels=(0.05,), experiments=("sop",))
    with pytest.raises(UserError, match=r"--recipes reads experiment\(s\) sop-r, of which no "):
        run_command(["--out", tmp_path / "f.csv", "--recipes", '{"r": {"sop": "sop-r"}}',
                     "--per-query", *fake.per_query, "--", *fake.metrics])  # fmt: skip
    with pytest.raises(UserError, match=r"--recipes: expected a JSON object"):
        run_command(["--out", tmp_path / "f.csv", "--recipes", '["sop"]',
                     "--per-query", *fake.per_query, "--", *fake.metrics])  # fmt: skip


# --- the workflow ----------------------------------------------------------------------------


@pytest.mark.workflow
@pytest.mark.xdist_group("smoke")  # the session's one smoke run
def test_a_recipe_on_the_smoke_run_trains_only_what_it_changes(smoke_run: Path, tmp_path: Path):
    workdir = tmp_path / "run"
    shutil.copytree(smoke_run, workdir, symlinks=True)
    original = (workdir / "results" / "findings.csv").read_bytes()
    models = {p: p.stat().st_mtime_ns for p in (workdir / "results" / "runs").rglob("model.pt")}
    preset = yaml.safe_load((workdir / "presets" / "smoke.yaml").read_text())

    # An empty recipes map changes nothing: the findings, computed again, are the same bytes.
    (workdir / "empty.yaml").write_text(yaml.safe_dump(preset | {"recipes": {}}))
    run_snakemake(workdir, "--cores", "2", "--forcerun", "findings", "results/findings.csv",
                  "--configfile", "empty.yaml")  # fmt: skip
    assert (workdir / "results" / "findings.csv").read_bytes() == original

    recipe = {"lr_x2": {"scale": {"lr": 2}, "when": {"task": "verification"}}}
    (workdir / "recipe.yaml").write_text(yaml.safe_dump(preset | {"recipes": recipe}))
    run_snakemake(workdir, "--cores", "2", "--configfile", "recipe.yaml")
    # Only the recipe's experiment was trained; the config's models and findings stand.
    assert {p: p.stat().st_mtime_ns for p in models} == models
    assert (workdir / "results" / "runs" / "faces-lr_x2" / "clean" / "0" / "seed0").is_dir()
    assert not (workdir / "results" / "runs" / "sop-lr_x2").exists()
    assert (workdir / "results" / "findings.csv").read_bytes() == original
    with (workdir / "results" / "findings_by_recipe.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    with (workdir / "results" / "findings.csv").open(newline="") as handle:
        plain = list(csv.DictReader(handle))
    assert list(rows[0])[:7] == ["claim", "statement", "experiment", "level", "default",
                                 "lr_x2", "robust"]  # fmt: skip
    assert [r["default"] for r in rows] == [r["verdict"] for r in plain]
    assert all(r["robust"] in (*findings.VERDICTS, NOT_ROBUST) for r in rows)
    for r in rows:
        agree = r["default"] == r["lr_x2"]
        assert r["robust"] == (r["default"] if agree else NOT_ROBUST)
