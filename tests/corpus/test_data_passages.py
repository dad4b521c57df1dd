"""Passages: Punkt sentences packed greedily into spans of at most max_tokens encoder tokens."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from qcpt.core.io import InputError  # noqa: E402
from qcpt.corpus.packing import Unit, pack_units  # noqa: E402
from qcpt.corpus.params import EncoderParams, PassageParams, PunktParams  # noqa: E402
from qcpt.corpus.passages import make_passages  # noqa: E402
from qcpt.corpus.textmodels import build_encoder, load_punkt, train_punkt  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
DEMO_DOCS = ROOT / "qcpt" / "data" / "demo" / "documents.jsonl"


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> tuple[Path, Path]:
    import torch

    torch.set_num_threads(2)
    root = tmp_path_factory.mktemp("models")
    train_punkt(DEMO_DOCS, root / "punkt.pickle", PunktParams(source="train"))
    build_encoder(DEMO_DOCS, root / "encoder", EncoderParams(vocab_size=4000, hidden_size=16, num_layers=1, num_heads=2, intermediate_size=32))
    return root / "punkt.pickle", root / "encoder"


def read_rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def write_docs(path: Path, docs: list[dict]) -> Path:
    path.write_text("".join(json.dumps(d, ensure_ascii=False) + "\n" for d in docs), encoding="utf-8")
    return path


def test_pack_units_is_greedy_and_in_order():
    units = [Unit("a", 3), Unit("b", 4), Unit("c", 2), Unit("d", 6), Unit("e", 1)]
    assert pack_units(units, 7) == [Unit("a b", 7), Unit("c", 2), Unit("d e", 7)]
    assert pack_units(units, 100) == [Unit("a b c d e", 16)]
    assert pack_units([], 5) == []


def test_short_passages_switch_follows_the_given_targets():
    """The QAC authors' 15% short passages (make_contextual_splits.py): a passage's target length
    may be below max_tokens; packing stops at it (one unit at least)."""
    units = [Unit("a", 3), Unit("b", 4), Unit("c", 2), Unit("d", 6), Unit("e", 1)]
    assert pack_units(units, 7, iter([3, 7, 100])) == [Unit("a", 3), Unit("b c", 6), Unit("d e", 7)]
    with pytest.raises(ValueError, match="short_fraction"):
        PassageParams(short_fraction=1.5)


def test_short_fraction_makes_shorter_passages_reproducibly(tmp_path, models):
    punkt, encoder = models
    rows = {}
    for name, fraction in (("plain", 0.0), ("short", 1.0), ("again", 1.0)):
        out = tmp_path / f"{name}.jsonl"
        make_passages(DEMO_DOCS, punkt, str(encoder), out, PassageParams(max_tokens=40, short_fraction=fraction))
        rows[name] = read_rows(out)
    assert rows["short"] == rows["again"]  # seeded per document
    assert len(rows["short"]) > len(rows["plain"])
    assert " ".join(r["text"] for r in rows["short"]).split() == " ".join(r["text"] for r in rows["plain"]).split()


@pytest.mark.parametrize("max_tokens", [12, 30, 144])
def test_passages_respect_max_tokens_and_cover_sentences_in_order(tmp_path, models, max_tokens):
    from transformers import AutoTokenizer

    punkt, encoder = models
    out = tmp_path / "passages.jsonl"
    make_passages(DEMO_DOCS, punkt, str(encoder), out, PassageParams(max_tokens=max_tokens))
    rows = read_rows(out)
    tokenizer = AutoTokenizer.from_pretrained(encoder)
    splitter = load_punkt(punkt)
    docs = read_rows(DEMO_DOCS)
    by_doc: dict[str, list[dict]] = {}
    for row in rows:
        assert set(row) == {"id", "doc_id", "title", "text", "n_tokens"}
        by_doc.setdefault(row["doc_id"], []).append(row)
        n = len(tokenizer(row["text"], add_special_tokens=False)["input_ids"])
        assert n == row["n_tokens"] <= max_tokens, row
    assert [r["doc_id"] for r in rows] == [d for d in dict.fromkeys(r["doc_id"] for r in rows)
                                           for _ in by_doc[d]], "passages grouped by document"
    assert list(by_doc) == [d["id"] for d in docs]
    for doc in docs:
        passages = by_doc[doc["id"]]
        assert [p["id"] for p in passages] == [f"{doc['id']}-{k}" for k in range(len(passages))]
        assert all(p["title"] == doc["title"] for p in passages)
        sentences = [" ".join(s.split()) for s in splitter.tokenize(doc["text"])]
        # Passages joined back give the sentences, all of them, in order.
        assert " ".join(p["text"] for p in passages).split() == " ".join(sentences).split()
        if max_tokens == 144:
            assert len(passages) == 1  # the demo is built so that each document fits one passage


def test_greedy_packing_starts_a_new_passage_only_when_needed(tmp_path, models):
    from transformers import AutoTokenizer

    punkt, encoder = models
    out = tmp_path / "p.jsonl"
    make_passages(DEMO_DOCS, punkt, str(encoder), out, PassageParams(max_tokens=40))
    tokenizer = AutoTokenizer.from_pretrained(encoder)
    splitter = load_punkt(punkt)
    rows = read_rows(out)
    for a, b in zip(rows, rows[1:], strict=False):
        if a["doc_id"] == b["doc_id"]:
            first_sentence = splitter.tokenize(b["text"])[0]
            n_first = len(tokenizer(first_sentence, add_special_tokens=False)["input_ids"])
            assert a["n_tokens"] + n_first > 40, "the next sentence would have fitted"


def test_long_sentence_is_cut_at_word_boundaries(tmp_path, models):
    from transformers import AutoTokenizer

    punkt, encoder = models
    words = " ".join(f"comet{i % 7} volcano treaty" for i in range(40))
    docs = write_docs(tmp_path / "docs.jsonl", [
        {"id": "long", "title": "Long", "text": f"Short start. {words} end. Short end."},
    ])
    out = tmp_path / "p.jsonl"
    counts = make_passages(docs, punkt, str(encoder), out, PassageParams(max_tokens=25))
    rows = read_rows(out)
    tokenizer = AutoTokenizer.from_pretrained(encoder)
    assert counts["long_sentences_cut"] == 1 and counts["long_sentence_pieces"] >= 5
    assert all(0 < r["n_tokens"] <= 25 for r in rows)
    assert all(len(tokenizer(r["text"], add_special_tokens=False)["input_ids"]) == r["n_tokens"] for r in rows)
    assert " ".join(r["text"] for r in rows).split() == f"Short start. {words} end. Short end.".split()


def test_bad_documents_are_located(tmp_path, models):
    punkt, encoder = models
    docs = write_docs(tmp_path / "docs.jsonl", [{"id": "a", "text": "Fine."}, {"id": "b", "text": ""}])
    out = tmp_path / "p.jsonl"
    with pytest.raises(InputError) as err:
        make_passages(docs, punkt, str(encoder), out)
    assert (err.value.line, err.value.field) == (2, "text")
    assert not out.exists()


def test_worker_processes_write_the_same_file_as_one(tmp_path, models, caplog):
    """workers=2 sends batches to a process pool; the file must be byte-identical and the counters
    equal. 300 documents in batches of 64: four full batches and a partial last one; short passages
    on, so the per-document target lengths are drawn too."""
    import logging

    punkt, encoder = models
    params = PassageParams(max_tokens=30, short_fraction=0.3, batch_documents=64)
    serial = make_passages(DEMO_DOCS, punkt, str(encoder), tmp_path / "serial.jsonl", params)
    with caplog.at_level(logging.INFO, logger="qcpt.corpus.passages"):
        parallel = make_passages(DEMO_DOCS, punkt, str(encoder), tmp_path / "parallel.jsonl", params, workers=2)
    assert "(2 worker processes)" in caplog.text  # the pool ran (not the fall-back for tiny inputs)
    assert (tmp_path / "parallel.jsonl").read_bytes() == (tmp_path / "serial.jsonl").read_bytes()
    assert parallel == serial
    assert parallel["documents"] == 300 and parallel["passages"] == len(read_rows(tmp_path / "serial.jsonl"))


def test_worker_processes_report_errors_as_one_process_does(tmp_path, models):
    """A duplicate id far into the input names its line (after the batches before it are made);
    a bad Punkt file fails in the workers' start-up and comes back as the same InputError."""
    import pickle

    punkt, encoder = models
    params = PassageParams(batch_documents=64)
    docs = read_rows(DEMO_DOCS)
    duplicated = write_docs(tmp_path / "dup.jsonl", [*docs, {**docs[5], "text": "Again."}])
    bad_punkt = tmp_path / "bad.pickle"
    bad_punkt.write_bytes(pickle.dumps({"not": "punkt"}))
    for source, punkt_file, line, field in ((duplicated, punkt, len(docs) + 1, "id"), (DEMO_DOCS, bad_punkt, None, None)):
        errors = []
        for workers in (1, 2):
            out = tmp_path / f"p{workers}.jsonl"
            with pytest.raises(InputError) as err:
                make_passages(source, punkt_file, str(encoder), out, params, workers=workers)
            assert not out.exists()
            errors.append((err.value.path, err.value.line, err.value.field, str(err.value)))
        assert errors[0] == errors[1]
        assert errors[0][1:3] == (line, field), errors[0]


