# Raw data -> WebDataset shards. Synthetic sets are generated in their imitated
# dataset's native layout; real ones are read where the config's root points.


rule synth:
    output:
        directory(RAW),
    log:
        "logs/synth/{dataset}.log",
    benchmark:
        "benchmarks/synth/{dataset}.tsv"
    wildcard_constraints:
        dataset="|".join(
            name for name in sorted(DATASETS) if DATASETS[name].is_synthetic
        )
        or "(?!)",
    conda:
        "../../envs/cpu.yaml"
    threads: 2
    resources:
        runtime=30,
        mem_mb=4000,
    params:
        shape=lambda w: DATASETS[w.dataset].synthetic.shape,
        scale=lambda w: DATASETS[w.dataset].synthetic.scale,
        image_size=lambda w: DATASETS[w.dataset].synthetic.image_size,
        seed=lambda w: DATASETS[w.dataset].synthetic.seed,
    shell:
        "irnoise synth --shape {params.shape:q} --scale {params.scale:q}"
        " --image-size {params.image_size:q} --seed {params.seed:q}"
        " --out {output:q} --threads {threads} 2>> $(attempt_log {log:q})"


rule shard:
    input:
        shard_input,
    output:
        directory(SHARDS),
    log:
        "logs/shard/{dataset}.log",
    benchmark:
        "benchmarks/shard/{dataset}.tsv"
    conda:
        "../../envs/cpu.yaml"
    threads: 8
    resources:
        runtime=600,
        mem_mb=8000,
    params:
        settings=lambda w: shard_params(w.dataset),
        flags=shard_flags,
    shell:
        "irnoise shard --source {params.settings[source]:q}"
        " --root {params.settings[root]:q} --out {output:q}"
        " --image-size {params.settings[image_size]:q}"
        " --shard-size {params.settings[shard_size]:q} {params.flags}"
        " --options {params.settings[options]:q} --threads {threads} 2>> $(attempt_log {log:q})"
