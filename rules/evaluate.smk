# Dense evaluation: encode a collection in shards with a model, FAISS search per topic set (TREC
# run), metrics JSON per run; BM25 runs are scored by the same rule. A collection with
# `encode_shards: 0` has no encode jobs: each search job encodes it in-process (small collections).


rule encode:
    input:
        collection=f"{R}/data/{{collection}}/collection.jsonl",
        model=lambda wc: model_input(wc.modelkey),
    output:
        f"{R}/encode/{{collection}}/{{modelkey}}/shard-{{shard}}-of-{{nshards}}.npz",
    log:
        f"{R}/logs/encode/{{collection}}/{{modelkey}}/shard-{{shard}}-of-{{nshards}}.log",
    wildcard_constraints:
        nshards=r"\d+",
    params:
        script=command("retrieval.encode"),
        model=lambda wc: model_dir(wc.modelkey),
        json=lambda wc: as_json(passage_encode_params(wc.modelkey)),
    threads: 2
    resources:
        **family_resources("encode", mem_mb=8000, runtime=240),
    conda:
        "../envs/train.yaml"
    shell:
        "OMP_NUM_THREADS={threads} {params.script} --model {params.model:q} --collection {input.collection:q}"
        " --shard {wildcards.shard} --num-shards {wildcards.nshards} --out {output:q}"
        " --params {params.json:q} > {log:q} 2>&1"


rule search:
    input:
        shards=lambda wc: encode_shard_paths(collection_of_topicset(wc.topicset), wc.modelkey),
        collection=search_collection_input,
        topics=f"{R}/topics/{{topicset}}.tsv",
        model=lambda wc: model_input(wc.modelkey),
    output:
        f"{R}/eval/{{topicset}}/{{modelkey}}/run.trec",
    log:
        f"{R}/logs/eval/{{topicset}}/{{modelkey}}/search.log",
    params:
        script=command("retrieval.search"),
        model=lambda wc: model_dir(wc.modelkey),
        source=search_source,
        json=dense_search_params,
    threads: 2
    resources:
        **family_resources("encode", mem_mb=8000, runtime=240),
    conda:
        "../envs/train.yaml"
    shell:
        "OMP_NUM_THREADS={threads} {params.script} --model {params.model:q} {params.source}"
        " --topics {input.topics:q} --out {output:q} --params {params.json:q} > {log:q} 2>&1"


rule evaluate:
    input:
        run=evaluate_run,
        qrels=f"{R}/topics/{{evalset}}.qrels",
    output:
        f"{R}/eval/{{evalset}}/{{system}}/metrics.json",
    log:
        f"{R}/logs/eval/{{evalset}}/{{system}}/evaluate.log",
    wildcard_constraints:
        system=r"bm25|zeroshot/.+|[A-Za-z0-9_-]+/.+/retriever[12]",
        evalset=SCORED_EVALSET_RE,
    params:
        script=command("retrieval.evaluate"),
        json=evaluate_params,
    resources:
        **family_resources("default"),
    conda:
        "../envs/cpu.yaml"
    shell:
        "{params.script} --run {input.run:q} --qrels {input.qrels:q} --out {output:q}"
        " --params {params.json:q} > {log:q} 2>&1"


# An evalset that is the mean of others (BEIR CQADupStack = the mean over its 12 sub-forums, each
# retrieved against its own corpus): the members' metrics for the same system, averaged.
rule evaluate_mean:
    input:
        members=lambda wc: [f"{R}/eval/{m}/{wc.system}/metrics.json" for m in qconfig.evalset_members(config, wc.evalset)],
    output:
        f"{R}/eval/{{evalset}}/{{system}}/metrics.json",
    log:
        f"{R}/logs/eval/{{evalset}}/{{system}}/evaluate_mean.log",
    wildcard_constraints:
        system=r"bm25|zeroshot/.+|[A-Za-z0-9_-]+/.+/retriever[12]",
        evalset=MEAN_EVALSET_RE,
    params:
        script=command("retrieval.evaluate:mean"),
        members=lambda wc, input: " ".join(
            "--member " + shlex.quote(f"{m}={path}") for m, path in zip(qconfig.evalset_members(config, wc.evalset), input.members)
        ),
        json=lambda wc: as_json({"measures": qconfig.evalset_measures(config, wc.evalset),
                                 "cell": qconfig.cell_config(config, wc.evalset, wc.system)}),
    resources:
        **family_resources("default"),
    conda:
        "../envs/cpu.yaml"
    shell:
        "{params.script} {params.members} --out {output:q} --params {params.json:q} > {log:q} 2>&1"
