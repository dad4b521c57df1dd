"""Memory-mapped columnar store of pre-training passages and generated-query pools.

Under torchrun every rank used to hold every passage text and query string as Python objects
(8 copies of ~10 GB at 8.8M passages x 20 queries). Here the inputs are converted once into
uncompressed Arrow IPC files plus ``.npy`` index arrays beside the input (``<file>.qcpt-store/``),
and every process maps them read-only and shared (``mmap``; the Arrow columns and numpy arrays
point into the mappings, zero-copy): the pages live in the page cache, once for all ranks, and
each rank only touches what it reads; :class:`_Mappings` keeps what a rank holds mapped bounded.

The cache is keyed by the source files' size and mtime (and by ``use_title`` / the passages file for
query pools); a stale cache is rebuilt. Building holds an exclusive lock file so ranks starting
together build once; every file is written to a temporary name and renamed into place, the JSON
meta last, so a reader never sees a half-written store.
"""

from __future__ import annotations

import array
import bisect
import contextlib
import fcntl
import hashlib
import json
import logging
import mmap
import os
import time
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..io import InputError, atomic_path, read_jsonl, read_tsv, require_str

log = logging.getLogger(__name__)

STORE_VERSION = 2  # 2: record batches written as read (many chunks), query permutation
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


def _run_build(source: str | os.PathLike, build: Any, *args: Any) -> tuple[Any, dict[str, Any]]:
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


def _source_key(path: str | os.PathLike) -> dict[str, Any]:
    st = os.stat(path)
    return {"path": str(Path(path).resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns, "inode": st.st_ino}


def store_dir(path: str | os.PathLike) -> Path:
    """Where the store of ``path`` lives: ``<path>.qcpt-store/`` beside it, or, when that folder
    cannot be written (an input inside a read-only install or share), a folder named after the
    input's resolved path under ``$QCPT_STORE_CACHE`` (default ``~/.cache/qcpt/stores``)."""
    source = Path(path)
    beside = source.parent / f"{source.name}.qcpt-store"
    try:
        beside.mkdir(exist_ok=True)
        if os.access(beside, os.W_OK):
            return beside
    except OSError:
        pass
    root = Path(os.environ.get("QCPT_STORE_CACHE") or Path.home() / ".cache" / "qcpt" / "stores")
    digest = hashlib.sha256(str(source.resolve()).encode()).hexdigest()[:16]
    return root / f"{source.name}-{digest}.qcpt-store"


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _read_meta(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def _write_meta(path: Path, meta: dict[str, Any]) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")


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


_CHECK_EVERY = 32  # store reads between two looks at this process's resident file pages (~10 us a look)
_PAGE_BYTES = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def _rss_budget_bytes() -> int:
    raw = os.environ.get("QCPT_STORE_RSS_BUDGET_MB", "256")
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"QCPT_STORE_RSS_BUDGET_MB={raw!r}: expected a number of MiB (0: never trim)") from None
    if value < 0:
        raise ValueError(f"QCPT_STORE_RSS_BUDGET_MB={raw!r}: must be >= 0 (0: never trim)")
    return int(value * 2**20)


def _resident_file_bytes() -> int | None:
    """This process's resident file-backed (and shmem) pages, from /proc/self/statm; None off Linux."""
    try:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[2]) * _PAGE_BYTES
    except (OSError, IndexError, ValueError):
        return None


class _ResidentBudget:
    """Keeps the store's pages this process has mapped within ``QCPT_STORE_RSS_BUDGET_MB``.

    The store's pages belong to the page cache, held once and shared by every process mapping the
    files, but each page a process has read stays in its RSS while it is mapped: after one epoch
    a rank's RSS would include the whole store (~14 GB at 8.8M passages x 20 queries), counted
    again for each of 8 ranks by RSS-based accounting (Slurm's, the OOM killer's). So every
    ``_CHECK_EVERY`` reads the process looks at its resident file pages, and when they have grown
    by more than the budget since the last trim it drops its page-table entries for every store
    file (``madvise(MADV_DONTNEED)``, which on a shared file mapping discards nothing: the pages
    stay cached and the next read maps them again with a minor fault). The check is on bytes, not
    on reads, because how much one read maps depends on the kernel (fault-around, large folios:
    ~1 MB a random read on the project's machine). One budget per process, over all stores.
    """

    def __init__(self) -> None:
        self.mappings: weakref.WeakSet[_Mappings] = weakref.WeakSet()
        self.reads = 0
        self.trims = 0
        self.after_trim: int | None = None

    def register(self, mappings: _Mappings) -> None:
        if self.after_trim is None:  # growth counts from before the first store was read
            self.after_trim = _resident_file_bytes()
        self.mappings.add(mappings)

    def read(self) -> None:
        self.reads += 1
        if self.reads % _CHECK_EVERY:
            return
        budget = _rss_budget_bytes()
        resident = _resident_file_bytes()
        if not budget or resident is None:
            return
        if self.after_trim is None or resident < self.after_trim:
            self.after_trim = resident
        elif resident - self.after_trim > budget:
            self.trim()

    def trim(self) -> None:
        if not hasattr(mmap, "MADV_DONTNEED"):
            return
        for mappings in list(self.mappings):
            for mapped in mappings.maps:
                mapped.madvise(mmap.MADV_DONTNEED)
        self.trims += 1
        self.after_trim = _resident_file_bytes()


