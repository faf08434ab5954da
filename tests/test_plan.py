"""irnoise.plan: level names, path templates and their parser, the grid, and names spelled once."""

from __future__ import annotations

import ast
import itertools
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from irnoise import plan
from irnoise.config import load_study, read_yaml
from irnoise.errors import UserError

from helpers import REPO


@pytest.mark.parametrize(
    ("level", "name"), [(0.1, "0.1"), (0.05, "0.05"), (0.01, "0.01"), (0, "0"), ("0.40", "0.4")]
)
def test_level_names(level: float | str, name: str) -> None:
    assert plan.level_name(level) == name


@given(st.floats(min_value=0.0, max_value=0.999, allow_nan=False))
def test_level_names_read_back_as_the_level(level: float) -> None:
    # %g keeps 6 significant digits: levels are read back within that precision.
    assert float(plan.level_name(level)) == pytest.approx(level, rel=1e-5, abs=1e-12)


def test_paths_and_parsing_agree() -> None:
    assert plan.labels_path("sop", "small", 0.1, 2) == "data/labels/sop/small/0.1/seed2"
    directory = plan.run_dir("sop_arcface", "uniform", 0.05, 3)
    assert directory == "results/runs/sop_arcface/uniform/0.05/seed3"
    run = plan.parse_run_path(f"/anywhere/{directory}/history.csv")
    assert run == plan.RunPath("sop_arcface", "uniform", 0.05, 3)
    with pytest.raises(UserError, match=r"expected a path like results/runs/"):
        plan.parse_run_path("results/sop/history.csv")
    with pytest.raises(UserError, match=r"noise level 'x' is not a number"):
        plan.parse_run_path("results/runs/sop/uniform/x/seed0/history.csv")


def test_scheme_patterns_match_exactly_the_schemes() -> None:
    pattern = re.compile(f"(?:{plan.RUN_SCHEME_PATTERN})")
    assert all(pattern.fullmatch(scheme) for scheme in ("clean", "uniform", "large", "small"))
    assert not pattern.fullmatch("gaussian")
    assert not re.fullmatch(plan.NOISE_SCHEME_PATTERN, plan.CLEAN_SCHEME)


def test_rules_spell_no_path_pattern_or_level_name_of_their_own() -> None:
    """The layout is defined once: the rules import it instead of repeating it."""
    rules = {path.name: path.read_text() for path in (REPO / "workflow/rules").glob("*.smk")}
    assert "from irnoise.plan import" in rules["common.smk"]
    for name, text in rules.items():
        assert "def level_name" not in text, name
        assert "seed{seed}" not in text, name  # label and run paths come from the layout
        assert "uniform|large|small" not in text, name
    python = (REPO / "workflow/irnoise").rglob("*.py")
    defining = [p for p in python if "def level_name" in p.read_text()]
    assert defining == [Path(plan.__file__)]


# --- the grid, without Snakemake ----------------------------------------------------------


def default_plan(**changes: Any) -> plan.Plan:
    config = read_yaml(REPO / "config.yaml")
    for key, value in changes.items():
        config[key] = value
    return plan.Plan(load_study(config))


def test_the_default_grid_has_the_studys_runs() -> None:
    grid = default_plan()
    study = grid.study
    trainings = grid.run_files("model.pt")
    assert len(trainings) == len(set(trainings))
    config = read_yaml(REPO / "config.yaml")
    levels = {
        name: e.get("levels") or config["noise"]["levels"]
        for name, e in config["experiments"].items()
    }
    seeds = len(study.seeds)
    expected = sum(
        seeds * (1 + len(levels[name]) * len(grid.experiment_schemes(name)))
        for name in study.experiments
    )
    assert len(trainings) == expected
    # The clean run is one run per seed, shared by every scheme.
    clean = [path for path in trainings if f"/{plan.CLEAN_SCHEME}/{plan.CLEAN_LEVEL}/" in path]
    assert len(clean) == seeds * len(study.experiments)
    # Table 1 asks for the clean and uniform runs only.
    table1 = grid.run_files("metrics.json", schemes=[plan.TABLE1_SCHEME])
    assert {plan.parse_run_path(path).scheme for path in table1} == {
        plan.CLEAN_SCHEME,
        plan.TABLE1_SCHEME,
    }


