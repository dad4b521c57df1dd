"""The passage order and the shards cut from it.

Generation runs over a fixed seeded permutation of passage ids. Shard ``i`` is
``order[i*S:(i+1)*S]``; a curriculum amount ``N`` is the first ``ceil(N/S)`` shards, cut to the first
``N`` passages, so every amount is a prefix of the same shards and cells share them.
"""

from __future__ import annotations

import math
import os
import random
from collections.abc import Sequence
from dataclasses import dataclass

from ..core.io import InputError, atomic_open


def num_shards(num_passages: int, shard_size: int) -> int:
    """How many shards of ``shard_size`` cover ``num_passages`` (the last one may be short)."""
    _check_positive("shard_size", shard_size)
    if num_passages < 0:
        raise ValueError(f"num_passages must be >= 0, got {num_passages}")
    return math.ceil(num_passages / shard_size)


def shards_for_amount(amount: int, shard_size: int) -> int:
    """How many leading shards a curriculum amount of ``amount`` passages needs."""
    _check_positive("amount", amount)
    return num_shards(amount, shard_size)


def shard_bounds(shard: int, shard_size: int, num_passages: int) -> tuple[int, int]:
    """``[start, end)`` positions of ``shard`` in an order of ``num_passages`` ids."""
    _check_positive("shard_size", shard_size)
    total = num_shards(num_passages, shard_size)
    if shard < 0 or shard >= total:
        raise ValueError(
            f"shard {shard} does not exist: the order has {num_passages} passages, i.e. "
            f"{total} shard(s) of {shard_size} (valid shards: 0..{total - 1})"
        )
    start = shard * shard_size
    return start, min(start + shard_size, num_passages)


def shard_ids(order: Sequence[str], shard: int, shard_size: int) -> list[str]:
    start, end = shard_bounds(shard, shard_size, len(order))
    return list(order[start:end])


def _check_positive(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


# --------------------------------------------------------------------------- the order file


def make_passage_order(passage_ids: Sequence[str], seed: int) -> list[str]:
    """A seeded permutation of the ids (``random.Random(seed).shuffle``: stable across platforms)."""
    order = list(passage_ids)
    random.Random(seed).shuffle(order)
    return order


def read_order(path: str | os.PathLike, limit: int | None = None) -> list[str]:
    """The ids of an order file, checked for blanks and duplicates; only the first ``limit`` if given."""
    ids: list[str] = []
    seen: set[str] = set()
    with open(path, encoding="utf-8") as handle:
        for lineno, line in enumerate(handle, start=1):
            if limit is not None and len(ids) >= limit:
                break
            pid = line.rstrip("\r\n")
            if not pid.strip() or pid != pid.strip() or "\t" in pid:
                raise InputError(path, lineno, "passage_id", f"not a clean passage id: {pid!r}")
            if pid in seen:
                raise InputError(path, lineno, "passage_id", f"duplicate passage id {pid!r}")
            seen.add(pid)
            ids.append(pid)
    if not ids:
        raise InputError(path, None, None, "the passage order is empty")
    return ids


def write_order(path: str | os.PathLike, order: Sequence[str]) -> None:
    with atomic_open(path) as handle:
        for pid in order:
            handle.write(pid + "\n")


# --------------------------------------------------------------------------- querygen.sharding


@dataclass
class OrderParams:
    seed: int = 42
    # The config's corpus.num_passages, which laid out the generation shards when the DAG was built:
    # a corpus that splits into another count fails here, before any query is generated.
    expected_passages: int | None = None


def main(argv: list[str] | None = None) -> int:
    import argparse
    import logging

    from ..core.io import read_jsonl, require_str
    from .params import parse_params

    parser = argparse.ArgumentParser(description="Write the seeded permutation of passage ids that defines generation shards.")
    parser.add_argument("--passages", required=True, help="passages JSONL ({id, doc_id, title, text, n_tokens})")
    parser.add_argument("--out", required=True, help="order file: one passage id per line")
    parser.add_argument("--params", default="{}", help='JSON, e.g. {"seed": 42}')
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    params = parse_params(OrderParams, args.params)

    ids: list[str] = []
    seen: set[str] = set()
    for lineno, row in read_jsonl(args.passages):
        pid = require_str(args.passages, lineno, row, "id")
        if pid in seen:
            raise InputError(args.passages, lineno, "id", f"duplicate passage id {pid!r}")
        if pid != pid.strip() or "\t" in pid or "\n" in pid:
            raise InputError(args.passages, lineno, "id", f"passage id {pid!r} has surrounding whitespace or a tab")
        seen.add(pid)
        ids.append(pid)
    if not ids:
        raise InputError(args.passages, None, None, "no passages")
    if params.expected_passages is not None and len(ids) != params.expected_passages:
        raise InputError(args.passages, None, None,
                         f"the corpus split into {len(ids)} passages but the config's corpus.num_passages is "
                         f"{params.expected_passages}: set corpus.num_passages: {len(ids)} (the generation shards "
                         "are laid out from it) and rerun; nothing was generated yet")
    write_order(args.out, make_passage_order(ids, params.seed))
    logging.getLogger(__name__).info("wrote order of %d passages (seed %d) to %s", len(ids), params.seed, args.out)
    return 0
