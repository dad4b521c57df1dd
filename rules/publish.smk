# A trained model's card (README.md and loss.png beside its model folder, rendered from the run's
# records and every metrics file the config builds for it) and its publish bundle. The card is an
# artifact of its own, not part of the training job's output: a new evaluation re-renders it
# without retraining. It sits beside model/, not in it: Snakemake refuses an output inside another
# job's directory output, and the model folder's checksum is part of the identity of the runs
# that start from it (fine-tuning, a curriculum's stage 2). The bundle (rule publish) copies the
# model with its card at the root, ready for `huggingface-cli upload`; it is built on request only.

from qcpt.publish import jobs as publish_jobs

CARD_TARGETS = publish_jobs.card_targets(config)


rule model_card:
    input:
        model=P.trained_model,
        log=P.trained_log,
        metrics=per_job(publish_jobs.metrics_of),  # every metrics file the config builds for it
    output:
        card=P.model_card,
        plot=P.loss_curve,
    log:
        P.log("model_card"),
    wildcard_constraints:
        trained=publish_jobs.TRAINED_WILDCARD,
    conda:
        "../envs/cpu.yaml"
    resources:
        **family_resources("default"),
    params:
        command=version("card"),
        root=lambda wc: R,  # a function: a fixed path prefix of the inputs is a linter warning
        json=json_per_job(publish_jobs.card_job_params),
    shell:
        '"$QCPT_PYTHON" "$QCPT_ENTRY" {params.command} --model {input.model:q} --log {input.log:q} --metrics {input.metrics:q}'
        " --root {params.root:q} --params {params.json:q} --out-card {output.card:q}"
        " --out-plot {output.plot:q} > {log:q} 2>&1"


rule publish:
    input:
        model=P.trained_model,
        log=P.trained_log,
        metrics=per_job(publish_jobs.metrics_of),
        card=P.model_card,
        loss=P.loss_curve,
        runs=per_job(publish_jobs.scored_runs),
    output:
        directory(P.publish_bundle),
    log:
        P.log("publish"),
    wildcard_constraints:
        trained=publish_jobs.TRAINED_WILDCARD,
    conda:
        "../envs/cpu.yaml"
    resources:
        **family_resources("default"),
    params:
        command=version("publish"),
        root=lambda wc: R,  # a function: a fixed path prefix of the inputs is a linter warning
        json=json_per_job(publish_jobs.publish_job_params),
    shell:
        '"$QCPT_PYTHON" "$QCPT_ENTRY" {params.command} --model {input.model:q} --card {input.card:q} --plot {input.loss:q} --log {input.log:q}'
        " --metrics {input.metrics:q} --runs {input.runs:q} --root {params.root:q} --params {params.json:q}"
        " --out {output:q} > {log:q} 2>&1"
