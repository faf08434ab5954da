# Helpers shared by the rules: config validation, the experiment grid and the
# canonical parameters of each job. Rules read the config only through these helpers,
# as sorted-key JSON limited to what a job needs, so that an edit reruns exactly the
# jobs it touches and reordering keys reruns nothing.
import json
import sys
from pathlib import Path

from snakemake.utils import validate

validate(config, schema="../schemas/config.schema.yaml")

DATASETS = config["datasets"]
EXPERIMENTS = config["experiments"]
NOISE = config["noise"]
SEEDS = [str(seed) for seed in config["seeds"]]

# Experiment keys that do not change a trained model: evaluation settings and the
# resources a job asks for.
NOT_TRAINING_KEYS = {
    "eval",
    "task",
    "eval_batch_size",
    "schemes",
    "runtime",
    "mem_mb",
    "threads",
    "methods",
    "method_params",
}


def canonical(value):
    """Sorted-key JSON: the form every structured parameter is passed in."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def level_name(level):
    """How a noise level appears in paths: 0.1 -> "0.1", 0.05 -> "0.05"."""
    return f"{level:g}"


LEVELS = [level_name(level) for level in NOISE["levels"]]


def dataset_root(name):
    return DATASETS[name].get("root", f"data/raw/{name}")


def is_synthetic(name):
    return DATASETS[name]["source"] == "synthetic"


def adapter_options(name):
    """Adapter options of a dataset; a synthetic set is read by its shape's adapter."""
    options = dict(DATASETS[name]["options"])
    if is_synthetic(name):
        options["shape"] = DATASETS[name]["synthetic"]["shape"]
    return options


def check_references():
    """Every experiment names configured datasets; say which real datasets are missing."""
    for name, experiment in EXPERIMENTS.items():
        for role in ("train", "eval"):
            if experiment[role] not in DATASETS:
                raise ValueError(
                    f"config: experiments.{name}.{role} names dataset {experiment[role]!r}, "
                    f"which is not under datasets: (configured: {sorted(DATASETS)})"
                )
    from irnoise.data.datasets import adapter, missing_files

    for name in sorted(used_datasets()):
        if is_synthetic(name):
            continue
        source, root = DATASETS[name]["source"], dataset_root(name)
        missing = missing_files(source, root, adapter_options(name))
        if missing:
            print(
                f"irnoise: dataset {name!r} ({source}) is missing from {root}: "
                f"{', '.join(str(path) for path in missing[:3])}. Put it there, "
                f"or set datasets.{name}.root. Expected layout:\n"
                f"{adapter(source, adapter_options(name)).LAYOUT}",
                file=sys.stderr,
            )
    for name, experiment in EXPERIMENTS.items():
        weights = experiment["pretrained"]
        if weights and not Path(weights).is_file():
            print(
                f"irnoise: experiments.{name}.pretrained: no weights file at {weights}; "
                "put the backbone's state dict there (nothing is downloaded)",
                file=sys.stderr,
            )


def used_datasets():
    return {e["train"] for e in EXPERIMENTS.values()} | {
        e["eval"] for e in EXPERIMENTS.values()
    }


def train_datasets():
    return sorted({experiment["train"] for experiment in EXPERIMENTS.values()})


def experiment_schemes(name):
    schemes = EXPERIMENTS[name].get("schemes", NOISE["schemes"])
    return [scheme for scheme in NOISE["schemes"] if scheme in schemes]


def runs(experiment, schemes=None):
    """(scheme, level, seed) of every run of an experiment; the clean run is shared."""
    schemes = [
        s for s in experiment_schemes(experiment) if schemes is None or s in schemes
    ]
    grid = [("clean", "0", seed) for seed in SEEDS]
    for scheme in schemes:
        grid += [(scheme, level, seed) for level in LEVELS for seed in SEEDS]
    return grid


LABELS = "data/labels/{dataset}/{scheme}/{level}/seed{seed}"
RUN = "{experiment}/{scheme}/{level}/seed{seed}"
RUN_DIR = f"results/runs/{RUN}"


def run_files(filename, experiments=None, schemes=None):
    experiments = sorted(EXPERIMENTS) if experiments is None else experiments
    return [
        f"{RUN_DIR}/{filename}".format(
            experiment=name, scheme=scheme, level=level, seed=seed
        )
        for name in experiments
        for scheme, level, seed in runs(name, schemes)
    ]


# --- Table 3: noise-robust methods (workflow/rules/methods.smk) ---------------------

TABLE3 = config["table3"]
TABLE3_LEVELS = [level_name(level) for level in TABLE3["levels"] or NOISE["levels"]]
TABLE3_SEEDS = [str(seed) for seed in TABLE3["seeds"] or config["seeds"]]
METHOD_RUN = "{method}/{experiment}/{scheme}/{level}/seed{seed}"
METHOD_DIR = f"results/methods/{METHOD_RUN}"
SUBCENTER_DIR = (
    "results/methods/subcenter/{experiment}/{scheme}/{level}/seed{seed}/stage1"
)


def robust_methods(name):
    """The experiment's methods other than none (its own runs under results/methods/)."""
    return [m for m in EXPERIMENTS[name]["methods"] if m != "none"]


def table3_experiments():
    return sorted(name for name in EXPERIMENTS if robust_methods(name))


