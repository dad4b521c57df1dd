# Generated queries: a seeded passage order cut into shards; one generation job per shard and
# generator (a pool of queries per passage); per (query count, amount) a selection over a prefix of
# shards, so smaller curriculum amounts reuse the shards of larger ones.

rule passage_order:
    input:
        rules.passages.output,
    output:
        f"{R}/corpus/{{corpus}}/passage-order.txt",
    log:
        f"{R}/logs/corpus/{{corpus}}/passage_order.log",
    params:
        script=command("querygen.sharding"),
        json=as_json({"seed": config["querygen"].get("order_seed", 42)}),
    resources:
        **family_resources("default"),
    conda:
        "../envs/cpu.yaml"
    shell:
        "{params.script} --passages {input:q} --out {output:q} --params {params.json:q} > {log:q} 2>&1"


rule prepare_generator:
    """Build or convert a generator's weights: train the demo doc2query T5, or dequantise a GGUF once."""
    input:
        unpack(lambda wc: doc2query_inputs(wc.gen)),
    output:
        directory(f"{R}/generators/{{gen}}/model"),
    log:
        f"{R}/logs/generators/{{gen}}.log",
    params:
        cmd=lambda wc, input, output: generator_prepare_command(wc.gen, input, output),
    resources:
        **family_resources("generate", mem_mb=8000, runtime=120),
    conda:
        "../envs/train.yaml"
    shell:
        "{CHECKPOINT_RETENTION} {params.cmd} > {log:q} 2>&1"


rule generate_queries:
    input:
        passages=rules.passages.output,
        order=rules.passage_order.output,
        model=generator_model_input,
    output:
        tsv=f"{R}/corpus/{{corpus}}/queries/{{gen}}/shards/shard-{{shard}}.tsv",
        stats=f"{R}/corpus/{{corpus}}/queries/{{gen}}/shards/shard-{{shard}}.stats.json",
    log:
        f"{R}/logs/corpus/{{corpus}}/queries/{{gen}}/shard-{{shard}}.log",
    params:
        python=lambda wc: command("querygen.driver", config["generators"][wc.gen].get("python", PY)),
        spec=lambda wc: as_json(generator_spec(wc.gen)),
        shard_size=lambda wc: qconfig.shard_size(config, wc.gen),
    resources:
        **family_resources(generator_family, mem_mb=8000, runtime=240),
    conda:
        generator_env
    shell:
        "{params.python} --passages {input.passages:q} --order {input.order:q}"
        " --shard {wildcards.shard} --shard-size {params.shard_size} --generator {params.spec:q}"
        " --out {output.tsv:q} --stats {output.stats:q} > {log:q} 2>&1"


rule index_passages:
    """BM25 index of the passages, once per corpus: the round-trip consistency@k of every selection."""
    input:
        rules.passages.output,
    output:
        directory(f"{R}/corpus/{{corpus}}/bm25-passages"),
    log:
        f"{R}/logs/corpus/{{corpus}}/index_passages.log",
    params:
        script=command("querygen.consistency:index"),
    resources:
        **family_resources("default"),
    conda:
        "../envs/pyserini.yaml"
    shell:
        "{params.script} --passages {input:q} --out {output:q} > {log:q} 2>&1"


rule select_queries:
    input:
        shards=query_shards,
        order=rules.passage_order.output,
        index=consistency_index_input,
    output:
        tsv=f"{R}/corpus/{{corpus}}/queries/{{gen}}/c{{qcount}}-n{{amount}}.tsv",
        stats=f"{R}/corpus/{{corpus}}/queries/{{gen}}/c{{qcount}}-n{{amount}}.stats.json",
    log:
        f"{R}/logs/corpus/{{corpus}}/queries/{{gen}}/c{{qcount}}-n{{amount}}.log",
    params:
        script=command("querygen.selection"),
        json=lambda wc: as_json(
            {"amount": None if wc.amount == "all" else int(wc.amount),
             "expected_passages": config["corpus"]["num_passages"] if wc.amount == "all" else None}
        ),
        consistency=lambda wc, input: consistency_args(input),
    resources:
        **family_resources("default"),
    conda:
        "../envs/pyserini.yaml" if CONSISTENCY["enabled"] else "../envs/cpu.yaml"
    shell:
        "{params.script} --shards {input.shards:q} --order {input.order:q} --count {wildcards.qcount}"
        " --params {params.json:q} --out {output.tsv:q} --stats {output.stats:q}{params.consistency} > {log:q} 2>&1"
