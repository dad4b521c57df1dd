"""Corpora in any supported layout, read and normalised to documents or collection JSONL.

Whatever the source (JSONL with ``id``/``_id``/``docid`` + ``title`` + ``text``/``contents``; TSV
``id<TAB>text``, ``id<TAB>title<TAB>text`` or MS MARCO documents' ``id<TAB>url<TAB>title<TAB>text``;
a BEIR folder; an ``irds:`` dataset), the stages downstream read one normal form (docs/artifacts.md):

- :func:`prepare_documents` → documents JSONL ``{"id", "title", "text"}`` (pre-training corpus);
- :func:`prepare_collection` → collection JSONL ``{"docid", "title", "text"}`` (retrieval corpus).

Bad input (bad JSON, a missing id, empty text, a duplicate id, a wrong column count ...) raises
:class:`~qcpt.core.io.InputError` naming file, line and field; outputs are written atomically, so on an
error nothing appears under the output name.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from ..core.io import InputError, atomic_open, open_text, read_jsonl, read_tsv, require_str
from . import irds

log = logging.getLogger(__name__)

FORMATS = ("auto", "jsonl", "tsv", "beir", "raw")  # raw: an irds: source's downloaded file (qcpt.corpus.irds)
ID_FIELDS = ("id", "_id", "docid")
TEXT_FIELDS = ("text", "contents")
BEIR_CORPUS_NAMES = ("corpus.jsonl", "corpus.jsonl.gz")


# --------------------------------------------------------------------------- shared helpers


def one_line(text: str) -> str:
    """Collapse all whitespace (tabs and newlines included) to single spaces: TSV-safe text."""
    return " ".join(text.split())


# --------------------------------------------------------------------------- corpus records


@dataclass(frozen=True)
class Record:
    """One document as read from a source, with where it came from (for error messages)."""

    path: str
    line: int
    id: str
    title: str
    text: str
    unit: str = "line"  # what ``line`` counts: "row" for an ir_datasets dataset


def beir_corpus_file(folder: str | os.PathLike) -> Path:
    for name in BEIR_CORPUS_NAMES:
        candidate = Path(folder) / name
        if candidate.is_file():
            return candidate
    raise InputError(folder, None, None, f"not a BEIR folder: none of {', '.join(BEIR_CORPUS_NAMES)} found")


def detect_format(source: str | os.PathLike) -> str:
    """``beir`` for a folder; ``jsonl``/``tsv`` by extension, else by the first non-blank line."""
    path = Path(source)
    if path.is_dir():
        return "beir"
    if not path.exists():
        raise InputError(path, None, None, "does not exist")
    name = path.name.lower().removesuffix(".gz")
    if name.endswith((".jsonl", ".json", ".ndjson")):
        return "jsonl"
    if name.endswith((".tsv", ".tab")):
        return "tsv"
    with open_text(path) as handle:
        for line in handle:
            if line.strip():
                return "jsonl" if line.lstrip().startswith("{") else "tsv"
    raise InputError(path, None, None, "is empty: cannot detect its format")


def _first_field(obj: dict, names: tuple[str, ...]) -> str | None:
    return next((name for name in names if name in obj and obj[name] is not None), None)


def iter_jsonl_records(path: str | os.PathLike) -> Iterator[Record]:
    for lineno, obj in read_jsonl(path):
        id_field = _first_field(obj, ID_FIELDS)
        if id_field is None:
            raise InputError(path, lineno, "id", f"missing (expected one of {', '.join(ID_FIELDS)})")
        doc_id = require_str(path, lineno, obj, id_field).strip()
        title = require_str(path, lineno, obj, "title", allow_empty=True) if obj.get("title") is not None else ""
        text_field = _first_field(obj, TEXT_FIELDS)
        if text_field is None:
            raise InputError(path, lineno, "text", f"missing (expected one of {', '.join(TEXT_FIELDS)})")
        text = require_str(path, lineno, obj, text_field, allow_empty=True)
        yield Record(str(path), lineno, doc_id, title, text)


# TSV layouts by column count: MS MARCO passages (2), id/title/text (3), MS MARCO documents (4).
_TSV_LAYOUTS = {2: ("id", "text"), 3: ("id", "title", "text"), 4: ("id", "url", "title", "text")}


def iter_tsv_records(path: str | os.PathLike, lines: Iterator[tuple[int, str]] | None = None) -> Iterator[Record]:
    n_columns: int | None = None
    first_line = 0
    for lineno, row in read_tsv(path, ["c0", "c1", "c2", "c3"], min_columns=2, lines=lines):
        present = sum(1 for key in ("c0", "c1", "c2", "c3") if key in row)
        if n_columns is None:
            n_columns, first_line = present, lineno
        elif present != n_columns:
            raise InputError(
                path, lineno, None,
                f"found {present} tab-separated columns, but line {first_line} has {n_columns} "
                "(a TSV corpus is id<TAB>text, id<TAB>title<TAB>text or id<TAB>url<TAB>title<TAB>text throughout)",
            )
        layout = _TSV_LAYOUTS[present]
        values = {name: row[f"c{i}"] for i, name in enumerate(layout)}
        if not values["id"].strip():
            raise InputError(path, lineno, "id", "empty")
        yield Record(str(path), lineno, values["id"].strip(), values.get("title", ""), values["text"])


def iter_records(source: str | os.PathLike, fmt: str = "auto") -> Iterator[Record]:
    """Documents of ``source`` in file order, whatever its format; not yet validated."""
    if fmt not in FORMATS:
        raise ValueError(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    did = irds.pointer_id(source)
    if did is not None:
        yield from iter_irds_records(did, raw=fmt == "raw")
        return
    if fmt == "raw":
        raise InputError(source, None, None, "--format raw is for an irds: source (the file ir_datasets downloaded)")
    if fmt == "auto":
        fmt = detect_format(source)
    if fmt != "beir" and Path(source).is_dir():
        raise InputError(source, None, None, f"is a folder, but --format is {fmt!r} (use 'beir' or 'auto' for a BEIR folder)")
    if fmt == "beir":
        yield from iter_jsonl_records(beir_corpus_file(source))
    elif fmt == "jsonl":
        yield from iter_jsonl_records(source)
    else:
        yield from iter_tsv_records(source)


def iter_irds_records(did: str, raw: bool = False) -> Iterator[Record]:
    """Documents of ir_datasets dataset ``did`` (its cache, built by the irds_cache job), or with
    ``raw`` the lines of the file it downloaded, read as a TSV corpus file."""
    if raw:
        where, lines = irds.raw_doc_lines(did)
        yield from iter_tsv_records(where, lines)
        return
    where = irds.label(did, "docs")
    for row, doc_id, title, text in irds.doc_rows(did):
        yield Record(where, row, doc_id.strip(), title, text, unit="row")


def validated(records: Iterator[Record], *, allow_title_only: bool) -> Iterator[Record]:
    """Normalise whitespace and refuse empty text and duplicate ids, with the line to look at.

    ``allow_title_only``: a retrieval collection may hold documents with a title and no text (some
    BEIR corpora do); a pre-training corpus may not, since passages are cut from the text.
    """
    first_seen: dict[str, int] = {}
    for rec in records:
        title, text = one_line(rec.title), one_line(rec.text)
        if not text and not (allow_title_only and title):
            reason = "empty" if not allow_title_only else "empty (and no title)"
            raise InputError(rec.path, rec.line, "text", reason, unit=rec.unit)
        if any(c.isspace() for c in rec.id):
            raise InputError(rec.path, rec.line, "id", f"{rec.id!r} contains whitespace (run files could not hold it)", unit=rec.unit)
        if rec.id in first_seen:
            raise InputError(rec.path, rec.line, "id", f"duplicate id {rec.id!r} (first on {rec.unit} {first_seen[rec.id]})", unit=rec.unit)
        first_seen[rec.id] = rec.line
        yield Record(rec.path, rec.line, rec.id, title, text, rec.unit)


def _write_corpus(source: str | os.PathLike, fmt: str, out: str | os.PathLike, id_key: str, allow_title_only: bool) -> int:
    n = 0
    with atomic_open(out) as handle:
        records = validated(iter_records(source, fmt), allow_title_only=allow_title_only)
        for rec in tqdm(records, desc=f"reading {Path(source).name}", unit=" docs", file=sys.stderr, mininterval=2):
            handle.write(json.dumps({id_key: rec.id, "title": rec.title, "text": rec.text}, ensure_ascii=False) + "\n")
            n += 1
        if n == 0:
            raise InputError(source, None, None, "holds no documents")
    return n


def prepare_documents(source: str | os.PathLike, out: str | os.PathLike, fmt: str = "auto") -> int:
    """Normalise a corpus to documents JSONL ``{"id", "title", "text"}``; returns the count."""
    n = _write_corpus(source, fmt, out, "id", allow_title_only=False)
    log.info("wrote %d documents from %s to %s", n, source, out)
    return n


def prepare_collection(source: str | os.PathLike, out: str | os.PathLike, fmt: str = "auto") -> int:
    """Normalise a retrieval corpus to collection JSONL ``{"docid", "title", "text"}``."""
    n = _write_corpus(source, fmt, out, "docid", allow_title_only=True)
    log.info("wrote %d collection documents from %s to %s", n, source, out)
    return n
