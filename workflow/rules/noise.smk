# Noisy training labels, one file per (dataset, scheme, level, seed) of the grid.
# Shards are never rewritten: training overlays the label file on the clean labels.


rule noise:
    input:
        SHARDS,
    output:
        labels=f"{LABELS}.npy",
        stats=f"{LABELS}.json",
    log:
        f"logs/noise/{LABEL_SET}.log",
    benchmark:
        f"benchmarks/noise/{LABEL_SET}.tsv"
    wildcard_constraints:
        scheme=NOISE_SCHEME_PATTERN,
    conda:
        "../../envs/cpu.yaml"
    threads: 1
    resources:
        runtime=10,
        mem_mb=4000,
    shell:
        "irnoise noise --shards {input:q} --dataset {wildcards.dataset:q}"
        " --scheme {wildcards.scheme:q} --level {wildcards.level:q}"
        " --seed {wildcards.seed:q} --out {output.labels:q} 2>> $(attempt_log {log:q})"
