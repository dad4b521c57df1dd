"""Building a store: the passages file or a queries TSV converted once into Arrow IPC + ``.npy`` files.

Each build streams its input, checks every line (an :class:`~qcpt.core.io.InputError` names file, line
and field) and writes its columns a record batch at a time, every file under a temporary name
renamed into place. A large input is converted in a separate process (:func:`run_build`).
"""

from __future__ import annotations

import array
import contextlib
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ...core.io import InputError, atomic_path, read_jsonl, read_tsv, require_str

if TYPE_CHECKING:
    from .readers import Passages

log = logging.getLogger(__name__)

_CHUNK = 200_000  # rows converted from Python lists to Arrow at a time while building
# Inputs at least this large are converted in a separate process: a build holds the id dictionaries
# (and, before the columns were written as they are read, held every string: 2.9 GB at 1M passages x
# 20 queries), which a training rank that built in-process would keep for the rest of the run
# (measured: 3.2 GiB PSS per rank after the epoch at 1M, against 0.1 GiB mapping a ready store).
# Smaller ones build in-process: a process start costs more than their whole build.
# $QCPT_STORE_BUILD_IN_PROCESS_BYTES overrides the threshold.
BUILD_IN_PROCESS_BYTES = 64 * 2**20


def _build_in_process_bytes() -> int:
    value = os.environ.get("QCPT_STORE_BUILD_IN_PROCESS_BYTES")
    if value in (None, ""):
        return BUILD_IN_PROCESS_BYTES
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"QCPT_STORE_BUILD_IN_PROCESS_BYTES={value!r}: expected a number of bytes") from None


def _peak_rss_mib() -> float | None:
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return None


def _measured(build: Any, *args: Any) -> tuple[Any, dict[str, Any]]:
    """``build(*args)`` and what it cost this process: wall seconds and the peak RSS (VmHWM)."""
    t0 = time.perf_counter()
    result = build(*args)
    return result, {"seconds": round(time.perf_counter() - t0, 3), "peak_rss_mib": _peak_rss_mib()}


def run_build(source: str | os.PathLike, build: Any, *args: Any) -> tuple[Any, dict[str, Any]]:
    """``build(*args)``, in a fresh spawned process when ``source`` is large (its errors, an
    :class:`InputError` with file and line included, are raised here as they were there), and the
    build's record for the store's meta (seconds, peak RSS of the building process, in_process:
    the peak then is the whole process's, not the build's alone)."""
    if Path(source).stat().st_size < _build_in_process_bytes():
        result, record = _measured(build, *args)
        return result, record | {"in_process": True}
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    log.info("%s: building in a separate process (the build's memory is returned when it ends)", source)
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        result, record = pool.submit(_measured, build, *args).result()
    return result, record | {"in_process": False}


@contextlib.contextmanager
def _batch_writer(path: Path, names: list[str], keep: str | None = None) -> Iterator[_Batches]:
    """String columns written to an Arrow IPC file a record batch (``_CHUNK`` rows) at a time, so a
    build never holds more than one batch of strings (but for column ``keep``, whose batches it
    keeps in ``kept``); atomic (a failed build leaves nothing)."""
    schema = pa.schema([(name, pa.large_string()) for name in names])
    with atomic_path(path) as tmp, pa.OSFile(str(tmp), "wb") as sink, pa.ipc.new_file(sink, schema) as writer:
        batches = _Batches(writer, schema, None if keep is None else names.index(keep))
        yield batches
        batches.flush()


class _Batches:
    def __init__(self, writer: Any, schema: pa.Schema, keep: int | None):
        self.writer, self.schema, self.keep = writer, schema, keep
        self.pending: list[list[str]] = [[] for _ in schema.names]
        self.kept: list[pa.Array] = []

    def append(self, *values: str) -> None:
        for column, value in zip(self.pending, values, strict=True):
            column.append(value)
        if len(self.pending[0]) >= _CHUNK:
            self.flush()

    def flush(self) -> None:
        if self.pending[0]:
            arrays = [pa.array(column, type=pa.large_string()) for column in self.pending]
            self.writer.write_batch(pa.record_batch(arrays, schema=self.schema))
            if self.keep is not None:
                self.kept.append(arrays[self.keep])
            self.pending = [[] for _ in self.schema.names]


