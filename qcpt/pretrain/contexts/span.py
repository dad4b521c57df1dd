"""``span``: another passage of the same document, the passage itself or a crop of it, as the run's
``span_source`` says (coCondenser's two spans of one document; see :mod:`qcpt.pretrain.data`)."""

from __future__ import annotations

from typing import Any

from .registry import ContextKind, ContextSource, register


def draw(source: ContextSource, passage: int, rng: Any) -> tuple[str, str]:
    return source.span(passage, rng)


KIND = register(ContextKind(
    name="span", description="another passage of the document, or the passage itself for bottleneck",
    draw=draw,
))
