"""What rules/publish.smk's jobs read and get: a trained model's card and its publish bundle.

A trained model is named by its run folder under the results (the ``trained`` wildcard):
``pretrain/<corpus>/<schema>/<context>`` (a pre-trained encoder) or
``finetune/<dataset>/<encoder>/<stage>`` (a retriever). Its card (``README.md`` and ``loss.png`` in
that folder, beside ``model/``) is rendered from the run's own records: the training log, the
records in the model folder, the metrics files the config builds for it, and the config excerpt
that made it (this job's params, so a changed config re-renders the card, and a new evaluation,
a new input, does too, without retraining).
"""

from __future__ import annotations

import re
from typing import Any

from ..pretrain.jobs import pretrain_job_params
from ..retrieval.jobs.evaluate import model_cell, pooling_job_params
from ..retrieval.jobs.finetune import finetune_job_params
from ..workflow import cells, grid
from ..workflow.defaults import setting
from ..workflow.jobs import paths

# pretrain/<corpus>/<schema>/<context> | finetune/<dataset>/<encoder>/<stage>
TRAINED_WILDCARD = (rf"pretrain/{cells.NAME}/(?:{'|'.join(cells.SCHEMAS)})/{cells.CONTEXT_WILDCARD}"
                    rf"|finetune/{cells.DASHED}/(?:{cells.ENCODER})/(?:{'|'.join(cells.STAGES)})")
_TRAINED_RE = re.compile(rf"^(?:{TRAINED_WILDCARD})$")


def trained_name(system: str) -> str:
    """The run folder (relative to the results) of the model a system encodes with; a ConfigError
    for BM25 and for encoders qcpt does not train (base, external)."""
    key = cells.parse_model_key(system)
    if not key.zeroshot:
        return f"finetune/{key.dataset}/{key.encoder}/{key.stage}"
    encoder = cells.parse_encoder(key.encoder)
    if encoder.kind != "pt":
        raise cells.ConfigError(f"{system}: no model of the workflow's own training (no card, no bundle)")
    return f"pretrain/{encoder.corpus}/{encoder.schema}/{encoder.context}"


def system_of(trained: str) -> str:
    """The system (model key) whose metrics files score the model of run folder ``trained``."""
    if not _TRAINED_RE.match(trained):
        raise cells.ConfigError(f"not a trained model's run folder (pretrain/<corpus>/<schema>/<context> or "
                                f"finetune/<dataset>/<encoder>/<stage>): {trained!r}")
    kind, rest = trained.split("/", 1)
    if kind == "pretrain":
        return cells.model_key(cells.ZEROSHOT, f"pt/{rest}").key
    dataset, rest = rest.split("/", 1)
    encoder, stage = rest.rsplit("/", 1)
    return cells.model_key(dataset, encoder, stage).key


def trained_models(config: dict[str, Any]) -> list[str]:
    """Every model the config's targets train, as run folders, in config order: the pre-trained
    encoders a metrics file needs (with a curriculum's stage 1), and the retrievers (retriever 1
    of every retriever 2 too: negatives are mined with it)."""
    out: list[str] = []

    def add_encoder(tag: str) -> None:
        encoder = cells.parse_encoder(tag)
        if encoder.kind != "pt":
            return
        ctx = cells.parse_context(encoder.context)
        if ctx.kind == "curriculum":
            out.append(trained_name(cells.model_key(cells.ZEROSHOT, encoder.with_context(ctx.stage1().tag)).key))
        out.append(trained_name(cells.model_key(cells.ZEROSHOT, tag).key))

    for _, system in grid.metrics_cells(config):
        if system == cells.BM25:
            continue
        key = cells.parse_model_key(system)
        add_encoder(key.encoder)
        if not key.zeroshot:
            if key.stage == "retriever2":
                out.append(trained_name(key._replace(stage="retriever1").key))
            out.append(trained_name(system))
    return list(dict.fromkeys(out))


def card_targets(config: dict[str, Any]) -> list[str]:
    p = paths(config)
    return [p.of("model_card", trained=t) for t in trained_models(config)]


def metrics_of(config: dict[str, Any], trained: str) -> list[str]:
    """The metrics files the config builds for the model of ``trained`` (config order)."""
    system = system_of(trained)
    return [grid.metrics_path(config["results"], cells.metrics_cell(e, s))
            for e, s in grid.metrics_cells(config) if s == system]


def _init_of(config: dict[str, Any], encoder_tag: str) -> str:
    """The model a pre-trained cell started from, as the config names it (a hub name, a package,
    ``embedded``), before the workflow resolves it to a folder."""
    encoder = cells.parse_encoder(encoder_tag)
    if encoder.kind == "ext":
        return config["external_encoders"][encoder.name]["model"]
    if encoder.kind == "pt":
        schema_init = config["pretrain"].get("schemas", {}).get(encoder.schema, {}).get("init")
        if schema_init:
            return schema_init
    return config["encoder"]["init"]


def card_job_params(config: dict[str, Any], trained: str) -> dict[str, Any]:
    """What the card says about the model besides its run's records: the cell, the config that
    made it, the model it started from (``root_init``, the config's name for it), and the encoding
    qcpt scored it with where the config overrides the folder's own (``encoding_override``)."""
    system = system_of(trained)
    key = cells.parse_model_key(system)
    encoder = cells.parse_encoder(key.encoder)
    params: dict[str, Any] = {"trained": trained, "system": system, "encoder": key.encoder,
                              "stage": key.stage or "pretrained", "root_init": _init_of(config, key.encoder),
                              "seed": setting(config, "seed"), "model": model_cell(config, system)}
    if encoder.kind == "pt":
        ctx = cells.parse_context(encoder.context)
        params["context"] = {"kind": ctx.kind, "generator": ctx.generator, "count": ctx.count, "amount": ctx.amount,
                             "fraction": ctx.fraction, "seed": ctx.seed}
        params["pretrain_params"] = pretrain_job_params(config, encoder.schema, ctx)
    if not key.zeroshot:
        params["finetune_params"] = finetune_job_params(config, key.dataset, key.encoder)
    else:
        params["encoding_override"] = pooling_job_params(config, system)
    return params


def publish_job_params(config: dict[str, Any], trained: str) -> dict[str, Any]:
    """The bundle's record: the run folder, and the card's config excerpt that made the model."""
    excerpt = {k: v for k, v in card_job_params(config, trained).items() if k != "trained"}
    return {"trained": trained, "config": excerpt}


def scored_runs(config: dict[str, Any], trained: str) -> list[str]:
    """The run file of each metrics file of the model that scores a run of its own (not a mean
    evalset's): the bundle ships them beside the metrics."""
    p = paths(config)
    runs = []
    for path in metrics_of(config, trained):
        evalset, system = grid.parse_metrics_path(config["results"], path)
        if evalset in config["evalsets"] and not grid.evalset_members(config, evalset):
            runs.append(p.of("dense_run", topicset=evalset, modelkey=system))
    return runs
