"""What rules/bm25.smk's jobs read and get beyond their templates: a collection's or topic set's
source and format, the BM25 settings, the run a dataset's BM25 negatives come from."""

from __future__ import annotations

from typing import Any

from ...corpus.jobs.data import data_input
from ...workflow import grid
from ...workflow.defaults import setting
from ...workflow.jobs import paths


def collection_source(config: dict[str, Any], collection: str) -> str:
    return data_input(config, config["collections"][collection]["source"])


def collection_format(config: dict[str, Any], collection: str) -> str:
    return setting(config, "collections", collection, "format")


def topics_source(config: dict[str, Any], topicset: str) -> str:
    return data_input(config, grid.topic_sets(config)[topicset]["topics"])


def qrels_source(config: dict[str, Any], topicset: str) -> str:
    return data_input(config, grid.topic_sets(config)[topicset]["qrels"])


def bm25_index_job_params(config: dict[str, Any], collection: str) -> dict[str, Any]:
    # The layout (flat / multifield) is the collection's: the same `bm25.fields` reaches its searches.
    bm25 = config["collections"][collection].get("bm25", {})
    return {"fields": bm25["fields"]} if "fields" in bm25 else {}


def topicset_bm25_index(config: dict[str, Any], topicset: str) -> str:
    """The BM25 index of the collection a topic set searches."""
    return paths(config).of("bm25_index", collection=grid.topic_sets(config)[topicset]["collection"])


def bm25_search_job_params(config: dict[str, Any], topicset: str) -> dict[str, Any]:
    spec = grid.topic_sets(config)[topicset]
    bm25 = config["collections"][spec["collection"]].get("bm25", {})
    # No thread count here: the rule passes its own (--threads {threads}); the run does not depend on it.
    return {**bm25, "depth": grid.search_depth(config, topicset, "bm25_depth"), "tag": "bm25"}


def bm25_negatives_job_params(config: dict[str, Any]) -> dict[str, Any]:
    def negatives(key: str) -> Any:
        return setting(config, "finetune", "negatives", key)

    params = {"depth": negatives("bm25_depth"), "keep": negatives("bm25_keep")}
    if params["keep"] is not None:  # a sample of the candidates (the QAC code: 128 of the official triples')
        params.update(selection=negatives("bm25_selection"), seed=setting(config, "seed"))
    return params


def official_triples(config: dict[str, Any], dataset: str) -> str | None:
    """The dataset's ``negatives_file`` (MS MARCO's official training triples, the QAC authors'
    get_data.sh) as a job input, None where it names none."""
    triples = config["finetune"]["datasets"][dataset].get("negatives_file")
    return data_input(config, triples) if triples else None


def bm25_negatives_source(config: dict[str, Any], dataset: str) -> str:
    """What retriever 1's negatives are cut from: the dataset's official triples where it names
    them, else the BM25 run of its training topics."""
    return official_triples(config, dataset) or paths(config).of("bm25_run", topicset=grid.train_topicset(dataset))
