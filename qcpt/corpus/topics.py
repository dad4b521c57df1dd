"""Topics and qrels, read from TSV, BEIR ``queries.jsonl`` / qrels or an ``irds:`` dataset and
normalised by :func:`prepare_topics` to topics TSV ``qid<TAB>text`` + TREC qrels ``qid 0 docid rel``.

A bad line (an empty or duplicate query id, a relevance that is not an integer, a judgment for a
query that is not among the topics ...) raises :class:`~qcpt.core.io.InputError` naming file, line and
field; outputs are written atomically.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ..core.io import InputError, atomic_open, open_text, read_jsonl, read_tsv, require_str
from . import irds
from .documents import one_line

log = logging.getLogger(__name__)


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
