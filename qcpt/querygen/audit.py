"""The audit of one generated-query file (a selection ``c<C>-n<amount>.tsv``): what the queries are
made of, and whether any of them leaks an evaluation (or training) topic.

Per file: queries per passage against C, the duplicate rate (a query repeated for its passage, and a
normalised text repeated anywhere in the file), the copy rate (the normalised query is a substring
of its normalised passage), token overlap with the passage, the length distribution, the generation
shards' shortfall and their counters of truncated sequences and dropped expansion rows (the shard
stats do not count parse failures themselves), and leakage against each topic set: exact matches
after normalisation, and near matches by character n-gram Jaccard ≥ ``threshold``.

Near matches come from :mod:`.leakage`.

The file is read once, in byte ranges by ``workers`` processes; what must be counted across the
file (duplicate texts, queries per passage) is kept as 8-byte hashes (BLAKE2b), not as texts, and
passages are read from their file by offset, so memory grows by ~16 bytes a query.

CLI::

    scripts/qcpt.py querygen.audit --queries Q.tsv --passages passages.jsonl --count C --shard-stats S.json ...
                                 --topics NAME=PATH ... [--training NAME ...] [--params '{"threshold": 0.8}']
                                 [--workers N] --out A.json
"""

from __future__ import annotations

import argparse
import concurrent.futures
import dataclasses
import hashlib
import json
import logging
import multiprocessing
import signal
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from ..core.io import InputError, atomic_open
from ..core.params import parse_params as _parse_params
from .leakage import AuditParams, TopicSets, read_topics_file
from .minhash import BATCH
from .ngrams import normalise
from .pools import line_ranges, query_rows_between

log = logging.getLogger(__name__)


def _tokens(text: str) -> list[str]:
    return normalise(text).split()


def _hash(text: str) -> bytes:
    """8 bytes standing for a text in the file-wide counts (the same in every worker process)."""
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).digest()


@dataclasses.dataclass
class _Tally:
    """What one part of the query file contributes to the audit; parts add up (:meth:`add`) in file order."""

    sets: int
    examples_kept: int
    queries: int = 0
    copies: int = 0
    overlap: Counter[tuple[int, int]] = dataclasses.field(default_factory=Counter)  # (shared, tokens) per query
    lengths: Counter[int] = dataclasses.field(default_factory=Counter)
    missing: set[str] = dataclasses.field(default_factory=set)  # passage ids not in the corpus
    group_ids: bytearray = dataclasses.field(default_factory=bytearray)  # hash of each run's passage id
    group_sizes: list[int] = dataclasses.field(default_factory=list)  # queries of each run of one passage
    texts: bytearray = dataclasses.field(default_factory=bytearray)  # hash of each normalised query
    pairs: bytearray = dataclasses.field(default_factory=bytearray)  # hash of (passage id, normalised query)
    found: list[list[int]] = dataclasses.field(default_factory=list)  # per set: [exact, near]
    examples: list[list[dict[str, Any]]] = dataclasses.field(default_factory=list)

    def __post_init__(self) -> None:
        self.found = self.found or [[0, 0] for _ in range(self.sets)]
        self.examples = self.examples or [[] for _ in range(self.sets)]

    def add(self, other: _Tally) -> None:
        self.queries += other.queries
        self.copies += other.copies
        self.overlap.update(other.overlap)
        self.lengths.update(other.lengths)
        self.missing |= other.missing
        self.group_ids += other.group_ids
        self.group_sizes += other.group_sizes
        self.texts += other.texts
        self.pairs += other.pairs
        for mine, theirs in zip(self.found, other.found, strict=True):
            mine[0] += theirs[0]
            mine[1] += theirs[1]
        for mine, theirs in zip(self.examples, other.examples, strict=True):
            mine.extend(theirs[: self.examples_kept - len(mine)])


