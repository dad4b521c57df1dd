# qcpt: pre-training dense retrievers with generated queries as context.
# `snakemake --cores N` builds the whole grid of the config (config.yaml: the embedded demo;
# configs/*.yaml: the papers' presets). Ask for one metrics file to build only that cell.

from snakemake.utils import min_version

min_version("9.0")


# A preset given with --configfile replaces the demo config instead of being merged into it
# (Snakemake would otherwise deep-merge the two and leak demo generators into a paper grid).
if not workflow.overwrite_configfiles:

    configfile: "config.yaml"


include: "rules/common.smk"


# One meaning per wildcard name across all rules, from the cell grammar of qcpt/workflow/cells.py.
wildcard_constraints:
    **cells.WILDCARDS,


include: "rules/data.smk"
include: "rules/corpus.smk"
include: "rules/querygen.smk"
include: "rules/pretrain.smk"
include: "rules/bm25.smk"
include: "rules/finetune.smk"
include: "rules/evaluate.smk"
include: "rules/report.smk"
include: "rules/publish.smk"


rule all:
    default_target: True
    input:
        METRICS_TARGETS,
        P.summary_md,
        REPORT_TARGETS,
        EXPECTED_TARGETS,
        CARD_TARGETS,
