"""One ir_datasets dataset as a source: its ID and download group, its rows, its raw documents file.

The readers of :mod:`qcpt.corpus` take rows from here (the cache the ``irds_cache`` job built), a
bad row an :class:`~qcpt.core.io.InputError` naming the ID, the part, the 1-based row and the field.
"""

from __future__ import annotations

import json
import os
import tarfile
from collections.abc import Iterator
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from ...core.io import InputError

PREFIX = "irds:"
POINTER_SUFFIX = ".irds.json"
PARTS = ("docs", "queries", "qrels")
IRDS_VERSION = "0.6.3"  # pyproject's pin; the registry's md5 and member checksums are this version's


class IrdsError(RuntimeError):
    """An ir_datasets dataset that cannot be used here (unknown ID, not cached and not downloadable,
    a cached file with a wrong checksum); the message names the ID."""


# --------------------------------------------------------------------------- IDs and groups


def is_irds(source: Any) -> bool:
    return isinstance(source, str) and source.startswith(PREFIX)


def dataset_id(source: str) -> str:
    return source[len(PREFIX):]


def group(did: str) -> str:
    """The cache folder an ID shares with others (its download group): ``beir/<set>`` for BEIR (the
    12 CQADupStack forums share one zip), else the first component (``msmarco-passage``)."""
    parts = did.split("/")
    return "/".join(parts[:2]) if parts[0] == "beir" and len(parts) > 1 else parts[0]


def home() -> Path:
    return Path(os.environ.get("IR_DATASETS_HOME", Path.home() / ".ir_datasets"))


def _ir_datasets():
    # Imported late: it reads IR_DATASETS_HOME once, when it is imported.
    import ir_datasets

    return ir_datasets


def known(did: str) -> bool:
    return did in _ir_datasets().registry


def load(did: str):
    if not known(did):
        raise IrdsError(f"irds:{did}: not a dataset ID of ir_datasets {IRDS_VERSION} (https://ir-datasets.com lists them)")
    return _ir_datasets().load(did)


def pointer_id(source: str | os.PathLike) -> str | None:
    """The dataset ID of ``irds:<id>`` or of a pointer file the irds_cache job wrote, else None."""
    text = str(source)
    if is_irds(text):
        return dataset_id(text)
    if text.endswith(POINTER_SUFFIX):
        try:
            pointer = json.loads(Path(text).read_text(encoding="utf-8"))
            did = pointer["id"]
        except (OSError, ValueError, KeyError) as err:
            raise InputError(text, None, "id", f"not an irds pointer file ({err})") from err
        _use_home(pointer.get("home"), did)
        return did
    return None


def _use_home(built_in: str | None, did: str) -> None:
    """Read the cache the irds_cache job built: its IR_DATASETS_HOME, also where a job's environment
    lacks the variable (ir_datasets reads it once, when imported)."""
    if not built_in or Path(built_in) == home():
        return
    import sys

    if "ir_datasets" in sys.modules:
        raise IrdsError(f"irds:{did}: its cache was built in {built_in}, but IR_DATASETS_HOME is {home()} here")
    os.environ["IR_DATASETS_HOME"] = built_in


def label(did: str, part: str) -> str:
    return f"{PREFIX}{did} {part}"


# --------------------------------------------------------------------------- rows


def _field(obj: Any, *names: str) -> Any:
    return next((getattr(obj, n) for n in names if getattr(obj, n, None) is not None), None)


def _text(where: str, row: int, field: str, value: Any) -> str:
    if value is None:
        raise InputError(where, row, field, "missing", unit="row")
    if not isinstance(value, str):
        raise InputError(where, row, field, f"expected a string, got {type(value).__name__}", unit="row")
    return value


def doc_rows(did: str) -> Iterator[tuple[int, str, str, str]]:
    """``(row, doc_id, title, text)`` of a dataset's documents; the text is ``text`` (``body`` for
    MS MARCO documents), the title empty where the dataset has none."""
    dataset, where = load(did), label(did, "docs")
    if not dataset.has_docs():
        raise InputError(where, None, None, "this dataset has no documents")
    for row, doc in enumerate(dataset.docs_iter(), start=1):
        doc_id = _text(where, row, "doc_id", doc.doc_id)
        title = _text(where, row, "title", doc.title) if "title" in doc._fields else ""
        text = _text(where, row, "text", _field(doc, "text", "body"))
        yield row, doc_id, title, text


def query_rows(did: str) -> Iterator[tuple[int, str, str]]:
    dataset, where = load(did), label(did, "queries")
    if not dataset.has_queries():
        raise InputError(where, None, None, "this dataset has no queries")
    for row, query in enumerate(dataset.queries_iter(), start=1):
        yield row, _text(where, row, "query_id", query.query_id), _text(where, row, "text", query.text)


def qrel_rows(did: str) -> Iterator[tuple[int, str, str, Any]]:
    dataset, where = load(did), label(did, "qrels")
    if not dataset.has_qrels():
        raise InputError(where, None, None, "this dataset has no qrels")
    for row, qrel in enumerate(dataset.qrels_iter(), start=1):
        yield (row, _text(where, row, "query_id", qrel.query_id), _text(where, row, "doc_id", qrel.doc_id),
               qrel.relevance)


# --------------------------------------------------------------------------- raw files


def raw_docs(did: str) -> dict[str, str]:
    """The registry's raw documents file of ``did``'s group: ``{download, member, format}``."""
    spec = registry()["groups"].get(group(did), {}).get("raw_docs")
    if not spec:
        raise IrdsError(f"irds:{did}: format 'raw' needs a raw documents file, and qcpt/data/external.yaml "
                        f"records none for {group(did)} (only ir_datasets' own text is available)")
    return spec


def raw_doc_lines(did: str) -> tuple[str, Iterator[tuple[int, str]]]:
    """The raw documents file of ``did`` (read inside ir_datasets' cached archive) as numbered lines,
    with the label its errors carry."""
    spec = raw_docs(did)
    archive = home() / spec["download"]
    where = f"{PREFIX}{did} raw {spec['member']} (in {archive})"
    if not archive.is_file():
        raise IrdsError(f"irds:{did}: {archive} is not in the cache (the irds_cache job downloads it)")

    def lines() -> Iterator[tuple[int, str]]:
        with tarfile.open(archive, "r|*") as tar:
            for member in tar:
                if member.name.lstrip("./") == spec["member"]:
                    handle = tar.extractfile(member)
                    for lineno, raw in enumerate(handle, start=1):
                        try:
                            yield lineno, raw.decode("utf-8").rstrip("\r\n")
                        except UnicodeDecodeError as err:
                            raise InputError(where, lineno, None, f"not valid UTF-8 ({err.reason})") from err
                    return
        raise InputError(where, None, None, f"{spec['member']} is not in the archive")

    return where, lines()

# --------------------------------------------------------------------------- the registry


@cache
def registry() -> dict[str, Any]:
    """qcpt/data/external.yaml: what the project records about its external data."""
    text = resources.files("qcpt").joinpath("data/external.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)

