"""Data by ID: ``irds:<dataset-id>`` sources read through ir_datasets (https://ir-datasets.com).

A config may name a corpus, collection, topics, qrels or training pairs as ``irds:<id>``
(``irds:beir/scifact/test``, ``irds:msmarco-passage/trec-dl-2019/judged``) instead of a file. The
workflow then runs one ``irds_cache`` job per dataset ID (rules/data.smk): it has ir_datasets
download and build its cache under ``$IR_DATASETS_HOME`` (default ``~/.ir_datasets``), checks every
file it relies on against the checksum recorded for it (qcpt/data/external.yaml, else the md5
ir_datasets records), and writes a small pointer file, ``<results>/irds/<id>.irds.json``. The jobs
that read the data (documents, prepare_collection, prepare_topics) get the pointer as their input,
and the readers of :mod:`qcpt.corpus` read the rows from the cache, so they never download or build: jobs
of the same dataset never race on ir_datasets' cache, and the jobs of one download group (IDs that
share a cache folder, e.g. beir/scifact/train and beir/scifact/test) run one after the other.

Rows are checked by the same readers as file lines (qcpt/corpus/documents.py, topics.py); a bad row
is an :class:`~qcpt.core.io.InputError` naming the ID, the part (docs, queries, qrels), the 1-based row
and the field.

``format: raw`` on an ``irds:`` collection or corpus reads the file ir_datasets downloaded as it
is, not ir_datasets' text: MS MARCO passage's ``collection.tsv`` (ir_datasets repairs its
double-encoded UTF-8; pyserini and Tevatron index the raw file, docs/fidelity.md).

- :mod:`.dataset`: IDs, download groups, rows and the raw documents file of a dataset;
- :mod:`.files`: the cache files a dataset reads and their checksums;
- here: the ``irds:cache`` command (:func:`build_cache`) and ``python -m qcpt data --fetch`` (:func:`fetch`).
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path
from typing import Any

from ...core.io import InputError, write_json
from ...core.params import setup_logging
from .dataset import (
    IRDS_VERSION,
    PARTS,
    POINTER_SUFFIX,
    PREFIX,
    IrdsError,
    dataset_id,
    doc_rows,
    group,
    home,
    is_irds,
    known,
    label,
    load,
    pointer_id,
    qrel_rows,
    query_rows,
    raw_doc_lines,
    raw_docs,
    registry,
)
from .files import STAMPS, CacheFile, Verdict, cache_files, check_files, parts_of, verify

__all__ = ["IRDS_VERSION", "PARTS", "POINTER_SUFFIX", "PREFIX", "STAMPS", "CacheFile", "IrdsError", "Verdict",
           "build_cache", "cache_files", "check_files", "dataset_id", "doc_rows", "fetch", "group", "home",
           "is_irds", "known", "label", "load", "main_cache", "parts_of", "pointer_id", "qrel_rows", "query_rows",
           "raw_doc_lines", "raw_docs", "registry", "verify"]

log = logging.getLogger(__name__)


def build_cache(did: str, uses: list[str], out: str | os.PathLike) -> dict[str, Any]:
    """Download and build what ``uses`` of ``did`` read, read every row once, verify the cache files
    and write the pointer file ``out``."""
    parts = parts_of(uses)
    files = cache_files(did, parts)
    for f in files:  # a file already here is checked before anything is built from it
        if f.path.is_file():
            check_files(did, [f])
    counts: dict[str, int] = {}
    try:
        for part in parts:
            rows = {"docs": doc_rows, "queries": query_rows, "qrels": qrel_rows}.get(part)
            if rows is not None:
                counts[part] = sum(1 for _ in rows(did))
            else:  # raw: ir_datasets fetches the archive; qcpt reads it itself
                downloads = [f for f in cache_files(did, ("docs",)) if f.relative == raw_docs(did)["download"]]
                _fetch_download(did, downloads)
    except InputError:
        raise
    except Exception as err:  # a download that failed, a cache that cannot be written
        raise IrdsError(f"irds:{did}: ir_datasets could not provide {'/'.join(parts)}: {type(err).__name__}: {err}") from err
    report = check_files(did, cache_files(did, parts))
    pointer = {"id": did, "uses": uses, "parts": list(parts), "counts": counts, "files": report,
               "ir_datasets": IRDS_VERSION, "home": str(home())}
    write_json(out, pointer)
    log.info("irds:%s: %s", did, ", ".join(f"{n} {p}" for p, n in counts.items()) or "cached")
    return pointer


def _fetch_download(did: str, files: list[CacheFile]) -> None:
    from ir_datasets.util.download import Download

    dataset = load(did)
    found: list[Any] = []

    def find(obj: Any, seen: set[int]) -> None:
        if id(obj) in seen:
            return
        seen.add(id(obj))
        if isinstance(obj, Download):
            found.append(obj)
        elif isinstance(obj, (list, tuple, set)):
            for item in obj:
                find(item, seen)
        elif isinstance(obj, dict):
            for item in obj.values():
                find(item, seen)
        elif type(obj).__module__.startswith("ir_datasets") and hasattr(obj, "__dict__"):
            for item in vars(obj).values():
                find(item, seen)

    find(dataset.docs_handler(), set())
    wanted = {f.path for f in files}
    for download in found:
        if download._cache_path and Path(download._cache_path) in wanted:
            download.path()  # downloads (md5-checked by ir_datasets) unless already cached


def fetch(did: str, parts: tuple[str, ...]) -> None:
    """Have ir_datasets download what ``parts`` of ``did`` need (``python -m qcpt data --fetch``)."""
    try:
        for part in parts:
            if part == "raw":
                _fetch_download(did, [f for f in cache_files(did, ("docs",)) if f.relative == raw_docs(did)["download"]])
                continue
            rows = {"docs": doc_rows, "queries": query_rows, "qrels": qrel_rows}[part]
            next(iter(rows(did)), None)
    except Exception as err:
        raise IrdsError(f"irds:{did}: download failed ({type(err).__name__}: {err}); where this machine has "
                        f"no network, copy the files listed by `python -m qcpt data --check` into {home()}") from err


def main_cache(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build one ir_datasets dataset's cache and write its pointer file (rule irds_cache).")
    parser.add_argument("--id", required=True, help="ir_datasets dataset ID, e.g. beir/scifact/test")
    parser.add_argument("--uses", required=True, help="comma-separated: docs, raw, topics")
    parser.add_argument("--out", required=True, help="the pointer file (<results>/irds/<id>.irds.json)")
    args = parser.parse_args(argv)
    setup_logging()
    try:
        build_cache(args.id, args.uses.split(","), args.out)
    except (InputError, IrdsError) as err:
        log.error("%s", err)
        return 2
    return 0
