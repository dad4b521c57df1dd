"""``scripts/qcpt.py retrieval.search``: encode topics, exhaustive inner-product search over encoded shards → TREC run.

    scripts/qcpt.py retrieval.search --model DIR --shards S... --topics T --out run.trec --params '{...}'
    scripts/qcpt.py retrieval.search --model DIR --collection C --topics T --out run.trec --params '{...}'

With ``--collection`` the job encodes the whole collection itself (as ``retrieval.encode`` would, one
shard) instead of reading shards: for a small collection (the demo's 300 passages encode in a few
seconds) one process per run instead of encode jobs + a search job, each paying torch's start-up.
The shards (``retrieval.encode``) are searched in the given order as one collection
(:mod:`.shard_index`: mapped where they lie on the CPU, added to a FAISS index on GPUs). Queries are encoded with the model's pooling (same resolution as ``retrieval.encode``) up
to ``q_max_len`` tokens (default: what the model folder declares — 32 for our fine-tuned models,
``max_seq_length`` for sentence-transformers models — else 32). Each query gets the top ``depth`` documents (capped at the collection
size) by score, ties broken by docid: where a tie crosses the depth boundary the search is widened
until the tie group is complete, so which tied documents make the cut does not depend on FAISS.
Nothing is excluded. The log reports queries/s.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence

import numpy as np

from ..core.io import InputError
from .data import iter_collection, load_topics
from .encode import encode_passages
from .params import DenseSearchParams as SearchParams
from .params import limit_torch_threads, parse_params, setup_logging
from .runs import write_ranked_run
from .shard_index import build_index, index_shards
from .vectors import Throughput, default_device, encode_texts, load_encoder, resolve_settings

log = logging.getLogger(__name__)


def docid_ranks(ids: Sequence[str]) -> np.ndarray:
    """Each docid's position in string order: sorting rows by this rank sorts them by docid."""
    # NumPy compares unicode strings by code point, as Python does (ids never end in NUL).
    order = np.argsort(np.asarray(ids, dtype=str), kind="stable")
    ranks = np.empty(len(ids), dtype=np.int64)
    ranks[order] = np.arange(len(ids), dtype=np.int64)
    return ranks


