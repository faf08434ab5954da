# Noise-robust training methods (Table 3). Plain training (method none) is the study's
# own runs under results/runs/; every other method's runs live under
# results/methods/<method>/, so that adding a method adds only its runs. Sub-center
# ArcFace takes two stages: a model trained with SubCenterArcFaceLoss, its keep-mask,
# then the retraining on the kept rows. Smooth Proxy-Anchor's first phase works on the
# plain run's model (its confidence module); CleanNet's first stage is its detector's
# scores in the plain run's detect.npz.


use rule train as train_method with:
    input:
        unpack(method_train_input),
    output:
        model=f"{METHOD_DIR}/model.pt",
        history=f"{METHOD_DIR}/history.csv",
        filter=f"{METHOD_DIR}/filter.json",
    log:
        f"logs/train/methods/{METHOD_RUN}.log",
    benchmark:
        f"benchmarks/train/methods/{METHOD_RUN}.tsv"
    wildcard_constraints:
        method=ROBUST_METHOD_PATTERN,
        scheme=NOISE_SCHEME_PATTERN,
    params:
        config=method_training_config,
        labels=labels_flag,
        method=method_flags,
        run_dir=METHOD_DIR,
        keep_checkpoint=checkpoint_flag,
        allow_cpu=allow_cpu_flag,


use rule train as train_subcenter with:
    output:
        model=f"{SUBCENTER_DIR}/model.pt",
        history=f"{SUBCENTER_DIR}/history.csv",
    log:
        f"logs/train/methods/{SUBCENTER_RUN}.stage1.log",
    benchmark:
        f"benchmarks/train/methods/{SUBCENTER_RUN}.stage1.tsv"
    wildcard_constraints:
        scheme=NOISE_SCHEME_PATTERN,
    params:
        config=subcenter_config,
        labels=labels_flag,
        method="",
        run_dir=SUBCENTER_DIR,
        keep_checkpoint=checkpoint_flag,
        allow_cpu=allow_cpu_flag,


rule subcenter_mask:
    input:
        unpack(train_input),
        model=f"{SUBCENTER_DIR}/model.pt",
    output:
        f"{SUBCENTER_DIR}/keep.npy",
    log:
        f"logs/train/methods/{SUBCENTER_RUN}.mask.log",
    benchmark:
        f"benchmarks/train/methods/{SUBCENTER_RUN}.mask.tsv"
    wildcard_constraints:
        scheme=NOISE_SCHEME_PATTERN,
    conda:
        "../../envs/gpu.yaml"
    threads: job_threads
    resources:
        runtime=30,
        mem_mb=job_mem_mb,
    params:
        threshold=subcenter_threshold,
        variant=subcenter_variant_flag,
    shell:
        "irnoise subcenter --model {input.model:q} --shards {input.shards:q}"
        " --labels {input.labels:q} --threshold {params.threshold} {params.variant}"
        " --out {output:q}"
        " --threads {threads} 2>> $(attempt_log {log:q})"


rule smooth_proxy_anchor_confidence:
    input:
        unpack(train_input),
        model=f"{RUN_DIR}/model.pt",
    output:
        CONFIDENCE_FILE,
    log:
        f"logs/train/methods/{CONFIDENCE_RUN}.confidence.log",
    benchmark:
        f"benchmarks/train/methods/{CONFIDENCE_RUN}.confidence.tsv"
    wildcard_constraints:
        scheme=NOISE_SCHEME_PATTERN,
    conda:
        "../../envs/gpu.yaml"
    threads: job_threads
    resources:
        runtime=30,
        mem_mb=job_mem_mb,
    params:
        settings=confidence_params,
    shell:
        "irnoise confidence --model {input.model:q} --shards {input.shards:q}"
        " --labels {input.labels:q} --params {params.settings:q} --seed {wildcards.seed}"
        " --out {output:q} --threads {threads} 2>> $(attempt_log {log:q})"


use rule evaluate as evaluate_method with:
    input:
        model=f"{METHOD_DIR}/model.pt",
        shards=eval_shards,
    output:
        metrics=f"{METHOD_DIR}/metrics.json",
        per_query=f"{METHOD_DIR}/per_query.npz",
    log:
        f"logs/evaluate/methods/{METHOD_RUN}.log",
    benchmark:
        f"benchmarks/evaluate/methods/{METHOD_RUN}.tsv"
    wildcard_constraints:
        method=ROBUST_METHOD_PATTERN,
        scheme=NOISE_SCHEME_PATTERN,


rule table3:
    input:
        metrics=PLAN.table3_files("metrics.json"),
        filters=PLAN.table3_files("filter.json", with_plain=False),
        per_query=PLAN.table3_files("per_query.npz"),
    output:
        csv=report(
            "results/table3.csv", caption="../report/table3.rst", category="Tables"
        ),
        md="results/table3.md",
    log:
        "logs/report/table3.log",
    conda:
        "../../envs/cpu.yaml"
    params:
        resamples=STUDY.statistics.resamples,
        confidence=STUDY.statistics.confidence,
    shell:
        "irnoise table3 --out {output.csv:q} --md {output.md:q} --filters {input.filters:q}"
        " --per-query {input.per_query:q} --metrics {input.metrics:q}"
        " --resamples {params.resamples} --confidence {params.confidence} 2>> $(attempt_log {log:q})"


rule figure_recovered_share:
    input:
        "results/table3.csv",
    output:
        report(
            "results/figures/fig_recovered_share.png",
            caption="../report/recovered_share.rst",
            category="Figures",
        ),
    log:
        "logs/report/figure_recovered_share.log",
    conda:
        "../../envs/cpu.yaml"
    shell:
        "irnoise figure recovered_share --out {output:q} {input:q} 2>> $(attempt_log {log:q})"
