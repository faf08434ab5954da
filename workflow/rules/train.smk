# One training job per experiment x scheme x level x seed; the clean run
# (scheme "clean", level 0) is shared by every scheme. The checkpoint beside the
# outputs is not declared, so that a killed or failed job keeps it and resumes; a
# finished run deletes it (experiments.<name>.keep_checkpoint keeps it).


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
    threads: lambda w: EXPERIMENTS[w.experiment].threads
    resources:
        gpu=lambda w: EXPERIMENTS[w.experiment].training.gpus,
        runtime=lambda w: EXPERIMENTS[w.experiment].runtime,
        mem_mb=lambda w: EXPERIMENTS[w.experiment].mem_mb,
    params:
        config=lambda w: training_config(w.experiment),
        labels=labels_flag,
        run_dir=RUN_DIR,
        keep_checkpoint=checkpoint_flag,
    shell:
        "irnoise train --shards {input.shards:q} {params.labels} --config {params.config:q}"
        " --seed {wildcards.seed:q} --out-dir {params.run_dir:q} {params.keep_checkpoint}"
        " --threads {threads} 2> {log:q}"
