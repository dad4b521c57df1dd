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


wildcard_constraints:
    corpus=r"[A-Za-z0-9_]+",
    schema="contrastive|cotmae|bottleneck",
    gen=r"[A-Za-z0-9_]+",
    qcount=r"\d+",
    amount=r"all|\d+",
    shard=r"\d+",
    collection=r"[A-Za-z0-9_-]+",
    topicset=r"[A-Za-z0-9_-]+",
    evalset=r"[A-Za-z0-9_-]+",
    dataset=r"[A-Za-z0-9_-]+",
    stage="retriever1|retriever2",
    encoder=r"base|pt/[^/]+/[^/]+/[^/]+|ext/[^/]+",
    modelkey=r"zeroshot/(base|pt/[^/]+/[^/]+/[^/]+|ext/[^/]+)|[A-Za-z0-9_-]+/(base|pt/[^/]+/[^/]+/[^/]+|ext/[^/]+)/retriever[12]",


include: "rules/corpus.smk"
include: "rules/querygen.smk"
include: "rules/pretrain.smk"
include: "rules/bm25.smk"
include: "rules/finetune.smk"
include: "rules/evaluate.smk"
include: "rules/report.smk"


rule all:
    input:
        METRICS_TARGETS,
        f"{R}/summary.md",
        REPORT_TARGETS,
        EXPECTED_TARGETS,
    default_target: True
