"""Readers and normalisers for corpora, topics and qrels.

Whatever the source (JSONL with ``id``/``_id``/``docid`` + ``title`` + ``text``/``contents``; TSV
``id<TAB>text``, ``id<TAB>title<TAB>text`` or MS MARCO documents' ``id<TAB>url<TAB>title<TAB>text``;
a BEIR folder), the stages downstream read one normal form (docs/artifacts.md):

- :func:`prepare_documents` → documents JSONL ``{"id", "title", "text"}`` (pre-training corpus);
- :func:`prepare_collection` → collection JSONL ``{"docid", "title", "text"}`` (retrieval corpus);
- :func:`prepare_topics` → topics TSV ``qid<TAB>text`` + TREC qrels ``qid 0 docid rel``.

Bad input (bad JSON, a missing id, empty text, a duplicate id, a wrong column count, a relevance that
is not an integer ...) raises :class:`~qcpt.io.InputError` naming file, line and field; outputs are
written atomically, so on an error nothing appears under the output name.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from . import irds
from .io import InputError, atomic_open, open_text, read_jsonl, read_tsv, require_str
from .params import setup_logging

log = logging.getLogger(__name__)

FORMATS = ("auto", "jsonl", "tsv", "beir", "raw")  # raw: an irds: source's downloaded file (qcpt.irds)
ID_FIELDS = ("id", "_id", "docid")
TEXT_FIELDS = ("text", "contents")
BEIR_CORPUS_NAMES = ("corpus.jsonl", "corpus.jsonl.gz")



# --------------------------------------------------------------------------- shared helpers


def one_line(text: str) -> str:
    """Collapse all whitespace (tabs and newlines included) to single spaces: TSV-safe text."""
    return " ".join(text.split())


# --------------------------------------------------------------------------- corpus records


@dataclass(frozen=True)
class Record:
    """One document as read from a source, with where it came from (for error messages)."""

    path: str
    line: int
    id: str
    title: str
    text: str
    unit: str = "line"  # what ``line`` counts: "row" for an ir_datasets dataset


def beir_corpus_file(folder: str | os.PathLike) -> Path:
    for name in BEIR_CORPUS_NAMES:
        candidate = Path(folder) / name
        if candidate.is_file():
            return candidate
    raise InputError(folder, None, None, f"not a BEIR folder: none of {', '.join(BEIR_CORPUS_NAMES)} found")


def detect_format(source: str | os.PathLike) -> str:
    """``beir`` for a folder; ``jsonl``/``tsv`` by extension, else by the first non-blank line."""
    path = Path(source)
    if path.is_dir():
        return "beir"
    if not path.exists():
        raise InputError(path, None, None, "does not exist")
    name = path.name.lower().removesuffix(".gz")
    if name.endswith((".jsonl", ".json", ".ndjson")):
        return "jsonl"
    if name.endswith((".tsv", ".tab")):
        return "tsv"
    with open_text(path) as handle:
        for line in handle:
            if line.strip():
                return "jsonl" if line.lstrip().startswith("{") else "tsv"
    raise InputError(path, None, None, "is empty: cannot detect its format")


def _first_field(obj: dict, names: tuple[str, ...]) -> str | None:
    return next((name for name in names if name in obj and obj[name] is not None), None)


def iter_jsonl_records(path: str | os.PathLike) -> Iterator[Record]:
    for lineno, obj in read_jsonl(path):
        id_field = _first_field(obj, ID_FIELDS)
        if id_field is None:
            raise InputError(path, lineno, "id", f"missing (expected one of {', '.join(ID_FIELDS)})")
        doc_id = require_str(path, lineno, obj, id_field).strip()
        title = require_str(path, lineno, obj, "title", allow_empty=True) if obj.get("title") is not None else ""
        text_field = _first_field(obj, TEXT_FIELDS)
        if text_field is None:
            raise InputError(path, lineno, "text", f"missing (expected one of {', '.join(TEXT_FIELDS)})")
        text = require_str(path, lineno, obj, text_field, allow_empty=True)
        yield Record(str(path), lineno, doc_id, title, text)


# TSV layouts by column count: MS MARCO passages (2), id/title/text (3), MS MARCO documents (4).
_TSV_LAYOUTS = {2: ("id", "text"), 3: ("id", "title", "text"), 4: ("id", "url", "title", "text")}


def iter_tsv_records(path: str | os.PathLike, lines: Iterator[tuple[int, str]] | None = None) -> Iterator[Record]:
    n_columns: int | None = None
    first_line = 0
    for lineno, row in read_tsv(path, ["c0", "c1", "c2", "c3"], min_columns=2, lines=lines):
        present = sum(1 for key in ("c0", "c1", "c2", "c3") if key in row)
        if n_columns is None:
            n_columns, first_line = present, lineno
        elif present != n_columns:
            raise InputError(
                path, lineno, None,
                f"found {present} tab-separated columns, but line {first_line} has {n_columns} "
                "(a TSV corpus is id<TAB>text, id<TAB>title<TAB>text or id<TAB>url<TAB>title<TAB>text throughout)",
            )
        layout = _TSV_LAYOUTS[present]
        values = {name: row[f"c{i}"] for i, name in enumerate(layout)}
        if not values["id"].strip():
            raise InputError(path, lineno, "id", "empty")
        yield Record(str(path), lineno, values["id"].strip(), values.get("title", ""), values["text"])


def iter_records(source: str | os.PathLike, fmt: str = "auto") -> Iterator[Record]:
    """Documents of ``source`` in file order, whatever its format; not yet validated."""
    if fmt not in FORMATS:
        raise ValueError(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    did = irds.pointer_id(source)
    if did is not None:
        yield from iter_irds_records(did, raw=fmt == "raw")
        return
    if fmt == "raw":
        raise InputError(source, None, None, "--format raw is for an irds: source (the file ir_datasets downloaded)")
    if fmt == "auto":
        fmt = detect_format(source)
    if fmt != "beir" and Path(source).is_dir():
        raise InputError(source, None, None, f"is a folder, but --format is {fmt!r} (use 'beir' or 'auto' for a BEIR folder)")
    if fmt == "beir":
        yield from iter_jsonl_records(beir_corpus_file(source))
    elif fmt == "jsonl":
        yield from iter_jsonl_records(source)
    else:
        yield from iter_tsv_records(source)


def iter_irds_records(did: str, raw: bool = False) -> Iterator[Record]:
    """Documents of ir_datasets dataset ``did`` (its cache, built by the irds_cache job), or with
    ``raw`` the lines of the file it downloaded, read as a TSV corpus file."""
    if raw:
        where, lines = irds.raw_doc_lines(did)
        yield from iter_tsv_records(where, lines)
        return
    where = irds.label(did, "docs")
    for row, doc_id, title, text in irds.doc_rows(did):
        yield Record(where, row, doc_id.strip(), title, text, unit="row")


def validated(records: Iterator[Record], *, allow_title_only: bool) -> Iterator[Record]:
    """Normalise whitespace and refuse empty text and duplicate ids, with the line to look at.

    ``allow_title_only``: a retrieval collection may hold documents with a title and no text (some
    BEIR corpora do); a pre-training corpus may not, since passages are cut from the text.
    """
    first_seen: dict[str, int] = {}
    for rec in records:
        title, text = one_line(rec.title), one_line(rec.text)
        if not text and not (allow_title_only and title):
            reason = "empty" if not allow_title_only else "empty (and no title)"
            raise InputError(rec.path, rec.line, "text", reason, unit=rec.unit)
        if any(c.isspace() for c in rec.id):
            raise InputError(rec.path, rec.line, "id", f"{rec.id!r} contains whitespace (run files could not hold it)", unit=rec.unit)
        if rec.id in first_seen:
            raise InputError(rec.path, rec.line, "id", f"duplicate id {rec.id!r} (first on {rec.unit} {first_seen[rec.id]})", unit=rec.unit)
        first_seen[rec.id] = rec.line
        yield Record(rec.path, rec.line, rec.id, title, text, rec.unit)


def _write_corpus(source: str | os.PathLike, fmt: str, out: str | os.PathLike, id_key: str, allow_title_only: bool) -> int:
    n = 0
    with atomic_open(out) as handle:
        records = validated(iter_records(source, fmt), allow_title_only=allow_title_only)
        for rec in tqdm(records, desc=f"reading {Path(source).name}", unit=" docs", file=sys.stderr, mininterval=2):
            handle.write(json.dumps({id_key: rec.id, "title": rec.title, "text": rec.text}, ensure_ascii=False) + "\n")
            n += 1
        if n == 0:
            raise InputError(source, None, None, "holds no documents")
    return n


def prepare_documents(source: str | os.PathLike, out: str | os.PathLike, fmt: str = "auto") -> int:
    """Normalise a corpus to documents JSONL ``{"id", "title", "text"}``; returns the count."""
    n = _write_corpus(source, fmt, out, "id", allow_title_only=False)
    log.info("wrote %d documents from %s to %s", n, source, out)
    return n


def prepare_collection(source: str | os.PathLike, out: str | os.PathLike, fmt: str = "auto") -> int:
    """Normalise a retrieval corpus to collection JSONL ``{"docid", "title", "text"}``."""
    n = _write_corpus(source, fmt, out, "docid", allow_title_only=True)
    log.info("wrote %d collection documents from %s to %s", n, source, out)
    return n


# --------------------------------------------------------------------------- topics and qrels


@dataclass(frozen=True)
class Judgment:
    qid: str
    docid: str
    relevance: int
    line: int
    unit: str = "line"  # "row" for an ir_datasets dataset


def is_jsonl_topics(path: str | os.PathLike) -> bool:
    name = Path(path).name.lower().removesuffix(".gz")
    if name.endswith((".jsonl", ".json", ".ndjson")):
        return True
    if name.endswith((".tsv", ".txt", ".tab")):
        return False
    with open_text(path) as handle:
        for line in handle:
            if line.strip():
                return line.lstrip().startswith("{")
    return False


def read_topics(path: str | os.PathLike) -> tuple[dict[str, str], bool]:
    """``{qid: text}`` in file order, and whether the file was BEIR ``queries.jsonl`` (every split's
    queries, to be cut to the judged ones). An ``irds:`` source's queries are its own topic set."""
    did = irds.pointer_id(path)
    if did is not None:
        return _check_topics(irds.label(did, "queries"), irds.query_rows(did), "row"), False
    if Path(path).is_dir():
        raise InputError(path, None, None, "is a folder; pass the topics file (e.g. <beir>/queries.jsonl)")
    beir = is_jsonl_topics(path)
    if beir:
        rows: Iterator[tuple[int, str, str]] = (
            (lineno, require_str(path, lineno, obj, "_id" if "_id" in obj else "id").strip(),
             require_str(path, lineno, obj, "text", allow_empty=True))
            for lineno, obj in read_jsonl(path)
        )
    else:
        rows = ((lineno, row["qid"].strip(), row["text"]) for lineno, row in read_tsv(path, ["qid", "text"]))
    return _check_topics(path, rows, "line"), beir


