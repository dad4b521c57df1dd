# Pre-training corpus: documents -> Punkt model -> (embedded encoder) -> passages.

from qcpt.corpus.jobs import corpus as corpus_jobs


rule documents:
    input:
        source=corpus_jobs.documents_source(config),
    output:
        P.documents,
    log:
        P.log("documents"),
    conda:
        "../envs/cpu.yaml"
    resources:
        **family_resources("default"),
    params:
        command=version("corpus:documents"),
        fmt=corpus_jobs.documents_format(config),
    shell:
        '"$QCPT_PYTHON" "$QCPT_ENTRY" {params.command} --source {input:q} --format {params.fmt} --out {output:q} > {log:q} 2>&1'


rule train_punkt:
    input:
        documents=P.documents,
    output:
        P.punkt,
    log:
        P.log("train_punkt"),
    conda:
        "../envs/cpu.yaml"
    resources:
        **family_resources("default"),
    params:
        command=version("textmodels:punkt"),
        json=as_json(config.get("punkt", {})),
    shell:
        '"$QCPT_PYTHON" "$QCPT_ENTRY" {params.command} --documents {input:q} --out {output:q} --params {params.json:q} > {log:q} 2>&1'


rule build_encoder:
    input:
        documents=P.documents,
    output:
        directory(P.embedded_encoder),
    log:
        P.log("build_encoder"),
    conda:
        "../envs/train.yaml"
    resources:
        **family_resources("default"),
    params:
        command=version("textmodels:encoder"),
        json=as_json(config["encoder"].get("embedded", {})),
    shell:
        '"$QCPT_PYTHON" "$QCPT_ENTRY" {params.command} --documents {input:q} --out {output:q} --params {params.json:q} > {log:q} 2>&1'


rule passages:
    input:
        documents=P.documents,
        punkt=P.punkt,
        # the initial encoder's tokenizer, when the workflow builds that encoder (the demo)
        tokenizer=workflow_jobs.encoder_init_input(config),
    output:
        P.passages,
    log:
        P.log("passages"),
    conda:
        "../envs/train.yaml"
    # Worker processes (capped at --cores; on a cluster the job's CPUs, the `default` row's
    # cpus_per_task). Not a param: the file is the same for any count, so it never reruns the job.
    threads: resource(config, "default", "cpus_per_task", 4)
    resources:
        **family_resources("default"),
    params:
        command=version("passages"),
        tokenizer=per_job(workflow_jobs.encoder_init_path),
        json=as_json(config.get("passages", {})),
    shell:
        '"$QCPT_PYTHON" "$QCPT_ENTRY" {params.command} --documents {input.documents:q} --punkt {input.punkt:q}'
        " --tokenizer {params.tokenizer:q} --out {output:q} --workers {threads} --params {params.json:q} > {log:q} 2>&1"
