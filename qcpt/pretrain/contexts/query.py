"""``query-<gen>-c<C>-n<N>``: one of the passage's generated queries, drawn at random every epoch
(the QAC paper's query-as-context); passages without queries are left out."""

from __future__ import annotations

from typing import Any

from .registry import QUERY_FIELDS, ContextKind, ContextSource, register


def draw(source: ContextSource, passage: int, rng: Any) -> tuple[str, str]:
    return source.query(passage, rng)


KIND = register(ContextKind(
    name="query", description="a generated query", fields=QUERY_FIELDS, reads_queries=True, draw=draw,
))
