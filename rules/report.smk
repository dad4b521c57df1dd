# Reports: a summary table of every metrics file the config asks for, the papers' tables and
# figures (ours beside theirs) from the metrics files those tables need (qcpt/report), and the check
# of the config's expected scores against our runs (qcpt/report/expected.py).

from qcpt.report import jobs as report_jobs

from qcpt.report import expected as qexpected  # noqa: E402
from qcpt import report as qreport  # noqa: E402

EXPECTED = qexpected.expected_scores(config)
EXPECTED_TARGETS = [P.reproduction_md] if EXPECTED else []
# Its inputs are the metrics files its tables need that this config also builds, so every input
# has a producer; cells outside the grid show as missing in the tables, they never fail the job.
REPORT_OUTPUTS = report_jobs.report_outputs(config)
REPORT_TARGETS = [path for path, _ in REPORT_OUTPUTS] + [P.report_index]
AUDIT_TARGETS = report_jobs.audit_targets(config)
AUDIT_TOPICS = report_jobs.audit_topics(config)  # {topic set: topics file}, checked for leakage


rule audit_queries:
    """One generated-query file's audit: duplicates, copies, lengths, leakage into topic sets."""
    input:
        queries=P.queries,
        passages=P.passages,
        stats=per_job(report_jobs.audited_shard_stats),
        topics=list(AUDIT_TOPICS.values()),
    output:
        P.queries_audit,
    log:
        P.log("audit_queries"),
    conda:
        "../envs/cpu.yaml"
    # The job's threads (worker processes reading the file): the default family's cpus_per_task (2 where unset).
    threads: resource(config, "default", "cpus_per_task", 2)
    resources:
        **family_resources("default"),
    params:
        command=version("querygen.audit"),
        topics=name_value_args(AUDIT_TOPICS),  # NAME=topics.tsv ...
        training=flags("--training", report_jobs.audit_training_topics(config)),
    shell:
        '"$QCPT_PYTHON" "$QCPT_ENTRY" {params.command} --queries {input.queries:q} --passages {input.passages:q} --count {wildcards.qcount}'
        " --shard-stats {input.stats:q} --topics {params.topics} {params.training} --workers {threads}"
        " --out {output:q} > {log:q} 2>&1"


rule summary:
    input:
        METRICS_TARGETS,
    output:
        md=P.summary_md,
        csv=P.summary_csv,
    log:
        P.log("summary"),
    conda:
        "../envs/cpu.yaml"
    resources:
        **family_resources("default"),
    params:
        command=version("summary"),
        root=lambda wc, output: str(Path(output.md).parent),
    shell:
        '"$QCPT_PYTHON" "$QCPT_ENTRY" {params.command} --root {params.root:q} --metrics {input:q} --out-md {output.md:q}'
        " --out-csv {output.csv:q} > {log:q} 2>&1"


rule check_expected:
    input:
        [grid.metrics_path(R, key) for key in EXPECTED],
    output:
        md=P.reproduction_md,
        json=P.reproduction_json,
    log:
        P.log("check_expected"),
    conda:
        "../envs/cpu.yaml"
    resources:
        **family_resources("default"),
    params:
        command=version("expected"),
        root=lambda wc, output: str(Path(output.md).parent),
        expected=as_json(EXPECTED),
        tolerance=qexpected.tolerance(config),
    shell:
        '"$QCPT_PYTHON" "$QCPT_ENTRY" {params.command} --root {params.root:q} --expected {params.expected:q} --tolerance {params.tolerance}'
        " --out-md {output.md:q} --out-json {output.json:q} > {log:q} 2>&1"


rule report:
    input:
        metrics=qreport.metrics_inputs(config),
        audits=AUDIT_TARGETS,
    output:
        [report(path, **shown) if shown else path for path, shown in REPORT_OUTPUTS],
        index=P.report_index,
    log:
        P.log("report"),
    conda:
        "../envs/cpu.yaml"
    resources:
        **family_resources("default"),
    params:
        command=version("report.build"),
        out=lambda wc, output: str(Path(output.index).parent),
        config=as_json(identity_config(config)),
    shell:
        '"$QCPT_PYTHON" "$QCPT_ENTRY" {params.command} --config-json {params.config:q} --out {params.out:q} --metrics {input.metrics:q}'
        " --audits {input.audits:q} > {log:q} 2>&1"
