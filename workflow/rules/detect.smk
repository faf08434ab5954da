# Label-suspicion detection: scores of every noisy run's training labels (Table 4, and
# its precision-recall figure), and the ranked suspicious samples of a user's dataset.

DETECT = config["detect"]


def detect_config(name):
    """What a detect job depends on: the embedding settings and the detector settings."""
    experiment = EXPERIMENTS[name]
    keys = ("crop_size", "eval_batch_size")
    return canonical(
        {key: experiment[key] for key in keys}
        | {key: DETECT[key] for key in ("k", "cleanlab_max_cells")}
    )


def detect_runs():
    """(experiment, scheme, level, seed) of every noisy run of the grid."""
    return [
        (name, scheme, level, seed)
        for name in sorted(EXPERIMENTS)
        for scheme, level, seed in runs(name)
        if scheme != "clean"
    ]


def detect_inputs(kind):
    """Table 4's inputs, one per noisy run, in the same order for every kind."""
    files = []
    for name, scheme, level, seed in detect_runs():
        dataset = EXPERIMENTS[name]["train"]
        run = dict(experiment=name, scheme=scheme, level=level, seed=seed)
        files.append(
            {
                "scores": f"{RUN_DIR}/detect.npz".format(**run),
                "labels": LABELS.format(dataset=dataset, **run) + ".npy",
                "clean": f"data/shards/{dataset}",
            }[kind]
        )
    return files


def detect_experiment(dataset):
    """The experiment whose clean run's model scores a user's dataset: the first (by
    name) that trains on it."""
    trained = sorted(name for name, e in EXPERIMENTS.items() if e["train"] == dataset)
    if not trained:
        raise ValueError(
            f"results/detect/{dataset}/ needs a model trained on {dataset}: add an experiment "
            f"with `train: {dataset}` to the config (see README, Find mislabelled images)"
        )
    return trained[0]


def detect_model(wildcards):
    run = dict(scheme="clean", level="0", seed=SEEDS[0])
    return f"{RUN_DIR}/model.pt".format(
        experiment=detect_experiment(wildcards.dataset), **run
    )


def dataset_identity(name):
    source = DATASETS[name]["source"]
    return canonical(
        {"source": source, "root": dataset_root(name), "options": adapter_options(name)}
    )


rule detect_run:
    input:
        model=f"{RUN_DIR}/model.pt",
        shards=lambda w: f"data/shards/{EXPERIMENTS[w.experiment]['train']}",
        labels=lambda w: LABELS.format(dataset=EXPERIMENTS[w.experiment]["train"], **w)
        + ".npy",
    output:
        f"{RUN_DIR}/detect.npz",
    log:
        f"logs/detect/{RUN}.log",
    benchmark:
        f"benchmarks/detect/{RUN}.tsv"
    wildcard_constraints:
        scheme="uniform|large|small",
    conda:
        "../../envs/gpu.yaml"
    threads: lambda w: EXPERIMENTS[w.experiment]["threads"]
    resources:
        gpu=lambda w: min(EXPERIMENTS[w.experiment]["gpus"], 1),
        runtime=60,
        mem_mb=lambda w: EXPERIMENTS[w.experiment]["mem_mb"],
    params:
        config=lambda w: detect_config(w.experiment),
    shell:
        "irnoise detect --model {input.model} --shards {input.shards} --labels {input.labels}"
        " --config {params.config:q} --out {output} --threads {threads} 2> {log}"


rule table4:
    input:
        scores=detect_inputs("scores"),
        labels=detect_inputs("labels"),
        clean=detect_inputs("clean"),
    output:
        csv=report(
            "results/table4.csv", caption="../report/table4.rst", category="Tables"
        ),
        md="results/table4.md",
    log:
        "logs/report/table4.log",
    conda:
        "../../envs/cpu.yaml"
    shell:
        "irnoise table4 --out {output.csv} --md {output.md} --scores {input.scores}"
        " --labels {input.labels} --clean {input.clean} 2> {log}"


rule figure_detection_pr:
    input:
        scores=detect_inputs("scores"),
        labels=detect_inputs("labels"),
        clean=detect_inputs("clean"),
        table="results/table4.csv",
    output:
        report(
            "results/figures/fig_detection_pr.png",
            caption="../report/fig_detection_pr.rst",
            category="Figures",
        ),
    log:
        "logs/report/figure_detection_pr.log",
    conda:
        "../../envs/cpu.yaml"
    shell:
        "irnoise figure detection_pr --out {output} --table {input.table}"
        " --scores {input.scores} --labels {input.labels} --clean {input.clean} 2> {log}"


rule detect_dataset:
    input:
        model=detect_model,
        shards="data/shards/{dataset}",
    output:
        scores="results/detect/{dataset}/detect.npz",
        csv="results/detect/{dataset}/suspicious.csv",
        picture="results/detect/{dataset}/top_suspicious.png",
    log:
        "logs/detect/{dataset}.log",
    benchmark:
        "benchmarks/detect/{dataset}.tsv"
    conda:
        "../../envs/gpu.yaml"
    threads: lambda w: EXPERIMENTS[detect_experiment(w.dataset)]["threads"]
    resources:
        gpu=lambda w: min(EXPERIMENTS[detect_experiment(w.dataset)]["gpus"], 1),
        runtime=60,
        mem_mb=lambda w: EXPERIMENTS[detect_experiment(w.dataset)]["mem_mb"],
    params:
        config=lambda w: detect_config(detect_experiment(w.dataset)),
        dataset=lambda w: dataset_identity(w.dataset),
        detector=DETECT["detector"],
        top=DETECT["top"],
    shell:
        "irnoise detect --model {input.model} --shards {input.shards}"
        " --config {params.config:q} --dataset {params.dataset:q} --out {output.scores}"
        " --csv {output.csv} --picture {output.picture} --detector {params.detector}"
        " --top {params.top} --threads {threads} 2> {log}"
