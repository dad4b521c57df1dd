"""Jobs of rules/pretrain.smk: one pre-training cell (schema x context)."""

from __future__ import annotations

import shlex
from typing import Any

from ...params import ConfigError
from .. import cells
from ..defaults import setting
from .base import Job, describe_batch, encoder_init_input, encoder_init_path, paths


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


def pretrain(config: dict[str, Any], corpus: str, schema: str, context: str) -> Job:
    """A schema may start from its own encoder (coCondenser starts from Condenser, not BERT); a
    curriculum cell continues from its schema's stage-1 model, which all curriculum cells of that
    schema and fraction share."""
    p = paths(config)
    ctx = cells.parse_context(context)
    inputs: dict[str, Any] = {"passages": p.of("passages", corpus=corpus)}
    if ctx.reads_queries:
        inputs["queries"] = p.of("queries", corpus=corpus, gen=ctx.generator, qcount=ctx.count, amount=ctx.amount)
    schema_init = config["pretrain"].get("schemas", {}).get(schema, {}).get("init")
    if ctx.kind == "curriculum":
        inputs["init"] = p.of("pretrain_model", corpus=corpus, schema=schema, context=ctx.stage1().tag)
        init = inputs["init"]
    else:
        inputs["init"] = [] if schema_init else encoder_init_input(config)
        init = schema_init or encoder_init_path(config)
    run = p.of("pretrain_run", corpus=corpus, schema=schema, context=context)
    args = {"init": init, "queries": "--queries " + shlex.quote(inputs["queries"]) if "queries" in inputs else "",
            "checkpoints": f"{run}/checkpoints"}
    return Job(inputs, pretrain_job_params(config, schema, ctx), args)


def batch(config: dict[str, Any], devices: int, corpus: str, schema: str, context: str) -> str:
    """The job's effective global batch on ``devices`` processes; a stated global batch the devices
    cannot make stops the DAG, naming the key (the driver checks again at run time)."""
    from ...batching import BatchPlanError
    from ...pretrain.arguments import parse_params

    try:
        return describe_batch(parse_params(pretrain(config, corpus, schema, context).params).batch_plan(devices))
    except BatchPlanError as err:
        raise ConfigError(f"pretrain {schema}/{context}: {err}") from None
    except ValueError as err:
        raise ConfigError(f"pretrain.schemas.{schema}: {err}") from None
