"""The query files of generation: a pool shard and a selection are one ``passage_id<TAB>query`` row
per line (UTF-8, no carriage returns), read and checked here for selection, the consistency check
and the query audit (which reads a file in line-aligned byte ranges, one per worker)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from ..core.io import InputError


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


def line_number(path: str | Path, offset: int, extra: int) -> int:
    """The 1-based number of the line ``extra`` lines after the one starting at byte ``offset``."""
    with open(path, "rb") as handle:
        return handle.read(offset).count(b"\n") + 1 + extra


def query_rows_between(path: str | Path, start: int, end: int) -> Iterator[tuple[str, str]]:
    """``(passage id, query)`` of the lines starting in ``[start, end)`` of a selection TSV, each
    checked by :func:`pool_row` (its line number counted only on an error)."""
    with open(path, "rb") as handle:
        handle.seek(start)
        position = start
        for extra, raw in enumerate(handle):
            if position >= end:
                break
            position += len(raw)
            try:
                row = pool_row(path, -1, raw.decode("utf-8").rstrip("\n"))
            except UnicodeDecodeError as err:
                raise InputError(path, line_number(path, start, extra), None, f"not UTF-8: {err}") from err
            except InputError as err:
                raise InputError(path, line_number(path, start, extra), err.field, err.reason) from None
            yield row


def line_ranges(path: str | Path, parts: int) -> list[tuple[int, int]]:
    """``parts`` byte ranges of a file, each starting at a line start."""
    size = os.path.getsize(path)
    cuts = [0]
    with open(path, "rb") as handle:
        for k in range(1, parts):
            handle.seek(max(size * k // parts, cuts[-1]))
            if handle.tell() > 0:
                handle.seek(handle.tell() - 1)
                handle.readline()  # to the end of the line the cut falls in
            cuts.append(min(handle.tell(), size))
    cuts.append(size)
    return [(a, b) for a, b in zip(cuts, cuts[1:], strict=False) if b > a]
