# Reports: a summary table of every metrics file the config asks for.


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
    conda:
        "../envs/cpu.yaml"
    shell:
        "{params.script} --root {params.root:q} --metrics {input:q} --out-md {output.md:q}"
        " --out-csv {output.csv:q} 2> {log:q}"
