"""Encoded shards (``retrieval.encode``) as one exact inner-product index, in the given order.

On the CPU the shards are searched where they lie: their files mapped read-only and ``faiss.knn``
run shard by shard (:class:`MappedFlatIP`: no copy of the vectors). On all GPUs, via
``faiss.index_cpu_to_all_gpus``, when this faiss has GPU support and CUDA is available, in a FAISS
``IndexFlatIP`` the shards are added to (:func:`build_index`). Shards are checked as they are read:
one dimension throughout, no docid twice.
"""

from __future__ import annotations

import logging
import mmap
import os
import zipfile
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..core.io import InputError
from .encode import load_shard

log = logging.getLogger(__name__)


def _embeddings_header(path: str | os.PathLike) -> tuple[tuple[int, ...], np.dtype, bool] | None:
    """``(shape, dtype, fortran order)`` of a shard's embeddings read from the .npy header alone
    (no data), or None where the shard is not a plain .npz (load_shard then says what is wrong)."""
    try:
        with zipfile.ZipFile(path) as archive, archive.open("embeddings.npy") as member:
            version = np.lib.format.read_magic(member)
            read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, fortran, dtype = read(member)
    except (KeyError, ValueError, OSError, zipfile.BadZipFile):
        return None
    return shape, dtype, fortran


READ_BYTES = 16 * 2**20
BLOCK_BYTES = 64 * 2**20  # index_shards on GPUs: the mapped rows added at a time


def _open_embeddings(archive: zipfile.ZipFile):
    """The shard's ``embeddings.npy`` member, positioned after its .npy header."""
    member = archive.open("embeddings.npy")
    version = np.lib.format.read_magic(member)
    (np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0)(member)
    return member


def _read_into(path: str | os.PathLike, out: np.ndarray) -> None:
    """The shard's little-endian float32 C-order embeddings straight into ``out`` (no temporary)."""
    with zipfile.ZipFile(path) as archive, _open_embeddings(archive) as member:
        view = memoryview(out.reshape(-1).view(np.uint8))  # (a view of out's rows, any row count)
        done = 0
        while done < len(view):
            got = member.readinto(view[done:done + READ_BYTES])  # (ZipExtFile reads a bytes object this big)
            if not got:
                raise InputError(path, None, "embeddings", f"ends after {done} of {len(view)} bytes")
            done += got


def _plain_float32_rows(path: str | os.PathLike, header) -> tuple[list[str], int, int] | None:
    """``(ids, rows, dim)`` of a shard whose embeddings are a plain little-endian float32 C-order
    matrix (read or mapped where they lie), checked against its ids; else None (loaded instead)."""
    if header is None or len(header[0]) != 2 or header[1] != np.dtype("<f4") or header[2]:
        return None
    shard_ids = _shard_ids(path)
    rows, dim = header[0]
    if len(shard_ids) != rows:
        raise InputError(path, None, "embeddings", f"shape {header[0]} does not match {len(shard_ids)} ids")
    return shard_ids, rows, dim


def _faiss_threads() -> None:
    """Respect ``OMP_NUM_THREADS`` (the rules set it to the job's threads) in FAISS's pool."""
    threads = os.environ.get("OMP_NUM_THREADS", "").strip()
    if threads.isdigit() and int(threads) > 0:
        import faiss

        faiss.omp_set_num_threads(int(threads))


def _gpu_faiss() -> bool:
    """Whether ``build_index`` would put the index on GPUs."""
    import faiss

    if not (hasattr(faiss, "index_cpu_to_all_gpus") and hasattr(faiss, "get_num_gpus") and faiss.get_num_gpus() > 0):
        return False
    import torch

    return torch.cuda.is_available()


def _map_embeddings(path: str | os.PathLike, shape: tuple[int, int]) -> np.ndarray | None:
    """The shard's embeddings as a read-only memory map of its file, where the member is stored
    (not deflated); else None. ``np.savez`` stores members, so an encoded shard maps."""
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo("embeddings.npy")
        if info.compress_type != zipfile.ZIP_STORED:
            return None
        with _open_embeddings(archive) as member:
            header = member.tell()
    if info.file_size < header + 4 * shape[0] * shape[1]:
        raise InputError(path, None, "embeddings", f"ends after {info.file_size - header} bytes: "
                         f"its header says {shape[0]} x {shape[1]} float32 values")
    if shape[0] == 0:
        return np.empty(shape, dtype=np.float32)
    with open(path, "rb") as handle:  # the member's data follows its local header (30 bytes, name, extra)
        handle.seek(info.header_offset + 26)
        name, extra = np.frombuffer(handle.read(4), dtype="<u2")
        offset = info.header_offset + 30 + int(name) + int(extra) + header
        # MAP_POPULATE: the page tables are filled here, once, not page by page in the first search
        start = offset - offset % mmap.ALLOCATIONGRANULARITY
        mapping = mmap.mmap(handle.fileno(), offset + 4 * shape[0] * shape[1] - start, prot=mmap.PROT_READ,
                            flags=mmap.MAP_SHARED | getattr(mmap, "MAP_POPULATE", 0), offset=start)
    return np.frombuffer(mapping, dtype="<f4", count=shape[0] * shape[1], offset=offset - start).reshape(shape)


