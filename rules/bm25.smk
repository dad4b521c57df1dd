# Retrieval corpora, topics/qrels, BM25 (pyserini/Lucene) runs and BM25 negatives.


rule prepare_collection:
    input:
        unpack(job_inputs("prepare_collection")),
    output:
        P.collection,
    log:
        P.log("prepare_collection"),
    conda:
        "../envs/cpu.yaml"
    resources:
        **family_resources("default"),
    params:
        command=version("corpus:collection"),
        fmt=job_arg("prepare_collection", "fmt"),
    shell:
        '"$QCPT_PYTHON" "$QCPT_ENTRY" {params.command} --source {input:q} --format {params.fmt} --out {output:q} > {log:q} 2>&1'


rule prepare_topics:
    input:
        unpack(job_inputs("prepare_topics")),
    output:
        topics=P.topics,
        qrels=P.qrels,
    log:
        P.log("prepare_topics"),
    conda:
        "../envs/cpu.yaml"
    resources:
        **family_resources("default"),
    params:
        command=version("corpus:topics"),
    shell:
        '"$QCPT_PYTHON" "$QCPT_ENTRY" {params.command} --topics {input.topics:q} --qrels {input.qrels:q}'
        " --out-topics {output.topics:q} --out-qrels {output.qrels:q} > {log:q} 2>&1"


rule bm25_index:
    input:
        P.collection,
    output:
        directory(P.bm25_index),
    log:
        P.log("bm25_index"),
    conda:
        "../envs/pyserini.yaml"
    # The job's threads: its family's cpus_per_task in `resources:` (2 where unset).
    threads: resource(config, "bm25", "cpus_per_task", 2)
    resources:
        **family_resources("bm25", mem_mb=8000, runtime=240),
    params:
        command=version("retrieval.bm25:index"),
        json=job_params("bm25_index"),
    shell:
        '"$QCPT_PYTHON" "$QCPT_ENTRY" {params.command} --collection {input:q} --out {output:q} --threads {threads}'
        " --params {params.json:q} > {log:q} 2>&1"


rule bm25_search:
    input:
        unpack(job_inputs("bm25_search")),
    output:
        P.bm25_run,
    log:
        P.log("bm25_search"),
    conda:
        "../envs/pyserini.yaml"
    # The job's threads: its family's cpus_per_task in `resources:` (2 where unset).
    threads: resource(config, "bm25", "cpus_per_task", 2)
    resources:
        **family_resources("bm25", mem_mb=8000, runtime=240),
    params:
        command=version("retrieval.bm25:search"),
        json=job_params("bm25_search"),
    shell:
        '"$QCPT_PYTHON" "$QCPT_ENTRY" {params.command} --index {input.index:q} --topics {input.topics:q} --out {output:q}'
        " --threads {threads} --params {params.json:q} > {log:q} 2>&1"


rule bm25_negatives:
    input:
        unpack(job_inputs("bm25_negatives")),
    output:
        P.bm25_negatives,
    log:
        P.log("bm25_negatives"),
    conda:
        "../envs/cpu.yaml"
    resources:
        **family_resources("default"),
    params:
        command=version("retrieval.train_data"),
        json=job_params("bm25_negatives"),
        source_flag=job_arg("bm25_negatives", "source_flag"),
    shell:
        '"$QCPT_PYTHON" "$QCPT_ENTRY" {params.command} {params.source_flag} {input.run:q} --topics {input.topics:q} --qrels {input.qrels:q}'
        " --out {output:q} --params {params.json:q} > {log:q} 2>&1"
