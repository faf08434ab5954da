# Embeds the clean evaluation split with a trained model and computes its metrics,
# and the per-query arrays (hits, pair scores) that the tables' intervals resample.


rule evaluate:
    input:
        model=f"{RUN_DIR}/model.pt",
        shards=eval_shards,
    output:
        metrics=f"{RUN_DIR}/metrics.json",
        per_query=f"{RUN_DIR}/per_query.npz",
    log:
        f"logs/evaluate/{RUN}.log",
    benchmark:
        f"benchmarks/evaluate/{RUN}.tsv"
    wildcard_constraints:
        scheme=RUN_SCHEME_PATTERN,
    conda:
        "../../envs/gpu.yaml"
    threads: job_threads
    resources:
        gpu=one_gpu,
        runtime=eval_runtime,
        mem_mb=eval_mem_mb,
    params:
        task=experiment_task,
        config=evaluation_config,
        run=run_identity,
    shell:
        "irnoise evaluate --model {input.model:q} --shards {input.shards:q}"
        " --task {params.task:q} --config {params.config:q} --run {params.run:q}"
        " --out {output.metrics:q} --per-query {output.per_query:q}"
        " --threads {threads} 2>> $(attempt_log {log:q})"


# The same model re-evaluated leave-one-out over its query and gallery images pooled (the
# protocol of a test split), beside the run's official metrics: the protocol comparison.
rule evaluate_leave_one_out:
    input:
        model=f"{RUN_DIR}/model.pt",
        shards=eval_shards,
    output:
        metrics=f"{RUN_DIR}/{LOO_METRICS}",
        per_query=f"{RUN_DIR}/{LOO_PER_QUERY}",
    log:
        f"logs/evaluate_leave_one_out/{RUN}.log",
    benchmark:
        f"benchmarks/evaluate_leave_one_out/{RUN}.tsv"
    wildcard_constraints:
        scheme=RUN_SCHEME_PATTERN,
    conda:
        "../../envs/gpu.yaml"
    threads: job_threads
    resources:
        gpu=one_gpu,
        runtime=eval_runtime,
        mem_mb=eval_mem_mb,
    params:
        task=experiment_task,
        config=evaluation_config,
        run=run_identity,
        protocol=LEAVE_ONE_OUT,
    shell:
        "irnoise evaluate --model {input.model:q} --shards {input.shards:q}"
        " --task {params.task:q} --protocol {params.protocol:q} --config {params.config:q}"
        " --run {params.run:q} --out {output.metrics:q} --per-query {output.per_query:q}"
        " --threads {threads} 2>> $(attempt_log {log:q})"