_BUDGET = _ResidentBudget()


def resident_budget() -> _ResidentBudget:
    """The process-wide budget of mapped store pages (its ``trims`` count says how often it trimmed)."""
    return _BUDGET


class _Mappings:
    """The read-only shared file mappings behind one store object (see :class:`_ResidentBudget`)."""

    def __init__(self) -> None:
        _rss_budget_bytes()  # a bad setting fails when the store opens, not in the middle of an epoch
        self.maps: list[mmap.mmap] = []
        self.read = _BUDGET.read
        _BUDGET.register(self)

    def _map(self, path: Path) -> mmap.mmap:
        with open(path, "rb") as handle:
            mapped = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)  # MAP_SHARED, read-only
        self.maps.append(mapped)
        return mapped

    def table(self, path: Path) -> pa.Table:
        # Reading an IPC file from a buffer is zero-copy: the columns point into the mapping.
        return pa.ipc.open_file(pa.py_buffer(self._map(path))).read_all()

    def npy(self, path: Path) -> np.ndarray:
        with open(path, "rb") as handle:
            version = np.lib.format.read_magic(handle)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(handle)
            else:
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(handle)
            offset = handle.tell()
        if fortran or dtype.hasobject or len(shape) != 1:
            raise ValueError(f"{path}: expected a 1-d array of numbers (rebuild the store: delete {path.parent})")
        return np.frombuffer(self._map(path), dtype=dtype, count=shape[0], offset=offset)


class _Strings:
    """One string column of a mapped IPC file, read by row across its record batches (a build
    writes one batch per ``_CHUNK`` rows; combining them would copy the column into memory)."""

    def __init__(self, table: pa.Table, name: str):
        self.column = table.column(name)
        self.chunks = self.column.chunks
        self.starts = [0]
        for chunk in self.chunks:
            self.starts.append(self.starts[-1] + len(chunk))
        self.single = self.chunks[0] if len(self.chunks) == 1 else None

    def __len__(self) -> int:
        return self.starts[-1]

    def get(self, row: int) -> str:
        if self.single is not None:
            return self.single[row].as_py()
        if not 0 <= row < self.starts[-1]:
            raise IndexError(row)
        chunk = bisect.bisect_right(self.starts, row) - 1
        return self.chunks[chunk][row - self.starts[chunk]].as_py()

    def slice(self, start: int, stop: int) -> list[str]:
        return self.column.slice(start, stop - start).to_pylist()

    def to_pylist(self) -> list[str]:
        return self.column.to_pylist()


class Passages:
    """The passages file, memory-mapped: row ``i`` has ``id(i)``, ``doc_id(i)``, ``text(i)``;
    ``doc_members(i)`` are the rows of its document in file order."""

    def __init__(self, folder: Path, stem: str, source: str):
        self.folder, self.stem, self.source = folder, stem, source
        self.mappings = _Mappings()
        table = self.mappings.table(folder / f"{stem}.arrow")
        self._ids = _Strings(table, "id")
        self._doc_ids = _Strings(table, "doc_id")
        self._texts = _Strings(table, "text")
        self.passage_doc = self.mappings.npy(folder / f"{stem}.passage_doc.npy")
        self.doc_rows = self.mappings.npy(folder / f"{stem}.doc_rows.npy")
        self.doc_offsets = self.mappings.npy(folder / f"{stem}.doc_offsets.npy")
        self.id_order = self.mappings.npy(folder / f"{stem}.id_order.npy")

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickled (a spawned DataLoader worker) as the store's location: the child maps the same
        # files instead of receiving a copy of every column.
        return (Passages, (self.folder, self.stem, self.source))

    def __len__(self) -> int:
        return len(self._ids)

    def id(self, row: int) -> str:
        self.mappings.read()
        return self._ids.get(row)

    def doc_id(self, row: int) -> str:
        self.mappings.read()
        return self._doc_ids.get(row)

    def text(self, row: int) -> str:
        self.mappings.read()
        return self._texts.get(row)

    @property
    def num_documents(self) -> int:
        return len(self.doc_offsets) - 1

    @property
    def single_passage_documents(self) -> int:
        return int(np.count_nonzero(np.diff(self.doc_offsets) == 1))

    def doc_members(self, row: int) -> np.ndarray:
        doc = int(self.passage_doc[row])
        return self.doc_rows[self.doc_offsets[doc]:self.doc_offsets[doc + 1]]

    def row_of(self, pid: str) -> int | None:
        """The row of passage ``pid`` (binary search over the ids in sorted order), None if absent."""
        lo, hi = 0, len(self.id_order)
        while lo < hi:
            mid = (lo + hi) // 2
            if self.id(int(self.id_order[mid])) < pid:
                lo = mid + 1
            else:
                hi = mid
        if lo < len(self.id_order) and self.id(int(self.id_order[lo])) == pid:
            return int(self.id_order[lo])
        return None

    # Materialising views, for tests and small files only.
    @property
    def ids(self) -> list[str]:
        return self._ids.to_pylist()

    @property
    def texts(self) -> list[str]:
        return self._texts.to_pylist()

    @property
    def doc_ids(self) -> list[str]:
        return self._doc_ids.to_pylist()


