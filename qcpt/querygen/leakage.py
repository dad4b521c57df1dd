"""Leakage of evaluation (or training) topics into generated queries: exact matches after
normalisation, and near matches by character n-gram Jaccard >= a threshold.

Near matches are found without comparing every pair. Candidates come from MinHash bands: each
text's n-grams get ``6 · b`` min-hashes (over the n-grams some topic holds), and a query is checked
against the topics it agrees with on all 6 values of at least one of ``b`` bands. A pair with
Jaccard J agrees on a band with probability J^6, so ``b`` (69 at the default 0.8) is chosen to make
a pair at the threshold miss every band with probability below 1e-9; every candidate is then
compared exactly, so the bands can only miss a match, never invent one, and a query's work does
not grow with the topic sets (a prefix filter's candidates did: topics sharing the query's rarest
word, so the audit grew with queries × training topics). Thresholds that would need more than
128 bands use the exact prefix filter instead: under one global order of the n-grams (rarest
first), a pair with Jaccard ≥ t shares at least ``α = max(⌈t·|Q|⌉, ⌈t·|T|⌉)`` n-grams, and its two
first shared n-grams lie within Q's first ``|Q| − ⌈t·|Q|⌉ + 2`` and T's first ``|T| − ⌈t·|T|⌉ + 2``
n-grams, so the pairs of T's prefix are indexed and the pairs of Q's prefix probed (also what
:class:`TopicIndex` ``.match`` uses for one query).
"""

from __future__ import annotations

import array
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.params import ParamsError
from .minhash import MinHashBands, band_count
from .ngrams import ngrams, normalise, shared_needed


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


Match = tuple[str, str, float]  # (kind "exact" | "near", topic id, Jaccard)


