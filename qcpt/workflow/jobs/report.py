"""Jobs of rules/report.smk: the files the report writes, and how `snakemake --report` files them."""

from __future__ import annotations

from typing import Any

from ... import report as qreport
from .base import paths


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
