# Reports: a summary table of every metrics file the config asks for, the papers' tables and
# figures (ours beside theirs) from the metrics files those tables need (qcpt/report), and the check
# of the config's expected scores against our runs (qcpt/expected.py).

rule summary:
    input:
        METRICS_TARGETS,
    output:
        md=f"{R}/summary.md",
        csv=f"{R}/summary.csv",
    log:
        f"{R}/logs/summary.log",
    params:
        script=command("summary"),
        root=lambda wc, output: str(Path(output.md).parent),
    resources:
        **family_resources("default"),
    conda:
        "../envs/cpu.yaml"
    shell:
        "{params.script} --root {params.root:q} --metrics {input:q} --out-md {output.md:q}"
        " --out-csv {output.csv:q} > {log:q} 2>&1"


rule check_expected:
    input:
        [qconfig.metrics_path(R, key) for key in EXPECTED],
    output:
        md=f"{R}/reproduction.md",
        json=f"{R}/reproduction.json",
    log:
        f"{R}/logs/check_expected.log",
    params:
        script=command("expected"),
        root=R,
        expected=as_json(EXPECTED),
        tolerance=qexpected.tolerance(config),
    resources:
        **family_resources("default"),
    conda:
        "../envs/cpu.yaml"
    shell:
        "{params.script} --root {params.root:q} --expected {params.expected:q} --tolerance {params.tolerance}"
        " --out-md {output.md:q} --out-json {output.json:q} > {log:q} 2>&1"


rule report:
    input:
        REPORT_INPUTS,
    output:
        [report_output(e) for e in REPORT_ENTRIES],
        index=f"{REPORT_DIR}/index.md",
    log:
        f"{R}/logs/report.log",
    params:
        script=command("report.build"),
        out=lambda wc, output: str(Path(output.index).parent),
        config=as_json({k: v for k, v in config.items() if k != "resources"}),
    resources:
        **family_resources("default"),
    conda:
        "../envs/cpu.yaml"
    shell:
        "{params.script} --config-json {params.config:q} --out {params.out:q} --metrics {input:q} > {log:q} 2>&1"
