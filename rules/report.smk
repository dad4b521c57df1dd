# Reports: a summary table of every metrics file the config asks for, and the papers' tables and
# figures (ours beside theirs) from the metrics files those tables need (qcpt/report).

rule summary:
    input:
        METRICS_TARGETS,
    output:
        md=f"{R}/summary.md",
        csv=f"{R}/summary.csv",
    log:
        f"{R}/logs/summary.log",
    params:
        script=script("summary"),
        root=lambda wc, output: str(Path(output.md).parent),
    resources:
        **family_resources("default"),
    conda:
        "../envs/cpu.yaml"
    shell:
        "{params.script} --root {params.root:q} --metrics {input:q} --out-md {output.md:q}"
        " --out-csv {output.csv:q} > {log:q} 2>&1"


rule report:
    input:
        REPORT_INPUTS,
    output:
        [report_output(e) for e in REPORT_ENTRIES],
        index=f"{REPORT_DIR}/index.md",
    log:
        f"{R}/logs/report.log",
    params:
        script=script("report"),
        out=lambda wc, output: str(Path(output.index).parent),
        config=as_json({k: v for k, v in config.items() if k != "resources"}),
    resources:
        **family_resources("default"),
    conda:
        "../envs/cpu.yaml"
    shell:
        "{params.script} --config-json {params.config:q} --out {params.out:q} --metrics {input:q} > {log:q} 2>&1"
