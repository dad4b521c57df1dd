"""Run files, evaluation (checked against hand-written formulas) and training-data construction."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import pytest
from conftest import ROOT, shared_data

from qcpt.core.io import InputError
from qcpt.retrieval import evaluate as ev
from qcpt.retrieval import train_data
from qcpt.retrieval.runs import (
    RunNotGrouped,
    format_score,
    iter_run,
    ranked_docids,
    read_run,
    sort_hits,
    write_run,
)

# --------------------------------------------------------------------------- run files


def test_write_run_sorts_by_score_then_docid(tmp_path: Path):
    path = tmp_path / "run.trec"
    write_run(path, {"q2": [("b", 1.0), ("c", 3.0), ("a", 1.0)], "q1": [("z", 0.5), ("y", 0.5), ("x", 0.7)]}, "t")
    lines = [line.split() for line in path.read_text().splitlines()]
    assert [(q, d, r) for q, _, d, r, _, _ in lines] == [
        ("q2", "c", "1"), ("q2", "a", "2"), ("q2", "b", "3"),  # query order kept; tie a/b by docid
        ("q1", "x", "1"), ("q1", "y", "2"), ("q1", "z", "3"),
    ]
    assert {tag for *_, tag in lines} == {"t"}


def test_write_run_is_deterministic_whatever_the_input_order(tmp_path: Path):
    hits = [(f"d{i % 7}", float(i // 7)) for i in range(21)]
    hits = list({d: s for d, s in hits}.items())
    write_run(tmp_path / "a", {"q": hits}, "t")
    write_run(tmp_path / "b", {"q": list(reversed(hits))}, "t")
    assert (tmp_path / "a").read_bytes() == (tmp_path / "b").read_bytes()


def test_scores_round_trip_as_float32_so_ties_stay_ties(tmp_path: Path):
    # Two float64 values that are the same float32: they tie in the file and are ordered by docid.
    a, b = 0.1234567891, 0.1234567892
    assert format_score(a) == format_score(b)
    assert [d for d, _ in sort_hits([("n2", a), ("n1", b)])] == ["n1", "n2"]
    # Distinct float32 values stay distinct and ordered when read back.
    write_run(tmp_path / "r", {"q": [("lo", 1.0000001), ("hi", 1.0000002)]}, "t")
    entries = read_run(tmp_path / "r")["q"]
    assert [e.docid for e in entries] == ["hi", "lo"] and entries[0].score > entries[1].score


def test_write_run_depth_cuts_after_tie_breaking(tmp_path: Path):
    write_run(tmp_path / "r", {"q": [("c", 1.0), ("b", 1.0), ("a", 1.0)]}, "t", depth=2)
    assert [e.docid for e in read_run(tmp_path / "r")["q"]] == ["a", "b"]


@pytest.mark.parametrize(
    ("line", "field", "fragment"),
    [
        ("q1 Q0 d1 1 2.5", None, "6 columns"),
        ("q1 Q0 d1 one 2.5 t", "rank", "not an integer"),
        ("q1 Q0 d1 1 high t", "score", "not a number"),
        ("q1 Q0 d1 1 nan t", "score", "not finite"),
    ],
)
def test_malformed_run_line_is_a_located_input_error(tmp_path: Path, line, field, fragment):
    path = tmp_path / "bad.trec"
    path.write_text("q1 Q0 d0 1 3.0 t\n" + line + "\n")
    with pytest.raises(InputError) as info:
        read_run(path)
    err = info.value
    assert err.path == str(path) and err.line == 2 and err.field == field and fragment in str(err)


def test_duplicate_document_in_run_is_an_error(tmp_path: Path):
    path = tmp_path / "dup.trec"
    path.write_text("q1 Q0 d0 1 3.0 t\nq1 Q0 d0 2 2.0 t\n")
    with pytest.raises(InputError, match="listed twice") as info:
        read_run(path)
    assert info.value.line == 2 and info.value.field == "docid"


def test_ranked_docids_resorts_whatever_the_file_order(tmp_path: Path):
    path = tmp_path / "r.trec"
    path.write_text("q Q0 b 1 1.0 x\nq Q0 c 2 2.0 x\nq Q0 a 3 1.0 x\n")
    assert ranked_docids(read_run(path)["q"]) == ["c", "a", "b"]


# --------------------------------------------------------------------------- evaluation


def _hand_rr(ranking, rels, k, level):
    for i, d in enumerate(ranking[:k], start=1):
        if rels.get(d, 0) >= level:
            return 1.0 / i
    return 0.0


def _hand_recall(ranking, rels, k, level):
    relevant = {d for d, r in rels.items() if r >= level}
    return len(relevant & set(ranking[:k])) / len(relevant)


def _hand_ndcg(ranking, rels, k):
    dcg = sum(rels.get(d, 0) / math.log2(i + 1) for i, d in enumerate(ranking[:k], start=1))
    ideal = sorted(rels.values(), reverse=True)[:k]
    idcg = sum(g / math.log2(i + 1) for i, g in enumerate(ideal, start=1))
    return dcg / idcg


QRELS = {
    "q1": {"d1": 2, "d3": 1, "d7": 2},
    "q2": {"d2": 1, "d9": 0},
    "q3": {"d4": 1},          # not in the run: scores 0
}
# Ties on purpose: q1's d3/d5 tie (d3 must come first), q2's d2/d8 tie (d2 first).
RUN = {
    "q1": [("d5", 4.0), ("d3", 4.0), ("d1", 3.0), ("d8", 2.0), ("d7", 1.0)],
    "q2": [("d8", 5.0), ("d2", 5.0), ("d9", 4.0)],
    "q9": [("d1", 1.0)],      # no judgments: ignored
}


def _write_toy(tmp_path: Path) -> tuple[Path, Path]:
    qrels = tmp_path / "qrels.trec"
    qrels.write_text("".join(f"{q} 0 {d} {r}\n" for q, docs in QRELS.items() for d, r in docs.items()))
    run = tmp_path / "run.trec"
    # Written in a scrambled order with arbitrary ranks: evaluation must re-sort by (-score, docid).
    lines = [f"{q} Q0 {d} {i} {s} t\n" for q, hits in RUN.items() for i, (d, s) in enumerate(reversed(hits))]
    run.write_text("".join(lines))
    return run, qrels


@pytest.mark.parametrize("level", [1, 2])
def test_evaluate_agrees_with_hand_computation(tmp_path: Path, level):
    run, qrels = _write_toy(tmp_path)
    params = ev.EvaluateParams(measures=["MRR@10", "R@2", "R@1000", "nDCG@10", "MRR@1"], relevance_level=level)
    metrics = ev.evaluate(run, qrels, params)
    rankings = {q: [d for d, _ in sorted(h, key=lambda x: (-x[1], x[0]))] for q, h in RUN.items()}
    expected = {}
    for q in QRELS:
        ranking, rels = rankings.get(q, []), QRELS[q]
        has_rel = any(r >= level for r in rels.values())
        expected.setdefault("MRR@10", {})[q] = _hand_rr(ranking, rels, 10, level)
        expected.setdefault("MRR@1", {})[q] = _hand_rr(ranking, rels, 1, level)
        expected.setdefault("R@2", {})[q] = _hand_recall(ranking, rels, 2, level) if has_rel else 0.0
        expected.setdefault("R@1000", {})[q] = _hand_recall(ranking, rels, 1000, level) if has_rel else 0.0
        expected.setdefault("nDCG@10", {})[q] = _hand_ndcg(ranking, rels, 10)
    for name, per_q in expected.items():
        assert metrics["per_query"][name] == pytest.approx(per_q, abs=1e-9), name
        assert metrics["measures"][name] == pytest.approx(sum(per_q.values()) / 3, abs=1e-9), name
    assert metrics["num_queries"] == 3
    assert metrics["provenance"]["judged_queries_missing_from_run"] == 1
    assert metrics["provenance"]["run_queries_without_judgments"] == 1
    # Tie-breaking is what decides these: d3 (rel 1) before d5 at rank 1, d2 before d8 in q2.
    if level == 1:
        assert metrics["per_query"]["MRR@1"] == {"q1": 1.0, "q2": 1.0, "q3": 0.0}


def test_relevance_level_applies_to_binary_measures_only(tmp_path: Path):
    run, qrels = _write_toy(tmp_path)
    one = ev.evaluate(run, qrels, ev.EvaluateParams(measures=["MRR@10", "nDCG@10"], relevance_level=1))
    two = ev.evaluate(run, qrels, ev.EvaluateParams(measures=["MRR@10", "nDCG@10"], relevance_level=2))
    assert one["per_query"]["MRR@10"]["q1"] == 1.0 and two["per_query"]["MRR@10"]["q1"] == pytest.approx(1 / 3)
    assert one["per_query"]["nDCG@10"] == two["per_query"]["nDCG@10"]
    assert two["provenance"]["ir_measures"]["MRR@10"] == "RR(rel=2)@10"


def test_evaluate_cli_writes_metrics_json(tmp_path: Path):
    run, qrels = _write_toy(tmp_path)
    out = tmp_path / "m.json"
    assert ev.main(["--run", str(run), "--qrels", str(qrels), "--out", str(out),
                    "--params", json.dumps({"measures": ["nDCG@10"], "cell": {"evalset": "toy"}})]) == 0
    doc = json.loads(out.read_text())
    assert set(doc) == {"measures", "per_query", "num_queries", "run", "qrels", "provenance"}
    assert set(doc["per_query"]["nDCG@10"]) == {"q1", "q2", "q3"}
    with pytest.raises(ValueError, match="unknown key 'measure'"):
        ev.main(["--run", str(run), "--qrels", str(qrels), "--out", str(out), "--params", '{"measure": []}'])
    with pytest.raises(ValueError, match="unknown measure"):
        ev.evaluate(run, qrels, ev.EvaluateParams(measures=["Bogus@3"]))


def test_msmarco_recall_is_any_relevant_in_the_top_k(tmp_path: Path):
    """Issue 12 row 6: the authors' msmarco_eval.py counts a query as recalled at k when any of its
    relevant passages is in the top k; trec_eval's recall is the fraction of them."""
    qrels = tmp_path / "qrels.trec"
    qrels.write_text("q1 0 a 1\nq1 0 b 1\nq2 0 c 1\nq3 0 z 1\n")
    run = tmp_path / "run.trec"
    hits = {"q1": ["a", "x", "y", "b"], "q2": ["x", "y", "c"]}  # q3 missing: 0, counted (6980 queries)
    run.write_text("".join(f"{q} Q0 {d} {i + 1} {10 - i} t\n" for q, ds in hits.items() for i, d in enumerate(ds)))
    trec = ev.evaluate(run, qrels, ev.EvaluateParams(measures=["R@2", "MRR@10"]))
    marco = ev.evaluate(run, qrels, ev.EvaluateParams(measures=["R@2", "MRR@10"], recall="msmarco"))
    assert trec["measures"]["R@2"] == pytest.approx((0.5 + 0 + 0) / 3)
    assert marco["measures"]["R@2"] == pytest.approx((1 + 0 + 0) / 3)
    assert marco["provenance"]["ir_measures"]["R@2"] == "Success@2"
    assert marco["measures"]["MRR@10"] == trec["measures"]["MRR@10"] == pytest.approx((1 + 1 / 3) / 3)