def _build_passages(path: str | os.PathLike, folder: Path, stem: str, use_title: bool) -> dict[str, int]:
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


def open_passages(path: str | os.PathLike, *, use_title: bool = False) -> Passages:
    """Open (building or rebuilding if stale) the store of ``passages.jsonl``."""
    folder = store_dir(path)
    stem = "passages-title" if use_title else "passages"
    key = {"version": STORE_VERSION, "source": _source_key(path), "use_title": use_title}
    with _locked(folder):
        meta = _read_meta(folder / f"{stem}.json")
        if meta is None or meta.get("key") != key:
            log.info("%s: building the passage store in %s", path, folder)
            stats, build = _run_build(path, _build_passages, path, folder, stem, use_title)
            _write_meta(folder / f"{stem}.json", {"key": key, "build": build | stats})
        return Passages(folder, stem, str(path))


class QueryPools:
    """One pool of generated queries per passage row: ``pool(i)`` is ``queries[offsets[i]:offsets[i+1]]``
    (through ``order``, the rows in pool order, where the file was not in passage order)."""

    def __init__(self, folder: Path, stem: str):
        self.folder, self.stem = folder, stem
        self.mappings = _Mappings()
        self._queries = _Strings(self.mappings.table(folder / f"{stem}.arrow"), "query")
        self.offsets = self.mappings.npy(folder / f"{stem}.offsets.npy")
        order = folder / f"{stem}.order.npy"
        self.order = self.mappings.npy(order) if order.exists() else None

    def __reduce__(self) -> tuple[Any, ...]:
        return (QueryPools, (self.folder, self.stem))

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def pool_size(self, row: int) -> int:
        return int(self.offsets[row + 1] - self.offsets[row])

    def query(self, row: int, k: int) -> str:
        self.mappings.read()
        at = int(self.offsets[row]) + k
        return self._queries.get(at if self.order is None else int(self.order[at]))

    def nonempty_rows(self) -> np.ndarray:
        return np.flatnonzero(np.diff(self.offsets) > 0).astype(np.int64)

    def __getitem__(self, row: int) -> list[str]:
        start, stop = int(self.offsets[row]), int(self.offsets[row + 1])
        if self.order is None:
            return self._queries.slice(start, stop)
        return [self._queries.get(int(i)) for i in self.order[start:stop]]


def _build_queries(path: str | os.PathLike, passages: Passages, folder: Path, stem: str) -> dict[str, int]:
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


def open_queries(path: str | os.PathLike, passages: Passages) -> tuple[QueryPools, dict[str, int]]:
    """Open (building or rebuilding if stale) the query pools of a queries TSV, aligned with ``passages``."""
    folder = store_dir(path)
    stem = "queries"  # rows do not depend on use_title, so one pool store serves both
    key = {"version": STORE_VERSION, "source": _source_key(path), "passages": _source_key(passages.source),
           "passage_rows": len(passages)}
    with _locked(folder):
        meta = _read_meta(folder / f"{stem}.json")
        if meta is None or meta.get("key") != key:
            log.info("%s: building the query store in %s", path, folder)
            stats, build = _run_build(path, _build_queries, path, passages, folder, stem)
            meta = {"key": key, "stats": stats, "build": build | {"rows": stats["query_rows"]}}
            _write_meta(folder / f"{stem}.json", meta)
        else:
            if meta["stats"]["blank_queries_skipped"]:
                log.warning("%s: skipped %d blank queries", path, meta["stats"]["blank_queries_skipped"])
        return QueryPools(folder, stem), dict(meta["stats"])
