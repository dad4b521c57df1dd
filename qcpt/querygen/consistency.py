"""Round-trip consistency of generated queries (the InPars / Promptagator consistency filter).

consistency@k is the share of generated queries whose source passage BM25 ranks in the top ``k``
when the query is searched over the passages it was generated from. Promptagator keeps only such
queries; InPars-v2 and others report it as a query-quality measure. Here it is a measure, recorded
in each selected query file's stats JSON by ``querygen.selection``: a docT5query-style generator
that writes noise scores near 0, a real one well above half.

BM25 is the project's Lucene BM25 (:mod:`qcpt.retrieval.bm25`: pyserini, the default English
analyzer, ``title + " " + text`` contents), with ties broken by passage id like every run here. On
a large file a fixed seeded subset of ``max_queries`` queries is searched, so the measure stays
cheap (a few seconds of Lucene per selection) and reproducible.

``querygen.consistency:index`` builds the index of a passages JSONL once per corpus (``{id, title, text}``).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..core.io import InputError, read_jsonl, require_str
from ..core.params import ParamsError, check_types

log = logging.getLogger(__name__)


@dataclass
class ConsistencyParams:
    depth: int = 10                  # k of consistency@k
    max_queries: int | None = 2000   # search a seeded sample of this many queries when there are more; None: all
    seed: int = 42
    k1: float = 0.9
    b: float = 0.4
    threads: int = 1

    def __post_init__(self) -> None:
        # JSON types by the field annotations (the check parse_params runs), then the ranges.
        check_types(type(self), asdict(self))
        if self.depth < 1:
            raise ParamsError("depth", f"must be ≥ 1, got {self.depth!r}")
        if self.max_queries is not None and self.max_queries < 1:
            raise ParamsError("max_queries", f"must be ≥ 1 or null, got {self.max_queries!r}")
        if self.k1 < 0:
            raise ParamsError("k1", f"must be ≥ 0, got {self.k1!r}")
        if not 0 <= self.b <= 1:
            raise ParamsError("b", f"must be in [0, 1], got {self.b!r}")
        if self.threads < 1:
            raise ParamsError("threads", f"must be ≥ 1, got {self.threads!r}")


def index_passages(passages: str | os.PathLike, out: str | os.PathLike, threads: int = 1) -> int:
    """A BM25 index of a passages JSONL ``{id, title, text}`` (the files generation reads)."""
    from ..retrieval.bm25 import IndexParams, build_index

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{out.name}.collection.", dir=out.parent) as tmp:
        collection = Path(tmp) / "collection.jsonl"
        with open(collection, "w", encoding="utf-8") as handle:
            for lineno, row in read_jsonl(passages):
                pid = require_str(passages, lineno, row, "id")
                text = require_str(passages, lineno, row, "text")
                title = require_str(passages, lineno, row, "title", allow_empty=True) if row.get("title") is not None else ""
                handle.write(json.dumps({"docid": pid, "title": title, "text": text}, ensure_ascii=False) + "\n")
        # Positions and document vectors are not needed for plain BM25: a smaller, faster index.
        return build_index(collection, out, threads=threads, source=passages,
                           params=IndexParams(store_positions=False, store_docvectors=False))


def sample_positions(total: int, params: ConsistencyParams) -> list[int]:
    """The query rows searched: all of them, or a seeded sample of ``max_queries`` in file order."""
    if params.max_queries is None or total <= params.max_queries:
        return list(range(total))
    return sorted(random.Random(params.seed).sample(range(total), params.max_queries))


def round_trip_consistency(
    queries: list[tuple[str, str]], index: str | os.PathLike, params: ConsistencyParams | None = None,
    *, source: str | os.PathLike = "queries",
) -> dict[str, Any]:
    """consistency@depth of ``(passage_id, query)`` rows against a passages index.

    A query whose source passage is not in the index is an input error (the index was built from
    other passages), reported with its row number in ``source``."""
    from ..retrieval.bm25 import AnseriniSearcher, SearchParams, search

    params = params or ConsistencyParams()
    start = time.perf_counter()
    positions = sample_positions(len(queries), params)
    key = f"consistency@{params.depth}"
    record: dict[str, Any] = {key: None, "queries_total": len(queries), "queries_searched": len(positions),
                              "sampled": len(positions) < len(queries), **asdict(params)}
    if not positions:
        return record
    if not Path(index).is_dir():
        raise InputError(index, None, None, "is not an index folder")
    searcher = AnseriniSearcher(index)
    try:
        for pos in positions:
            pid = queries[pos][0]
            if not searcher.contains(pid):
                raise InputError(source, pos + 1, "passage_id",
                                 f"passage {pid!r} is not in the consistency index {index} (built from other passages?)")
    finally:
        searcher.close()
    topics = {f"r{pos}": queries[pos][1] for pos in positions}
    hits = search(index, topics, SearchParams(k1=params.k1, b=params.b, depth=params.depth, threads=params.threads,
                                              tag="consistency"))
    found = sum(1 for pos in positions if queries[pos][0] in {d for d, _ in hits[f"r{pos}"]})
    record[key] = round(found / len(positions), 4)
    record["queries_consistent"] = found
    record["seconds"] = round(time.perf_counter() - start, 2)
    return record


def main_index(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="BM25 index of a passages JSONL (for query consistency@k).")
    parser.add_argument("--passages", required=True, help="passages JSONL {id, title, text}")
    parser.add_argument("--out", required=True, help="index folder (written atomically)")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    n = index_passages(args.passages, args.out, threads=max(1, args.threads))
    log.info("indexed %d passages into %s", n, args.out)
    return 0
