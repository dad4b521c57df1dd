# Fine-tuning (Tevatron recipe): retriever 1 on BM25 negatives, negatives mined with retriever 1,
# retriever 2 restarting from the same pre-trained encoder on the mined negatives.

from qcpt.retrieval.jobs import finetune as finetune_jobs

FINETUNE_FAMILY = per_job(finetune_jobs.finetune_family)  # a dataset's row of `resources:`
# Retriever 1's run on the dataset's training topics: the candidates its negatives are mined from.
RETRIEVER1_TRAIN_RUN = P.of(
    "dense_run",
    topicset=grid.train_topicset("{dataset}"),
    modelkey=cells.model_key("{dataset}", "{encoder}", "retriever1").key,
)


rule finetune:
    input:
        train=per_job(finetune_jobs.training_data),
        collection=per_job(finetune_jobs.dataset_collection),
        init=per_job(finetune_jobs.init_inputs),
    output:
        model=directory(P.finetune_model),
        log=P.finetune_log,
    log:
        P.log("finetune"),
    conda:
        "../envs/train.yaml"
    # The job's threads: its family's cpus_per_task in `resources:` (2 where unset).
    threads: lambda wc: resource(config, FINETUNE_FAMILY(wc), "cpus_per_task", 2)
    resources:
        **family_resources(FINETUNE_FAMILY, mem_mb=8000, runtime=600),
    params:
        init=per_job(finetune_jobs.init_model),
        json=json_per_job(finetune_jobs.finetune_job_params),
        checkpoints=filled(P.finetune_checkpoints),
        # the identity's command@version: Snakemake does not record params that read `resources`
        command=version("retrieval.finetune.driver"),
        launch=launcher("retrieval.finetune.driver"),
        batch=batch(finetune_jobs.batch),
    # exec: the trainer itself gets SLURM's time-limit signal and saves before the job ends.
    shell:
        'echo {params.batch:q} > {log:q}; OMP_NUM_THREADS={threads} exec "$QCPT_PYTHON" "$QCPT_ENTRY" {params.launch} --train {input.train:q}'
        " --collection {input.collection:q} --init {params.init:q} --out {output.model:q}"
        " --checkpoints {params.checkpoints:q} --log {output.log:q} --params {params.json:q} >> {log:q} 2>&1"


rule mine_negatives:
    input:
        run=RETRIEVER1_TRAIN_RUN,
        topics=TRAIN_TOPICS,
        qrels=TRAIN_QRELS,
        bm25=per_job(finetune_jobs.merged_bm25_negatives),
    output:
        P.mined_negatives,
    log:
        P.log("mine_negatives"),
    conda:
        "../envs/cpu.yaml"
    resources:
        **family_resources("default"),
    params:
        command=version("retrieval.train_data"),
        json=json_per_job(finetune_jobs.mining_job_params),
    shell:
        '"$QCPT_PYTHON" "$QCPT_ENTRY" {params.command} --run {input.run:q} --topics {input.topics:q} --qrels {input.qrels:q}'
        " --out {output:q} --params {params.json:q} > {log:q} 2>&1"


# The BEIR retriever of QAC Table 2 (QAC footnote 2; the authors' README points to BEIR's
# train_msmarco_v3.py): trained on sentence-transformers' MS MARCO hard negatives, filtered by
# cross-encoder margin, instead of BM25 negatives.
rule st_hard_negatives:
    input:
        hard_negatives=per_job(finetune_jobs.hard_negatives_file),
        topics=TRAIN_TOPICS,
    output:
        P.st_hard_negatives,
    log:
        P.log("st_hard_negatives"),
    conda:
        "../envs/cpu.yaml"
    resources:
        **family_resources("default"),
    params:
        command=version("retrieval.train_data"),
        json=json_per_job(finetune_jobs.hard_negatives_job_params),
    shell:
        '"$QCPT_PYTHON" "$QCPT_ENTRY" {params.command} --hard-negatives {input.hard_negatives:q} --topics {input.topics:q}'
        " --out {output:q} --params {params.json:q} > {log:q} 2>&1"


# A dataset trained on a hard-negatives file (QAC Table 2's BEIR retriever, BEIR's
# train_msmarco_v3.py: one GPU, batch 75) runs as a rule of its own, so `--set-resources
# finetune:gpu=N` resizes the Tevatron jobs only (75 does not split over 2 GPUs);
# `--set-resources finetune_beir:gpu=N` resizes these.
use rule finetune as finetune_beir with:
    wildcard_constraints:
        dataset=grid.hard_negatives_datasets_pattern(config),


ruleorder: finetune_beir > finetune
