"""BM25 with pyserini/Lucene: commands ``retrieval.bm25:index`` and ``retrieval.bm25:search``.

Two layouts, pyserini's two BEIR baselines (``fields``, the same value for index and search):

- ``flat`` (default): each collection row becomes a Lucene document whose ``contents`` is
  ``title + " " + text`` (:func:`qcpt.retrieval.data.passage_text`); a query is scored on
  ``contents`` (pyserini's ``bm25-flat`` runs).
- ``multifield``: ``contents`` is the text alone and the title is a field of its own, ``title``; a
  query is scored on both, each with boost 1.0 (pyserini's ``bm25-multifield`` runs, ``--fields
  contents=1.0 title=1.0``; BEIR's published Elasticsearch BM25 indexes title and body the same way).

Anserini's ``IndexCollection`` indexes either (``JsonCollection``, ``DefaultLuceneDocumentGenerator``,
the default English analyzer with Porter stemming; a JSON key besides ``id`` and ``contents`` becomes
a field), with positions and document vectors stored.

Searching uses Anserini's ``SimpleSearcher`` (what pyserini's ``LuceneSearcher`` wraps, called
directly: :class:`AnseriniSearcher`) with ``set_bm25(k1, b)`` (0.9/0.4 for BEIR, 0.82/0.68 for MS MARCO
passage) and writes a TREC run with ties broken by docid (:mod:`.runs`).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from ..core.io import InputError, atomic_dir, sha256_file, write_json
from ..core.params import ParamsError
from .data import iter_collection, load_topics, passage_text
from .params import parse_params, setup_logging
from .runs import Hit, sort_hits, write_run_stream

log = logging.getLogger(__name__)

INDEX_RECORD = "qcpt_index.json"
FIELD_LAYOUTS = ("flat", "multifield")
# The fields a multifield query is scored on, with their boosts (pyserini's --fields contents=1.0 title=1.0).
MULTIFIELD_BOOSTS = {"contents": 1.0, "title": 1.0}


def check_fields(fields: str) -> None:
    if fields not in FIELD_LAYOUTS:
        raise ParamsError("fields", f"{fields!r} is not one of {', '.join(FIELD_LAYOUTS)}")


@dataclass
class IndexParams:
    store_positions: bool = True    # phrase queries / proximity; pyserini's BEIR indexes have them
    store_docvectors: bool = True   # needed for relevance feedback (RM3); optional for plain BM25
    store_raw: bool = False         # the raw JSON per document: only for fetching documents back
    fields: str = "flat"            # "flat": contents = title + text; "multifield": title its own field

    def validate(self) -> None:
        check_fields(self.fields)


@dataclass
class SearchParams:
    k1: float = 0.9
    b: float = 0.4
    depth: int = 1000
    threads: int = 1
    tag: str = "bm25"
    # queries per batch_search call: each batch's hits are written before the next is searched, so
    # memory holds one batch (1,000 queries x depth 1,000 held 4.3 GB of JScoredDoc and tuples)
    query_batch: int = 128
    fields: str = "flat"            # the index's layout: "multifield" scores contents and title (boost 1 each)

    def validate(self) -> None:
        check_fields(self.fields)
        for name in ("depth", "threads", "query_batch"):
            if getattr(self, name) < 1:
                raise ParamsError(name, f"must be ≥ 1, got {getattr(self, name)!r}")
        if self.k1 < 0:
            raise ParamsError("k1", f"BM25 needs k1 ≥ 0, got {self.k1!r}")
        if not 0 <= self.b <= 1:
            raise ParamsError("b", f"BM25 needs 0 ≤ b ≤ 1, got {self.b!r}")


def _lucene():
    """pyserini's Lucene classes after the compatibility shim (Java 21+, no vector module): the raw
    library the overhead bench and the tests compare :class:`AnseriniSearcher` with."""
    autoclass = _autoclass()
    from pyserini.search.lucene import LuceneSearcher

    return autoclass, LuceneSearcher


def _autoclass():
    """pyserini's ``autoclass`` (pyjnius on Anserini's jar), after the compatibility shim."""
    from ..compat.pyserini import ensure_pyserini

    ensure_pyserini()
    from pyserini.pyclass import autoclass

    return autoclass


class AnseriniSearcher:
    """Anserini's ``io.anserini.search.SimpleSearcher``, the Java searcher that pyserini's
    ``LuceneSearcher`` wraps, called the way that wrapper calls it (same methods, same arguments,
    so the same hits in the same order; a test compares the two).

    Why not ``LuceneSearcher`` itself: importing ``pyserini.search.lucene`` imports torch,
    transformers and pyserini's dense encoders (5-7 s of a BM25 job's start-up on 2 cores), none of
    which BM25 uses; ``pyserini.pyclass`` starts only the JVM."""

    def __init__(self, index: str | os.PathLike):
        autoclass = _autoclass()
        self._array_list = autoclass("java.util.ArrayList")
        self.object = autoclass("io.anserini.search.SimpleSearcher")(str(index))
        self.num_docs = int(self.object.get_total_num_docs())

    def set_bm25(self, k1: float, b: float) -> None:
        self.object.set_bm25(float(k1), float(b))

    def search(self, query: str, k: int) -> list[Any]:
        """The top ``k`` hits (``ScoredDoc``: ``docid``, ``score``) of one query."""
        return list(self.object.search(query, int(k)))

    def search_fields(self, query: str, k: int, boosts: dict[str, float]) -> list[Any]:
        """The top ``k`` hits of one query scored on the ``boosts`` fields (pyserini's ``fields=``)."""
        return list(self.object.search_fields(query, self._boost_map(boosts), int(k)))

    def _boost_map(self, boosts: dict[str, float]) -> Any:
        autoclass = _autoclass()
        boost_map, java_float = autoclass("java.util.HashMap")(), autoclass("java.lang.Float")
        for field, boost in boosts.items():
            boost_map.put(field, java_float(float(boost)))
        return boost_map

    def batch_search(self, queries: Sequence[str], qids: Sequence[str], k: int, threads: int,
                     boosts: dict[str, float] | None = None) -> dict[str, Any]:
        """``{qid: hits}`` of many queries searched on ``threads`` Java threads; with ``boosts``, on
        those fields (``batch_search_fields``, as pyserini's ``LuceneSearcher.batch_search(fields=)``)."""
        query_strings, qid_strings = self._array_list(), self._array_list()
        for query in queries:
            query_strings.add(query)
        for qid in qids:
            qid_strings.add(qid)
        if boosts:
            results = self.object.batch_search_fields(query_strings, qid_strings, int(k), int(threads),
                                                      self._boost_map(boosts))
        else:
            results = self.object.batch_search(query_strings, qid_strings, int(k), int(threads))
        return {entry.getKey(): entry.getValue() for entry in results.entrySet().toArray()}

    def contains(self, docid: str) -> bool:
        """Whether the index holds a document with this id."""
        return self.object.doc(docid) is not None

    def close(self) -> None:
        self.object.close()


def write_json_collection(collection: str | os.PathLike, folder: Path, parts: int, fields: str) -> int:
    """Write Anserini JsonCollection files into ``folder``, split into ``parts`` contiguous files
    (Anserini indexes one file per thread): ``{"id", "contents"}`` (``flat``: title and text in
    one), or ``{"id", "contents", "title"}`` (``multifield``: the text, and the title as its own
    field). Returns the document count."""
    n = sum(1 for _ in iter_collection(collection))  # validates the whole collection first
    if n == 0:
        raise InputError(collection, None, None, "holds no documents")
    parts = max(1, min(parts, n))
    bounds = [n * i // parts for i in range(parts + 1)]
    handles = [open(folder / f"part-{i:03d}.jsonl", "w", encoding="utf-8") for i in range(parts)]
    try:
        part = 0
        for i, passage in enumerate(tqdm(iter_collection(collection), total=n, desc="collection → Lucene JSON",
                                         unit=" docs", file=sys.stderr, mininterval=2)):
            while i >= bounds[part + 1]:
                part += 1
            if fields == "multifield":
                doc = {"id": passage.docid, "contents": passage.text, "title": passage.title}
            else:
                doc = {"id": passage.docid, "contents": passage_text(passage.title, passage.text)}
            handles[part].write(json.dumps(doc, ensure_ascii=False) + "\n")
    finally:
        for handle in handles:
            handle.close()
    return n


def build_index(collection: str | os.PathLike, out: str | os.PathLike, threads: int = 1,
                params: IndexParams | None = None, source: str | os.PathLike | None = None) -> int:
    """Index ``collection`` into the folder ``out`` (atomically); returns the number of documents.
    ``source``: the file the record names where ``collection`` is a temporary rewrite of it."""
    params = params or IndexParams()
    autoclass = _autoclass()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix=f".{out.name}.input.", dir=out.parent) as staging, \
            atomic_dir(out) as tmp:
        n = write_json_collection(collection, Path(staging), threads, params.fields)
        args = ["-collection", "JsonCollection", "-input", staging, "-index", str(tmp),
                "-generator", "DefaultLuceneDocumentGenerator", "-threads", str(threads)]
        if params.fields == "multifield":
            args += ["-fields", "title"]  # IndexCollection indexes only the JSON keys it is told of
        if params.store_positions:
            args.append("-storePositions")
        if params.store_docvectors:
            args.append("-storeDocvectors")
        if params.store_raw:
            args.append("-storeRaw")
        log.info("Anserini IndexCollection %s", " ".join(args))
        autoclass("io.anserini.index.IndexCollection").main(args)
        searcher = AnseriniSearcher(tmp)
        indexed = searcher.num_docs
        searcher.close()
        if indexed != n:
            raise RuntimeError(f"Lucene indexed {indexed} of {n} documents of {collection} "
                               "(see Anserini's counters above: empty / unindexable / errors)")
        (Path(tmp) / "write.lock").unlink(missing_ok=True)
        # A flat index's record stays as it was before `fields` existed (its absence reads as flat,
        # index_fields), so flat indexes keep their bytes and no index job needs a new version.
        recorded = {k: v for k, v in asdict(params).items() if k != "fields" or v != "flat"}
        write_json(Path(tmp) / INDEX_RECORD, {
            "collection": str(source or collection), "collection_sha256": sha256_file(collection),
            "documents": n, "threads": threads, **recorded,
            "contents": "title + ' ' + text" if params.fields == "flat" else "text (title: field 'title')",
            "generator": "DefaultLuceneDocumentGenerator",
        })
    log.info("indexed %d documents into %s in %.1f s", n, out, time.perf_counter() - start)
    return n


def lucene_hits(scored_docs: Sequence[Any]) -> tuple[list[str], np.ndarray]:
    """Docids and float32 scores of pyserini's ``JScoredDoc`` hits, in Lucene's order.

    One pass per field: every field read is a JNI call, the dearest part of the conversion."""
    docids = [hit.docid for hit in scored_docs]
    scores = np.fromiter((hit.score for hit in scored_docs), dtype=np.float32, count=len(docids))
    return docids, scores


def order_hits(docids: list[str], scores: np.ndarray) -> list[Hit]:
    """``(docid, float32 score)`` by score descending, ties by docid: :func:`.runs.sort_hits`'s order.

    pyserini returns a query's hits by score descending, so only runs of equal scores are sorted, by
    docid (pyserini 1.6 leaves almost none: Anserini sorts ties on the id field and then rounds
    scores to 1e-4 and lowers each tied one by 1e-6); hits not in descending order fall back to the
    full sort."""
    if len(scores) > 1:
        if (scores[1:] > scores[:-1]).any():
            return sort_hits(zip(docids, scores.tolist(), strict=True))
        starts = np.flatnonzero(scores[1:] != scores[:-1]) + 1
        bounds = np.concatenate(([0], starts, [len(scores)]))
        for run in np.flatnonzero(np.diff(bounds) > 1).tolist():
            lo, hi = int(bounds[run]), int(bounds[run + 1])
            docids[lo:hi] = sorted(docids[lo:hi])
    return list(zip(docids, scores.tolist(), strict=True))


def index_fields(index: str | os.PathLike) -> str:
    """The layout an index was built with (its record's ``fields``; records before multifield
    existed are flat)."""
    record = Path(index) / INDEX_RECORD
    if not record.is_file():
        return "flat"
    return json.loads(record.read_text(encoding="utf-8")).get("fields", "flat")


def search(index: str | os.PathLike, topics: dict[str, str], params: SearchParams) -> dict[str, list[tuple[str, float]]]:
    """BM25 top-``depth`` hits per query, ``{qid: [(docid, score), ...]}`` in topic order, each
    list by float32 score descending with ties by docid (the order :func:`.runs.write_run` writes)."""
    return dict(iter_search(index, topics, params))


def iter_search(index: str | os.PathLike, topics: dict[str, str],
                params: SearchParams) -> Iterator[tuple[str, list[tuple[str, float]]]]:
    """:func:`search`'s ``(qid, hits)`` in topic order, one ``batch_search`` of ``query_batch``
    queries at a time: a batch is searched when the previous one's hits have all been taken."""
    if not Path(index).is_dir():
        raise InputError(index, None, None, "is not an index folder")
    built_with = index_fields(index)
    if built_with != params.fields:
        raise InputError(index, None, None, f"is a {built_with!r} index (record {INDEX_RECORD}); "
                         f"the search asks for fields {params.fields!r}: set the collection's bm25.fields "
                         "for both, or rebuild the index")
    boosts = MULTIFIELD_BOOSTS if params.fields == "multifield" else None
    searcher = AnseriniSearcher(index)
    searcher.set_bm25(params.k1, params.b)
    total = searcher.num_docs
    depth = min(params.depth, total)
    k = min(depth + 1, total)  # one more than needed: shows whether a tie straddles the cut
    qids = list(topics)
    widened = empty = 0
    start = time.perf_counter()
    try:
        with tqdm(total=len(qids), desc="BM25 search", unit=" queries", file=sys.stderr, mininterval=2) as bar:
            for lo in range(0, len(qids), params.query_batch):
                batch = qids[lo:lo + params.query_batch]
                found = searcher.batch_search([topics[q] for q in batch], batch, k=k, threads=params.threads,
                                              boosts=boosts)
                for qid in batch:
                    docids, scores = lucene_hits(found.pop(qid, []))
                    q_k = k
                    # Equal scores at the cut: widen until the tie group is complete, so the cut follows
                    # docid order like the rest of the run even where the searcher picks tied documents
                    # by internal doc number (pyserini 1.6 picks them by docid, so this rarely runs).
                    while len(docids) == q_k and depth < q_k < total and scores[-1] == scores[depth - 1]:
                        q_k = min(total, q_k * 2)
                        docids, scores = lucene_hits(searcher.search_fields(topics[qid], q_k, boosts) if boosts
                                                     else searcher.search(topics[qid], k=q_k))
                        widened += 1
                    hits = order_hits(docids, scores)[:depth]
                    empty += not hits
                    yield qid, hits
                del found
                bar.update(len(batch))
    finally:
        searcher.close()
    if widened:
        log.info("%d searches widened to resolve ties at depth %d", widened, depth)
    elapsed = time.perf_counter() - start
    if empty:
        log.warning("%d of %d queries retrieved nothing (no query term in the index)", empty, len(qids))
    log.info("BM25 k1=%s b=%s depth=%d: %d queries in %.1f s (%.1f queries/s)", params.k1, params.b, depth,
             len(qids), elapsed, len(qids) / max(elapsed, 1e-9))


def main_index(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Lucene BM25 index of a collection JSONL.")
    parser.add_argument("--collection", required=True, help="collection JSONL {docid, title, text}")
    parser.add_argument("--out", required=True, help="index folder (written atomically)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--params", default="{}", help="JSON: store_positions, store_docvectors, store_raw")
    args = parser.parse_args(argv)
    setup_logging()
    params = parse_params(IndexParams, args.params)
    try:
        build_index(args.collection, args.out, threads=max(1, args.threads), params=params)
    except InputError as err:
        log.error("%s", err)
        return 2
    return 0


def main_search(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="BM25 search of topics → TREC run.")
    parser.add_argument("--index", required=True)
    parser.add_argument("--topics", required=True, help="topics TSV qid<TAB>query")
    parser.add_argument("--out", required=True, help="TREC run file")
    parser.add_argument("--params", default="{}", help="JSON: k1, b, depth, threads, tag, query_batch")
    parser.add_argument("--threads", type=int, help="search threads (the job's CPUs; overrides params.threads)")
    args = parser.parse_args(argv)
    setup_logging()
    params = parse_params(SearchParams, args.params)
    if args.threads is not None:
        params.threads = max(1, args.threads)
    try:
        topics = load_topics(args.topics)
        # streamed: each batch's lines are written before the next batch is searched
        lines = write_run_stream(args.out, iter_search(args.index, topics, params), params.tag, depth=params.depth)
    except InputError as err:
        log.error("%s", err)
        return 2
    log.info("wrote %d lines for %d queries to %s", lines, len(topics), args.out)
    return 0
