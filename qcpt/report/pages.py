"""What the table modules and the report builder share: the report's parameters, an ``index.md``
entry, and the part of :class:`qcpt.report.build.ReportBuilder` a table module writes through (so
the table modules import no builder, and the builder imports them)."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from .stats import Metrics


@dataclass
class ReportParams:
    alpha: float = 0.01  # significance level of the paired t-tests (the papers' p ≤ 0.01)
    dpi: int = 150


def parse_params(text: str | None) -> ReportParams:
    raw = json.loads(text) if text and text.strip() else {}
    if not isinstance(raw, dict):
        raise ValueError(f"--params must be a JSON object, got {type(raw).__name__}")
    known = {f.name for f in dataclasses.fields(ReportParams)}
    for key in raw:
        if key not in known:
            raise ValueError(f"--params: unknown key {key!r} (known: {', '.join(sorted(known))})")
    return ReportParams(**raw)


@dataclass
class IndexEntry:
    name: str
    title: str
    paper: str
    files: list[str]
    present: int
    total: int


class PageWriter(Protocol):
    """The builder as a table module sees it: the config, the metrics it may read, where pages go."""

    config: dict[str, Any]
    results: str
    metrics: Metrics
    out_dir: Path
    params: ReportParams

    def _write(self, name: str, text: str) -> None: ...
