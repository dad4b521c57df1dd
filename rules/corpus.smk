# Pre-training corpus: documents -> Punkt model -> (embedded encoder) -> passages.


rule documents:
    input:
        unpack(job_inputs("documents")),
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
        fmt=job_arg("documents", "fmt"),
    shell:
        '"$QCPT_PYTHON" "$QCPT_ENTRY" {params.command} --source {input:q} --format {params.fmt} --out {output:q} > {log:q} 2>&1'


rule train_punkt:
    input:
        unpack(job_inputs("train_punkt")),
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
        json=job_params("train_punkt"),
    shell:
        '"$QCPT_PYTHON" "$QCPT_ENTRY" {params.command} --documents {input:q} --out {output:q} --params {params.json:q} > {log:q} 2>&1'


rule build_encoder:
    input:
        unpack(job_inputs("build_encoder")),
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
        json=job_params("build_encoder"),
    shell:
        '"$QCPT_PYTHON" "$QCPT_ENTRY" {params.command} --documents {input:q} --out {output:q} --params {params.json:q} > {log:q} 2>&1'


rule passages:
    input:
        unpack(job_inputs("passages")),
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
        tokenizer=job_arg("passages", "tokenizer"),
        json=job_params("passages"),
    shell:
        '"$QCPT_PYTHON" "$QCPT_ENTRY" {params.command} --documents {input.documents:q} --punkt {input.punkt:q}'
        " --tokenizer {params.tokenizer:q} --out {output:q} --workers {threads} --params {params.json:q} > {log:q} 2>&1"
