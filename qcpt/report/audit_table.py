"""The generated-query audits in the report: one row per query file the grid reads (its audit JSON,
:mod:`.audit`), as markdown and CSV, and a histogram of query lengths per file."""

from __future__ import annotations

import io
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..core.tabular import MISSING, csv_text, md_table
from ..workflow import grid as workflow_grid
from ..workflow.paths import Paths
from .pages import IndexEntry

if TYPE_CHECKING:
    from .pages import PageWriter

NAME, TITLE, PAPER = "queries-audit", "Generated queries: audit and leakage", "verdict"


@dataclass
class QueryAudits:
    name: str
    title: str
    paper: str
    files_audited: list[tuple[str, int, int | str, str]]  # (generator, C, amount, audit JSON)
    topic_sets: list[str]

    def refs(self) -> list:
        return []  # reads no metrics files

    def files(self) -> list[str]:
        return [f"{self.name}.md", f"{self.name}.csv", f"{self.name}-lengths.png"]


def audit_artifact(config: dict[str, Any]) -> QueryAudits | None:
    sets = workflow_grid.query_sets(config)
    if not sets:
        return None
    p, corpus = Paths(config["results"]), config["corpus"]["name"]
    files = [(gen, count, amount, p.of("queries_audit", corpus=corpus, gen=gen, qcount=count, amount=amount))
             for gen, count, amount in sets]
    return QueryAudits(NAME, TITLE, PAPER, files, list(workflow_grid.topic_sets(config)))


def _load(path: str, available: set[str] | None) -> dict[str, Any] | None:
    if (available is not None and str(Path(path)) not in available) or not Path(path).is_file():
        return None
    return json.loads(Path(path).read_text(encoding="utf-8"))


def _pct(value: float | None) -> str:
    return MISSING if value is None else f"{100 * value:.1f}%"


def write(builder: PageWriter, artifact: QueryAudits, available: list[str] | None) -> IndexEntry:
    from .plots import length_histogram_png

    allowed = None if available is None else {str(Path(p)) for p in available}
    records = [(gen, count, amount, path, _load(path, allowed)) for gen, count, amount, path in artifact.files_audited]
    leak_cols = [f"leaks {name}" for name in artifact.topic_sets]
    header = ["generator", "C", "amount", "passages", "queries", "per passage", "below C", "dup (passage)",
              "dup (file)", "copies", "token overlap", "mean length", "shortfall", "truncated", *leak_cols, "audit"]
    lines, rows = [], [["generator", "count", "amount", "passages", "queries", "mean_per_passage", "passages_below_count",
                        "duplicate_rate_within_passage", "duplicate_rate_corpus", "copy_rate", "token_overlap",
                        "mean_length_tokens", "shortfall", "truncated_sequences",
                        *[f"leaked_exact_{n}" for n in artifact.topic_sets],
                        *[f"leaked_near_{n}" for n in artifact.topic_sets], "audit"]]
    for gen, count, amount, path, rec in records:
        link = f"[json]({os.path.relpath(path, builder.out_dir)})"
        if rec is None:
            lines.append([gen, str(count), str(amount), *[MISSING] * (len(header) - 4), f"{link} (not built)"])
            rows.append([gen, str(count), str(amount), *[""] * (len(rows[0]) - 4), path])
            continue
        leaks = [rec["leakage"].get(n) for n in artifact.topic_sets]
        lines.append([
            gen, str(count), str(amount), str(rec["passages"]), str(rec["queries"]),
            f"{rec['mean_queries_per_passage']:.2f}", str(rec["passages_below_count"]),
            _pct(rec["duplicate_rate_within_passage"]), _pct(rec["duplicate_rate_corpus"]), _pct(rec["copy_rate"]),
            _pct(rec["token_overlap"]), f"{rec['length_tokens']['mean']:.1f}", str(rec["generation"]["shortfall"]),
            str(rec["generation"]["truncated_sequences"]),
            *[MISSING if x is None else f"{x['exact']} + {x['near']}{' (train)' if x['training'] else ''}" for x in leaks],
            link,
        ])
        rows.append([
            gen, str(count), str(amount), str(rec["passages"]), str(rec["queries"]),
            f"{rec['mean_queries_per_passage']:.4f}", str(rec["passages_below_count"]),
            *(f"{rec[k]:.6f}" for k in ("duplicate_rate_within_passage", "duplicate_rate_corpus", "copy_rate",
                                        "token_overlap")),
            f"{rec['length_tokens']['mean']:.4f}", str(rec["generation"]["shortfall"]),
            str(rec["generation"]["truncated_sequences"]),
            *["" if x is None else str(x["exact"]) for x in leaks], *["" if x is None else str(x["near"]) for x in leaks],
            path,
        ])
    histograms = {f"{gen} C={count} n={amount}": {int(k): v for k, v in rec["length_tokens"]["histogram"].items()}
                  for gen, count, amount, _, rec in records if rec is not None}
    length_histogram_png(builder.out_dir / f"{artifact.name}-lengths.png", histograms, dpi=builder.params.dpi)
    md = io.StringIO()
    md.write(f"# {artifact.title}\n\n")
    md.write(md_table(header, lines, "lrr" + "r" * (len(header) - 4) + "l"))
    md.write(
        "\nPer query file the pre-training grid reads. dup (passage): a query repeated for its passage "
        "(after normalisation: case, punctuation, spaces); dup (file): queries whose text occurs more than once "
        "in the file; copies: the query is a substring of its passage; token overlap: the mean share of a "
        "query's tokens found in its passage; shortfall: passages whose generation pool stayed below "
        "pool_size (shard stats). leaks: exact + near (character 3-gram Jaccard ≥ 0.8) matches of the "
        "topic set's queries, '(train)' for fine-tuning topics (what a doc2query model may have been "
        "trained on); examples in the JSON.\n\n"
        f"![query lengths]({artifact.name}-lengths.png)\n"
    )
    builder._write(f"{artifact.name}.md", md.getvalue())
    builder._write(f"{artifact.name}.csv", csv_text(rows))
    return IndexEntry(artifact.name, artifact.title, artifact.paper, artifact.files(),
                      sum(r[4] is not None for r in records), len(records))
