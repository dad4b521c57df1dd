"""Corpus, topics and qrels readers: every source format, and located errors for bad input."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, shared_data

from qcpt.core.io import InputError
from qcpt.core.params import parse_params
from qcpt.corpus.documents import detect_format, prepare_collection, prepare_documents
from qcpt.corpus.params import PassageParams
from qcpt.corpus.topics import prepare_topics, read_qrels


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


GOOD = json.dumps({"id": "a", "title": "T", "text": "Some text."})


# ------------------------------------------------------------------ documents: formats


def test_jsonl_with_id_variants_and_contents(tmp_path):
    src = write_lines(tmp_path / "c.jsonl", [
        json.dumps({"id": "a", "title": "Alpha", "text": "First  text\twith\nspaces."}),
        json.dumps({"_id": "b", "text": "No title."}),
        json.dumps({"docid": 7, "contents": "Pyserini style."}),
    ])
    out = tmp_path / "docs.jsonl"
    assert prepare_documents(src, out) == 3
    assert read_jsonl(out) == [
        {"id": "a", "title": "Alpha", "text": "First text with spaces."},
        {"id": "b", "title": "", "text": "No title."},
        {"id": "7", "title": "", "text": "Pyserini style."},
    ]


@pytest.mark.parametrize("lines, expected", [
    (["p1\tPassage one.", "p2\tPassage two."], [("p1", "", "Passage one."), ("p2", "", "Passage two.")]),
    (["id\ttitle\ttext", "d1\tA title\tBody."], [("d1", "A title", "Body.")]),
    (["D9\thttp://x.org/\tMS MARCO doc\tBody text."], [("D9", "MS MARCO doc", "Body text.")]),
])
def test_tsv_layouts(tmp_path, lines, expected):
    src = write_lines(tmp_path / "collection.tsv", lines)
    out = tmp_path / "collection.jsonl"
    prepare_collection(src, out)
    assert [(r["docid"], r["title"], r["text"]) for r in read_jsonl(out)] == expected


def test_tsv_with_changing_column_count_is_located(tmp_path):
    src = write_lines(tmp_path / "c.tsv", ["a\tone", "b\ttitle\ttwo"])
    with pytest.raises(InputError) as err:
        prepare_documents(src, tmp_path / "out.jsonl")
    assert err.value.line == 2 and "c.tsv" in str(err.value)


def test_beir_folder_and_auto_detection(tmp_path):
    beir = tmp_path / "beir"
    beir.mkdir()
    write_lines(beir / "corpus.jsonl", [
        json.dumps({"_id": "x1", "title": "Title only", "text": "", "metadata": {}}),
        json.dumps({"_id": "x2", "title": "", "text": "Text only."}),
    ])
    assert detect_format(beir) == "beir"
    out = tmp_path / "coll.jsonl"
    assert prepare_collection(beir, out, "auto") == 2
    assert read_jsonl(out)[0] == {"docid": "x1", "title": "Title only", "text": ""}
    # A pre-training corpus needs text: the title-only document is refused there.
    with pytest.raises(InputError, match="text"):
        prepare_documents(beir, tmp_path / "docs.jsonl", "beir")


def _folded(text: str | None) -> str:
    return " ".join((text or "").split())


def assert_read_as_beir_reads(folder: Path, tmp_path: Path) -> None:
    """Our collection, test topics and qrels of a BEIR folder hold what BEIR's own
    ``GenericDataLoader`` loads (ours fold white space; BEIR keeps only the split's judged queries,
    as ours do)."""
    from beir.datasets.data_loader import GenericDataLoader

    corpus, queries, qrels = GenericDataLoader(str(folder)).load(split="test")
    prepare_collection(folder, tmp_path / "collection.jsonl", "beir")
    ours = {r["docid"]: (r["title"], r["text"]) for r in read_jsonl(tmp_path / "collection.jsonl")}
    assert ours == {docid: (_folded(doc["title"]), _folded(doc["text"])) for docid, doc in corpus.items()}
    prepare_topics(folder / "queries.jsonl", folder / "qrels" / "test.tsv", tmp_path / "topics.tsv", tmp_path / "qrels.trec")
    topics = dict(line.split("\t", 1) for line in (tmp_path / "topics.tsv").read_text(encoding="utf-8").splitlines())
    assert topics == {qid: _folded(text) for qid, text in queries.items()}
    judged: dict[str, dict[str, int]] = {}
    for j in read_qrels(tmp_path / "qrels.trec"):
        judged.setdefault(j.qid, {})[j.docid] = j.relevance
    assert judged == qrels


def test_a_beir_folder_reads_as_beir_reads_it(tmp_path):
    beir = tmp_path / "beir"
    (beir / "qrels").mkdir(parents=True)
    write_lines(beir / "corpus.jsonl", [
        json.dumps({"_id": "d1", "title": "A  title", "text": "Body\twith\nbreaks.", "metadata": {}}),
        json.dumps({"_id": "d2", "text": "No title key."}),
        json.dumps({"_id": "d3", "title": "Title only", "text": ""}),
    ])
    write_lines(beir / "queries.jsonl", [
        json.dumps({"_id": "q1", "text": "first  query"}),
        json.dumps({"_id": "q2", "text": "a train query"}),
        json.dumps({"_id": "q3", "text": "third\tquery"}),
    ])
    write_lines(beir / "qrels" / "test.tsv", ["query-id\tcorpus-id\tscore", "q1\td1\t1", "q3\td2\t2", "q3\td3\t0"])
    assert_read_as_beir_reads(beir, tmp_path)


def test_gzipped_jsonl_is_read(tmp_path):
    src = tmp_path / "c.jsonl.gz"
    with gzip.open(src, "wt", encoding="utf-8") as handle:
        handle.write(GOOD + "\n")
    out = tmp_path / "d.jsonl"
    assert detect_format(src) == "jsonl"
    assert prepare_documents(src, out) == 1


# ------------------------------------------------------------------ documents: errors


@pytest.mark.parametrize("bad_line, field, reason", [
    ('{"id": "b", "text": "oops"', None, "bad JSON"),
    (json.dumps({"title": "t", "text": "no id"}), "id", "missing"),
    (json.dumps({"id": "b", "title": "t", "text": "   "}), "text", "empty"),
    (json.dumps({"id": "a", "text": "again"}), "id", "duplicate"),
    (json.dumps({"id": "b", "title": "t"}), "text", "missing"),
    (json.dumps({"id": "b c", "text": "x"}), "id", "whitespace"),
])
def test_malformed_corpus_line_is_located_and_nothing_written(tmp_path, bad_line, field, reason):
    src = write_lines(tmp_path / "corpus.jsonl", [GOOD, json.dumps({"id": "z", "text": "fine"}), bad_line])
    out = tmp_path / "out" / "documents.jsonl"
    with pytest.raises(InputError) as err:
        prepare_documents(src, out, "jsonl")
    assert err.value.line == 3
    assert err.value.field == field
    assert "corpus.jsonl" in str(err.value) and "line 3" in str(err.value) and reason in str(err.value)
    assert not out.exists()
    assert not list(out.parent.glob("*")), "no temporary file left behind"


def test_cli_reports_error_and_writes_nothing(tmp_path):
    src = write_lines(tmp_path / "corpus.jsonl", [GOOD, GOOD])
    out = tmp_path / "documents.jsonl"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "qcpt.py"), "corpus:documents", "--source", str(src), "--out", str(out)],
        capture_output=True, text=True,
    )
    assert proc.returncode != 0
    assert "line 2" in proc.stderr and "'id'" in proc.stderr and "duplicate" in proc.stderr
    assert not out.exists()


def test_unknown_params_key_is_named():
    with pytest.raises(ValueError, match="max_tokenz"):
        parse_params(PassageParams, '{"max_tokenz": 3}')
    assert parse_params(PassageParams, '{"max_tokens": 64}').max_tokens == 64


# ------------------------------------------------------------------ topics and qrels


def test_tsv_gz_topics_with_trec_qrels(tmp_path):
    topics = tmp_path / "topics.tsv.gz"
    with gzip.open(topics, "wt", encoding="utf-8") as handle:
        handle.write("1\tfirst query\n2\tsecond\tquery?\n3\tunjudged query\n")
    # Tab inside the text is not allowed in a 2-column TSV: the reader must say where.
    with pytest.raises(InputError) as err:
        prepare_topics(topics, write_lines(tmp_path / "q.txt", ["1 0 d1 1"]), tmp_path / "t.tsv", tmp_path / "q.trec")
    assert err.value.line == 2
    with gzip.open(topics, "wt", encoding="utf-8") as handle:
        handle.write("1\tfirst query\n2\tsecond query\n3\tunjudged query\n")
    qrels = write_lines(tmp_path / "qrels.txt", ["1 0 d1 1", "1 Q0 d2 0", "2 0 d3 2"])
    n_topics, n_qrels = prepare_topics(topics, qrels, tmp_path / "t.tsv", tmp_path / "q.trec")
    assert (n_topics, n_qrels) == (3, 3)  # a TSV topic file is kept whole
    assert (tmp_path / "t.tsv").read_text().splitlines() == ["1\tfirst query", "2\tsecond query", "3\tunjudged query"]
    assert (tmp_path / "q.trec").read_text().splitlines() == ["1 0 d1 1", "1 0 d2 0", "2 0 d3 2"]


def test_beir_queries_keep_only_judged_topics(tmp_path):
    queries = write_lines(tmp_path / "queries.jsonl", [
        json.dumps({"_id": "q1", "text": "judged one", "metadata": {}}),
        json.dumps({"_id": "q2", "text": "train only"}),
        json.dumps({"_id": "q3", "text": "judged\tthree"}),
    ])
    qrels = write_lines(tmp_path / "test.tsv", ["query-id\tcorpus-id\tscore", "q1\td1\t1", "q3\td7\t2", "q3\td8\t1"])
    assert prepare_topics(queries, qrels, tmp_path / "t.tsv", tmp_path / "q.trec") == (2, 3)
    assert (tmp_path / "t.tsv").read_text().splitlines() == ["q1\tjudged one", "q3\tjudged three"]
    assert (tmp_path / "q.trec").read_text().splitlines() == ["q1 0 d1 1", "q3 0 d7 2", "q3 0 d8 1"]


@pytest.mark.parametrize("qrels_lines, line, field", [
    (["1 0 d1 x"], 1, "relevance"),
    (["1 0 d1 1", "1 0 d1 2"], 2, "docid"),
    (["1 0 d1 1", "9 0 d1 1"], 2, "qid"),
    (["1 0 d1 1", "1 d1 1"], 2, None),
])
def test_bad_qrels_are_located(tmp_path, qrels_lines, line, field):
    topics = write_lines(tmp_path / "topics.tsv", ["1\tquery"])
    qrels = write_lines(tmp_path / "qrels.txt", qrels_lines)
    with pytest.raises(InputError) as err:
        prepare_topics(topics, qrels, tmp_path / "t.tsv", tmp_path / "q.trec")
    assert (err.value.line, err.value.field) == (line, field)
    assert "qrels.txt" in str(err.value)
    assert not (tmp_path / "t.tsv").exists() and not (tmp_path / "q.trec").exists()


def test_duplicate_and_empty_topics_are_located(tmp_path):
    qrels = write_lines(tmp_path / "qrels.txt", ["1 0 d1 1"])
    for lines, field in [(["1\tquery", "1\tagain"], "qid"), (["1\tquery", "2\t  "], "text")]:
        topics = write_lines(tmp_path / "topics.tsv", lines)
        with pytest.raises(InputError) as err:
            prepare_topics(topics, qrels, tmp_path / "t.tsv", tmp_path / "q.trec")
        assert (err.value.line, err.value.field) == (2, field)


def test_beir_float_grades_are_integers(tmp_path):
    qrels = write_lines(tmp_path / "q.tsv", ["q1\td1\t1.0", "q1\td2\t0"])
    assert [(j.qid, j.docid, j.relevance) for j in read_qrels(qrels)] == [("q1", "d1", 1), ("q1", "d2", 0)]


# ------------------------------------------------------------------ reference data


def scifact() -> Path:
    return shared_data("scifact")


def test_scifact_collection_and_test_topics(tmp_path):
    data = scifact()
    assert prepare_collection(data, tmp_path / "collection.jsonl", "beir") == 5183
    first = read_jsonl(tmp_path / "collection.jsonl")[0]
    assert set(first) == {"docid", "title", "text"} and first["title"] and first["text"]
    n_topics, n_qrels = prepare_topics(
        data / "queries.jsonl", data / "qrels" / "test.tsv", tmp_path / "topics.tsv", tmp_path / "qrels.trec"
    )
    assert (n_topics, n_qrels) == (300, 339)
    assert len((tmp_path / "topics.tsv").read_text().splitlines()) == 300
    assert len((tmp_path / "qrels.trec").read_text().splitlines()) == 339


def test_scifact_reads_as_beir_reads_it(tmp_path):
    assert_read_as_beir_reads(scifact(), tmp_path)


def test_folder_with_file_format_is_refused(tmp_path):
    with pytest.raises(InputError, match="folder"):
        prepare_documents(tmp_path, tmp_path / "out.jsonl", "jsonl")
    with pytest.raises(InputError, match="not a BEIR folder"):
        prepare_documents(tmp_path, tmp_path / "out.jsonl", "beir")
