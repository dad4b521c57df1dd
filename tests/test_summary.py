"""The summary table: measures per metrics file, and query-vs-span comparisons with a paired t-test."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qcpt.summary import span_counterpart, summary_rows


def write_metrics(root: Path, system: str, per_query: dict[str, float]) -> str:
    path = root / "eval" / "demo-test" / system / "metrics.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    mean = sum(per_query.values()) / len(per_query)
    path.write_text(json.dumps({"measures": {"nDCG@10": mean}, "per_query": {"nDCG@10": per_query}}))
    return str(path)


@pytest.mark.parametrize(("system", "baseline"), [
    ("zeroshot/pt/demo/contrastive/query-d2q-c5-nall", "zeroshot/pt/demo/contrastive/span"),
    ("demo/pt/demo/cotmae/mixed-d2q-c5-nall/retriever2", "demo/pt/demo/cotmae/span/retriever2"),
    ("zeroshot/pt/demo/contrastive/span", None),
    ("zeroshot/base", None),
    ("demo/base/retriever1", None),
    ("bm25", None),
])
def test_span_counterpart(system, baseline):
    assert span_counterpart(system) == baseline


def test_rows_compare_query_with_span_over_the_same_queries(tmp_path):
    span = {f"q{i}": 0.5 + 0.01 * (i % 3) for i in range(40)}
    query = {q: v + 0.1 + 0.02 * (i % 2) for i, (q, v) in enumerate(span.items())}  # better on every query
    paths = [write_metrics(tmp_path, "bm25", span),
             write_metrics(tmp_path, "zeroshot/pt/demo/contrastive/span", span),
             write_metrics(tmp_path, "zeroshot/pt/demo/contrastive/query-d2q-c5-nall", query),
             write_metrics(tmp_path, "zeroshot/pt/demo/cotmae/query-d2q-c5-nall", query)]  # no cotmae span cell
    rows, columns = summary_rows(str(tmp_path), paths)
    assert columns == ["nDCG@10", "vs", "Δ nDCG@10", "p"]
    by_system = {r["system"]: r for r in rows}
    row = by_system["zeroshot/pt/demo/contrastive/query-d2q-c5-nall"]
    assert row["vs"] == "zeroshot/pt/demo/contrastive/span"
    assert row["Δ nDCG@10"] == "+0.1100"
    p_value = float(row["p"].split()[0])
    assert p_value < 1e-10 and row["p"].endswith("(n=40)")
    assert "vs" not in by_system["zeroshot/pt/demo/cotmae/query-d2q-c5-nall"]
    assert "vs" not in by_system["bm25"]


def test_no_comparison_columns_without_span_cells(tmp_path):
    paths = [write_metrics(tmp_path, "bm25", {"q1": 1.0, "q2": 0.5})]
    rows, columns = summary_rows(str(tmp_path), paths)
    assert columns == ["nDCG@10"] and rows[0]["nDCG@10"] == "0.7500"


def test_job_seconds_counts_each_job_once(tmp_path):
    """tools/job_seconds.py reads Snakemake's per-output records; a two-output job counts once."""
    import base64
    import subprocess
    import sys

    folder = tmp_path / ".snakemake" / "metadata"
    folder.mkdir(parents=True)
    records = [("results/a.tsv", "generate", 1, 100.0, 110.0), ("results/a.json", "generate", 1, 100.0, 110.0),
               ("results/b.trec", "search", 2, 110.0, 114.5), ("results/c.trec", "search", 3, 115.0, 120.0)]
    for output, rule, job_hash, start, end in records:
        name = base64.b64encode(output.encode()).decode().replace("/", "@")
        (folder / name).write_text(json.dumps({"rule": rule, "job_hash": job_hash, "starttime": start, "endtime": end}))
    tool = Path(__file__).resolve().parents[1] / "tools" / "job_seconds.py"
    out = subprocess.run([sys.executable, str(tool), "--workdir", str(tmp_path)], capture_output=True, text=True,
                         check=True).stdout.splitlines()
    assert out[0].split() == ["generate", "1", "10.0"]
    assert out[1].split() == ["search", "2", "9.5"]
    assert out[-1].startswith("3 jobs, 20 job-seconds, wall 20 s")
