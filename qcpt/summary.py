"""The summary table: one row per metrics file the config asked for, one column per measure, and
for each pre-trained cell with another context than ``span`` its difference from the same schema's
span cell in the same setting (zero-shot, or the same fine-tuning dataset and stage) on the main
measure (nDCG@10 where measured), with a paired two-tailed t-test over the evalset's queries: the
papers' comparison, readable without the report."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from .io import atomic_open
from .tabular import MISSING, csv_text, md_table
from .workflow import cells, grid

MAIN_MEASURES = ("nDCG@10", "MRR@10")
SPAN_CONTEXT = "span"


def span_counterpart(system: str) -> str | None:
    """The span-context cell a pre-trained cell is compared with: ``zeroshot/pt/C/S/ctx`` →
    ``zeroshot/pt/C/S/span``, ``D/pt/C/S/ctx/retrieverN`` → ``D/pt/C/S/span/retrieverN``; None for
    BM25, the base and external encoders, and span cells themselves."""
    return cells.counterpart(system, SPAN_CONTEXT)


def summary_rows(root: str, metrics_paths: list[str]) -> tuple[list[dict[str, str]], list[str]]:
    """Rows ``{"evalset", "system", <measure>: value, "vs", "Δ <main>", "p"}`` and the ordered
    column names after evalset and system (the measures, then the comparison columns where any row
    has a span counterpart in the table)."""
    from .report.stats import paired_ttest

    rows: list[dict[str, str]] = []
    measures: list[str] = []
    loaded: dict[tuple[str, str], dict] = {}
    for path in metrics_paths:
        evalset, system = grid.parse_metrics_path(root, path)
        data = json.loads(Path(path).read_text())
        loaded[evalset, system] = data
        row = {"evalset": evalset, "system": system}
        for name, value in data["measures"].items():
            if name not in measures:
                measures.append(name)
            row[name] = f"{value:.4f}"
        rows.append(row)
    main = next((m for m in MAIN_MEASURES if m in measures), measures[0] if measures else None)
    compared = False
    for row in rows:
        baseline = span_counterpart(row["system"])
        base = loaded.get((row["evalset"], baseline)) if baseline else None
        ours = loaded[row["evalset"], row["system"]]
        if base is None or main is None or main not in ours["measures"] or main not in base["measures"]:
            continue
        compared = True
        row["vs"] = baseline
        row[f"Δ {main}"] = f"{ours['measures'][main] - base['measures'][main]:+.4f}"
        pq_ours = ours.get("per_query", {}).get(main)
        pq_base = base.get("per_query", {}).get(main)
        p_value, n = paired_ttest(pq_ours, pq_base) if pq_ours and pq_base else (None, 0)
        row["p"] = MISSING if p_value is None else f"{p_value:.2g} (n={n})"
    columns = [*measures, *(["vs", f"Δ {main}", "p"] if compared else [])]
    return rows, columns


def to_markdown(rows: list[dict[str, str]], columns: list[str]) -> str:
    header = ["evalset", "system", *columns]
    return md_table(header, [[row.get(h, MISSING) for h in header] for row in rows])


def to_csv(rows: list[dict[str, str]], columns: list[str]) -> str:
    header = ["evalset", "system", *columns]
    return csv_text([header, *([row.get(h, "") for h in header] for row in rows)])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--root", required=True, help="the results folder")
    parser.add_argument("--metrics", nargs="+", required=True)
    parser.add_argument("--out-md", required=True)
    parser.add_argument("--out-csv", required=True)
    args = parser.parse_args(argv)
    rows, columns = summary_rows(args.root, args.metrics)
    note = ("\n`vs`: the same schema's span-context cell in the same setting; `p`: paired two-tailed t-test "
            "(scipy.stats.ttest_rel) over the per-query scores of both cells.\n") if "vs" in columns else ""
    with atomic_open(args.out_md) as handle:
        handle.write("# qcpt summary\n\n" + to_markdown(rows, columns) + note)
    with atomic_open(args.out_csv) as handle:
        handle.write(to_csv(rows, columns))
    return 0
