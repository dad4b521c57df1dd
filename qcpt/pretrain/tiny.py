"""A tiny WordPiece tokenizer, a tiny random BERT and a tiny corpus: for tests and smoke runs of the
pre-training driver, built in a second with no download."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
from transformers import BertConfig, BertModel, BertTokenizer

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
# Whole words, and words that WordPiece splits into pieces (un ##believ ##able, ...).
WORDS = ("the a of to and in is for on with that dense retrieval passage query model train data "
         "search index vector encoder decoder mask token corpus document context span learn large "
         "small fast slow paper result score rank").split()
PIECE_WORDS = {"unbelievable": ["un", "##believ", "##able"], "pretraining": ["pre", "##train", "##ing"],
               "retrievers": ["retriev", "##ers"], "tokenization": ["token", "##ization"]}


def tiny_vocab() -> dict[str, int]:
    tokens = list(SPECIALS) + list(WORDS) + [".", ","]
    for pieces in PIECE_WORDS.values():
        tokens += [p for p in pieces if p not in tokens]
    return {t: i for i, t in enumerate(dict.fromkeys(tokens))}


def tiny_tokenizer() -> BertTokenizer:
    return BertTokenizer(vocab=tiny_vocab())


def build_tiny_encoder(out: str | os.PathLike, *, hidden: int = 32, layers: int = 2, heads: int = 2,
                       intermediate: int = 64, seed: int = 0, dropout: float = 0.1) -> Path:
    """Save a random tiny ``BertModel`` and the tiny tokenizer to ``out``."""
    import torch

    out = Path(out)
    tokenizer = tiny_tokenizer()
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=hidden, num_hidden_layers=layers,
                        num_attention_heads=heads, intermediate_size=intermediate, max_position_embeddings=160,
                        hidden_dropout_prob=dropout, attention_probs_dropout_prob=dropout)
    BertModel(config).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def write_tiny_corpus(folder: str | os.PathLike, *, documents: int = 12, seed: int = 0,
                      queries_per_passage: int = 3, passages_with_queries: float = 0.75) -> tuple[Path, Path]:
    """``passages.jsonl`` (1–3 passages per document) and a generated-queries TSV under ``folder``;
    some passages get no query, as in a curriculum's partial query set."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    vocabulary = WORDS + list(PIECE_WORDS)
    passages_path, queries_path = folder / "passages.jsonl", folder / "queries.tsv"
    with open(passages_path, "w", encoding="utf-8") as passages, open(queries_path, "w", encoding="utf-8") as queries:
        for d in range(documents):
            for k in range(int(rng.integers(1, 4))):
                text = " ".join(rng.choice(vocabulary, size=int(rng.integers(8, 30)))) + "."
                pid = f"D{d}-{k}"
                passages.write(json.dumps({"id": pid, "doc_id": f"D{d}", "title": "", "text": text,
                                           "n_tokens": len(text.split())}) + "\n")
                if rng.random() < passages_with_queries:
                    for _ in range(queries_per_passage):
                        queries.write(f"{pid}\t{' '.join(rng.choice(vocabulary, size=int(rng.integers(2, 7))))}\n")
    return passages_path, queries_path
