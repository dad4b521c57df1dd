"""The audit of one generated-query file (a selection ``c<C>-n<amount>.tsv``): what the queries are
made of, and whether any of them leaks an evaluation (or training) topic.

Per file: queries per passage against C, the duplicate rate (a query repeated for its passage, and a
normalised text repeated anywhere in the file), the copy rate (the normalised query is a substring
of its normalised passage), token overlap with the passage, the length distribution, the generation
shards' shortfall and their counters of truncated sequences and dropped expansion rows (the shard
stats do not count parse failures themselves), and leakage against each topic set: exact matches
after normalisation, and near matches by character n-gram Jaccard ≥ ``threshold``.

Near matches are found without comparing every pair: a query whose n-gram set Q has Jaccard ≥ t
with a topic's set T shares at least ``max(⌈t·|Q|⌉, ⌈t·|T|⌉)`` n-grams with it; under one global
order of the n-grams (rarest among the topics first) Q's first ``|Q| − ⌈t·|Q|⌉ + 1`` and T's first
``|T| − ⌈t·|T|⌉ + 1`` then have one in common (a prefix filter): only T's prefix is indexed, and the
topics under Q's prefix are the only candidates.

CLI::

    report.py audit --queries Q.tsv --passages passages.jsonl --count C --shard-stats S.json ...
                    --topics NAME=PATH ... [--training NAME ...] [--params '{"threshold": 0.8}'] --out A.json
"""

from __future__ import annotations

import argparse
import bisect
import json
import logging
import math
import re
import statistics
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..io import atomic_open, read_jsonl
from ..params import ParamsError
from ..params import parse_params as _parse_params

log = logging.getLogger(__name__)

_NON_WORD = re.compile(r"[^\w\s]+")
_SPACE = re.compile(r"\s+")


@dataclass
class AuditParams:
    threshold: float = 0.8  # near match: character n-gram Jaccard at least this
    ngram: int = 3  # character n-grams of the normalised text (padded with one space each side)
    examples: int = 5  # leaked query/topic pairs kept per topic set in the JSON

    def validate(self) -> None:
        if not 0 < self.threshold <= 1:
            raise ParamsError("threshold", f"must be in (0, 1], got {self.threshold!r}")
        if self.ngram < 1:
            raise ParamsError("ngram", f"must be >= 1, got {self.ngram!r}")


