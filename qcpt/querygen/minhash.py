"""MinHash bands: the near-match candidates of :class:`.leakage.TopicSets` for many queries, in a
time that does not grow with the topics."""

from __future__ import annotations

import math

import numpy as np

from .ngrams import ngrams, normalise

# MinHash banding (candidates for near matches in a time that does not grow with the topics): a
# band of ROWS min-hashes agrees with probability J^ROWS, so a pair with Jaccard >= t meets in at
# least one of b bands except with probability (1 - t^ROWS)^b, which b is chosen to hold below
# MISS. Only thresholds needing at most MAX_BANDS bands use it (0.8 needs 69); lower ones take
# the exact prefix filter. Candidates are then checked exactly, so banding can only miss, never add.
_ROWS = 6
_MISS = 1e-9
_MAX_BANDS = 128
BATCH = 1024  # queries per vectorised step (min-hash rows: ~40 n-grams x 414 values x 4 bytes each)
_MIX = np.uint64(0x9E3779B97F4A7C15)


def band_count(threshold: float) -> int | None:
    agree = threshold ** _ROWS
    if agree >= 1:
        return 1
    bands = math.ceil(math.log(_MISS) / math.log1p(-agree))
    return bands if bands <= _MAX_BANDS else None


class MinHashBands:
    """MinHash band keys of the topics, and the topics a batch of normalised queries meets in a band.

    The min-hashes are over the n-grams the topics hold (a query's other n-grams cannot be shared,
    and leaving them out only raises its agreement with a topic), from a fixed random table (one
    row of 16-bit values per known n-gram), so a run gives the same candidates every time. ASCII
    texts (and n <= 9) are cut into n-grams with numpy; others through :func:`ngrams`."""

    def __init__(self, rank: dict[str, int], n: int, texts: list[str], bands: int):
        """``rank``: the topics' n-grams in the global order; ``texts``: the topics' texts."""
        self.rank, self.n, self.bands = rank, n, bands
        width = _ROWS * bands
        # 16-bit values: half the memory traffic of 32; a tie between two n-grams' values (1 in 65,536)
        # only makes a band agree more often, which the exact check then sorts out.
        self.table = np.random.default_rng(20_240_917).integers(0, 2**16, (max(len(rank), 1), width), dtype=np.uint16)
        ascii_grams = sorted((self._code(g), r) for g, r in rank.items() if g.isascii())
        self.codes = np.array([c for c, _ in ascii_grams], dtype=np.int64)
        self.code_rank = np.array([r for _, r in ascii_grams], dtype=np.int64)
        # n <= 3: an ASCII n-gram's code is < 2^21, so a dense table gives its rank (-1: no topic has it)
        self.dense: np.ndarray | None = None
        if self.n <= 3:
            self.dense = np.full(1 << (7 * self.n), -1, dtype=np.int64)
            self.dense[self.codes] = self.code_rank
        keys, owners = [], []
        texts = [normalise(text) for text in texts]
        for start in range(0, len(texts), BATCH):
            rows, band_keys = self._band_keys(texts[start:start + BATCH])
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
        rank = self.rank
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
        """Per query, the topic entries (``TopicSets.entries`` numbers: the order of ``texts``) it meets in a band."""
        out: list[list[int]] = [[] for _ in norms]
        for start in range(0, len(norms), BATCH):
            rows, key = self._band_keys(norms[start:start + BATCH])
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