def _rank_one(index, query: np.ndarray, ranks: np.ndarray, depth: int, k: int,
              scores: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One query whose tie at the cut may continue past the ``k`` FAISS returned: widen (doubling)
    until the tie group is complete, then order by (score desc, docid asc)."""
    total = index.ntotal
    while k < total and depth < k and scores[k - 1] == scores[depth - 1]:
        k = min(total, k * 2)
        wide_scores, wide_rows = index.search(query[None, :], k)
        scores, rows = wide_scores[0], wide_rows[0]
    valid = rows >= 0
    scores, rows = scores[valid], rows[valid]
    order = np.lexsort((ranks[rows], -scores))[:depth]
    return rows[order], scores[order]


def rank_exact(index, queries: np.ndarray, ranks: np.ndarray, depth: int,
               batch: int = 4096) -> list[tuple[np.ndarray, np.ndarray]]:
    """Top ``depth`` rows and float32 scores per query by (score desc, docid asc), where ``ranks``
    is :func:`docid_ranks` of the index's ids. FAISS is asked for one row more than ``depth``: a
    query whose last two scores differ has its exact top ``depth`` set, and all of them are ordered
    in one vectorised sort; only a query whose tie reaches that extra row is widened by itself."""
    total = index.ntotal
    depth = min(depth, total)
    out: list[tuple[np.ndarray, np.ndarray]] = []
    for lo in range(0, len(queries), batch):
        block = queries[lo: lo + batch]
        k = min(depth + 1, total)
        scores, rows = index.search(block, k)
        needs_widening = (rows < 0).any(axis=1)
        if k < total:  # else FAISS returned every row: no tie can continue past them
            needs_widening |= scores[:, k - 1] == scores[:, depth - 1]
        # FAISS returns scores in descending order: a row without two equal neighbours is already
        # in its final order, and only rows holding a tie are re-sorted by (score desc, docid asc).
        top_rows, top_scores = rows[:, :depth].copy(), scores[:, :depth].copy()
        tied = np.flatnonzero((scores[:, 1:] == scores[:, :-1]).any(axis=1) & ~needs_widening)
        if len(tied):
            order = np.lexsort((ranks[rows[tied]], -scores[tied]), axis=-1)[:, :depth]
            top_rows[tied] = np.take_along_axis(rows[tied], order, axis=1)
            top_scores[tied] = np.take_along_axis(scores[tied], order, axis=1)
        for qi in range(len(block)):
            if needs_widening[qi]:
                out.append(_rank_one(index, block[qi], ranks, depth, k, scores[qi], rows[qi]))
            else:
                out.append((top_rows[qi], top_scores[qi]))
    return out


def search_exact(index, queries: np.ndarray, ids: Sequence[str], depth: int,
                 batch: int = 4096) -> list[list[tuple[str, float]]]:
    """Top ``depth`` ``(docid, score)`` per query by (score desc, docid asc), widening the search
    where a tie straddles the cut (:func:`rank_exact`, as Python tuples)."""
    ranked = rank_exact(index, queries, docid_ranks(ids), depth, batch)
    return [[(ids[r], float(s)) for r, s in zip(rows.tolist(), scores.tolist(), strict=True)]
            for rows, scores in ranked]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Dense retrieval: FAISS flat IP → TREC run.")
    parser.add_argument("--model", required=True)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--shards", nargs="+", help="encoded shards (retrieval.encode), concatenated in this order")
    source.add_argument("--collection", help="a collection JSONL to encode here (small collections)")
    parser.add_argument("--topics", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--params", default="{}",
                        help="JSON: pooling, normalize, max_len, q_max_len, depth, batch_size, search_batch, tag, amp")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    setup_logging()
    limit_torch_threads()
    params = parse_params(SearchParams, args.params)
    try:
        topics = load_topics(args.topics)
        if args.shards:
            ids, index = index_shards(args.shards)  # shard by shard: no matrix beside the index
        else:
            rows = list(iter_collection(args.collection))
    except InputError as err:
        log.error("%s", err)
        return 2
    device = default_device()
    model, tokenizer, folder = load_encoder(args.model, device)
    settings = resolve_settings(folder, pooling=params.pooling, normalize=params.normalize,
                                p_max_len=params.max_len, q_max_len=params.q_max_len)
    if args.collection:
        clock = Throughput()
        ids = [p.docid for p in rows]
        embeddings = encode_passages(model, tokenizer, rows, settings, batch_size=params.p_batch_size,
                                     title_join=params.title_join,
                                     amp=params.amp, progress=not args.no_progress)
        elapsed, rate = clock.rate(len(rows))
        log.info("encoded %d passages of %s in %.1f s (%.1f passages/s)", len(rows), args.collection, elapsed, rate)
    clock = Throughput()
    qids = list(topics)
    q_emb = encode_texts(model, tokenizer, [topics[q] for q in qids], max_len=settings.q_max_len,
                         batch_size=params.batch_size, pooling=settings.pooling, normalize=settings.normalize,
                         amp=params.amp, progress=not args.no_progress, desc="encoding queries")
    if args.collection:
        index = build_index(embeddings)
        del embeddings
    if q_emb.shape[1] != index.d:
        raise ValueError(f"query vectors have dimension {q_emb.shape[1]}, passages {index.d}: "
                         "shards were encoded with another model")
    ranked = rank_exact(index, q_emb, docid_ranks(ids), params.depth, params.search_batch)
    elapsed, rate = clock.rate(len(qids))
    lines = write_ranked_run(args.out, qids, ids, ranked, params.tag)
    log.info("%d queries (encoding + search) in %.1f s (%.1f queries/s) over %d passages "
             "(passages encoded with max_len %d); wrote %d lines to %s",
             len(qids), elapsed, rate, len(ids), settings.p_max_len, lines, args.out)
    return 0