def normalise(text: str) -> str:
    """Case-folded, NFKC, punctuation dropped, whitespace collapsed: what an exact match compares."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return _SPACE.sub(" ", _NON_WORD.sub(" ", text)).strip()


def ngrams(normalised: str, n: int = 3) -> frozenset[str]:
    padded = f" {normalised} "
    return frozenset(padded[i:i + n] for i in range(max(len(padded) - n + 1, 1)))


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    if not (a or b):
        return 1.0
    shared = len(a & b)
    return shared / (len(a) + len(b) - shared)  # |a ∪ b| without building the union


def _shared_needed(size: int, threshold: float) -> int:
    """The fewest n-grams a set of ``size`` shares with any set it has Jaccard >= ``threshold`` with."""
    # (the tolerance keeps 0.8 · 15 = 12.000000000000002 from asking for a 13th shared n-gram)
    return math.ceil(threshold * size - 1e-9)


class TopicIndex:
    """One topic set's normalised texts, for exact lookups and n-gram candidate search.

    Candidates come from a prefix filter: every n-gram is ranked by how many topics hold it (rarest
    first, ties by the n-gram), and only each topic's first ``|T| − need(T) + 1`` n-grams are
    indexed. Two sets sharing at least ``need`` n-grams (``need`` the larger of theirs) have a
    common n-gram within those prefixes of both, so the query probes its own prefix; the rarest
    n-grams make short lists, where indexing every n-gram of every topic made each query visit
    most topics (the audit grew with queries × topics)."""

    def __init__(self, topics: dict[str, str], params: AuditParams):
        self.params = params
        self.exact: dict[str, str] = {}
        self.grams: dict[str, frozenset[str]] = {}
        self.position: dict[str, int] = {}
        self.frequency: Counter[str] = Counter()  # topics holding each n-gram
        for position, (qid, text) in enumerate(topics.items()):
            norm = normalise(text)
            self.exact.setdefault(norm, qid)
            self.grams[qid] = ngrams(norm, params.ngram)
            self.position[qid] = position
            self.frequency.update(self.grams[qid])
        # per n-gram: (topic, the n-gram's place in the topic's order, the topic's n-gram count)
        self.by_prefix: dict[str, list[tuple[str, int, int]]] = defaultdict(list)
        for qid, grams in self.grams.items():
            prefix = len(grams) - _shared_needed(len(grams), params.threshold) + 1
            for place, g in enumerate(sorted(grams, key=self._rank)[:prefix]):
                self.by_prefix[g].append((qid, place, len(grams)))
        # by topic size, so that a query reads only the topics of a size it can match (bisect)
        self.prefix_sizes: dict[str, list[int]] = {}
        for g, entries in self.by_prefix.items():
            entries.sort(key=lambda entry: entry[2])
            self.prefix_sizes[g] = [size for _, _, size in entries]

    def _rank(self, gram: str) -> tuple[int, str]:
        return self.frequency[gram], gram

    def match(self, query: str) -> tuple[str, str, float] | None:
        """``(kind, topic id, jaccard)`` of the query's best match (exact first), else None; among
        equally good near matches, the first topic holding the query's rarest n-gram (then the next
        rarest...), earliest topic first."""
        return self.match_normalised(normalise(query))

    def match_normalised(self, norm: str, q: frozenset[str] | None = None) -> tuple[str, str, float] | None:
        """:meth:`match` of an already normalised query (``q``: its n-grams, where known)."""
        if norm in self.exact:
            return "exact", self.exact[norm], 1.0
        threshold = self.params.threshold
        if q is None:
            q = ngrams(norm, self.params.ngram)
        need = _shared_needed(len(q), threshold)
        known = sorted((g for g in q if g in self.frequency), key=self._rank)
        if len(known) < need:  # fewer shared n-grams with all topics than a match needs
            return None
        shortest, longest = threshold * len(q) - 1e-9, len(q) / threshold + 1e-9  # Jaccard <= min/max size
        share = threshold / (1 + threshold)  # Jaccard >= t  <=>  shared >= t/(1+t) · (|Q| + |T|)
        best_score, best = -1.0, []
        met: set[str] = set()
        for i, g in enumerate(known[: len(known) - need + 1]):
            sizes = self.prefix_sizes.get(g)
            if sizes is None:
                continue
            entries = self.by_prefix[g]
            for qid, place, size in entries[bisect.bisect_left(sizes, shortest): bisect.bisect_right(sizes, longest)]:
                if qid in met:
                    continue
                met.add(qid)
                # Positional filter: a match's rarest shared n-gram is in both prefixes, so it is met
                # first, here; past it, at most min(the query's, the topic's later n-grams) are shared.
                if 1 + min(len(known) - i - 1, size - place - 1) < math.ceil(share * (len(q) + size) - 1e-9):
                    continue
                score = jaccard(q, self.grams[qid])
                if score < threshold or score < best_score:
                    continue
                if score > best_score:
                    best_score, best = score, []
                best.append(qid)
        if not best:
            return None
        if len(best) > 1:  # ties: the topic first met probing the query's rarest n-grams in turn
            probes = known[: len(q) - need + 1]
            best.sort(key=lambda qid: (next(i for i, g in enumerate(probes) if g in self.grams[qid]),
                                       self.position[qid]))
        return "near", best[0], best_score


def read_query_file(path: str | Path) -> dict[str, list[str]]:
    """``{passage id: [queries]}`` of a selection TSV (``passage_id<TAB>query``), in file order."""
    from ..querygen.selection import read_pool_shard

    out: dict[str, list[str]] = defaultdict(list)
    for _, pid, query in read_pool_shard(path):
        out[pid].append(query)
    return dict(out)


def read_topics_file(path: str | Path) -> dict[str, str]:
    from ..corpus import read_topics

    return read_topics(path)[0]


def _tokens(text: str) -> list[str]:
    return normalise(text).split()


def audit(
    queries: dict[str, list[str]], passages: Iterable[tuple[str, str]], count: int,
    topic_sets: dict[str, dict[str, str]], shard_stats: list[dict[str, Any]],
    training: Iterable[str] = (), params: AuditParams | None = None,
) -> dict[str, Any]:
    """The audit record of one query file; ``passages`` yields ``(id, title + text)`` (only the
    passages with queries are read)."""
    params = params or AuditParams()
    per_passage = Counter(len(qs) for qs in queries.values())
    total = sum(len(qs) for qs in queries.values())
    copies, overlaps, lengths, seen = 0, [], Counter(), set()
    for pid, text in passages:
        if pid not in queries:
            continue
        seen.add(pid)
        norm, tokens = normalise(text), set(_tokens(text))
        for q in queries[pid]:
            q_norm, q_tokens = normalise(q), _tokens(q)
            copies += bool(q_norm) and q_norm in norm
            overlaps.append(sum(t in tokens for t in q_tokens) / len(q_tokens) if q_tokens else 0.0)
    # One pass over the queries, each normalised (and cut into n-grams) once for every count and
    # every topic set.
    indexes = {name: TopicIndex(topics, params) for name, topics in topic_sets.items()}
    found_counts = {name: {"exact": 0, "near": 0} for name in topic_sets}
    examples: dict[str, list[dict[str, Any]]] = {name: [] for name in topic_sets}
    texts: Counter[str] = Counter()
    within = 0
    for pid, qs in queries.items():
        norms = [normalise(q) for q in qs]
        texts.update(norms)
        within += len(norms) - len(set(norms))
        lengths.update(len(norm.split()) for norm in norms)
        for q, norm in zip(qs, norms, strict=True):
            grams = ngrams(norm, params.ngram) if indexes else None
            for name, index in indexes.items():
                found = index.match_normalised(norm, grams)
                if found is None:
                    continue
                found_counts[name][found[0]] += 1
                if len(examples[name]) < params.examples:
                    examples[name].append({"passage": pid, "query": q, "topic": found[1],
                                           "topic_text": topic_sets[name][found[1]], "kind": found[0],
                                           "jaccard": round(found[2], 4)})
    leakage = {}
    for name, topics in topic_sets.items():
        exact, near = found_counts[name]["exact"], found_counts[name]["near"]
        leakage[name] = {"topics": len(topics), "training": name in set(training), "exact": exact, "near": near,
                         "leaked": exact + near, "rate": (exact + near) / total if total else 0.0,
                         "examples": examples[name]}
    length_values = [n for n, c in sorted(lengths.items()) for _ in range(c)]
    return {
        "count": count,
        "passages": len(queries),
        "passages_missing_from_corpus": len(set(queries) - seen),
        "queries": total,
        "queries_per_passage": {str(k): v for k, v in sorted(per_passage.items())},
        "passages_below_count": sum(v for k, v in per_passage.items() if k < count),
        "mean_queries_per_passage": total / len(queries) if queries else 0.0,
        "duplicate_rate_within_passage": within / total if total else 0.0,
        "duplicate_rate_corpus": sum(c for c in texts.values() if c > 1) / total if total else 0.0,
        "copy_rate": copies / total if total else 0.0,
        "token_overlap": statistics.fmean(overlaps) if overlaps else 0.0,
        "length_tokens": {"histogram": {str(k): v for k, v in sorted(lengths.items())},
                          "mean": statistics.fmean(length_values) if length_values else 0.0,
                          "median": statistics.median(length_values) if length_values else 0.0},
        "generation": {key: sum(int(s.get(key) or 0) for s in shard_stats)
                       for key in ("passages", "queries", "shortfall", "sequences", "truncated_sequences",
                                   "expansion_rows_dropped")} | {"shards": len(shard_stats)},
        "leakage": leakage,
        "params": asdict(params),
    }


def _passage_texts(path: str | Path) -> Iterable[tuple[str, str]]:
    for _, obj in read_jsonl(path):
        yield str(obj["id"]), f"{obj.get('title') or ''} {obj.get('text') or ''}"


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
    record = audit(read_query_file(args.queries), _passage_texts(args.passages), args.count, topic_sets, stats,
                   args.training, parse_params(args.params))
    record["file"] = str(args.queries)
    with atomic_open(args.out) as handle:
        json.dump(record, handle, indent=1, ensure_ascii=False)
    log.info("%s: %d queries, %s", args.queries, record["queries"],
             ", ".join(f"{n} {v['leaked']} leaked" for n, v in record["leakage"].items()))
    return 0
