# Embeds the clean evaluation split with a trained model and computes its metrics,
# and the per-query arrays (hits, pair scores) that the tables' intervals resample.


rule evaluate:
    input:
        model=f"{RUN_DIR}/model.pt",
        shards=lambda w: f"data/shards/{EXPERIMENTS[w.experiment]['eval']}",
    output:
        metrics=f"{RUN_DIR}/metrics.json",
        per_query=f"{RUN_DIR}/per_query.npz",
    log:
        f"logs/evaluate/{RUN}.log",
    benchmark:
        f"benchmarks/evaluate/{RUN}.tsv"
    wildcard_constraints:
        scheme="clean|uniform|large|small",
    conda:
        "../../envs/gpu.yaml"
    threads: lambda w: EXPERIMENTS[w.experiment]["threads"]
    resources:
        gpu=lambda w: min(EXPERIMENTS[w.experiment]["gpus"], 1),
        runtime=60,
        mem_mb=lambda w: EXPERIMENTS[w.experiment]["mem_mb"],
    params:
        task=lambda w: EXPERIMENTS[w.experiment]["task"],
        config=lambda w: evaluation_config(w.experiment),
        run=run_identity,
    shell:
        "irnoise evaluate --model {input.model} --shards {input.shards} --task {params.task}"
        " --config {params.config:q} --run {params.run:q} --out {output.metrics}"
        " --per-query {output.per_query}"
        " --threads {threads} 2> {log}"
