# Noisy training labels, one file per (dataset, scheme, level, seed) of the grid.
# Shards are never rewritten: training overlays the label file on the clean labels.


rule noise:
    input:
        "data/shards/{dataset}",
    output:
        labels="data/labels/{dataset}/{scheme}/{level}/seed{seed}.npy",
        stats="data/labels/{dataset}/{scheme}/{level}/seed{seed}.json",
    log:
        "logs/noise/{dataset}/{scheme}/{level}/seed{seed}.log",
    benchmark:
        "benchmarks/noise/{dataset}/{scheme}/{level}/seed{seed}.tsv"
    wildcard_constraints:
        scheme="uniform|large|small",
    conda:
        "../../envs/cpu.yaml"
    threads: 1
    resources:
        runtime=10,
        mem_mb=4000,
    shell:
        "irnoise noise --shards {input:q} --scheme {wildcards.scheme:q}"
        " --level {wildcards.level:q} --seed {wildcards.seed:q} --out {output.labels:q}"
        " 2> {log:q}"
