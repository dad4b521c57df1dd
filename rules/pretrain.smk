# Pre-training: one rule for every schema x context cell. A curriculum cell continues from its
# schema's stage-1 checkpoint (spans, cosine schedule), which all curriculum cells of that schema
# and fraction share.


rule pretrain:
    input:
        unpack(pretrain_inputs),
    output:
        model=directory(f"{R}/pretrain/{{corpus}}/{{schema}}/{{context}}/model"),
        log=f"{R}/pretrain/{{corpus}}/{{schema}}/{{context}}/train_log.json",
    log:
        f"{R}/logs/pretrain/{{corpus}}/{{schema}}/{{context}}.log",
    wildcard_constraints:
        context=r"[A-Za-z0-9_.-]+",
    params:
        json=pretrain_params,
        init=pretrain_init,
        queries=lambda wc, input: "--queries " + shlex.quote(input.queries) if "queries" in input.keys() else "",
        checkpoints=lambda wc: checkpoint_dir(f"{R}/pretrain/{wc.corpus}/{wc.schema}/{wc.context}"),
        launch=launcher("pretrain", "pretrain.driver"),
        batch=pretrain_batch,
    threads: 2
    resources:
        **family_resources("pretrain", mem_mb=8000, runtime=600),
    conda:
        "../envs/train.yaml"
    shell:
        "echo {params.batch:q} > {log:q}; {CHECKPOINT_RETENTION} OMP_NUM_THREADS={threads} {params.launch} --passages {input.passages:q}"
        " {params.queries} --init {params.init:q} --out {output.model:q} --checkpoints {params.checkpoints:q}"
        " --log {output.log:q} --params {params.json:q} >> {log:q} 2>&1"
