"""The retrieval stage's declaration (:mod:`qcpt.workflow.stages`): collections and evaluation sets,
BM25, fine-tuning and its negatives, encoding, dense search and evaluation (rules/bm25.smk,
finetune.smk, evaluate.smk)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..workflow import cells, grid
from ..workflow.stages import ParamsBlock, Stage
from .bm25 import SearchParams as BM25SearchParams
from .evaluate import EvaluateParams
from .jobs import bm25 as bm25_jobs
from .jobs import evaluate as evaluate_jobs
from .jobs import finetune as finetune_jobs
from .params import DenseSearchParams, EncodeParams, FinetuneParams
from .train_data import TrainDataParams

SEED_ORIGIN = {"seed": "seed"}


def finetune_params(config: dict[str, Any]) -> Iterator[ParamsBlock]:
    for dataset, ds_spec in config["finetune"]["datasets"].items():
        settings = finetune_jobs.finetune_settings(config, dataset)
        origin = {} if "seed" in settings else dict(SEED_ORIGIN)
        # A dataset's own params override finetune.params: name the key where the bad value came from.
        origin.update({k: f"finetune.datasets.{dataset}.params.{k}" for k in ds_spec.get("params", {})})
        yield ParamsBlock("finetune.params", finetune_jobs.finetune_job_params(config, dataset), FinetuneParams,
                          origin=origin)
        for retriever, retriever_params in config["finetune"].get("stage_params", {}).items():
            retriever_origin = {**origin, **{k: f"finetune.stage_params.{retriever}.{k}" for k in retriever_params
                                             if k not in ds_spec.get("params", {})}}
            yield ParamsBlock("finetune.params", finetune_jobs.finetune_job_params(config, dataset, stage=retriever),
                              FinetuneParams, origin=retriever_origin)
    yield ParamsBlock("finetune.negatives", bm25_jobs.bm25_negatives_job_params(config), TrainDataParams,
                      origin={"depth": "finetune.negatives.bm25_depth", "keep": "finetune.negatives.bm25_keep",
                              "selection": "finetune.negatives.bm25_selection"})
    yield ParamsBlock("finetune.negatives", finetune_jobs.mined_negatives_job_params(config, None), TrainDataParams,
                      origin={"depth": "finetune.negatives.mined_depth", "keep": "finetune.negatives.mined_keep"})


def search_params(config: dict[str, Any]) -> Iterator[ParamsBlock]:
    for topicset, spec in grid.topic_sets(config).items():
        depth_key = ("finetune.negatives.bm25_depth" if grid.training_dataset(config, topicset)
                     else f"evalsets.{topicset}.depth")
        yield ParamsBlock(f"collections.{spec['collection']}.bm25", bm25_jobs.bm25_search_job_params(config, topicset),
                          BM25SearchParams, origin={"depth": depth_key})
    for name in config.get("external_encoders", {}):
        where = f"external_encoders.{name}"
        key = cells.model_key(cells.ZEROSHOT, cells.external(name)).key
        yield ParamsBlock(where, evaluate_jobs.encode_shard_job_params(config, key, None), EncodeParams)
        for topicset in grid.topic_sets(config):
            depth_key = ("finetune.negatives.mined_depth" if grid.training_dataset(config, topicset)
                         else f"evalsets.{topicset}.depth")
            yield ParamsBlock(where, evaluate_jobs.dense_search_job_params(config, topicset, key), DenseSearchParams,
                              origin={"depth": depth_key})
    for evalset in config["evalsets"]:
        yield ParamsBlock(f"evalsets.{evalset}", evaluate_jobs.evaluate_job_params(config, evalset, None),
                          EvaluateParams)


def job_params(config: dict[str, Any]) -> Iterator[ParamsBlock]:
    yield from finetune_params(config)
    yield from search_params(config)


STAGE = Stage(
    name="retrieval",
    config_keys=("collections", "evalsets", "finetune", "external_encoders", "evaluation"),
    params_blocks={"finetune.params": FinetuneParams, "finetune.datasets.<name>.params": FinetuneParams,
                   "finetune.stage_params.<name>": FinetuneParams},
    params=job_params,
)
