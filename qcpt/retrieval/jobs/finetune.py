"""What rules/finetune.smk's jobs read and get beyond their templates: the two retrievers of a
fine-tuning dataset (training data, initial encoder, settings) and their negatives."""

from __future__ import annotations

from typing import Any

from ...core.params import ConfigError
from ...workflow import cells
from ...workflow.defaults import setting
from ...workflow.jobs import describe_batch, encoder_model, paths


def encoder_seed(config: dict[str, Any], encoder: str | None) -> int:
    """The seed of the jobs fine-tuning ``encoder``: a seed replicate's own (its cell is made once
    per seed, fine-tuning included), else the config's."""
    parsed = cells.parse_encoder(encoder) if encoder else None
    seed = cells.parse_context(parsed.context).seed if parsed and parsed.kind == "pt" else None
    return setting(config, "seed") if seed is None else seed


def mined_negatives_job_params(config: dict[str, Any], merge_with: str | None, encoder: str | None = None) -> dict[str, Any]:
    def negatives(key: str) -> Any:
        return setting(config, "finetune", "negatives", key)

    params = {"depth": negatives("mined_depth"), "keep": negatives("mined_keep"),
              "selection": negatives("mined_selection"), "seed": encoder_seed(config, encoder), "merge_with": merge_with}
    if negatives("mined_depth_counts") != "hits":  # the authors' cut: the first mined_depth non-positives
        params["depth_counts"] = negatives("mined_depth_counts")
    return params


def merged_bm25_negatives(config: dict[str, Any], dataset: str) -> list[str]:
    """The dataset's BM25 negatives where mined negatives merge them (``merge_bm25``), else nothing."""
    return [paths(config).of("bm25_negatives", dataset=dataset)] if setting(config, "finetune", "negatives", "merge_bm25") else []


def mining_job_params(config: dict[str, Any], dataset: str, encoder: str) -> dict[str, Any]:
    merged = merged_bm25_negatives(config, dataset)
    return mined_negatives_job_params(config, merged[0] if merged else None, encoder)


def hard_negatives_file(config: dict[str, Any], dataset: str) -> str:
    return config["finetune"]["datasets"][dataset]["hard_negatives"]


def hard_negatives_job_params(config: dict[str, Any], dataset: str) -> dict[str, Any]:
    return config["finetune"]["datasets"][dataset].get("hard_negatives_params", {})


def finetune_settings(config: dict[str, Any], dataset: str, stage: str | None = None) -> dict[str, Any]:
    """finetune.params, then the stage's ``finetune.stage_params.<stage>`` (the QAC code's 128-token
    retriever-1 passages), then the dataset's own ``params`` over them (the BEIR retriever's recipe)."""
    stage_params = config["finetune"].get("stage_params", {}).get(stage, {}) if stage else {}
    return {**config["finetune"].get("params", {}), **stage_params,
            **config["finetune"]["datasets"][dataset].get("params", {})}


def finetune_job_params(config: dict[str, Any], dataset: str, encoder: str | None = None,
                        stage: str | None = None) -> dict[str, Any]:
    params = {"seed": setting(config, "seed"), **finetune_settings(config, dataset, stage)}
    collection = config["collections"][config["finetune"]["datasets"][dataset]["collection"]]
    if "title_join" in collection:  # the collection's titles join its text as in its encode jobs
        params["title_join"] = collection["title_join"]
    if encoder_seed(config, encoder) != setting(config, "seed"):  # a seed replicate's own seed wins
        params["seed"] = encoder_seed(config, encoder)
    return params


def training_data(config: dict[str, Any], dataset: str, encoder: str, stage: str) -> str:
    """Retriever 1 trains on BM25 (or the dataset's hard) negatives, retriever 2 on negatives mined
    with retriever 1; both start from the same encoder."""
    p = paths(config)
    if stage != "retriever1":
        return p.of("mined_negatives", dataset=dataset, encoder=encoder)
    hard = config["finetune"]["datasets"][dataset].get("hard_negatives")
    return p.of("st_hard_negatives" if hard else "bm25_negatives", dataset=dataset)


def dataset_collection(config: dict[str, Any], dataset: str) -> str:
    """The collection a fine-tuning dataset's passages come from."""
    return paths(config).of("collection", collection=config["finetune"]["datasets"][dataset]["collection"])


def init_model(config: dict[str, Any], encoder: str) -> str:
    """The folder (or model name) fine-tuning of ``encoder`` starts from."""
    return encoder_model(config, encoder)[0]


def init_inputs(config: dict[str, Any], encoder: str) -> list[str]:
    """That folder as an input, where the workflow builds it."""
    return encoder_model(config, encoder)[1]


def finetune_family(config: dict[str, Any], dataset: str, **_: str) -> str:
    """A dataset's row of `resources:` (its own `resource_family`, e.g. a one-GPU recipe), else finetune."""
    return config["finetune"]["datasets"][dataset].get("resource_family", "finetune")


def batch(config: dict[str, Any], devices: int, dataset: str, encoder: str, stage: str) -> str:
    """The job's effective global batch (queries) on ``devices`` processes (see pretrain.batch)."""
    from ...core.params import parse_params
    from ...training.batching import BatchPlanError
    from ..params import FinetuneParams

    params = parse_params(FinetuneParams, finetune_job_params(config, dataset, encoder, stage))  # validated with the config
    try:
        return describe_batch(params.batch_plan(devices))
    except BatchPlanError as err:
        own = "global_batch_size" in config["finetune"]["datasets"][dataset].get("params", {})
        message = str(err).replace("finetune.params", f"finetune.datasets.{dataset}.params" if own else "finetune.params", 1)
        raise ConfigError(f"finetune {dataset}/{encoder}/{stage}: {message}") from None