class TopicSets:
    """Several topic sets' normalised texts, for exact lookups and near-match candidates under one
    n-gram order (a query is cut and probed once for all of them); :meth:`match_normalised` gives
    each set's best match."""

    def __init__(self, topic_sets: dict[str, dict[str, str]], params: AuditParams):
        self.params = params
        self.names = list(topic_sets)
        self.exact: list[dict[str, str]] = []
        self.position: list[dict[str, int]] = []
        self.frequency: list[Counter[str]] = []  # per set: topics holding each n-gram (its tie order)
        everywhere: Counter[str] = Counter()
        for topics in topic_sets.values():
            exact, position, frequency = {}, {}, Counter()
            for place, (qid, text) in enumerate(topics.items()):
                norm = normalise(text)
                exact.setdefault(norm, qid)
                position[qid] = place
                frequency.update(ngrams(norm, params.ngram))
            everywhere.update(frequency)
            self.exact.append(exact)
            self.position.append(position)
            self.frequency.append(frequency)
        # The global order: rarest over all sets first (ties by the n-gram); any one order is exact.
        self.rank = {g: i for i, g in enumerate(sorted(everywhere, key=lambda g: (everywhere[g], g)))}
        self.width = len(self.rank)  # a pair (a, b) of ranks is the key a · width + b
        # Every topic: (set number, topic id, n-gram count, entry number), its text, and its n-grams
        # as sorted ranks in one int32 array (entry e's at offsets[e]:offsets[e + 1]): a few bytes
        # an n-gram, where a frozenset of strings per topic took ~4 KB a topic.
        self.entries: list[tuple[int, str, int, int]] = []
        self.entry_texts: list[str] = []
        ranks = array.array("i")
        offsets = array.array("q", [0])
        for number, topics in enumerate(topic_sets.values()):
            for qid, text in topics.items():
                mine = sorted(self.rank[g] for g in ngrams(normalise(text), params.ngram))
                self.entries.append((number, qid, len(mine), len(self.entries)))
                self.entry_texts.append(text)
                ranks.extend(mine)
                offsets.append(len(ranks))
        self.topic_ranks = np.frombuffer(ranks, dtype=np.int32) if ranks else np.zeros(0, np.int32)
        self.topic_offsets = np.frombuffer(offsets, dtype=np.int64)
        self._pairs: tuple[dict[int, list[tuple[int, str, int, int]]], dict[int, list[tuple[int, str, int, int]]]] | None = None
        bands = band_count(params.threshold) if self.entries else None
        self.bands = MinHashBands(self.rank, params.ngram, self.entry_texts, bands) if bands else None

    def match_normalised(self, norm: str, q: frozenset[str] | None = None) -> list[Match | None]:
        """Per set, ``(kind, topic id, jaccard)`` of the already normalised query's best match (exact
        first), else None; among equally good near matches, the first topic holding the query's
        rarest n-gram in that set (then the next rarest...), earliest topic first. Candidates come
        from the pair prefix filter (exact; :meth:`match_batch` is the fast way for many queries)."""
        found, open_sets = self._exact(norm)
        if not open_sets:
            return found
        if q is None:
            q = ngrams(norm, self.params.ngram)
        return self._verify(found, q, self._prefix_candidates(q))

    def _ranks_of(self, entry: int) -> list[int]:
        return self.topic_ranks[self.topic_offsets[entry]:self.topic_offsets[entry + 1]].tolist()

    def match_batch(self, norms: list[str]) -> list[list[Match | None]]:
        """:meth:`match_normalised` of many normalised queries; candidates from MinHash bands where
        the threshold allows (see :class:`MinHashBands`), else from the prefix filter."""
        if self.bands is None:
            return [self.match_normalised(norm) for norm in norms]
        out: list[list[Match | None]] = []
        candidates = self.bands.candidates(norms)
        for norm, entries in zip(norms, candidates, strict=True):
            found, open_sets = self._exact(norm)
            if open_sets and entries:
                found = self._verify(found, ngrams(norm, self.params.ngram), {self.entries[e] for e in entries})
            out.append(found)
        return out

    def _exact(self, norm: str) -> tuple[list[Match | None], list[int]]:
        found: list[Match | None] = [None] * len(self.names)
        open_sets = []
        for number, exact in enumerate(self.exact):
            qid = exact.get(norm)
            if qid is None:
                open_sets.append(number)
            else:
                found[number] = ("exact", qid, 1.0)
        return found, open_sets

    def _prefix_index(self) -> tuple[dict[int, list[tuple[int, str, int, int]]], dict[int, list[tuple[int, str, int, int]]]]:
        """The pair (and single) n-gram index of the topics' prefixes, built when first needed."""
        if self._pairs is None:
            # key -> (set number, topic id, the topic's n-gram count)
            pairs: dict[int, list[tuple[int, str, int, int]]] = defaultdict(list)
            singles: dict[int, list[tuple[int, str, int, int]]] = defaultdict(list)
            threshold = self.params.threshold
            for entry in self.entries:
                size = entry[2]
                need = shared_needed(size, threshold)
                ranks = self._ranks_of(entry[3])
                if need >= 2:
                    prefix = ranks[: size - need + 2]
                    for a, first in enumerate(prefix):
                        base = first * self.width
                        for second in prefix[a + 1:]:
                            pairs[base + second].append(entry)
                else:  # a set this small matches on one shared n-gram
                    for first in ranks[: size - need + 1]:
                        singles[first].append(entry)
            self._pairs = pairs, singles
        return self._pairs

    def _prefix_candidates(self, q: frozenset[str]) -> set[tuple[int, str, int, int]]:
        pairs, singles = self._prefix_index()
        need = shared_needed(len(q), self.params.threshold)
        rank = self.rank
        known = sorted([rank[g] for g in q if g in rank])
        candidates: set[tuple[int, str, int, int]] = set()
        if len(known) < need:  # fewer n-grams in any topic than a match shares
            return candidates
        if singles:
            for first in known[: len(known) - need + 1]:
                entries = singles.get(first)
                if entries:
                    candidates.update(entries)
        prefix = known[: len(known) - need + 2]
        width = self.width
        for a, first in enumerate(prefix):
            base = first * width
            for second in prefix[a + 1:]:
                entries = pairs.get(base + second)
                if entries:
                    candidates.update(entries)
        return candidates

    def _verify(self, found: list[Match | None], q: frozenset[str],
                candidates: Iterable[tuple[int, str, int, int]]) -> list[Match | None]:
        """``found`` with each still open set's best near match among ``candidates`` (exact Jaccard:
        a topic's n-grams all have ranks, so the shared ones are the query's ranks it holds)."""
        threshold = self.params.threshold
        need = shared_needed(len(q), threshold)
        shortest, longest = threshold * len(q) - 1e-9, len(q) / threshold + 1e-9  # Jaccard <= min/max size
        rank = self.rank
        known = {rank[g] for g in q if g in rank}
        best: dict[int, tuple[float, list[str]]] = {}
        held_ranks: dict[tuple[int, str], set[int]] = {}
        for number, qid, size, entry in candidates:
            if found[number] is not None or not shortest <= size <= longest:
                continue
            topic = self._ranks_of(entry)
            shared = len(known.intersection(topic))
            score = shared / (len(q) + size - shared)  # as jaccard() computes it
            held_ranks[(number, qid)] = set(topic)
            if score < threshold:
                continue
            held = best.get(number)
            if held is None or score > held[0]:
                best[number] = (score, [qid])
            elif score == held[0]:
                held[1].append(qid)
        for number, (score, qids) in best.items():
            if len(qids) > 1:  # ties: the topic first met probing the query's rarest n-grams (in this set) in turn
                frequency, position = self.frequency[number], self.position[number]
                ordered = sorted((g for g in q if g in frequency), key=lambda g: (frequency[g], g))
                probes = [rank[g] for g in ordered[: len(q) - need + 1]]
                qids.sort(key=lambda qid: (next(i for i, r in enumerate(probes) if r in held_ranks[(number, qid)]),
                                           position[qid]))
            found[number] = ("near", qids[0], score)
        return found


class TopicIndex:
    """One topic set's :class:`TopicSets`: ``match(query)`` is its best match or None."""

    def __init__(self, topics: dict[str, str], params: AuditParams):
        self.sets = TopicSets({"topics": topics}, params)
        self.params = params

    def match(self, query: str) -> Match | None:
        return self.match_normalised(normalise(query))

    def match_normalised(self, norm: str, q: frozenset[str] | None = None) -> Match | None:
        return self.sets.match_normalised(norm, q)[0]


def read_topics_file(path: str | Path) -> dict[str, str]:
    from ..corpus.topics import read_topics

    return read_topics(path)[0]
