"""Which tables a config reports, and the files they read and write: the functions the rule file
imports when the DAG is built (no matplotlib or scipy here).

A table name (``report.tables`` in the config) builds one or more artifacts; without ``report.tables``
the ``demo`` set reports every cell the config evaluates.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..workflow import grid as workflow_grid
from . import paper_tables as pt
from .audit_table import QueryAudits, audit_artifact
from .demo_tables import demo_set
from .spec import Artifact, Grid, metrics_path
from .verdict_table import Verdicts, verdict_artifact

PAPERS = {"verdict": "Did it replicate?", "qac": pt.QAC_TITLE, "llm": pt.LLM_TITLE, "demo": "Demo grid"}  # key -> title, in the index's order

TABLE_SETS: dict[str, Callable[[Grid], list[Artifact]]] = {
    "qac-table1": pt.qac_table1,
    "qac-table2": pt.qac_table2,
    "qac-table3": pt.qac_table3,
    "qac-table4": pt.qac_table4,
    "llm-table1": pt.llm_table1,
    "llm-table2": pt.llm_table2,
    "llm-table3": pt.llm_table3,
    "llm-figure3": pt.llm_figure3,
    "llm-figure4": pt.llm_figure4,
    "demo": demo_set,
}

# --------------------------------------------------------------------------- what a config reports


def table_names(config: dict[str, Any], names: list[str] | None = None) -> list[str]:
    """``names``, else the config's ``report.tables``, else the demo set; unknown names fail."""
    chosen = list(names or config.get("report", {}).get("tables") or ["demo"])
    for name in chosen:
        if name not in TABLE_SETS:
            raise ValueError(f"report.tables: unknown table {name!r} (known: {', '.join(TABLE_SETS)})")
    return chosen


def artifacts(config: dict[str, Any], names: list[str] | None = None) -> list[Artifact]:
    grid = Grid(config)
    return [a for name in table_names(config, names) for a in TABLE_SETS[name](grid)]


def report_artifacts(config: dict[str, Any], names: list[str] | None = None) -> list[Artifact | Verdicts | QueryAudits]:
    """What the report writes: the chosen tables' artifacts, led by the verdict table of their
    papers' claims."""
    tables = artifacts(config, names)
    verdicts = verdict_artifact(Grid(config), list(dict.fromkeys(a.paper for a in tables)))
    audits = audit_artifact(config)
    return [a for a in (verdicts, audits) if a is not None] + tables


def output_files(config: dict[str, Any], names: list[str] | None = None) -> list[str]:
    """File names (relative to the report folder) the report writes: known when the DAG is built."""
    return [f for a in report_artifacts(config, names) for f in a.files()] + ["index.md"]


def needed_metrics(config: dict[str, Any], names: list[str] | None = None) -> list[str]:
    """Every metrics file the chosen tables read (cells and their t-test baselines)."""
    results = config["results"]
    paths: list[str] = []
    for artifact in report_artifacts(config, names):
        for ref in artifact.refs():
            paths.append(ref.path(results))
            if ref.baseline:
                paths.append(metrics_path(results, ref.evalset, ref.baseline))
    return list(dict.fromkeys(paths))


def metrics_inputs(config: dict[str, Any], names: list[str] | None = None) -> list[str]:
    """The metrics files the tables need that the config also builds (the report rule's inputs)."""
    needed = set(needed_metrics(config, names))
    return [p for p in workflow_grid.metrics_targets(config) if p in needed]


def report_entries(config: dict[str, Any], names: list[str] | None = None) -> list[dict[str, str]]:
    """Per output file: the artifact it belongs to, its title and paper (for ``snakemake --report``)."""
    out = []
    for artifact in report_artifacts(config, names):
        kind = "figure" if artifact.files()[0].endswith(".png") else "table"
        for name in artifact.files():
            out.append({"file": name, "artifact": artifact.name, "title": artifact.title,
                        "paper": PAPERS[artifact.paper], "kind": kind})
    return out
