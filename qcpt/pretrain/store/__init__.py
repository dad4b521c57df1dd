"""Memory-mapped columnar store of pre-training passages and generated-query pools.

Under torchrun every rank used to hold every passage text and query string as Python objects
(8 copies of ~10 GB at 8.8M passages x 20 queries). Here the inputs are converted once into
uncompressed Arrow IPC files plus ``.npy`` index arrays beside the input (``<file>.qcpt-store/``),
and every process maps them read-only and shared (``mmap``; the Arrow columns and numpy arrays
point into the mappings, zero-copy): the pages live in the page cache, once for all ranks, and
each rank only touches what it reads; :class:`~.budget.Mappings` keeps what a rank holds mapped bounded.

The cache is keyed by the source files' size and mtime (and by ``use_title`` / the passages file for
query pools); a stale cache is rebuilt. Building holds an exclusive lock file so ranks starting
together build once; every file is written to a temporary name and renamed into place, the JSON
meta last, so a reader never sees a half-written store.

- :mod:`.layout`: where a store lives, its meta (what it was built from) and the builders' lock;
- :mod:`.build`: converting the passages file and a queries TSV (in a separate process when large);
- :mod:`.budget`: the per-process budget of mapped store pages (``QCPT_STORE_RSS_BUDGET_MB``);
- :mod:`.readers`: :class:`Passages` and :class:`QueryPools`, read by row from the mappings.

Why a store of its own and not Hugging Face ``datasets`` (installed; ``Dataset.map`` writes Arrow
caches named by a fingerprint of the transform): what pre-training needs from it, ``datasets``
does not do.

- Bounded RSS per rank: :class:`~.budget.ResidentBudget` drops a process's page-table entries for
  the store's mappings (``madvise(MADV_DONTNEED)``) when its resident file pages grow past the
  budget. ``datasets`` memory-maps its Arrow files too, but every page a rank has read stays in its
  RSS, so after one epoch each of 8 ranks would be counted the whole store by Slurm and the OOM
  killer.
- One build for ranks starting together: the build runs under an ``flock`` in the store folder
  and is keyed by the source file (size, mtime, inode; for query pools also the passages file),
  not by a hash of Python code. ``Dataset.map`` takes no lock across processes: under torchrun
  every rank would run the transform unless the caller orders the ranks itself.
- Index arrays beside the columns, mapped zero-copy: each passage's document and its document's
  rows in file order (the span contexts draw from them), the ids' sort order (lookup by id
  without a dictionary), each passage's query pool as offsets plus a permutation where the file
  was not in passage order. ``datasets`` has no group-by; these would be further tables built by
  ``map``/``sort`` and read through its row formatting.
- The project's input errors: a bad line is an :class:`~qcpt.core.io.InputError` naming file, line and
  field, as every other reader of the project raises; a large input is converted in a spawned
  process whose memory is returned when it ends, its cost (seconds, peak RSS) kept in the meta.
"""

from __future__ import annotations

import logging
import os

from .budget import resident_budget
from .build import build_passages, build_queries, run_build
from .layout import locked, read_meta, source_key, store_dir, write_meta
from .readers import Passages, QueryPools

__all__ = ["STORE_VERSION", "Passages", "QueryPools", "open_passages", "open_queries", "resident_budget",
           "store_dir"]

log = logging.getLogger(__name__)

STORE_VERSION = 2  # 2: record batches written as read (many chunks), query permutation


def open_passages(path: str | os.PathLike, *, use_title: bool = False) -> Passages:
    """Open (building or rebuilding if stale) the store of ``passages.jsonl``."""
    folder = store_dir(path)
    stem = "passages-title" if use_title else "passages"
    key = {"version": STORE_VERSION, "source": source_key(path), "use_title": use_title}
    with locked(folder):
        meta = read_meta(folder / f"{stem}.json")
        if meta is None or meta.get("key") != key:
            log.info("%s: building the passage store in %s", path, folder)
            stats, build = run_build(path, build_passages, path, folder, stem, use_title)
            write_meta(folder / f"{stem}.json", {"key": key, "build": build | stats})
        return Passages(folder, stem, str(path))


def open_queries(path: str | os.PathLike, passages: Passages) -> tuple[QueryPools, dict[str, int]]:
    """Open (building or rebuilding if stale) the query pools of a queries TSV, aligned with ``passages``."""
    folder = store_dir(path)
    stem = "queries"  # rows do not depend on use_title, so one pool store serves both
    key = {"version": STORE_VERSION, "source": source_key(path), "passages": source_key(passages.source),
           "passage_rows": len(passages)}
    with locked(folder):
        meta = read_meta(folder / f"{stem}.json")
        if meta is None or meta.get("key") != key:
            log.info("%s: building the query store in %s", path, folder)
            stats, build = run_build(path, build_queries, path, passages, folder, stem)
            meta = {"key": key, "stats": stats, "build": build | {"rows": stats["query_rows"]}}
            write_meta(folder / f"{stem}.json", meta)
        else:
            if meta["stats"]["blank_queries_skipped"]:
                log.warning("%s: skipped %d blank queries", path, meta["stats"]["blank_queries_skipped"])
        return QueryPools(folder, stem), dict(meta["stats"])
