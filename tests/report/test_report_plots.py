"""Plots: curriculum curves and demo bars are valid, non-trivial PNG files, even with no results."""

from __future__ import annotations

import random

from conftest import ROOT
from test_report_tables import LLM, load, write_metrics

from qcpt import config as qconfig
from qcpt.report import artifacts
from qcpt.report.build import ReportBuilder
from qcpt.report.plots import amount_label, bars_png
from qcpt.report.spec import BarFigure

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _is_png(path, min_bytes: int = 5000) -> bool:
    data = path.read_bytes()
    return data[:8] == PNG_MAGIC and len(data) >= min_bytes and data[-8:-4] == b"IEND"


def test_amount_labels_match_the_papers_ticks():
    assert [amount_label(a) for a in (50_000, 100_000, 400_000, 1_000_000, 4_000_000, 8_841_823, 64)] == [
        "50k", "0.1M", "0.4M", "1M", "4M", "8.8M", "64"]


def test_curriculum_curves_are_pngs(tmp_path):
    results = tmp_path / "r"
    config = load(LLM, results)
    rng = random.Random(0)
    (fig,) = artifacts(config, ["llm-figure4"])
    for ref in fig.refs():
        write_metrics(ref.path(str(results)), {ref.measure: [rng.random() for _ in range(10)]})
    out = tmp_path / "out"
    ReportBuilder(config, out, names=["llm-figure3", "llm-figure4"]).build()
    assert _is_png(out / "llm-figure4.png", 20_000)
    assert _is_png(out / "llm-figure3.png")  # no results of ours: the paper baselines alone
    csv_text = (out / "llm-figure4.csv").read_text()
    assert "paper Table 1 baseline,,,12.5,,38.4," in csv_text
    md = (out / "llm-figure3.md").read_text()
    assert "| paper Table 2 baseline |  | 39.3 | 67.4 |" in md and "not given in its text" in md


def test_demo_bar_plot(tmp_path):
    results = tmp_path / "r"
    config = load(ROOT / "config.yaml", results)
    for path in qconfig.metrics_targets(config)[::2]:
        write_metrics(path, {"nDCG@10": [0.3, 0.6], "MRR@10": [0.5, 0.5], "R@50": [1, 1], "R@1000": [1, 1]})
    out = tmp_path / "out"
    ReportBuilder(config, out).build()
    assert _is_png(out / "demo-demo-test-bars.png", 20_000)
    assert not list(out.glob(".*.tmp"))  # atomic writes leave no temporaries behind


def test_demo_plot_shows_seed_intervals_on_an_axis_that_spans_the_values(tmp_path):
    figure = BarFigure("f", "t", "demo", "demo-test", "nDCG@10", ["zero-shot"],
                       [("span", {"zero-shot": "a"}), ("query", {"zero-shot": "b"})], ("BM25", "bm25"))
    seeds = {"a": [0.76, 0.77, 0.78], "b": [0.79, 0.80, 0.84]}
    values = {s: sum(v) / 3 for s, v in seeds.items()} | {"bm25": 0.90}
    low, high = bars_png(tmp_path / "f.png", figure, values, seeds=seeds)
    assert 0.70 < low < 0.76 and 0.90 < high < 0.95  # not from 0: from the lowest seed to BM25
    assert _is_png(tmp_path / "f.png")