def test_experiment_levels_restrict_the_trainings_not_the_label_files() -> None:
    config = read_yaml(REPO / "config.yaml")
    config["noise"] = {"schemes": ["uniform", "large"], "levels": [0.05, 0.2]}
    for experiment in config["experiments"].values():
        experiment["levels"] = None
    config["experiments"]["sop"]["levels"] = [0.05]
    grid = plan.Plan(load_study(config))
    trained = {(scheme, level) for scheme, level, _ in grid.runs("sop")}
    assert trained == {("clean", "0"), ("uniform", "0.05"), ("large", "0.05")}
    assert any("synth_sop/large/0.2/" in path for path in grid.label_stats_files())
    config["experiments"]["sop"]["levels"] = [0.3]
    with pytest.raises(UserError, match=r"experiments.sop.levels has 0.3, which noise.levels"):
        load_study(config)


def test_an_experiment_restricted_to_no_scheme_runs_clean_only() -> None:
    config = read_yaml(REPO / "config.yaml")
    config["experiments"]["sop"]["schemes"] = []
    grid = plan.Plan(load_study(config))
    runs = grid.runs("sop")
    assert {scheme for scheme, _, _ in runs} == {plan.CLEAN_SCHEME}
    assert len(runs) == len(grid.seeds)


def test_paths_round_trip_through_the_parser() -> None:
    grid = default_plan(seeds=[0, 3])
    for path in grid.run_files("history.csv"):
        run = plan.parse_run_path(path)
        assert (
            plan.run_dir(run.experiment, run.scheme, run.level, run.seed) + "/history.csv" == path
        )
    method = plan.run_dir("sop", plan.UNIFORM, 0.1, 2, method=plan.KNN) + "/filter.json"
    assert method == "results/methods/knn/sop/uniform/0.1/seed2/filter.json"
    assert plan.parse_run_path(method) == plan.RunPath("sop", plan.UNIFORM, 0.1, 2, plan.KNN)


def test_table3_files_pair_each_method_with_plain_training() -> None:
    config = read_yaml(REPO / "config.yaml")
    config["table3"] = {"levels": [0.1], "seeds": [0, 1]}
    grid = plan.Plan(load_study(config))
    experiments = grid.table3_experiments()
    assert experiments, "the default config names robust methods"
    runs = [plan.parse_run_path(path) for path in grid.table3_files("metrics.json")]
    assert {run.seed for run in runs} == {0, 1}
    assert {run.level for run in runs} == {0.0, 0.1}
    for name in experiments:
        noisy = len(grid.table3_runs(name))
        mine = [run for run in runs if run.experiment == name]
        plain_runs = [run for run in mine if run.method == plan.PLAIN]
        assert len(plain_runs) == noisy + len(grid.table3_seeds)  # + the clean runs
        for method in grid.experiments[name].robust_methods:
            assert sum(run.method == method for run in mine) == noisy
    filters = grid.table3_files("filter.json", with_plain=False)
    assert all(plan.parse_run_path(path).method != plan.PLAIN for path in filters)


def test_detect_inputs_are_aligned_run_by_run() -> None:
    grid = default_plan()
    scores, labels, clean = (grid.detect_inputs(kind) for kind in ("scores", "labels", "clean"))
    assert len(scores) == len(labels) == len(clean) == len(grid.detect_runs())
    for score, label, shards in zip(scores, labels, clean, strict=True):
        run = plan.parse_run_path(score)
        dataset = grid.experiments[run.experiment].train
        assert run.scheme != plan.CLEAN_SCHEME
        assert label == plan.labels_path(dataset, run.scheme, run.level, run.seed) + ".npy"
        assert shards == plan.SHARDS.format(dataset=dataset)


def test_final_targets_follow_extra_targets() -> None:
    assert default_plan().final_targets() == list(plan.STUDY_TARGETS)
    both = default_plan(extra_targets=["table4", "table3"]).final_targets()
    assert both[len(plan.STUDY_TARGETS) :] == [
        *plan.EXTRA_TARGETS["table4"],
        *plan.EXTRA_TARGETS["table3"],
    ]


