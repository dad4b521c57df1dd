"""The query files of generation: a pool shard and a selection are one ``passage_id<TAB>query`` row
per line (UTF-8, no carriage returns), read and checked here for selection, the consistency check
and the query audit."""

from __future__ import annotations

import os
from collections.abc import Iterator

from ..io import InputError


def pool_row(path: str | os.PathLike, lineno: int, line: str) -> tuple[str, str]:
    """``(passage_id, query)`` of one pool/selection row (its newline removed), checking the format."""
    if line.endswith("\r"):
        raise InputError(path, lineno, None, "carriage return in a row (queries may not hold newlines)")
    parts = line.split("\t")
    if len(parts) != 2:
        raise InputError(path, lineno, None, f"expected 2 tab-separated columns (passage_id, query), found {len(parts)}")
    pid, query = parts
    if not pid:
        raise InputError(path, lineno, "passage_id", "empty")
    if not query.strip():
        raise InputError(path, lineno, "query", "empty")
    return pid, query


def read_pool_shard(path: str | os.PathLike) -> Iterator[tuple[int, str, str]]:
    """Yield ``(line number, passage_id, query)`` rows of a pool shard, checking the format."""
    with open(path, encoding="utf-8", newline="") as handle:
        for lineno, line in enumerate(handle, start=1):
            yield lineno, *pool_row(path, lineno, line.rstrip("\n"))


def read_query_rows(path: str | os.PathLike) -> list[tuple[str, str]]:
    """Every ``(passage_id, query)`` row of a pool or selection file, in file order."""
    return [(pid, query) for _, pid, query in read_pool_shard(path)]
