"""The summary table: measures per metrics file, and query-vs-span comparisons with a paired t-test."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qcpt.report.summary import span_counterpart, summary_rows, to_csv


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


def test_seed_replicates_are_one_row_with_the_seed_averaged_delta_its_spread_and_p(tmp_path):
    """Three seeds of a span and a query cell: per-seed Δ +0.10, +0.02, +0.06 (mean 0.06, sd 0.04);
    p is the paired t-test on the seed-averaged per-query scores, recomputed here by hand."""
    import math

    from scipy.stats import t as student

    span = {f"q{i}": 0.3 + 0.01 * i for i in range(10)}
    shifts = {42: 0.10, 43: 0.02, 44: 0.06}
    wobble = [0.03, -0.03, 0.01, -0.01, 0.02, -0.02, 0.0, 0.0, 0.01, -0.01]  # query-level noise, mean 0
    paths = []
    for seed, shift in shifts.items():
        tag = "" if seed == 42 else f"-s{seed}"
        paths.append(write_metrics(tmp_path, f"zeroshot/pt/demo/contrastive/span{tag}", span))
        query = {q: v + shift + wobble[i] * (seed - 41) for i, (q, v) in enumerate(span.items())}
        paths.append(write_metrics(tmp_path, f"zeroshot/pt/demo/contrastive/query-d2q-c5-nall{tag}", query))
    rows, columns = summary_rows(str(tmp_path), paths)
    assert columns == ["seeds", "nDCG@10", "vs", "Δ nDCG@10", "p"]
    assert [r["system"] for r in rows] == ["zeroshot/pt/demo/contrastive/span",
                                           "zeroshot/pt/demo/contrastive/query-d2q-c5-nall"]
    row = rows[1]
    assert row["seeds"] == "3" and row["vs"] == "zeroshot/pt/demo/contrastive/span"
    assert row["Δ nDCG@10"] == "+0.0600 ± 0.0400"
    assert rows[0]["nDCG@10"] == f"{sum(span.values()) / 10:.4f} ± 0.0000"
    # seed-averaged per-query Δ: 0.06 + wobble × mean(1, 2, 3) = 0.06 + 2 × wobble
    diffs = [0.06 + 2 * w for w in wobble]
    mean = sum(diffs) / 10
    sd = math.sqrt(sum((d - mean) ** 2 for d in diffs) / 9)
    p_hand = 2 * student.sf(abs(mean / (sd / math.sqrt(10))), 9)
    assert float(row["p"].split()[0]) == pytest.approx(p_hand, rel=0.05) and row["p"].endswith("(n=10)")
    csv_rows = to_csv(rows, columns).splitlines()
    assert csv_rows[0] == "evalset,system,seeds,nDCG@10,nDCG@10 sd,vs,Δ nDCG@10,Δ nDCG@10 sd,p,n_queries"
    assert csv_rows[2].startswith("demo-test,zeroshot/pt/demo/contrastive/query-d2q-c5-nall,3,")
    assert ",0.060000,0.040000," in csv_rows[2]


def test_a_replicate_without_its_span_seed_is_not_compared(tmp_path):
    span = {"q1": 0.5, "q2": 0.4}
    paths = [write_metrics(tmp_path, "zeroshot/pt/demo/contrastive/span", span),
             write_metrics(tmp_path, "zeroshot/pt/demo/contrastive/query-d2q-c5-nall", span),
             write_metrics(tmp_path, "zeroshot/pt/demo/contrastive/query-d2q-c5-nall-s43", span)]
    rows, columns = summary_rows(str(tmp_path), paths)
    assert "vs" not in rows[1] and rows[1]["seeds"] == "2"


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
    tool = Path(__file__).resolve().parents[2] / "tools" / "job_seconds.py"
    out = subprocess.run([sys.executable, str(tool), "--workdir", str(tmp_path)], capture_output=True, text=True,
                         check=True).stdout.splitlines()
    assert out[0].split() == ["generate", "1", "10.0"]
    assert out[1].split() == ["search", "2", "9.5"]
    assert out[-1].startswith("3 jobs, 20 job-seconds, wall 20 s")
