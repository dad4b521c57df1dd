"""The workflow layer: what the config means as cells, files and jobs (no Snakemake imported).

- :mod:`.cells` — the names of the grid's cells (contexts, encoder tags, model keys, metrics cells):
  built and parsed here only, and the Snakefile's wildcard constraints;
- :mod:`.paths` — one template per artifact under ``results``: the rules' ``output:`` and every reader;
- :mod:`.grid` — a config's cells and targets (the DAG's leaves);
- :mod:`.defaults` — what an optional config key means when left out, in one table;
- :mod:`.jobs` — what the stages' job functions share (the models a job reads, ``--params`` as
  JSON); each stage's own are its ``jobs`` module (``qcpt/pretrain/jobs.py``,
  ``qcpt/retrieval/jobs/``), one pure function per value a rule cannot read off a template.

Layering: below it are only light modules (qcpt.core.params, the shard arithmetic, the report's table
definitions, and, where a batch or a job parameter's default is read, the commands' parameter
dataclasses: no torch); above it are qcpt.config (validation) and rules/common.smk, the glue to Snakemake.
"""