def test_identical_id_hits_are_dropped_only_when_asked(tmp_path: Path):
    """Issue 12 row 11: BEIR drops a hit whose doc id is the query id (ArguAna, Quora)."""
    qrels = tmp_path / "qrels.trec"
    qrels.write_text("q1 0 d1 1\n")
    run = tmp_path / "run.trec"
    run.write_text("q1 Q0 q1 1 9 t\nq1 Q0 d1 2 8 t\n")
    plain = ev.evaluate(run, qrels, ev.EvaluateParams(measures=["MRR@10"]))
    dropped = ev.evaluate(run, qrels, ev.EvaluateParams(measures=["MRR@10"], ignore_identical_ids=True))
    assert plain["measures"]["MRR@10"] == pytest.approx(0.5)
    assert dropped["measures"]["MRR@10"] == pytest.approx(1.0)
    assert dropped["provenance"]["identical_id_hits_dropped"] == 1


def test_cqadupstack_score_is_the_mean_of_its_sub_forums(tmp_path: Path):
    """Issue 12 row 10: BEIR's CQADupStack number is the unweighted mean over its sub-forums (each
    retrieved against its own corpus), not a mean over the pooled queries."""
    qrels = {"a": "q1 0 d1 1\nq2 0 d2 1\nq3 0 d3 1\n", "b": "q1 0 d9 1\n"}
    runs = {"a": "q1 Q0 d1 1 9 t\nq2 Q0 x 1 9 t\nq3 Q0 x 1 9 t\n", "b": "q1 Q0 d9 1 9 t\n"}
    members = {}
    for forum in ("a", "b"):
        (tmp_path / f"{forum}.qrels").write_text(qrels[forum])
        (tmp_path / f"{forum}.trec").write_text(runs[forum])
        doc = ev.evaluate(tmp_path / f"{forum}.trec", tmp_path / f"{forum}.qrels", ev.EvaluateParams(measures=["MRR@10"]))
        (tmp_path / f"{forum}.json").write_text(json.dumps(doc))
        members[f"cqa-{forum}"] = str(tmp_path / f"{forum}.json")
    out = tmp_path / "mean.json"
    argv = [a for m, path in members.items() for a in ("--member", f"{m}={path}")]
    assert ev.main_mean([*argv, "--out", str(out), "--params", '{"measures": ["MRR@10"]}']) == 0
    doc = json.loads(out.read_text())
    assert doc["measures"]["MRR@10"] == pytest.approx((1 / 3 + 1.0) / 2)  # pooled would be 2 / 4
    assert doc["num_queries"] == 4 and set(doc["per_query"]["MRR@10"]) == {"cqa-a/q1", "cqa-a/q2", "cqa-a/q3", "cqa-b/q1"}
    (tmp_path / "bad.json").write_text(json.dumps({"measures": {"nDCG@10": 0.1}}))
    with pytest.raises(InputError, match="lacks MRR@10"):
        ev.mean_of_metrics({"x": tmp_path / "bad.json"}, ["MRR@10"])


