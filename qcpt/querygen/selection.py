"""``scripts/qcpt.py querygen.selection``: the first C queries per passage from pool shards, optionally cut to a
curriculum amount.

Shards are concatenated in the given order (the Snakefile passes ``shard-0 ... shard-k``); within a
passage the pool is in generation order, so "first C" is the same subset for every cell and a
larger C is a superset of a smaller one. An amount of N passages keeps the passages among the first N
ids of the order file (positions, not rows: a passage whose pool came out empty still uses up its
position, so every amount means the same passages for every generator).
"""

from __future__ import annotations

import argparse
import logging
import os
from collections import Counter
from dataclasses import dataclass

from ..core.io import InputError, atomic_open, write_json
from .params import parse_params
from .pools import read_pool_shard, read_query_rows
from .sharding import read_order

log = logging.getLogger(__name__)


@dataclass
class SelectParams:
    amount: int | str | None = None  # passages of the order to keep; None or "all" keeps every one
    # The config's corpus.num_passages: generation shards were laid out for this many passages, so an
    # "all" selection checks it against the real order, which would otherwise lose the tail silently.
    expected_passages: int | None = None

    def __post_init__(self) -> None:
        if self.amount == "all":
            self.amount = None
        if self.amount is not None and (isinstance(self.amount, bool) or not isinstance(self.amount, int) or self.amount < 1):
            raise ValueError(f"amount must be a positive integer, \"all\" or null, got {self.amount!r}")


def select_queries(
    shards: list[str], count: int, out: str | os.PathLike, *, keep_ids: set[str] | None = None
) -> dict:
    """Write the first ``count`` queries per passage of ``shards`` (restricted to ``keep_ids``)."""
    if count < 1:
        raise ValueError(f"--count must be >= 1, got {count}")
    per_passage: Counter[str] = Counter()
    finished: set[str] = set()  # passages whose rows are behind us: they must not reappear
    current: str | None = None
    rows = 0
    with atomic_open(out) as handle:
        for shard in shards:
            for lineno, pid, query in read_pool_shard(shard):
                if pid != current:
                    if pid in finished:
                        raise InputError(shard, lineno, "passage_id",
                                         f"passage {pid!r} appears again after other passages (shards overlap or rows are not grouped)")
                    if current is not None:
                        finished.add(current)
                    current = pid
                if keep_ids is not None and pid not in keep_ids:
                    continue
                if per_passage[pid] >= count:
                    continue
                per_passage[pid] += 1
                handle.write(f"{pid}\t{query}\n")
                rows += 1
    histogram = Counter(per_passage.values())
    return {
        "shards": [str(s) for s in shards],
        "count": count,
        "passages": len(per_passage),
        "queries": rows,
        "passages_short": sum(1 for n in per_passage.values() if n < count),
        "queries_per_passage": {str(k): histogram[k] for k in sorted(histogram)},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Keep the first C queries per passage of generated pool shards.")
    parser.add_argument("--shards", nargs="+", required=True, help="pool shard TSVs, in shard order")
    parser.add_argument("--count", type=int, required=True, help="queries kept per passage (C)")
    parser.add_argument("--out", required=True, help="queries TSV")
    parser.add_argument("--stats", required=True, help="stats JSON")
    parser.add_argument("--order", help="passage order file; required when params.amount is set")
    parser.add_argument("--params", default="{}", help='JSON, e.g. {"amount": 400000} (null/"all" keeps all)')
    parser.add_argument("--consistency-index", help="BM25 index of the passages (querygen.consistency:index): records "
                        "round-trip consistency@k of the selected queries in the stats")
    parser.add_argument("--consistency", default="{}", help="JSON ConsistencyParams: depth, max_queries, seed, k1, b")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    params = parse_params(SelectParams, args.params)
    consistency_params = None
    if args.consistency_index:
        from .consistency import ConsistencyParams

        consistency_params = parse_params(ConsistencyParams, args.consistency)  # checked before any work

    if params.expected_passages is not None:
        if not args.order:
            raise ValueError("params.expected_passages needs --order")
        actual = len(read_order(args.order))
        if actual != params.expected_passages:
            raise ValueError(
                f"{args.order}: the corpus has {actual} passages but the config's corpus.num_passages is "
                f"{params.expected_passages}; set corpus.num_passages: {actual} so the generation shards cover it"
            )
    keep_ids = None
    if params.amount is not None:
        if not args.order:
            raise ValueError("params.amount needs --order (the passage order the shards were cut from)")
        keep_ids = set(read_order(args.order, limit=params.amount))
        if len(keep_ids) < params.amount:
            log.warning("amount %d exceeds the order's %d passages; keeping all", params.amount, len(keep_ids))
    stats = select_queries(args.shards, args.count, args.out, keep_ids=keep_ids)
    stats["amount"] = params.amount
    if keep_ids is not None:
        stats["passages_without_queries"] = len(keep_ids) - stats["passages"]
    if consistency_params is not None:
        from .consistency import round_trip_consistency

        record = round_trip_consistency(read_query_rows(args.out), args.consistency_index, consistency_params,
                                        source=args.out)
        key = f"consistency@{consistency_params.depth}"
        stats[key] = record[key]  # top level: the number a reader looks for
        stats["consistency"] = {**record, "index": str(args.consistency_index)}
        log.info("%s = %s over %d of %d queries", key, record[key], record["queries_searched"], record["queries_total"])
    write_json(args.stats, stats)
    log.info("kept %d queries for %d passages (C=%d, amount=%s); %d passages have fewer than C",
             stats["queries"], stats["passages"], args.count, params.amount, stats["passages_short"])
    return 0
