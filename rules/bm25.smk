# Retrieval corpora, topics/qrels, BM25 (pyserini/Lucene) runs and BM25 negatives.

from qcpt.retrieval.jobs import bm25 as bm25_jobs

OFFICIAL_TRIPLES = per_job(bm25_jobs.official_triples)  # a dataset's negatives_file, or None


rule prepare_collection:
    input:
        source=per_job(bm25_jobs.collection_source),
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
        fmt=per_job(bm25_jobs.collection_format),
    shell:
        '"$QCPT_PYTHON" "$QCPT_ENTRY" {params.command} --source {input:q} --format {params.fmt} --out {output:q} > {log:q} 2>&1'


rule prepare_topics:
    input:
        topics=per_job(bm25_jobs.topics_source),
        qrels=per_job(bm25_jobs.qrels_source),
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
        json=json_per_job(bm25_jobs.bm25_index_job_params),
    shell:
        '"$QCPT_PYTHON" "$QCPT_ENTRY" {params.command} --collection {input:q} --out {output:q} --threads {threads}'
        " --params {params.json:q} > {log:q} 2>&1"


rule bm25_search:
    input:
        index=per_job(bm25_jobs.topicset_bm25_index),
        topics=P.topics,
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
        json=json_per_job(bm25_jobs.bm25_search_job_params),
    shell:
        '"$QCPT_PYTHON" "$QCPT_ENTRY" {params.command} --index {input.index:q} --topics {input.topics:q} --out {output:q}'
        " --threads {threads} --params {params.json:q} > {log:q} 2>&1"


# Retriever 1's negatives: cut from the dataset's official triples (`--triples`) where it names a
# negatives_file, else from the BM25 run of its training topics (`--run`).
rule bm25_negatives:
    input:
        run=per_job(bm25_jobs.bm25_negatives_source),
        topics=TRAIN_TOPICS,
        qrels=TRAIN_QRELS,
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
        json=as_json(bm25_jobs.bm25_negatives_job_params(config)),
        source_flag=lambda wc: "--triples" if OFFICIAL_TRIPLES(wc) else "--run",
    shell:
        '"$QCPT_PYTHON" "$QCPT_ENTRY" {params.command} {params.source_flag} {input.run:q} --topics {input.topics:q} --qrels {input.qrels:q}'
        " --out {output:q} --params {params.json:q} > {log:q} 2>&1"
