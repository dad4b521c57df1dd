"""What rules/pretrain.smk's jobs read and get beyond their templates: one pre-training cell's
(schema x context) settings, the queries it reads and the model it starts from."""

from __future__ import annotations

from typing import Any

from ..core.params import ConfigError
from ..workflow import cells
from ..workflow.defaults import setting
from ..workflow.jobs import describe_batch, encoder_init_input, encoder_init_path, paths


def pretrain_job_params(config: dict[str, Any], schema: str, ctx: cells.Context) -> dict[str, Any]:
    """Pre-training parameters of one cell: the schema's settings, the seed, and what the context
    implies (a curriculum's stage 1 runs spans on a cosine schedule for ``fraction`` of the steps,
    stage 2 queries on a constant schedule for the rest)."""
    params = dict(config["pretrain"].get("schemas", {}).get(schema, {}))
    params.pop("init", None)
    params.setdefault("seed", setting(config, "seed"))
    if ctx.seed is not None:  # a seed replicate (config seeds)
        params["seed"] = ctx.seed
    params["schema"] = schema
    total = params.get("max_steps")
    if ctx.kind in ("stage1", "curriculum") and not total:
        raise ConfigError(f"config key 'pretrain.schemas.{schema}.max_steps': needed for curriculum cells")
    if ctx.kind == "stage1":
        params.update(context=cells.SPAN, max_steps=round(total * ctx.fraction), lr_scheduler="cosine")
    elif ctx.kind == "curriculum":
        # Stage 2 takes stage 1's trained heads: no head warm-up.
        params.update(context="query", max_steps=total - round(total * ctx.fraction),
                      lr_scheduler="constant", warmup_ratio=0.0, head_warmup_steps=0)
    else:
        params["context"] = ctx.kind
    return params


def cell_job_params(config: dict[str, Any], schema: str, context: str) -> dict[str, Any]:
    return pretrain_job_params(config, schema, cells.parse_context(context))


def context_queries(config: dict[str, Any], corpus: str, context: str) -> str | list[str]:
    """The query file a cell's context reads, none for a context without queries (spans)."""
    ctx = cells.parse_context(context)
    if not ctx.reads_queries:
        return []
    return paths(config).of("queries", corpus=corpus, gen=ctx.generator, qcount=ctx.count, amount=ctx.amount)


def training_texts(config: dict[str, Any], corpus: str, context: str) -> dict[str, str]:
    """What a cell trains on, as named inputs: its passages and, where its context reads generated
    queries, their file (no ``queries`` input at all for spans, so a span job's inputs name only
    what it reads)."""
    out = {"passages": paths(config).of("passages", corpus=corpus)}
    queries = context_queries(config, corpus, context)
    if queries:
        out["queries"] = queries
    return out


def init_model(config: dict[str, Any], corpus: str, schema: str, context: str) -> str:
    """The model a cell starts from: a curriculum cell continues from its schema's stage-1 model
    (which all curriculum cells of that schema and fraction share); a schema may start from its own
    encoder (coCondenser starts from Condenser, not BERT); else the config's encoder."""
    ctx = cells.parse_context(context)
    if ctx.kind == "curriculum":
        return paths(config).of("pretrain_model", corpus=corpus, schema=schema, context=ctx.stage1().tag)
    return config["pretrain"].get("schemas", {}).get(schema, {}).get("init") or encoder_init_path(config)


def init_input(config: dict[str, Any], corpus: str, schema: str, context: str) -> str | list[str]:
    """That model as an input, where the workflow builds it (a stage-1 model, the embedded encoder)."""
    if cells.parse_context(context).kind == "curriculum":
        return init_model(config, corpus, schema, context)
    return [] if config["pretrain"].get("schemas", {}).get(schema, {}).get("init") else encoder_init_input(config)


def batch(config: dict[str, Any], devices: int, corpus: str, schema: str, context: str) -> str:
    """The job's effective global batch on ``devices`` processes; a stated global batch the devices
    cannot make stops the DAG, naming the key (the driver checks again at run time)."""
    from ..training.batching import BatchPlanError
    from .arguments import parse_params

    try:
        return describe_batch(parse_params(cell_job_params(config, schema, context)).batch_plan(devices))
    except BatchPlanError as err:
        raise ConfigError(f"pretrain {schema}/{context}: {err}") from None
    except ValueError as err:
        raise ConfigError(f"pretrain.schemas.{schema}: {err}") from None
