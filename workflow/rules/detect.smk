# Label-suspicion detection: scores of every noisy run's training labels (Table 4, and
# its precision-recall figure), and the ranked suspicious samples of a user's dataset.


rule detect_run:
    input:
        model=f"{RUN_DIR}/model.pt",
        shards=train_shards,
        labels=noisy_labels,
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
    threads: job_threads
    resources:
        gpu=one_gpu,
        runtime=detect_runtime,
        mem_mb=detect_mem_mb,
    params:
        config=detect_config,
        cleannet=cleannet_flags,
    shell:
        "irnoise detect --model {input.model:q} --shards {input.shards:q}"
        " --labels {input.labels:q} --config {params.config:q} --out {output:q}"
        " {params.cleannet} --threads {threads} 2>> $(attempt_log {log:q})"


rule table4:
    input:
        scores=PLAN.detect_inputs("scores"),
        labels=PLAN.detect_inputs("labels"),
        clean=PLAN.detect_inputs("clean"),
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
        " --resamples {params.resamples} --confidence {params.confidence} 2>> $(attempt_log {log:q})"


rule figure_detection_pr:
    input:
        scores=PLAN.detect_inputs("scores"),
        labels=PLAN.detect_inputs("labels"),
        clean=PLAN.detect_inputs("clean"),
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
        " 2>> $(attempt_log {log:q})"


rule detect_dataset:
    input:
        model=detect_model,
        shards=SHARDS,
        verified=verified_input,
    output:
        scores=f"{DETECT_DIR}/detect.npz",
        csv=f"{DETECT_DIR}/suspicious.csv",
        picture=f"{DETECT_DIR}/top_suspicious.png",
    log:
        "logs/detect/{dataset}.log",
    benchmark:
        "benchmarks/detect/{dataset}.tsv"
    conda:
        "../../envs/gpu.yaml"
    threads: job_threads
    resources:
        gpu=one_gpu,
        runtime=detect_runtime,
        mem_mb=detect_mem_mb,
    params:
        config=detect_config,
        dataset=lambda w: dataset_identity(w.dataset),
        detector=STUDY.detect.detector,
        top=STUDY.detect.top,
        verified=verified_flag,
    shell:
        "irnoise detect --model {input.model:q} --shards {input.shards:q}"
        " --config {params.config:q} --dataset {params.dataset:q} --out {output.scores:q}"
        " --csv {output.csv:q} --picture {output.picture:q} --detector {params.detector:q}"
        " --top {params.top} {params.verified} --threads {threads} 2>> $(attempt_log {log:q})"
