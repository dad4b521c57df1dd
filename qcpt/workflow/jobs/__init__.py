"""What each rule's job reads and gets: one pure function per rule, ``rule(config, **wildcards)``.

A job function returns a :class:`Job`: its input files by name, its ``--params`` object, and the
other values of its command line. The rule of the same name only wires these to the command of
qcpt/cli.py it runs, so "which code makes this file?" is the rule, its job function (the module of
this package named like the rule file: rules/evaluate.smk -> jobs/evaluate.py) and the command's
module. Values are passed on as written in the config (not parsed), so a job's parameters, and hence
Snakemake's params rerun trigger, depend only on the config; qcpt.config.validate parses every
``params`` built here through the command's own dataclass before the first job runs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import bm25, corpus, data, evaluate, finetune, pretrain, publish, querygen, report
from .base import Job, as_json

# rule name -> its job function (the rules without one read fixed templates and take no params)
RULES: dict[str, Callable[..., Job]] = {
    "irds_cache": data.irds_cache,
    "documents": corpus.documents,
    "train_punkt": corpus.train_punkt,
    "build_encoder": corpus.build_encoder,
    "passages": corpus.passages,
    "passage_order": querygen.passage_order,
    "prepare_generator": querygen.prepare_generator,
    "generate_queries": querygen.generate_queries,
    "select_queries": querygen.select_queries,
    "pretrain": pretrain.pretrain,
    "prepare_collection": bm25.prepare_collection,
    "prepare_topics": bm25.prepare_topics,
    "bm25_index": bm25.bm25_index,
    "bm25_search": bm25.bm25_search,
    "bm25_negatives": bm25.bm25_negatives,
    "finetune": finetune.finetune,
    "mine_negatives": finetune.mine_negatives,
    "st_hard_negatives": finetune.st_hard_negatives,
    "encode": evaluate.encode,
    "search": evaluate.search,
    "evaluate": evaluate.evaluate,
    "evaluate_mean": evaluate.evaluate_mean,
    "audit_queries": report.audit_queries,
    "model_card": publish.model_card,
    "publish": publish.publish,
}


# rule name -> the `resources:` row of one of its jobs, for rules whose row depends on the job
FAMILIES: dict[str, Callable[..., str]] = {
    "generate_queries": querygen.generator_family,
    "finetune": finetune.finetune_family,
}


def family(config: dict[str, Any], rule: str, **wildcards: str) -> str:
    return FAMILIES[rule](config, **wildcards)


def job(config: dict[str, Any], rule: str, **wildcards: str) -> Job:
    """The job of ``rule`` for one set of wildcard values."""
    return RULES[rule](config, **wildcards)


__all__ = ["FAMILIES", "RULES", "family", "Job", "as_json", "bm25", "corpus", "data", "evaluate", "finetune", "job", "pretrain", "publish", "querygen", "report"]