def _check_topics(path: str | os.PathLike, rows: Iterator[tuple[int, str, str]], unit: str) -> dict[str, str]:
    topics: dict[str, str] = {}
    lines: dict[str, int] = {}
    for lineno, raw_qid, raw_text in rows:
        qid = raw_qid.strip()
        if not qid:
            raise InputError(path, lineno, "qid", "empty", unit=unit)
        text = one_line(raw_text)
        if not text:
            raise InputError(path, lineno, "text", f"empty query text for {qid!r}", unit=unit)
        if qid in topics:
            raise InputError(path, lineno, "qid", f"duplicate query id {qid!r} (first on {unit} {lines[qid]})", unit=unit)
        topics[qid] = text
        lines[qid] = lineno
    if not topics:
        raise InputError(path, None, None, "holds no topics")
    return topics


def _parse_relevance(path: str | os.PathLike, lineno: int, value: str) -> int:
    try:
        return int(value)
    except ValueError:
        pass
    try:  # some BEIR exports write grades as "1.0"
        as_float = float(value)
    except ValueError:
        as_float = float("nan")
    if as_float.is_integer():
        return int(as_float)
    raise InputError(path, lineno, "relevance", f"not an integer: {value!r}")


def read_qrels(path: str | os.PathLike) -> list[Judgment]:
    """TREC qrels (``qid iter docid rel``, whitespace-separated) or BEIR TSV (``query-id corpus-id
    score``, header optional), or an ``irds:`` source's qrels. A duplicate (qid, docid) pair is an
    error: which grade would count?"""
    did = irds.pointer_id(path)
    if did is not None:
        return _irds_qrels(did)
    judgments: list[Judgment] = []
    seen: dict[tuple[str, str], int] = {}
    with open_text(path) as handle:
        layout: str | None = None
        for lineno, raw in enumerate(handle, start=1):
            line = raw.rstrip("\r\n")
            if not line.strip():
                continue
            parts = line.split("\t") if "\t" in line else line.split()
            parts = [p.strip() for p in parts]
            if layout is None:
                if parts[0].lower() in {"query-id", "query_id", "qid"}:
                    layout = "beir"
                    continue
                layout = {4: "trec", 3: "beir"}.get(len(parts))
                if layout is None:
                    raise InputError(path, lineno, None, f"expected TREC qrels (4 columns) or BEIR qrels (3 columns), found {len(parts)}")
            want = 4 if layout == "trec" else 3
            if len(parts) != want:
                raise InputError(path, lineno, None, f"expected {want} columns like the first line, found {len(parts)}")
            qid, docid, rel = (parts[0], parts[2], parts[3]) if layout == "trec" else (parts[0], parts[1], parts[2])
            relevance = _parse_relevance(path, lineno, rel)
            if (qid, docid) in seen:
                raise InputError(path, lineno, "docid", f"duplicate judgment for query {qid!r}, document {docid!r} (first on line {seen[qid, docid]})")
            seen[qid, docid] = lineno
            judgments.append(Judgment(qid, docid, relevance, lineno))
    if not judgments:
        raise InputError(path, None, None, "holds no judgments")
    return judgments


