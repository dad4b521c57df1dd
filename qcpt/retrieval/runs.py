"""TREC run files: ``qid Q0 docid rank score tag``, per query by score descending, ties by docid.

Scores are float32 values (Lucene and FAISS both score in float32). They are written in the
shortest decimal form that reads back to the same float32 (``str(numpy.float32(x))``), and ranks are
assigned after sorting by ``(-float32 score, docid)``: two documents tie in the file exactly when they
tied in the search, and the order in the file is the order any reader re-sorting by
``(-score, docid)`` gets back. (trec_eval breaks ties by docid *descending*; :mod:`.evaluate`
therefore scores our order, not trec_eval's.)
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ..core.io import InputError, atomic_open, open_text

Hit = tuple[str, float]  # (docid, score)


def float32(score: float) -> float:
    return float(np.float32(score))


def format_score(score: float) -> str:
    """Shortest decimal text that reads back to the same float32."""
    if not math.isfinite(score):
        raise ValueError(f"score {score!r} is not finite")
    return str(np.float32(score))


def sort_hits(hits: Iterable[Hit]) -> list[Hit]:
    """Hits by float32 score descending, ties by docid ascending (deterministic, tool-independent)."""
    as_float32 = [(docid, float32(score)) for docid, score in hits]
    return sorted(as_float32, key=lambda hit: (-hit[1], hit[0]))


def _check_tag(tag: str) -> None:
    if not tag or any(c.isspace() for c in tag):
        raise ValueError(f"run tag {tag!r} must be a non-empty word without whitespace")


def write_run(path: str | os.PathLike, results: Mapping[str, Sequence[Hit]], tag: str,
              depth: int | None = None) -> int:
    """Write ``{qid: hits}`` (queries in mapping order) atomically; returns the number of lines."""
    return write_run_stream(path, results.items(), tag, depth)


def write_run_stream(path: str | os.PathLike, results: Iterable[tuple[str, Sequence[Hit]]], tag: str,
                     depth: int | None = None) -> int:
    """:func:`write_run` of ``(qid, hits)`` pairs as they come (each query's lines written before
    the next query is asked for): the same bytes, without holding every query's hits."""
    _check_tag(tag)
    n = 0
    with atomic_open(path) as handle:
        for qid, hits in results:
            ranked = sort_hits(hits)
            if depth is not None:
                ranked = ranked[:depth]
            seen: set[str] = set()
            for rank, (docid, score) in enumerate(ranked, start=1):
                if docid in seen:
                    raise ValueError(f"query {qid!r}: document {docid!r} retrieved twice")
                seen.add(docid)
                handle.write(f"{qid} Q0 {docid} {rank} {format_score(score)} {tag}\n")
                n += 1
    return n


def write_ranked_run(path: str | os.PathLike, qids: Sequence[str], ids: Sequence[str],
                     ranked: Sequence[tuple[np.ndarray, np.ndarray]], tag: str) -> int:
    """Write the already ordered ``(rows, float32 scores)`` of each query (``search.rank_exact``)
    as :func:`write_run` would write the same hits, without building a tuple per hit."""
    _check_tag(tag)
    if len(qids) != len(ranked):
        raise ValueError(f"{len(qids)} queries but {len(ranked)} ranked lists")
    n = 0
    with atomic_open(path) as handle:
        for qid, (rows, scores) in zip(qids, ranked, strict=True):
            if not np.isfinite(scores).all():
                raise ValueError(f"query {qid!r}: a score is not finite")
            if len(np.unique(rows)) != len(rows):
                raise ValueError(f"query {qid!r}: a document is retrieved twice")
            handle.writelines(f"{qid} Q0 {ids[row]} {rank} {str(score)} {tag}\n"
                              for rank, (row, score) in enumerate(zip(rows.tolist(), scores, strict=True), start=1))
            n += len(rows)
    return n


@dataclass(frozen=True)
class RunEntry:
    docid: str
    rank: int
    score: float
    line: int


class RunNotGrouped(InputError):
    """A query's lines come back after other queries' (:func:`iter_run` streams grouped runs only)."""


