"""``hf-causal``: Hugging Face ``generate`` on a decoder-only LLM (Alpaca, chat models)."""

from __future__ import annotations

from typing import Any

from .registry import GeneratorBackend, register


def load(spec: Any) -> Any:
    from ..backends import HFBackend

    return HFBackend(spec, seq2seq=False)


BACKEND = register(GeneratorBackend(
    name="hf-causal", description="Hugging Face decoder LLM", sampler=f"{__name__}:load",
))