def _irds_qrels(did: str) -> list[Judgment]:
    where = irds.label(did, "qrels")
    judgments: list[Judgment] = []
    seen: dict[tuple[str, str], int] = {}
    for row, qid, docid, rel in irds.qrel_rows(did):
        relevance = rel if isinstance(rel, int) and not isinstance(rel, bool) else None
        if relevance is None:
            try:
                relevance = _parse_relevance(where, row, str(rel))
            except InputError as err:
                raise InputError(where, row, "relevance", err.reason, unit="row") from None
        if (qid, docid) in seen:
            raise InputError(where, row, "doc_id", f"duplicate judgment for query {qid!r}, document {docid!r} (first on row {seen[qid, docid]})", unit="row")
        seen[qid, docid] = row
        judgments.append(Judgment(qid, docid, relevance, row, "row"))
    if not judgments:
        raise InputError(where, None, None, "holds no judgments")
    return judgments


def prepare_topics(
    topics_path: str | os.PathLike, qrels_path: str | os.PathLike,
    out_topics: str | os.PathLike, out_qrels: str | os.PathLike,
) -> tuple[int, int]:
    """Normalise topics + qrels; returns (number of topics, number of judgments) written.

    Topics from BEIR ``queries.jsonl`` hold every split's queries, so only those with judgments in
    ``qrels_path`` are kept. A TSV topic file is kept whole (TREC sets list unjudged topics, which
    evaluation then ignores). A judgment for a query that is not among the topics is an error.
    """
    topics, beir = read_topics(topics_path)
    judgments = read_qrels(qrels_path)
    qrels_did, topics_did = irds.pointer_id(qrels_path), irds.pointer_id(topics_path)
    qrels_where = irds.label(qrels_did, "qrels") if qrels_did else qrels_path
    topics_where = irds.label(topics_did, "queries") if topics_did else f"the topics file {topics_path}"
    for j in judgments:
        if j.qid not in topics:
            raise InputError(qrels_where, j.line, "qid", f"query {j.qid!r} is not in {topics_where}", unit=j.unit)
    judged = {j.qid for j in judgments}
    if beir:
        dropped = len(topics) - len(judged)
        topics = {qid: text for qid, text in topics.items() if qid in judged}
        log.info("kept %d BEIR queries with judgments, dropped %d without", len(topics), dropped)
    unjudged = sum(1 for qid in topics if qid not in judged)
    if unjudged:
        log.info("%d of %d topics have no judgments", unjudged, len(topics))
    with atomic_open(out_topics) as t_handle, atomic_open(out_qrels) as q_handle:
        for qid, text in topics.items():
            t_handle.write(f"{qid}\t{text}\n")
        for j in judgments:
            q_handle.write(f"{j.qid} 0 {j.docid} {j.relevance}\n")
    log.info("wrote %d topics to %s and %d judgments to %s", len(topics), out_topics, len(judgments), out_qrels)
    return len(topics), len(judgments)


