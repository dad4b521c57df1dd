"""The DAG: every stage is declared, cells build only their ancestors, presets expand to their grid."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from conftest import ROOT, dry_run, fake_inputs, snakemake

from qcpt import config as qconfig

STAGE_RULES = {
    "documents", "train_punkt", "build_encoder", "passages", "passage_order", "prepare_generator",
    "generate_queries", "index_passages", "select_queries", "pretrain", "prepare_collection", "prepare_topics",
    "bm25_index", "bm25_search", "bm25_negatives", "finetune", "mine_negatives", "encode", "search",
    "evaluate", "summary", "report", "all",
}


def _demo_dry_run(tmp_path: Path, *targets: str, config_file: str | None = None) -> dict[str, int]:
    """A dry run of the demo (or a demo preset) writing (in principle) under tmp_path, so built files
    don't interfere."""
    results = tmp_path / "results"
    preset = ["--configfile", str(ROOT / config_file)] if config_file else []
    return dry_run(*(str(results / t) for t in targets), *preset, "--config", f"results={results}")


def test_demo_dry_run_shows_the_papers_main_comparisons(tmp_path):
    counts = _demo_dry_run(tmp_path)
    # MiniLM is the init (no build_encoder) and each search job encodes the 300 passages (no encode).
    assert STAGE_RULES - {"build_encoder", "encode"} <= set(counts), f"missing stages: {STAGE_RULES - set(counts)}"
    assert "build_encoder" not in counts and "encode" not in counts
    # contrastive span and query (d2q, C=5) on 3 seeds, CoT-MAE query, bottleneck stage 1 + curriculum
    assert counts["pretrain"] == 3 * 2 + 1 + 2
    assert counts["select_queries"] == 2  # d2q C=5, smollm2 C=5 over 16 passages
    assert counts["generate_queries"] == 1 + 1  # d2q: 300 passages in one shard; smollm2: 16 passages
    assert counts["finetune"] == 2 * 3 and counts["mine_negatives"] == 3  # the query cell's retrievers, per seed
    # zero-shot: MiniLM + 8 pre-trained cells; fine-tuned per seed: 2 on the test set + 1 on the training topics
    assert counts["search"] == 1 + 8 + 3 * (2 + 1)
    assert counts["model_card"] == 9 + 6  # every trained model folder (stage 1 included) has its card
    assert "publish" not in counts  # bundles are built on request only


def test_demo_full_preset_lists_every_stage(tmp_path):
    counts = _demo_dry_run(tmp_path, config_file="configs/demo-full.yaml")
    assert STAGE_RULES - {"build_encoder"} <= set(counts), f"missing stages: {STAGE_RULES - set(counts)}"
    # 3 schemas x {span, query, mixed} + query C=1 + curriculum (one stage 1, stage 2 for C = 1 and 5)
    assert counts["pretrain"] == 13
    assert counts["select_queries"] == 4  # two generators x two query counts
    assert counts["generate_queries"] == 5 + 2  # d2q: 300 passages / 64 per shard; smollm2: 32 passages / 16
    assert counts["encode"] == 2 * counts["search"] - 6  # two shards per model; 6 of 22 searches share a model's


def test_one_metrics_file_builds_only_its_ancestors(tmp_path):
    counts = _demo_dry_run(tmp_path, "eval/demo-test/zeroshot/pt/demo/contrastive/span/metrics.json")
    assert counts == {
        "documents": 1, "train_punkt": 1, "passages": 1, "pretrain": 1,
        "prepare_collection": 1, "prepare_topics": 1, "search": 1, "evaluate": 1,
    }


def test_one_finetuned_cell_builds_its_chain_only(tmp_path):
    target = "eval/demo-test/demo/pt/demo/cotmae/query-d2q-c5-nall/retriever2/metrics.json"
    counts = _demo_dry_run(tmp_path, target)
    assert counts["pretrain"] == 1 and counts["finetune"] == 2 and counts["mine_negatives"] == 1
    assert counts["generate_queries"] == 1 and counts["select_queries"] == 1
    assert "summary" not in counts and "encode" not in counts


def _preset_dry_run(tmp_path: Path, preset: str, *targets: str) -> dict[str, int]:
    config_path = ROOT / "configs" / f"{preset}.yaml"
    fake_inputs(config_path, tmp_path)
    return dry_run("--configfile", str(config_path), "--directory", str(tmp_path), *targets, cwd=tmp_path)


