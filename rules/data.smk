# External data by ID: one job per ir_datasets dataset builds its cache (qcpt/corpus/irds/).


# A local rule: it downloads, and cluster compute nodes often have no network. The IDs of one
# download group wait for each other (jobs/data.py), so parallel jobs never build the same cache.
rule irds_cache:
    input:
        unpack(job_inputs("irds_cache")),
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
        uses=job_arg("irds_cache", "uses"),
    shell:
        '"$QCPT_PYTHON" "$QCPT_ENTRY" {params.command} --id {wildcards.irdsid:q} --uses {params.uses} --out {output:q} > {log:q} 2>&1'
