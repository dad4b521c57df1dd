"""``hf-seq2seq``: Hugging Face ``generate`` on an encoder-decoder (docT5query, tk-instruct)."""

from __future__ import annotations

from typing import Any

from .registry import GeneratorBackend, register


def load(spec: Any) -> Any:
    from ..backends import HFBackend

    return HFBackend(spec, seq2seq=True)


BACKEND = register(GeneratorBackend(
    name="hf-seq2seq", description="Hugging Face seq2seq (T5)", sampler=f"{__name__}:load",
))
