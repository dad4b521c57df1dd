# Fine-tuning (Tevatron recipe): retriever 1 on BM25 negatives, negatives mined with retriever 1,
# retriever 2 restarting from the same pre-trained encoder on the mined negatives.


rule finetune:
    input:
        train=finetune_train_data,
        collection=finetune_collection,
        init=lambda wc: encoder_model_input(wc.encoder),
    output:
        model=directory(f"{R}/finetune/{{dataset}}/{{encoder}}/{{stage}}/model"),
        log=f"{R}/finetune/{{dataset}}/{{encoder}}/{{stage}}/train_log.json",
    log:
        f"{R}/logs/finetune/{{dataset}}/{{encoder}}/{{stage}}.log",
    params:
        init=lambda wc: encoder_model_dir(wc.encoder),
        json=lambda wc: finetune_params(wc.dataset),
        checkpoints=lambda wc: checkpoint_dir(f"{R}/finetune/{wc.dataset}/{wc.encoder}/{wc.stage}"),
        launch=launcher(finetune_family, "retrieval.finetune"),
        batch=finetune_batch,
    threads: 2
    resources:
        **family_resources(finetune_family, mem_mb=8000, runtime=600),
    conda:
        "../envs/train.yaml"
    shell:
        "echo {params.batch:q} > {log:q}; {CHECKPOINT_RETENTION} OMP_NUM_THREADS={threads} {params.launch} --train {input.train:q}"
        " --collection {input.collection:q} --init {params.init:q} --out {output.model:q}"
        " --checkpoints {params.checkpoints:q} --log {output.log:q} --params {params.json:q} >> {log:q} 2>&1"


rule mine_negatives:
    input:
        run=f"{R}/eval/train-{{dataset}}/{{dataset}}/{{encoder}}/retriever1/run.trec",
        topics=f"{R}/topics/train-{{dataset}}.tsv",
        qrels=f"{R}/topics/train-{{dataset}}.qrels",
        bm25=lambda wc: [f"{R}/finetune/{wc.dataset}/bm25-negatives.jsonl"]
        if config["finetune"].get("negatives", {}).get("merge_bm25") else [],
    output:
        f"{R}/finetune/{{dataset}}/{{encoder}}/mined-negatives.jsonl",
    log:
        f"{R}/logs/finetune/{{dataset}}/{{encoder}}/mine_negatives.log",
    params:
        script=command("retrieval.train_data"),
        json=lambda wc, input: as_json(
            qconfig.mined_negatives_job_params(config, input.bm25[0] if input.bm25 else None)
        ),
    resources:
        **family_resources("default"),
    conda:
        "../envs/cpu.yaml"
    shell:
        "{params.script} --run {input.run:q} --topics {input.topics:q} --qrels {input.qrels:q}"
        " --out {output:q} --params {params.json:q} > {log:q} 2>&1"


# The BEIR retriever of QAC Table 2 (QAC footnote 2; the authors' README points to BEIR's
# train_msmarco_v3.py): trained on sentence-transformers' MS MARCO hard negatives, filtered by
# cross-encoder margin, instead of BM25 negatives.
rule st_hard_negatives:
    input:
        hard_negatives=lambda wc: config["finetune"]["datasets"][wc.dataset]["hard_negatives"],
        topics=f"{R}/topics/train-{{dataset}}.tsv",
    output:
        f"{R}/finetune/{{dataset}}/st-hard-negatives.jsonl",
    log:
        f"{R}/logs/finetune/{{dataset}}/st_hard_negatives.log",
    params:
        script=command("retrieval.train_data"),
        json=lambda wc: as_json(config["finetune"]["datasets"][wc.dataset].get("hard_negatives_params", {})),
    resources:
        **family_resources("default"),
    conda:
        "../envs/cpu.yaml"
    shell:
        "{params.script} --hard-negatives {input.hard_negatives:q} --topics {input.topics:q}"
        " --out {output:q} --params {params.json:q} > {log:q} 2>&1"