def test_query_as_context_grid(tmp_path):
    counts = _preset_dry_run(tmp_path, "query-as-context")
    cells = 2 * (1 + 4 + 1)  # {coCondenser, CoT-MAE} x {span, query C in 1/5/10/20, mixed C=5}
    encoders = cells + 1  # + BERT-base without pre-training
    assert counts["pretrain"] == cells
    assert counts["generate_queries"] == 89  # ceil(8,841,823 / 100,000)
    assert counts["select_queries"] == 4
    # + Table 2's BEIR retriever (one stage on sentence-transformers' hard negatives) of 4 encoders,
    # a rule of its own (finetune_beir) so halving the Tevatron GPUs leaves its one GPU alone
    assert counts["finetune"] == 2 * encoders and counts["finetune_beir"] == 4
    assert counts["mine_negatives"] == encoders
    assert counts["st_hard_negatives"] == 1
    # 14 BEIR sets; CQADupStack is the mean (evaluate_mean) of 12 sub-forums, each its own collection.
    beir, forums = 13, 12
    assert counts["evaluate"] == 3 + encoders * 2 * 3 + 4 * (beir + forums)
    assert counts["evaluate_mean"] == 4
    assert counts["encode"] == encoders * 2 * 8 + 4 * (beir * 4 + forums)
    assert counts["search"] == encoders * 2 * 3 + 4 * (beir + forums) + encoders  # + train-query mining runs
    assert counts["prepare_topics"] == 3 + beir + forums + 2  # + train-msmarco, train-msmarco-beir


def test_llm_expansion_grid(tmp_path):
    counts = _preset_dry_run(tmp_path, "llm-expansion")
    amounts = 7
    cells = 2 * (1 + 3 + amounts)  # {contrastive, bottleneck} x {span, 3 LLMs, curriculum amounts}
    assert counts["pretrain"] == cells + 2  # + one shared stage 1 per schema
    assert counts["generate_queries"] == 3 * 89
    assert counts["select_queries"] == 3 + (amounts - 1)
    external = 3  # the re-run baselines SimCSE, coCondenser, Contriever (ext/ encoders)
    encoders = cells + 1 + external
    assert counts["finetune"] == 2 * encoders and counts["mine_negatives"] == encoders
    # 14 BEIR sets; CQADupStack is the mean (evaluate_mean) of 12 sub-forums, each its own collection.
    beir_runs = 13 + 12
    bm25 = 3 + beir_runs  # Tables 1 and 3 (BM25 column)
    assert counts["evaluate"] == bm25 + (4 + amounts) * 3 + 4 * beir_runs + external * (3 + beir_runs) + encoders * 3
    assert counts["evaluate_mean"] == 1 + 4 + external
    assert counts["bm25_index"] == 1 + beir_runs


def test_curriculum_amount_uses_a_prefix_of_shards(tmp_path):
    target = "results/llm-expansion/corpus/msmarco_passage/queries/alpaca_13b/c10-n400000.tsv"
    counts = _preset_dry_run(tmp_path, "llm-expansion", target)
    assert counts["generate_queries"] == 4 and counts["select_queries"] == 1


def _demo_config() -> dict:
    return yaml.safe_load((ROOT / "config.yaml").read_text())


def test_unknown_key_is_named():
    cfg = _demo_config()
    cfg["pretrain"]["grid"][0]["shcema"] = ["contrastive"]
    with pytest.raises(qconfig.ConfigError, match=r"pretrain\.grid\.0.*shcema"):
        qconfig.validate(cfg)


def test_wrong_type_is_named():
    cfg = _demo_config()
    cfg["querygen"]["shard_size"] = "many"
    with pytest.raises(qconfig.ConfigError, match=r"querygen\.shard_size"):
        qconfig.validate(cfg)


def test_dangling_reference_is_named():
    cfg = _demo_config()
    cfg["evalsets"]["demo-test"]["collection"] = "nope"
    with pytest.raises(qconfig.ConfigError, match=r"evalsets\.demo-test\.collection.*'nope'"):
        qconfig.validate(cfg)


def test_snakemake_refuses_a_bad_config_before_any_job(tmp_path):
    cfg = _demo_config()
    cfg["passages"]["max_tokenz"] = 144
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(cfg))
    proc = snakemake("-n", "--cores", "1", "--configfile", str(bad), check=False)
    assert proc.returncode != 0
    assert "passages" in proc.stderr + proc.stdout and "max_tokenz" in proc.stderr + proc.stdout
    assert "invalid configuration" in proc.stderr + proc.stdout


def test_context_tags_round_trip():
    for tag in ["span", "query-d2q-c5-nall", "mixed-alpaca_7b-c10-n50000",
                "curriculum-f0.75-alpaca_13b-c10-n400000", "stage1-f0.75"]:
        assert qconfig.parse_context(tag).tag == tag
    with pytest.raises(qconfig.ConfigError):
        qconfig.parse_context("query-c5")


def test_zero_shot_encodes_like_fine_tuning(tmp_path):
    """encoder.pooling: MiniLM (which declares normalised mean pooling over 256 tokens) and the
    pre-trained cells are encoded at zero-shot as fine-tuning encodes, in both the sharded encode
    jobs and the search jobs; encode.py is given no query length."""
    results = tmp_path / "results"
    proc = snakemake("-n", "-p", "--cores", "2", str(results / "eval/demo-test/zeroshot/base/metrics.json"),
                     "--configfile", str(ROOT / "configs/demo-full.yaml"), "--config", f"results={results}")
    commands = [line for line in proc.stdout.splitlines() if " retrieval.encode@" in line or " retrieval.search@" in line]
    assert len(commands) == 3, commands  # two shards, one search
    for line in commands:
        assert '"pooling":"cls"' in line and '"normalize":false' in line and '"max_len":144' in line, line
        assert ('"q_max_len":32' in line) == (" retrieval.search@" in line), line
