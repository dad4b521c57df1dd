"""Paths with spaces and non-ASCII characters, and non-ASCII text: the trimmed demo runs with its
working directory, config, documents and results all under such names, and the text survives
every stage unmangled."""

from __future__ import annotations

import json

import pytest
from conftest import ROOT
from demo_runs import demo_config, metrics_files, run_demo

pytestmark = pytest.mark.slow

# Two documents no query judges get these texts (the corpus keeps its 300 one-passage documents, so
# corpus.num_passages stays right).
EXTRA = [
    {"title": "Ωμέγα café",
     "text": "Der Käsekuchen aus Zürich schmeckt süß. Le crème brûlée coûte 5 €. Ünïcödé ünd ßpäce in "
             "the naïve façade of Åre. Ελληνικά κείμενα εδώ. 東京タワーは赤い。"},
    {"title": "Tab\tand spaces  title",
     "text": "A “quoted” sentence — with dashes… and emoji 🚀 inside. Straße, Øresund, İstanbul, Łódź."},
]


def test_demo_runs_under_paths_with_spaces_and_non_ascii(tmp_path):
    base = tmp_path / "wörk dir"
    inputs = base / "in put ñ"
    inputs.mkdir(parents=True)
    documents = inputs / "dökuments äll.jsonl"
    demo = ROOT / "qcpt/data/demo"
    judged = {line.split()[2] for name in ("qrels-test.trec", "qrels-train.trec")
              for line in (demo / name).read_text().splitlines()}
    rows = [json.loads(line) for line in (demo / "documents.jsonl").read_text(encoding="utf-8").splitlines()]
    unjudged = [i for i, row in enumerate(rows) if row["id"] not in judged]
    replaced = {rows[i]["id"]: extra for i, extra in zip(unjudged, EXTRA, strict=False)}
    assert len(replaced) == len(EXTRA)
    with open(documents, "w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps({**row, **replaced.get(row["id"], {})}, ensure_ascii=False) + "\n")
    first, second = replaced
    results = base / "out dir" / "ünï"
    config = demo_config(base / "cönfig dir", results, documents)
    run_demo(config, base)

    passages = [json.loads(line) for line in (results / "corpus/demo/passages.jsonl").read_text(encoding="utf-8").splitlines()]
    text = " ".join(p["text"] for p in passages if p["doc_id"] == first)
    assert "Käsekuchen aus Zürich schmeckt süß" in text and "東京タワーは赤い" in text, text
    assert any(p["title"] == "Tab and spaces title" for p in passages if p["doc_id"] == second)
    collection = (results / "data/demo/collection.jsonl").read_text(encoding="utf-8")
    assert "Łódź" in collection and "🚀" in collection
    queries = (results / "corpus/demo/queries/d2q/c2-nall.tsv").read_text(encoding="utf-8").splitlines()
    assert queries and all(len(row.split("\t")) == 2 for row in queries)
    assert len(metrics_files(results)) == 6
    for f in metrics_files(results):
        metrics = json.loads((results / f).read_text(encoding="utf-8"))
        assert metrics["run"].startswith(str(results)) and metrics["num_queries"] > 0
    assert "| demo-test | bm25 |" in (results / "summary.md").read_text(encoding="utf-8")