class MappedFlatIP:
    """Exact inner-product search over shards' vectors where they lie: the shards' files mapped
    read-only (the page cache holds them once, for every process that searches them) and
    ``faiss.knn`` run shard by shard, the top ``k`` of each merged into a running top ``k``.
    Copying the vectors into an ``IndexFlatIP`` touched N x dim x 4 bytes of fresh memory, which
    a VM pays for page by page (~9 s/GiB on the bench's 2-core VM: 30 of the 51 s at 1M
    passages), on top of reading the shards.

    ``search`` returns what ``IndexFlatIP.search`` returns over the shards concatenated in
    order: scores in descending order and each score of the top ``k``, with ids of equal scores
    in whichever order; :func:`~qcpt.retrieval.search.rank_exact` orders ties by docid. Vectors of a shard stored at an
    offset that is not a multiple of 4 bytes are read as they lie: x86-64 and AArch64 load
    unaligned floats (the tests compare the results with ``IndexFlatIP``)."""

    def __init__(self, vectors: list[np.ndarray], dim: int):
        self.vectors = [v for v in vectors if len(v)]
        self.offsets = np.cumsum([0] + [len(v) for v in self.vectors])
        self.ntotal = int(self.offsets[-1])
        self.d = dim

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        import faiss

        queries = np.ascontiguousarray(queries, dtype=np.float32)
        scores = np.full((len(queries), 0), -np.inf, dtype=np.float32)
        rows = np.full((len(queries), 0), -1, dtype=np.int64)
        for vectors, offset in zip(self.vectors, self.offsets, strict=False):
            shard_scores, shard_rows = faiss.knn(queries, vectors, min(k, len(vectors)),
                                                 metric=faiss.METRIC_INNER_PRODUCT)
            if scores.shape[1]:  # each part is in descending order: merge them
                scores = np.concatenate([scores, shard_scores], axis=1)
                rows = np.concatenate([rows, shard_rows + offset], axis=1)
                keep = np.argsort(-scores, axis=1, kind="stable")[:, :k]
                scores, rows = np.take_along_axis(scores, keep, axis=1), np.take_along_axis(rows, keep, axis=1)
            else:
                scores, rows = shard_scores, shard_rows + offset
        if scores.shape[1] < k:  # as FAISS pads: k above ntotal
            pad = k - scores.shape[1]
            scores = np.pad(scores, ((0, 0), (0, pad)), constant_values=-np.finfo(np.float32).max)
            rows = np.pad(rows, ((0, 0), (0, pad)), constant_values=-1)
        return scores, rows

    def reconstruct_n(self, start: int, count: int) -> np.ndarray:
        """Rows ``start`` to ``start + count`` (as a FAISS index's ``reconstruct_n``)."""
        whole = np.concatenate(self.vectors) if self.vectors else np.empty((0, self.d), dtype=np.float32)
        return np.array(whole[start:start + count])


def load_shards(paths: Sequence[str | os.PathLike]) -> tuple[list[str], np.ndarray]:
    """Docids and float32 embeddings of the shards, in order. The matrix is allocated once, from
    the shards' .npy headers, and each shard is read into its rows (concatenating loaded shards
    held every vector twice at the end)."""
    headers = [_embeddings_header(path) for path in paths]
    total = sum(h[0][0] for h in headers if h is not None and len(h[0]) == 2)
    dim = headers[0][0][1] if headers and headers[0] is not None and len(headers[0][0]) == 2 else None
    out = np.empty((total, dim), dtype=np.float32) if dim is not None and all(
        h is not None and len(h[0]) == 2 for h in headers) else None
    ids: list[str] = []
    parts: list[np.ndarray] = []  # only where a header could not be read: the shards are concatenated
    first: dict[str, str] = {}
    width: int | None = None
    row = 0
    for path, header in zip(paths, headers, strict=True):
        # (out is allocated only where every shard has a 2-d header)
        plain = _plain_float32_rows(path, header) if out is not None and header[0][1] == dim else None
        if plain is not None:
            shard_ids, rows, shard_dim = plain
        else:
            shard_ids, emb = load_shard(path)
            rows, shard_dim = emb.shape
        width = _check_shard(path, shard_ids, shard_dim, width, first, paths)
        ids += shard_ids
        if out is None:
            parts.append(emb)
        elif plain is not None:
            _read_into(path, out[row:row + rows])
        else:
            out[row:row + rows] = emb
            del emb
        row += rows
    if not ids:
        raise InputError(paths[0], None, None, "the shards hold no passages")
    if out is None:
        return ids, np.ascontiguousarray(np.concatenate(parts, axis=0), dtype=np.float32)
    return ids, out


