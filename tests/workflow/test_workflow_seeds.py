"""Seed replicates as a grid axis: the -s<seed> context suffix, the config seed's names unchanged,
replicates found per cell, and each replicate's jobs seeded with its own seed."""

from __future__ import annotations

import pytest
import yaml
from conftest import ROOT

from qcpt import config as qconfig
from qcpt.pretrain import jobs as pretrain_jobs
from qcpt.retrieval.jobs import finetune as finetune_jobs
from qcpt.workflow import cells, grid


@pytest.mark.parametrize("tag", ["span-s43", "query-d2q-c5-nall-s7", "curriculum-f0.75-g-c10-n400-s44", "stage1-f0.75-s43"])
def test_seeded_tags_round_trip(tag):
    ctx = cells.parse_context(tag)
    assert ctx.tag == tag and ctx.seed == int(tag.rsplit("-s", 1)[1])
    assert ctx.with_seed(None).seed is None and not ctx.with_seed(None).tag.endswith(tag[tag.rindex("-s"):])


def test_a_replicate_keeps_its_seed_through_stage1_and_counterpart():
    ctx = cells.parse_context("curriculum-f0.75-g-c10-n400-s44")
    assert ctx.stage1().tag == "stage1-f0.75-s44"
    assert cells.counterpart("demo/pt/demo/contrastive/query-d2q-c5-nall-s43/retriever2") == \
        "demo/pt/demo/contrastive/span-s43/retriever2"
    assert cells.counterpart("zeroshot/pt/demo/contrastive/span-s43") is None


def _config(**block_seeds) -> dict:
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    for block in config["pretrain"]["grid"]:
        block.pop("seeds", None)  # the demo's own seeds: these tests set their own
    for i, seeds in block_seeds.items():
        config["pretrain"]["grid"][int(i[1:])]["seeds"] = seeds
    return qconfig.validate(config)


def test_the_default_seed_keeps_its_paths_and_replicates_are_listed_by_seed():
    plain, seeded = _config(), _config(b0=[44, 42, 43])
    assert grid.metrics_targets(plain) == [t for t in grid.metrics_targets(seeded) if "-s4" not in t]
    system = "demo/pt/demo/contrastive/span/retriever1"
    assert grid.seed_replicates(seeded, system) == [system, system.replace("span", "span-s43"),
                                                    system.replace("span", "span-s44")]
    assert grid.seed_replicates(plain, system) == [system]
    assert grid.seed_replicates(seeded, "bm25") == ["bm25"]


def test_each_replicates_jobs_get_its_seed():
    config = _config(b0=[42, 43])
    assert pretrain_jobs.cell_job_params(config, "contrastive", "span-s43")["seed"] == 43
    assert pretrain_jobs.cell_job_params(config, "contrastive", "span")["seed"] == 42
    replicate = "pt/demo/contrastive/span-s43"
    assert finetune_jobs.finetune_job_params(config, "demo", replicate, "retriever1")["seed"] == 43
    assert finetune_jobs.mining_job_params(config, "demo", replicate)["seed"] == 43


def test_seeds_must_be_a_list_of_distinct_integers():
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    config["seeds"] = [42, 42]
    with pytest.raises(qconfig.ConfigError, match="seeds"):
        qconfig.validate(config)
