"""``scripts/qcpt.py querygen.driver``: sample a pool of queries for one shard of the passage order.

Runs under the workflow's interpreter (Hugging Face backends) or a separate one (a vLLM venv), so
its imports stay light: the standard library, tqdm and ``qcpt`` modules that need nothing else;
torch/transformers/vllm load inside the backend constructors.

Algorithm: render each passage's prompt, sample ``ceil(missing / queries_per_generation)``
sequences per passage, parse them into queries and add the new distinct ones to the passage's
pool; passages still short of ``pool_size`` are sampled again with a fresh seed, up to
``max_attempts`` rounds; what is still missing is recorded per passage in the stats. The seed of
every batch is derived from (seed, shard, attempt, batch), so a shard's output is reproducible and
independent of which other shards exist.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import math
import os
import platform
import sys
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from ..core import plugins
from ..core.io import InputError, atomic_open, read_jsonl, require_str, write_json
from .generators import registry as backend_registry
from .parsing import QueryFilter, QueryPool, parse_generation
from .prompts import echo_texts, passage_text, render_prompt, truncate_to_tokens
from .sharding import read_order, shard_bounds
from .spec import GeneratorSpec

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Passage:
    id: str
    title: str
    text: str


def derive_seed(*parts: object) -> int:
    """A 31-bit seed from any tuple of values (stable across runs, platforms and Python versions)."""
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") % (2**31 - 1)


def load_shard_passages(passages_path: str | os.PathLike, ids: list[str]) -> list[Passage]:
    """The passages of ``ids``, in the order of ``ids``."""
    wanted = set(ids)
    found: dict[str, Passage] = {}
    for lineno, row in read_jsonl(passages_path):
        pid = row.get("id")
        if pid is None or str(pid) not in wanted:
            continue
        pid = require_str(passages_path, lineno, row, "id")
        text = require_str(passages_path, lineno, row, "text")
        title = require_str(passages_path, lineno, row, "title", allow_empty=True) if row.get("title") is not None else ""
        found[pid] = Passage(pid, title, text)
    missing = [pid for pid in ids if pid not in found]
    if missing:
        raise InputError(
            passages_path, None, "id",
            f"{len(missing)} passage id(s) of the shard are not in the passages file (e.g. {missing[:3]}); "
            "was the order built from a different passages file?",
        )
    return [found[pid] for pid in ids]


def generate_pools(
    spec: GeneratorSpec,
    backend: Any,
    passages: list[Passage],
    shard: int,
    *,
    progress: bool = True,
) -> tuple[dict[str, QueryPool], dict[str, Any]]:
    """Fill a pool of up to ``spec.pool_size`` queries for every passage; returns pools and counters."""
    tokenizer = backend.tokenizer
    prompts: dict[str, str] = {}
    for p in passages:
        body = truncate_to_tokens(passage_text(p.title, p.text, spec.include_title), tokenizer, spec.max_input_tokens)
        prompts[p.id] = render_prompt(spec.prompt, body, tokenizer=tokenizer, examples=spec.few_shot_examples)
    single = spec.queries_per_generation == 1
    query_filter = QueryFilter(
        max_chars=spec.max_query_chars,
        max_words=spec.max_query_words,
        echo_texts=echo_texts(spec.prompt, spec.few_shot_examples),
    )
    pools = {p.id: QueryPool(spec.pool_size, distinct=spec.distinct_queries) for p in passages}
    counters = {"generated_tokens": 0, "sequences": 0, "truncated_sequences": 0, "attempts_used": 0}
    if not spec.distinct_queries:
        counters["empty_samples"] = 0  # raw samples that were blank (not kept)
    batch_index = 0
    # The raw reading samples once: pool_size sequences, each kept as it comes (no second round).
    for attempt in range(spec.max_attempts if spec.distinct_queries else 1):
        short = [p for p in passages if not pools[p.id].full]
        if not short:
            break
        counters["attempts_used"] = attempt + 1
        # Passages asking for the same number of sequences are batched together (HF generate
        # needs one num_return_sequences per call).
        by_n: dict[int, list[Passage]] = defaultdict(list)
        for p in short:
            by_n[math.ceil(pools[p.id].missing / spec.queries_per_generation)].append(p)
        bar = tqdm(total=len(short), desc=f"shard {shard} attempt {attempt + 1}", unit="passage",
                   disable=not progress, file=sys.stderr)
        for n in sorted(by_n):
            group = by_n[n]
            for start in range(0, len(group), spec.batch_size):
                batch = group[start:start + spec.batch_size]
                batch_seed = derive_seed(spec.seed, shard, attempt, batch_index)
                prompt_seeds = [derive_seed(spec.seed, shard, attempt, p.id) for p in batch]
                batch_index += 1
                results = backend.generate([prompts[p.id] for p in batch], n, batch_seed, prompt_seeds)
                for p, samples in zip(batch, results, strict=True):
                    for sample in samples:
                        counters["generated_tokens"] += sample.num_tokens
                        counters["sequences"] += 1
                        counters["truncated_sequences"] += int(sample.truncated)
                        if not spec.distinct_queries:  # the sample as it comes, stripped (query_gen.py)
                            raw = " ".join(sample.text.split())
                            counters["empty_samples"] += not raw
                            pools[p.id].add([raw] if raw else [])
                            continue
                        pools[p.id].add(parse_generation(
                            sample.text, single=single, truncated=sample.truncated,
                            query_filter=query_filter, prompt_text=prompts[p.id],
                        ))
                bar.update(len(batch))
        bar.close()
    return pools, counters


def write_pool_tsv(path: str | os.PathLike, passages: list[Passage], pools: dict[str, QueryPool]) -> int:
    rows = 0
    with atomic_open(path) as handle:
        for p in passages:
            for query in pools[p.id].queries:
                if "\t" in query or "\n" in query or "\r" in query:  # the parser guarantees this
                    raise AssertionError(f"query for {p.id} contains a tab or newline: {query!r}")
                handle.write(f"{p.id}\t{query}\n")
                rows += 1
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Generate a pool of queries for one shard of the passage order.")
    parser.add_argument("--passages", required=True, help="passages JSONL")
    parser.add_argument("--order", required=True, help="passage order (one id per line)")
    parser.add_argument("--shard", required=True, type=int, help="shard index (0-based)")
    parser.add_argument("--shard-size", required=True, type=int, help="passages per shard")
    parser.add_argument("--generator", required=True, help="generator spec: JSON object or path of a JSON file")
    parser.add_argument("--out", required=True, help="pool TSV: passage_id<TAB>query")
    parser.add_argument("--stats", required=True, help="stats JSON")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    spec = GeneratorSpec.from_json(args.generator)
    order = read_order(args.order)
    start, end = shard_bounds(args.shard, args.shard_size, len(order))
    passages = load_shard_passages(args.passages, order[start:end])
    log.info("shard %d: passages %d..%d of %d; generator %s (%s, %s, prompt %s)",
             args.shard, start, end - 1, len(order), spec.name, spec.backend, spec.model, spec.prompt)

    t0 = time.perf_counter()
    declared = backend_registry.get(spec.backend)
    if declared.reader is not None:  # e.g. published expansions: read, not sampled
        device = spec.backend
        load_seconds = 0.0
        pools, counters = plugins.function(declared.reader)(spec, [p.id for p in passages])
    else:
        backend = declared.load(spec)  # after input checks: loading a model is the slow part
        device = getattr(backend, "device", "unknown")
        load_seconds = time.perf_counter() - t0
        t0 = time.perf_counter()
        pools, counters = generate_pools(spec, backend, passages, args.shard, progress=not args.no_progress)
    seconds = time.perf_counter() - t0

    rows = write_pool_tsv(args.out, passages, pools)
    shortfall = [[p.id, len(pools[p.id])] for p in passages if not pools[p.id].full]
    stats = {
        "generator": spec.name,
        "backend": spec.backend,
        "model": spec.model,
        "prompt": spec.prompt,
        "seed": spec.seed,
        "shard": args.shard,
        "shard_size": args.shard_size,
        "first_position": start,
        "passages": len(passages),
        "queries": rows,
        "pool_size": spec.pool_size,
        "shortfall": len(shortfall),
        "shortfall_passages": shortfall,
        "seconds": round(seconds, 3),
        "load_seconds": round(load_seconds, 3),
        "passages_per_second": round(len(passages) / seconds, 4) if seconds > 0 else None,
        "generated_tokens_per_second": round(counters["generated_tokens"] / seconds, 2) if seconds > 0 else None,
        **counters,
        "device": device,
        "python": sys.executable,
        "host": platform.node(),
        "passages_file": str(Path(args.passages)),
        "order_file": str(Path(args.order)),
        "spec": spec.to_dict(),
    }
    write_json(args.stats, stats)
    log.info("shard %d: %d queries for %d passages in %.1fs (%d short of %d)",
             args.shard, rows, len(passages), seconds, len(shortfall), spec.pool_size)
    return 0