def table3_runs(name):
    """(scheme, level, seed) of Table 3's noisy runs of an experiment."""
    return [
        (scheme, level, seed)
        for scheme in experiment_schemes(name)
        for level in TABLE3_LEVELS
        for seed in TABLE3_SEEDS
    ]


def table3_files(filename, with_none=True):
    """`filename` of every Table 3 run: method none's (clean and noisy), then each method's."""
    files = []
    for name in table3_experiments():
        none = [("clean", "0", seed) for seed in TABLE3_SEEDS] + table3_runs(name)
        if with_none:
            files += [
                f"{RUN_DIR}/{filename}".format(
                    experiment=name, scheme=s, level=l, seed=seed
                )
                for s, l, seed in none
            ]
        for method in robust_methods(name):
            files += [
                f"{METHOD_DIR}/{filename}".format(
                    method=method, experiment=name, scheme=s, level=l, seed=seed
                )
                for s, l, seed in table3_runs(name)
            ]
    return files


def method_spec(wildcards):
    """The method's name and parameters as canonical JSON (PRISM's rate: the true level)."""
    experiment = EXPERIMENTS[wildcards.experiment]
    params = dict(experiment["method_params"].get(wildcards.method, {}))
    if wildcards.method == "prism":
        params["noise_rate"] = float(wildcards.level)
    if wildcards.method == "subcenter":
        params = {}  # stage 2 only reads the keep-mask; stage 1's settings are its own
    return canonical({"name": wildcards.method} | params)


def subcenter_config(name):
    """Stage 1 of subcenter: the experiment's training with SubCenterArcFaceLoss."""
    experiment = EXPERIMENTS[name]
    settings = {k: v for k, v in experiment.items() if k not in NOT_TRAINING_KEYS}
    sub_centers = experiment["method_params"]["subcenter"]["sub_centers"]
    settings["loss"] = "SubCenterArcFaceLoss"
    settings["loss_params"] = dict(experiment["loss_params"]) | {
        "sub_centers": sub_centers
    }
    return canonical(settings)


def method_train_input(wildcards):
    inputs = train_input(wildcards)
    if wildcards.method == "subcenter":
        inputs["keep"] = f"{SUBCENTER_DIR}/keep.npy".format(**wildcards)
    return inputs


def keep_flag(wildcards, input):
    return f"--keep {input.keep}" if "keep" in input.keys() else ""


def method_run_identity(wildcards):
    return canonical(json.loads(run_identity(wildcards)) | {"method": wildcards.method})


def experiments_with_task(*tasks):
    return sorted(name for name, e in EXPERIMENTS.items() if e["task"] in tasks)


def label_stats_files():
    """Stats of every train dataset's label file in the grid (Table 2, Figure 3)."""
    return expand(
        f"{LABELS}.json",
        dataset=train_datasets(),
        scheme=NOISE["schemes"],
        level=LEVELS,
        seed=SEEDS,
    )


def figure_level():
    level = NOISE["figure_level"]
    return level_name(max(NOISE["levels"]) if level is None else level)


def final_targets():
    return [
        "results/metrics.csv",
        "results/table1.csv",
        "results/table2.csv",
        "results/findings.csv",
        "results/figures/fig1_class_sizes.png",
        "results/figures/fig2_training_curves.png",
        "results/figures/fig3_noise_patterns.png",
        "results/figures/fig_retrieval_vs_classification.png",
    ]


# --- parameters of each job -------------------------------------------------------


def shard_input(wildcards):
    """A synthetic set's generated folder; nothing for a real dataset, so that the plan
    can be made before the data is there (check_datasets names what is missing, and the
    shard job stops with the expected layout)."""
    name = wildcards.dataset
    return [dataset_root(name)] if is_synthetic(name) else []


def shard_params(name):
    keys = ("source", "image_size", "shard_size", "skip_corrupt")
    params = {key: DATASETS[name][key] for key in keys}
    return params | {
        "root": dataset_root(name),
        "options": canonical(adapter_options(name)),
    }


def training_config(name):
    """The experiment's settings that change a trained model, as canonical JSON."""
    experiment = EXPERIMENTS[name]
    return canonical(
        {k: v for k, v in experiment.items() if k not in NOT_TRAINING_KEYS}
    )


def evaluation_config(name):
    experiment = EXPERIMENTS[name]
    return canonical({k: experiment[k] for k in ("crop_size", "eval_batch_size")})


def run_identity(wildcards):
    experiment = EXPERIMENTS[wildcards.experiment]
    return canonical(
        {
            "experiment": wildcards.experiment,
            "train": experiment["train"],
            "eval": experiment["eval"],
            "task": experiment["task"],
            "scheme": wildcards.scheme,
            "level": float(wildcards.level),
            "seed": int(wildcards.seed),
        }
    )


def train_input(wildcards):
    experiment = EXPERIMENTS[wildcards.experiment]
    inputs = {"shards": f"data/shards/{experiment['train']}"}
    if wildcards.scheme != "clean":
        inputs["labels"] = (
            LABELS.format(dataset=experiment["train"], **wildcards) + ".npy"
        )
    return inputs


def labels_flag(wildcards, input):
    return f"--labels {input.labels}" if "labels" in input.keys() else ""


wildcard_constraints:
    dataset="|".join(sorted(DATASETS)),
    experiment="|".join(sorted(EXPERIMENTS)),
    seed=r"\d+",
    level=r"[0-9.e-]+",


check_references()
