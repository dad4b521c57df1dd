"""Documents → passages: Punkt sentences packed greedily into spans of at most ``max_tokens`` tokens.

This is the papers' (and coCondenser's) span construction: a document's sentences, in order, are
added to the current passage while the passage stays within ``max_tokens`` tokens of the encoder's
tokenizer (counted without special tokens); the next sentence that does not fit starts a new
passage. A single sentence longer than ``max_tokens`` is cut into pieces of at most ``max_tokens``
tokens, at word boundaries where possible, and the cut is counted in the log.

Packing is deterministic; ``seed`` is carried for the workflow's provenance (the seeded permutation
over passages is a separate artifact, the passage order).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from tqdm import tqdm

from .corpus import one_line
from .io import InputError, atomic_open, read_jsonl, require_str
from .models import load_tokenizer
from .params import parse_params, setup_logging
from .textmodels import load_punkt

log = logging.getLogger(__name__)


@dataclass
class PassageParams:
    max_tokens: int = 144
    seed: int = 42
    min_tokens: int = 1  # passages shorter than this (e.g. a lone "Notes." line) are dropped, counted
    batch_documents: int = 256  # documents whose sentences are tokenised in one call

    def __post_init__(self) -> None:
        if self.max_tokens < 1:
            raise ValueError(f"passages params: max_tokens must be >= 1, got {self.max_tokens}")
        if not 1 <= self.min_tokens <= self.max_tokens:
            raise ValueError(f"passages params: min_tokens must be within 1..max_tokens, got {self.min_tokens}")
        if self.batch_documents < 1:
            raise ValueError(f"passages params: batch_documents must be >= 1, got {self.batch_documents}")


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


def pack_units(units: list[Unit], max_tokens: int) -> list[Unit]:
    """Greedy packing in order: join units while the total stays within ``max_tokens``."""
    passages: list[Unit] = []
    texts: list[str] = []
    total = 0
    for unit in units:
        if texts and total + unit.n_tokens > max_tokens:
            passages.append(Unit(" ".join(texts), total))
            texts, total = [], 0
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

    def split(self, text: str) -> list[str]:
        return [s for s in (one_line(s) for s in self.sentences.tokenize(text)) if s]

    def passages_for_batch(self, documents: list[tuple[str, str, str]]) -> Iterator[dict]:
        """``documents``: (id, title, text) → passage rows, in document then passage order."""
        per_doc = [self.split(text) for _, _, text in documents]
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
            for passage in pack_units(units, self.params.max_tokens):
                if passage.n_tokens < self.params.min_tokens:
                    self.counts["passages_dropped_short"] += 1
                    continue
                yield {"id": f"{doc_id}-{k}", "doc_id": doc_id, "title": title, "text": passage.text, "n_tokens": passage.n_tokens}
                k += 1
            self.counts["documents"] += 1
            if k == 0:
                self.counts["documents_without_passages"] += 1


def iter_documents(path: str | os.PathLike) -> Iterator[tuple[str, str, str]]:
    seen: set[str] = set()
    for lineno, obj in read_jsonl(path):
        doc_id = require_str(path, lineno, obj, "id")
        if doc_id in seen:
            raise InputError(path, lineno, "id", f"duplicate id {doc_id!r}")
        seen.add(doc_id)
        title = require_str(path, lineno, obj, "title", allow_empty=True) if obj.get("title") is not None else ""
        yield doc_id, one_line(title), require_str(path, lineno, obj, "text")


def _batches(items: Iterator[tuple[str, str, str]], size: int) -> Iterator[list[tuple[str, str, str]]]:
    batch: list[tuple[str, str, str]] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def make_passages(
    documents: str | os.PathLike, punkt: str | os.PathLike, tokenizer: str, out: str | os.PathLike,
    params: PassageParams | None = None,
) -> Counter[str]:
    """Write passages JSONL (docs/artifacts.md) atomically; returns the counters that were logged."""
    params = params or PassageParams()
    maker = PassageMaker(punkt, tokenizer, params)
    n_passages = 0
    token_total = 0
    with atomic_open(out) as handle, tqdm(desc="passages", unit=" docs", file=sys.stderr, mininterval=2) as bar:
        for batch in _batches(iter_documents(documents), params.batch_documents):
            for row in maker.passages_for_batch(batch):
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
                n_passages += 1
                token_total += row["n_tokens"]
            bar.update(len(batch))
        if n_passages == 0:
            raise InputError(documents, None, None, "no passages could be made (no documents, or no text)")
    counts = maker.counts
    counts["passages"] = n_passages
    log.info(
        "wrote %d passages (%.1f tokens on average, max_tokens=%d) from %d documents and %d sentences to %s",
        n_passages, token_total / n_passages, params.max_tokens, counts["documents"], counts["sentences"], out,
    )
    log.info("counts: %s", json.dumps(dict(sorted(counts.items()))))
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Split documents into sentences and pack them into passages.")
    parser.add_argument("--documents", required=True)
    parser.add_argument("--punkt", required=True, help="Punkt pickle from train_punkt.py")
    parser.add_argument("--tokenizer", required=True, help="encoder folder or model spec whose tokenizer counts tokens")
    parser.add_argument("--out", required=True)
    parser.add_argument("--params", default="{}")
    args = parser.parse_args(argv)
    setup_logging()
    params = parse_params(PassageParams, args.params)
    try:
        make_passages(args.documents, args.punkt, args.tokenizer, args.out, params)
    except InputError as err:
        log.error("%s", err)
        return 2
    return 0
