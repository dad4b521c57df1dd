"""``curriculum-f<F>-<gen>-c<C>-n<N>``: spans for the first ``F`` of the steps (its ``stage1-f<F>``
cell), then generated queries for the rest (LLM-expansion paper §5.3). A staged schedule: the
workflow runs it as a ``query`` run continuing from the stage-1 model (qcpt.pretrain.jobs)."""

from __future__ import annotations

from .registry import QUERY_FIELDS, ContextKind, register

KIND = register(ContextKind(
    name="curriculum", description="spans, then queries", fields=("fraction", *QUERY_FIELDS), reads_queries=True,
))
