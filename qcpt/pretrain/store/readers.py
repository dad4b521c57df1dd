"""Reading a built store: passages and query pools by row, from read-only shared mappings."""

from __future__ import annotations

import bisect
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from .budget import Mappings


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
        self.mappings = Mappings()
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


class QueryPools:
    """One pool of generated queries per passage row: ``pool(i)`` is ``queries[offsets[i]:offsets[i+1]]``
    (through ``order``, the rows in pool order, where the file was not in passage order)."""

    def __init__(self, folder: Path, stem: str):
        self.folder, self.stem = folder, stem
        self.mappings = Mappings()
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
