"""Packing a document's sentences into passages: Punkt sentences packed greedily into spans of at
most ``max_tokens`` tokens.

This is the papers' (and coCondenser's) span construction: a document's sentences, in order, are
added to the current passage while the passage stays within ``max_tokens`` tokens of the encoder's
tokenizer (counted without special tokens); the next sentence that does not fit starts a new
passage. A single sentence longer than ``max_tokens`` is cut into pieces of at most ``max_tokens``
tokens, at word boundaries where possible, and the cut is counted in the log.

Packing is deterministic. ``short_fraction`` (default 0, the papers' description) is the QAC
authors' ``make_contextual_splits.py --short_sentence_prob`` (their default 0.15): each passage is,
with that probability, packed to a random target length in [2, max_tokens] instead of max_tokens,
drawn from a generator seeded by ``seed`` and the document id.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ..core.models import load_tokenizer
from .documents import one_line
from .params import PassageParams
from .textmodels import load_punkt


@dataclass(frozen=True)
class Unit:
    """A sentence (or a piece of an over-long one) with its token count."""

    text: str
    n_tokens: int


def split_long_sentence(text: str, encoding: Any, max_tokens: int) -> list[Unit]:
    """Cut a sentence of more than ``max_tokens`` tokens into pieces of at most ``max_tokens``.

    A cut falls, by preference, where the text has whitespace (so pieces joined by a space give the
    sentence back), else between words (the fast tokenizer's ``word_ids``: punctuation is its own
    word), so a piece re-tokenises to the same tokens; only a word longer than ``max_tokens`` tokens
    is cut between its sub-word tokens.
    """
    offsets = encoding.offsets
    word_ids = encoding.word_ids
    n = len(offsets)

    def at_space(i: int) -> bool:
        return offsets[i][0] > offsets[i - 1][1]

    def at_word(i: int) -> bool:
        return word_ids[i] is None or word_ids[i] != word_ids[i - 1]

    pieces: list[Unit] = []
    start = 0
    while start < n:
        end = min(start + max_tokens, n)
        if end < n:
            for boundary in (at_space, at_word):
                cut = next((i for i in range(end, start, -1) if boundary(i)), None)
                if cut is not None:
                    end = cut
                    break
        piece = text[offsets[start][0]:offsets[end - 1][1]].strip()
        if piece:
            pieces.append(Unit(piece, end - start))
        start = end
    return pieces


def pack_units(units: list[Unit], max_tokens: int, targets: Iterator[int] | None = None) -> list[Unit]:
    """Greedy packing in order: join units while the total stays within the passage's target length,
    ``max_tokens`` or, with ``targets``, the next value it yields (one per passage)."""
    passages: list[Unit] = []
    texts: list[str] = []
    total = 0
    limit = next(targets) if targets is not None else max_tokens
    for unit in units:
        if texts and total + unit.n_tokens > limit:
            passages.append(Unit(" ".join(texts), total))
            texts, total = [], 0
            limit = next(targets) if targets is not None else max_tokens
        texts.append(unit.text)
        total += unit.n_tokens
    if texts:
        passages.append(Unit(" ".join(texts), total))
    return passages


class PassageMaker:
    """Sentence splitting + token counting + packing, batched over documents for speed."""

    def __init__(self, punkt_path: str | os.PathLike, tokenizer_spec: str, params: PassageParams):
        self.params = params
        self.sentences = load_punkt(punkt_path)
        self.tokenizer = load_tokenizer(tokenizer_spec)
        if not getattr(self.tokenizer, "is_fast", False):
            raise RuntimeError(f"tokenizer {tokenizer_spec} is not a fast (Rust) tokenizer: offsets are needed to cut long sentences")
        self.counts: Counter[str] = Counter()

    def target_lengths(self, doc_id: str) -> Iterator[int] | None:
        """Per-passage target lengths of a document (None: always max_tokens)."""
        if not self.params.short_fraction:
            return None
        import hashlib

        import numpy as np

        digest = int.from_bytes(hashlib.sha256(doc_id.encode("utf-8")).digest()[:8], "little")
        rng = np.random.default_rng([self.params.seed, digest])
        top = self.params.max_tokens

        def draw() -> Iterator[int]:
            while True:
                short = rng.random() < self.params.short_fraction
                yield int(rng.integers(2, top + 1)) if short and top >= 2 else top

        return draw()

    def split(self, text: str) -> list[str]:
        return [s for s in (one_line(s) for s in self.sentences.tokenize(text)) if s]

    def passages_for_batch(self, documents: list[tuple[str, str, str]]) -> Iterator[dict]:
        """``documents``: (id, title, text) → passage rows, in document then passage order."""
        # join_title: the title heads the text it is split with (the QAC README's awk keeps title and
        # body as one text), so it ends up in the document's first passage only.
        per_doc = [self.split(f"{title} {text}" if self.params.join_title and title else text)
                   for _, title, text in documents]
        flat = [s for sentences in per_doc for s in sentences]
        encodings = self.tokenizer(flat, add_special_tokens=False, return_offsets_mapping=True, verbose=False).encodings if flat else []
        position = 0
        for (doc_id, title, _), sentences in zip(documents, per_doc, strict=True):
            units: list[Unit] = []
            for sentence in sentences:
                encoding = encodings[position]
                position += 1
                n_tokens = len(encoding.ids)
                self.counts["sentences"] += 1
                if n_tokens == 0:
                    self.counts["sentences_without_tokens"] += 1
                    continue
                if n_tokens > self.params.max_tokens:
                    pieces = split_long_sentence(sentence, encoding, self.params.max_tokens)
                    self.counts["long_sentences_cut"] += 1
                    self.counts["long_sentence_pieces"] += len(pieces)
                    units.extend(pieces)
                else:
                    units.append(Unit(sentence, n_tokens))
            k = 0
            for passage in pack_units(units, self.params.max_tokens, self.target_lengths(doc_id)):
                if passage.n_tokens < self.params.min_tokens:
                    self.counts["passages_dropped_short"] += 1
                    continue
                yield {"id": f"{doc_id}-{k}", "doc_id": doc_id, "title": title, "text": passage.text, "n_tokens": passage.n_tokens}
                k += 1
            self.counts["documents"] += 1
            if k == 0:
                self.counts["documents_without_passages"] += 1

