# One training job per experiment x scheme x level x seed; the clean run
# (scheme "clean", level 0) is shared by every scheme. The checkpoint beside the
# outputs is not declared, so that a killed or failed job keeps it and resumes; a
# finished run deletes it (experiments.<name>.keep_checkpoint keeps it). The
# noise-robust methods' trainings (methods.smk) are this rule with other paths and flags.


rule train:
    input:
        unpack(train_input),
    output:
        model=f"{RUN_DIR}/model.pt",
        history=f"{RUN_DIR}/history.csv",
    log:
        f"logs/train/{RUN}.log",
    benchmark:
        f"benchmarks/train/{RUN}.tsv"
    wildcard_constraints:
        scheme=RUN_SCHEME_PATTERN,
    conda:
        "../../envs/gpu.yaml"
    threads: job_threads
    resources:
        gpu=job_gpus,
        runtime=job_runtime,
        mem_mb=job_mem_mb,
    params:
        config=training_config,
        labels=labels_flag,
        method="",
        run_dir=RUN_DIR,
        keep_checkpoint=checkpoint_flag,
        allow_cpu=allow_cpu_flag,
    shell:
        "irnoise train --shards {input.shards:q} {params.labels} {params.method}"
        " --config {params.config:q} --seed {wildcards.seed:q} --out-dir {params.run_dir:q}"
        " {params.keep_checkpoint} {params.allow_cpu} --threads {threads} 2>> $(attempt_log {log:q})"


# A pretraining (config `pretraining:`): trained once, on clean labels, at a fixed seed;
# the experiments that name it start from its backbone (their `train_input` needs it).
rule pretrain:
    input:
        shards=train_shards,
    output:
        model=f"{PRETRAINING_DIR}/model.pt",
        history=f"{PRETRAINING_DIR}/history.csv",
    log:
        "logs/pretrain/{pretraining}.log",
    benchmark:
        "benchmarks/pretrain/{pretraining}.tsv"
    conda:
        "../../envs/gpu.yaml"
    threads: job_threads
    resources:
        gpu=job_gpus,
        runtime=job_runtime,
        mem_mb=job_mem_mb,
    params:
        config=training_config,
        run_dir=lambda wildcards: PRETRAINING_DIR.format(**wildcards),
        seed=PRETRAINING_SEED,
        allow_cpu=allow_cpu_flag,
    shell:
        "irnoise train --shards {input.shards:q} --config {params.config:q}"
        " --seed {params.seed} --out-dir {params.run_dir:q} {params.allow_cpu}"
        " --threads {threads} 2>> $(attempt_log {log:q})"
