# Retrieval corpora, topics/qrels, BM25 (pyserini/Lucene) runs and BM25 negatives.


rule prepare_collection:
    input:
        lambda wc: config["collections"][wc.collection]["source"],
    output:
        f"{R}/data/{{collection}}/collection.jsonl",
    log:
        f"{R}/logs/data/{{collection}}/collection.log",
    params:
        script=command("corpus:collection"),
        fmt=lambda wc: config["collections"][wc.collection].get("format", "auto"),
    resources:
        **family_resources("default"),
    conda:
        "../envs/cpu.yaml"
    shell:
        "{params.script} --source {input:q} --format {params.fmt} --out {output:q} > {log:q} 2>&1"


rule prepare_topics:
    input:
        topics=lambda wc: TOPIC_SETS[wc.topicset]["topics"],
        qrels=lambda wc: TOPIC_SETS[wc.topicset]["qrels"],
    output:
        topics=f"{R}/topics/{{topicset}}.tsv",
        qrels=f"{R}/topics/{{topicset}}.qrels",
    log:
        f"{R}/logs/topics/{{topicset}}.log",
    resources:
        **family_resources("default"),
    conda:
        "../envs/cpu.yaml"
    params:
        script=command("corpus:topics"),
    shell:
        "{params.script} --topics {input.topics:q} --qrels {input.qrels:q}"
        " --out-topics {output.topics:q} --out-qrels {output.qrels:q} > {log:q} 2>&1"


rule bm25_index:
    input:
        f"{R}/data/{{collection}}/collection.jsonl",
    output:
        directory(f"{R}/data/{{collection}}/bm25-index"),
    log:
        f"{R}/logs/data/{{collection}}/bm25_index.log",
    threads: 2
    resources:
        **family_resources("bm25", mem_mb=8000, runtime=240),
    conda:
        "../envs/pyserini.yaml"
    params:
        script=command("retrieval.bm25:index"),
    shell:
        "{params.script} --collection {input:q} --out {output:q} --threads {threads} > {log:q} 2>&1"


rule bm25_search:
    input:
        index=lambda wc: f"{R}/data/{TOPIC_SETS[wc.topicset]['collection']}/bm25-index",
        topics=f"{R}/topics/{{topicset}}.tsv",
    output:
        f"{R}/bm25/{{topicset}}.trec",
    log:
        f"{R}/logs/bm25/{{topicset}}.log",
    params:
        script=command("retrieval.bm25:search"),
        json=bm25_search_params,
    threads: 2
    resources:
        **family_resources("bm25", mem_mb=8000, runtime=240),
    conda:
        "../envs/pyserini.yaml"
    shell:
        "{params.script} --index {input.index:q} --topics {input.topics:q} --out {output:q}"
        " --params {params.json:q} > {log:q} 2>&1"


rule bm25_negatives:
    input:
        run=f"{R}/bm25/train-{{dataset}}.trec",
        topics=f"{R}/topics/train-{{dataset}}.tsv",
        qrels=f"{R}/topics/train-{{dataset}}.qrels",
    output:
        f"{R}/finetune/{{dataset}}/bm25-negatives.jsonl",
    log:
        f"{R}/logs/finetune/{{dataset}}/bm25_negatives.log",
    params:
        script=command("retrieval.train_data"),
        json=as_json(qconfig.bm25_negatives_job_params(config)),
    resources:
        **family_resources("default"),
    conda:
        "../envs/cpu.yaml"
    shell:
        "{params.script} --run {input.run:q} --topics {input.topics:q} --qrels {input.qrels:q}"
        " --out {output:q} --params {params.json:q} > {log:q} 2>&1"