class _Auditor:
    """Counts runs of one passage's queries into a :class:`_Tally`."""

    def __init__(self, index: TopicSets, topic_sets: dict[str, dict[str, str]], params: AuditParams):
        self.index, self.topic_sets, self.params = index, topic_sets, params
        self.names = list(topic_sets)
        self.pending: list[tuple[str, str, str]] = []  # (passage id, query, normalised) awaiting leakage

    def tally(self) -> _Tally:
        return _Tally(len(self.names), self.params.examples)

    def run(self, tally: _Tally, pid: str, passage: str | None, queries: list[str]) -> None:
        """One run of consecutive queries of passage ``pid`` (``passage``: its title + text, None if absent)."""
        tally.group_ids += _hash(pid)
        tally.group_sizes.append(len(queries))
        tally.queries += len(queries)
        if passage is None:
            tally.missing.add(pid)
        else:
            norm = normalise(passage)
            tokens = set(norm.split())
        pid_bytes = pid.encode("utf-8", "surrogatepass") + b"\t"
        sets = bool(self.names)
        for q in queries:
            q_norm = normalise(q)
            q_tokens = q_norm.split()
            tally.lengths[len(q_tokens)] += 1
            text_bytes = q_norm.encode("utf-8", "surrogatepass")
            tally.texts += hashlib.blake2b(text_bytes, digest_size=8).digest()
            tally.pairs += hashlib.blake2b(pid_bytes + text_bytes, digest_size=8).digest()
            if passage is not None:
                tally.copies += bool(q_norm) and q_norm in norm
                tally.overlap[(sum(t in tokens for t in q_tokens), len(q_tokens))] += 1
            if sets:
                self.pending.append((pid, q, q_norm))
        if len(self.pending) >= BATCH:
            self.flush(tally)

    def flush(self, tally: _Tally) -> None:
        """Leakage of the queries held back for one vectorised batch (in file order)."""
        pending, self.pending = self.pending, []
        if not pending:
            return
        for (pid, q, _), hits in zip(pending, self.index.match_batch([norm for _, _, norm in pending]), strict=True):
            for number, hit in enumerate(hits):
                if hit is None:
                    continue
                tally.found[number][hit[0] == "near"] += 1
                kept = tally.examples[number]
                if len(kept) < self.params.examples:
                    kept.append({"passage": pid, "query": q, "topic": hit[1],
                                 "topic_text": self.topic_sets[self.names[number]][hit[1]], "kind": hit[0],
                                 "jaccard": round(hit[2], 4)})


