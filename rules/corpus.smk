# Pre-training corpus: documents -> Punkt model -> (embedded encoder) -> passages.


rule documents:
    input:
        config["corpus"]["source"],
    output:
        f"{R}/corpus/{{corpus}}/documents.jsonl",
    log:
        f"{R}/logs/corpus/{{corpus}}/documents.log",
    params:
        script=command("corpus:documents"),
        fmt=config["corpus"].get("format", "auto"),
    resources:
        **family_resources("default"),
    conda:
        "../envs/cpu.yaml"
    shell:
        "{params.script} --source {input:q} --format {params.fmt} --out {output:q} > {log:q} 2>&1"


rule train_punkt:
    input:
        rules.documents.output,
    output:
        f"{R}/corpus/{{corpus}}/punkt.pickle",
    log:
        f"{R}/logs/corpus/{{corpus}}/punkt.log",
    params:
        script=command("textmodels:punkt"),
        json=as_json(config.get("punkt", {})),
    resources:
        **family_resources("default"),
    conda:
        "../envs/cpu.yaml"
    shell:
        "{params.script} --documents {input:q} --out {output:q} --params {params.json:q} > {log:q} 2>&1"


rule build_encoder:
    input:
        rules.documents.output,
    output:
        directory(f"{R}/corpus/{{corpus}}/embedded-encoder"),
    log:
        f"{R}/logs/corpus/{{corpus}}/build_encoder.log",
    params:
        script=command("textmodels:encoder"),
        json=as_json(config["encoder"].get("embedded", {})),
    resources:
        **family_resources("default"),
    conda:
        "../envs/train.yaml"
    shell:
        "{params.script} --documents {input:q} --out {output:q} --params {params.json:q} > {log:q} 2>&1"


rule passages:
    input:
        documents=rules.documents.output,
        punkt=rules.train_punkt.output,
        tokenizer=encoder_init_input(),
    output:
        f"{R}/corpus/{{corpus}}/passages.jsonl",
    log:
        f"{R}/logs/corpus/{{corpus}}/passages.log",
    params:
        script=command("passages"),
        tokenizer=lambda wc, input: input.tokenizer or encoder_init_path(),
        json=as_json(config.get("passages", {})),
    resources:
        **family_resources("default"),
    conda:
        "../envs/train.yaml"
    shell:
        "{params.script} --documents {input.documents:q} --punkt {input.punkt:q}"
        " --tokenizer {params.tokenizer:q} --out {output:q} --params {params.json:q} > {log:q} 2>&1"