def _write_npy(path: Path, array: np.ndarray) -> None:
    with atomic_path(path, suffix=".npy") as tmp:
        with open(tmp, "wb") as handle:
            np.save(handle, array)


def build_passages(path: str | os.PathLike, folder: Path, stem: str, use_title: bool) -> dict[str, int]:
    seen: dict[str, int] = {}
    doc_index: dict[str, int] = {}
    passage_doc = array.array("q")  # 8 bytes a row, not a Python int object
    # the ids alone stay in memory (kept): their sort order is written too
    with _batch_writer(folder / f"{stem}.arrow", ["id", "doc_id", "text"], keep="id") as batches:
        for line, row in read_jsonl(path):
            pid = require_str(path, line, row, "id")
            doc_id = require_str(path, line, row, "doc_id")
            text = require_str(path, line, row, "text")
            if pid in seen:
                raise InputError(path, line, "id", f"duplicate passage id {pid!r} (first on line {seen[pid]})")
            seen[pid] = line
            if use_title:
                title = row.get("title") or ""
                if not isinstance(title, str):
                    raise InputError(path, line, "title", f"expected a string, got {type(title).__name__}")
                text = f"{title.strip()} {text}" if title.strip() else text
            passage_doc.append(doc_index.setdefault(doc_id, len(doc_index)))
            batches.append(pid, doc_id, text)
        if not passage_doc:
            raise InputError(path, None, None, "no passages")
    del seen
    docs = np.frombuffer(passage_doc, dtype=np.int64)
    doc_rows = np.argsort(docs, kind="stable").astype(np.int64)  # stable: file order within a document
    doc_offsets = np.zeros(len(doc_index) + 1, dtype=np.int64)
    np.cumsum(np.bincount(docs, minlength=len(doc_index)), out=doc_offsets[1:])
    id_order = np.asarray(pc.sort_indices(pa.chunked_array(batches.kept, type=pa.large_string())), dtype=np.int64)
    _write_npy(folder / f"{stem}.passage_doc.npy", docs)
    _write_npy(folder / f"{stem}.doc_rows.npy", doc_rows)
    _write_npy(folder / f"{stem}.doc_offsets.npy", doc_offsets)
    _write_npy(folder / f"{stem}.id_order.npy", id_order)
    return {"rows": len(docs)}


def build_queries(path: str | os.PathLike, passages: Passages, folder: Path, stem: str) -> dict[str, int]:
    # The id -> row dict exists only while building (one process, once per input).
    index = {pid: i for i, pid in enumerate(passages.ids)}
    rows_of = array.array("q")  # 8 bytes a query, not a Python int object
    rows = blank = 0
    with _batch_writer(folder / f"{stem}.arrow", ["query"]) as batches:
        for line, row in read_tsv(path, ["passage_id", "query"], header=False):
            pid = row["passage_id"].strip()
            if pid not in index:
                raise InputError(path, line, "passage_id", f"passage {pid!r} is not in the passages file")
            query = row["query"].strip()
            if not query:
                blank += 1
                continue
            rows_of.append(index[pid])
            batches.append(query)
            rows += 1
        del index
        if rows == 0:
            raise InputError(path, None, None, "no queries")
    if blank:
        log.warning("%s: skipped %d blank queries", path, blank)
    owner = np.frombuffer(rows_of, dtype=np.int64)
    order = folder / f"{stem}.order.npy"
    if np.any(owner[1:] < owner[:-1]):
        # Not in passage order: a permutation to read through instead of a reordered copy of the
        # strings (stable: a pool keeps the file's order).
        _write_npy(order, np.argsort(owner, kind="stable").astype(np.int64))
    else:  # the query generator writes pools in passage order
        order.unlink(missing_ok=True)
    offsets = np.zeros(len(passages) + 1, dtype=np.int64)
    np.cumsum(np.bincount(owner, minlength=len(passages)), out=offsets[1:])
    _write_npy(folder / f"{stem}.offsets.npy", offsets)
    return {"query_rows": rows, "blank_queries_skipped": blank}

