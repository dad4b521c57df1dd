"""Jobs of rules/bm25.smk: collections, topics, BM25 index and runs, BM25 negatives."""

from __future__ import annotations

from typing import Any

from .. import grid
from ..defaults import setting
from .base import Job, paths
from .data import data_input


def prepare_collection(config: dict[str, Any], collection: str) -> Job:
    spec = config["collections"][collection]
    return Job({"source": data_input(config, spec["source"])}, args={"fmt": setting(config, "collections", collection, "format")})


def prepare_topics(config: dict[str, Any], topicset: str) -> Job:
    spec = grid.topic_sets(config)[topicset]
    return Job({"topics": data_input(config, spec["topics"]), "qrels": data_input(config, spec["qrels"])})


def bm25_index_job_params(config: dict[str, Any], collection: str) -> dict[str, Any]:
    # The layout (flat / multifield) is the collection's: the same `bm25.fields` reaches its searches.
    bm25 = config["collections"][collection].get("bm25", {})
    return {"fields": bm25["fields"]} if "fields" in bm25 else {}


def bm25_index(config: dict[str, Any], collection: str) -> Job:
    return Job({"collection": paths(config).of("collection", collection=collection)},
               bm25_index_job_params(config, collection))


def bm25_search_job_params(config: dict[str, Any], topicset: str) -> dict[str, Any]:
    spec = grid.topic_sets(config)[topicset]
    bm25 = config["collections"][spec["collection"]].get("bm25", {})
    # No thread count here: the rule passes its own (--threads {threads}); the run does not depend on it.
    return {**bm25, "depth": grid.search_depth(config, topicset, "bm25_depth"), "tag": "bm25"}


def bm25_search(config: dict[str, Any], topicset: str) -> Job:
    p = paths(config)
    collection = grid.topic_sets(config)[topicset]["collection"]
    inputs = {"index": p.of("bm25_index", collection=collection), "topics": p.of("topics", topicset=topicset)}
    return Job(inputs, bm25_search_job_params(config, topicset))


def training_topics(config: dict[str, Any], dataset: str) -> dict[str, str]:
    p, topicset = paths(config), grid.train_topicset(dataset)
    return {"topics": p.of("topics", topicset=topicset), "qrels": p.of("qrels", topicset=topicset)}


def bm25_negatives_job_params(config: dict[str, Any]) -> dict[str, Any]:
    def negatives(key: str) -> Any:
        return setting(config, "finetune", "negatives", key)

    params = {"depth": negatives("bm25_depth"), "keep": negatives("bm25_keep")}
    if params["keep"] is not None:  # a sample of the candidates (the QAC code: 128 of the official triples')
        params.update(selection=negatives("bm25_selection"), seed=setting(config, "seed"))
    return params


def bm25_negatives(config: dict[str, Any], dataset: str) -> Job:
    """Retriever 1's negatives: from the BM25 run of the training topics, or, where the dataset names a
    ``negatives_file`` (MS MARCO's official training triples, the QAC authors' get_data.sh), from it."""
    triples = config["finetune"]["datasets"][dataset].get("negatives_file")
    source = data_input(config, triples) if triples else paths(config).of("bm25_run", topicset=grid.train_topicset(dataset))
    inputs = {"run": source, **training_topics(config, dataset)}
    # The flag only (no path in a param): the file is the job's input `run`.
    return Job(inputs, bm25_negatives_job_params(config), {"source_flag": "--triples" if triples else "--run"})
