"""Our numbers and their significance: metrics files read once, the paired t-test against a
baseline cell, and one cell's result as the report shows it (ours, the paper's, p, ▲/▼)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..core.io import read_metrics

BETTER, WORSE = "▲", "▼"


class Metrics:
    """Reads metrics JSON files once; only ``available`` ones when given (else what exists)."""

    def __init__(self, targets: list[str], available: list[str] | None = None):
        self.targets = set(targets)
        self.available = None if available is None else {str(Path(p)) for p in available}
        self._cache: dict[str, dict[str, Any] | None] = {}

    def load(self, path: str) -> dict[str, Any] | None:
        key = str(Path(path))
        if key not in self._cache:
            data = None
            if (self.available is None or key in self.available) and Path(key).is_file():
                data = read_metrics(key)
            self._cache[key] = data
        return self._cache[key]

    def status(self, path: str) -> str:
        if self.load(path) is not None:
            return "present"
        return "not built yet" if path in self.targets else "not in this config's grid"

    def value(self, path: str, measure: str) -> float | None:
        data = self.load(path)
        value = (data or {}).get("measures", {}).get(measure)
        return None if value is None else float(value)

    def per_query(self, path: str, measure: str) -> dict[str, float] | None:
        data = self.load(path)
        values = (data or {}).get("per_query", {}).get(measure)
        return None if values is None else {str(q): float(v) for q, v in values.items()}


    def seeded(self, paths: list[str], measure: str) -> tuple[float | None, float | None, int, dict[str, float] | None]:
        """One cell over its seed replicates' metrics files (those present): ``(mean, sd, seeds,
        per-query mean)``; sd is None below 2 seeds, the per-query mean covers the queries every
        present seed scores (None if one lacks per-query values)."""
        import statistics

        present = [p for p in paths if self.value(p, measure) is not None]
        if not present:
            return None, None, 0, None
        values = [self.value(p, measure) for p in present]
        sd = statistics.stdev(values) if len(values) > 1 else None  # type: ignore[type-var]
        per_query = [self.per_query(p, measure) for p in present]
        pq = None
        if all(q is not None for q in per_query):
            shared = set(per_query[0]).intersection(*per_query[1:])  # type: ignore[arg-type]
            pq = {q: sum(d[q] for d in per_query) / len(per_query) for q in sorted(shared)}  # type: ignore[index]
        return sum(values) / len(values), sd, len(present), pq  # type: ignore[arg-type]


def paired_ttest(ours: dict[str, float], baseline: dict[str, float]) -> tuple[float | None, int]:
    """Two-tailed paired t-test over the queries both dicts score: ``(p, n)``; p is None below 2
    queries. Zero variance of the differences has no t statistic: identical vectors give p = 1, a
    constant non-zero shift p = 0."""
    import numpy as np
    from scipy.stats import ttest_rel

    qids = sorted(set(ours) & set(baseline))
    if len(qids) < 2:
        return None, len(qids)
    a = np.array([ours[q] for q in qids], dtype=float)
    b = np.array([baseline[q] for q in qids], dtype=float)
    diff = a - b
    if np.allclose(diff, diff[0], rtol=0.0, atol=1e-12):
        return (1.0 if abs(diff[0]) <= 1e-12 else 0.0), len(qids)
    return float(ttest_rel(a, b).pvalue), len(qids)


@dataclass
class CellResult:
    ours: float | None = None  # on the table's scale
    paper: float | None = None
    p_value: float | None = None
    n_queries: int = 0
    delta: float | None = None  # ours - our baseline, on the table's scale
    significant: bool = False
    path: str | None = None
    baseline_path: str | None = None
    sd: float | None = None  # over seed replicates (config seeds), on the table's scale
    seeds: int = 0

    def marker(self) -> str:
        if not self.significant or self.delta is None:
            return ""
        return BETTER if self.delta > 0 else WORSE
