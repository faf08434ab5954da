# irnoise: how much does label noise hurt deep image retrieval?
#
#   snakemake --cores all                      # every table and figure, default preset
#   snakemake --cores all results/table1.csv   # one target, and only what it needs
#   snakemake --configfile presets/paper.yaml --profile profiles/slurm
#
# The layout follows the snakemake-workflows standard: this file holds the config,
# the includes and the default target; helpers and validation live in common.smk.
import sys

from snakemake.utils import min_version

min_version("8.20")


from irnoise.config_sources import run_config
from irnoise.errors import UserError

# A preset given with --configfile replaces the default config as a whole, rather than
# being merged into it key by key; --config overrides keys on top of whichever is used.
# The default file is read by irnoise rather than `configfile:`, so that a YAML error
# names the file, line and column (Snakemake parses --configfile files itself, before
# this file runs, and names neither). docs/configuration.md, "Overrides".
try:
    settings = workflow.config_settings
    merged_config = run_config(
        config, settings.configfiles, settings.config, default="config.yaml"
    )
except UserError as error:
    sys.exit(f"irnoise: config error: {error}")
config.clear()
config.update(merged_config)


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/noise.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/detect.smk"
include: "workflow/rules/methods.smk"


rule all:
    default_target: True
    input:
        PLAN.final_targets(),


# The report jobs take seconds: on a cluster they run where Snakemake runs, not in the queue.
localrules:
    all,
    collect_metrics,
    table1,
    table2,
    findings,
    findings_by_recipe,
    inshop_protocol,
    figure_class_sizes,
    figure_training_curves,
    figure_noise_patterns,
    figure_retrieval_vs_classification,
    table4,
    figure_detection_pr,
    table3,
    figure_recovered_share,
