"""File formats and safe writing shared by every stage.

Every reader here reports bad input as :class:`InputError` naming the file, the 1-based line and
the field, so a researcher can open the file at the right place. Every writer goes through
:func:`atomic_path`/:func:`atomic_dir`: output appears under its final name only when complete, so
a killed job never leaves a half-written artifact for Snakemake (or a human) to trust.
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, TextIO

csv.field_size_limit(1 << 30)


class InputError(ValueError):
    """Bad input, located: file, line (1-based, or None for whole-file problems) and field.
    ``unit`` names what ``line`` counts: a row of an ir_datasets dataset is a "row" (qcpt.corpus.irds)."""

    def __init__(self, path: str | os.PathLike, line: int | None, field: str | None, reason: str, unit: str = "line"):
        self.path = str(path)
        self.line = line
        self.field = field
        self.reason = reason
        self.unit = unit
        where = self.path + (f", {unit} {line}" if line is not None else "")
        what = f"field '{field}': " if field else ""
        super().__init__(f"{where}: {what}{reason}")

    def __reduce__(self) -> tuple[type[InputError], tuple[str, int | None, str | None, str, str]]:
        # Rebuilt from its parts, not from the message: a worker process's error pickles back whole.
        return type(self), (self.path, self.line, self.field, self.reason, self.unit)


# --------------------------------------------------------------------------- atomic output


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds."""
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.", suffix=suffix + ".tmp", dir=final.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    tmp_path.chmod(0o644)  # mkstemp makes it private
    try:
        yield tmp_path
        os.replace(tmp_path, final)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary directory beside ``path``; it replaces ``path`` only if the block succeeds."""
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent))
    tmp.chmod(0o755)  # mkdtemp makes it private; a model folder should read like any other output
    try:
        yield tmp
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w") -> Iterator[TextIO]:
    """Open a text file for writing that appears under ``path`` only once fully written."""
    with atomic_path(path) as tmp, open(tmp, mode, encoding="utf-8", newline="\n") as handle:
        yield handle


def write_json(path: str | os.PathLike, obj: Any) -> None:
    with atomic_open(path) as handle:
        json.dump(obj, handle, indent=2, sort_keys=True, ensure_ascii=False)
        handle.write("\n")


def read_metrics(path: str | os.PathLike) -> dict[str, Any]:
    """A metrics JSON (``retrieval.evaluate``'s output): an InputError unless it reads, parses and has a
    ``measures`` object."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as err:
        raise InputError(path, None, None, f"cannot read: {err.strerror}") from err
    except json.JSONDecodeError as err:
        raise InputError(path, err.lineno, None, f"bad JSON: {err.msg}") from err
    if not isinstance(data, dict) or not isinstance(data.get("measures"), dict):
        raise InputError(path, None, "measures", "a metrics file needs a 'measures' object")
    return data


def write_jsonl(path: str | os.PathLike, rows: Iterable[dict]) -> int:
    n = 0
    with atomic_open(path) as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
            n += 1
    return n


# --------------------------------------------------------------------------- readers


def open_text(path: str | os.PathLike) -> TextIO:
    """Open a UTF-8 text file, transparently gunzipping ``*.gz``."""
    p = str(path)
    if p.endswith(".gz"):
        return gzip.open(p, "rt", encoding="utf-8", newline="")
    return open(p, encoding="utf-8", newline="")


def _decode_lines(path: str | os.PathLike) -> Iterator[tuple[int, str]]:
    with open_text(path) as handle:
        lineno = 0
        try:
            for lineno, line in enumerate(handle, start=1):  # noqa: B007 - used after the loop
                yield lineno, line.rstrip("\r\n")
        except UnicodeDecodeError as err:
            raise InputError(path, lineno + 1, None, f"not valid UTF-8 ({err.reason})") from err


def read_jsonl(path: str | os.PathLike) -> Iterator[tuple[int, dict]]:
    """Yield ``(line_number, object)`` for each non-blank line; bad JSON is an InputError."""
    for lineno, line in _decode_lines(path):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as err:
            raise InputError(path, lineno, None, f"bad JSON: {err.msg} (column {err.colno})") from err
        if not isinstance(obj, dict):
            raise InputError(path, lineno, None, f"expected a JSON object, got {type(obj).__name__}")
        yield lineno, obj


def read_tsv(
    path: str | os.PathLike, columns: list[str], *, header: bool | None = None, min_columns: int | None = None,
    lines: Iterable[tuple[int, str]] | None = None,
) -> Iterator[tuple[int, dict[str, str]]]:
    """Yield ``(line_number, row)`` of a tab-separated file with the given column names.

    ``header=None`` skips a first line that equals (case-insensitively) the column names or starts
    with a known header word; a wrong number of columns is an InputError naming the line.
    ``lines``: the numbered lines when they come from elsewhere than ``path`` (a file inside an
    archive; ``path`` then only labels errors).
    """
    need = len(columns) if min_columns is None else min_columns
    for lineno, line in _decode_lines(path) if lines is None else lines:
        if not line.strip():
            continue
        parts = line.split("\t")
        if lineno == 1 and header is not False:
            first = [p.strip().lower() for p in parts]
            if header or first[: len(columns)] == [c.lower() for c in columns] or first[0] in _HEADER_WORDS:
                continue
        if len(parts) < need or len(parts) > len(columns):
            raise InputError(
                path, lineno, None,
                f"expected {len(columns)} tab-separated columns ({', '.join(columns)}), found {len(parts)}",
            )
        yield lineno, dict(zip(columns, parts, strict=False))


_HEADER_WORDS = {"query-id", "query_id", "qid", "id", "_id", "docid", "passage_id", "pid"}


def require_str(path: str | os.PathLike, line: int, obj: dict, field: str, *, allow_empty: bool = False) -> str:
    """Fetch ``obj[field]`` as a string (ints are accepted for ids), or raise a located InputError."""
    if field not in obj or obj[field] is None:
        raise InputError(path, line, field, "missing")
    value = obj[field]
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise InputError(path, line, field, f"expected a string, got {type(value).__name__}")
    value = str(value)
    if not allow_empty and not value.strip():
        raise InputError(path, line, field, "empty")
    return value


# --------------------------------------------------------------------------- checksums


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            h.update(block)
    return h.hexdigest()


def sha256_tree(path: str | os.PathLike) -> str:
    """Checksum of a file, or of a directory's files (names and contents, in sorted order)."""
    p = Path(path)
    if p.is_file():
        return sha256_file(p)
    h = hashlib.sha256()
    for f in sorted(x for x in p.rglob("*") if x.is_file()):
        h.update(str(f.relative_to(p)).encode())
        h.update(sha256_file(f).encode())
    return h.hexdigest()
