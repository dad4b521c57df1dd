"""The workflow for real, on a trimmed demo grid: builds every kind of artifact, reruns exactly what
changed, and refuses a malformed corpus without writing anything downstream."""

from __future__ import annotations

import json
import shutil

import pytest
import yaml
from conftest import ROOT, dry_run, snakemake, tiny_config


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("e2e")
    documents = tmp / "documents.jsonl"
    shutil.copy(ROOT / "qcpt/data/demo/documents.jsonl", documents)
    cfg = tiny_config(tmp, documents)
    snakemake("--cores", "2", "--configfile", str(cfg), timeout=1200)
    return tmp, cfg, documents


def test_every_kind_of_artifact_is_built(built):
    tmp, _, _ = built
    r = tmp / "results"
    passages = [json.loads(line) for line in (r / "corpus/demo/passages.jsonl").read_text().splitlines()]
    assert passages and all(p["n_tokens"] <= 144 for p in passages)
    queries = (r / "corpus/demo/queries/d2q/c2-nall.tsv").read_text().splitlines()
    assert queries and all(len(line.split("\t")) == 2 for line in queries)
    for model in ["pretrain/demo/contrastive/span/model", "pretrain/demo/contrastive/query-d2q-c2-nall/model",
                  "finetune/demo/pt/demo/contrastive/query-d2q-c2-nall/retriever2/model"]:
        assert (r / model / "config.json").is_file(), model
    assert (r / "data/demo/bm25-index").is_dir()
    assert (r / "finetune/demo/bm25-negatives.jsonl").stat().st_size > 0
    assert (r / "finetune/demo/pt/demo/contrastive/query-d2q-c2-nall/mined-negatives.jsonl").stat().st_size > 0
    run = (r / "bm25/demo-test.trec").read_text().splitlines()
    assert run and len(run[0].split()) == 6
    metrics = json.loads((r / "eval/demo-test/bm25/metrics.json").read_text())
    assert set(metrics["measures"]) >= {"MRR@10", "R@50", "R@1000", "nDCG@10"}
    assert 0.2 < metrics["measures"]["nDCG@10"] <= 1.0  # BM25 on the demo: good, not perfect
    assert "| demo-test | bm25 |" in (r / "summary.md").read_text()
    assert list((r / "logs").rglob("*.log"))


def test_nothing_changed_runs_nothing(built):
    _, cfg, _ = built
    assert dry_run("--configfile", str(cfg)) == {}


def test_changing_one_cells_parameter_reruns_only_that_cell(built):
    tmp, cfg, _ = built
    changed = yaml.safe_load(cfg.read_text())
    changed["pretrain"]["schemas"]["contrastive"]["learning_rate"] = 5.0e-4
    path = tmp / "changed.yaml"
    path.write_text(yaml.safe_dump(changed))
    target = tmp / "results/eval/demo-test/zeroshot/pt/demo/contrastive/span/metrics.json"
    assert dry_run(str(target), "--configfile", str(path)) == {
        "pretrain": 1, "encode": 1, "search": 1, "evaluate": 1,
    }


def test_changing_the_corpus_reruns_everything_downstream(built):
    _, cfg, documents = built
    with documents.open("a", encoding="utf-8") as handle:
        handle.write('{"id": "d9998", "title": "Added", "text": "A document added after the build."}\n')
    counts = dry_run("--configfile", str(cfg))
    assert counts["documents"] == 1 and counts["prepare_collection"] == 1
    for rule in ["passages", "pretrain", "generate_queries", "bm25_index", "finetune", "evaluate", "summary"]:
        assert counts.get(rule), f"{rule} not rerun after touching the corpus"


def test_malformed_corpus_fails_with_location_and_writes_nothing(tmp_path):
    documents = tmp_path / "documents.jsonl"
    lines = (ROOT / "qcpt/data/demo/documents.jsonl").read_text().splitlines()[:20]
    lines[6] = '{"id": "d9999", "title": "x", "text": ""}'
    documents.write_text("\n".join(lines) + "\n")
    cfg = tiny_config(tmp_path, documents)
    proc = snakemake("--cores", "1", "--configfile", str(cfg), "--keep-going", check=False)
    assert proc.returncode != 0
    log = (tmp_path / "results/logs/corpus/demo/documents.log").read_text()
    assert str(documents) in log and "line 7" in log and "text" in log
    assert not (tmp_path / "results/corpus/demo/documents.jsonl").exists()
    assert not (tmp_path / "results/corpus/demo/passages.jsonl").exists()