def _run_lines(path: str | os.PathLike) -> Iterator[tuple[str, RunEntry]]:
    """``(qid, entry)`` per line, validated (6 columns, integer rank, finite score), in file order."""
    with open_text(path) as handle:
        lineno = 0
        try:
            for lineno, raw in enumerate(handle, start=1):  # noqa: B007 - used in the except
                parts = raw.split()
                if not parts:
                    continue
                if len(parts) != 6:
                    raise InputError(path, lineno, None,
                                     f"expected 6 columns (qid Q0 docid rank score tag), found {len(parts)}")
                qid, _, docid, rank_text, score_text, _ = parts
                try:
                    rank = int(rank_text)
                except ValueError:
                    raise InputError(path, lineno, "rank", f"not an integer: {rank_text!r}") from None
                try:
                    score = float(score_text)
                except ValueError:
                    raise InputError(path, lineno, "score", f"not a number: {score_text!r}") from None
                if not math.isfinite(score):
                    raise InputError(path, lineno, "score", f"not finite: {score_text!r}")
                yield qid, RunEntry(docid, rank, score, lineno)
        except UnicodeDecodeError as err:
            raise InputError(path, lineno + 1, None, f"not valid UTF-8 ({err.reason})") from err


def _listed_twice(path: str | os.PathLike, qid: str, entry: RunEntry, first: int) -> InputError:
    return InputError(path, entry.line, "docid",
                      f"document {entry.docid!r} listed twice for query {qid!r} (first on line {first})")


def iter_run(path: str | os.PathLike) -> Iterator[tuple[str, list[RunEntry]]]:
    """Stream a run whose lines are grouped by query (as every writer here and Anserini write
    them): ``(qid, entries in file order)`` per query, one query in memory at a time, validated as
    :func:`read_run` validates. A query coming back after another raises :class:`RunNotGrouped`
    (callers then fall back to :func:`read_run`, which merges the pieces)."""
    finished: dict[str, int] = {}  # qid -> the last line of its block
    qid: str | None = None
    entries: list[RunEntry] = []
    seen: dict[str, int] = {}
    for line_qid, entry in _run_lines(path):
        if line_qid != qid:
            if qid is not None:
                finished[qid] = entries[-1].line
                yield qid, entries
            if line_qid in finished:
                raise RunNotGrouped(path, entry.line, "qid",
                                    f"query {line_qid!r} comes back after other queries (its lines ended on line "
                                    f"{finished[line_qid]}): not grouped by query")
            qid, entries, seen = line_qid, [], {}
        if entry.docid in seen:
            raise _listed_twice(path, line_qid, entry, seen[entry.docid])
        seen[entry.docid] = entry.line
        entries.append(entry)
    if qid is None:
        raise InputError(path, None, None, "holds no results")
    yield qid, entries


def read_run(path: str | os.PathLike) -> dict[str, list[RunEntry]]:
    """Read and validate a run; ``{qid: entries in file order}`` with queries in file order.

    Each line must have 6 whitespace-separated columns, an integer rank and a finite numeric score;
    a document listed twice for one query is an error (trec_eval would count it twice). A query's
    lines need not be together (they are merged); :func:`iter_run` streams grouped runs."""
    run: dict[str, list[RunEntry]] = {}
    qid: str | None = None
    seen: dict[str, int] = {}  # the current query's docids (rebuilt when a query comes back)
    for line_qid, entry in _run_lines(path):
        if line_qid != qid:
            qid = line_qid
            seen = {e.docid: e.line for e in run.get(qid, ())}
        if entry.docid in seen:
            raise _listed_twice(path, qid, entry, seen[entry.docid])
        seen[entry.docid] = entry.line
        run.setdefault(qid, []).append(entry)
    if not run:
        raise InputError(path, None, None, "holds no results")
    return run


def ranked_docids(entries: Sequence[RunEntry]) -> list[str]:
    """The docids of one query, re-sorted by (-score, docid) whatever tool wrote the run."""
    return [e.docid for e in sorted(entries, key=lambda e: (-e.score, e.docid))]
