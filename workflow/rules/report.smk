# The study's outputs: tidy metrics, Tables 1 and 2, the figures. Each rule takes
# exactly the runs it reports on, so that asking for one table builds only what it needs.


rule collect_metrics:
    input:
        PLAN.run_files("metrics.json"),
    output:
        report(
            "results/metrics.csv", caption="../report/metrics.rst", category="Tables"
        ),
    log:
        "logs/report/collect_metrics.log",
    conda:
        "../../envs/cpu.yaml"
    shell:
        "irnoise collect --out {output:q} {input:q} 2>> $(attempt_log {log:q})"


rule table1:
    input:
        metrics=PLAN.run_files("metrics.json", schemes=[TABLE1_SCHEME]),
        per_query=PLAN.run_files("per_query.npz", schemes=[TABLE1_SCHEME]),
        stats=PLAN.label_stats_files(schemes=[TABLE1_SCHEME]),
    output:
        csv=report(
            "results/table1.csv", caption="../report/table1.rst", category="Tables"
        ),
        md="results/table1.md",
    log:
        "logs/report/table1.log",
    conda:
        "../../envs/cpu.yaml"
    params:
        resamples=STUDY.statistics.resamples,
        confidence=STUDY.statistics.confidence,
    shell:
        "irnoise table1 --out {output.csv:q} --md {output.md:q} --stats {input.stats:q}"
        " --resamples {params.resamples} --confidence {params.confidence}"
        " --per-query {input.per_query:q} -- {input.metrics:q} 2>> $(attempt_log {log:q})"


rule findings:
    input:
        metrics=PLAN.run_files("metrics.json"),
        per_query=PLAN.run_files("per_query.npz"),
        stats=PLAN.label_stats_files(),
    output:
        csv=report(
            "results/findings.csv",
            caption="../report/findings.rst",
            category="Tables",
        ),
        md="results/findings.md",
    log:
        "logs/report/findings.log",
    conda:
        "../../envs/cpu.yaml"
    params:
        resamples=STUDY.statistics.resamples,
        confidence=STUDY.statistics.confidence,
    shell:
        "irnoise findings --out {output.csv:q} --md {output.md:q} --stats {input.stats:q}"
        " --resamples {params.resamples} --confidence {params.confidence}"
        " --per-query {input.per_query:q} -- {input.metrics:q} 2>> $(attempt_log {log:q})"


# The findings under every training recipe of the config's `recipes`: its runs and the
# recipes' own (irnoise.recipes), each recipe's findings read under the config's names.
rule findings_by_recipe:
    input:
        metrics=PLAN.recipe_run_files("metrics.json"),
        per_query=PLAN.recipe_run_files("per_query.npz"),
        stats=PLAN.label_stats_files(),
    output:
        csv=report(
            "results/findings_by_recipe.csv",
            caption="../report/findings_by_recipe.rst",
            category="Tables",
        ),
        md="results/findings_by_recipe.md",
    log:
        "logs/report/findings_by_recipe.log",
    conda:
        "../../envs/cpu.yaml"
    params:
        recipes=canonical(STUDY.recipe_experiments),
        resamples=STUDY.statistics.resamples,
        confidence=STUDY.statistics.confidence,
    shell:
        "irnoise findings --recipes {params.recipes:q} --out {output.csv:q} --md {output.md:q}"
        " --stats {input.stats:q} --resamples {params.resamples}"
        " --confidence {params.confidence} --per-query {input.per_query:q}"
        " -- {input.metrics:q} 2>> $(attempt_log {log:q})"


rule inshop_protocol:
    input:
        official=PLAN.protocol_files("per_query.npz"),
        leave_one_out=PLAN.protocol_files(LOO_PER_QUERY),
    output:
        csv=report(
            INSHOP_PROTOCOL, caption="../report/inshop_protocol.rst", category="Tables"
        ),
        md=INSHOP_PROTOCOL_MD,
    log:
        "logs/report/inshop_protocol.log",
    conda:
        "../../envs/cpu.yaml"
    params:
        resamples=STUDY.statistics.resamples,
        confidence=STUDY.statistics.confidence,
    shell:
        "irnoise protocol --out {output.csv:q} --md {output.md:q}"
        " --resamples {params.resamples} --confidence {params.confidence}"
        " --official {input.official:q} --leave-one-out {input.leave_one_out:q}"
        " 2>> $(attempt_log {log:q})"


