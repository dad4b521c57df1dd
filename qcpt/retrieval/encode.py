"""``scripts/qcpt.py retrieval.encode``: encode shard I of N of a collection → ``.npz`` ``{ids, embeddings}``.

    scripts/qcpt.py retrieval.encode --model DIR --collection C --shard I --num-shards N --out shard.npz --params '{...}'

Shard I holds rows ``[⌊n·I/N⌋, ⌊n·(I+1)/N⌋)`` of the collection (contiguous, in file order), encoded
as ``title + " " + text`` up to ``max_len`` tokens. Pooling and normalisation default to what the
model folder declares (:func:`qcpt.retrieval.vectors.resolve_settings`). Batches group passages of
similar length (``length_sorted``) so little padding is computed; the log reports passages/s.
"""

from __future__ import annotations

import argparse
import logging
import os

import numpy as np

from ..core.io import InputError, atomic_path
from .data import iter_collection, passage_text, title_separator
from .params import EncodeParams, limit_torch_threads, parse_params, setup_logging
from .vectors import Throughput, default_device, encode_texts, load_encoder, resolve_settings

log = logging.getLogger(__name__)


def shard_bounds(n: int, shard: int, num_shards: int) -> tuple[int, int]:
    if num_shards < 1 or not 0 <= shard < num_shards:
        raise ValueError(f"shard must be in [0, {num_shards}), got {shard}")
    return n * shard // num_shards, n * (shard + 1) // num_shards


def save_shard(path: str | os.PathLike, ids: list[str], embeddings: np.ndarray) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:  # a handle: np.savez adds no ".npz"
        np.savez(handle, ids=np.array(ids, dtype=str), embeddings=embeddings.astype(np.float32, copy=False))


def load_shard(path: str | os.PathLike) -> tuple[list[str], np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as data:
            ids, embeddings = [str(x) for x in data["ids"]], np.asarray(data["embeddings"], dtype=np.float32)
    except (KeyError, ValueError, OSError) as err:
        raise InputError(path, None, None, f"not an encoded shard with 'ids' and 'embeddings' ({err})") from err
    if embeddings.ndim != 2 or embeddings.shape[0] != len(ids):
        raise InputError(path, None, "embeddings", f"shape {embeddings.shape} does not match {len(ids)} ids")
    return ids, embeddings


def encode_passages(model, tokenizer, rows: list, settings, *, batch_size: int, title_join: str,
                    length_sorted: bool = True, amp: bool = False, progress: bool = True,
                    desc: str = "encoding passages") -> np.ndarray:
    """Collection ``rows`` encoded as a shard holds them: title and text (``passage_text``) with the
    model's resolved ``settings`` (pooling, normalisation, passage length); retrieval.search's in-job
    encoding of a small collection calls this too."""
    separator = title_separator(title_join, tokenizer)
    return encode_texts(model, tokenizer, [passage_text(p.title, p.text, separator) for p in rows], max_len=settings.p_max_len,
                        batch_size=batch_size, pooling=settings.pooling, normalize=settings.normalize,
                        length_sorted=length_sorted, amp=amp, progress=progress, desc=desc)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Encode one shard of a collection → .npz.")
    parser.add_argument("--model", required=True, help="encoder folder or package:<module>/<path>")
    parser.add_argument("--collection", required=True)
    parser.add_argument("--shard", type=int, required=True)
    parser.add_argument("--num-shards", type=int, required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--params", default="{}", help="JSON: pooling, normalize, max_len, batch_size, length_sorted, amp")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    setup_logging()
    limit_torch_threads()
    params = parse_params(EncodeParams, args.params)
    try:
        n = sum(1 for _ in iter_collection(args.collection))
        lo, hi = shard_bounds(n, args.shard, args.num_shards)
        rows = [p for i, p in enumerate(iter_collection(args.collection)) if lo <= i < hi]
    except InputError as err:
        log.error("%s", err)
        return 2
    device = default_device()
    model, tokenizer, folder = load_encoder(args.model, device)
    settings = resolve_settings(folder, pooling=params.pooling, normalize=params.normalize, p_max_len=params.max_len)
    log.info("shard %d/%d: rows %d..%d of %d, on %s", args.shard, args.num_shards, lo, hi, n, device)
    clock = Throughput()
    embeddings = encode_passages(model, tokenizer, rows, settings, batch_size=params.batch_size, title_join=params.title_join,
                                 length_sorted=params.length_sorted, amp=params.amp, progress=not args.no_progress,
                                 desc=f"encoding shard {args.shard}")
    elapsed, rate = clock.rate(len(rows))
    save_shard(args.out, [p.docid for p in rows], embeddings)
    log.info("encoded %d passages in %.1f s (%.1f passages/s), dim %d → %s", len(rows), elapsed, rate,
             embeddings.shape[1], args.out)
    return 0
