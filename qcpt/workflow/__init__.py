"""The workflow layer: what the config means as cells, files and jobs (no Snakemake imported).

- :mod:`.cells` — the names of the grid's cells (contexts, encoder tags, model keys, metrics cells):
  built and parsed here only, and the Snakefile's wildcard constraints;
- :mod:`.paths` — one template per artifact under ``results``: the rules' ``output:`` and every reader;
- :mod:`.grid` — a config's cells and targets (the DAG's leaves);
- :mod:`.defaults` — what an optional config key means when left out, in one table;
- :mod:`.jobs` — one pure function per rule: its inputs, ``--params`` and command-line values.

Layering: below it are only light modules (qcpt.core.params, the shard arithmetic, the report's table
definitions, and, where a batch or a job parameter's default is read, the commands' parameter
dataclasses: no torch); above it are qcpt.config (validation) and rules/common.smk, the glue to Snakemake.
"""
