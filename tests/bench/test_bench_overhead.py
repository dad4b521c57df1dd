"""The bench's side-by-side overhead measurement (bench/stages.py, bench/run.py), without timing
anything real: the call order, the summary arithmetic, and the ranking comparison of the BM25 stage."""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench import stages  # noqa: E402
from bench.run import overhead_ratios  # noqa: E402


def test_side_by_side_alternates_raw_first_and_keeps_the_last_outputs():
    calls: list[str] = []
    counter = itertools.count()

    def raw():
        calls.append("raw")
        return ("raw", next(counter))

    def workflow():
        calls.append("workflow")
        return ("workflow", next(counter))

    rounds = stages.side_by_side(raw, workflow, 3)
    assert calls == ["raw", "workflow"] * 3
    assert rounds.raw_output == ("raw", 4) and rounds.workflow_output == ("workflow", 5)
    assert len(rounds.raw_seconds) == len(rounds.workflow_seconds) == 3
    with pytest.raises(ValueError, match="rounds must be >= 1"):
        stages.side_by_side(raw, workflow, 0)


def test_summary_takes_each_sides_fastest_round():
    rounds = stages.SideBySide(raw_seconds=[2.0, 1.0, 1.5], workflow_seconds=[1.2, 3.0, 1.1],
                               raw_output=None, workflow_output=None)
    summary = rounds.summary(10, "queries", "lib", "ours")
    assert summary["raw"] == {"implementation": "lib", "seconds": 1.0, "queries_per_second": 10.0,
                              "round_seconds": [2.0, 1.0, 1.5]}
    assert summary["workflow"]["seconds"] == 1.1 and summary["workflow"]["queries_per_second"] == pytest.approx(9.091)
    assert summary["overhead_ratio"] == 1.1
    assert summary["overhead_ratio_per_round"] == [0.6, 3.0, 0.733]
    assert summary["overhead_rounds"] == 3


def test_bm25_rankings_may_differ_only_in_the_order_of_equal_scores():
    raw = {"q1": [("d9", 3.0), ("d2", 2.0), ("d7", 1.0), ("d1", 1.0)], "q2": []}
    same = {"q1": [("d9", 3.0), ("d2", 2.0), ("d1", 1.0), ("d3", 1.0)], "q2": []}  # tie at the cut: d3 for d7
    assert stages.bm25_ranking_differences(raw, same) == []
    other_score = {"q1": [("d9", 3.0), ("d2", 2.5), ("d1", 1.0), ("d3", 1.0)], "q2": []}
    other_doc = {"q1": [("d9", 3.0), ("d5", 2.0), ("d1", 1.0), ("d3", 1.0)], "q2": []}
    missing = {"q1": raw["q1"]}
    extra = {**same, "q2": [("d4", 1.0)]}
    for workflow, expected in ((other_score, ["q1"]), (other_doc, ["q1"]), (extra, ["q2"])):
        assert stages.bm25_ranking_differences(raw, workflow) == expected
    assert stages.bm25_ranking_differences(raw, missing) == []  # q2 retrieved nothing on both sides
    assert stages.bm25_ranking_differences(raw, {"q1": raw["q1"][:3]}) == ["q1"]  # cut short


def test_overhead_ratios_names_the_three_stages_and_null_for_the_missing():
    report = {"faiss": {"status": "ok", "overhead_ratio": 1.08}, "bm25": {"status": "error", "error": "x"}}
    assert overhead_ratios(report) == {"faiss": 1.08, "bm25": None, "encode": None}
