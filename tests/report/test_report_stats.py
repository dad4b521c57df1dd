"""Significance: a paired two-tailed t-test against the span baseline, p ≤ 0.01 marked."""

from __future__ import annotations

import random

import pytest
from test_report_tables import LLM, load, read_csv, write_metrics

from qcpt.report.build import ReportBuilder, paired_ttest


def _vectors(n: int = 60, shift: float = 0.0, seed: int = 0) -> tuple[dict[str, float], dict[str, float]]:
    rng = random.Random(seed)
    base = {f"q{i}": rng.random() * 0.5 for i in range(n)}
    ours = {q: v + shift + rng.gauss(0, 0.02) for q, v in base.items()}
    return ours, base


def test_clearly_better_vector_is_significant():
    ours, base = _vectors(shift=0.1)
    p, n = paired_ttest(ours, base)
    assert n == 60 and p < 1e-6


def test_identical_and_noisy_vectors_are_not():
    _, base = _vectors()
    assert paired_ttest(dict(base), base) == (1.0, 60)
    ours, base = _vectors(shift=0.0, seed=3)
    p, _ = paired_ttest(ours, base)
    assert p > 0.01


def test_only_shared_queries_are_paired():
    ours = {"a": 1.0, "b": 0.5, "c": 0.2, "x": 9.0}
    base = {"a": 0.5, "b": 0.4, "c": 0.0, "y": -9.0}
    p, n = paired_ttest(ours, base)
    assert n == 3 and p is not None
    assert paired_ttest({"a": 1.0}, {"a": 0.0}) == (None, 1)


def test_table_marks_significant_cells(tmp_path):
    results = tmp_path / "r"
    config = load(LLM, results)
    ours, base = _vectors(shift=0.1)
    worse = {q: v - 0.1 for q, v in base.items()}
    zs = f"{results}/eval/msmarco-dev/zeroshot/pt/msmarco_passage/contrastive"
    measures = ("MRR@10", "R@50", "R@1000")

    def write(context: str, values: dict[str, float]) -> None:
        write_metrics(f"{zs}/{context}/metrics.json", {m: list(values.values()) for m in measures})

    write("span", base)
    write("query-tk_instruct_3b-c10-nall", ours)  # clearly better
    write("query-alpaca_7b-c10-nall", base)  # identical to the baseline
    write("query-alpaca_13b-c10-nall", worse)  # clearly worse
    out = tmp_path / "out"
    ReportBuilder(config, out, names=["llm-table1"]).build()
    rows = {r["row"]: r for r in read_csv(out / "llm-table1.csv")}
    assert rows["+ tk-instruct 3b queries"]["MS MARCO MRR@10 significant"] == "1"
    assert float(rows["+ tk-instruct 3b queries"]["MS MARCO MRR@10 p"]) <= 0.01
    assert rows["+ Alpaca 7b queries"]["MS MARCO MRR@10 significant"] == "0"
    assert float(rows["+ Alpaca 7b queries"]["MS MARCO MRR@10 p"]) == pytest.approx(1.0)
    assert rows["+ Alpaca 13b queries"]["MS MARCO MRR@10 significant"] == "1"
    assert rows["Baseline"]["MS MARCO MRR@10 p"] == ""  # the baseline is not tested against itself
    md = _rows_of(out / "llm-table1.md")
    assert "▲" in md["+ tk-instruct 3b queries"] and "▼" not in md["+ tk-instruct 3b queries"]
    assert "▲" not in md["+ Alpaca 7b queries"] and "▼" not in md["+ Alpaca 7b queries"]
    assert "▼" in md["+ Alpaca 13b queries"]
    # a stricter level drops the mark of p ~ 1e-40; a constant shift (p = 0) stays marked
    strict = ReportBuilder(config, tmp_path / "strict", names=["llm-table1"])
    strict.params.alpha = 1e-300
    strict.build()
    md = _rows_of(tmp_path / "strict" / "llm-table1.md")
    assert "▲" not in md["+ tk-instruct 3b queries"] and "▼" in md["+ Alpaca 13b queries"]


def _rows_of(path) -> dict[str, str]:
    """The first markdown table's lines by row label."""
    rows: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if line.startswith("| "):
            rows.setdefault(line.split(" | ")[0].removeprefix("| "), line)
    return rows
