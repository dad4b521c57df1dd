"""What rules/report.smk needs: the generated-query audits (which are built, what each reads), the
files the report writes, and how `snakemake --report` files them."""

from __future__ import annotations

from typing import Any

from .. import report as qreport
from ..workflow import cells, grid
from ..workflow.jobs import paths


def audit_targets(config: dict[str, Any]) -> list[str]:
    """The audit JSON of every query file an evaluated pre-trained cell reads (the report's inputs):
    a grid cell no metrics file needs is never built, so neither are its queries nor their audit."""
    p, corpus = paths(config), config["corpus"]["name"]
    evaluated = {cells.parse_model_key(system).encoder for _, system in grid.metrics_cells(config)
                 if system != cells.BM25}
    needed = []
    for tag in evaluated:
        encoder = cells.parse_encoder(tag)
        if encoder.kind == "pt":
            ctx = cells.parse_context(encoder.context)
            if ctx.reads_queries:
                needed.append((ctx.generator, ctx.count, ctx.amount))
    return [p.of("queries_audit", corpus=corpus, gen=gen, qcount=count, amount=amount)
            for gen, count, amount in grid.query_sets(config) if (gen, count, amount) in needed]


def audit_topics(config: dict[str, Any]) -> dict[str, str]:
    """Every topic set a query file is checked for leakage into, by name: the eval sets' topics and
    the fine-tuning datasets' training topics."""
    return {name: paths(config).of("topics", topicset=name) for name in grid.topic_sets(config)}


def audit_training_topics(config: dict[str, Any]) -> list[str]:
    """The topic sets of :func:`audit_topics` that are training topics (queries a doc2query model
    may have been trained on)."""
    return [name for name in audit_topics(config) if grid.training_dataset(config, name) is not None]


def audited_shard_stats(config: dict[str, Any], corpus: str, gen: str, amount: str) -> list[str]:
    """The stats of the generation shards a query set reads."""
    p = paths(config)
    return [p.of("query_shard_stats", corpus=corpus, gen=gen, shard=f"{i:05d}")
            for i in range(grid.shards_for_amount(config, gen, amount))]


def report_outputs(config: dict[str, Any]) -> list[tuple[str, dict[str, Any] | None]]:
    """Per file the report writes: its path, and for CSV tables and PNG figures the arguments of
    Snakemake's ``report()`` (they go into `snakemake --report report.html`, one category per paper).
    Known when the DAG is built: config ``report.tables``, default the demo set."""
    out = []
    for entry in qreport.report_entries(config):
        path = f"{paths(config).report_dir}/{entry['file']}"
        shown = entry["file"].endswith((".csv", ".png"))
        out.append((path, {
            "caption": f"../qcpt/report/captions/{entry['kind']}.rst", "category": entry["paper"],
            "subcategory": entry["title"], "labels": {"artifact": entry["artifact"], "file": entry["file"]},
        } if shown else None))
    return out
