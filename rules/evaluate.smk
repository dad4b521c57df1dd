# Dense evaluation: encode a collection in shards with a model, FAISS search per topic set (TREC
# run), metrics JSON per run; BM25 runs are scored by the same rule. A collection with
# `encode_shards: 0` has no encode jobs: each search job encodes it in-process (small collections).

from qcpt.retrieval.jobs import evaluate as evaluate_jobs

SCORED_EVALSET, MEAN_EVALSET = cells.evalset_wildcards(
    [name for name, spec in config["evalsets"].items() if "mean_of" in spec]
)
ENCODED_SHARDS = per_job(evaluate_jobs.encoded_shards)  # none where the collection is unsharded
UNSHARDED_COLLECTION = per_job(evaluate_jobs.unsharded_collection)  # the search job encodes it
MEMBER_METRICS = per_job(evaluate_jobs.member_metrics)  # a mean evalset's {member: metrics file}


rule encode:
    input:
        collection=P.collection,
        model=per_job(evaluate_jobs.model_inputs),
    output:
        P.encode_shard,
    log:
        P.log("encode"),
    wildcard_constraints:
        nshards=r"\d+",
    conda:
        "../envs/train.yaml"
    # The job's threads: its family's cpus_per_task in `resources:` (2 where unset).
    threads: resource(config, "encode", "cpus_per_task", 2)
    resources:
        **family_resources("encode", mem_mb=8000, runtime=240),
    params:
        command=version("retrieval.encode"),
        model=per_job(evaluate_jobs.model_path),
        json=json_per_job(evaluate_jobs.encode_shard_job_params),
    shell:
        'OMP_NUM_THREADS={threads} "$QCPT_PYTHON" "$QCPT_ENTRY" {params.command} --model {params.model:q} --collection {input.collection:q}'
        " --shard {wildcards.shard} --num-shards {wildcards.nshards} --out {output:q}"
        " --params {params.json:q} > {log:q} 2>&1"


rule search:
    input:
        shards=ENCODED_SHARDS,
        collection=UNSHARDED_COLLECTION,
        topics=P.topics,
        model=per_job(evaluate_jobs.model_inputs),
    output:
        P.dense_run,
    log:
        P.log("search"),
    conda:
        "../envs/train.yaml"
    # The job's threads: its family's cpus_per_task in `resources:` (2 where unset).
    threads: resource(config, "encode", "cpus_per_task", 2)
    resources:
        **family_resources("encode", mem_mb=8000, runtime=240),
    params:
        command=version("retrieval.search"),
        model=per_job(evaluate_jobs.model_path),
        # the encoded shards, or the collection to encode in the job
        source=flags("--shards", ENCODED_SHARDS, "--collection", UNSHARDED_COLLECTION),
        json=json_per_job(evaluate_jobs.dense_search_job_params),
    shell:
        'OMP_NUM_THREADS={threads} "$QCPT_PYTHON" "$QCPT_ENTRY" {params.command} --model {params.model:q} {params.source}'
        " --topics {input.topics:q} --out {output:q} --params {params.json:q} > {log:q} 2>&1"


rule evaluate:
    input:
        run=per_job(evaluate_jobs.scored_run),  # the BM25 or the dense run
        qrels=P.of("qrels", topicset="{evalset}"),
    output:
        P.metrics,
    log:
        P.log("evaluate"),
    wildcard_constraints:
        system=cells.SYSTEM_WILDCARD,
        evalset=SCORED_EVALSET,
    conda:
        "../envs/cpu.yaml"
    resources:
        **family_resources("default"),
    params:
        command=version("retrieval.evaluate"),
        json=json_per_job(evaluate_jobs.evaluate_job_params),
    shell:
        '"$QCPT_PYTHON" "$QCPT_ENTRY" {params.command} --run {input.run:q} --qrels {input.qrels:q} --out {output:q}'
        " --params {params.json:q} > {log:q} 2>&1"


# An evalset that is the mean of others (BEIR CQADupStack = the mean over its 12 sub-forums, each
# retrieved against its own corpus): the members' metrics for the same system, averaged.
rule evaluate_mean:
    input:
        members=lambda wc: list(MEMBER_METRICS(wc).values()),
    output:
        P.metrics,
    log:
        P.log("evaluate_mean"),
    wildcard_constraints:
        system=cells.SYSTEM_WILDCARD,
        evalset=MEAN_EVALSET,
    conda:
        "../envs/cpu.yaml"
    resources:
        **family_resources("default"),
    params:
        command=version("retrieval.evaluate:mean"),
        members=name_value_args(MEMBER_METRICS, option="--member"),  # --member NAME=metrics.json ...
        json=json_per_job(evaluate_jobs.mean_job_params),
    shell:
        '"$QCPT_PYTHON" "$QCPT_ENTRY" {params.command} {params.members} --out {output:q} --params {params.json:q} > {log:q} 2>&1'
