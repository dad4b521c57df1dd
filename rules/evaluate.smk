# Dense evaluation: encode a collection in shards with a model, FAISS search per topic set (TREC
# run), metrics JSON per run; BM25 runs are scored by the same rule. A collection with
# `encode_shards: 0` has no encode jobs: each search job encodes it in-process (small collections).

SCORED_EVALSET, MEAN_EVALSET = cells.evalset_wildcards(
    [name for name, spec in config["evalsets"].items() if "mean_of" in spec]
)


rule encode:
    input:
        unpack(job_inputs("encode")),
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
        model=job_arg("encode", "model"),
        json=job_params("encode"),
    shell:
        'OMP_NUM_THREADS={threads} "$QCPT_PYTHON" "$QCPT_ENTRY" {params.command} --model {params.model:q} --collection {input.collection:q}'
        " --shard {wildcards.shard} --num-shards {wildcards.nshards} --out {output:q}"
        " --params {params.json:q} > {log:q} 2>&1"


rule search:
    input:
        unpack(job_inputs("search")),
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
        model=job_arg("search", "model"),
        source=job_arg("search", "source"),
        json=job_params("search"),
    shell:
        'OMP_NUM_THREADS={threads} "$QCPT_PYTHON" "$QCPT_ENTRY" {params.command} --model {params.model:q} {params.source}'
        " --topics {input.topics:q} --out {output:q} --params {params.json:q} > {log:q} 2>&1"


rule evaluate:
    input:
        unpack(job_inputs("evaluate")),
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
        json=job_params("evaluate"),
    shell:
        '"$QCPT_PYTHON" "$QCPT_ENTRY" {params.command} --run {input.run:q} --qrels {input.qrels:q} --out {output:q}'
        " --params {params.json:q} > {log:q} 2>&1"


# An evalset that is the mean of others (BEIR CQADupStack = the mean over its 12 sub-forums, each
# retrieved against its own corpus): the members' metrics for the same system, averaged.
rule evaluate_mean:
    input:
        unpack(job_inputs("evaluate_mean")),
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
        members=job_arg("evaluate_mean", "members"),
        json=job_params("evaluate_mean"),
    shell:
        '"$QCPT_PYTHON" "$QCPT_ENTRY" {params.command} {params.members} --out {output:q} --params {params.json:q} > {log:q} 2>&1'
