"""``mixed-<gen>-c<C>-n<N>``: per example, a generated query with probability
``mixed_query_probability`` (0.5), else a span (QAC Table 4); only passages with queries take part,
so both are always available."""

from __future__ import annotations

from typing import Any

from .registry import QUERY_FIELDS, ContextKind, ContextSource, register


def draw(source: ContextSource, passage: int, rng: Any) -> tuple[str, str]:
    if rng.random() < source.mixed_query_probability:
        return source.query(passage, rng)
    return source.span(passage, rng)


KIND = register(ContextKind(
    name="mixed", description="either, per example", fields=QUERY_FIELDS, reads_queries=True, draw=draw,
))