rule table2:
    input:
        PLAN.label_stats_files(),
    output:
        csv=report(
            "results/table2.csv", caption="../report/table2.rst", category="Tables"
        ),
        md="results/table2.md",
    log:
        "logs/report/table2.log",
    conda:
        "../../envs/cpu.yaml"
    params:
        references=",".join(STUDY.reference_histograms),
        levels=",".join(PLAN.levels),
        seeds=",".join(PLAN.seeds),
        schemes=",".join(STUDY.noise.schemes),
    shell:
        "irnoise table2 --references {params.references:q} --levels {params.levels:q}"
        " --seeds {params.seeds:q} --schemes {params.schemes:q} --out {output.csv:q}"
        " --stats {input:q} 2>> $(attempt_log {log:q})"


rule figure_class_sizes:
    input:
        expand(SHARDS, dataset=PLAN.train_datasets()),
    output:
        report(
            "results/figures/fig1_class_sizes.png",
            caption="../report/fig1.rst",
            category="Figures",
        ),
    log:
        "logs/report/figure_class_sizes.log",
    conda:
        "../../envs/cpu.yaml"
    params:
        names=",".join(PLAN.train_datasets()),
        references=",".join(STUDY.reference_histograms),
        level=PLAN.figure_level(),
        seed=PLAN.seeds[0],
    shell:
        "irnoise figure class_sizes --names {params.names:q}"
        " --references {params.references:q} --level {params.level:q}"
        " --seed {params.seed:q} --out {output:q} --shards-dirs {input:q} 2>> $(attempt_log {log:q})"


rule figure_training_curves:
    input:
        PLAN.run_files("history.csv", schemes=[TABLE1_SCHEME]),
    output:
        report(
            "results/figures/fig2_training_curves.png",
            caption="../report/fig2.rst",
            category="Figures",
        ),
    log:
        "logs/report/figure_training_curves.log",
    conda:
        "../../envs/cpu.yaml"
    shell:
        "irnoise figure training_curves --out {output:q} {input:q} 2>> $(attempt_log {log:q})"


rule figure_noise_patterns:
    input:
        metrics=PLAN.run_files(
            "metrics.json", experiments=PLAN.experiments_with_task(RETRIEVAL)
        ),
        per_query=PLAN.run_files(
            "per_query.npz", experiments=PLAN.experiments_with_task(RETRIEVAL)
        ),
        stats=PLAN.label_stats_files(),
    output:
        report(
            "results/figures/fig3_noise_patterns.png",
            caption="../report/fig3.rst",
            category="Figures",
        ),
    log:
        "logs/report/figure_noise_patterns.log",
    conda:
        "../../envs/cpu.yaml"
    params:
        resamples=STUDY.statistics.resamples,
        confidence=STUDY.statistics.confidence,
    shell:
        "irnoise figure noise_patterns --out {output:q} --stats {input.stats:q}"
        " --per-query {input.per_query:q} --metrics {input.metrics:q}"
        " --resamples {params.resamples} --confidence {params.confidence} 2>> $(attempt_log {log:q})"


rule figure_retrieval_vs_classification:
    input:
        metrics=PLAN.run_files("metrics.json", schemes=[TABLE1_SCHEME]),
        per_query=PLAN.run_files("per_query.npz", schemes=[TABLE1_SCHEME]),
    output:
        report(
            "results/figures/fig_retrieval_vs_classification.png",
            caption="../report/retrieval_vs_classification.rst",
            category="Figures",
        ),
    log:
        "logs/report/figure_retrieval_vs_classification.log",
    conda:
        "../../envs/cpu.yaml"
    params:
        resamples=STUDY.statistics.resamples,
        confidence=STUDY.statistics.confidence,
    shell:
        "irnoise figure retrieval_vs_classification --out {output:q}"
        " --resamples {params.resamples} --confidence {params.confidence}"
        " --per-query {input.per_query:q} -- {input.metrics:q} 2>> $(attempt_log {log:q})"
