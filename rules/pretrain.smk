# Pre-training: one rule for every schema x context cell. A curriculum cell continues from its
# schema's stage-1 checkpoint (spans, cosine schedule), which all curriculum cells of that schema
# and fraction share.

from qcpt.pretrain import jobs as pretrain_jobs

CONTEXT_QUERIES = per_job(pretrain_jobs.context_queries)  # none for a context without queries


rule pretrain:
    input:
        # passages=P.passages, and queries= the pool file where the context reads queries
        unpack(per_job(pretrain_jobs.training_texts)),
        init=per_job(pretrain_jobs.init_input),  # a stage-1 model, the embedded encoder, or none
    output:
        model=directory(P.pretrain_model),
        log=P.pretrain_log,
    log:
        P.log("pretrain"),
    wildcard_constraints:
        context=cells.CONTEXT_WILDCARD,
    conda:
        "../envs/train.yaml"
    # The job's threads: its family's cpus_per_task in `resources:` (2 where unset).
    threads: resource(config, "pretrain", "cpus_per_task", 2)
    resources:
        **family_resources("pretrain", mem_mb=8000, runtime=600),
    params:
        json=json_per_job(pretrain_jobs.cell_job_params),
        init=per_job(pretrain_jobs.init_model),
        queries=flags("--queries", CONTEXT_QUERIES),
        checkpoints=filled(P.pretrain_checkpoints),
        # the identity's command@version: Snakemake does not record params that read `resources`
        command=version("pretrain.driver"),
        launch=launcher("pretrain.driver"),
        batch=batch(pretrain_jobs.batch),
    # exec: the trainer itself gets SLURM's time-limit signal and saves before the job ends.
    shell:
        'echo {params.batch:q} > {log:q}; OMP_NUM_THREADS={threads} exec "$QCPT_PYTHON" "$QCPT_ENTRY" {params.launch} --passages {input.passages:q}'
        " {params.queries} --init {params.init:q} --out {output.model:q} --checkpoints {params.checkpoints:q}"
        " --log {output.log:q} --params {params.json:q} >> {log:q} 2>&1"
