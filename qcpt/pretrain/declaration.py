"""The pre-training stage's declaration (:mod:`qcpt.workflow.stages`): one job per cell of the
grid (rules/pretrain.smk)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..workflow import cells
from ..workflow.grid import pretrain_cells
from ..workflow.stages import ParamsBlock, Stage
from . import jobs as pretrain_jobs
from .arguments import PretrainParams


def job_params(config: dict[str, Any]) -> Iterator[ParamsBlock | str]:
    schemas = config["pretrain"].get("schemas", {})
    for schema, block in schemas.items():
        if "init" in block and not isinstance(block["init"], str):
            yield (f"config key 'pretrain.schemas.{schema}.init': expected a string (a model), "
                   f"got {block['init']!r}")
    cell_list = list(pretrain_cells(config))
    cell_list += [(schema, ctx.stage1()) for schema, ctx in cell_list if ctx.kind == "curriculum"]
    # Each schema block as written, too: a curriculum derives some of its values (a bad one would
    # otherwise pass unseen), and a span cell of any schema can be asked for as a target.
    cell_list += [(schema, cells.Context(cells.SPAN)) for schema in schemas if (schema, cells.SPAN) not in
                  {(s, c.kind) for s, c in cell_list}]
    for schema, ctx in cell_list:
        block = schemas.get(schema, {})
        derived = {"max_steps", "lr_scheduler", "warmup_ratio"} if ctx.kind in ("stage1", "curriculum") else set()

        def values(schema: str = schema, ctx: cells.Context = ctx) -> dict[str, Any]:
            return pretrain_jobs.pretrain_job_params(config, schema, ctx)

        yield ParamsBlock(f"pretrain.schemas.{schema}", values, PretrainParams,
                          origin={} if "seed" in block else {"seed": "seed"},
                          derived=(frozenset(derived), f"the value grid cell {schema}/{ctx.tag} derives from it: "))


STAGE = Stage(
    name="pretrain",
    config_keys=("pretrain",),
    params_blocks={"pretrain.schemas.<name>": PretrainParams},
    params=job_params,
)
