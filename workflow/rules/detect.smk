# Label-suspicion detection: scores of every noisy run's training labels (Table 4, and
# its precision-recall figure), and the ranked suspicious samples of a user's dataset.


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
        " --csv {output.csv} --picture {output.picture} --detector {params.detector:q}"
        " --top {params.top} --threads {threads} 2> {log}"
