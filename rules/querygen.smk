# Generated queries: a seeded passage order cut into shards; one generation job per shard and
# generator (a pool of queries per passage); per (query count, amount) a selection over a prefix of
# shards, so smaller curriculum amounts reuse the shards of larger ones.

CONSISTENCY = qjobs.querygen.consistency(config)


rule passage_order:
    input:
        unpack(job_inputs("passage_order")),
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
        json=job_params("passage_order"),
    shell:
        '"$QCPT_PYTHON" "$QCPT_ENTRY" {params.command} --passages {input:q} --out {output:q} --params {params.json:q} > {log:q} 2>&1'


rule prepare_generator:
    """Build or convert a generator's weights: train the demo doc2query T5, or dequantise a GGUF once."""
    input:
        unpack(job_inputs("prepare_generator")),
    output:
        directory(P.generator_model),
    log:
        P.log("prepare_generator"),
    conda:
        "../envs/train.yaml"
    resources:
        **family_resources("generate", mem_mb=8000, runtime=120),
    params:
        command=lambda wc: version(job("prepare_generator")(wc).args["command"]["name"]),
        argv=lambda wc: shlex.join(job("prepare_generator")(wc).args["command"]["argv"]),
    shell:
        'exec "$QCPT_PYTHON" "$QCPT_ENTRY" {params.command} {params.argv} > {log:q} 2>&1'


rule generate_queries:
    input:
        unpack(job_inputs("generate_queries")),
    output:
        tsv=P.query_shard,
        stats=P.query_shard_stats,
    log:
        P.log("generate_queries"),
    conda:
        lambda wc: qjobs.querygen.generator_env(config, wc.gen)
    resources:
        **family_resources(job_family("generate_queries"), mem_mb=8000, runtime=240),
    params:
        command=version("querygen.driver"),
        spec=job_params("generate_queries"),
        shard_size=job_arg("generate_queries", "shard_size"),
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
        unpack(job_inputs("select_queries")),
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
        json=job_params("select_queries"),
        consistency=job_arg("select_queries", "consistency"),
    shell:
        '"$QCPT_PYTHON" "$QCPT_ENTRY" {params.command} --shards {input.shards:q} --order {input.order:q} --count {wildcards.qcount}'
        " --params {params.json:q} --out {output.tsv:q} --stats {output.stats:q}{params.consistency} > {log:q} 2>&1"
