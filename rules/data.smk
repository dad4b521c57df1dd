# External data by ID: one job per ir_datasets dataset builds its cache (qcpt/corpus/irds/).

from qcpt.corpus.jobs import data as data_jobs

IRDS_USES = data_jobs.irds_uses(config)  # dataset ID -> what the config reads of it


# A local rule: it downloads, and cluster compute nodes often have no network. The IDs of one
# download group wait for each other (jobs/data.py), so parallel jobs never build the same cache.
rule irds_cache:
    input:
        after=per_job(data_jobs.previous_in_download_group),
    output:
        P.irds_dataset,
    log:
        P.log("irds_cache"),
    wildcard_constraints:
        irdsid=".+",
    localrule: True
    conda:
        "../envs/cpu.yaml"
    resources:
        **family_resources("default"),
    params:
        command=version("irds:cache"),
        uses=lambda wc: ",".join(IRDS_USES.get(wc.irdsid, [])),
    shell:
        '"$QCPT_PYTHON" "$QCPT_ENTRY" {params.command} --id {wildcards.irdsid:q} --uses {params.uses} --out {output:q} > {log:q} 2>&1'
