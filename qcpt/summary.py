"""The summary table: one row per metrics file the config asked for, one column per measure."""

from __future__ import annotations

import argparse
import csv
import io
import json
from pathlib import Path

from .io import atomic_open


def summary_rows(root: str, metrics_paths: list[str]) -> tuple[list[dict[str, str]], list[str]]:
    """Rows ``{"evalset", "system", <measure>: value}`` and the ordered measure names."""
    rows: list[dict[str, str]] = []
    measures: list[str] = []
    prefix = Path(root) / "eval"
    for path in metrics_paths:
        rel = Path(path).parent.relative_to(prefix)
        evalset, system = rel.parts[0], "/".join(rel.parts[1:])
        data = json.loads(Path(path).read_text())
        row = {"evalset": evalset, "system": system}
        for name, value in data["measures"].items():
            if name not in measures:
                measures.append(name)
            row[name] = f"{value:.4f}"
        rows.append(row)
    return rows, measures


def to_markdown(rows: list[dict[str, str]], measures: list[str]) -> str:
    header = ["evalset", "system", *measures]
    out = io.StringIO()
    out.write("| " + " | ".join(header) + " |\n")
    out.write("|" + "|".join("---" for _ in header) + "|\n")
    for row in rows:
        out.write("| " + " | ".join(row.get(h, "–") for h in header) + " |\n")
    return out.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--root", required=True, help="the results folder")
    parser.add_argument("--metrics", nargs="+", required=True)
    parser.add_argument("--out-md", required=True)
    parser.add_argument("--out-csv", required=True)
    args = parser.parse_args(argv)
    rows, measures = summary_rows(args.root, args.metrics)
    with atomic_open(args.out_md) as handle:
        handle.write("# qcpt summary\n\n" + to_markdown(rows, measures))
    with atomic_open(args.out_csv) as handle:
        writer = csv.DictWriter(handle, fieldnames=["evalset", "system", *measures], lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return 0