def test_cli_end_to_end(tmp_path, models):
    punkt, encoder = models
    out = tmp_path / "passages.jsonl"
    serial = tmp_path / "serial.jsonl"
    make_passages(DEMO_DOCS, punkt, str(encoder), serial, PassageParams(max_tokens=144, seed=42))
    cmd = [sys.executable, str(ROOT / "scripts" / "qcpt.py"), "passages", "--documents", str(DEMO_DOCS),
           "--punkt", str(punkt), "--tokenizer", str(encoder), "--out", str(out), "--workers", "2", "--params", '{"max_tokens": 144, "seed": 42}']
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "2"})
    assert proc.returncode == 0, proc.stderr
    assert len(out.read_text().splitlines()) == 300
    assert "wrote 300 passages" in proc.stderr and "(2 worker processes)" in proc.stderr
    assert out.read_bytes() == serial.read_bytes()
    bad = subprocess.run(cmd[:-1] + ['{"max_tokens": 144, "sead": 1}'], capture_output=True, text=True)
    assert bad.returncode != 0 and "sead" in bad.stderr


def test_join_title_opens_the_first_passage_only(tmp_path, models):
    """Issue 28, #6: the QAC README's awk keeps title + body as one text, so the title is in the
    document's first passage and nowhere else; without join_title it is in no passage's text."""
    punkt, encoder = models
    body = " ".join(f"Sentence number {i} talks about rivers and their deltas." for i in range(12))
    docs = write_docs(tmp_path / "docs.jsonl", [{"id": "d1", "title": "Zanzibar Spice Atlas", "text": body},
                                                {"id": "d2", "title": "", "text": "Only a body here."}])
    rows = {}
    for join in (False, True):
        out = tmp_path / f"join-{join}.jsonl"
        make_passages(docs, punkt, str(encoder), out, PassageParams(max_tokens=30, join_title=join))
        rows[join] = read_rows(out)
    joined = [r for r in rows[True] if r["doc_id"] == "d1"]
    assert len(joined) > 1 and joined[0]["text"].startswith("Zanzibar Spice Atlas")
    assert not any("Zanzibar" in r["text"] for r in joined[1:] + rows[False])
    assert [r["text"] for r in rows[True] if r["doc_id"] == "d2"] == ["Only a body here."]
    assert " ".join(r["text"] for r in joined).split() == ("Zanzibar Spice Atlas " + body).split()
