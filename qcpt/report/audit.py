"""The audit of one generated-query file (a selection ``c<C>-n<amount>.tsv``): what the queries are
made of, and whether any of them leaks an evaluation (or training) topic.

Per file: queries per passage against C, the duplicate rate (a query repeated for its passage, and a
normalised text repeated anywhere in the file), the copy rate (the normalised query is a substring
of its normalised passage), token overlap with the passage, the length distribution, the generation
shards' shortfall and their counters of truncated sequences and dropped expansion rows (the shard
stats do not count parse failures themselves), and leakage against each topic set: exact matches
after normalisation, and near matches by character n-gram Jaccard ≥ ``threshold``.

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

The file is read once, in byte ranges by ``workers`` processes; what must be counted across the
file (duplicate texts, queries per passage) is kept as 8-byte hashes (BLAKE2b), not as texts, and
passages are read from their file by offset, so memory grows by ~16 bytes a query.

CLI::

    report.py audit --queries Q.tsv --passages passages.jsonl --count C --shard-stats S.json ...
                    --topics NAME=PATH ... [--training NAME ...] [--params '{"threshold": 0.8}']
                    [--workers N] --out A.json
"""

from __future__ import annotations

import argparse
import array
import concurrent.futures
import dataclasses
import hashlib
import json
import logging
import math
import multiprocessing
import os
import re
import signal
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from ..io import InputError, atomic_open
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
    if text.isascii():  # NFKC leaves ASCII as it is and casefold is lower there: the same, faster
        text = text.lower()
    else:
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
        bands = _band_count(params.threshold) if self.entries else None
        self.bands = _MinHashBands(self, bands) if bands else None

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
        the threshold allows (see :class:`_MinHashBands`), else from the prefix filter."""
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
                need = _shared_needed(size, threshold)
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
        need = _shared_needed(len(q), self.params.threshold)
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
        need = _shared_needed(len(q), threshold)
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


# MinHash banding (candidates for near matches in a time that does not grow with the topics): a
# band of ROWS min-hashes agrees with probability J^ROWS, so a pair with Jaccard >= t meets in at
# least one of b bands except with probability (1 - t^ROWS)^b, which b is chosen to hold below
# MISS. Only thresholds needing at most MAX_BANDS bands use it (0.8 needs 69); lower ones take
# the exact prefix filter. Candidates are then checked exactly, so banding can only miss, never add.
_ROWS = 6
_MISS = 1e-9
_MAX_BANDS = 128
_BATCH = 1024  # queries per vectorised step (min-hash rows: ~40 n-grams x 414 values x 4 bytes each)
_MIX = np.uint64(0x9E3779B97F4A7C15)


def _band_count(threshold: float) -> int | None:
    agree = threshold ** _ROWS
    if agree >= 1:
        return 1
    bands = math.ceil(math.log(_MISS) / math.log1p(-agree))
    return bands if bands <= _MAX_BANDS else None


class _MinHashBands:
    """MinHash band keys of the topics, and the topics a batch of normalised queries meets in a band.

    The min-hashes are over the n-grams the topics hold (a query's other n-grams cannot be shared,
    and leaving them out only raises its agreement with a topic), from a fixed random table (one
    row of 16-bit values per known n-gram), so a run gives the same candidates every time. ASCII
    texts (and n <= 9) are cut into n-grams with numpy; others through :func:`ngrams`."""

    def __init__(self, sets: TopicSets, bands: int):
        self.sets, self.bands = sets, bands
        self.n = sets.params.ngram
        width = _ROWS * bands
        # 16-bit values: half the memory traffic of 32; a tie between two n-grams' values (1 in 65,536)
        # only makes a band agree more often, which the exact check then sorts out.
        self.table = np.random.default_rng(20_240_917).integers(0, 2**16, (max(sets.width, 1), width), dtype=np.uint16)
        ascii_grams = sorted((self._code(g), r) for g, r in sets.rank.items() if g.isascii())
        self.codes = np.array([c for c, _ in ascii_grams], dtype=np.int64)
        self.code_rank = np.array([r for _, r in ascii_grams], dtype=np.int64)
        # n <= 3: an ASCII n-gram's code is < 2^21, so a dense table gives its rank (-1: no topic has it)
        self.dense: np.ndarray | None = None
        if self.n <= 3:
            self.dense = np.full(1 << (7 * self.n), -1, dtype=np.int64)
            self.dense[self.codes] = self.code_rank
        keys, owners = [], []
        texts = [normalise(text) for text in sets.entry_texts]
        for start in range(0, len(texts), _BATCH):
            rows, band_keys = self._band_keys(texts[start:start + _BATCH])
            keys.append(band_keys.ravel())
            owners.append(np.repeat(rows + start, bands))
        key = np.concatenate(keys) if keys else np.zeros(0, np.uint64)
        owner = np.concatenate(owners) if owners else np.zeros(0, np.int64)
        order = np.argsort(key, kind="stable")
        self.keys, self.owners = key[order], owner[order]
        # A bitmap of the keys' top bits (~16 bits a key) turns away most query keys before the
        # binary search, whose random reads into the sorted keys were most of a query's time.
        self.shift = np.uint64(64 - max(23, int(len(self.keys) * 16).bit_length()))
        slots = self.keys >> self.shift
        self.bitmap = np.zeros(1 << (61 - int(self.shift)), dtype=np.uint8)  # one bit a slot
        np.bitwise_or.at(self.bitmap, slots >> np.uint64(3), (1 << (slots & np.uint64(7))).astype(np.uint8))

    def _code(self, gram: str) -> int:
        code = 0
        for char in gram:
            code = (code << 7) | ord(char)
        return code

    def _ranks(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """The known n-gram ranks of each text and the text each belongs to (in text order)."""
        n = self.n
        fast = [i for i, t in enumerate(texts) if t.isascii() and len(t) + 2 >= n] if n <= 9 else []
        ranks, owners = [], []
        if fast:
            padded = [f" {texts[i]} " for i in fast]
            lengths = np.fromiter(map(len, padded), dtype=np.int64, count=len(padded))
            chars = np.frombuffer("".join(padded).encode("ascii"), dtype=np.uint8).astype(np.int64)
            count = lengths - n + 1
            starts = np.cumsum(lengths) - lengths
            first = np.cumsum(count) - count
            owner = np.repeat(np.asarray(fast, dtype=np.int64), count)
            pos = np.repeat(starts, count) + (np.arange(int(count.sum())) - np.repeat(first, count))
            code = chars[pos]
            for k in range(1, n):
                code = (code << 7) | chars[pos + k]
            if self.dense is not None:
                rank_of = self.dense[code]
                known = rank_of >= 0
                ranks.append(rank_of[known])
            else:
                at = np.minimum(np.searchsorted(self.codes, code), max(len(self.codes) - 1, 0))
                known = self.codes[at] == code if len(self.codes) else np.zeros(len(code), dtype=bool)
                ranks.append(self.code_rank[at[known]])
            owners.append(owner[known])
        slow = sorted(set(range(len(texts))) - set(fast))
        rank = self.sets.rank
        for i in slow:
            mine = [rank[g] for g in ngrams(texts[i], n) if g in rank]
            ranks.append(np.asarray(mine, dtype=np.int64))
            owners.append(np.full(len(mine), i, dtype=np.int64))
        rank_array = np.concatenate(ranks) if ranks else np.zeros(0, np.int64)
        owner_array = np.concatenate(owners) if owners else np.zeros(0, np.int64)
        if slow and fast:
            order = np.argsort(owner_array, kind="stable")
            rank_array, owner_array = rank_array[order], owner_array[order]
        return rank_array, owner_array

    def _band_keys(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """The texts holding a known n-gram, and their band keys (texts x bands, uint64)."""
        ranks, owner = self._ranks(texts)
        if not len(ranks):
            return np.zeros(0, np.int64), np.zeros((0, self.bands), np.uint64)
        rows, first, counts = np.unique(owner, return_index=True, return_counts=True)
        # The texts' n-grams as a ragged matrix, longest text first: step w takes the minimum with the
        # w-th n-gram of every text that has one (a prefix of the rows), a row of the table at a time.
        order = np.argsort(-counts, kind="stable")
        sorted_counts = counts[order]
        column = np.arange(len(ranks)) - np.repeat(first, counts)
        place = np.empty(len(rows), dtype=np.int64)
        place[order] = np.arange(len(rows))
        grid = np.zeros((len(rows), int(sorted_counts[0])), dtype=np.int64)
        grid[np.repeat(place, counts), column] = ranks
        signature = self.table[grid[:, 0]]  # every text has one n-gram
        for w in range(1, int(sorted_counts[0])):
            live = int(np.searchsorted(-sorted_counts, -w, side="left"))  # texts with more than w n-grams
            np.minimum(signature[:live], self.table[grid[:live, w]], out=signature[:live])
        signature = signature[place]  # back to text order: rows x (ROWS * bands)
        values = signature.reshape(len(rows), self.bands, _ROWS).astype(np.uint64)
        key = np.zeros((len(rows), self.bands), dtype=np.uint64)
        with np.errstate(over="ignore"):
            for k in range(_ROWS):
                key = (key ^ values[:, :, k]) * _MIX
            key ^= np.arange(self.bands, dtype=np.uint64) * np.uint64(0xD6E8FEB86659FD93)
            key ^= key >> np.uint64(29)
        return rows, key

    def candidates(self, norms: list[str]) -> list[list[int]]:
        """Per query, the topic entries (``TopicSets.entries`` numbers) it meets in a band."""
        out: list[list[int]] = [[] for _ in norms]
        for start in range(0, len(norms), _BATCH):
            rows, key = self._band_keys(norms[start:start + _BATCH])
            if not len(rows):
                continue
            flat = key.ravel()
            slots = flat >> self.shift
            maybe = np.flatnonzero((self.bitmap[slots >> np.uint64(3)] >> (slots & np.uint64(7)).astype(np.uint8)) & 1)
            lo = np.searchsorted(self.keys, flat[maybe], side="left")
            hi = np.searchsorted(self.keys, flat[maybe], side="right")
            for hit in np.flatnonzero(hi > lo).tolist():
                row = int(rows[int(maybe[hit]) // self.bands])
                out[start + row].extend(self.owners[lo[hit]:hi[hit]].tolist())
        return out


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
    from ..corpus import read_topics

    return read_topics(path)[0]


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
        if len(self.pending) >= _BATCH:
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


def _line_number(path: str | Path, offset: int, extra: int) -> int:
    """The 1-based number of the line ``extra`` lines after the one starting at byte ``offset``."""
    with open(path, "rb") as handle:
        return handle.read(offset).count(b"\n") + 1 + extra


def _query_rows(path: str | Path, start: int, end: int) -> Iterator[tuple[str, str]]:
    """``(passage id, query)`` of the lines starting in ``[start, end)`` of a selection TSV, each
    checked by :func:`~qcpt.querygen.pools.pool_row` (its line number counted only on an error)."""
    from ..querygen.pools import pool_row

    with open(path, "rb") as handle:
        handle.seek(start)
        position = start
        for extra, raw in enumerate(handle):
            if position >= end:
                break
            position += len(raw)
            try:
                row = pool_row(path, -1, raw.decode("utf-8").rstrip("\n"))
            except UnicodeDecodeError as err:
                raise InputError(path, _line_number(path, start, extra), None, f"not UTF-8: {err}") from err
            except InputError as err:
                raise InputError(path, _line_number(path, start, extra), err.field, err.reason) from None
            yield row


def _ranges(path: str | Path, parts: int) -> list[tuple[int, int]]:
    """``parts`` byte ranges of a file, each starting at a line start."""
    size = os.path.getsize(path)
    cuts = [0]
    with open(path, "rb") as handle:
        for k in range(1, parts):
            handle.seek(max(size * k // parts, cuts[-1]))
            if handle.tell() > 0:
                handle.seek(handle.tell() - 1)
                handle.readline()  # to the end of the line the cut falls in
            cuts.append(min(handle.tell(), size))
    cuts.append(size)
    return [(a, b) for a, b in zip(cuts, cuts[1:], strict=False) if b > a]


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
        for pid, query in _query_rows(queries, *span):
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
        spans = _ranges(queries, workers * parts_per_worker)
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
