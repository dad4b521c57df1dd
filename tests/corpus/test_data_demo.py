"""The embedded demo dataset: parses, is consistent, and is what tools/make_demo_corpus.py makes."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "qcpt" / "data" / "demo"
FILES = ["documents.jsonl", "topics-train.tsv", "qrels-train.trec", "topics-test.tsv", "qrels-test.trec"]


def documents() -> list[dict]:
    return [json.loads(line) for line in (DEMO / "documents.jsonl").read_text(encoding="utf-8").splitlines()]


def topics(split: str) -> dict[str, str]:
    rows = [line.split("\t") for line in (DEMO / f"topics-{split}.tsv").read_text(encoding="utf-8").splitlines()]
    assert all(len(r) == 2 for r in rows), f"topics-{split}.tsv: every line is qid<TAB>text"
    out = dict(rows)
    assert len(out) == len(rows), f"topics-{split}.tsv: duplicate qid"
    return out


def qrels(split: str) -> dict[str, dict[str, int]]:
    judged: dict[str, dict[str, int]] = defaultdict(dict)
    for line in (DEMO / f"qrels-{split}.trec").read_text(encoding="utf-8").splitlines():
        qid, it, docid, rel = line.split(" ")
        assert it == "0"
        judged[qid][docid] = int(rel)
    return judged


def test_documents_are_well_formed():
    docs = documents()
    assert 280 <= len(docs) <= 320
    ids = [d["id"] for d in docs]
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"d\d{4}", i) for i in ids)
    assert all(set(d) == {"id", "title", "text"} and d["title"] and d["text"] for d in docs)
    text = " ".join(d["text"] for d in docs)
    for needle in ["Dr. ", "e.g. ", "U.S. ", "café", "Zürich"]:
        assert needle in text, needle


def test_topics_and_qrels_are_consistent():
    doc_ids = {d["id"] for d in documents()}
    train, test = topics("train"), topics("test")
    assert 180 <= len(train) <= 220 and len(test) >= 200, "200+ test queries: a paired t-test can reach p <= 0.01"
    assert not set(train) & set(test), "train and test qids overlap"
    assert not {t.lower() for t in train.values()} & {t.lower() for t in test.values()}, "same query text in both"
    for split, tops in [("train", train), ("test", test)]:
        judged = qrels(split)
        assert set(judged) == set(tops), f"{split}: every topic has qrels and every qrel has a topic"
        for qid, docs in judged.items():
            assert set(docs) <= doc_ids, f"{split} {qid}: judged document missing from documents.jsonl"
            assert set(docs.values()) <= {1, 2}
            assert 2 in docs.values(), f"{split} {qid}: no fully relevant document"


def test_queries_are_not_copies_of_sentences():
    text = " ".join(d["text"].lower() for d in documents())
    copied = [q for q in [*topics("train").values(), *topics("test").values()] if len(q.split()) > 4 and q.lower() in text]
    assert len(copied) < 5, copied


def test_demo_is_small():
    assert sum((DEMO / f).stat().st_size for f in FILES) < 1_000_000
    assert (DEMO / "README.md").is_file()


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    subprocess.run([sys.executable, str(ROOT / "tools" / "make_demo_corpus.py"), "--out", str(out)],
                   check=True, capture_output=True)
    return out


@pytest.mark.parametrize("name", FILES)
def test_generator_reproduces_committed_files(regenerated, name):
    assert (regenerated / name).read_bytes() == (DEMO / name).read_bytes(), (
        f"{name} differs from what tools/make_demo_corpus.py makes: rerun it"
    )
