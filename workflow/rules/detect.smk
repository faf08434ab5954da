# Label-suspicion detection: scores of every noisy run's training labels (Table 4, and
# its precision-recall figure), and the ranked suspicious samples of a user's dataset.


rule detect_run:
    input:
        model=f"{RUN_DIR}/model.pt",
        shards=lambda w: SHARDS.format(dataset=EXPERIMENTS[w.experiment].train),
        labels=lambda w: LABELS.format(dataset=EXPERIMENTS[w.experiment].train, **w)
        + ".npy",
    output:
        f"{RUN_DIR}/detect.npz",
    log:
        f"logs/detect/{RUN}.log",
    benchmark:
        f"benchmarks/detect/{RUN}.tsv"
    wildcard_constraints:
        scheme=NOISE_SCHEME_PATTERN,
    conda:
        "../../envs/gpu.yaml"
    threads: lambda w: EXPERIMENTS[w.experiment].threads
    resources:
        gpu=lambda w: min(EXPERIMENTS[w.experiment].training.gpus, 1),
        runtime=60,
        mem_mb=lambda w: EXPERIMENTS[w.experiment].mem_mb,
    params:
        config=lambda w: detect_config(w.experiment),
    shell:
        "irnoise detect --model {input.model:q} --shards {input.shards:q}"
        " --labels {input.labels:q} --config {params.config:q} --out {output:q}"
        " --threads {threads} 2> {log:q}"


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
    params:
        resamples=STUDY.statistics.resamples,
        confidence=STUDY.statistics.confidence,
    shell:
        "irnoise table4 --out {output.csv:q} --md {output.md:q} --scores {input.scores:q}"
        " --labels {input.labels:q} --clean {input.clean:q}"
        " --resamples {params.resamples} --confidence {params.confidence} 2> {log:q}"


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
        "irnoise figure detection_pr --out {output:q} --table {input.table:q}"
        " --scores {input.scores:q} --labels {input.labels:q} --clean {input.clean:q}"
        " 2> {log:q}"


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
    threads: lambda w: EXPERIMENTS[detect_experiment(w.dataset)].threads
    resources:
        gpu=lambda w: min(EXPERIMENTS[detect_experiment(w.dataset)].training.gpus, 1),
        runtime=60,
        mem_mb=lambda w: EXPERIMENTS[detect_experiment(w.dataset)].mem_mb,
    params:
        config=lambda w: detect_config(detect_experiment(w.dataset)),
        dataset=lambda w: dataset_identity(w.dataset),
        detector=DETECT.detector,
        top=DETECT.top,
    shell:
        "irnoise detect --model {input.model:q} --shards {input.shards:q}"
        " --config {params.config:q} --dataset {params.dataset:q} --out {output.scores:q}"
        " --csv {output.csv:q} --picture {output.picture:q} --detector {params.detector:q}"
        " --top {params.top} --threads {threads} 2> {log:q}"