# --------------------------------------------------------------------------- entry points


def _corpus_main(argv: list[str] | None, what: str, func) -> int:
    parser = argparse.ArgumentParser(description=f"Normalise a corpus to {what} JSONL (docs/artifacts.md).")
    parser.add_argument("--source", required=True, help="JSONL/TSV file (optionally .gz) or a BEIR folder")
    parser.add_argument("--format", default="auto", choices=FORMATS)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    setup_logging()
    try:
        func(args.source, args.out, args.format)
    except (InputError, irds.IrdsError) as err:
        log.error("%s", err)
        return 2
    return 0


def main_documents(argv: list[str] | None = None) -> int:
    return _corpus_main(argv, "documents", prepare_documents)


def main_collection(argv: list[str] | None = None) -> int:
    return _corpus_main(argv, "collection", prepare_collection)


def main_topics(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Normalise topics (TSV or BEIR queries.jsonl) and qrels (TREC or BEIR TSV).")
    parser.add_argument("--topics", required=True)
    parser.add_argument("--qrels", required=True)
    parser.add_argument("--out-topics", required=True)
    parser.add_argument("--out-qrels", required=True)
    args = parser.parse_args(argv)
    setup_logging()
    try:
        prepare_topics(args.topics, args.qrels, args.out_topics, args.out_qrels)
    except (InputError, irds.IrdsError) as err:
        log.error("%s", err)
        return 2
    return 0
