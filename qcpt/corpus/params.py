"""Job parameters of the corpus stages (Punkt, the embedded encoder, passage packing).

Kept apart from the code that uses them (which imports nltk and tokenizers) so that validating a
config at DAG-build time (qcpt.config) reads the same classes cheaply.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..core.params import ParamsError

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


@dataclass
class PunktParams:
    source: str = "train"  # "train": learn from the documents; "english": NLTK's English model

    def __post_init__(self) -> None:
        if self.source not in ("train", "english"):
            raise ParamsError("source", f"must be 'train' or 'english', got {self.source!r}",
                              f"punkt params: source must be 'train' or 'english', got {self.source!r}")


@dataclass
class EncoderParams:
    vocab_size: int = 4000
    hidden_size: int = 128
    num_layers: int = 4  # pre-training reads min(6, num_layers) for the Condenser head's skip input
    num_heads: int = 4
    intermediate_size: int = 512
    max_position_embeddings: int = 512
    min_frequency: int = 2
    lowercase: bool = True
    seed: int = 42

    def __post_init__(self) -> None:
        def fail(key: str, why: str) -> ParamsError:
            return ParamsError(key, why, f"encoder params: {key} {why}")

        for name in ("hidden_size", "num_layers", "num_heads", "intermediate_size", "max_position_embeddings",
                     "min_frequency"):
            if getattr(self, name) < 1:
                raise fail(name, f"must be >= 1, got {getattr(self, name)!r}")
        if self.hidden_size % self.num_heads:
            raise ParamsError("num_heads", f"{self.num_heads} does not divide hidden_size {self.hidden_size}",
                              f"encoder params: hidden_size {self.hidden_size} is not divisible by num_heads {self.num_heads}")
        if self.vocab_size < len(SPECIAL_TOKENS) + 26:
            raise fail("vocab_size", f"{self.vocab_size} is too small (at least {len(SPECIAL_TOKENS) + 26})")


@dataclass
class PassageParams:
    max_tokens: int = 144
    seed: int = 42
    short_fraction: float = 0.0  # share of passages packed to a random length in [2, max_tokens] (authors: 0.15)
    join_title: bool = False  # split title + " " + text as one text (the QAC README's awk): the title opens the first passage
    min_tokens: int = 1  # passages shorter than this (e.g. a lone "Notes." line) are dropped, counted
    batch_documents: int = 256  # documents whose sentences are tokenised in one call (a worker process's unit of work)

    def __post_init__(self) -> None:
        def fail(key: str, why: str) -> ParamsError:
            return ParamsError(key, why, f"passages params: {key} {why}")

        if self.max_tokens < 1:
            raise fail("max_tokens", f"must be >= 1, got {self.max_tokens}")
        if not 1 <= self.min_tokens <= self.max_tokens:
            raise fail("min_tokens", f"must be within 1..max_tokens, got {self.min_tokens}")
        if not 0.0 <= self.short_fraction <= 1.0:
            raise fail("short_fraction", f"must be within [0, 1], got {self.short_fraction}")
        if self.batch_documents < 1:
            raise fail("batch_documents", f"must be >= 1, got {self.batch_documents}")
