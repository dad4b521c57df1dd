"""The memory budget of mapped store pages: one per process, over every store it reads."""

from __future__ import annotations

import mmap
import os
import weakref
from pathlib import Path

import numpy as np
import pyarrow as pa

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


class ResidentBudget:
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
        self.mappings: weakref.WeakSet[Mappings] = weakref.WeakSet()
        self.reads = 0
        self.trims = 0
        self.after_trim: int | None = None

    def register(self, mappings: Mappings) -> None:
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


_BUDGET = ResidentBudget()


def resident_budget() -> ResidentBudget:
    """The process-wide budget of mapped store pages (its ``trims`` count says how often it trimmed)."""
    return _BUDGET


class Mappings:
    """The read-only shared file mappings behind one store object (see :class:`ResidentBudget`)."""

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