def _random_run(tmp_path: Path, queries: int = 40, depth: int = 30) -> tuple[Path, Path, Path, Path]:
    """A run grouped by query, the same lines interleaved (queries split in two blocks), qrels and
    topics; scores with ties, a few queries unjudged and a few judged ones absent."""
    rng = random.Random(5)
    lines, qrels, topics = [], [], []
    for q in range(queries):
        docs = rng.sample(range(200), depth)
        lines.append([f"q{q} Q0 d{d} {r + 1} {rng.randint(0, 9) / 2} t\n" for r, d in enumerate(docs)])
        if q % 7 != 3:  # unjudged
            qrels += [f"q{q} 0 d{d} {rng.randint(0, 2)}\n" for d in rng.sample(docs, 3) + [rng.randrange(200)]]
        topics.append(f"q{q}\tquery {q}\n")
    qrels += ["q900 0 d1 1\n", "q901 0 d2 1\n"]  # judged, not in the run
    topics += ["q900\tabsent one\n"]
    grouped, interleaved = tmp_path / "grouped.trec", tmp_path / "interleaved.trec"
    grouped.write_text("".join("".join(q) for q in lines))
    interleaved.write_text("".join("".join(q[: depth // 2]) for q in lines) + "".join("".join(q[depth // 2:]) for q in lines))
    (tmp_path / "qrels.trec").write_text("".join(qrels))
    (tmp_path / "topics.tsv").write_text("".join(topics))
    return grouped, interleaved, tmp_path / "qrels.trec", tmp_path / "topics.tsv"


def test_iter_run_streams_grouped_runs_as_read_run_reads_them(tmp_path: Path):
    grouped, interleaved, _, _ = _random_run(tmp_path)
    assert list(iter_run(grouped)) == list(read_run(grouped).items())
    assert read_run(interleaved).keys() == read_run(grouped).keys()  # read_run merges the blocks
    with pytest.raises(RunNotGrouped, match="comes back") as info:
        list(iter_run(interleaved))
    assert info.value.line == 40 * 15 + 1 and info.value.field == "qid"
    dup = tmp_path / "dup.trec"
    dup.write_text("q1 Q0 d0 1 3.0 t\nq2 Q0 d0 1 3.0 t\nq1 Q0 d0 2 2.0 t\n")
    with pytest.raises(InputError, match="first on line 1") as info:  # found across the blocks too
        read_run(dup)
    assert info.value.line == 3
    (tmp_path / "empty.trec").write_text("\n")
    with pytest.raises(InputError, match="no results"):
        list(iter_run(tmp_path / "empty.trec"))


def test_streamed_evaluation_in_chunks_equals_scoring_the_whole_run(tmp_path: Path, monkeypatch):
    grouped, interleaved, qrels, _ = _random_run(tmp_path)
    params = ev.EvaluateParams(measures=["MRR@10", "nDCG@10", "R@20", "MRR@1"], missing_as_zero=True)
    # what evaluate computed before it streamed: every query of the run at once
    whole = {q: {d: float(len(es) - i) for i, d in enumerate(ranked_docids(es))} for q, es in read_run(grouped).items()}
    judged = ev.load_qrels(qrels)
    both = [q for q in judged if q in whole]
    expected, _ = ev.compute_per_query({q: whole[q] for q in both}, {q: judged[q] for q in both},
                                       [ev.to_ir_measure(m, params.relevance_level, params.recall) for m in params.measures])
    monkeypatch.setattr(ev, "EVALUATE_CHUNK_QUERIES", 4)
    streamed, fallback = ev.evaluate(grouped, qrels, params), ev.evaluate(interleaved, qrels, params)
    for name, measure in zip(params.measures, [ev.to_ir_measure(m, params.relevance_level, params.recall) for m in params.measures], strict=True):
        want = {q: expected[str(measure)].get(q, 0.0) for q in judged}
        assert streamed["per_query"][name] == want, name
        assert list(streamed["per_query"][name]) == list(judged)  # judged order, as before
    assert {k: v for k, v in fallback.items() if k not in ("run", "provenance")} == \
        {k: v for k, v in streamed.items() if k not in ("run", "provenance")}
    assert streamed["provenance"]["judged_queries_missing_from_run"] == 2
    assert streamed["provenance"]["run_queries_without_judgments"] == 6


# --------------------------------------------------------------------------- training data


def _train_inputs(tmp_path: Path) -> tuple[Path, Path, Path]:
    topics = tmp_path / "topics.tsv"
    topics.write_text("q1\tfirst query\nq2\tsecond query\nq3\tno positive\n")
    qrels = tmp_path / "qrels.trec"
    qrels.write_text("q1 0 p1 1\nq1 0 p2 2\nq2 0 p3 1\nq3 0 x 0\n")
    run = tmp_path / "run.trec"
    hits = {"q1": ["n1", "p1", "n2", "n3", "p2", "n4", "n5"], "q2": ["n9", "n8", "p3"], "q3": ["n1"]}
    run.write_text("".join(f"{q} Q0 {d} {i + 1} {10 - i} t\n" for q, ds in hits.items() for i, d in enumerate(ds)))
    return run, topics, qrels


def test_make_train_data_excludes_positives_and_applies_depth_and_keep(tmp_path: Path):
    run, topics, qrels = _train_inputs(tmp_path)
    rows, stats = train_data.build_train_data(run, topics, qrels, train_data.TrainDataParams(depth=6, keep=3))
    assert [r["query_id"] for r in rows] == ["q1", "q2"]
    assert rows[0]["positive_document_ids"] == ["p1", "p2"]
    # top 6 = n1 p1 n2 n3 p2 n4 → minus positives → n1 n2 n3 n4 → keep 3
    assert rows[0]["negative_document_ids"] == ["n1", "n2", "n3"]
    assert rows[1]["negative_document_ids"] == ["n9", "n8"]
    assert stats["skipped_no_positive"] == 1
    all_rows, _ = train_data.build_train_data(run, topics, qrels, train_data.TrainDataParams(depth=200))
    assert all_rows[0]["negative_document_ids"] == ["n1", "n2", "n3", "n4", "n5"]
    strict, stats = train_data.build_train_data(run, topics, qrels, train_data.TrainDataParams(min_relevance=2))
    assert [r["query_id"] for r in strict] == ["q1"] and strict[0]["positive_document_ids"] == ["p2"]
    assert "p1" in strict[0]["negative_document_ids"]  # a grade-1 document is a negative at min_relevance 2


def _deep_run(tmp_path: Path, depth: int = 250) -> tuple[Path, Path, Path, set[str]]:
    """One query, `depth` ranked documents, three positives spread over the ranking (one past 200)."""
    topics = tmp_path / "deep-topics.tsv"
    topics.write_text("q1\tquery\n")
    positives = {"d5", "d150", "d230"}
    qrels = tmp_path / "deep-qrels.trec"
    qrels.write_text("".join(f"q1 0 {d} 1\n" for d in sorted(positives)))
    run = tmp_path / "deep-run.trec"
    run.write_text("".join(f"q1 Q0 d{i} {i + 1} {1000 - i} t\n" for i in range(depth)))
    return run, topics, qrels, positives


def test_mined_negatives_are_a_seeded_random_128_of_the_top_200_without_positives(tmp_path: Path):
    """Issue 12 row 3 (build_train_hn.py: top 200 minus positives, shuffled, first 128)."""
    run, topics, qrels, positives = _deep_run(tmp_path)
    params = train_data.TrainDataParams(depth=200, keep=128, selection="random", seed=42)
    rows, _ = train_data.build_train_data(run, topics, qrels, params)
    negatives = rows[0]["negative_document_ids"]
    top200 = {f"d{i}" for i in range(200)}
    assert len(negatives) == len(set(negatives)) == 128
    assert set(negatives) <= top200 - positives          # depth respected, never a positive
    assert any(int(d[1:]) >= 130 for d in negatives)     # ranks past 128 are drawn from
    assert negatives != sorted(negatives, key=lambda d: int(d[1:]))  # not the rank order
    again, _ = train_data.build_train_data(run, topics, qrels, params)
    assert again[0]["negative_document_ids"] == negatives  # seeded: the same draw every time
    other, _ = train_data.build_train_data(run, topics, qrels, train_data.TrainDataParams(
        depth=200, keep=128, selection="random", seed=7))
    assert other[0]["negative_document_ids"] != negatives
    top, _ = train_data.build_train_data(run, topics, qrels, train_data.TrainDataParams(depth=200, keep=128))
    assert top[0]["negative_document_ids"] == [f"d{i}" for i in range(200) if f"d{i}" not in positives][:128]
    with pytest.raises(ValueError, match="selection"):
        train_data.TrainDataParams(selection="best").validate()


def test_train_data_from_a_streamed_run_equals_reading_it_whole(tmp_path: Path):
    grouped, interleaved, qrels, topics = _random_run(tmp_path)
    for params in (train_data.TrainDataParams(depth=10, keep=None),
                   train_data.TrainDataParams(depth=20, keep=5, selection="random", seed=3)):
        rows, stats = train_data.build_train_data(grouped, topics, qrels, params)
        assert (rows, stats) == train_data.build_train_data(interleaved, topics, qrels, params)
        whole = read_run(grouped)
        for row in rows:  # the candidates are the top `depth` of the whole run, as before
            top = ranked_docids(whole[row["query_id"]])[: params.depth]
            assert set(row["negative_document_ids"]) <= set(top)
            if params.keep is None:
                assert row["negative_document_ids"] == [d for d in top if d not in row["positive_document_ids"]]


def test_make_train_data_merge_appends_deduplicated_negatives(tmp_path: Path):
    run, topics, qrels = _train_inputs(tmp_path)
    other = tmp_path / "bm25.jsonl"
    other.write_text(json.dumps({"query_id": "q1", "query": "first query", "positive_document_ids": ["p1"],
                                 "negative_document_ids": ["n2", "b1", "p2", "b2", "b1"]}) + "\n")
    out = tmp_path / "train.jsonl"
    params = {"depth": 3, "keep": 2, "merge_with": str(other)}
    assert train_data.main(["--run", str(run), "--topics", str(topics), "--qrels", str(qrels), "--out", str(out),
                            "--params", json.dumps(params)]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert set(rows[0]) == {"query_id", "query", "positive_document_ids", "negative_document_ids"}
    assert rows[0]["negative_document_ids"] == ["n1", "n2", "b1", "b2"]
    with pytest.raises(ValueError, match="unknown key 'deep'"):
        train_data.main(["--run", str(run), "--topics", str(topics), "--qrels", str(qrels), "--out", str(out),
                         "--params", '{"deep": 3}'])


def test_retriever1_negatives_from_the_official_triples(tmp_path: Path):
    """Issue 28, #11: MS MARCO's qidpidtriples (qid, positive, negative; a query's lines consecutive)
    or the QAC authors' grouped qid<TAB>pid,pid,... give each query's negatives in file order without
    repeats or positives; bm25_keep samples them (seeded), as build_train.py's shuffle + [:128]."""
    _, topics, qrels = _train_inputs(tmp_path)
    triples = tmp_path / "qidpidtriples.tsv"
    triples.write_text("q1\tp1\tn1\nq1\tp1\tn2\nq1\tp2\tn1\nq1\tp2\tp2\nq1\tp2\tn3\nq2\tp3\tn9\nq9\tp\tn\n")
    rows, _ = train_data.build_train_data(triples, topics, qrels, train_data.TrainDataParams(), triples=True)
    assert {r["query_id"]: r["negative_document_ids"] for r in rows} == {"q1": ["n1", "n2", "n3"], "q2": ["n9"]}
    grouped = tmp_path / "train.negatives.tsv"
    grouped.write_text("q1\tn1,n2,n1,p2,n3\nq2\tn9\n")
    assert train_data.build_train_data(grouped, topics, qrels, train_data.TrainDataParams(), triples=True)[0] == rows
    params = train_data.TrainDataParams(keep=2, selection="random", seed=42)
    sampled, _ = train_data.build_train_data(triples, topics, qrels, params, triples=True)
    assert len(sampled[0]["negative_document_ids"]) == 2 and set(sampled[0]["negative_document_ids"]) <= {"n1", "n2", "n3"}
    assert sampled == train_data.build_train_data(triples, topics, qrels, params, triples=True)[0]
    scattered = tmp_path / "scattered.tsv"
    scattered.write_text("q1\tp1\tn1\nq2\tp3\tn9\nq1\tp1\tn2\n")
    with pytest.raises(InputError, match="scattered.tsv, line 3: .*consecutive"):
        train_data.build_train_data(scattered, topics, qrels, train_data.TrainDataParams(), triples=True)
    out = tmp_path / "train.jsonl"
    assert train_data.main(["--triples", str(triples), "--topics", str(topics), "--qrels", str(qrels),
                            "--out", str(out), "--params", '{"keep": 2, "selection": "random"}']) == 0
    assert [json.loads(x)["query_id"] for x in out.read_text().splitlines()] == ["q1", "q2"]


def test_title_joins_its_text_with_a_space_or_the_tokenizers_separator():
    """Issue 28, #13: Tevatron's preprocessor (the QAC code's MS MARCO corpus) tokenises
    ``title + sep_token + text``; BEIR, pyserini and sentence-transformers join with a space."""
    from qcpt.pretrain.tiny import tiny_tokenizer
    from qcpt.retrieval.data import passage_text, title_separator
    from qcpt.retrieval.params import EncodeParams

    tokenizer = tiny_tokenizer()
    joined = passage_text("Tides", "the moon pulls the sea", title_separator("sep", tokenizer))
    assert joined == f"Tides{tokenizer.sep_token}the moon pulls the sea"
    ids = tokenizer(joined, add_special_tokens=False)["input_ids"]
    assert tokenizer.sep_token_id in ids  # one separator token, not the letters of "[SEP]"
    assert passage_text("Tides", "x", title_separator("space")) == "Tides x" == passage_text("Tides", "x")
    assert passage_text("", "x", title_separator("sep", tokenizer)) == "x"
    with pytest.raises(ValueError, match="title_join"):
        train_data.parse_params(EncodeParams, {"title_join": "colon"})


def test_mined_depth_can_count_negatives_as_build_train_hn_does(tmp_path: Path):
    """Row 3 (issue 28's correction): build_train_hn.py load_ranking drops the positives first and
    then keeps the first 200 (``negatives[:depth]``) of a depth-1000 run; depth_counts "hits" keeps
    the run's top 200 and then drops the positives."""
    run, topics, qrels, positives = _deep_run(tmp_path)
    hits, _ = train_data.build_train_data(run, topics, qrels, train_data.TrainDataParams(depth=200))
    negatives, _ = train_data.build_train_data(run, topics, qrels,
                                               train_data.TrainDataParams(depth=200, depth_counts="negatives"))
    assert len(hits[0]["negative_document_ids"]) == 198  # d5 and d150 were in the top 200
    code = [f"d{i}" for i in range(250) if f"d{i}" not in positives][:200]
    assert negatives[0]["negative_document_ids"] == code and code[-2:] == ["d200", "d201"]
    with pytest.raises(ValueError, match="depth_counts"):
        train_data.parse_params(train_data.TrainDataParams, {"depth_counts": "docs"})


# --------------------------------------------------------------------------- against BEIR's evaluation


def _beir_qrels(name: str) -> Path:
    """The judgments a cross-check scores: the demo's (graded 1-2), or reference data where present."""
    if name == "demo":
        return ROOT / "qcpt" / "data" / "demo" / "qrels-test.trec"
    if name == "scifact":  # BEIR's own qrels format (binary)
        return shared_data("scifact", "qrels", "test.tsv")
    return shared_data("msmarco-passage-eval", "qrels.dl19-passage.txt")  # graded 0-3


def _run_over(qrels: dict[str, dict[str, int]], seed: int, ties: bool) -> dict[str, dict[str, float]]:
    """A seeded run ranking each judged query's judged documents among 60 unjudged ones; distinct
    scores (``ties=False``) or scores on a coarse grid that tie often."""
    rng = random.Random(seed)
    run = {}
    for q, judged in qrels.items():
        docs = [*judged, *(f"x{i}" for i in rng.sample(range(500), 60))]
        scores = rng.sample(range(1_000_000), len(docs))
        run[q] = {d: (s // 100_000 if ties else s / 1000) for d, s in zip(docs, scores, strict=True)}
    return run


def _write_run_dict(path: Path, run: dict[str, dict[str, float]]) -> Path:
    path.write_text("".join(f"{q} Q0 {d} {i} {s} t\n" for q, hits in run.items() for i, (d, s) in enumerate(hits.items(), 1)))
    return path


def _beir_scores(qrels: dict[str, dict[str, int]], run: dict[str, dict[str, float]], ignore_identical_ids: bool) -> dict[str, float]:
    """BEIR's numbers under our measure names: nDCG@10, recall@50/1000 (pytrec_eval via
    ``EvaluateRetrieval.evaluate``) and MRR@10 (BEIR's own ``evaluate_custom``), each rounded to 5 digits."""
    from beir.retrieval.evaluation import EvaluateRetrieval

    run = {q: dict(hits) for q, hits in run.items()}  # BEIR drops identical-id hits in place
    ndcg, _, recall, _ = EvaluateRetrieval.evaluate(qrels, run, [10, 50, 1000], ignore_identical_ids=ignore_identical_ids)
    mrr = EvaluateRetrieval.evaluate_custom(qrels, run, [10], metric="mrr")
    return {"nDCG@10": ndcg["NDCG@10"], "R@50": recall["Recall@50"], "R@1000": recall["Recall@1000"], "MRR@10": mrr["MRR@10"]}


@pytest.mark.parametrize("qrels_name", ["demo", "scifact", "dl19"])
def test_evaluate_agrees_with_beir(tmp_path: Path, qrels_name):
    """Our nDCG@10, MRR@10 and trec recall equal BEIR's ``EvaluateRetrieval`` on the same run (every
    judged query in it, so both average over the same queries; relevance level 1, BEIR's ``> 0``).
    Ties are where the two differ by design: BEIR hands them to pytrec_eval (docid descending) and
    sorts them stably for MRR; we break them by docid ascending (module docstring). On a run with
    ties, ours equals BEIR's on the same run re-scored in our order."""
    qrels = ev.load_qrels(_beir_qrels(qrels_name))
    params = ev.EvaluateParams(measures=["nDCG@10", "R@50", "R@1000", "MRR@10"])
    distinct = _run_over(qrels, seed=1, ties=False)
    ours = ev.evaluate(_write_run_dict(tmp_path / "distinct.trec", distinct), _beir_qrels(qrels_name), params)["measures"]
    assert ours == pytest.approx(_beir_scores(qrels, distinct, ignore_identical_ids=False), abs=1e-5)
    assert 0.05 < ours["MRR@10"] < 0.95  # a run neither empty of nor full of relevant hits

    tied = _run_over(qrels, seed=2, ties=True)
    run_file = _write_run_dict(tmp_path / "tied.trec", tied)
    ours = ev.evaluate(run_file, _beir_qrels(qrels_name), params)["measures"]
    in_our_order = {q: {d: float(len(es) - i) for i, d in enumerate(ranked_docids(es))} for q, es in read_run(run_file).items()}
    assert ours == pytest.approx(_beir_scores(qrels, in_our_order, ignore_identical_ids=False), abs=1e-5)
    # as written, the ties go the other way in pytrec_eval (judged d… ids after unjudged x… ids)
    assert ours["nDCG@10"] > _beir_scores(qrels, tied, ignore_identical_ids=False)["nDCG@10"] + 0.01


def test_identical_id_hits_are_dropped_as_beir_drops_them(tmp_path: Path):
    qrels = ev.load_qrels(_beir_qrels("demo"))
    run = _run_over(qrels, seed=3, ties=False)
    for i, q in enumerate(run):
        if i % 3 == 0:
            run[q][q] = 10_000.0  # the query itself, ranked first
    params = ev.EvaluateParams(measures=["nDCG@10", "R@50", "R@1000", "MRR@10"], ignore_identical_ids=True)
    ours = ev.evaluate(_write_run_dict(tmp_path / "run.trec", run), _beir_qrels("demo"), params)["measures"]
    assert ours == pytest.approx(_beir_scores(qrels, run, ignore_identical_ids=True), abs=1e-5)