def _median(histogram: dict[int, int], n: int) -> float | int:
    """``statistics.median`` of the values a histogram counts (the middle one, or the mean of two)."""
    def value_at(k: int) -> int:
        for value in sorted(histogram):
            k -= histogram[value]
            if k < 0:
                return value
        raise IndexError(k)
    if n % 2:
        return value_at(n // 2)
    return (value_at(n // 2 - 1) + value_at(n // 2)) / 2


def _distinct_and_single(hashes: bytearray) -> tuple[int, int]:
    """How many distinct values 8-byte ``hashes`` hold, and how many occur once; sorted in place (a
    bool a value beside them, where ``np.unique`` would copy them and count in int64)."""
    values = np.frombuffer(hashes, dtype=np.uint64)  # a writable view of the bytearray
    if not values.size:
        return 0, 0
    values.sort()
    starts = np.empty(values.size, dtype=bool)  # a value differing from the one before it
    starts[0] = True
    np.not_equal(values[1:], values[:-1], out=starts[1:])
    distinct = int(np.count_nonzero(starts))
    starts[:-1] &= starts[1:]  # ... and from the one after it: occurs once
    return distinct, int(np.count_nonzero(starts))


def _record(tally: _Tally, count: int, topic_sets: dict[str, dict[str, str]], shard_stats: list[dict[str, Any]],
            training: Iterable[str], params: AuditParams) -> dict[str, Any]:
    total = tally.queries
    # Queries per passage: the runs of one passage id added up (a passage may come back later in the file).
    group_ids = np.frombuffer(tally.group_ids, dtype=np.uint64)
    _, owner = np.unique(group_ids, return_inverse=True) if group_ids.size else (None, np.zeros(0, np.int64))
    per_id = np.bincount(owner, weights=np.asarray(tally.group_sizes, dtype=np.float64)).astype(np.int64) \
        if group_ids.size else np.zeros(0, np.int64)
    sizes, how_many = np.unique(per_id, return_counts=True)
    per_passage = {int(k): int(v) for k, v in zip(sizes.tolist(), how_many.tolist(), strict=True)}
    _, single_texts = _distinct_and_single(tally.texts)
    distinct_pairs, _ = _distinct_and_single(tally.pairs)
    training = set(training)
    leakage = {}
    for number, (name, topics) in enumerate(topic_sets.items()):
        exact, near = tally.found[number]
        leakage[name] = {"topics": len(topics), "training": name in training, "exact": exact, "near": near,
                         "leaked": exact + near, "rate": (exact + near) / total if total else 0.0,
                         "examples": tally.examples[number]}
    overlaps = sum(tally.overlap.values())
    # statistics.fmean of the per-query overlaps: fsum (the exactly rounded sum) over the count
    overlap_sum = float(sum(c * Fraction(k / m if m else 0.0) for (k, m), c in tally.overlap.items()))
    lengths_n = sum(tally.lengths.values())
    return {
        "count": count,
        "passages": int(per_id.size),
        "passages_missing_from_corpus": len(tally.missing),
        "queries": total,
        "queries_per_passage": {str(k): v for k, v in sorted(per_passage.items())},
        "passages_below_count": sum(v for k, v in per_passage.items() if k < count),
        "mean_queries_per_passage": total / per_id.size if per_id.size else 0.0,
        "duplicate_rate_within_passage": (total - distinct_pairs) / total if total else 0.0,
        "duplicate_rate_corpus": (total - single_texts) / total if total else 0.0,  # queries whose text repeats
        "copy_rate": tally.copies / total if total else 0.0,
        "token_overlap": overlap_sum / overlaps if overlaps else 0.0,
        "length_tokens": {"histogram": {str(k): v for k, v in sorted(tally.lengths.items())},
                          "mean": float(sum(k * v for k, v in tally.lengths.items())) / lengths_n if lengths_n else 0.0,
                          "median": _median(tally.lengths, lengths_n) if lengths_n else 0.0},
        "generation": {key: sum(int(s.get(key) or 0) for s in shard_stats)
                       for key in ("passages", "queries", "shortfall", "sequences", "truncated_sequences",
                                   "expansion_rows_dropped")} | {"shards": len(shard_stats)},
        "leakage": leakage,
        "params": asdict(params),
    }


def audit(
    queries: dict[str, list[str]], passages: Iterable[tuple[str, str]], count: int,
    topic_sets: dict[str, dict[str, str]], shard_stats: list[dict[str, Any]],
    training: Iterable[str] = (), params: AuditParams | None = None,
) -> dict[str, Any]:
    """The audit record of queries held in memory; ``passages`` yields ``(id, title + text)``. The
    file version, :func:`audit_file`, streams and gives the same record."""
    params = params or AuditParams()
    texts = {pid: text for pid, text in passages if pid in queries}
    auditor = _Auditor(TopicSets(topic_sets, params), topic_sets, params)
    tally = auditor.tally()
    for pid, qs in queries.items():
        auditor.run(tally, pid, texts.get(pid), qs)
    auditor.flush(tally)
    return _record(tally, count, topic_sets, shard_stats, training, params)


# ----------------------------------------------------------------------------- files


def _passage_row(path: str | Path, line: int, raw: bytes) -> tuple[str, str] | None:
    """``(id, title + text)`` of one passages JSONL line (None for a blank line)."""
    if not raw.strip():
        return None
    try:
        obj = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise InputError(path, line, None, f"bad JSON: {err}") from err
    if not isinstance(obj, dict):
        raise InputError(path, line, None, f"expected a JSON object, got {type(obj).__name__}")
    if "id" not in obj:
        raise InputError(path, line, "id", "missing")
    return str(obj["id"]), f"{obj.get('title') or ''} {obj.get('text') or ''}"


def passage_offsets(path: str | Path) -> dict[str, int]:
    """Each passage id's byte offset in the passages JSONL (the first line holding it)."""
    offsets: dict[str, int] = {}
    offset = 0
    with open(path, "rb") as handle:
        for line, raw in enumerate(handle, start=1):
            row = _passage_row(path, line, raw)
            if row is not None:
                offsets.setdefault(row[0], offset)
            offset += len(raw)
    return offsets


# What forked worker processes inherit instead of receiving it pickled (the topic index, the offsets).
_SHARED: dict[str, Any] = {}


def _default_sigterm() -> None:
    """A worker dies on SIGTERM (a job cancelled by Snakemake or Slurm), whatever handler the
    forking process had installed for it."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _tally_range(span: tuple[int, int]) -> _Tally:
    auditor: _Auditor = _SHARED["auditor"]
    queries, passages, offsets = _SHARED["queries"], _SHARED["passages"], _SHARED["offsets"]
    tally = auditor.tally()
    with open(passages, "rb") as corpus:
        def passage(pid: str) -> str | None:
            offset = offsets.get(pid)
            if offset is None:
                return None
            corpus.seek(offset)
            row = _passage_row(passages, 0, corpus.readline())
            return row[1] if row else None

        run_pid, run = None, []
        for pid, query in query_rows_between(queries, *span):
            if pid != run_pid and run:
                auditor.run(tally, run_pid, passage(run_pid), run)
                run = []
            run_pid = pid
            run.append(query)
        if run:
            auditor.run(tally, run_pid, passage(run_pid), run)
        auditor.flush(tally)
    return tally


def audit_file(
    queries: str | Path, passages: str | Path, count: int, topic_sets: dict[str, dict[str, str]],
    shard_stats: list[dict[str, Any]], training: Iterable[str] = (), params: AuditParams | None = None,
    *, workers: int = 1, parts_per_worker: int = 4,
) -> dict[str, Any]:
    """The audit record of a selection TSV, streamed in byte ranges by ``workers`` processes: the
    same record as :func:`audit` of the file read into memory."""
    params = params or AuditParams()
    if workers < 1:
        raise ValueError(f"--workers must be >= 1, got {workers}")
    auditor = _Auditor(TopicSets(topic_sets, params), topic_sets, params)
    _SHARED.update(auditor=auditor, queries=str(queries), passages=str(passages), offsets=passage_offsets(passages))
    try:
        spans = line_ranges(queries, workers * parts_per_worker)
        tally = auditor.tally()
        if workers == 1:
            parts: Iterable[_Tally] = map(_tally_range, spans)
            for part in parts:
                tally.add(part)
        else:
            # fork: the workers inherit _SHARED (topic index, passage offsets) instead of a pickled
            # copy. On an error the pool is shut down (running parts finish, the rest are
            # cancelled), never terminated: a worker forked from an interpreter hosting a JVM
            # (pyserini in the same process) inherits the JVM's SIGTERM handler and outlives
            # SIGTERM, so multiprocessing.Pool's terminate() could wait for it forever.
            context = multiprocessing.get_context("fork")
            with concurrent.futures.ProcessPoolExecutor(workers, mp_context=context,
                                                        initializer=_default_sigterm) as pool:
                try:
                    for part in pool.map(_tally_range, spans):
                        tally.add(part)
                except BaseException:
                    pool.shutdown(wait=True, cancel_futures=True)
                    raise
    finally:
        _SHARED.clear()
    return _record(tally, count, topic_sets, shard_stats, training, params)


def parse_params(text: str | None) -> AuditParams:
    """``--params`` through the project's one parser (unknown keys with a did-you-mean, JSON types)."""
    return _parse_params(AuditParams, text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Audit one generated-query file (duplicates, copies, leakage).")
    parser.add_argument("--queries", required=True, help="selected queries TSV (passage_id<TAB>query)")
    parser.add_argument("--passages", required=True, help="passages JSONL {id, title, text}")
    parser.add_argument("--count", required=True, type=int, help="C: queries per passage asked for")
    parser.add_argument("--shard-stats", nargs="*", default=[], help="the generation shards' stats JSON")
    parser.add_argument("--topics", nargs="*", default=[], help="NAME=PATH topic sets to check for leakage")
    parser.add_argument("--training", nargs="*", default=[], help="names among --topics that are training topics")
    parser.add_argument("--params", default=None, help='JSON, e.g. {"threshold": 0.8, "ngram": 3}')
    parser.add_argument("--workers", type=int, default=1, help="processes reading the query file (default 1)")
    parser.add_argument("--out", required=True, help="the audit JSON")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    topic_sets = {}
    for spec in args.topics:
        name, sep, path = spec.partition("=")
        if not sep:
            parser.error(f"--topics wants NAME=PATH, got {spec!r}")
        topic_sets[name] = read_topics_file(path)
    stats = [json.loads(Path(p).read_text(encoding="utf-8")) for p in args.shard_stats]
    record = audit_file(args.queries, args.passages, args.count, topic_sets, stats, args.training,
                        parse_params(args.params), workers=args.workers)
    record["file"] = str(args.queries)
    with atomic_open(args.out) as handle:
        json.dump(record, handle, indent=1, ensure_ascii=False)
    log.info("%s: %d queries, %s", args.queries, record["queries"],
             ", ".join(f"{n} {v['leaked']} leaked" for n, v in record["leakage"].items()))
    return 0