def _check_shard(path: str | os.PathLike, shard_ids: list[str], shard_dim: int, width: int | None,
                 first: dict[str, str], paths: Sequence[str | os.PathLike]) -> int:
    """The same dimension as the shards before, no docid seen before (``first`` records them)."""
    if width is not None and shard_dim != width:
        raise InputError(path, None, "embeddings", f"dimension {shard_dim} differs from {width} of {paths[0]}")
    for docid in shard_ids:
        if docid in first:
            raise InputError(path, None, "ids", f"docid {docid!r} is also in {first[docid]}")
        first[docid] = str(path)
    return shard_dim


def index_shards(paths: Sequence[str | os.PathLike]) -> tuple[list[str], Any]:
    """Docids and an exact inner-product index over the shards, in order (checks and errors as
    :func:`load_shards`). On the CPU a :class:`MappedFlatIP` over the shards' mapped files (a
    deflated or non-float32 shard is loaded and converted); where ``build_index`` uses GPUs, its
    index with each mapped shard added ``BLOCK_BYTES`` of rows at a time, so that no copy of a
    shard is held beside it."""
    gpu = _gpu_faiss()
    ids: list[str] = []
    first: dict[str, str] = {}
    width: int | None = None
    vectors: list[np.ndarray] = []
    index = None
    for path in paths:
        header = _embeddings_header(path)
        mapped = emb = None
        plain = _plain_float32_rows(path, header)
        if plain is not None:
            shard_ids, rows, shard_dim = plain
            mapped = _map_embeddings(path, (rows, shard_dim))
        if mapped is None:
            shard_ids, emb = load_shard(path)
            rows, shard_dim = emb.shape
            emb = np.ascontiguousarray(emb, dtype=np.float32)
        width = _check_shard(path, shard_ids, shard_dim, width, first, paths)
        ids += shard_ids
        if not gpu:
            vectors.append(emb if mapped is None else mapped)
            continue
        if index is None:
            index = build_index(np.empty((0, width), dtype=np.float32), log_size=False)
        if mapped is not None:
            block = max(1, BLOCK_BYTES // (4 * width))
            for lo in range(0, rows, block):
                index.add(mapped[lo:lo + block])
        else:
            index.add(emb)
        emb = mapped = None
    if not ids:
        raise InputError(paths[0], None, None, "the shards hold no passages")
    if not gpu:
        _faiss_threads()
        index = MappedFlatIP(vectors, width)
    log.info("FAISS exact inner-product search over %d × %d vectors from %d shards (%s)", index.ntotal, width,
             len(paths), "GPU index" if gpu else "mapped shards, CPU")
    return ids, index


def _shard_ids(path: str | os.PathLike) -> list[str]:
    try:
        with np.load(path, allow_pickle=False) as data:
            return [str(x) for x in data["ids"]]
    except (KeyError, ValueError, OSError) as err:
        raise InputError(path, None, None, f"not an encoded shard with 'ids' and 'embeddings' ({err})") from err


def build_index(embeddings: np.ndarray, log_size: bool = True):
    """``IndexFlatIP`` over ``embeddings``, moved to all GPUs where faiss and CUDA allow."""
    import faiss

    _faiss_threads()
    index = faiss.IndexFlatIP(embeddings.shape[1])
    where = "CPU"
    if _gpu_faiss():
        index = faiss.index_cpu_to_all_gpus(index)
        where = f"{faiss.get_num_gpus()} GPU(s)"
    index.add(embeddings)
    if log_size:
        log.info("FAISS IndexFlatIP over %d × %d vectors on %s", embeddings.shape[0], embeddings.shape[1], where)
    else:
        log.info("FAISS IndexFlatIP of dimension %d on %s", embeddings.shape[1], where)
    return index
