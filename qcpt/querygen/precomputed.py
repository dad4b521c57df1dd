"""The ``precomputed`` generator backend: queries read from published expansions instead of sampled.

People reuse the public docT5query predictions for MS MARCO (and pyserini's doc2query-T5
expansions) rather than sampling T5 again; this backend does the same. The generator's ``model``
is the expansions file (a path, or ``package:<module>/<file>``), in one of two layouts:

- ``.tsv``: ``passage_id<TAB>query`` rows, the layout of the workflow's own pool shards (several
  rows per passage, in the order they were generated);
- ``.jsonl``: one ``{"id": ..., "predicted_queries": [...]}`` object per passage (pyserini's
  doc2query-T5 expansion layout).

Each query goes through the same parser and filters as sampled ones (whitespace, length caps,
duplicates), and at most ``pool_size`` are kept per passage, in file order; a passage with fewer
than ``pool_size`` (or none) is reported as shortfall in the shard's stats like any other backend.
A malformed row is an error naming the file, line and field.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..core.io import InputError
from ..core.models import resolve_model_path
from .parsing import QueryFilter, QueryPool, parse_generation

FORMATS = (".tsv", ".jsonl")


def expansions_path(spec_model: str) -> Path:
    """The expansions file a generator's ``model`` names; an error naming the spec when it is unusable."""
    path = Path(resolve_model_path(spec_model))
    if not path.is_file():
        raise FileNotFoundError(f"precomputed generator: expansions file {spec_model!r} ({path}) does not exist")
    if path.suffix not in FORMATS:
        raise ValueError(f"precomputed generator: {spec_model!r} must end in {' or '.join(FORMATS)} "
                         f"(passage_id<TAB>query rows, or {{\"id\", \"predicted_queries\"}} objects)")
    return path


def iter_expansions(path: str | os.PathLike) -> Iterator[tuple[int, str, str]]:
    """``(line, passage_id, query)`` of an expansions file, validated row by row."""
    path = Path(path)
    with open(path, encoding="utf-8", newline="") as handle:
        for lineno, line in enumerate(handle, start=1):
            line = line.rstrip("\n").rstrip("\r")
            if not line.strip():
                continue
            if path.suffix == ".tsv":
                parts = line.split("\t")
                if len(parts) != 2:
                    raise InputError(path, lineno, None,
                                     f"expected 2 tab-separated columns (passage_id, query), found {len(parts)}")
                pid, query = parts[0].strip(), parts[1]
                if not pid:
                    raise InputError(path, lineno, "passage_id", "empty")
                if not query.strip():
                    raise InputError(path, lineno, "query", "empty")
                yield lineno, pid, query
                continue
            try:
                row: Any = json.loads(line)
            except json.JSONDecodeError as err:
                raise InputError(path, lineno, None, f"bad JSON ({err.msg}, column {err.colno})") from err
            if not isinstance(row, dict):
                raise InputError(path, lineno, None, f"expected a JSON object, got {type(row).__name__}")
            pid = row.get("id")
            if not isinstance(pid, str | int) or isinstance(pid, bool) or not str(pid).strip():
                raise InputError(path, lineno, "id", "missing or not a non-empty string")
            queries = row.get("predicted_queries")
            if not isinstance(queries, list) or not all(isinstance(q, str) for q in queries):
                raise InputError(path, lineno, "predicted_queries", "missing or not a list of strings")
            for k, query in enumerate(queries):
                if not query.strip():
                    raise InputError(path, lineno, f"predicted_queries[{k}]", "empty")
                yield lineno, str(pid).strip(), query


def precomputed_pools(
    spec: Any, passage_ids: list[str],
) -> tuple[dict[str, QueryPool], dict[str, Any]]:
    """Pools of up to ``spec.pool_size`` queries for ``passage_ids`` from the expansions file, and
    counters (rows read for these passages, rows the filters dropped)."""
    path = expansions_path(spec.model)
    wanted = set(passage_ids)
    query_filter = QueryFilter(max_chars=spec.max_query_chars, max_words=spec.max_query_words)
    pools = {pid: QueryPool(spec.pool_size) for pid in passage_ids}
    counters = {"expansion_rows": 0, "expansion_rows_dropped": 0, "generated_tokens": 0, "sequences": 0,
                "truncated_sequences": 0, "attempts_used": 0}
    for _, pid, query in iter_expansions(path):
        if pid not in wanted:
            continue
        counters["expansion_rows"] += 1
        parsed = parse_generation(query, single=True, query_filter=query_filter)
        if not parsed:
            counters["expansion_rows_dropped"] += 1
            continue
        pools[pid].add(parsed)
    counters["expansions_file"] = str(path)
    return pools, counters
