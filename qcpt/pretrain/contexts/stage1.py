"""``stage1-f<F>``: a curriculum's first stage, spans on a cosine schedule for ``F`` of the steps,
shared by every curriculum cell of a schema and fraction. Derived from the curriculum cells, never
named in a grid block; run as a ``span`` run (qcpt.pretrain.jobs)."""

from __future__ import annotations

from .registry import ContextKind, register

KIND = register(ContextKind(
    name="stage1", description="a curriculum's first stage (spans)", fields=("fraction",), in_grid=False,
))