def test_the_protocol_comparison_takes_every_run_of_the_in_shop_shaped_experiments() -> None:
    grid = default_plan()
    assert grid.query_gallery_experiments() == ["inshop"]  # not sop: it has a test split
    files = grid.protocol_files(plan.LOO_PER_QUERY)
    assert files == [
        f"{plan.run_dir('inshop', *run)}/{plan.LOO_PER_QUERY}" for run in grid.runs("inshop")
    ]
    trained = len(grid.experiment_levels("inshop")) * len(plan.NOISE_SCHEMES)
    assert len(files) == len(grid.seeds) * (1 + trained)
    assert plan.INSHOP_PROTOCOL not in grid.final_targets()  # opt-in: extra_targets
    assert plan.INSHOP_PROTOCOL in default_plan(extra_targets=["inshop_protocol"]).final_targets()


def test_a_users_dataset_is_scored_by_the_first_experiment_training_on_it() -> None:
    grid = default_plan()
    dataset = grid.experiments["sop"].train
    assert (
        grid.detect_model(dataset) == f"{plan.run_dir('sop', 'clean', 0, grid.seeds[0])}/model.pt"
    )
    with pytest.raises(UserError, match=r"needs a model trained on nowhere: add an experiment"):
        grid.detect_experiment("nowhere")


# --- every name and path spelled once --------------------------------------------------------


def test_the_schemas_enums_are_the_plans_vocabularies() -> None:
    schema = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())
    top, experiment = schema["properties"], schema["$defs"]["experiment"]["properties"]
    assert tuple(top["noise"]["properties"]["schemes"]["items"]["enum"]) == plan.NOISE_SCHEMES
    assert tuple(top["noise"]["properties"]["schemes"]["default"]) == plan.NOISE_SCHEMES
    assert tuple(experiment["schemes"]["items"]["enum"]) == plan.NOISE_SCHEMES
    assert tuple(experiment["task"]["enum"]) == plan.TASKS
    assert tuple(experiment["methods"]["items"]["enum"]) == plan.METHODS
    assert set(experiment["method_params"]["properties"]) <= set(plan.ROBUST_METHODS)
    assert tuple(top["detect"]["properties"]["detector"]["enum"]) == plan.DETECTORS
    assert tuple(top["extra_targets"]["items"]["enum"]) == tuple(plan.EXTRA_TARGETS)


# A name that is also another thing's name, where it means that other thing.
ELSEWHERE = {
    ("config.py", "margin"): "ArcFace's margin parameter, not the margin detector",
    ("cli.py", "subcenter"): "the `irnoise subcenter` command",
    ("knn.py", "knn"): "faiss' search, not the method",
}
VOCABULARY = {
    *plan.NOISE_SCHEMES,
    *plan.ROBUST_METHODS,
    *plan.DETECTORS,
}
PATH_PARTS = ("data/raw/", "data/shards/", "data/labels/", "results/runs/", "results/methods/")


def spelled_names(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """String constants that are a vocabulary name, or a path template's start followed by a
    formatted value or a `{` placeholder (help texts and messages with <...> are prose)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value
            if text in VOCABULARY or ("{" in text and any(part in text for part in PATH_PARTS)):
                yield node.lineno, text
        if isinstance(node, ast.JoinedStr):
            for before, after in itertools.pairwise(node.values):
                if (
                    isinstance(before, ast.Constant)
                    and isinstance(after, ast.FormattedValue)
                    and str(before.value).endswith(PATH_PARTS)
                ):
                    yield before.lineno, str(before.value)


def test_names_and_path_templates_are_spelled_only_in_the_plan() -> None:
    found = []
    for path in sorted((REPO / "workflow/irnoise").rglob("*.py")):
        if path.name == "plan.py":
            continue
        for line, text in spelled_names(ast.parse(path.read_text())):
            if (path.name, text) not in ELSEWHERE:
                found.append(f"{path.relative_to(REPO)}:{line}: {text!r}")
    rules = [REPO / "Snakefile", *sorted((REPO / "workflow/rules").glob("*.smk"))]
    quoted = re.compile(r"""["']({})["']""".format("|".join(sorted(VOCABULARY))))
    for path in rules:
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if quoted.search(line) or any(f'"{part}' in line for part in PATH_PARTS):
                found.append(f"{path.relative_to(REPO)}:{number}: {line.strip()}")
    assert not found, "spelled outside irnoise.plan:\n" + "\n".join(found)


def test_the_spelling_check_finds_what_it_looks_for() -> None:
    code = (
        'A = "uniform"\nB = f"results/runs/{x}"\nC = "data/shards/{dataset}"\n'
        'D = "the uniform case"\nE = "results/runs/<experiment>/"'
    )
    assert [line for line, _ in spelled_names(ast.parse(code))] == [1, 2, 3]
