# Generated queries: a seeded passage order cut into shards; one generation job per shard and
# generator (a pool of queries per passage); per (query count, amount) a selection over a prefix of
# shards, so smaller curriculum amounts reuse the shards of larger ones.

from qcpt.querygen import jobs as querygen_jobs

CONSISTENCY = querygen_jobs.consistency(config)  # consistency@k settings, None where turned off
GENERATOR_PREPARATION = per_job(querygen_jobs.generator_preparation)


rule passage_order:
    input:
        passages=P.passages,
    output:
        P.passage_order,
    log:
        P.log("passage_order"),
    conda:
        "../envs/cpu.yaml"
    resources:
        **family_resources("default"),
    params:
        command=version("querygen.sharding"),
        json=as_json(querygen_jobs.passage_order_job_params(config)),
    shell:
        '"$QCPT_PYTHON" "$QCPT_ENTRY" {params.command} --passages {input:q} --out {output:q} --params {params.json:q} > {log:q} 2>&1'


# One of two commands, each with its own arguments and inputs (jobs/querygen.py
# generator_preparation): querygen.doc2query trains the demo's doc2query T5, querygen.gguf
# dequantises a GGUF model once.
rule prepare_generator:
    """Build or convert a generator's weights: train the demo doc2query T5, or dequantise a GGUF once."""
    input:
        unpack(lambda wc: GENERATOR_PREPARATION(wc).inputs),
    output:
        directory(P.generator_model),
    log:
        P.log("prepare_generator"),
    conda:
        "../envs/train.yaml"
    resources:
        **family_resources("generate", mem_mb=8000, runtime=120),
    params:
        command=lambda wc: version(GENERATOR_PREPARATION(wc).command),
        argv=lambda wc: shlex.join(GENERATOR_PREPARATION(wc).argv),
    shell:
        'exec "$QCPT_PYTHON" "$QCPT_ENTRY" {params.command} {params.argv} > {log:q} 2>&1'


rule generate_queries:
    input:
        passages=P.passages,
        order=P.passage_order,
        model=per_job(querygen_jobs.generator_model_inputs),
    output:
        tsv=P.query_shard,
        stats=P.query_shard_stats,
    log:
        P.log("generate_queries"),
    conda:
        lambda wc: querygen_jobs.generator_env(config, wc.gen)
    resources:
        **family_resources(per_job(querygen_jobs.generator_family), mem_mb=8000, runtime=240),
    params:
        command=version("querygen.driver"),
        spec=json_per_job(querygen_jobs.generation_spec),
        shard_size=lambda wc: grid.shard_size(config, wc.gen),
    shell:
        # --generator-python: the generator's own `python:` interpreter where it names one
        '"$QCPT_PYTHON" "$QCPT_ENTRY" --generator-python {wildcards.gen} {params.command} --passages {input.passages:q} --order {input.order:q}'
        " --shard {wildcards.shard} --shard-size {params.shard_size} --generator {params.spec:q}"
        " --out {output.tsv:q} --stats {output.stats:q} > {log:q} 2>&1"


rule index_passages:
    """BM25 index of the passages, once per corpus: the round-trip consistency@k of every selection."""
    input:
        P.passages,
    output:
        directory(P.passages_index),
    log:
        P.log("index_passages"),
    conda:
        "../envs/pyserini.yaml"
    resources:
        **family_resources("default"),
    params:
        command=version("querygen.consistency:index"),
    shell:
        '"$QCPT_PYTHON" "$QCPT_ENTRY" {params.command} --passages {input:q} --out {output:q} > {log:q} 2>&1'


rule select_queries:
    input:
        shards=per_job(querygen_jobs.selected_shards),  # a prefix of the generation shards
        order=P.passage_order,
        index=[P.passages_index] if CONSISTENCY is not None else [],
    output:
        tsv=P.queries,
        stats=P.queries_stats,
    log:
        P.log("select_queries"),
    conda:
        "../envs/pyserini.yaml" if CONSISTENCY is not None else "../envs/cpu.yaml"
    resources:
        **family_resources("default"),
    params:
        command=version("querygen.selection"),
        json=json_per_job(querygen_jobs.selection_job_params),
        consistency=(
            flags(
                "--consistency-index",
                filled(P.passages_index),
                "--consistency",
                as_json(CONSISTENCY),
                lead=" ",
            )
            if CONSISTENCY is not None
            else ""
        ),
    shell:
        '"$QCPT_PYTHON" "$QCPT_ENTRY" {params.command} --shards {input.shards:q} --order {input.order:q} --count {wildcards.qcount}'
        " --params {params.json:q} --out {output.tsv:q} --stats {output.stats:q}{params.consistency} > {log:q} 2>&1"
